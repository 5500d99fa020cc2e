//! Alignment: everything a perception stage needs in one frame, at the lidar's time of validity.
//!
//! - [`pose`]: the ego pose in `map` (ENU at the first usable fix or a configured origin) from
//!   GNSS positions filtered with the IMU's acceleration, its bias estimated in flight
//!   (`antenna_filter`), with heading from the IMU orientation when it has one, otherwise from
//!   the GNSS track blended with the integrated IMU yaw rate. Its [`PoseSample`]s carry the body
//!   twist (filter velocity, gyro rate) and feed the synchroniser, which interpolates them to
//!   each lidar stamp.
//! - [`deskew`]: per-point motion correction with a constant body twist over the sweep (the
//!   pose's own twist, else the motion between two frames' poses).
//! - [`frame`]: the payloads around the synchroniser ([`LidarScan`], [`CameraFrame`]) and the
//!   output [`FusedFrame`] (cloud in `base_link`, `map_from_base_link`, cameras with their
//!   models, ground truth when recorded, what is degraded).
//! - [`stage`]: [`AlignStage`], the runtime stage `SyncedSet → FusedFrame`.
//!
//! This crate is a plain library on `fusor-core` and the runtime's message types: it knows no
//! transport (MCAP, ROS 2) and no viewer. `fusor replay` wires it between the synchroniser and
//! the sinks.
//!
//! [`PoseSample`]: fusor_runtime::sync::PoseSample

mod antenna_filter;
pub mod deskew;
pub mod frame;
pub mod pose;
pub mod stage;

pub use deskew::{deskew_into_base_link, BodyTwist, DeskewStatus};
pub use frame::{
    AlignedCamera, CameraFrame, Degradation, FusedFrame, GroundTruth, GroundTruthObject, LidarScan, StageLatency,
};
pub use pose::{EgoPoseConfig, EgoPoseEstimator, EgoPoseStats, HeadingSource};
pub use stage::{AlignConfig, AlignStage, AlignStats, Aligner};

/// Alignment errors (configuration only: bad data is flagged on the frame, never an error).
#[derive(Debug, thiserror::Error)]
pub enum AlignError {
    /// A parameter is out of range; `key` names it.
    #[error("{key}: {why}")]
    Invalid {
        /// The offending key (e.g. `stage[2].params.origin`).
        key: String,
        /// What is wrong.
        why: String,
    },
}
