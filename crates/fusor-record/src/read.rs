//! Reading MCAP recordings, robustly.
//!
//! [`McapReader::open`] looks at the file's footer and summary. When the summary is intact
//! (present, CRC-valid, consistent with the file size) messages are read through the chunk index
//! in log-time order, one chunk at a time. Otherwise (a recording cut short by a crash or a full
//! disk, a damaged summary, an unindexed file) the file is scanned linearly as a stream, in file
//! order, which for recorders that write as they receive is also log-time order. The scan is a
//! recovery mode and checks the data section's framing where the MCAP spec says to skip: an
//! unknown opcode, a message outside the chunks of a chunked file, a message index after no
//! chunk, or a record longer than its fields is damage, since that is what a damaged opcode or
//! length byte looks like.
//!
//! Either way memory is bounded by the largest chunk (plus chunks whose time ranges overlap, and
//! [`CHUNKS_AHEAD`] chunks decompressed ahead), never by the file, and damage ends the stream with one [`RecordError::Damaged`] after every
//! intact message before it. A chunk is delivered whole or not at all: its CRC is checked before
//! any of its messages is handed out.

use crate::{RecordError, Result};
use fusor_core::Stamp;
use fusor_msgs::RosMessage;
use mcap::records::{ChunkIndex, Record};
use mcap::McapError;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The largest record (or decompressed chunk) this reader accepts, in bytes. A corrupted length
/// field beyond it is reported as damage instead of being allocated.
pub const MAX_RECORD_BYTES: usize = 512 * 1024 * 1024;

/// Indexed reading decompresses and decodes chunks on a worker thread, at most this many ahead of
/// the one being delivered (plus the one the worker is on), so decompression overlaps with the
/// caller's work while memory stays bounded.
pub const CHUNKS_AHEAD: usize = 2;

const MAGIC: &[u8] = mcap::MAGIC;
const OP_HEADER: u8 = 0x01;
const OP_FOOTER: u8 = 0x02;
const OP_CHUNK: u8 = 0x06;
/// Footer record (opcode, length, summary_start, summary_offset_start, summary_crc) + end magic.
const FOOTER_AND_MAGIC_LEN: u64 = 1 + 8 + 8 + 8 + 4 + 8;

/// One message as stored: its channel's topic and type, times, and the encoded bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct RawMessage {
    /// Topic name, e.g. `/sensing/lidar/points`.
    pub topic: String,
    /// Schema name; for ROS 2 the type, e.g. `sensor_msgs/msg/PointCloud2`. Empty when the
    /// channel has no schema.
    pub schema_name: String,
    /// Schema encoding (`ros2msg` for ROS 2).
    pub schema_encoding: String,
    /// Schema text (the `.msg` definition with dependencies), `None` without a schema. Shared by
    /// all messages of a channel.
    pub schema_text: Option<Arc<str>>,
    /// Message encoding (`cdr` for ROS 2).
    pub message_encoding: String,
    /// Per-channel sequence number written by the recorder (0 when it writes none).
    pub sequence: u32,
    /// When the message was recorded, ns since the Unix epoch.
    pub log_time: Stamp,
    /// When the message was published, ns since the Unix epoch.
    pub publish_time: Stamp,
    /// The encoded message; for `cdr`, starting with the 4-byte encapsulation header.
    pub data: Vec<u8>,
}

impl RawMessage {
    /// Decodes the CDR bytes as `M`. Fails with [`RecordError::TypeMismatch`] when the channel
    /// declares another type, and [`RecordError::Msg`] when the bytes do not decode.
    pub fn decode<M: RosMessage>(&self) -> Result<M> {
        if self.schema_name != M::TYPE_NAME {
            return Err(RecordError::TypeMismatch {
                topic: self.topic.clone(),
                expected: M::TYPE_NAME.to_owned(),
                found: self.schema_name.clone(),
            });
        }
        fusor_msgs::decode(&self.data).map_err(|source| RecordError::Msg { topic: self.topic.clone(), source })
    }

