//! The `perceive` and `track` stages of the replay graph, and the sinks that take their output.
//!
//! The algorithms live in `fusor-perception` and `fusor-tracking` (no runtime dependency); this
//! file only adapts them to the actor graph:
//!
//! | kind | stage | ports |
//! |---|---|---|
//! | `perceive` | [`PerceiveStage`] (geometric detector, camera association) | `FusedFrame` → `PerceivedFrame` |
//! | `track` | [`TrackStage`] (detections → `map` → tracker) | `PerceivedFrame` → `PerceivedFrame` |
//!
//! A `summary_sink` or `rerun_sink` fed by one of them becomes a [`PerceptionSummarySink`] or
//! [`PerceptionRerunSink`].

use super::plan::{decision_key, PlanOutput};
use super::sink::{SharedFrameStats, SummarySink};
use fusor_align::{FusedFrame, GroundTruth};
use fusor_core::{Box3, Detection, FrameId, ObjectClass, Track};
use fusor_perception::{CameraInput, Perception, PerceptionParams, Stats};
use fusor_runtime::{Msg, Outbox, Stage};
use fusor_tracking::{Tracker, TrackerConfig};
use nalgebra::{Isometry3, UnitQuaternion};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

/// A fused frame with what perception (and, after a `track` stage, tracking) made of it.
#[derive(Debug, Clone)]
pub struct PerceivedFrame {
    /// The aligned input frame.
    pub fused: FusedFrame,
    /// Detections in `base_link` at `fused.stamp`.
    pub detections: Arc<Vec<Detection>>,
    /// What the detector dropped or produced; `None` when it failed on this frame.
    pub stats: Option<Stats>,
    /// Why the detector failed on this frame (no detections then).
    pub error: Option<String>,
    /// Confirmed tracks in `map` at `fused.stamp`; `None` before a `track` stage, or when the
    /// frame had no ego pose.
    pub tracks: Option<Arc<Vec<Track>>>,
    /// Route and local path; `None` before a `plan` stage.
    pub plan: Option<Arc<PlanOutput>>,
}

/// `params` of a `track` stage: [`TrackerConfig`] without its frame (always `map`).
/// Distances in metres, times in seconds; a key left out keeps the tracker's default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackParams {
    /// Gate on the squared Mahalanobis distance of a detection's centre (3 dof).
    pub gate_chi2: f64,
    /// Hits after which a track is confirmed.
    pub confirm_hits: u32,
    /// Consecutive misses a confirmed track survives.
    pub max_misses: u32,
    /// White-acceleration standard deviation, horizontal, m/s².
    pub accel_std_xy: f64,
    /// White-acceleration standard deviation, vertical, m/s².
    pub accel_std_z: f64,
    /// Standard deviation of a detected centre, horizontal, m.
    pub meas_std_xy: f64,
    /// Standard deviation of a detected centre, vertical, m.
    pub meas_std_z: f64,
    /// Standard deviation of a new track's velocity, m/s.
    pub init_velocity_std: f64,
    /// Weight of a new detection in the smoothing of size and heading, (0, 1].
    pub smoothing: f64,
    /// Speed above which the heading is the direction of motion, m/s.
    pub heading_from_motion_speed: f64,
    /// A longer gap between frames resets the tracker, s.
    pub max_gap_s: f64,
    /// Classes tracked (default car, pedestrian, cyclist); other detections are not tracked.
    pub classes: Vec<ObjectClass>,
}

impl Default for TrackParams {
    fn default() -> Self {
        let c = TrackerConfig::default();
        Self {
            gate_chi2: c.gate_chi2,
            confirm_hits: c.confirm_hits,
            max_misses: c.max_misses,
            accel_std_xy: c.accel_std_xy,
            accel_std_z: c.accel_std_z,
            meas_std_xy: c.meas_std_xy,
            meas_std_z: c.meas_std_z,
            init_velocity_std: c.init_velocity_std,
            smoothing: c.smoothing,
            heading_from_motion_speed: c.heading_from_motion_speed,
            max_gap_s: c.max_gap_s,
            classes: ObjectClass::SCORED.to_vec(),
        }
    }
}

