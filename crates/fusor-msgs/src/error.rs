//! The one error type of `fusor-msgs`.

/// Everything that can go wrong decoding, encoding or converting a ROS 2 message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MsgError {
    /// The bytes are too short to hold the 4-byte CDR encapsulation header.
    #[error("CDR message of {len} bytes is shorter than its 4-byte encapsulation header")]
    TooShort {
        /// Number of bytes received.
        len: usize,
    },

    /// The encapsulation header names a representation other than plain CDR (LE or BE).
    #[error("unsupported CDR encapsulation {0:02x?}: only plain CDR (00 00 big-endian, 00 01 little-endian)")]
    UnsupportedEncapsulation([u8; 2]),

    /// The CDR payload is truncated or malformed (or could not be serialised).
    #[error("CDR: {0}")]
    Cdr(#[from] cdr_encoding::Error),

    /// A time cannot be represented on the other side (nanosec ≥ 1e9, seconds beyond `i32`).
    #[error("invalid time: {0}")]
    Time(String),

    /// A `PointCloud2`'s header disagrees with its data (sizes, offsets, steps).
    #[error("invalid point cloud layout: {0}")]
    PointCloudLayout(String),

    /// A `PointCloud2` lacks a required field (x, y or z).
    #[error("point cloud has no {0:?} field")]
    MissingField(&'static str),

    /// A `PointField.datatype` outside 1..=8.
    #[error("point field {name:?} has unknown datatype {datatype}")]
    UnknownDatatype {
        /// Field name.
        name: String,
        /// The datatype code found.
        datatype: u8,
    },

    /// A known datatype that this field cannot have (e.g. an integer `x`).
    #[error("point field {name:?}: datatype {datatype} not supported here ({why})")]
    UnsupportedDatatype {
        /// Field name.
        name: String,
        /// The datatype code found.
        datatype: u8,
        /// What would be accepted.
        why: &'static str,
    },

    /// An `Image`'s header disagrees with its data (step, height, width).
    #[error("invalid image layout: {0}")]
    ImageLayout(String),

    /// An image encoding this crate does not convert.
    #[error("unsupported image encoding {0:?} (supported: rgb8, bgr8, mono8, rgba8, bgra8)")]
    UnsupportedEncoding(String),

    /// PNG/JPEG decoding or encoding failed (incl. images over the decoder limits).
    #[error("image codec: {0}")]
    Codec(#[from] image::ImageError),

    /// A value outside its allowed range (e.g. an unknown `NavSatStatus.status`).
    #[error("invalid {what}: {why}")]
    Invalid {
        /// What was being converted.
        what: &'static str,
        /// Why it was rejected.
        why: String,
    },

    /// `fusor-core` rejected the converted payload.
    #[error(transparent)]
    Core(#[from] fusor_core::CoreError),
}
