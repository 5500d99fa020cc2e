//! The one error type of `fusor-tracking`.

/// What can go wrong building a tracker. Bad input at run time (non-finite detections, frames
/// other than the tracker's, time going backwards) is dropped or handled and counted in
/// [`TrackerStats`](crate::TrackerStats), never an error.
#[derive(Debug, thiserror::Error)]
pub enum TrackingError {
    /// A configuration value is out of range; `key` names the field.
    #[error("tracker config: {key}: {why}")]
    Config { key: &'static str, why: String },
}