impl TrackParams {
    /// The tracker configuration in `map`, validated.
    pub fn config(&self) -> anyhow::Result<TrackerConfig> {
        let c = TrackerConfig {
            frame_id: FrameId::new("map"),
            gate_chi2: self.gate_chi2,
            confirm_hits: self.confirm_hits,
            max_misses: self.max_misses,
            accel_std_xy: self.accel_std_xy,
            accel_std_z: self.accel_std_z,
            meas_std_xy: self.meas_std_xy,
            meas_std_z: self.meas_std_z,
            init_velocity_std: self.init_velocity_std,
            smoothing: self.smoothing,
            heading_from_motion_speed: self.heading_from_motion_speed,
            max_gap_s: self.max_gap_s,
        };
        c.validate()?;
        Ok(c)
    }
}

/// `box_in_target = target_from_source * box_in_source`: the centre is moved rigidly, the
/// heading turned by the rotation's yaw (boxes stay z-up; roll and pitch of the ego are small).
pub fn transform_box(target_from_source: &Isometry3<f64>, b: &Box3, target: &str) -> Box3 {
    let yaw_rad = b.yaw_rad + target_from_source.rotation.euler_angles().2;
    Box3 {
        frame_id: FrameId::new(target),
        center: target_from_source * b.center,
        size: b.size,
        yaw_rad: (yaw_rad + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU) - std::f64::consts::PI,
    }
}

/// The geometric detector on each fused frame's `base_link` cloud, with the first camera that
/// has a model and an extrinsic attached for colour association.
#[derive(Debug)]
pub struct PerceiveStage {
    perception: Perception,
}

impl PerceiveStage {
    /// A stage with validated parameters (`ground.origin_ground_z_m` must be 0 for `base_link`).
    pub fn new(params: PerceptionParams) -> anyhow::Result<Self> {
        Ok(Self { perception: Perception::new(params)? })
    }
}

impl Stage for PerceiveStage {
    type In = FusedFrame;
    type Out = PerceivedFrame;

    fn on_msg(&mut self, msg: Msg<FusedFrame>, out: &mut Outbox<'_, PerceivedFrame>) {
        let fused = &msg.payload;
        let cameras: Vec<CameraInput<'_>> = fused
            .cameras
            .iter()
            .filter_map(|c| {
                Some(CameraInput {
                    image: Some(&*c.image),
                    model: c.model.as_deref()?,
                    camera_from_cloud: c.base_link_from_camera?.inverse(),
                })
            })
            .collect();
        let result = self.perception.process(&fused.cloud_in_base_link, cameras.first());
        drop(cameras);
        let (detections, stats, error) = match result {
            Ok(o) => (o.detections, Some(o.stats), None),
            Err(e) => (Vec::new(), None, Some(e.to_string())),
        };
        out.send(msg.map(|fused| PerceivedFrame {
            fused,
            detections: Arc::new(detections),
            stats,
            error,
            tracks: None,
            plan: None,
        }));
    }
}

/// Detections moved to `map` with the frame's ego pose, then tracked. A frame without a pose
/// passes through untracked (its `tracks` stay `None`; counted by the summary).
#[derive(Debug)]
pub struct TrackStage {
    tracker: Tracker,
    classes: Vec<ObjectClass>,
}

impl TrackStage {
    /// A stage with a validated tracker configuration in `map`, tracking `classes`.
    pub fn new(config: TrackerConfig, classes: Vec<ObjectClass>) -> anyhow::Result<Self> {
        Ok(Self { tracker: Tracker::new(config)?, classes })
    }
}

impl Stage for TrackStage {
    type In = PerceivedFrame;
    type Out = PerceivedFrame;

