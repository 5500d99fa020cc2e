//! The pipeline's synchroniser: the lidar scan is the pivot.
//!
//! For each scan at stamp `t`:
//! - per camera, the frame whose corrected stamp (`camera stamp + offset`) is nearest `t` is
//!   attached if it lies within `camera_window_ms`;
//! - the pose (GNSS/IMU) is interpolated to `t` between the samples that bracket it (linear
//!   position, slerp orientation) if they are at most `pose_max_gap_ms` apart.
//!
//! A scan waits until each modality is decided (a camera frame after `t` arrived, a pose
//! sample at or after `t` arrived). If a modality stays undecided until sensor time (the latest
//! stamp seen on any stream, or [`PivotSync::advance`]) passes `t + timeout_ms`, the set is
//! emitted without it and marked degraded, so a dead camera never stalls the pipeline.
//!
//! Bad input is dropped and counted per stream and reason: duplicates (same stamp as the
//! previous message), out-of-order messages (older than the previous), and late camera frames
//! (too old for any scan still to come). A stamp more than `backwards_reset_ms` older than its
//! stream's previous one is a replay restart: pending scans are flushed, state is reset, and a
//! warning is logged and counted.

use crate::actor::{Outbox, Stage};
use crate::msg::Msg;
use crate::{Result, RuntimeError};
use fusor_core::{BodyTwist, Duration, Stamp};
use nalgebra::{Isometry3, Translation3, UnitQuaternion};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fmt;

/// A timed pose: `point_in_world = world_from_body * point_in_body` at `stamp`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoseSample {
    /// Time of validity.
    pub stamp: Stamp,
    /// The body (e.g. `base_link`) pose in the world frame (e.g. `map`), metres.
    pub world_from_body: Isometry3<f64>,
    /// The body's velocity at `stamp`, in the body frame, when the pose's source estimates it
    /// (a filter with velocity state and a gyro); `None`: consumers difference poses.
    pub twist: Option<BodyTwist>,
}

impl PoseSample {
    /// A pose without a velocity.
    pub fn new(stamp: Stamp, world_from_body: Isometry3<f64>) -> Self {
        Self { stamp, world_from_body, twist: None }
    }

    /// The pose at `t` between `self` (earlier) and `later`: linear in position, slerp in
    /// orientation (shortest arc), linear in velocity when both have one. `t` outside the two
    /// stamps extrapolates linearly.
    pub fn interpolate(&self, later: &PoseSample, t: Stamp) -> PoseSample {
        let span_ns = (later.stamp - self.stamp).nanos();
        let alpha = if span_ns == 0 { 0.0 } else { (t - self.stamp).nanos() as f64 / span_ns as f64 };
        let p0 = self.world_from_body.translation.vector;
        let p1 = later.world_from_body.translation.vector;
        let q0 = self.world_from_body.rotation;
        let mut q1 = later.world_from_body.rotation;
        if q0.coords.dot(&q1.coords) < 0.0 {
            // Same rotation, other hemisphere: take the shortest arc.
            q1 = UnitQuaternion::new_unchecked(-q1.into_inner());
        }
        let rotation = q0.try_slerp(&q1, alpha, 1e-12).unwrap_or_else(|| {
            // Nearly identical orientations: normalised linear interpolation is exact enough.
            UnitQuaternion::new_normalize(q0.into_inner().lerp(&q1.into_inner(), alpha))
        });
        let twist = match (self.twist, later.twist) {
            (Some(a), Some(b)) => Some(BodyTwist {
                linear_m_s: a.linear_m_s.lerp(&b.linear_m_s, alpha),
                angular_rad_s: a.angular_rad_s.lerp(&b.angular_rad_s, alpha),
            }),
            _ => None,
        };
        PoseSample {
            stamp: t,
            world_from_body: Isometry3::from_parts(Translation3::from(p0.lerp(&p1, alpha)), rotation),
            twist,
        }
    }
}

/// A camera stream of the rig.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraStreamConfig {
    /// Camera name (as in the rig calibration).
    pub name: String,
    /// Added to the camera stamp to express it in lidar time, ms (e.g. exposure middle vs
    /// trigger, or a known transport delay).
    #[serde(default)]
    pub offset_ms: f64,
}