    /// True when the message is of type `M` (by schema name).
    pub fn is<M: RosMessage>(&self) -> bool {
        self.schema_name == M::TYPE_NAME
    }
}

#[derive(Debug)]
pub(crate) struct ChannelMeta {
    pub(crate) topic: String,
    pub(crate) schema_name: String,
    pub(crate) schema_encoding: String,
    pub(crate) schema_text: Option<Arc<str>>,
    pub(crate) message_encoding: String,
}

impl ChannelMeta {
    pub(crate) fn from_channel(channel: &mcap::Channel<'_>) -> Self {
        let (schema_name, schema_encoding, schema_text) = match &channel.schema {
            Some(s) => (s.name.clone(), s.encoding.clone(), Some(Arc::from(String::from_utf8_lossy(&s.data).as_ref()))),
            None => (String::new(), String::new(), None),
        };
        Self {
            topic: channel.topic.clone(),
            schema_name,
            schema_encoding,
            schema_text,
            message_encoding: channel.message_encoding.clone(),
        }
    }

    fn message(&self, header: &mcap::records::MessageHeader, data: Vec<u8>) -> RawMessage {
        RawMessage {
            topic: self.topic.clone(),
            schema_name: self.schema_name.clone(),
            schema_encoding: self.schema_encoding.clone(),
            schema_text: self.schema_text.clone(),
            message_encoding: self.message_encoding.clone(),
            sequence: header.sequence,
            log_time: stamp(header.log_time),
            publish_time: stamp(header.publish_time),
            data,
        }
    }
}

/// MCAP time (u64 ns) as a [`Stamp`]; times past year 2262 saturate.
pub(crate) fn stamp(t: u64) -> Stamp {
    Stamp(i64::try_from(t).unwrap_or(i64::MAX))
}

/// An open MCAP file: header, footer and (when intact) summary are read; messages are read on
/// demand with [`McapReader::messages`].
#[derive(Debug)]
pub struct McapReader {
    path: PathBuf,
    file_size: u64,
    header: Option<mcap::records::Header>,
    pub(crate) summary: Option<mcap::Summary>,
    summary_problem: Option<String>,
}

fn read_exact_at(file: &mut File, path: &Path, offset: u64, len: usize) -> Result<Vec<u8>> {
    file.seek(SeekFrom::Start(offset)).map_err(|e| RecordError::io(path, e))?;
    let mut buf = vec![0u8; len];
    file.read_exact(&mut buf).map_err(|e| RecordError::io(path, e))?;
    Ok(buf)
}

fn le_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_le_bytes(b))
}

