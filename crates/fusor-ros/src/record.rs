//! `record`: subscribe to ROS 2 topics and stream what arrives into a crash-safe MCAP file
//! (like `ros2 bag record`).
//!
//! Crash safety: the writer closes its chunk and flushes the file whenever the chunk reaches
//! [`RecordOptions::chunk_size_bytes`] or [`RecordOptions::flush_interval`] has passed, so a
//! `SIGKILL` loses at most the open chunk; every earlier chunk is complete on disk and readable
//! by `fusor_record::McapReader` (which returns the intact prefix of an unfinished file).

use crate::raw::RawReader;
use crate::{qos, Result, RosContext, RosError};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How to record.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// The MCAP file to write.
    pub output: PathBuf,
    /// ROS topics to record; empty records every discovered topic except `/rosout` and
    /// `/parameter_events`.
    pub topics: Vec<String>,
    /// Subscribe best effort (matches best-effort publishers too, may lose samples) instead of
    /// reliable. Latched topics are always reliable transient-local.
    pub best_effort: bool,
    /// Uncompressed chunk size in bytes at which a chunk is closed and flushed.
    pub chunk_size_bytes: u64,
    /// The longest an open chunk waits before it is closed and flushed.
    pub flush_interval: Duration,
    /// Stop after this many messages.
    pub max_messages: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop when nothing arrived for this long after the first message.
    pub idle_exit: Option<Duration>,
}

impl RecordOptions {
    /// Defaults: all topics, reliable, 256 KiB chunks flushed at least every 500 ms, no limits.
    pub fn new(output: impl Into<PathBuf>) -> Self {
        Self {
            output: output.into(),
            topics: Vec::new(),
            best_effort: false,
            chunk_size_bytes: 256 * 1024,
            flush_interval: Duration::from_millis(500),
            max_messages: None,
            duration: None,
            idle_exit: None,
        }
    }
}

/// What a recording holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordSummary {
    /// Messages written.
    pub message_count: u64,
    /// Messages per topic.
    pub per_topic: BTreeMap<String, u64>,
    /// CDR bytes written (with headers).
    pub payload_bytes: u64,
    /// Chunks flushed.
    pub flushes: u64,
}

/// The full `ros2msg` definition of a ROS 2 type fusor-msgs knows, `None` otherwise.
pub fn definition_for(type_name: &str) -> Option<String> {
    use fusor_msgs::*;
    macro_rules! lookup {
        ($($ty:ty),* $(,)?) => {
            $(if type_name == <$ty as RosMessage>::TYPE_NAME { return Some(<$ty as RosMessage>::definition()); })*
        };
    }
    lookup!(
        sensor_msgs::PointCloud2,
        sensor_msgs::Image,
        sensor_msgs::CompressedImage,
        sensor_msgs::CameraInfo,
        sensor_msgs::NavSatFix,
        sensor_msgs::Imu,
        tf2_msgs::TFMessage,
        vision_msgs::Detection3DArray,
        visualization_msgs::MarkerArray,
        diagnostic_msgs::DiagnosticArray,
        nav_msgs::Path,
        geometry_msgs::PoseStamped,
        geometry_msgs::TwistStamped,
        geometry_msgs::TransformStamped,
    );
    None
}

/// An MCAP writer that keeps every closed chunk on disk (see the module docs).
pub struct StreamingMcapWriter {
    path: PathBuf,
    inner: mcap::Writer<BufWriter<File>>,
    channels: HashMap<String, u16>,
    schemas: HashMap<String, u16>,
    sequences: HashMap<u16, u32>,
    chunk_size_bytes: u64,
    flush_interval: Duration,
    bytes_since_flush: u64,
    last_flush: Instant,
    summary: RecordSummary,
}

impl std::fmt::Debug for StreamingMcapWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingMcapWriter").field("path", &self.path).field("summary", &self.summary).finish()
    }
}

