//! The align stage: a synchronised set in, a [`FusedFrame`] out.

use crate::deskew::{deskew_into_base_link, BodyTwist, DeskewStatus};
use crate::frame::{AlignedCamera, CameraFrame, Degradation, FusedFrame, LidarScan, StageLatency};
use crate::AlignError;
use fusor_runtime::sync::{PoseSample, SyncedSet};
use fusor_runtime::{Msg, Outbox, Stage};
use nalgebra::Isometry3;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;

/// Parameters of the align stage (`params` of a `kind = "align"` stage).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlignConfig {
    /// Deskew scans that carry per-point times.
    #[serde(default = "default_true")]
    pub deskew: bool,
    /// Longest interval between two consecutive poses used for a motion estimate, s.
    #[serde(default = "default_max_twist_interval")]
    pub max_twist_interval_s: f64,
    /// Camera names in the synchroniser's stream order (used to name missing cameras).
    #[serde(default)]
    pub cameras: Vec<String>,
}

fn default_true() -> bool {
    true
}
fn default_max_twist_interval() -> f64 {
    0.5
}

impl Default for AlignConfig {
    fn default() -> Self {
        Self { deskew: true, max_twist_interval_s: default_max_twist_interval(), cameras: Vec::new() }
    }
}

impl AlignConfig {
    /// Reads a stage's `params` table; errors name `key`.
    pub fn from_params(params: &toml::Table, key: &str) -> Result<Self, AlignError> {
        let config: Self = toml::Value::Table(params.clone())
            .try_into()
            .map_err(|e: toml::de::Error| AlignError::Invalid { key: key.to_owned(), why: e.to_string() })?;
        if !(config.max_twist_interval_s.is_finite() && config.max_twist_interval_s > 0.0) {
            return Err(AlignError::Invalid {
                key: format!("{key}.max_twist_interval_s"),
                why: format!("must be finite and > 0, got {}", config.max_twist_interval_s),
            });
        }
        Ok(config)
    }
}

/// Counters of an [`Aligner`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AlignStats {
    /// Frames produced.
    pub frames: u64,
    /// Frames with some [`Degradation`].
    pub degraded: u64,
    /// Frames without a pose.
    pub no_pose: u64,
    /// Frames deskewed.
    pub deskewed: u64,
    /// Frames with per-point times but no motion estimate.
    pub no_motion_estimate: u64,
}

/// The alignment itself, independent of the runtime (see [`AlignStage`] for the actor).
#[derive(Debug)]
pub struct Aligner {
    config: AlignConfig,
    previous_pose: Option<PoseSample>,
    stats: AlignStats,
}

impl Aligner {
    /// An aligner with no motion history.
    pub fn new(config: AlignConfig) -> Self {
        Self { config, previous_pose: None, stats: AlignStats::default() }
    }

    /// The counters.
    pub fn stats(&self) -> &AlignStats {
        &self.stats
    }

    fn camera_name(&self, index: usize, frame: Option<&CameraFrame>) -> String {
        self.config
            .cameras
            .get(index)
            .cloned()
            .or_else(|| frame.map(|f| f.name.clone()))
            .unwrap_or_else(|| format!("camera[{index}]"))
    }

