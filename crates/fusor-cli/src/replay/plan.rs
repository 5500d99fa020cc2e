//! The `plan` stage of the graph: a global route on a Lanelet2 map to a goal, and a local path
//! around the tracked obstacles, on every tracked frame (`fusor-planning` does the planning; this
//! file adapts it to the actor graph).
//!
//! The map is read when the stage is built and projected into `map` once the frame's WGS84
//! origin is known (the replay source's first usable fix, or the configured origin); a new origin
//! (a replay restart) reprojects it. What the stage could not do is never fatal: the frame goes
//! on with a [`PlanStatus`] saying why (no pose, no origin, off the map, no route), and the
//! summary counts each reason.

use super::perceive::PerceivedFrame;
use anyhow::Context;
use fusor_core::geodesy::Geodetic;
use fusor_core::Stamp;
use fusor_planning::geometry::P2;
use fusor_planning::{
    Decision, EgoState, GlobalPlanner, Goal, LaneletMap, LocalConfig, LocalPath, LocalPlanner, MapConfig,
    NodeCoordinates, PlannedPath, ReplanReason, RouteConfig, StopReason,
};
use fusor_runtime::{Msg, Outbox, Stage};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A goal in a pipeline file: `{ lat_deg = .., lon_deg = .. }` (WGS84) or `{ x_m = .., y_m = .. }`
/// (east and north in `map`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum GoalParam {
    /// WGS84 latitude and longitude, degrees.
    Geodetic {
        /// Latitude, degrees north.
        lat_deg: f64,
        /// Longitude, degrees east.
        lon_deg: f64,
    },
    /// A position in `map`, metres.
    Map {
        /// East, m.
        x_m: f64,
        /// North, m.
        y_m: f64,
    },
}

impl GoalParam {
    /// The planner's goal, validated.
    pub fn to_goal(self) -> anyhow::Result<Goal> {
        match self {
            GoalParam::Geodetic { lat_deg, lon_deg } => Ok(Goal::Geodetic(Geodetic::new(lat_deg, lon_deg, 0.0)?)),
            GoalParam::Map { x_m, y_m } if x_m.is_finite() && y_m.is_finite() => Ok(Goal::Map { x_m, y_m }),
            GoalParam::Map { x_m, y_m } => anyhow::bail!("goal ({x_m}, {y_m}) is not finite"),
        }
    }
}

/// `params` of a `plan` stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanParams {
    /// Lanelet2 OSM map (lat/lon or local_x/local_y nodes). A relative path is resolved against
    /// the pipeline file's folder (the built-in pipeline's folder is this repository's `launch/`).
    pub map: PathBuf,
    /// Where to go; without one the stage only locates the ego on the map.
    #[serde(default)]
    pub goal: Option<GoalParam>,
    /// Node coordinates to read: `lat_lon` (default: projected into the drive's `map`, whatever
    /// its origin), `local` (`local_x`/`local_y` taken as `map` metres: only right when the
    /// drive's `map` origin is the map's own) or `auto` (local when every node has them).
    #[serde(default)]
    pub coordinates: Coordinates,
    /// Route search and replanning.
    #[serde(default)]
    pub route: RouteConfig,
    /// Local path lattice.
    #[serde(default)]
    pub local: LocalConfig,
    /// Speed from consecutive poses only when they are at most this far apart, s.
    #[serde(default = "default_speed_interval")]
    pub max_speed_interval_s: f64,
}

/// Which node coordinates of the map are read (see [`PlanParams::coordinates`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Coordinates {
    /// `lat`/`lon`, projected at the frame's origin.
    #[default]
    LatLon,
    /// `local_x`/`local_y`.
    Local,
    /// Local when every node has them, else lat/lon.
    Auto,
}

impl Coordinates {
    fn node_coordinates(self) -> NodeCoordinates {
        match self {
            Coordinates::LatLon => NodeCoordinates::LatLon,
            Coordinates::Local => NodeCoordinates::Local,
            Coordinates::Auto => NodeCoordinates::Auto,
        }
    }
}

