//! A recording's summary, in the spirit of `ros2 bag info`.

use crate::read::{stamp, ChannelMeta, McapReader};
use crate::{RecordError, Result};
use fusor_core::{Duration, Stamp};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// One topic of a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicInfo {
    /// Topic name.
    pub topic: String,
    /// Message type (schema name), e.g. `sensor_msgs/msg/Imu`.
    pub schema_name: String,
    /// Message encoding (`cdr` for ROS 2).
    pub message_encoding: String,
    /// Number of messages.
    pub message_count: u64,
    /// Log time of the first message, when known.
    pub first: Option<Stamp>,
    /// Log time of the last message, when known.
    pub last: Option<Stamp>,
}

impl TopicInfo {
    /// Mean rate in Hz: `(count − 1) / (last − first)`; `None` with fewer than two messages or
    /// unknown times.
    pub fn rate_hz(&self) -> Option<f64> {
        let span = (self.last? - self.first?).secs_f64();
        (self.message_count >= 2 && span > 0.0).then(|| (self.message_count - 1) as f64 / span)
    }
}

/// Chunk statistics of a recording.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChunkStats {
    /// Number of chunks.
    pub chunk_count: usize,
    /// Chunk count per compression (`zstd`, `lz4`, `""` = none).
    pub compression: BTreeMap<String, usize>,
    /// Sum of the chunks' compressed sizes in bytes.
    pub compressed_bytes: u64,
    /// Sum of the chunks' uncompressed sizes in bytes.
    pub uncompressed_bytes: u64,
}

/// What a recording holds: topics, types, counts, time span, compression, size.
#[derive(Debug, Clone, PartialEq)]
pub struct McapInfo {
    /// The file.
    pub path: PathBuf,
    /// File size in bytes.
    pub file_size_bytes: u64,
    /// MCAP profile (`ros2`), when the header is readable.
    pub profile: Option<String>,
    /// The library that wrote the file, when the header is readable.
    pub library: Option<String>,
    /// Total message count.
    pub message_count: u64,
    /// Log time of the first message.
    pub start: Option<Stamp>,
    /// Log time of the last message.
    pub end: Option<Stamp>,
    /// Topics in channel order.
    pub topics: Vec<TopicInfo>,
    /// Chunk statistics (from the index; `None` after a linear scan).
    pub chunks: Option<ChunkStats>,
    /// True when the figures come from the summary and index, false when the file was scanned.
    pub from_index: bool,
    /// Damage found while scanning (the figures then cover the intact part only).
    pub damage: Option<String>,
}

impl McapInfo {
    /// `end − start` (zero for an empty recording).
    pub fn duration(&self) -> Duration {
        match (self.start, self.end) {
            (Some(s), Some(e)) => e - s,
            _ => Duration(0),
        }
    }

    /// Uncompressed over compressed chunk bytes, when known.
    pub fn compression_ratio(&self) -> Option<f64> {
        let c = self.chunks.as_ref()?;
        (c.compressed_bytes > 0).then(|| c.uncompressed_bytes as f64 / c.compressed_bytes as f64)
    }

    /// The topic named `topic`.
    pub fn topic(&self, topic: &str) -> Option<&TopicInfo> {
        self.topics.iter().find(|t| t.topic == topic)
    }
}

/// Summarises the recording at `path`: from its summary and message index when intact (fast,
/// nothing decompressed), else by scanning every message (the result then says what damage
/// stopped the scan, if any).
pub fn info(path: impl AsRef<Path>) -> Result<McapInfo> {
    McapReader::open(path)?.info()
}