impl McapReader {
    /// Opens `path`. Fails only when the file cannot be read or does not start like an MCAP;
    /// damage further on is reported by [`McapReader::messages`] after the intact messages.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut file = File::open(&path).map_err(|e| RecordError::io(&path, e))?;
        let file_size = file.metadata().map_err(|e| RecordError::io(&path, e))?.len();
        let mut magic = [0u8; 8];
        if file_size < MAGIC.len() as u64 || file.read_exact(&mut magic).is_err() || magic != MAGIC {
            return Err(RecordError::NotMcap { path, why: "missing the MCAP magic bytes at the start".into() });
        }
        let header = read_header(&mut file);
        let mut reader = Self { path, file_size, header, summary: None, summary_problem: None };
        match reader.read_footer_and_summary(&mut file) {
            Ok(()) => {}
            Err(why) => {
                tracing::debug!(path = %reader.path.display(), %why, "summary unusable, will scan linearly");
                reader.summary = None;
                reader.summary_problem = Some(why);
            }
        }
        Ok(reader)
    }

    /// The file read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// File size in bytes.
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// The MCAP profile from the header (`ros2` for ROS 2 bags), when the header is readable.
    pub fn profile(&self) -> Option<&str> {
        self.header.as_ref().map(|h| h.profile.as_str())
    }

    /// The writing library from the header, when the header is readable.
    pub fn library(&self) -> Option<&str> {
        self.header.as_ref().map(|h| h.library.as_str())
    }

    /// True when messages will be read through the summary's chunk index (log-time order);
    /// false when the file is scanned linearly (see [`McapReader::summary_problem`]).
    pub fn is_indexed(&self) -> bool {
        self.summary.is_some()
    }

    /// Why the summary is not used, when it is not (e.g. `no footer: truncated?`).
    pub fn summary_problem(&self) -> Option<&str> {
        self.summary_problem.as_deref()
    }

    /// Streams every message: in log-time order through the index, or in file order by a linear
    /// scan when the file has no usable summary. The iterator ends after the first error, which
    /// is [`RecordError::Damaged`] (or [`RecordError::Io`]).
    pub fn messages(&self) -> Result<Messages> {
        let file = File::open(&self.path).map_err(|e| RecordError::io(&self.path, e))?;
        let mode = match &self.summary {
            Some(summary) => {
                let mut chunks = summary.chunk_indexes.clone();
                chunks.sort_by_key(|c| (c.message_start_time, c.chunk_start_offset));
                let channels =
                    summary.channels.iter().map(|(&id, c)| (id, Arc::new(ChannelMeta::from_channel(c)))).collect();
                let chunk_starts = chunks.iter().map(|c| c.message_start_time).collect();
                Mode::Indexed(Box::new(Indexed {
                    chunks: ChunkSource::start(ChunkDecoder::new(file, chunks, channels)),
                    chunk_starts,
                    next_chunk: 0,
                    heap: BinaryHeap::new(),
                    expected_total: summary.stats.as_ref().map(|s| s.message_count),
                }))
            }
            None => {
                let options = mcap::sans_io::LinearReaderOptions::default()
                    .with_emit_chunks(true)
                    .with_validate_data_section_crc(true)
                    .with_validate_summary_section_crc(true)
                    .with_record_length_limit(MAX_RECORD_BYTES);
                Mode::Linear(Box::new(Linear {
                    source: BufReader::with_capacity(1 << 20, file),
                    reader: mcap::sans_io::LinearReader::new_with_options(options),
                    chunk_reader: chunk_reader(),
                    channels: Channels::default(),
                    ready: VecDeque::new(),
                    chunks: 0,
                    previous: None,
                    past_data_end: false,
                }))
            }
        };
        Ok(Messages { path: self.path.clone(), mode, delivered: 0, done: false })
    }

    fn read_footer_and_summary(&mut self, file: &mut File) -> std::result::Result<(), String> {
        let min_len = MAGIC.len() as u64 + FOOTER_AND_MAGIC_LEN;
        if self.file_size < min_len {
            return Err("file too short for a footer: truncated?".into());
        }
        let tail =
            read_exact_at(file, &self.path, self.file_size - FOOTER_AND_MAGIC_LEN, FOOTER_AND_MAGIC_LEN as usize)
                .map_err(|e| e.to_string())?;
        if tail.get(29..) != Some(MAGIC) || tail.first() != Some(&OP_FOOTER) || le_u64(&tail, 1) != Some(20) {
            return Err("no footer and end magic: truncated or still being written?".into());
        }
        let (Some(summary_start), Some(summary_crc)) = (le_u64(&tail, 9), le_u32(&tail, 25)) else {
            return Err("unreadable footer".into());
        };
        if summary_start == 0 {
            return Err("no summary section".into());
        }
        let crc_end = self.file_size - 8 - 4; // the CRC covers up to (not including) itself
        if summary_start < MAGIC.len() as u64 || summary_start >= crc_end {
            return Err(format!("summary start {summary_start} is outside the file"));
        }
        if summary_crc != 0 {
            let calculated = crc_of_range(file, summary_start, crc_end).map_err(|e| format!("reading summary: {e}"))?;
            if calculated != summary_crc {
                return Err(format!("summary CRC mismatch (stored {summary_crc:08x}, computed {calculated:08x})"));
            }
        }
        file.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
        let summary = read_summary(file, self.file_size).map_err(|e| format!("summary: {e}"))?;
        let Some(summary) = summary else {
            return Err("no summary section".into());
        };
        for chunk in &summary.chunk_indexes {
            let end = chunk.chunk_start_offset.checked_add(chunk.chunk_length);
            if end.is_none_or(|end| end > summary_start) {
                return Err(format!(
                    "chunk index points outside the data section (offset {})",
                    chunk.chunk_start_offset
                ));
            }
        }
        let message_count = summary.stats.as_ref().map_or(0, |s| s.message_count);
        if message_count > 0 && (summary.chunk_indexes.is_empty() || summary.channels.is_empty()) {
            return Err("summary has no chunk index or no channels".into());
        }
        self.summary = Some(summary);
        Ok(())
    }
}