/// The map configuration at `origin`.
fn map_config(origin: Geodetic, coordinates: Coordinates) -> anyhow::Result<MapConfig> {
    let mut config = MapConfig::new(origin.lat_deg, origin.lon_deg, origin.alt_m)?;
    config.coordinates = coordinates.node_coordinates();
    Ok(config)
}

fn default_speed_interval() -> f64 {
    0.5
}

impl PlanParams {
    /// Checks the values and reads the map file (`map` resolved against `base_dir`).
    pub fn prepare(mut self, base_dir: &Path) -> anyhow::Result<PreparedPlan> {
        self.route.validate()?;
        self.local.validate()?;
        if !(self.max_speed_interval_s.is_finite() && self.max_speed_interval_s > 0.0) {
            anyhow::bail!("max_speed_interval_s must be finite and > 0, got {}", self.max_speed_interval_s);
        }
        let goal = self.goal.map(GoalParam::to_goal).transpose().context("goal")?;
        if self.map.is_relative() {
            self.map = base_dir.join(&self.map);
        }
        let text = std::fs::read_to_string(&self.map).with_context(|| format!("map {}", self.map.display()))?;
        // Parse once now so that a malformed map stops the run at start, naming the element.
        let check_origin = match goal {
            Some(Goal::Geodetic(g)) => g,
            _ => Geodetic { lat_deg: 0.0, lon_deg: 0.0, alt_m: 0.0 },
        };
        LaneletMap::from_osm_str(&text, &map_config(check_origin, self.coordinates)?)
            .with_context(|| format!("map {}", self.map.display()))?;
        Ok(PreparedPlan { params: self, goal, map_text: Arc::from(text), goal_updates: None })
    }
}

/// Validated parameters with the map's text, ready to build stages (and rebuild them after a
/// restart) without touching the file system again.
#[derive(Debug, Clone)]
pub struct PreparedPlan {
    params: PlanParams,
    goal: Option<Goal>,
    map_text: Arc<str>,
    goal_updates: Option<crossbeam_channel::Receiver<Goal>>,
}

impl PreparedPlan {
    /// Takes new goals from `goals` (e.g. the node's `/planning/goal`); the latest wins.
    pub fn with_goal_updates(mut self, goals: crossbeam_channel::Receiver<Goal>) -> Self {
        self.goal_updates = Some(goals);
        self
    }
}

/// What the stage made of a frame.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanStatus {
    /// A local path was planned.
    Planned,
    /// Located on the map, but no goal is set.
    NoGoal,
    /// The frame has no ego pose.
    NoPose,
    /// The frame's `map` has no WGS84 origin yet.
    NoOrigin,
    /// The map could not be projected at the frame's origin.
    MapError(String),
    /// The route could not be planned (ego or goal off the map, unreachable goal).
    NoRoute(String),
    /// The local planner refused the input.
    LocalError(String),
}

impl PlanStatus {
    /// A short key for counting.
    pub fn key(&self) -> &'static str {
        match self {
            PlanStatus::Planned => "planned",
            PlanStatus::NoGoal => "no goal",
            PlanStatus::NoPose => "no pose",
            PlanStatus::NoOrigin => "no map origin",
            PlanStatus::MapError(_) => "map error",
            PlanStatus::NoRoute(_) => "no route",
            PlanStatus::LocalError(_) => "local planner error",
        }
    }

    /// The detail, for the ones that have one.
    pub fn detail(&self) -> Option<&str> {
        match self {
            PlanStatus::MapError(s) | PlanStatus::NoRoute(s) | PlanStatus::LocalError(s) => Some(s),
            _ => None,
        }
    }
}

/// The `plan` stage's output on a frame.
#[derive(Debug, Clone)]
pub struct PlanOutput {
    /// What happened.
    pub status: PlanStatus,
    /// The current route as a path in `map` (shared between frames until the next replan).
    pub route: Option<Arc<PlannedPath>>,
    /// Why the route was replanned on this frame, if it was.
    pub replanned: Option<String>,
    /// The local path, when planned.
    pub local: Option<LocalPath>,
    /// The goal in `map`, once the map is projected.
    pub goal_in_map: Option<P2>,
    /// The ego speed used, m/s.
    pub ego_speed_mps: f64,
}