    /// Aligns one synchronised set; `seq` numbers the output frame.
    pub fn align(&mut self, seq: u64, set: &SyncedSet<LidarScan, CameraFrame>) -> FusedFrame {
        let mut degraded = Vec::new();
        let pose = set.pose;
        if pose.is_none() {
            degraded.push(Degradation::NoPose);
        }
        // The source's own velocity when it has one (a filter with a gyro), else the motion between
        // this pose and the previous frame's.
        let twist = match (&self.previous_pose, &pose) {
            (_, Some(PoseSample { twist: Some(twist), .. })) => Some(*twist),
            (Some(prev), Some(now)) if (now.stamp - prev.stamp).secs_f64() <= self.config.max_twist_interval_s => {
                BodyTwist::between(&prev.world_from_body, prev.stamp, &now.world_from_body, now.stamp)
            }
            _ => None,
        };
        if pose.is_some() {
            self.previous_pose = pose;
        }
        let base_link_from_lidar = set.lidar.base_link_from_lidar.unwrap_or_else(|| {
            degraded.push(Degradation::NoLidarExtrinsic);
            Isometry3::identity()
        });
        let (cloud, deskew) = if self.config.deskew {
            deskew_into_base_link(&set.lidar.cloud, &base_link_from_lidar, twist.as_ref())
        } else {
            let (cloud, _) = deskew_into_base_link(&set.lidar.cloud, &base_link_from_lidar, None);
            (cloud, DeskewStatus::Disabled)
        };
        let mut cameras = Vec::new();
        for (index, matched) in set.cameras.iter().enumerate() {
            let name = self.camera_name(index, matched.as_ref().map(|m| &m.frame));
            let Some(m) = matched else {
                degraded.push(Degradation::NoCamera(name));
                continue;
            };
            if m.frame.model.is_none() {
                degraded.push(Degradation::NoCameraModel(name.clone()));
            }
            if m.frame.base_link_from_camera.is_none() {
                degraded.push(Degradation::NoCameraExtrinsic(name.clone()));
            }
            cameras.push(AlignedCamera {
                name,
                stamp: m.stamp,
                image: Arc::clone(&m.frame.image),
                model: m.frame.model.clone(),
                base_link_from_camera: m.frame.base_link_from_camera,
            });
        }
        let s = &mut self.stats;
        s.frames += 1;
        s.degraded += u64::from(!degraded.is_empty());
        s.no_pose += u64::from(pose.is_none());
        match deskew {
            DeskewStatus::Applied { .. } => s.deskewed += 1,
            DeskewStatus::NoMotionEstimate => s.no_motion_estimate += 1,
            DeskewStatus::NoTimeOffsets | DeskewStatus::Disabled => {}
        }
        FusedFrame {
            stamp: set.stamp,
            seq,
            cloud_in_base_link: Arc::new(cloud),
            map_from_base_link: pose.map(|p| p.world_from_body),
            map_origin: set.lidar.map_origin,
            cameras,
            ground_truth: set.lidar.ground_truth.clone(),
            deskew,
            ego_twist: twist,
            degraded,
            latency: StageLatency::default(),
        }
    }
}

/// [`Aligner`] as a runtime stage: `Msg<SyncedSet>` in, `Msg<FusedFrame>` out (same stamp and
/// sequence number), with the synchroniser wait and its own processing time on the frame.
#[derive(Debug)]
pub struct AlignStage {
    aligner: Aligner,
}

impl AlignStage {
    /// A stage with no motion history.
    pub fn new(config: AlignConfig) -> Self {
        Self { aligner: Aligner::new(config) }
    }
}

impl Stage for AlignStage {
    type In = SyncedSet<LidarScan, CameraFrame>;
    type Out = FusedFrame;

    fn on_msg(&mut self, msg: Msg<Self::In>, out: &mut Outbox<'_, Self::Out>) {
        let until_align_ms = (out.now() - msg.stamp).secs_f64() * 1e3;
        let t0 = Instant::now();
        let mut frame = self.aligner.align(msg.seq, &msg.payload);
        frame.latency = StageLatency { until_align_ms, align_ms: t0.elapsed().as_secs_f64() * 1e3 };
        out.send(Msg::new(msg.stamp, msg.seq, frame));
    }

    fn on_eos(&mut self, _out: &mut Outbox<'_, Self::Out>) {
        let s = self.aligner.stats();
        tracing::info!(
            frames = s.frames,
            degraded = s.degraded,
            deskewed = s.deskewed,
            no_pose = s.no_pose,
            "align finished"
        );
    }
}