fn read_header(file: &mut File) -> Option<mcap::records::Header> {
    let mut prefix = [0u8; 9];
    file.read_exact(&mut prefix).ok()?;
    if prefix[0] != OP_HEADER {
        return None;
    }
    let len = usize::try_from(le_u64(&prefix, 1)?).ok().filter(|&l| l <= 1 << 20)?;
    let mut body = vec![0u8; len];
    file.read_exact(&mut body).ok()?;
    match mcap::parse_record(OP_HEADER, &body).ok()? {
        Record::Header(h) => Some(h),
        _ => None,
    }
}

fn crc_of_range(file: &mut File, start: u64, end: u64) -> std::io::Result<u32> {
    file.seek(SeekFrom::Start(start))?;
    let mut hasher = crc32fast::Hasher::new();
    let mut remaining = end - start;
    let mut buf = vec![0u8; 1 << 16];
    while remaining > 0 {
        let n = usize::try_from(remaining).unwrap_or(usize::MAX).min(buf.len());
        let piece = &mut buf[..n];
        file.read_exact(piece)?;
        hasher.update(piece);
        remaining -= n as u64;
    }
    Ok(hasher.finalize())
}

fn read_summary(file: &mut File, file_size: u64) -> std::result::Result<Option<mcap::Summary>, McapError> {
    use mcap::sans_io::{SummaryReadEvent, SummaryReader, SummaryReaderOptions};
    let mut reader = SummaryReader::new_with_options(
        SummaryReaderOptions::default().with_file_size(file_size).with_record_length_limit(MAX_RECORD_BYTES),
    );
    while let Some(event) = reader.next_event() {
        match event? {
            SummaryReadEvent::ReadRequest(n) => {
                let read = file.read(reader.insert(n))?;
                reader.notify_read(read);
            }
            SummaryReadEvent::SeekRequest(to) => {
                let pos = file.seek(to)?;
                reader.notify_seeked(pos);
            }
        }
    }
    Ok(reader.finish())
}

/// Why a stream stopped: a description and, when the MCAP library found it, its error.
type Damage = (String, Option<McapError>);

fn describe(e: &McapError) -> String {
    match e {
        McapError::UnexpectedEof => "file ends in the middle of a record (truncated)".into(),
        McapError::BadChunkCrc { .. } => format!("corrupted chunk: {e}"),
        other => other.to_string(),
    }
}

/// The streaming message iterator of [`McapReader::messages`]. Yields `Ok` messages, then at
/// most one `Err`, then `None`.
#[derive(Debug)]
pub struct Messages {
    path: PathBuf,
    mode: Mode,
    delivered: u64,
    done: bool,
}

enum Mode {
    Indexed(Box<Indexed>),
    Linear(Box<Linear>),
}

impl std::fmt::Debug for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Indexed(_) => "Indexed",
            Mode::Linear(_) => "Linear",
        })
    }
}

impl Messages {
    /// Messages delivered so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// True when reading through the index (log-time order), false for a linear scan.
    pub fn is_indexed(&self) -> bool {
        matches!(self.mode, Mode::Indexed(_))
    }
}

impl Iterator for Messages {
    type Item = Result<RawMessage>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match &mut self.mode {
            Mode::Indexed(indexed) => indexed.next_message(self.delivered),
            Mode::Linear(linear) => linear.next_message(),
        };
        match item {
            Some(Ok(message)) => {
                self.delivered += 1;
                Some(Ok(message))
            }
            Some(Err((why, source))) => {
                self.done = true;
                Some(Err(RecordError::Damaged {
                    path: self.path.clone(),
                    messages_before: self.delivered,
                    why,
                    source,
                }))
            }
            None => {
                self.done = true;
                None
            }
        }
    }
}

