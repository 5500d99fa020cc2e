//! The fusor evaluator: turns perception and tracking outputs into numbers.
//!
//! The evaluator never imports what it judges: detectors and trackers hand it their outputs as
//! fusor-core [`Detection`](fusor_core::Detection)s and [`Track`](fusor_core::Track)s, and ground
//! truth arrives as [`GroundTruthBox`]es, all in one z-up frame of reference per frame.
//!
//! - [`evaluate_detections`]: KITTI AP|R40 with rotated IoU in BEV and 3D (IoU 0.7 car, 0.5
//!   pedestrian and cyclist; Easy/Moderate/Hard where labels allow; ignored neighbours and
//!   `DontCare` regions), and nuScenes centre-distance AP (0.5/1/2/4 m).
//! - [`evaluate_tracking`]: MOTA (FN, FP, IDSW), MOTP and IDF1 over a drive.
//! - Reports render as Markdown ([`DetectionReport::to_markdown`]), JSON
//!   ([`DetectionReport::to_json`]) and precision–recall PNGs
//!   ([`DetectionReport::write_pr_plots`]).
//! - [`kitti`] converts KITTI object and tracking labels (difficulty, neighbouring classes,
//!   `DontCare`) through the rig calibration.

mod assignment;
pub mod breakdown;
pub mod detection;
pub mod error;
pub mod geometry;
mod ground_truth;
pub mod kitti;
mod report;
pub mod tracking;

pub use breakdown::{error_breakdown, error_breakdowns, ErrorBreakdown, ErrorKind, ErrorShare};
pub use detection::{
    evaluate_detections, BoxMetric, CenterDistanceAp, ClassDetectionReport, DetectionConfig, DetectionReport, KittiAp,
    MatchCounts, PrPoint,
};
pub use error::{EvalError, Result};
pub use ground_truth::{Difficulty, DontCareRegion, FrameEval, GroundTruthBox, TrackingFrameEval};
pub use tracking::{evaluate_tracking, TrackMatching, TrackingConfig, TrackingReport};