impl McapReader {
    /// See [`info`].
    pub fn info(&self) -> Result<McapInfo> {
        let mut info = McapInfo {
            path: self.path().to_path_buf(),
            file_size_bytes: self.file_size(),
            profile: self.profile().map(str::to_owned),
            library: self.library().map(str::to_owned),
            message_count: 0,
            start: None,
            end: None,
            topics: Vec::new(),
            chunks: None,
            from_index: false,
            damage: None,
        };
        match &self.summary {
            Some(summary) => {
                info.from_index = true;
                let stats = summary.stats.clone().unwrap_or_default();
                info.message_count = stats.message_count;
                if stats.message_count > 0 {
                    info.start = Some(stamp(stats.message_start_time));
                    info.end = Some(stamp(stats.message_end_time));
                }
                let mut chunks = ChunkStats { chunk_count: summary.chunk_indexes.len(), ..ChunkStats::default() };
                for c in &summary.chunk_indexes {
                    *chunks.compression.entry(c.compression.clone()).or_default() += 1;
                    chunks.compressed_bytes += c.compressed_size;
                    chunks.uncompressed_bytes += c.uncompressed_size;
                }
                info.chunks = Some(chunks);
                let spans = self.channel_spans_from_message_index(summary);
                let mut ids: Vec<u16> = summary.channels.keys().copied().collect();
                ids.sort_unstable();
                for id in ids {
                    let Some(channel) = summary.channels.get(&id) else { continue };
                    let meta = ChannelMeta::from_channel(channel);
                    let (first, last) = spans.get(&id).map_or((None, None), |&(f, l)| (Some(f), Some(l)));
                    info.topics.push(TopicInfo {
                        topic: meta.topic,
                        schema_name: meta.schema_name,
                        message_encoding: meta.message_encoding,
                        message_count: stats.channel_message_counts.get(&id).copied().unwrap_or(0),
                        first,
                        last,
                    });
                }
            }
            None => {
                let mut order: Vec<String> = Vec::new();
                let mut topics: HashMap<String, TopicInfo> = HashMap::new();
                for message in self.messages()? {
                    let message = match message {
                        Ok(m) => m,
                        Err(e @ RecordError::Damaged { .. }) => {
                            info.damage = Some(e.to_string());
                            break;
                        }
                        Err(e) => return Err(e),
                    };
                    info.message_count += 1;
                    info.start = Some(info.start.map_or(message.log_time, |s| s.min(message.log_time)));
                    info.end = Some(info.end.map_or(message.log_time, |e| e.max(message.log_time)));
                    let t = topics.entry(message.topic.clone()).or_insert_with(|| {
                        order.push(message.topic.clone());
                        TopicInfo {
                            topic: message.topic.clone(),
                            schema_name: message.schema_name.clone(),
                            message_encoding: message.message_encoding.clone(),
                            message_count: 0,
                            first: None,
                            last: None,
                        }
                    });
                    t.message_count += 1;
                    t.first = Some(t.first.map_or(message.log_time, |s| s.min(message.log_time)));
                    t.last = Some(t.last.map_or(message.log_time, |e| e.max(message.log_time)));
                }
                info.topics = order.into_iter().filter_map(|t| topics.remove(&t)).collect();
            }
        }
        Ok(info)
    }