    fn on_msg(&mut self, mut msg: Msg<PerceivedFrame>, out: &mut Outbox<'_, PerceivedFrame>) {
        let p = &mut msg.payload;
        if let Some(map_from_base_link) = p.fused.map_from_base_link {
            let in_map: Vec<Detection> = p
                .detections
                .iter()
                .filter(|d| self.classes.contains(&d.class))
                .map(|d| Detection { bbox: transform_box(&map_from_base_link, &d.bbox, "map"), ..d.clone() })
                .collect();
            p.tracks = Some(Arc::new(self.tracker.update(p.fused.stamp, &in_map)));
        }
        out.send(msg);
    }
}

/// What perception and tracking produced over a replay.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PerceptionStats {
    /// Frames that went through `perceive`.
    pub frames: u64,
    /// Frames on which the detector failed (first error in `first_error`).
    pub failed_frames: u64,
    /// The first detector error.
    pub first_error: Option<String>,
    /// Detections, all frames.
    pub detections: u64,
    /// Detections by class.
    pub detections_by_class: BTreeMap<String, u64>,
    /// Detector drops summed over frames, by [`Stats`] field (only non-zero ones).
    pub dropped: BTreeMap<String, u64>,
    /// Frames tracked (with an ego pose, after a `track` stage).
    pub tracked_frames: u64,
    /// Frames that reached a `track` stage without an ego pose (not tracked).
    pub untracked_no_pose: u64,
    /// Confirmed track instances, all frames.
    pub track_instances: u64,
    /// Distinct confirmed track ids.
    pub track_ids: u64,
    /// What the `plan` stage did, when the graph has one.
    pub planning: Option<PlanningStats>,
    /// FNV-1a chain over every frame's detections, tracks and local paths, in order, hex.
    pub content_hash: String,
}

/// What a `plan` stage did over a replay.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PlanningStats {
    /// Frames that went through `plan`.
    pub frames: u64,
    /// Frames by outcome (`planned`, `no pose`, `no route`, ...).
    pub outcomes: BTreeMap<String, u64>,
    /// The first reason the route or map failed, if any.
    pub first_failure: Option<String>,
    /// Route (re)plans, by reason.
    pub replans: BTreeMap<String, u64>,
    /// Local path decisions, by kind.
    pub decisions: BTreeMap<String, u64>,
    /// Length of the last route, m.
    pub last_route_length_m: Option<f64>,
    /// Smallest predicted clearance of a chosen local path, m.
    pub min_clearance_m: Option<f64>,
}

/// Shared handle on the perception counters.
pub type SharedPerceptionStats = Arc<Mutex<PerceptionStats>>;

/// What `fusor eval --drive` needs of one frame.
#[derive(Debug, Clone)]
pub struct FrameRecord {
    /// Detections in `base_link`.
    pub detections: Arc<Vec<Detection>>,
    /// Confirmed tracks in `map`, when tracked.
    pub tracks: Option<Arc<Vec<Track>>>,
    /// The estimated ego pose.
    pub map_from_base_link: Option<Isometry3<f64>>,
    /// Ground truth recorded at this stamp.
    pub ground_truth: Option<Arc<GroundTruth>>,
}

/// Where the per-frame records go when a caller (the evaluator) asks for them.
pub type SharedFrameLog = Arc<Mutex<Option<Vec<FrameRecord>>>>;

/// The summary sink behind `perceive`/`track`: the fused-frame counters of [`SummarySink`],
/// plus detection and track counters and their own content hash.
#[derive(Debug)]
pub struct PerceptionSummarySink {
    inner: SummarySink,
    stats: PerceptionStats,
    ids: BTreeSet<u64>,
    hash: u64,
    shared: SharedPerceptionStats,
    log: SharedFrameLog,
    records: Option<Vec<FrameRecord>>,
}

impl PerceptionSummarySink {
    /// A sink publishing into the shared handles; records frames when `log` holds a vector.
    pub fn new(frames: SharedFrameStats, shared: SharedPerceptionStats, log: SharedFrameLog) -> Self {
        let records = log.lock().unwrap_or_else(PoisonError::into_inner).as_ref().map(|_| Vec::new());
        Self {
            inner: SummarySink::new(frames),
            stats: PerceptionStats::default(),
            ids: BTreeSet::new(),
            hash: 0xcbf2_9ce4_8422_2325,
            shared,
            log,
            records,
        }
    }