impl PlanOutput {
    fn status(status: PlanStatus) -> Self {
        Self { status, route: None, replanned: None, local: None, goal_in_map: None, ego_speed_mps: 0.0 }
    }
}

/// A short label for a local path's decision.
pub fn decision_key(d: &Decision) -> &'static str {
    match d {
        Decision::Follow => "follow",
        Decision::Nudge(_) => "nudge",
        Decision::ChangeLane(_) => "change lane",
        Decision::Stop { reason: StopReason::Goal, .. } => "stop at goal",
        Decision::Stop { reason: StopReason::Yield(_), .. } => "yield",
        Decision::Stop { reason: StopReason::Blocked(_), .. } => "stop (blocked)",
        Decision::EmergencyStop => "emergency stop",
    }
}

/// The `plan` stage: `PerceivedFrame` → `PerceivedFrame` with [`PerceivedFrame::plan`] set.
#[derive(Debug)]
pub struct PlanStage {
    prepared: PreparedPlan,
    goal: Option<Goal>,
    map: Option<(Geodetic, LaneletMap)>,
    global: GlobalPlanner,
    local: LocalPlanner,
    route_path: Option<Arc<PlannedPath>>,
    last_position: Option<(Stamp, P2)>,
    speed_mps: f64,
}

impl PlanStage {
    /// A stage with no map projected yet.
    pub fn new(prepared: PreparedPlan) -> Self {
        let global = GlobalPlanner::new(prepared.params.route.clone());
        let local = LocalPlanner::new(prepared.params.local.clone());
        Self {
            goal: prepared.goal,
            prepared,
            map: None,
            global,
            local,
            route_path: None,
            last_position: None,
            speed_mps: 0.0,
        }
    }

    fn ensure_map(&mut self, origin: Geodetic) -> Result<&LaneletMap, String> {
        if self.map.as_ref().is_none_or(|(o, _)| *o != origin) {
            let config = map_config(origin, self.prepared.params.coordinates).map_err(|e| e.to_string())?;
            let map = LaneletMap::from_osm_str(&self.prepared.map_text, &config).map_err(|e| e.to_string())?;
            // A new `map` frame: routes and goals planned in the old one are meaningless.
            self.global = GlobalPlanner::new(self.prepared.params.route.clone());
            if let Some(goal) = self.goal {
                self.global.set_goal(goal);
            }
            self.route_path = None;
            self.last_position = None;
            self.map = Some((origin, map));
        }
        match &self.map {
            Some((_, map)) => Ok(map),
            None => Err("map not projected".into()),
        }
    }