    /// First and last log time per channel from the message index records that follow each
    /// chunk (16 bytes per message, nothing decompressed). Channels the index does not cover
    /// are absent; an unreadable index yields what was read before it.
    fn channel_spans_from_message_index(&self, summary: &mcap::Summary) -> HashMap<u16, (Stamp, Stamp)> {
        let mut spans: HashMap<u16, (Stamp, Stamp)> = HashMap::new();
        let Ok(mut file) = File::open(self.path()) else { return spans };
        for chunk in &summary.chunk_indexes {
            let Some(start) = chunk.chunk_start_offset.checked_add(chunk.chunk_length) else { break };
            let Ok(len) = usize::try_from(chunk.message_index_length) else { break };
            if len == 0 || start.saturating_add(chunk.message_index_length) > self.file_size() {
                continue;
            }
            let mut buf = vec![0u8; len];
            if file.seek(SeekFrom::Start(start)).is_err() || file.read_exact(&mut buf).is_err() {
                break;
            }
            for record in mcap::read::LinearReader::sans_magic(&buf) {
                let Ok(mcap::records::Record::MessageIndex(index)) = record else { break };
                for entry in &index.records {
                    let t = stamp(entry.log_time);
                    let span = spans.entry(index.channel_id).or_insert((t, t));
                    span.0 = span.0.min(t);
                    span.1 = span.1.max(t);
                }
            }
        }
        spans
    }
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn human_stamp(stamp: Stamp) -> String {
    let secs = stamp.nanos().div_euclid(1_000_000_000);
    let nanos = stamp.nanos().rem_euclid(1_000_000_000) as u32;
    match chrono::DateTime::from_timestamp(secs, nanos) {
        Some(t) => format!("{} ({stamp})", t.format("%b %e %Y %H:%M:%S%.3f UTC")),
        None => stamp.to_string(),
    }
}

/// `ros2 bag info`-style text:
///
/// ```text
/// Files:             drive.mcap
/// Bag size:          13.2 MiB
/// Storage id:        mcap (profile ros2, written by fusor-record/0.1.0)
/// Duration:          0.947s
/// Start:             Sep 26 2011 13:02:44.317 UTC (1317042164.317412775)
/// End:               Sep 26 2011 13:02:45.265 UTC (1317042165.265206245)
/// Messages:          37
/// Chunks:            3 × zstd, 14.1 MiB → 13.1 MiB (ratio 1.08)
/// Topic information: Topic: /tf_static | Type: tf2_msgs/msg/TFMessage | Count: 1 | Serialization Format: cdr
///                    Topic: /kitti/oxts/imu | Type: sensor_msgs/msg/Imu | Count: 10 | Rate: 10.35 Hz | …
/// ```
impl fmt::Display for McapInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const W: usize = 19;
        writeln!(f, "{:W$}{}", "Files:", self.path.display())?;
        writeln!(f, "{:W$}{}", "Bag size:", human_bytes(self.file_size_bytes))?;
        let profile = self.profile.as_deref().unwrap_or("?");
        let library = self.library.as_deref().unwrap_or("?");
        writeln!(f, "{:W$}mcap (profile {profile}, written by {library})", "Storage id:")?;
        writeln!(f, "{:W$}{:.3}s", "Duration:", self.duration().secs_f64())?;
        if let (Some(start), Some(end)) = (self.start, self.end) {
            writeln!(f, "{:W$}{}", "Start:", human_stamp(start))?;
            writeln!(f, "{:W$}{}", "End:", human_stamp(end))?;
        }
        writeln!(f, "{:W$}{}", "Messages:", self.message_count)?;
        match &self.chunks {
            Some(c) => {
                let kinds: Vec<String> = c
                    .compression
                    .iter()
                    .map(|(k, n)| format!("{n} × {}", if k.is_empty() { "uncompressed" } else { k }))
                    .collect();
                let ratio = self.compression_ratio().map_or(String::new(), |r| format!(" (ratio {r:.2})"));
                writeln!(
                    f,
                    "{:W$}{}, {} → {}{ratio}",
                    "Chunks:",
                    if kinds.is_empty() { "none".to_owned() } else { kinds.join(", ") },
                    human_bytes(c.uncompressed_bytes),
                    human_bytes(c.compressed_bytes),
                )?;
            }
            None => writeln!(f, "{:W$}unknown (no usable index; figures from a full scan)", "Chunks:")?,
        }
        if let Some(damage) = &self.damage {
            writeln!(f, "{:W$}{damage}", "DAMAGED:")?;
        }
        for (i, t) in self.topics.iter().enumerate() {
            let label = if i == 0 { "Topic information:" } else { "" };
            let rate = t.rate_hz().map_or(String::new(), |r| format!(" | Rate: {r:.2} Hz"));
            writeln!(
                f,
                "{label:W$}Topic: {} | Type: {} | Count: {}{rate} | Serialization Format: {}",
                t.topic, t.schema_name, t.message_count, t.message_encoding
            )?;
        }
        Ok(())
    }
}