    fn word(&mut self, w: u64) {
        self.hash ^= w;
        self.hash = self.hash.wrapping_mul(0x0000_0100_0000_01b3);
    }

    fn hash_box(&mut self, b: &Box3) {
        for v in [b.center.x, b.center.y, b.center.z, b.size.x, b.size.y, b.size.z, b.yaw_rad] {
            self.word(v.to_bits());
        }
    }
}

impl PerceptionSummarySink {
    fn count_plan(&mut self, plan: &PlanOutput) {
        let s = self.stats.planning.get_or_insert_with(PlanningStats::default);
        s.frames += 1;
        *s.outcomes.entry(plan.status.key().to_owned()).or_default() += 1;
        if let Some(detail) = plan.status.detail() {
            s.first_failure.get_or_insert_with(|| format!("{}: {detail}", plan.status.key()));
        }
        if let Some(reason) = &plan.replanned {
            *s.replans.entry(reason.clone()).or_default() += 1;
            s.last_route_length_m = plan
                .route
                .as_ref()
                .map(|r| r.poses.windows(2).map(|w| (w[1].position - w[0].position).norm()).sum::<f64>());
        }
        if let Some(local) = &plan.local {
            *s.decisions.entry(decision_key(&local.decision).to_owned()).or_default() += 1;
            let c = local.min_clearance_m;
            s.min_clearance_m = Some(s.min_clearance_m.map_or(c, |m: f64| m.min(c)));
            self.word(local.path.poses.len() as u64);
            for pose in &local.path.poses {
                for v in [pose.position.x, pose.position.y, pose.yaw_rad, pose.speed_mps] {
                    self.word(v.to_bits());
                }
            }
        }
    }
}

fn add_drops(dropped: &mut BTreeMap<String, u64>, s: &Stats) {
    let fields = [
        ("points_capped", s.points_capped),
        ("points_non_finite", s.points_non_finite),
        ("points_out_of_range", s.points_out_of_range),
        ("clusters_too_small", s.clusters_too_small),
        ("clusters_too_large", s.clusters_too_large),
        ("clusters_capped", s.clusters_capped),
        ("boxes_too_large", s.boxes_too_large),
        ("boxes_other_dropped", s.boxes_other_dropped),
        ("clusters_outside_image", s.clusters_outside_image),
    ];
    for (key, n) in fields.into_iter().filter(|(_, n)| *n > 0) {
        *dropped.entry(key.to_owned()).or_default() += n as u64;
    }
}

impl Stage for PerceptionSummarySink {
    type In = PerceivedFrame;
    type Out = ();

    fn on_msg(&mut self, msg: Msg<PerceivedFrame>, out: &mut Outbox<'_, ()>) {
        let p = &msg.payload;
        let s = &mut self.stats;
        s.frames += 1;
        if let Some(e) = &p.error {
            s.failed_frames += 1;
            s.first_error.get_or_insert_with(|| e.clone());
        }
        if let Some(stats) = &p.stats {
            add_drops(&mut s.dropped, stats);
        }
        s.detections += p.detections.len() as u64;
        for d in p.detections.iter() {
            *s.detections_by_class.entry(d.class.to_string()).or_default() += 1;
        }
        match &p.tracks {
            Some(tracks) => {
                s.tracked_frames += 1;
                s.track_instances += tracks.len() as u64;
                self.ids.extend(tracks.iter().map(|t| t.id));
            }
            None if p.fused.map_from_base_link.is_none() => s.untracked_no_pose += 1,
            None => {}
        }
        let detections = Arc::clone(&p.detections);
        let tracks = p.tracks.clone();
        self.word(p.fused.stamp.nanos() as u64);
        self.word(detections.len() as u64);
        for d in detections.iter() {
            self.hash_box(&d.bbox);
            self.word((u64::from(d.score.to_bits()) << 8) | class_code(d.class));
        }
        if let Some(tracks) = &tracks {
            self.word(tracks.len() as u64);
            for t in tracks.iter() {
                self.word(t.id);
                self.hash_box(&t.bbox);
            }
        }
        if let Some(plan) = p.plan.clone() {
            self.count_plan(&plan);
        }
        if let Some(records) = &mut self.records {
            records.push(FrameRecord {
                detections,
                tracks,
                map_from_base_link: p.fused.map_from_base_link,
                ground_truth: p.fused.ground_truth.clone(),
            });
        }
        self.inner.on_msg(msg.map(|p| p.fused), out);
    }

