//! The summary sink: counts what reaches the end of the pipeline and hashes its content.

use fusor_align::{DeskewStatus, FusedFrame};
use fusor_runtime::{Msg, Outbox, Stage};
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
    /// Frames with ground truth.
    pub with_ground_truth: u64,
    /// FNV-1a chain over every frame's [`FusedFrame::content_hash`], in order, hex.
    pub content_hash: String,
    /// First and last frame stamps, ns.
    pub first_stamp_ns: Option<i64>,
    /// Last frame stamp, ns.
    pub last_stamp_ns: Option<i64>,
}

/// Shared handle on the sink's counters.
pub type SharedFrameStats = Arc<Mutex<FrameStats>>;

/// Counts frames and chains their content hashes (order matters: a replay that reorders or
/// loses a frame hashes differently).
#[derive(Debug)]
pub struct SummarySink {
    stats: FrameStats,
    hash: u64,
    shared: SharedFrameStats,
}

impl SummarySink {
    /// A sink publishing into `shared` (reset: a restarted sink starts over).
    pub fn new(shared: SharedFrameStats) -> Self {
        Self { stats: FrameStats::default(), hash: 0xcbf2_9ce4_8422_2325, shared }
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
        s.with_ground_truth += u64::from(f.ground_truth.is_some());
        s.first_stamp_ns.get_or_insert(f.stamp.nanos());
        s.last_stamp_ns = Some(f.stamp.nanos());
        self.hash ^= f.content_hash();
        self.hash = self.hash.wrapping_mul(0x0000_0100_0000_01b3);
    }

    fn on_eos(&mut self, _out: &mut Outbox<'_, ()>) {
        self.stats.content_hash = format!("{:016x}", self.hash);
        *self.shared.lock().unwrap_or_else(PoisonError::into_inner) = self.stats.clone();
    }
}
