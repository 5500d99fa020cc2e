//! Writing ROS 2 MCAP recordings.
//!
//! The file follows the MCAP `ros2` profile: every channel has a `ros2msg` schema (the full
//! `.msg` text with its dependencies) and `cdr` message encoding, messages are grouped in chunks
//! (zstd-compressed by default; lz4 or uncompressed on request), and the file ends with a summary
//! (statistics, schemas, channels, chunk indexes) and per-chunk message indexes, so readers can
//! seek.
//!
//! Memory stays flat for any recording length: the writer holds at most one open chunk
//! (bounded by [`WriterOptions::chunk_size_bytes`] plus the one message that overflows it) and
//! streams closed chunks to disk; only the per-chunk index entries (about 100 bytes per chunk)
//! accumulate until [`McapWriter::finish`].

use crate::{RecordError, Result};
use fusor_core::Stamp;
use fusor_msgs::RosMessage;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The MCAP profile written into the header.
pub const PROFILE: &str = "ros2";
/// Schema encoding of ROS 2 `.msg` definitions.
pub const SCHEMA_ENCODING: &str = "ros2msg";
/// Message encoding of ROS 2 messages (CDR with the 4-byte encapsulation header).
pub const MESSAGE_ENCODING: &str = "cdr";

/// Chunk compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// zstd (what rosbag2 and Foxglove write by default).
    Zstd,
    /// lz4 frames: faster to decompress than zstd, larger files (what Foxglove writes for
    /// speed; every MCAP reader supports it). The frames carry an xxhash32 of their content, which
    /// readers check on top of the chunk CRC.
    Lz4,
    /// Chunks stored uncompressed (faster, larger).
    None,
}

/// How to write a recording.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Target uncompressed chunk size in bytes: a chunk is closed and written out once it
    /// exceeds this. Bounds the writer's memory.
    pub chunk_size_bytes: u64,
    /// Chunk compression.
    pub compression: Compression,
    /// Compression level: zstd level (0 = zstd's default, 3), lz4 level (0 = fast mode).
    pub compression_level: u32,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self { chunk_size_bytes: 4 * 1024 * 1024, compression: Compression::Zstd, compression_level: 0 }
    }
}

/// Totals of a finished recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteSummary {
    /// The file written.
    pub path: PathBuf,
    /// Messages written.
    pub message_count: u64,
    /// Chunks written.
    pub chunk_count: usize,
    /// Final file size in bytes.
    pub file_size_bytes: u64,
    /// Sum of the CDR payload sizes in bytes (before chunk compression).
    pub payload_bytes: u64,
}

#[derive(Debug)]
struct ChannelEntry {
    id: u16,
    schema_name: String,
    next_sequence: u32,
}

/// A streaming writer of ROS 2 MCAP files.
///
/// ```no_run
/// # fn main() -> fusor_record::Result<()> {
/// use fusor_core::Stamp;
/// let mut writer = fusor_record::McapWriter::create("drive.mcap")?;
/// let cdr = [0u8, 1, 0, 0, 0, 0, 0, 0]; // CDR header + one empty string
/// writer.write_raw("/chatter", "std_msgs/msg/String", "string data\n", Stamp(1), Stamp(1), &cdr)?;
/// writer.finish()?;
/// # Ok(()) }
/// ```
pub struct McapWriter {
    path: PathBuf,
    inner: mcap::Writer<BufWriter<File>>,
    options: WriterOptions,
    channels: HashMap<String, ChannelEntry>,
    schemas: HashMap<String, u16>,
    message_count: u64,
    payload_bytes: u64,
}

impl std::fmt::Debug for McapWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McapWriter")
            .field("path", &self.path)
            .field("options", &self.options)
            .field("topics", &self.channels.len())
            .field("message_count", &self.message_count)
            .finish_non_exhaustive()
    }
}

/// The MCAP time of a stamp: unsigned nanoseconds since the epoch.
pub(crate) fn mcap_time(stamp: Stamp) -> Result<u64> {
    u64::try_from(stamp.nanos()).map_err(|_| RecordError::NegativeStamp { stamp_ns: stamp.nanos() })
}

