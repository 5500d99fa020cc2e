//! fusor-detect: a fused camera + lidar BEV detector on libtorch (tch).
//!
//! PointPillars / CenterPoint family with PointPainting-style fusion:
//! an optional image CNN → every lidar point painted through the calibration → pillar feature net
//! (point MLP, mean-scattered to a BEV grid) → 3-scale 2D backbone → CenterPoint heads (class
//! heatmaps, centre offset, z, log size, sin/cos yaw) → max-pool peak decoding to boxes.
//! [`FusionMode`] picks `lidar`, `early` (RGB painted), `intermediate` (learned image features
//! painted, end to end) or `late` (lidar boxes re-scored by image evidence); the pillar net,
//! backbone and heads are the same in all modes.
//!
//! Frames: points, boxes and detections are in `base_link` (x forward, y left, z up, metres);
//! the camera is placed by `camera_from_base_link` (optical frame) and its intrinsics.
//!
//! - [`sample`]: training samples from simulated drives, cached as safetensors.
//! - [`features`], [`target`], [`model`]: inputs, CenterPoint targets and decoding, the network.
//! - [`train`]: focal + L1 losses, Adam, modality dropout, [`augment`]ation (mirror, turn, scale).
//! - [`detector`]: weights in and out (safetensors with the config inside), `detect`.
//! - [`eval`]: scoring with fusor-eval.

pub mod augment;
pub mod config;
pub mod detector;
pub mod error;
pub mod eval;
pub mod features;
pub mod model;
pub mod sample;
pub mod target;
pub mod train;

pub use augment::{Augment, AugmentConfig};
pub use config::{FusionMode, ImageBranch, ModelConfig, CLASSES};
pub use detector::{Detector, WarmStart};
pub use error::{DetectError, Result};
pub use features::{Batch, FrameInput};
pub use sample::{CameraSet, CameraView, DriveSpec, GtBox, Sample};
pub use train::{TrainConfig, Trainer};