    fn on_eos(&mut self, out: &mut Outbox<'_, ()>) {
        self.inner.on_eos(out);
        self.stats.track_ids = self.ids.len() as u64;
        self.stats.content_hash = format!("{:016x}", self.hash);
        *self.shared.lock().unwrap_or_else(PoisonError::into_inner) = self.stats.clone();
        if let Some(records) = self.records.take() {
            *self.log.lock().unwrap_or_else(PoisonError::into_inner) = Some(records);
        }
    }
}

fn class_code(c: ObjectClass) -> u64 {
    ObjectClass::SCORED.iter().position(|x| *x == c).map_or(0xff, |i| i as u64)
}

/// Rerun colour of a class (RGB).
fn class_color(c: ObjectClass) -> [u8; 3] {
    match c {
        ObjectClass::Car => [255, 140, 0],
        ObjectClass::Pedestrian => [220, 40, 200],
        ObjectClass::Cyclist => [40, 200, 255],
        _ => [200, 200, 200],
    }
}

/// Rerun entity of the detections (in `base_link`).
pub const DETECTIONS_ENTITY: &str = "map/base_link/detections";
/// Rerun entity of the tracks (in `map`).
pub const TRACKS_ENTITY: &str = "map/tracks";
/// Rerun entity of the global route (in `map`).
pub const ROUTE_ENTITY: &str = "map/route";
/// Rerun entity of the local path (in `map`).
pub const LOCAL_PATH_ENTITY: &str = "map/local_path";
/// Rerun entity of the goal (in `map`).
pub const GOAL_ENTITY: &str = "map/goal";
/// Rerun entity of the route on the map view (WGS84).
pub const GEO_ROUTE_ENTITY: &str = "geo/route";

fn boxes3d<'a>(boxes: impl Iterator<Item = &'a Box3> + Clone) -> rerun::Boxes3D {
    rerun::Boxes3D::from_centers_and_sizes(
        boxes.clone().map(|b| [b.center.x as f32, b.center.y as f32, b.center.z as f32]),
        boxes.clone().map(|b| [b.size.x as f32, b.size.y as f32, b.size.z as f32]),
    )
    .with_quaternions(boxes.map(|b| {
        let q = UnitQuaternion::from_euler_angles(0.0, 0.0, b.yaw_rad);
        rerun::Quaternion::from_xyzw([q.i as f32, q.j as f32, q.k as f32, q.w as f32])
    }))
}

/// The Rerun sink behind `perceive`/`track`: the fused frame as [`fusor_viz::FrameLogger`] logs
/// it, plus detections (boxes in `base_link`, coloured by class) and tracks (boxes in `map`,
/// labelled with their ids). Logging errors are counted, never fatal.
#[derive(Debug)]
pub struct PerceptionRerunSink {
    logger: fusor_viz::FrameLogger,
    rec: rerun::RecordingStream,
    errors: u64,
    /// The route last logged (logged again only when it changes).
    route: Option<Arc<fusor_planning::PlannedPath>>,
}

impl PerceptionRerunSink {
    /// A sink logging to `rec`.
    pub fn new(rec: rerun::RecordingStream) -> Self {
        Self { logger: fusor_viz::FrameLogger::new(rec.clone()), rec, errors: 0, route: None }
    }