/// The linear scan: file order, for files without a usable summary. It is a recovery mode, so
/// it checks the file's structure where the MCAP spec would skip: a record with an unknown
/// opcode, a message outside the chunks of a chunked file, or a message index that follows no
/// chunk is damage, because a chunk or message index whose opcode byte was damaged looks exactly
/// like one (skipping it would silently drop a chunk's messages; reading a message index as a
/// message would deliver one that was never written).
struct Linear {
    source: BufReader<File>,
    /// Emits whole chunk records, so chunk boundaries are known.
    reader: mcap::sans_io::LinearReader,
    /// Checks and decompresses one chunk at a time.
    chunk_reader: mcap::sans_io::LinearReader,
    channels: Channels,
    /// The decoded messages of the last chunk, not delivered yet.
    ready: VecDeque<RawMessage>,
    /// Chunks read so far.
    chunks: u64,
    /// The opcode of the previous top-level record.
    previous: Option<u8>,
    /// After the data end record only summary records may follow (not checked, not delivered).
    past_data_end: bool,
}

/// Schemas and channels read so far by the linear scan.
#[derive(Default)]
struct Channels {
    records: mcap::read::ChannelAccumulator<'static>,
    metas: HashMap<u16, Arc<ChannelMeta>>,
}

impl Channels {
    /// Takes in a schema or channel record; any other record is left alone.
    fn add(&mut self, record: &Record<'_>) -> std::result::Result<(), McapError> {
        match record {
            Record::Schema { header, data } => {
                self.records.add_schema(header.clone(), std::borrow::Cow::Owned(data.to_vec()))
            }
            Record::Channel(channel) => {
                self.records.add_channel(channel.clone())?;
                if let Some(channel) = self.records.get(channel.id) {
                    self.metas.entry(channel.id).or_insert_with(|| Arc::new(ChannelMeta::from_channel(&channel)));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn message(
        &self,
        header: &mcap::records::MessageHeader,
        data: &[u8],
    ) -> std::result::Result<RawMessage, McapError> {
        match self.metas.get(&header.channel_id) {
            Some(meta) => Ok(meta.message(header, data.to_vec())),
            None => Err(McapError::UnknownChannel(header.sequence, header.channel_id)),
        }
    }
}

impl Linear {
    fn next_message(&mut self) -> Option<std::result::Result<RawMessage, Damage>> {
        use mcap::records::op;
        loop {
            if let Some(message) = self.ready.pop_front() {
                return Some(Ok(message));
            }
            let event = match self.reader.next_event()? {
                Ok(event) => event,
                Err(e) => return Some(Err((describe(&e), Some(e)))),
            };
            let (opcode, data) = match event {
                mcap::sans_io::LinearReadEvent::ReadRequest(need) => {
                    let read = loop {
                        match self.source.read(self.reader.insert(need)) {
                            Ok(n) => break n,
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                            Err(e) => return Some(Err((format!("reading: {e}"), Some(McapError::Io(e))))),
                        }
                    };
                    self.reader.notify_read(read);
                    continue;
                }
                mcap::sans_io::LinearReadEvent::Record { opcode, data } => (opcode, data),
            };
            let previous = self.previous.replace(opcode);
            if self.past_data_end {
                // A data end record where a chunk or message should be would otherwise end the
                // messages early without a word.
                if opcode == op::CHUNK || opcode == op::MESSAGE {
                    return Some(Err((format!("a record with opcode {opcode:#04x} after the data end record"), None)));
                }
                continue;
            }
            if opcode == op::DATA_END {
                self.past_data_end = true;
                continue;
            }
            let record = match mcap::parse_record(opcode, data) {
                Ok(record) => record,
                Err(e) => return Some(Err((describe(&e), Some(e)))),
            };
            if !fills_its_record(&record, data.len()) {
                // A grown length field would swallow the records after it, chunks included.
                return Some(Err((format!("a record with opcode {opcode:#04x} is longer than its contents"), None)));
            }
            match record {
                Record::Chunk { header, .. } => {
                    let label = format!("chunk {} (in file order)", self.chunks);
                    self.chunks += 1;
                    let len = 9 + data.len();
                    let buf = self.chunk_reader.insert(len);
                    buf[0] = op::CHUNK;
                    buf[1..9].copy_from_slice(&(data.len() as u64).to_le_bytes());
                    buf[9..].copy_from_slice(data);
                    let (channels, ready) = (&mut self.channels, &mut self.ready);
                    let decoded = for_each_chunk_record(&mut self.chunk_reader, len, &header, &label, |record| {
                        channels.add(&record)?;
                        if let Record::Message { header, data } = record {
                            ready.push_back(channels.message(&header, &data)?);
                        }
                        Ok(())
                    });
                    if let Err(damage) = decoded {
                        self.ready.clear(); // a chunk is delivered whole or not at all
                        return Some(Err(damage));
                    }
                }
                Record::Message { .. } if self.chunks > 0 => {
                    return Some(Err((
                        "a message outside the chunks of a chunked file: a damaged record?".into(),
                        None,
                    )))
                }
                Record::Message { header, data } => {
                    return Some(self.channels.message(&header, &data).map_err(|e| (describe(&e), Some(e))));
                }
                Record::MessageIndex(_) if !matches!(previous, Some(op::CHUNK | op::MESSAGE_INDEX)) => {
                    return Some(Err((
                        "a message index that follows no chunk: the chunk before it is damaged".into(),
                        None,
                    )))
                }
                Record::Unknown { opcode, .. } => {
                    return Some(Err((format!("a record with unknown opcode {opcode:#04x}: damaged?"), None)))
                }
                other => {
                    if let Err(e) = self.channels.add(&other) {
                        return Some(Err((describe(&e), Some(e))));
                    }
                }
            }
        }
    }
}

/// True when `record`'s fields account for all `body_len` bytes of its body, for the records
/// that frame a chunked data section (chunks, message indexes, schemas); true for the others.
fn fills_its_record(record: &Record<'_>, body_len: usize) -> bool {
    let string = |s: &str| 4 + s.len() as u64;
    let expected = match record {
        Record::Chunk { header, .. } => 8 + 8 + 8 + 4 + string(&header.compression) + 8 + header.compressed_size,
        Record::MessageIndex(index) => 2 + 4 + 16 * index.records.len() as u64,
        Record::Schema { header, data } => 2 + string(&header.name) + string(&header.encoding) + 4 + data.len() as u64,
        _ => return true,
    };
    expected == body_len as u64
}

/// A reader for one chunk record at a time (handed over whole, opcode and length included):
/// it decompresses the chunk and checks its CRC before handing out any record, and refuses
/// lengths over the limit, so garbage never reaches an allocation or the caller.
fn chunk_reader() -> mcap::sans_io::LinearReader {
    let options = mcap::sans_io::LinearReaderOptions::default()
        .with_skip_start_magic(true)
        .with_skip_end_magic(true)
        .with_prevalidate_chunk_crcs(true)
        .with_record_length_limit(MAX_RECORD_BYTES);
    mcap::sans_io::LinearReader::new_with_options(options)
}

/// Runs the chunk record of `len` bytes just written into `reader`'s input buffer through it and
/// hands every record inside to `on_record`. A chunk without a CRC that holds a record with an
/// unknown opcode is damage: a damaged message opcode would look just like it.
fn for_each_chunk_record(
    reader: &mut mcap::sans_io::LinearReader,
    len: usize,
    header: &mcap::records::ChunkHeader,
    label: &str,
    mut on_record: impl FnMut(Record<'_>) -> std::result::Result<(), McapError>,
) -> std::result::Result<(), Damage> {
    let damage = |e: McapError| (format!("{label}: {}", describe(&e)), Some(e));
    reader.notify_read(len);
    while let Some(event) = reader.next_event() {
        match event {
            // The whole chunk record was handed over: asking for more means every record of the
            // chunk has been read (a record running past the chunk's end is an error).
            Ok(mcap::sans_io::LinearReadEvent::ReadRequest(_)) => return Ok(()),
            Ok(mcap::sans_io::LinearReadEvent::Record { opcode, data }) => {
                let record = mcap::parse_record(opcode, data).map_err(damage)?;
                if header.uncompressed_crc == 0 && matches!(record, Record::Unknown { .. }) {
                    return Err((
                        format!("{label} (no CRC) holds a record with unknown opcode {opcode:#04x}: damaged"),
                        None,
                    ));
                }
                on_record(record).map_err(damage)?;
            }
            Err(e) => return Err(damage(e)),
        }
    }
    Err((format!("{label}: the reader stopped inside the chunk"), None))
}

struct Indexed {
    chunks: ChunkSource,
    /// `message_start_time` of each chunk, in the order they are opened.
    chunk_starts: Vec<u64>,
    next_chunk: usize,
    heap: BinaryHeap<Pending>,
    expected_total: Option<u64>,
}

/// A chunk's messages, or why it could not be read.
type DecodedChunk = std::result::Result<Vec<Pending>, Damage>;

/// Where decoded chunks come from: a worker thread decoding them in order, [`CHUNKS_AHEAD`]
/// ahead, or (when no thread could be started) this thread on demand. Both yield exactly the
/// same sequence: chunk 0, 1, 2, … up to and including the first damaged one.
enum ChunkSource {
    Ahead { decoded: std::sync::mpsc::Receiver<DecodedChunk>, next: usize },
    Inline(Box<ChunkDecoder>),
}

impl ChunkSource {
    fn start(decoder: ChunkDecoder) -> Self {
        // The worker only ever moves forward, and the reader asks for chunks strictly in order,
        // so the channel's order is the chunk order. The bounded channel caps the chunks held.
        let (tx, rx) = std::sync::mpsc::sync_channel(CHUNKS_AHEAD);
        let worker = std::sync::Arc::new(std::sync::Mutex::new(Some(decoder)));
        let for_thread = worker.clone();
        let spawned = std::thread::Builder::new().name("mcap-chunks".into()).spawn(move || {
            let Some(mut decoder) = for_thread.lock().ok().and_then(|mut d| d.take()) else {
                return;
            };
            for position in 0..decoder.chunks.len() {
                let chunk = decoder.decode(position);
                let damaged = chunk.is_err();
                // A closed channel means the iterator was dropped: stop quietly.
                if tx.send(chunk).is_err() || damaged {
                    return;
                }
            }
        });
        match spawned {
            Ok(_) => Self::Ahead { decoded: rx, next: 0 },
            Err(e) => {
                tracing::debug!(error = %e, "no chunk decoding thread, decoding inline");
                match worker.lock().ok().and_then(|mut d| d.take()) {
                    Some(decoder) => Self::Inline(Box::new(decoder)),
                    None => Self::Ahead { decoded: rx, next: 0 },
                }
            }
        }
    }

    /// The messages of chunk `position`, which must be the next one not asked for yet.
    fn take(&mut self, position: usize) -> DecodedChunk {
        match self {
            Self::Inline(decoder) => decoder.decode(position),
            Self::Ahead { decoded, next } => {
                debug_assert_eq!(*next, position, "chunks are taken in order");
                *next += 1;
                decoded.recv().unwrap_or_else(|_| {
                    Err((format!("the chunk decoding thread stopped before chunk {position}"), None))
                })
            }
        }
    }
}

/// Reads, checks and decodes one chunk at a time from the file.
struct ChunkDecoder {
    file: File,
    chunks: Vec<ChunkIndex>,
    channels: HashMap<u16, Arc<ChannelMeta>>,
    /// Fed one whole chunk record at a time, back to back, as if they were a data section.
    reader: mcap::sans_io::LinearReader,
}

/// A decoded message waiting for its turn; the heap pops the earliest log time first, ties in
/// file order.
struct Pending {
    key: (u64, usize, usize),
    message: RawMessage,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        other.key.cmp(&self.key)
    }
}

impl Indexed {
    fn next_message(&mut self, delivered: u64) -> Option<std::result::Result<RawMessage, Damage>> {
        loop {
            let next_chunk_start = self.chunk_starts.get(self.next_chunk).copied();
            let earliest_pending = self.heap.peek().map(|p| p.key.0);
            let open_chunk_first = match (next_chunk_start, earliest_pending) {
                (Some(start), Some(pending)) => start <= pending,
                (Some(_), None) => true,
                (None, _) => false,
            };
            match earliest_pending {
                // A chunk that may hold an earlier message must be opened first.
                _ if open_chunk_first => {
                    match self.chunks.take(self.next_chunk) {
                        Ok(decoded) => self.heap.extend(decoded),
                        Err(damage) => return Some(Err(damage)),
                    }
                    self.next_chunk += 1;
                }
                Some(_) => return self.heap.pop().map(|p| Ok(p.message)),
                None => {
                    return match self.expected_total {
                        Some(total) if total != delivered => Some(Err((
                            format!("the summary counts {total} messages but the chunk index holds {delivered}"),
                            None,
                        ))),
                        _ => None,
                    };
                }
            }
        }
    }
}

impl ChunkDecoder {
    fn new(file: File, chunks: Vec<ChunkIndex>, channels: HashMap<u16, Arc<ChannelMeta>>) -> Self {
        Self { file, chunks, channels, reader: chunk_reader() }
    }

    fn decode(&mut self, position: usize) -> DecodedChunk {
        let Some(index) = self.chunks.get(position) else {
            return Ok(Vec::new());
        };
        let offset = index.chunk_start_offset;
        let len = usize::try_from(index.chunk_length)
            .ok()
            .filter(|l| (9..=MAX_RECORD_BYTES).contains(l))
            .ok_or_else(|| (format!("chunk at {offset} has an implausible length {}", index.chunk_length), None))?;
        let io_err = |e: std::io::Error| (format!("reading chunk at {offset}: {e}"), Some(McapError::Io(e)));
        self.file.seek(SeekFrom::Start(offset)).map_err(io_err)?;
        // The chunk record is read straight into the reader's input buffer: one buffer for every
        // chunk (and one for their decompressed records), not a fresh few megabytes per chunk.
        let buf = self.reader.insert(len);
        self.file.read_exact(buf).map_err(io_err)?;
        let body = match (buf.first(), le_u64(buf, 1).and_then(|l| usize::try_from(l).ok())) {
            (Some(&OP_CHUNK), Some(body_len)) if body_len.checked_add(9) == Some(len) => buf.get(9..),
            (Some(&OP_CHUNK), Some(_)) => {
                return Err((format!("the chunk at {offset} is not as long as its index entry says"), None))
            }
            _ => None,
        }
        .ok_or_else(|| (format!("the chunk index points at offset {offset}, where no chunk starts"), None))?;
        let header = match mcap::parse_record(OP_CHUNK, body) {
            Ok(Record::Chunk { header, .. }) => header,
            Ok(_) => return Err((format!("record at {offset} is not a chunk"), None)),
            Err(e) => return Err((format!("chunk at {offset}: {}", describe(&e)), Some(e))),
        };
        // The chunk header is outside every CRC; the index in the (CRC-checked) summary is not.
        if header.uncompressed_size != index.uncompressed_size
            || header.compressed_size != index.compressed_size
            || header.compression != index.compression
        {
            return Err((format!("chunk header at {offset} disagrees with the chunk index"), None));
        }
        let mut decoded = Vec::new();
        let label = format!("chunk at {offset}");
        let channels = &self.channels;
        for_each_chunk_record(&mut self.reader, len, &header, &label, |record| {
            // Schema and channel records repeat what the summary holds.
            if let Record::Message { header, data } = record {
                let meta = channels
                    .get(&header.channel_id)
                    .ok_or(McapError::UnknownChannel(header.sequence, header.channel_id))?;
                let message = meta.message(&header, data.into_owned());
                decoded.push(Pending { key: (header.log_time, position, decoded.len()), message });
            }
            Ok(())
        })?;
        Ok(decoded)
    }
}