/// Parameters of [`PivotSync`] (the `sync` stage's `params` in the pipeline config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PivotSyncConfig {
    /// Camera streams, in input index order.
    #[serde(default)]
    pub cameras: Vec<CameraStreamConfig>,
    /// Largest |corrected camera stamp − lidar stamp| for a frame to be attached, ms.
    #[serde(default = "default_camera_window_ms")]
    pub camera_window_ms: f64,
    /// Largest span between the two pose samples interpolated, ms.
    #[serde(default = "default_pose_max_gap_ms")]
    pub pose_max_gap_ms: f64,
    /// A scan up to this much before the first pose sample, or after the last one when the
    /// stream ends or times out, gets a pose extrapolated linearly from the two nearest samples,
    /// ms. 0 (the default) never extrapolates.
    #[serde(default)]
    pub pose_max_extrapolation_ms: f64,
    /// How long, in sensor time, a scan waits for a missing modality, ms.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: f64,
    /// A stamp older than its stream's previous one by more than this resets the state, ms.
    #[serde(default = "default_backwards_reset_ms")]
    pub backwards_reset_ms: f64,
    /// Scans allowed to wait at once; beyond, the oldest is emitted with what is there.
    #[serde(default = "default_max_pending")]
    pub max_pending: usize,
}

fn default_camera_window_ms() -> f64 {
    50.0
}
fn default_pose_max_gap_ms() -> f64 {
    250.0
}
fn default_timeout_ms() -> f64 {
    200.0
}
fn default_backwards_reset_ms() -> f64 {
    1000.0
}
fn default_max_pending() -> usize {
    16
}

impl Default for PivotSyncConfig {
    fn default() -> Self {
        Self {
            cameras: Vec::new(),
            camera_window_ms: default_camera_window_ms(),
            pose_max_gap_ms: default_pose_max_gap_ms(),
            pose_max_extrapolation_ms: 0.0,
            timeout_ms: default_timeout_ms(),
            backwards_reset_ms: default_backwards_reset_ms(),
            max_pending: default_max_pending(),
        }
    }
}

impl PivotSyncConfig {
    /// Reads a stage's `params` table; errors name `key` (e.g. `stage[1].params`).
    pub fn from_params(params: &toml::Table, key: &str) -> Result<Self> {
        let config: Self = toml::Value::Table(params.clone())
            .try_into()
            .map_err(|e: toml::de::Error| RuntimeError::invalid(key, e.to_string()))?;
        config.validate(key)?;
        Ok(config)
    }

    fn validate(&self, key: &str) -> Result<()> {
        let non_negative = [
            ("camera_window_ms", self.camera_window_ms),
            ("pose_max_gap_ms", self.pose_max_gap_ms),
            ("pose_max_extrapolation_ms", self.pose_max_extrapolation_ms),
            ("timeout_ms", self.timeout_ms),
            ("backwards_reset_ms", self.backwards_reset_ms),
        ];
        for (name, v) in non_negative {
            if !(v.is_finite() && v >= 0.0) {
                return Err(RuntimeError::invalid(format!("{key}.{name}"), format!("must be finite and ≥ 0, got {v}")));
            }
        }
        for (i, c) in self.cameras.iter().enumerate() {
            if !c.offset_ms.is_finite() {
                return Err(RuntimeError::invalid(format!("{key}.cameras[{i}].offset_ms"), "must be finite"));
            }
        }
        if self.max_pending == 0 {
            return Err(RuntimeError::invalid(format!("{key}.max_pending"), "must be at least 1"));
        }
        Ok(())
    }
}

fn ms(v: f64) -> Duration {
    Duration::from_secs_f64(v * 1e-3)
}

/// A modality that a set can lack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Modality {
    /// Camera stream `i` (index into [`PivotSyncConfig::cameras`]).
    Camera(usize),
    /// The interpolated pose.
    Pose,
}

impl fmt::Display for Modality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Camera(i) => write!(f, "camera[{i}]"),
            Self::Pose => f.write_str("pose"),
        }
    }
}

/// The camera frame attached to a scan.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraMatch<C> {
    /// The frame's own stamp.
    pub stamp: Stamp,
    /// Corrected frame stamp − lidar stamp (signed).
    pub offset_to_pivot: Duration,
    /// The frame.
    pub frame: C,
}

/// One synchronised set around a lidar scan.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncedSet<L, C> {
    /// The lidar stamp: the set's time of validity.
    pub stamp: Stamp,
    /// The scan.
    pub lidar: L,
    /// Per camera stream, the nearest frame within the window, if any.
    pub cameras: Vec<Option<CameraMatch<C>>>,
    /// The pose interpolated to `stamp`, if bracketing samples were available.
    pub pose: Option<PoseSample>,
    /// The modalities this set lacks; empty for a complete set.
    pub missing: Vec<Modality>,
}

impl<L, C> SyncedSet<L, C> {
    /// Whether some modality is missing.
    pub fn is_degraded(&self) -> bool {
        !self.missing.is_empty()
    }
}

