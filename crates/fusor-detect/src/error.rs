//! Errors of the detector.

use std::path::PathBuf;

/// What can go wrong in fusor-detect.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// A configuration that cannot build a network.
    #[error("config: {0}")]
    Config(String),
    /// A weights file that is missing, unreadable, or does not fit the network.
    #[error("weights {path}: {msg}")]
    Weights {
        /// The file.
        path: PathBuf,
        /// What is wrong (names the tensor where one is at fault).
        msg: String,
    },
    /// Input data the detector cannot use (wrong frame, image size mismatch).
    #[error("input: {0}")]
    Input(String),
    /// Data set generation or cache problems.
    #[error("data: {0}")]
    Data(String),
    /// An error from libtorch.
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
}

/// Result with [`DetectError`].
pub type Result<T, E = DetectError> = std::result::Result<T, E>;