impl StreamingMcapWriter {
    /// Creates `path` (ros2 profile, zstd chunks of `chunk_size_bytes`).
    pub fn create(path: &Path, chunk_size_bytes: u64, flush_interval: Duration) -> Result<Self> {
        let err = |why: String| RosError::Recording { path: path.display().to_string(), why };
        let file = File::create(path).map_err(|e| err(e.to_string()))?;
        let options = mcap::WriteOptions::new()
            .profile("ros2")
            .library(concat!("fusor-ros/", env!("CARGO_PKG_VERSION"), " (mcap-rust)"))
            .compression(Some(mcap::Compression::Zstd))
            .compression_threads(0)
            .chunk_size(Some(chunk_size_bytes.max(1)))
            .use_chunks(true);
        let inner = mcap::Writer::with_options(BufWriter::with_capacity(1 << 20, file), options)
            .map_err(|e| err(e.to_string()))?;
        Ok(Self {
            path: path.to_path_buf(),
            inner,
            channels: HashMap::new(),
            schemas: HashMap::new(),
            sequences: HashMap::new(),
            chunk_size_bytes: chunk_size_bytes.max(1),
            flush_interval,
            bytes_since_flush: 0,
            last_flush: Instant::now(),
            summary: RecordSummary::default(),
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> RosError {
        RosError::Recording { path: self.path.display().to_string(), why: e.to_string() }
    }

    /// Writes one message (`cdr` with its 4-byte header) on `topic` of ROS 2 type `type_name`;
    /// times in ns since the epoch. Flushes a chunk when due.
    pub fn write(
        &mut self,
        topic: &str,
        type_name: &str,
        log_time_ns: u64,
        publish_time_ns: u64,
        cdr: &[u8],
    ) -> Result<()> {
        let channel_id = match self.channels.get(topic) {
            Some(&id) => id,
            None => {
                let schema_id = match self.schemas.get(type_name) {
                    Some(&id) => id,
                    None => {
                        let text = definition_for(type_name).unwrap_or_default();
                        if text.is_empty() {
                            tracing::warn!(%topic, %type_name, "no .msg definition known: schema written empty");
                        }
                        let id =
                            self.inner.add_schema(type_name, "ros2msg", text.as_bytes()).map_err(|e| self.err(e))?;
                        self.schemas.insert(type_name.to_owned(), id);
                        id
                    }
                };
                let durability = if qos::is_latched_topic(topic) { "transient_local" } else { "volatile" };
                let qos_yaml = format!(
                    "- history: keep_last\n  depth: 1\n  reliability: reliable\n  durability: {durability}\n  \
                     deadline:\n    sec: 0\n    nsec: 0\n  lifespan:\n    sec: 0\n    nsec: 0\n  \
                     liveliness: automatic\n  liveliness_lease_duration:\n    sec: 0\n    nsec: 0\n  \
                     avoid_ros_namespace_conventions: false"
                );
                let metadata = BTreeMap::from([("offered_qos_profiles".to_owned(), qos_yaml)]);
                let id = self.inner.add_channel(schema_id, topic, "cdr", &metadata).map_err(|e| self.err(e))?;
                self.channels.insert(topic.to_owned(), id);
                id
            }
        };
        let sequence = self.sequences.entry(channel_id).or_insert(0);
        let header = mcap::records::MessageHeader {
            channel_id,
            sequence: *sequence,
            log_time: log_time_ns,
            publish_time: publish_time_ns,
        };
        *sequence = sequence.wrapping_add(1);
        self.inner.write_to_known_channel(&header, cdr).map_err(|e| self.err(e))?;
        self.summary.message_count += 1;
        *self.summary.per_topic.entry(topic.to_owned()).or_insert(0) += 1;
        self.summary.payload_bytes += cdr.len() as u64;
        self.bytes_since_flush += cdr.len() as u64;
        self.maybe_flush()
    }

    /// Closes the open chunk and flushes when it is big or old enough.
    pub fn maybe_flush(&mut self) -> Result<()> {
        if self.bytes_since_flush > 0
            && (self.bytes_since_flush >= self.chunk_size_bytes || self.last_flush.elapsed() >= self.flush_interval)
        {
            self.inner.flush().map_err(|e| self.err(e))?;
            self.bytes_since_flush = 0;
            self.last_flush = Instant::now();
            self.summary.flushes += 1;
        }
        Ok(())
    }

    /// Writes the summary section and footer.
    pub fn finish(mut self) -> Result<RecordSummary> {
        self.inner.finish().map_err(|e| self.err(e))?;
        Ok(self.summary)
    }
}

fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// Records until `stop` is set or a limit in `options` is reached, then finishes the file.
pub fn record(ctx: &RosContext, options: &RecordOptions, stop: &AtomicBool) -> Result<RecordSummary> {
    let mut writer = StreamingMcapWriter::create(&options.output, options.chunk_size_bytes, options.flush_interval)?;
    let mut readers: Vec<RawReader> = Vec::new();
    let mut subscribed: HashMap<String, String> = HashMap::new();
    let started = Instant::now();
    let mut last_discovery = None::<Instant>;
    let mut last_message = None::<Instant>;
    let wanted = |topic: &str| {
        if options.topics.is_empty() {
            !matches!(topic, "/rosout" | "/parameter_events")
        } else {
            options.topics.iter().any(|t| t == topic)
        }
    };
    'outer: while !stop.load(Ordering::Relaxed) {
        if last_discovery.is_none_or(|t: Instant| t.elapsed() >= Duration::from_millis(100)) {
            last_discovery = Some(Instant::now());
            for (topic, type_name) in ctx.discovered_ros_topics() {
                if !wanted(&topic) {
                    continue;
                }
                match subscribed.get(&topic) {
                    Some(existing) if existing != &type_name => {
                        tracing::warn!(%topic, %existing, other = %type_name, "second type on a topic: ignored");
                    }
                    Some(_) => {}
                    None => {
                        let qos = qos::requested_for_topic(&topic, options.best_effort);
                        readers.push(ctx.raw_reader(&topic, &type_name, &qos)?);
                        tracing::info!(%topic, %type_name, "recording");
                        subscribed.insert(topic, type_name);
                    }
                }
            }
        }
        let mut got_any = false;
        for reader in &readers {
            loop {
                match reader.take() {
                    Ok(Some((sample, source_ns))) => {
                        got_any = true;
                        let log_time = now_ns();
                        let publish_time = source_ns.and_then(|t| u64::try_from(t).ok()).unwrap_or(log_time);
                        writer.write(
                            reader.topic(),
                            reader.type_name(),
                            log_time,
                            publish_time,
                            &sample.to_message_bytes(),
                        )?;
                        if options.max_messages.is_some_and(|m| writer.summary.message_count >= m) {
                            break 'outer;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!("{e}");
                        break;
                    }
                }
            }
        }
        if got_any {
            last_message = Some(Instant::now());
        } else {
            writer.maybe_flush()?;
            std::thread::sleep(Duration::from_millis(1));
        }
        if options.duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        if let (Some(idle), Some(last)) = (options.idle_exit, last_message) {
            if last.elapsed() >= idle {
                break;
            }
        }
    }
    writer.finish()
}
