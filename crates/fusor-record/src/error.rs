//! The one error type of `fusor-record`.

use std::path::PathBuf;

/// Everything that can go wrong writing, reading or importing a recording.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// An I/O error on `path` (open, create, read, write, seek).
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The MCAP library refused a write (or failed to finish the file).
    #[error("writing MCAP {path}: {source}")]
    McapWrite {
        path: PathBuf,
        #[source]
        source: mcap::McapError,
    },

    /// The recording is damaged (truncated, corrupted, or inconsistent). Every intact message
    /// before the damage was delivered; `messages_before` says how many that was.
    #[error("{path} is damaged after {messages_before} intact messages: {why}")]
    Damaged {
        path: PathBuf,
        messages_before: u64,
        why: String,
        #[source]
        source: Option<mcap::McapError>,
    },

    /// The file is not an MCAP at all, or not one this crate can read.
    #[error("{path} is not a readable MCAP: {why}")]
    NotMcap { path: PathBuf, why: String },

    /// A topic was written with a second, different message type.
    #[error("topic {topic} already carries {existing}, cannot write {requested}")]
    TopicTypeConflict { topic: String, existing: String, requested: String },

    /// A message was decoded as a type other than the one its channel declares.
    #[error("message on {topic} is {found}, not {expected}")]
    TypeMismatch { topic: String, expected: String, found: String },

    /// MCAP counts time in unsigned nanoseconds since the epoch; a stamp before 1970 cannot be
    /// stored.
    #[error("stamp {stamp_ns} ns is before the Unix epoch and cannot be stored in MCAP")]
    NegativeStamp { stamp_ns: i64 },

    /// A ROS 2 message failed to encode or decode (CDR).
    #[error("{topic}: {source}")]
    Msg {
        topic: String,
        #[source]
        source: fusor_msgs::MsgError,
    },

    /// A dataset file is malformed: `what` names the entry (line, field, key).
    #[error("{path}: {what}: {why}")]
    Parse { path: PathBuf, what: String, why: String },

    /// An image failed to decode.
    #[error("decoding image {path}: {source}")]
    Image {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },

    /// A payload was rejected by the fusor data model or calibration.
    #[error(transparent)]
    Core(#[from] fusor_core::CoreError),
}

/// Result with [`RecordError`].
pub type Result<T, E = RecordError> = std::result::Result<T, E>;

impl RecordError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
}
