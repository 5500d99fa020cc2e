//! The one error type of `fusor-sim`.

use std::path::PathBuf;

/// Everything that can go wrong building or running a simulation.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A scenario or rig file is unreadable, malformed, or fails validation. `key` names the
    /// offending entry (e.g. `sensors.lidar.rate_hz`); it is empty when the file as a whole is bad.
    #[error("scenario {path}: {key}: {why}")]
    Scenario {
        /// The file (or `<inline>` for a scenario parsed from a string).
        path: PathBuf,
        /// Dotted key of the offending entry.
        key: String,
        /// What is wrong with it.
        why: String,
    },

    /// An I/O error reading or writing `path`.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// A parameter passed through the API is out of range.
    #[error("invalid {what}: {why}")]
    Invalid {
        /// The parameter.
        what: &'static str,
        /// Why it is refused.
        why: String,
    },

    /// An error from the data model (geodesy, payload validation).
    #[error(transparent)]
    Core(#[from] fusor_core::CoreError),

    /// A payload that has no ROS 2 message form (e.g. a stamp outside the ROS time range).
    #[error(transparent)]
    Msg(#[from] fusor_msgs::MsgError),

    /// Writing the MCAP recording failed.
    #[error(transparent)]
    Record(#[from] fusor_record::RecordError),
}

/// Result with [`SimError`].
pub type Result<T, E = SimError> = std::result::Result<T, E>;

impl SimError {
    pub(crate) fn invalid(what: &'static str, why: impl Into<String>) -> Self {
        Self::Invalid { what, why: why.into() }
    }
}