    fn plan(&mut self, p: &PerceivedFrame) -> PlanOutput {
        if let Some(updates) = &self.prepared.goal_updates {
            while let Ok(goal) = updates.try_recv() {
                self.goal = Some(goal);
                self.global.set_goal(goal);
            }
        }
        let fused = &p.fused;
        let Some(map_from_base_link) = fused.map_from_base_link else {
            return PlanOutput::status(PlanStatus::NoPose);
        };
        let Some(origin) = fused.map_origin else {
            return PlanOutput::status(PlanStatus::NoOrigin);
        };
        if let Err(e) = self.ensure_map(origin) {
            return PlanOutput::status(PlanStatus::MapError(e));
        }
        let t = map_from_base_link.translation.vector;
        let position = P2::new(t.x, t.y);
        let yaw_rad = map_from_base_link.rotation.euler_angles().2;
        if let Some((stamp, last)) = self.last_position {
            let dt = (fused.stamp - stamp).secs_f64();
            if dt > 0.0 && dt <= self.prepared.params.max_speed_interval_s {
                let measured = (position - last).norm() / dt;
                // Light smoothing: GNSS noise differentiates into speed noise.
                self.speed_mps = 0.5 * self.speed_mps + 0.5 * measured;
            }
        }
        self.last_position = Some((fused.stamp, position));
        let ego = EgoState { stamp: fused.stamp, position, yaw_rad, speed_mps: self.speed_mps };
        let Some((_, map)) = &self.map else {
            return PlanOutput::status(PlanStatus::MapError("map not projected".into()));
        };
        let goal_in_map = match self.goal {
            Some(Goal::Map { x_m, y_m }) => Some(P2::new(x_m, y_m)),
            Some(Goal::Geodetic(g)) => map.map_from_geodetic(g).ok(),
            None => None,
        };
        let mut out =
            PlanOutput { goal_in_map, ego_speed_mps: self.speed_mps, ..PlanOutput::status(PlanStatus::NoGoal) };
        if self.goal.is_none() {
            return out;
        }
        match self.global.update(map, &ego) {
            Ok(Some(reason)) => {
                out.replanned = Some(
                    match reason {
                        ReplanReason::NoRoute => "first route",
                        ReplanReason::GoalChanged => "goal changed",
                        ReplanReason::LeftRoute { .. } => "left the route",
                    }
                    .to_owned(),
                );
                self.route_path = self.global.route().map(|r| Arc::new(r.to_path(fused.stamp)));
            }
            Ok(None) => {}
            Err(e) => {
                self.route_path = None;
                out.status = PlanStatus::NoRoute(e.to_string());
                return out;
            }
        }
        out.route = self.route_path.clone();
        let Some(route) = self.global.route() else {
            out.status = PlanStatus::NoRoute("no route".into());
            return out;
        };
        let tracks = p.tracks.as_deref().map(Vec::as_slice).unwrap_or(&[]);
        match self.local.plan(route, &ego, tracks) {
            Ok(local) => {
                if tracing::enabled!(tracing::Level::DEBUG) && local.decision == Decision::EmergencyStop {
                    let near: Vec<String> = tracks
                        .iter()
                        .map(|t| (t, (P2::new(t.bbox.center.x, t.bbox.center.y) - position).norm()))
                        .filter(|(_, d)| *d < 25.0)
                        .map(|(t, d)| {
                            let rel = map_from_base_link.inverse() * t.bbox.center;
                            format!(
                                "#{} {} at {d:.1} m (x {:.1}, y {:.1} in base_link), v ({:.1}, {:.1}), size {:.1}x{:.1}",
                                t.id, t.class, rel.x, rel.y, t.velocity.x, t.velocity.y, t.bbox.size.x, t.bbox.size.y
                            )
                        })
                        .collect();
                    tracing::debug!(speed = self.speed_mps, "emergency stop; tracks within 25 m: {}", near.join("; "));
                }
                out.local = Some(local);
                out.status = PlanStatus::Planned;
            }
            Err(e) => out.status = PlanStatus::LocalError(e.to_string()),
        }
        out
    }
}

impl Stage for PlanStage {
    type In = PerceivedFrame;
    type Out = PerceivedFrame;

