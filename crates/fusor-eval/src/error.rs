//! The one error type of `fusor-eval`.

use std::path::PathBuf;

/// Everything that can go wrong while loading labels, evaluating or writing a report.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Ground truth and detections (or tracks) of one frame are expressed in different frames.
    #[error("frame {index}: ground truth is in {gt_frame:?} but an output is in {output_frame:?}")]
    FrameMismatch { index: usize, gt_frame: String, output_frame: String },

    /// The input cannot be evaluated (e.g. a tracking ground truth without a track id).
    #[error("invalid input: {0}")]
    Invalid(String),

    /// A label file fails to parse; `line` is 1-based.
    #[error("{path}: line {line}: {why}")]
    Parse { path: PathBuf, line: usize, why: String },

    /// The data model refused something (calibration, label file).
    #[error(transparent)]
    Core(#[from] fusor_core::CoreError),

    /// An I/O error on `path`.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Serialising the JSON report failed.
    #[error("JSON report: {0}")]
    Json(#[from] serde_json::Error),

    /// Drawing or encoding a plot failed.
    #[error("plot {path}: {why}")]
    Plot { path: PathBuf, why: String },
}

/// Result with [`EvalError`].
pub type Result<T, E = EvalError> = std::result::Result<T, E>;
