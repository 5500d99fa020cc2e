//! The fusor multi-object tracker.
//!
//! Detections from any detector (geometric now, the network later), already expressed in the
//! tracker's fixed frame (`map` by default), go in frame by frame; confirmed [`Track`]s with
//! stable ids, filtered boxes, velocity and voted class come out. See [`Tracker`] for the
//! per-frame steps and [`TrackerConfig`] for the parameters.
//!
//! The tracker knows no transport and no transform tree: the runtime moves detections from
//! `base_link` to `map` before calling [`Tracker::update`].
//!
//! [`Track`]: fusor_core::Track

pub mod error;
mod kalman;
mod tracker;

pub use error::TrackingError;
pub use tracker::{Tracker, TrackerConfig, TrackerStats, CHI2_3DOF_99};