impl McapWriter {
    /// Creates (or truncates) `path` and writes the MCAP header, with default options
    /// (zstd, 4 MiB chunks).
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        Self::create_with_options(path, WriterOptions::default())
    }

    /// Creates (or truncates) `path` with explicit options.
    pub fn create_with_options(path: impl AsRef<Path>, options: WriterOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::create(&path).map_err(|e| RecordError::io(&path, e))?;
        let compression = match options.compression {
            Compression::Zstd => Some(mcap::Compression::Zstd),
            Compression::Lz4 => Some(mcap::Compression::Lz4),
            Compression::None => None,
        };
        let write_options = mcap::WriteOptions::new()
            .profile(PROFILE)
            .library(concat!("fusor-record/", env!("CARGO_PKG_VERSION"), " (", "mcap-rust", ")"))
            .compression(compression)
            .compression_level(options.compression_level)
            // One compression worker thread keeps memory and CPU predictable next to the sensor
            // pipelines; the disk is rarely faster than one zstd thread anyway.
            .compression_threads(0)
            .chunk_size(Some(options.chunk_size_bytes.max(1)))
            .use_chunks(true);
        let inner = mcap::Writer::with_options(BufWriter::with_capacity(1 << 20, file), write_options)
            .map_err(|source| RecordError::McapWrite { path: path.clone(), source })?;
        Ok(Self {
            path,
            inner,
            options,
            channels: HashMap::new(),
            schemas: HashMap::new(),
            message_count: 0,
            payload_bytes: 0,
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Messages written so far.
    pub fn message_count(&self) -> u64 {
        self.message_count
    }

    /// The options in force.
    pub fn options(&self) -> &WriterOptions {
        &self.options
    }

    fn channel_for(&mut self, topic: &str, schema_name: &str, schema_text: &str) -> Result<&mut ChannelEntry> {
        if !self.channels.contains_key(topic) {
            let schema_id = match self.schemas.get(schema_name) {
                Some(&id) => id,
                None => {
                    let id = self
                        .inner
                        .add_schema(schema_name, SCHEMA_ENCODING, schema_text.as_bytes())
                        .map_err(|source| RecordError::McapWrite { path: self.path.clone(), source })?;
                    self.schemas.insert(schema_name.to_owned(), id);
                    id
                }
            };
            let id = self
                .inner
                .add_channel(schema_id, topic, MESSAGE_ENCODING, &qos_metadata(topic))
                .map_err(|source| RecordError::McapWrite { path: self.path.clone(), source })?;
            self.channels
                .insert(topic.to_owned(), ChannelEntry { id, schema_name: schema_name.to_owned(), next_sequence: 0 });
        }
        let entry = self.channels.get_mut(topic).ok_or_else(|| RecordError::NotMcap {
            path: self.path.clone(),
            why: format!("channel for {topic} vanished"),
        })?;
        if entry.schema_name != schema_name {
            return Err(RecordError::TopicTypeConflict {
                topic: topic.to_owned(),
                existing: entry.schema_name.clone(),
                requested: schema_name.to_owned(),
            });
        }
        Ok(entry)
    }

    /// Writes one already-serialized message.
    ///
    /// `schema_name` is the ROS 2 type (`sensor_msgs/msg/PointCloud2`), `schema_text` its full
    /// `.msg` definition with dependencies (registered on the topic's first message, ignored
    /// after), `cdr` the message bytes *including* the 4-byte CDR encapsulation header.
    /// `log_time` is when the message was recorded, `publish_time` when it was published (for
    /// imported data, both are usually the header stamp). A topic keeps its first type: a
    /// different `schema_name` later is [`RecordError::TopicTypeConflict`].
    pub fn write_raw(
        &mut self,
        topic: &str,
        schema_name: &str,
        schema_text: &str,
        log_time: Stamp,
        publish_time: Stamp,
        cdr: &[u8],
    ) -> Result<()> {
        let log_time = mcap_time(log_time)?;
        let publish_time = mcap_time(publish_time)?;
        let entry = self.channel_for(topic, schema_name, schema_text)?;
        let header = mcap::records::MessageHeader {
            channel_id: entry.id,
            sequence: entry.next_sequence,
            log_time,
            publish_time,
        };
        entry.next_sequence = entry.next_sequence.wrapping_add(1);
        self.inner
            .write_to_known_channel(&header, cdr)
            .map_err(|source| RecordError::McapWrite { path: self.path.clone(), source })?;
        self.message_count += 1;
        self.payload_bytes += cdr.len() as u64;
        Ok(())
    }

    /// Encodes `msg` as CDR and writes it on `topic`, registering the topic (schema
    /// `M::TYPE_NAME` with its full definition) on first use. `log_time` is used as the
    /// publish time too; see [`McapWriter::write_with_publish_time`] to give both.
    pub fn write<M: RosMessage>(&mut self, topic: &str, msg: &M, log_time: Stamp) -> Result<()> {
        self.write_with_publish_time(topic, msg, log_time, log_time)
    }

    /// Like [`McapWriter::write`], with an explicit publish time (e.g. the message's header
    /// stamp when `log_time` is the receive time).
    pub fn write_with_publish_time<M: RosMessage>(
        &mut self,
        topic: &str,
        msg: &M,
        log_time: Stamp,
        publish_time: Stamp,
    ) -> Result<()> {
        let cdr = fusor_msgs::encode(msg).map_err(|source| RecordError::Msg { topic: topic.to_owned(), source })?;
        if !self.channels.contains_key(topic) {
            let definition = M::definition();
            return self.write_raw(topic, M::TYPE_NAME, &definition, log_time, publish_time, &cdr);
        }
        // Registered already: the definition text is not needed again.
        self.write_raw(topic, M::TYPE_NAME, "", log_time, publish_time, &cdr)
    }

    /// Closes the open chunk, writes the summary, index and footer, and flushes the file.
    pub fn finish(self) -> Result<WriteSummary> {
        let Self { path, mut inner, message_count, payload_bytes, .. } = self;
        let summary = inner.finish().map_err(|source| RecordError::McapWrite { path: path.clone(), source })?;
        let mut file = inner.into_inner();
        file.flush().map_err(|e| RecordError::io(&path, e))?;
        let file_size_bytes = std::fs::metadata(&path).map_err(|e| RecordError::io(&path, e))?.len();
        Ok(WriteSummary {
            path,
            message_count,
            chunk_count: summary.chunk_indexes.len(),
            file_size_bytes,
            payload_bytes,
        })
    }
}

/// rosbag2 records the offered QoS per channel; players use it to re-publish with the same
/// durability. `/tf_static` must be transient-local (latched) or late subscribers miss it.
fn qos_metadata(topic: &str) -> BTreeMap<String, String> {
    let durability = if topic == "/tf_static" { "transient_local" } else { "volatile" };
    let qos = format!(
        "- history: keep_last\n  depth: 1\n  reliability: reliable\n  durability: {durability}\n  \
         deadline:\n    sec: 0\n    nsec: 0\n  lifespan:\n    sec: 0\n    nsec: 0\n  \
         liveliness: automatic\n  liveliness_lease_duration:\n    sec: 0\n    nsec: 0\n  \
         avoid_ros_namespace_conventions: false"
    );
    BTreeMap::from([("offered_qos_profiles".to_owned(), qos)])
}
