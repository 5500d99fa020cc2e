//! The summary sink: counts what reaches the end of the pipeline and hashes its content.

use fusor_align::{BodyTwist, DeskewStatus, FusedFrame};
use fusor_core::Stamp;
use fusor_runtime::{Msg, Outbox, Stage};
use nalgebra::Isometry3;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// What the fused frames looked like.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FrameStats {
    /// Fused frames received.
    pub frames: u64,
    /// Frames with some degradation.
    pub degraded_frames: u64,
    /// Degradations by kind (e.g. `no camera_front frame`).
    pub degradations: BTreeMap<String, u64>,
    /// Frames deskewed.
    pub deskewed: u64,
    /// Frames with per-point times but no motion estimate.
    pub not_deskewed_no_motion: u64,
    /// Frames without per-point times.
    pub no_time_offsets: u64,
    /// Points received, all frames.
    pub points: u64,
    /// Frames with a camera image.
    pub with_camera: u64,
    /// Camera images over all frames (a surround rig gives each frame several).
    #[serde(default)]
    pub camera_views: u64,
    /// Camera images with intrinsics and an extrinsic (ready for projection), all frames.
    #[serde(default)]
    pub calibrated_camera_views: u64,
    /// Frames with ground truth.
    pub with_ground_truth: u64,
    /// FNV-1a chain over every frame's [`FusedFrame::content_hash`], in order, hex.
    pub content_hash: String,
    /// First and last frame stamps, ns.
    pub first_stamp_ns: Option<i64>,
    /// Last frame stamp, ns.
    pub last_stamp_ns: Option<i64>,
    /// The estimated ego pose against the recorded ground truth, when the drive has it.
    pub pose_vs_ground_truth: Option<PoseError>,
}

/// Estimated `map_from_base_link` against the ground-truth ego pose. The two `map` frames
/// differ by a translation (the replay's origin is the first fix), removed using the first
/// frame: positions are relative to it, so its GNSS error is folded into the offset.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PoseError {
    /// Frames compared.
    pub frames: u64,
    /// RMS horizontal position error, m.
    pub position_rms_m: f64,
    /// Largest horizontal position error, m.
    pub position_max_m: f64,
    /// RMS heading error, degrees.
    pub heading_rms_deg: f64,
    /// Largest |heading error|, degrees.
    pub heading_max_deg: f64,
    /// Frames whose ego twist (what deskewing uses) was compared with the true motion since the
    /// previous frame (its mean over ~0.1 s: an acceleration of 2 m/s² alone differs by 0.1 m/s).
    #[serde(default)]
    pub motion_frames: u64,
    /// RMS error of the ego's body velocity, m/s.
    #[serde(default)]
    pub velocity_rms_m_s: f64,
    /// RMS error of the ego's yaw rate, degrees/s.
    #[serde(default)]
    pub yaw_rate_rms_deg_s: f64,
}

/// Shared handle on the sink's counters.
pub type SharedFrameStats = Arc<Mutex<FrameStats>>;

/// Counts frames and chains their content hashes (order matters: a replay that reorders or
/// loses a frame hashes differently).
#[derive(Debug)]
pub struct SummarySink {
    stats: FrameStats,
    /// Ground-truth map minus replay map (xy), from the first frame with both poses.
    gt_offset: Option<nalgebra::Vector2<f64>>,
    sq_position: f64,
    sq_heading: f64,
    /// The previous frame's stamp and true pose.
    previous_truth: Option<(Stamp, Isometry3<f64>)>,
    sq_velocity: f64,
    sq_yaw_rate: f64,
    hash: u64,
    shared: SharedFrameStats,
}

impl SummarySink {
    /// A sink publishing into `shared` (reset: a restarted sink starts over).
    pub fn new(shared: SharedFrameStats) -> Self {
        Self {
            stats: FrameStats::default(),
            gt_offset: None,
            sq_position: 0.0,
            sq_heading: 0.0,
            previous_truth: None,
            sq_velocity: 0.0,
            sq_yaw_rate: 0.0,
            hash: 0xcbf2_9ce4_8422_2325,
            shared,
        }
    }
}