    fn on_msg(&mut self, mut msg: Msg<PerceivedFrame>, out: &mut Outbox<'_, PerceivedFrame>) {
        let plan = self.plan(&msg.payload);
        msg.payload.plan = Some(Arc::new(plan));
        out.send(msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fusor_align::{DeskewStatus, FusedFrame, StageLatency};
    use fusor_core::PointCloud;
    use nalgebra::{Isometry3, Vector3};

    fn tiny_map_params(goal: Option<GoalParam>) -> PreparedPlan {
        let params = PlanParams {
            map: PathBuf::from("maps/tiny.osm"),
            goal,
            coordinates: Coordinates::Local,
            route: RouteConfig::default(),
            local: LocalConfig::default(),
            max_speed_interval_s: 0.5,
        };
        params.prepare(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../recordings")).unwrap()
    }

    fn frame(seq: u64, x_m: f64, pose: bool) -> PerceivedFrame {
        let stamp = Stamp(1_700_000_000_000_000_000 + seq as i64 * 100_000_000);
        PerceivedFrame {
            fused: FusedFrame {
                stamp,
                seq,
                cloud_in_base_link: Arc::new(PointCloud::with_capacity(stamp, "base_link", 0)),
                map_from_base_link: pose.then(|| Isometry3::new(Vector3::new(x_m, 0.0, 0.0), Vector3::zeros())),
                map_origin: Some(Geodetic { lat_deg: 49.0, lon_deg: 8.4, alt_m: 100.0 }),
                cameras: Vec::new(),
                ground_truth: None,
                deskew: DeskewStatus::NoTimeOffsets,
                ego_twist: None,
                degraded: Vec::new(),
                latency: StageLatency::default(),
            },
            detections: Arc::new(Vec::new()),
            stats: None,
            error: None,
            tracks: Some(Arc::new(Vec::new())),
            plan: None,
        }
    }

    #[test]
    fn plans_a_route_then_follows_a_new_goal_from_the_goal_channel() {
        let (tx, rx) = crossbeam_channel::bounded(4);
        let prepared = tiny_map_params(Some(GoalParam::Map { x_m: 190.0, y_m: 0.0 })).with_goal_updates(rx);
        let mut stage = PlanStage::new(prepared);
        let first = stage.plan(&frame(0, 10.0, true));
        assert_eq!(first.status, PlanStatus::Planned, "{first:?}");
        assert_eq!(first.replanned.as_deref(), Some("first route"));
        let route = first.route.clone().unwrap();
        let last = route.poses.last().unwrap().position;
        assert!((last.x - 190.0).abs() < 1.5, "route ends at the goal: {last:?}");
        // Same goal: the route is kept (same Arc), only the local path is planned.
        let second = stage.plan(&frame(1, 11.0, true));
        assert!(second.replanned.is_none());
        assert!(Arc::ptr_eq(&route, second.route.as_ref().unwrap()));
        // A new goal from the channel (the node's /planning/goal) replans to it.
        tx.send(Goal::Map { x_m: 350.0, y_m: 0.0 }).unwrap();
        let third = stage.plan(&frame(2, 12.0, true));
        assert_eq!(third.replanned.as_deref(), Some("goal changed"));
        let last = third.route.as_ref().unwrap().poses.last().unwrap().position;
        assert!((last.x - 350.0).abs() < 1.5, "{last:?}");
        assert_eq!(third.goal_in_map, Some(P2::new(350.0, 0.0)));
        // 1 m in 0.1 s between frames: 10 m/s, smoothed.
        assert!(third.ego_speed_mps > 5.0 && third.ego_speed_mps <= 10.0, "{}", third.ego_speed_mps);
    }

    #[test]
    fn no_pose_off_the_map_and_no_goal_are_reported_not_fatal() {
        let mut stage = PlanStage::new(tiny_map_params(Some(GoalParam::Map { x_m: 190.0, y_m: 0.0 })));
        assert_eq!(stage.plan(&frame(0, 10.0, false)).status, PlanStatus::NoPose);
        let off = stage.plan(&frame(1, 5_000.0, true));
        assert_eq!(off.status.key(), "no route", "{off:?}");
        assert!(off.status.detail().is_some_and(|d| !d.is_empty()));
        let mut idle = PlanStage::new(tiny_map_params(None));
        assert_eq!(idle.plan(&frame(0, 10.0, true)).status, PlanStatus::NoGoal);
    }

    #[test]
    fn bad_parameters_and_a_missing_map_are_errors_at_start() {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../recordings");
        let mut p = PlanParams {
            map: PathBuf::from("maps/tiny.osm"),
            goal: None,
            coordinates: Coordinates::Local,
            route: RouteConfig::default(),
            local: LocalConfig::default(),
            max_speed_interval_s: 0.5,
        };
        p.local.horizon_m = f64::NAN;
        let err = p.clone().prepare(&base).unwrap_err();
        assert!(format!("{err:#}").contains("local.horizon_m"), "{err:#}");
        p.local.horizon_m = 50.0;
        p.map = PathBuf::from("maps/missing.osm");
        let err = p.prepare(&base).unwrap_err();
        assert!(format!("{err:#}").contains("missing.osm"), "{err:#}");
    }
}
