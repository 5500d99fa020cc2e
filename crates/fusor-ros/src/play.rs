//! `play`: publish a recording to ROS 2 (like `ros2 bag play`).
//!
//! Messages go out as the recorded CDR bytes (no decode/re-encode), so header stamps and every
//! field are exactly what was recorded; each topic is announced with its recorded type and the
//! QoS of [`crate::qos::offered_for_topic`] (transient-local for latched topics, reliable
//! otherwise). Pacing follows the recorded log times divided by the rate.

use crate::raw::{RawCdr, RawWriter};
use crate::{qos, Result, RosContext, RosError};
use fusor_record::McapReader;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long writers stay up after the last acknowledgment (see the note in [`play`]).
const LINGER: Duration = Duration::from_millis(500);

/// How to play.
#[derive(Debug, Clone)]
pub struct PlayOptions {
    /// The MCAP recording.
    pub input: PathBuf,
    /// Speed factor (1.0 = recorded pace); 0 or less plays as fast as possible.
    pub rate: f64,
    /// Start over at the end until stopped.
    pub looped: bool,
    /// Topics to play; empty plays all.
    pub topics: Vec<String>,
    /// Before the first message, wait until every topic's writer has a matched reader, at most
    /// this long (volatile readers miss what was sent before they matched).
    pub wait_for_readers: Option<Duration>,
    /// At the end, wait at most this long for reliable readers to acknowledge everything.
    pub drain: Duration,
}

impl PlayOptions {
    /// Defaults: recorded pace, once, every topic, no wait for readers, 5 s drain.
    pub fn new(input: impl Into<PathBuf>) -> Self {
        Self {
            input: input.into(),
            rate: 1.0,
            looped: false,
            topics: Vec::new(),
            wait_for_readers: None,
            drain: Duration::from_secs(5),
        }
    }
}

/// What was played.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlaySummary {
    /// Messages published.
    pub published: u64,
    /// Messages published per topic.
    pub per_topic: BTreeMap<String, u64>,
    /// CDR bytes published (with headers).
    pub payload_bytes: u64,
    /// Messages skipped (big-endian CDR, too short, or publish failure), with the reason logged.
    pub skipped: u64,
    /// True when a damaged recording ended the stream early (the intact prefix was played).
    pub truncated: bool,
    /// Topics whose reliable readers had not acknowledged everything when the drain ended.
    pub unacknowledged: Vec<String>,
}

/// Plays until the end (or forever with `looped`) or until `stop` is set.
pub fn play(ctx: &RosContext, options: &PlayOptions, stop: &AtomicBool) -> Result<PlaySummary> {
    let rec_err = |e: fusor_record::RecordError| RosError::Recording {
        path: options.input.display().to_string(),
        why: e.to_string(),
    };
    let reader = McapReader::open(&options.input).map_err(rec_err)?;
    let info = reader.info().map_err(rec_err)?;
    let wanted = |topic: &str| options.topics.is_empty() || options.topics.iter().any(|t| t == topic);
    let mut writers: HashMap<String, RawWriter> = HashMap::new();
    for t in info.topics.iter().filter(|t| wanted(&t.topic)) {
        if t.message_encoding != "cdr" {
            tracing::warn!(topic = %t.topic, encoding = %t.message_encoding, "not CDR: skipped");
            continue;
        }
        writers.insert(t.topic.clone(), ctx.raw_writer(&t.topic, &t.schema_name, &qos::offered_for_topic(&t.topic))?);
    }
    if let Some(max_wait) = options.wait_for_readers {
        let start = Instant::now();
        while start.elapsed() < max_wait && !stop.load(Ordering::Relaxed) {
            if writers.values().all(|w| w.matched_readers() > 0) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // Matching is decided on the writer's side first; give the readers' side the same
        // chance to match the writer before data flows.
        std::thread::sleep(Duration::from_millis(300));
    }
    let mut summary = PlaySummary::default();
    loop {
        let wall_start = Instant::now();
        let mut first_log: Option<i64> = None;
        let messages = reader.messages().map_err(rec_err)?;
        for msg in messages {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let msg = match msg {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!("recording damaged, stopping after the intact prefix: {e}");
                    summary.truncated = true;
                    break;
                }
            };
            let Some(writer) = writers.get(&msg.topic) else { continue };
            if options.rate > 0.0 {
                let first = *first_log.get_or_insert(msg.log_time.nanos());
                let offset_ns = (msg.log_time.nanos() - first).max(0) as f64 / options.rate;
                let due = wall_start + Duration::from_nanos(offset_ns as u64);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
            }
            let Some(raw) = RawCdr::from_message_bytes(&msg.data).filter(RawCdr::is_cdr_le) else {
                tracing::warn!(topic = %msg.topic, "not little-endian CDR: skipped");
                summary.skipped += 1;
                continue;
            };
            match writer.write(raw) {
                Ok(()) => {
                    summary.published += 1;
                    summary.payload_bytes += msg.data.len() as u64;
                    *summary.per_topic.entry(msg.topic.clone()).or_insert(0) += 1;
                }
                Err(e) => {
                    tracing::warn!("{e}");
                    summary.skipped += 1;
                }
            }
        }
        if !options.looped || stop.load(Ordering::Relaxed) || summary.truncated {
            break;
        }
    }
    let deadline = Instant::now() + options.drain;
    for w in writers.values() {
        let left = deadline.saturating_duration_since(Instant::now());
        if w.matched_readers() > 0 && !w.wait_for_acknowledgments(left) {
            tracing::warn!(topic = %w.topic(), "not every reader acknowledged before the drain timeout");
            summary.unacknowledged.push(w.topic().to_owned());
        }
    }
    // RustDDS 0.15 readers forget a reliable writer's untaken samples once the writer is gone
    // (the reader cache drops its "received before" marker), so an acknowledged last message can
    // still vanish if the writer disappears before the subscriber takes it. Linger a moment.
    std::thread::sleep(LINGER);
    drop(writers);
    Ok(summary)
}