/// Counters of one input stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StreamStats {
    /// Messages offered.
    pub received: u64,
    /// Dropped: same stamp as the previous message.
    pub dropped_duplicate: u64,
    /// Dropped: older than the previous message (by less than the reset threshold).
    pub dropped_out_of_order: u64,
    /// Dropped: too old for any scan still to come.
    pub dropped_late: u64,
}

/// Counters of a [`PivotSync`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PivotSyncStats {
    /// The lidar (pivot) stream.
    pub lidar: StreamStats,
    /// Each camera stream.
    pub cameras: Vec<StreamStats>,
    /// The pose stream.
    pub pose: StreamStats,
    /// Sets emitted.
    pub sets: u64,
    /// Sets emitted with some modality missing.
    pub degraded: u64,
    /// Per camera, sets emitted without it.
    pub missing_camera: Vec<u64>,
    /// Sets emitted without a pose.
    pub missing_pose: u64,
    /// Resets because time went backwards.
    pub resets: u64,
    /// Scans emitted early because too many were waiting.
    pub forced_by_backlog: u64,
}

#[derive(Debug, Clone, Copy)]
enum StreamId {
    Lidar,
    Camera(usize),
    Pose,
}

#[derive(Debug)]
struct Frame<C> {
    corrected: Stamp,
    stamp: Stamp,
    frame: C,
}

enum Decision<T> {
    Wait,
    Ready(Option<T>),
}

/// The lidar-pivot synchroniser; see the module docs.
#[derive(Debug)]
pub struct PivotSync<L, C> {
    window: Duration,
    pose_max_gap: Duration,
    pose_max_extrapolation: Duration,
    timeout: Duration,
    backwards_reset: Duration,
    max_pending: usize,
    offsets: Vec<Duration>,
    pending: VecDeque<(Stamp, L)>,
    frames: Vec<VecDeque<Frame<C>>>,
    poses: VecDeque<PoseSample>,
    last_lidar: Option<Stamp>,
    last_camera: Vec<Option<Stamp>>,
    last_pose: Option<Stamp>,
    last_emitted: Option<Stamp>,
    /// Sensor time: the latest stamp seen on any stream or given to `advance`.
    watermark: Option<Stamp>,
    ready: VecDeque<SyncedSet<L, C>>,
    stats: PivotSyncStats,
}

impl<L, C: Clone> PivotSync<L, C> {
    /// A synchroniser for the configured camera streams.
    pub fn new(config: &PivotSyncConfig) -> Result<Self> {
        config.validate("sync")?;
        let n = config.cameras.len();
        Ok(Self {
            window: ms(config.camera_window_ms),
            pose_max_gap: ms(config.pose_max_gap_ms),
            pose_max_extrapolation: ms(config.pose_max_extrapolation_ms),
            timeout: ms(config.timeout_ms),
            backwards_reset: ms(config.backwards_reset_ms),
            max_pending: config.max_pending,
            offsets: config.cameras.iter().map(|c| ms(c.offset_ms)).collect(),
            pending: VecDeque::new(),
            frames: (0..n).map(|_| VecDeque::new()).collect(),
            poses: VecDeque::new(),
            last_lidar: None,
            last_camera: vec![None; n],
            last_pose: None,
            last_emitted: None,
            watermark: None,
            ready: VecDeque::new(),
            stats: PivotSyncStats {
                cameras: vec![StreamStats::default(); n],
                missing_camera: vec![0; n],
                ..PivotSyncStats::default()
            },
        })
    }

    /// Offers a lidar scan (the pivot).
    pub fn push_lidar(&mut self, stamp: Stamp, scan: L) {
        if self.admit(StreamId::Lidar, stamp) {
            self.pending.push_back((stamp, scan));
            self.after_input(stamp);
        }
    }

    /// Offers a frame of camera stream `camera`.
    pub fn push_camera(&mut self, camera: usize, stamp: Stamp, frame: C) -> Result<()> {
        let Some(&offset) = self.offsets.get(camera) else {
            return Err(RuntimeError::TopicOutOfRange { topic: camera, topics: self.offsets.len() });
        };
        if self.admit(StreamId::Camera(camera), stamp) {
            let corrected = stamp + offset;
            if self.last_emitted.is_some_and(|last| corrected + self.window < last) {
                self.stats.cameras[camera].dropped_late += 1;
                tracing::debug!(camera, %stamp, "sync: late camera frame dropped");
            } else {
                self.frames[camera].push_back(Frame { corrected, stamp, frame });
            }
            self.after_input(stamp);
        }
        Ok(())
    }