    fn log_plan(&mut self, p: &PerceivedFrame) -> anyhow::Result<()> {
        let Some(plan) = &p.plan else { return Ok(()) };
        let strip = |path: &fusor_planning::PlannedPath| -> Vec<[f32; 3]> {
            path.poses.iter().map(|q| [q.position.x as f32, q.position.y as f32, 0.05]).collect()
        };
        let changed = match (&self.route, &plan.route) {
            (Some(a), Some(b)) => !Arc::ptr_eq(a, b),
            (None, None) => false,
            _ => true,
        };
        if changed {
            match &plan.route {
                Some(route) => {
                    self.rec.log(
                        ROUTE_ENTITY,
                        &rerun::LineStrips3D::new([strip(route)])
                            .with_colors([[40, 120, 255]])
                            .with_radii([0.25])
                            .with_labels(["route"]),
                    )?;
                    if let Some(origin) = p.fused.map_origin {
                        let points = route.poses.iter().map(|q| [q.position.x, q.position.y, 0.0]);
                        let lat_lon = fusor_viz::lat_lon_of(origin, points);
                        self.rec.log(
                            GEO_ROUTE_ENTITY,
                            &rerun::GeoLineStrings::from_lat_lon([lat_lon])
                                .with_colors([[40, 120, 255]])
                                .with_radii([rerun::Radius::new_ui_points(3.0)]),
                        )?;
                    }
                }
                None => {
                    self.rec.log(ROUTE_ENTITY, &rerun::Clear::flat())?;
                    self.rec.log(GEO_ROUTE_ENTITY, &rerun::Clear::flat())?;
                }
            }
            self.route = plan.route.clone();
        }
        match &plan.local {
            Some(local) => self.rec.log(
                LOCAL_PATH_ENTITY,
                &rerun::LineStrips3D::new([strip(&local.path)])
                    .with_colors([[60, 220, 90]])
                    .with_radii([0.15])
                    .with_labels([format!("{} ({:.1} m clear)", decision_key(&local.decision), local.min_clearance_m)]),
            )?,
            None => self.rec.log(LOCAL_PATH_ENTITY, &rerun::Clear::flat())?,
        }
        self.rec.log("plan/ego_speed_mps", &rerun::Scalars::single(plan.ego_speed_mps))?;
        if let Some(goal) = plan.goal_in_map {
            self.rec.log(
                GOAL_ENTITY,
                &rerun::Points3D::new([[goal.x as f32, goal.y as f32, 0.5]])
                    .with_colors([[255, 60, 60]])
                    .with_radii([1.0])
                    .with_labels(["goal"]),
            )?;
        }
        Ok(())
    }

    fn log(&mut self, p: &PerceivedFrame, end_to_end_ms: f64) -> anyhow::Result<()> {
        self.logger.log_frame(&p.fused, end_to_end_ms)?;
        let dets = &p.detections;
        self.rec.log(
            DETECTIONS_ENTITY,
            &boxes3d(dets.iter().map(|d| &d.bbox))
                .with_colors(dets.iter().map(|d| class_color(d.class)))
                .with_labels(dets.iter().map(|d| format!("{} {:.2}", d.class, d.score))),
        )?;
        if let Some(tracks) = &p.tracks {
            self.rec.log(
                TRACKS_ENTITY,
                &boxes3d(tracks.iter().map(|t| &t.bbox))
                    .with_colors(tracks.iter().map(|t| class_color(t.class)))
                    .with_labels(tracks.iter().map(|t| format!("#{} {}", t.id, t.class))),
            )?;
        }
        self.log_plan(p)
    }
}

impl Stage for PerceptionRerunSink {
    type In = PerceivedFrame;
    type Out = ();

    fn on_msg(&mut self, msg: Msg<PerceivedFrame>, out: &mut Outbox<'_, ()>) {
        let end_to_end_ms = (out.now() - msg.stamp).secs_f64() * 1e3;
        if let Err(e) = self.log(&msg.payload, end_to_end_ms) {
            self.errors += 1;
            tracing::warn!(frame = msg.seq, "rerun: {e:#}");
        }
    }

    fn on_eos(&mut self, _out: &mut Outbox<'_, ()>) {
        if let Err(e) = self.logger.flush() {
            tracing::warn!("{e}");
        }
        tracing::info!(frames = self.logger.stats().frames, errors = self.errors, "rerun sink finished");
    }
}
