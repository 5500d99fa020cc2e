//! The one error type of `fusor-core`.

use std::path::PathBuf;

/// Everything that can go wrong in the data model, calibration or geodesy.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A payload's parts disagree (e.g. point cloud columns of different lengths).
    #[error("invalid {what}: {why}")]
    Invalid { what: &'static str, why: String },

    /// A calibration file is missing, unreadable, or fails validation. `key` names the offending
    /// entry (e.g. `sensors.camera_front.intrinsics.fx` or `P2`).
    #[error("calibration {path}: {key}: {why}")]
    Calibration { path: PathBuf, key: String, why: String },

    /// An I/O error reading `path`.
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Result with [`CoreError`].
pub type Result<T, E = CoreError> = std::result::Result<T, E>;

impl CoreError {
    pub(crate) fn invalid(what: &'static str, why: impl Into<String>) -> Self {
        Self::Invalid { what, why: why.into() }
    }
}
