//! Synchronisers: ROS-compatible [`ApproximateTime`] over N topics, and the pipeline's
//! lidar-pivot [`PivotSync`] (camera nearest within a window, pose interpolated, degraded sets
//! on timeout).

pub mod approximate_time;
pub mod pivot;

pub use approximate_time::{ApproximateTime, ApproximateTimeConfig, ApproximateTimeStats, SyncSet};
pub use pivot::{
    CameraMatch, CameraStreamConfig, Modality, PivotSync, PivotSyncConfig, PivotSyncStage, PivotSyncStats, PoseSample,
    SharedPivotSyncStats, StreamStats, SyncInput, SyncedSet,
};
