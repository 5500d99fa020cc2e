//! The crate's one error type.

use thiserror::Error;

/// Everything that can go wrong in perception. Bad *data* (NaN points, empty scans, objects
/// behind the camera) is not an error: it is dropped and counted in [`Stats`](crate::Stats).
/// Errors are reserved for bad configuration and inconsistent inputs.
#[derive(Debug, Error)]
pub enum PerceptionError {
    /// A parameter is out of its valid range; `name` is its dotted path in `PerceptionParams`.
    #[error("invalid perception parameter {name}: {why}")]
    InvalidParam {
        /// Dotted parameter path, e.g. `ground.zone_radii_m`.
        name: String,
        /// What is wrong with it.
        why: String,
    },
    /// The point cloud's columns differ in length.
    #[error("malformed point cloud: {0}")]
    MalformedCloud(String),
    /// The rig has no camera with that frame.
    #[error("rig {rig:?} has no camera {frame:?}")]
    MissingCamera {
        /// Rig name.
        rig: String,
        /// Requested camera frame.
        frame: String,
    },
    /// The calibration does not provide what the camera association needs.
    #[error("calibration: {0}")]
    Calibration(#[from] fusor_core::CoreError),
}

/// Shorthand for results of this crate.
pub type Result<T, E = PerceptionError> = std::result::Result<T, E>;

pub(crate) fn invalid(name: &str, why: impl Into<String>) -> PerceptionError {
    PerceptionError::InvalidParam { name: name.to_owned(), why: why.into() }
}