    /// Offers a pose sample.
    pub fn push_pose(&mut self, sample: PoseSample) {
        if self.admit(StreamId::Pose, sample.stamp) {
            self.poses.push_back(sample);
            self.after_input(sample.stamp);
        }
    }

    /// Advances sensor time without data (e.g. from the wall clock in live mode), so that
    /// timeouts fire even when every stream is silent.
    pub fn advance(&mut self, now: Stamp) {
        if self.watermark.is_none_or(|w| now > w) {
            self.watermark = Some(now);
        }
        self.emit_ready();
    }

    /// End of stream: emits every waiting scan with what is available.
    pub fn flush(&mut self) {
        while let Some((t, scan)) = self.pending.pop_front() {
            self.emit(t, scan);
        }
    }

    /// The next synchronised set, in lidar stamp order.
    pub fn pop(&mut self) -> Option<SyncedSet<L, C>> {
        self.ready.pop_front()
    }

    /// Counters so far.
    pub fn stats(&self) -> &PivotSyncStats {
        &self.stats
    }

    fn stream_state(&mut self, id: StreamId) -> (&mut Option<Stamp>, &mut StreamStats) {
        match id {
            StreamId::Lidar => (&mut self.last_lidar, &mut self.stats.lidar),
            StreamId::Camera(i) => (&mut self.last_camera[i], &mut self.stats.cameras[i]),
            StreamId::Pose => (&mut self.last_pose, &mut self.stats.pose),
        }
    }

    /// Per-stream order checks; resets on a large backwards jump. True if the message is kept.
    fn admit(&mut self, id: StreamId, stamp: Stamp) -> bool {
        let backwards_reset = self.backwards_reset;
        let (last, stats) = self.stream_state(id);
        stats.received += 1;
        match *last {
            Some(prev) if stamp < prev - backwards_reset => {
                tracing::warn!(stream = ?id, %stamp, previous = %prev, "sync: time went backwards, resetting");
                self.reset();
                let (last, _) = self.stream_state(id);
                *last = Some(stamp);
                true
            }
            Some(prev) if stamp == prev => {
                stats.dropped_duplicate += 1;
                false
            }
            Some(prev) if stamp < prev => {
                stats.dropped_out_of_order += 1;
                false
            }
            _ => {
                *last = Some(stamp);
                true
            }
        }
    }

    fn reset(&mut self) {
        self.flush();
        self.stats.resets += 1;
        self.frames.iter_mut().for_each(VecDeque::clear);
        self.poses.clear();
        self.last_lidar = None;
        self.last_camera.iter_mut().for_each(|l| *l = None);
        self.last_pose = None;
        self.last_emitted = None;
        self.watermark = None;
    }

    fn after_input(&mut self, stamp: Stamp) {
        if self.watermark.is_none_or(|w| stamp > w) {
            self.watermark = Some(stamp);
        }
        self.emit_ready();
    }

    fn emit_ready(&mut self) {
        while let Some(&(t, _)) = self.pending.front() {
            let backlog = self.pending.len() > self.max_pending;
            let timed_out = self.watermark.is_some_and(|w| w >= t + self.timeout);
            if !(backlog || timed_out || self.decided(t)) {
                break;
            }
            if backlog && !timed_out && !self.decided(t) {
                self.stats.forced_by_backlog += 1;
            }
            let Some((t, scan)) = self.pending.pop_front() else { break };
            self.emit(t, scan);
        }
    }

    fn decided(&self, t: Stamp) -> bool {
        (0..self.frames.len()).all(|i| !matches!(self.camera_at(i, t, false), Decision::Wait))
            && !matches!(self.pose_at(t, false), Decision::Wait)
    }

    /// The nearest frame of camera `i` to `t` within the window, once known (a frame at or
    /// after `t` exists) or when `force`d.
    fn camera_at(&self, i: usize, t: Stamp, force: bool) -> Decision<usize> {
        let frames = &self.frames[i];
        let after = frames.partition_point(|f| f.corrected < t);
        if after == frames.len() && !force {
            return Decision::Wait;
        }
        let dist = |k: usize| frames.get(k).map(|f| (f.corrected - t).abs());
        let before = after.checked_sub(1);
        let best = match (before.and_then(|b| dist(b).map(|d| (b, d))), dist(after).map(|d| (after, d))) {
            (Some((b, db)), Some((a, da))) => Some(if da < db { (a, da) } else { (b, db) }),
            (one, None) | (None, one) => one,
        };
        Decision::Ready(best.filter(|&(_, d)| d <= self.window).map(|(k, _)| k))
    }