impl Stage for SummarySink {
    type In = FusedFrame;
    type Out = ();

    fn on_msg(&mut self, msg: Msg<FusedFrame>, _out: &mut Outbox<'_, ()>) {
        let f = &msg.payload;
        let s = &mut self.stats;
        s.frames += 1;
        s.degraded_frames += u64::from(f.is_degraded());
        for d in &f.degraded {
            *s.degradations.entry(d.to_string()).or_default() += 1;
        }
        match f.deskew {
            DeskewStatus::Applied { .. } => s.deskewed += 1,
            DeskewStatus::NoMotionEstimate => s.not_deskewed_no_motion += 1,
            DeskewStatus::NoTimeOffsets => s.no_time_offsets += 1,
            DeskewStatus::Disabled => {}
        }
        s.points += f.cloud_in_base_link.len() as u64;
        s.with_camera += u64::from(!f.cameras.is_empty());
        s.camera_views += f.cameras.len() as u64;
        s.calibrated_camera_views +=
            f.cameras.iter().filter(|c| c.model.is_some() && c.base_link_from_camera.is_some()).count() as u64;
        s.with_ground_truth += u64::from(f.ground_truth.is_some());
        s.first_stamp_ns.get_or_insert(f.stamp.nanos());
        s.last_stamp_ns = Some(f.stamp.nanos());
        if let (Some(ours), Some(truth)) =
            (f.map_from_base_link, f.ground_truth.as_ref().and_then(|g| g.map_from_base_link))
        {
            let (p, t) = (ours.translation.vector.xy(), truth.translation.vector.xy());
            let offset = *self.gt_offset.get_or_insert(t - p);
            let position_m = (p + offset - t).norm();
            let dyaw = ours.rotation.euler_angles().2 - truth.rotation.euler_angles().2;
            let heading_deg = (dyaw + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU) - std::f64::consts::PI;
            let heading_deg = heading_deg.to_degrees().abs();
            let e = s.pose_vs_ground_truth.get_or_insert_with(PoseError::default);
            e.frames += 1;
            self.sq_position += position_m * position_m;
            self.sq_heading += heading_deg * heading_deg;
            e.position_rms_m = (self.sq_position / e.frames as f64).sqrt();
            e.heading_rms_deg = (self.sq_heading / e.frames as f64).sqrt();
            e.position_max_m = e.position_max_m.max(position_m);
            e.heading_max_deg = e.heading_max_deg.max(heading_deg);
            if let (Some((stamp, previous_truth)), Some(ours)) = (self.previous_truth, f.ego_twist) {
                if let Some(truth) = BodyTwist::between(&previous_truth, stamp, &truth, f.stamp) {
                    e.motion_frames += 1;
                    self.sq_velocity += (ours.linear_m_s - truth.linear_m_s).norm_squared();
                    self.sq_yaw_rate += (ours.angular_rad_s.z - truth.angular_rad_s.z).to_degrees().powi(2);
                    e.velocity_rms_m_s = (self.sq_velocity / e.motion_frames as f64).sqrt();
                    e.yaw_rate_rms_deg_s = (self.sq_yaw_rate / e.motion_frames as f64).sqrt();
                }
            }
            self.previous_truth = Some((f.stamp, truth));
        } else {
            self.previous_truth = None;
        }
        self.hash ^= f.content_hash();
        self.hash = self.hash.wrapping_mul(0x0000_0100_0000_01b3);
    }

    fn on_eos(&mut self, _out: &mut Outbox<'_, ()>) {
        self.stats.content_hash = format!("{:016x}", self.hash);
        *self.shared.lock().unwrap_or_else(PoisonError::into_inner) = self.stats.clone();
    }
}