    /// The pose interpolated at `t`, once bracketing samples exist or when `force`d; within
    /// `pose_max_extrapolation` of the first or last sample, extrapolated from the two nearest.
    fn pose_at(&self, t: Stamp, force: bool) -> Decision<PoseSample> {
        let after = self.poses.partition_point(|p| p.stamp < t);
        let extrapolating = self.pose_max_extrapolation > Duration(0);
        let Some(upper) = self.poses.get(after) else {
            if !force {
                return Decision::Wait;
            }
            // Past the last sample (stream ended or timed out): extrapolate forwards.
            let pair = after.checked_sub(2).and_then(|a| Some((self.poses.get(a)?, self.poses.get(a + 1)?)));
            return Decision::Ready(
                pair.filter(|(a, b)| {
                    extrapolating
                        && t - b.stamp <= self.pose_max_extrapolation
                        && b.stamp - a.stamp <= self.pose_max_gap
                })
                .map(|(a, b)| a.interpolate(b, t)),
            );
        };
        if upper.stamp == t {
            return Decision::Ready(Some(*upper));
        }
        match after.checked_sub(1).and_then(|b| self.poses.get(b)) {
            Some(lower) => {
                Decision::Ready((upper.stamp - lower.stamp <= self.pose_max_gap).then(|| lower.interpolate(upper, t)))
            }
            // Before the first sample: extrapolate backwards once the second one is known.
            None if extrapolating && upper.stamp - t <= self.pose_max_extrapolation => {
                match self.poses.get(after + 1) {
                    Some(next) => Decision::Ready(
                        (next.stamp - upper.stamp <= self.pose_max_gap).then(|| upper.interpolate(next, t)),
                    ),
                    None if force => Decision::Ready(None),
                    None => Decision::Wait,
                }
            }
            None => Decision::Ready(None),
        }
    }

    /// Emits the scan at `t` with whatever is decided now (callers checked it is time to).
    fn emit(&mut self, t: Stamp, scan: L) {
        let force = true;
        let mut missing = Vec::new();
        let mut cameras = Vec::with_capacity(self.frames.len());
        for i in 0..self.frames.len() {
            let matched = match self.camera_at(i, t, force) {
                Decision::Ready(Some(k)) => self.frames[i].get(k).map(|f| CameraMatch {
                    stamp: f.stamp,
                    offset_to_pivot: f.corrected - t,
                    frame: f.frame.clone(),
                }),
                Decision::Ready(None) | Decision::Wait => None,
            };
            if matched.is_none() {
                missing.push(Modality::Camera(i));
                self.stats.missing_camera[i] += 1;
            }
            cameras.push(matched);
        }
        let pose = match self.pose_at(t, force) {
            Decision::Ready(p) => p,
            Decision::Wait => None,
        };
        if pose.is_none() {
            missing.push(Modality::Pose);
            self.stats.missing_pose += 1;
        }
        self.stats.sets += 1;
        if !missing.is_empty() {
            self.stats.degraded += 1;
        }
        self.last_emitted = Some(t);
        self.trim(t);
        self.ready.push_back(SyncedSet { stamp: t, lidar: scan, cameras, pose, missing });
    }

    /// Forgets data no later scan (stamp > `t`) can use.
    fn trim(&mut self, t: Stamp) {
        let horizon = t - self.window;
        for frames in &mut self.frames {
            while frames.front().is_some_and(|f| f.corrected < horizon) {
                frames.pop_front();
            }
        }
        // Keep the latest sample at or before t: the lower bracket of the next scan (the two
        // latest when extrapolating past the end).
        let keep = if self.pose_max_extrapolation > Duration(0) { 2 } else { 1 };
        while self.poses.get(keep).is_some_and(|p| p.stamp <= t) {
            self.poses.pop_front();
        }
    }
}

/// What the `sync` stage receives: one enum over the input streams, stamped by [`Msg`].
#[derive(Debug, Clone, PartialEq)]
pub enum SyncInput<L, C> {
    /// A lidar scan.
    Lidar(L),
    /// A frame of camera stream `.0`.
    Camera(usize, C),
    /// A pose sample (its own stamp is used).
    Pose(PoseSample),
}

/// [`PivotSync`] as a graph stage: `Msg<SyncInput>` in, `Msg<SyncedSet>` out (stamp = lidar
/// stamp, seq = running count of sets).
#[derive(Debug)]
pub struct PivotSyncStage<L, C> {
    sync: PivotSync<L, C>,
    seq: u64,
    shared: Option<SharedPivotSyncStats>,
}

/// Where a [`PivotSyncStage`] publishes its counters (at end of stream), for run summaries.
pub type SharedPivotSyncStats = std::sync::Arc<std::sync::Mutex<PivotSyncStats>>;

impl<L, C: Clone> PivotSyncStage<L, C> {
    /// A stage around a fresh synchroniser.
    pub fn new(config: &PivotSyncConfig) -> Result<Self> {
        Ok(Self { sync: PivotSync::new(config)?, seq: 0, shared: None })
    }

    /// Publishes the synchroniser's counters into `shared` every 16 lidar scans and at end of
    /// stream. After a supervisor restart they are the fresh synchroniser's (the runtime counts
    /// the restart itself).
    pub fn with_shared_stats(mut self, shared: SharedPivotSyncStats) -> Self {
        self.shared = Some(shared);
        self
    }

    /// The synchroniser's counters so far.
    pub fn stats(&self) -> &PivotSyncStats {
        self.sync.stats()
    }

    fn drain(&mut self, out: &mut Outbox<'_, SyncedSet<L, C>>)
    where
        L: Clone + Send + 'static,
        C: Send + 'static,
    {
        while let Some(set) = self.sync.pop() {
            out.send(Msg::new(set.stamp, self.seq, set));
            self.seq += 1;
        }
    }
}

impl<L, C> Stage for PivotSyncStage<L, C>
where
    L: Clone + Send + 'static,
    C: Clone + Send + 'static,
{
    type In = SyncInput<L, C>;
    type Out = SyncedSet<L, C>;

    fn on_msg(&mut self, msg: Msg<Self::In>, out: &mut Outbox<'_, Self::Out>) {
        match msg.payload {
            SyncInput::Lidar(scan) => self.sync.push_lidar(msg.stamp, scan),
            SyncInput::Camera(i, frame) => {
                if let Err(e) = self.sync.push_camera(i, msg.stamp, frame) {
                    tracing::warn!("sync: {e}; frame dropped");
                }
            }
            SyncInput::Pose(sample) => self.sync.push_pose(sample),
        }
        self.drain(out);
        // Live runs read the counters while the graph runs (e.g. the node's /diagnostics).
        if let Some(shared) = &self.shared {
            if self.sync.stats().lidar.received % 16 == 1 {
                shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone_from(self.sync.stats());
            }
        }
    }

    fn on_eos(&mut self, out: &mut Outbox<'_, Self::Out>) {
        self.sync.flush();
        self.drain(out);
        let s = self.sync.stats();
        tracing::info!(sets = s.sets, degraded = s.degraded, resets = s.resets, "sync finished");
        if let Some(shared) = &self.shared {
            shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone_from(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use nalgebra::Vector3;

    fn at_ms(ms: i64) -> Stamp {
        Stamp(ms * 1_000_000)
    }

    fn pose(ms: i64, x_m: f64, yaw_rad: f64) -> PoseSample {
        PoseSample::new(at_ms(ms), Isometry3::new(Vector3::new(x_m, 0.0, 0.0), Vector3::new(0.0, 0.0, yaw_rad)))
    }

    /// One camera, window 50 ms, timeout 200 ms, reset past 1 s backwards.
    fn one_camera(offset_ms: f64) -> PivotSync<&'static str, u32> {
        let config = PivotSyncConfig {
            cameras: vec![CameraStreamConfig { name: "camera_front".into(), offset_ms }],
            ..PivotSyncConfig::default()
        };
        PivotSync::new(&config).unwrap()
    }

    #[test]
    fn attaches_nearest_camera_frame_and_emits_once_decided() {
        let mut sync = one_camera(0.0);
        sync.push_pose(pose(0, 0.0, 0.0));
        sync.push_camera(0, at_ms(90), 1).unwrap();
        sync.push_lidar(at_ms(100), "scan");
        sync.push_pose(pose(200, 2.0, 0.0));
        assert!(sync.pop().is_none(), "a camera frame nearer than 90 ms may still come");
        sync.push_camera(0, at_ms(105), 2).unwrap();
        let set = sync.pop().unwrap();
        assert!(!set.is_degraded(), "{:?}", set.missing);
        let camera = set.cameras[0].as_ref().unwrap();
        assert_eq!((camera.frame, camera.offset_to_pivot), (2, Duration::from_millis(5)));
    }

    #[test]
    fn emits_degraded_set_when_camera_silent_past_timeout() {
        let mut sync = one_camera(0.0);
        for ms in (0..=400).step_by(100) {
            sync.push_pose(pose(ms, 0.0, 0.0));
            sync.push_lidar(at_ms(ms), "scan");
        }
        // Scans at 0..=200 are 200 ms behind the latest stamp (400): emitted without camera.
        let stamps: Vec<Stamp> = std::iter::from_fn(|| sync.pop())
            .inspect(|s| {
                assert_eq!(s.missing, [Modality::Camera(0)]);
                assert!(s.pose.is_some());
            })
            .map(|s| s.stamp)
            .collect();
        assert_eq!(stamps, [at_ms(0), at_ms(100), at_ms(200)]);
        assert_eq!(sync.stats().missing_camera, [3]);
        assert_eq!(sync.stats().degraded, 3);
    }

    #[test]
    fn camera_outside_window_is_missing_without_waiting_for_timeout() {
        let mut sync = one_camera(0.0);
        sync.push_pose(pose(0, 0.0, 0.0));
        sync.push_pose(pose(200, 0.0, 0.0));
        sync.push_camera(0, at_ms(0), 1).unwrap();
        sync.push_lidar(at_ms(100), "scan");
        sync.push_camera(0, at_ms(180), 2).unwrap();
        let set = sync.pop().unwrap();
        assert_eq!(set.missing, [Modality::Camera(0)]);
    }

    #[test]
    fn drops_late_camera_frame_and_counts_it() {
        let mut sync = one_camera(0.0);
        for ms in [100, 200, 300] {
            sync.push_pose(pose(ms, 0.0, 0.0));
            sync.push_lidar(at_ms(ms), "scan");
        }
        assert_eq!(sync.pop().map(|s| s.stamp), Some(at_ms(100)));
        // A frame from 20 ms can match no scan after 100 ms (window 50 ms): late.
        sync.push_camera(0, at_ms(20), 7).unwrap();
        assert_eq!(sync.stats().cameras[0].dropped_late, 1);
    }

    #[test]
    fn drops_duplicate_and_out_of_order_messages_per_stream() {
        let mut sync = one_camera(0.0);
        sync.push_lidar(at_ms(100), "a");
        sync.push_lidar(at_ms(100), "duplicate");
        sync.push_lidar(at_ms(60), "out of order");
        sync.push_camera(0, at_ms(100), 1).unwrap();
        sync.push_camera(0, at_ms(90), 2).unwrap();
        let stats = sync.stats();
        assert_eq!((stats.lidar.dropped_duplicate, stats.lidar.dropped_out_of_order), (1, 1));
        assert_eq!(stats.cameras[0].dropped_out_of_order, 1);
        assert_eq!(stats.resets, 0);
    }

    #[test]
    fn resets_on_time_going_backwards() {
        let mut sync = one_camera(0.0);
        sync.push_pose(pose(5_000, 0.0, 0.0));
        sync.push_lidar(at_ms(5_100), "before restart");
        // The recording restarts at 0: more than 1 s back.
        sync.push_lidar(at_ms(0), "after restart");
        assert_eq!(sync.stats().resets, 1);
        // The pending scan was flushed with what there was, not lost.
        let flushed = sync.pop().unwrap();
        assert_eq!((flushed.lidar, flushed.is_degraded()), ("before restart", true));
        // The new timeline works from scratch: old poses do not bracket new scans.
        sync.push_pose(pose(0, 0.0, 0.0));
        sync.push_camera(0, at_ms(0), 3).unwrap();
        let set = sync.pop().unwrap();
        assert_eq!(set.lidar, "after restart");
        assert!(!set.is_degraded(), "{:?}", set.missing);
    }

    #[test]
    fn interpolates_pose_at_lidar_stamp() {
        let config = PivotSyncConfig::default();
        let mut sync: PivotSync<(), ()> = PivotSync::new(&config).unwrap();
        sync.push_pose(pose(0, 0.0, 0.0));
        sync.push_lidar(at_ms(25), ());
        sync.push_pose(pose(100, 10.0, std::f64::consts::FRAC_PI_2));
        let pose = sync.pop().unwrap().pose.unwrap();
        assert_eq!(pose.stamp, at_ms(25));
        assert_relative_eq!(pose.world_from_body.translation.vector, Vector3::new(2.5, 0.0, 0.0), epsilon = 1e-12);
        assert_relative_eq!(pose.world_from_body.rotation.angle(), std::f64::consts::FRAC_PI_8, epsilon = 1e-12);
    }

    #[test]
    fn interpolates_twists_only_when_both_poses_have_one() {
        let twist = |vx: f64, wz: f64| BodyTwist {
            linear_m_s: Vector3::new(vx, 0.0, 0.0),
            angular_rad_s: Vector3::new(0.0, 0.0, wz),
        };
        let a = PoseSample { twist: Some(twist(10.0, 0.0)), ..pose(0, 0.0, 0.0) };
        let b = PoseSample { twist: Some(twist(12.0, 0.2)), ..pose(100, 1.1, 0.0) };
        let mid = a.interpolate(&b, at_ms(25)).twist.unwrap();
        assert_relative_eq!(mid.linear_m_s.x, 10.5, epsilon = 1e-12);
        assert_relative_eq!(mid.angular_rad_s.z, 0.05, epsilon = 1e-12);
        assert_eq!(a.interpolate(&pose(100, 1.1, 0.0), at_ms(25)).twist, None);
    }

    #[test]
    fn pose_gap_wider_than_allowed_is_missing() {
        let mut sync: PivotSync<(), ()> = PivotSync::new(&PivotSyncConfig::default()).unwrap();
        sync.push_pose(pose(0, 0.0, 0.0));
        sync.push_lidar(at_ms(500), ());
        sync.push_pose(pose(1_000, 1.0, 0.0));
        assert_eq!(sync.pop().unwrap().missing, [Modality::Pose]);
    }

    #[test]
    fn applies_per_camera_offset_before_matching() {
        // The camera stamps 30 ms early: +30 ms puts frame 70 at lidar time 100.
        let mut sync = one_camera(30.0);
        sync.push_pose(pose(100, 0.0, 0.0));
        sync.push_lidar(at_ms(100), "scan");
        sync.push_camera(0, at_ms(60), 1).unwrap();
        sync.push_camera(0, at_ms(70), 2).unwrap();
        let camera = sync.pop().unwrap().cameras.remove(0).unwrap();
        assert_eq!((camera.frame, camera.stamp, camera.offset_to_pivot), (2, at_ms(70), Duration(0)));
    }

    #[test]
    fn advance_times_out_a_scan_when_every_stream_is_silent() {
        let mut sync = one_camera(0.0);
        sync.push_lidar(at_ms(100), "scan");
        sync.advance(at_ms(250));
        assert!(sync.pop().is_none());
        sync.advance(at_ms(300));
        assert_eq!(sync.pop().unwrap().missing, [Modality::Camera(0), Modality::Pose]);
    }

    #[test]
    fn flush_emits_every_pending_scan_in_order() {
        let mut sync = one_camera(0.0);
        sync.push_lidar(at_ms(100), "a");
        sync.push_lidar(at_ms(200), "b");
        sync.flush();
        let scans: Vec<_> = std::iter::from_fn(|| sync.pop()).map(|s| s.lidar).collect();
        assert_eq!(scans, ["a", "b"]);
    }

    #[test]
    fn params_table_errors_name_the_key() {
        let params: toml::Table = toml::from_str("timeout_ms = -1.0").unwrap();
        let err = PivotSyncConfig::from_params(&params, "stage[1].params").unwrap_err();
        assert!(err.to_string().starts_with("stage[1].params.timeout_ms"), "{err}");
        let params: toml::Table = toml::from_str("window = 3").unwrap();
        assert!(PivotSyncConfig::from_params(&params, "stage[1].params").is_err());
    }

    fn extrapolating(ms: f64) -> PivotSync<&'static str, u32> {
        PivotSync::new(&PivotSyncConfig { pose_max_extrapolation_ms: ms, ..PivotSyncConfig::default() }).unwrap()
    }

    #[test]
    fn a_scan_just_before_the_first_pose_gets_an_extrapolated_pose_when_allowed() {
        let mut sync = extrapolating(50.0);
        sync.push_lidar(at_ms(80), "scan");
        sync.push_pose(pose(100, 1.0, 0.0));
        assert!(sync.pop().is_none(), "waits for the second sample");
        sync.push_pose(pose(200, 2.0, 0.0));
        let set = sync.pop().unwrap();
        assert_relative_eq!(set.pose.unwrap().world_from_body.translation.x, 0.8, epsilon = 1e-9);
        assert!(!set.is_degraded());

        let mut strict = extrapolating(0.0);
        strict.push_lidar(at_ms(80), "scan");
        strict.push_pose(pose(100, 1.0, 0.0));
        assert_eq!(strict.pop().unwrap().missing, vec![Modality::Pose]);
    }

    #[test]
    fn a_scan_after_the_last_pose_is_extrapolated_at_the_end_of_the_stream_within_the_limit() {
        let mut sync = extrapolating(50.0);
        sync.push_pose(pose(0, 0.0, 0.0));
        sync.push_pose(pose(100, 1.0, 0.0));
        sync.push_lidar(at_ms(120), "near");
        sync.push_lidar(at_ms(300), "far");
        sync.flush();
        let near = sync.pop().unwrap();
        assert_relative_eq!(near.pose.unwrap().world_from_body.translation.x, 1.2, epsilon = 1e-9);
        assert_eq!(sync.pop().unwrap().missing, vec![Modality::Pose], "300 ms is past the 50 ms limit");
    }
}
