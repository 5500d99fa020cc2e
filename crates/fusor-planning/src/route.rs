//! Global route: lane-level A* over the lanelet graph from the ego pose to a goal, the route as a
//! centreline path with speed limits, and replanning when the ego leaves the route or the goal
//! moves.
//!
//! Cost is travel time: a lane costs its (remaining) centreline length divided by its speed
//! limit, a lane change costs [`RouteConfig::lane_change_penalty_s`]. As in Lanelet2's routing
//! graph, a lane change is an edge between neighbouring lanes at the same position, so the cost
//! of the lane left is not counted; on the path, the change is spread over the stretch the two
//! lanes share, blended over [`RouteConfig::lane_change_length_m`].

use crate::error::{PlanningError, Result};
use crate::geometry::{wrap_angle, Polyline, Projection, P2};
use crate::map::{LaneletId, LaneletMap};
use crate::path::{PathPose, PlannedPath};
use fusor_core::geodesy::Geodetic;
use fusor_core::{FrameId, Stamp};
use nalgebra::Point3;

/// Route planning parameters (a pipeline's `plan.route` table: every key optional, unknown keys
/// are errors).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouteConfig {
    /// Cost of one lane change, seconds of travel time.
    pub lane_change_penalty_s: f64,
    /// The start and the goal must lie within this distance (m) of a lane centreline.
    pub max_snap_distance_m: f64,
    /// Replan when the ego is farther than this (m) from the route path.
    pub replan_lateral_m: f64,
    /// A goal that moved by more than this (m) is a new goal.
    pub goal_tolerance_m: f64,
    /// Spacing of the route path's points, metres.
    pub spacing_m: f64,
    /// Length over which the route path blends from one lane into its neighbour, metres.
    pub lane_change_length_m: f64,
}

impl Default for RouteConfig {
    fn default() -> Self {
        Self {
            lane_change_penalty_s: 2.0,
            max_snap_distance_m: 5.0,
            replan_lateral_m: 3.0,
            goal_tolerance_m: 0.5,
            spacing_m: 1.0,
            lane_change_length_m: 20.0,
        }
    }
}

impl RouteConfig {
    /// Checks that every value is finite and in range; the error names the key.
    pub fn validate(&self) -> Result<()> {
        let checks = [
            ("lane_change_penalty_s", self.lane_change_penalty_s, 0.0),
            ("max_snap_distance_m", self.max_snap_distance_m, f64::MIN_POSITIVE),
            ("replan_lateral_m", self.replan_lateral_m, f64::MIN_POSITIVE),
            ("goal_tolerance_m", self.goal_tolerance_m, 0.0),
            ("spacing_m", self.spacing_m, 0.01),
            ("lane_change_length_m", self.lane_change_length_m, f64::MIN_POSITIVE),
        ];
        for (key, v, min) in checks {
            if !(v.is_finite() && v >= min) {
                return Err(PlanningError::invalid(
                    format!("route.{key}"),
                    format!("must be finite and >= {min}, got {v}"),
                ));
            }
        }
        Ok(())
    }
}

/// A goal: a position in `map` or a WGS84 position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Goal {
    /// East and north in metres in `map`.
    Map {
        /// East, m.
        x_m: f64,
        /// North, m.
        y_m: f64,
    },
    /// Latitude/longitude (altitude ignored), projected through the map's origin.
    Geodetic(Geodetic),
}

impl Goal {
    fn in_map(&self, map: &LaneletMap) -> Result<P2> {
        let p = match *self {
            Goal::Map { x_m, y_m } => P2::new(x_m, y_m),
            Goal::Geodetic(g) => map.map_from_geodetic(g)?,
        };
        if !(p.x.is_finite() && p.y.is_finite()) {
            return Err(PlanningError::invalid("goal", format!("non-finite position {p:?}")));
        }
        Ok(p)
    }
}

/// The ego vehicle's state in `map` (`base_link`: the rear axle centre on the ground).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EgoState {
    /// Time of validity.
    pub stamp: Stamp,
    /// Position of `base_link` in metres in `map`.
    pub position: P2,
    /// Heading in radians in `map` (from east towards north).
    pub yaw_rad: f64,
    /// Forward speed in m/s.
    pub speed_mps: f64,
}

impl EgoState {
    pub(crate) fn validate(&self) -> Result<()> {
        let values = [self.position.x, self.position.y, self.yaw_rad, self.speed_mps];
        if values.iter().any(|v| !v.is_finite()) {
            return Err(PlanningError::invalid("ego state", format!("non-finite value in {self:?}")));
        }
        Ok(())
    }
}

/// How a route step's lane was entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The lane the ego is on.
    Start,
    /// Followed from the previous lane's end.
    Follow,
    /// Lane change into the left neighbour.
    ChangeLeft,
    /// Lane change into the right neighbour.
    ChangeRight,
}

/// One lane of a route and the stretch of it driven.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteStep {
    /// The lanelet.
    pub lanelet: LaneletId,
    /// Driven against the lanelet's direction (`one_way=no`).
    pub inverted: bool,
    /// How it was entered.
    pub transition: Transition,
    /// Arc length (m) along the lane's centreline where the route enters it.
    pub from_s_m: f64,
    /// Arc length (m) where the route leaves it.
    pub to_s_m: f64,
}

/// One point of a route path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoutePoint {
    /// Position in metres in `map` (a lane centreline; blended across a lane change).
    pub position: P2,
    /// Heading of the path in radians in `map`.
    pub yaw_rad: f64,
    /// Arc length from the route's start, m.
    pub s_m: f64,
    /// Speed limit here, m/s.
    pub speed_limit_mps: f64,
    /// Lanelet this point belongs to.
    pub lanelet: LaneletId,
    /// Distance to the own lane's left bound, m (half the lane width off a lane change).
    pub left_bound_m: f64,
    /// Distance to the own lane's right bound, m.
    pub right_bound_m: f64,
    /// Drivable room to the left of the point, m: to the lane's left bound, plus the left
    /// neighbour's width when a lane change into it is allowed.
    pub left_room_m: f64,
    /// Drivable room to the right, m (likewise).
    pub right_room_m: f64,
}

impl RoutePoint {
    /// Lateral offsets (m, left positive) of the centres of the lanes the vehicle may use here:
    /// its own lane and the neighbours it may change into.
    pub fn lane_centres_m(&self) -> impl Iterator<Item = f64> {
        let own = 0.5 * (self.left_bound_m - self.right_bound_m);
        let left = (self.left_room_m > self.left_bound_m + 0.5).then_some(0.5 * (self.left_bound_m + self.left_room_m));
        let right =
            (self.right_room_m > self.right_bound_m + 0.5).then_some(-0.5 * (self.right_bound_m + self.right_room_m));
        std::iter::once(own).chain(left).chain(right)
    }
}

/// A planned route.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Lanes in driving order.
    pub steps: Vec<RouteStep>,
    /// The path, about [`RouteConfig::spacing_m`] apart, from the ego's projection to the goal's.
    pub points: Vec<RoutePoint>,
    /// Path length, m.
    pub length_m: f64,
    /// A* cost: travel time at the speed limits plus lane change penalties, s.
    pub travel_time_s: f64,
    /// The goal as requested, in `map`.
    pub goal: P2,
    polyline: Polyline,
}

impl Route {
    /// Lanelet the route starts on.
    pub fn start_lanelet(&self) -> Option<LaneletId> {
        self.steps.first().map(|s| s.lanelet)
    }

    /// Lanelet the route ends on.
    pub fn goal_lanelet(&self) -> Option<LaneletId> {
        self.steps.last().map(|s| s.lanelet)
    }

    /// Lanelet ids in driving order (a lane change lists both lanes).
    pub fn lanelet_ids(&self) -> Vec<i64> {
        self.steps.iter().map(|s| s.lanelet.0).collect()
    }

    /// The route path as a polyline in `map`.
    pub fn polyline(&self) -> &Polyline {
        &self.polyline
    }

    /// Where `p` (m, `map`) projects on the route path.
    pub fn project(&self, p: P2) -> Option<Projection> {
        self.polyline.project(p)
    }

    /// The route path as a `nav_msgs/Path`: every pose stamped `stamp`, speed = speed limit.
    pub fn to_path(&self, stamp: Stamp) -> PlannedPath {
        PlannedPath {
            frame_id: FrameId::new(FrameId::MAP),
            stamp,
            poses: self
                .points
                .iter()
                .map(|p| PathPose {
                    stamp,
                    position: Point3::new(p.position.x, p.position.y, 0.0),
                    yaw_rad: p.yaw_rad,
                    speed_mps: p.speed_limit_mps,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Node {
    /// On a lane, entered at its start (`at_ego` false) or at the ego's fraction along the start
    /// lane (`at_ego` true: the start lane and lanes reached from it by lane changes only).
    Lane {
        lane: usize,
        at_ego: bool,
    },
    Goal,
}

const MICROS: f64 = 1e6;

fn micros(seconds: f64) -> u64 {
    (seconds.max(0.0) * MICROS).round() as u64
}

/// Plans a route on `map` from the ego pose (`start` in metres in `map`, heading `start_yaw_rad`)
/// to `goal` (metres in `map`).
pub fn plan_route(map: &LaneletMap, start: P2, start_yaw_rad: f64, goal: P2, config: &RouteConfig) -> Result<Route> {
    let snap = config.max_snap_distance_m;
    let off_map = |what, p: P2| PlanningError::OffMap {
        what,
        x_m: p.x,
        y_m: p.y,
        distance_m: map.distance_to_nearest_lane(p),
        limit_m: snap,
    };
    if !(start.x.is_finite() && start.y.is_finite() && start_yaw_rad.is_finite()) {
        return Err(PlanningError::invalid("start pose", format!("non-finite ({start:?}, {start_yaw_rad})")));
    }
    let start_match = map.locate(start, Some(start_yaw_rad), snap).ok_or_else(|| off_map("start", start))?;
    let goal_match = map.locate(goal, None, snap).ok_or_else(|| off_map("goal", goal))?;
    let lanes = map.lanes();
    let s0 = start_match.lane;
    let f0 = start_match.s_m / lanes[s0].length_m().max(1e-9);
    // Goal candidates: the located lane and, for a two-way lanelet, its other direction.
    let goal_lanelet = lanes[goal_match.lane].lanelet;
    let goals: Vec<(usize, f64)> = lanes
        .iter()
        .enumerate()
        .filter(|(_, l)| l.lanelet == goal_lanelet)
        .filter_map(|(i, l)| l.centerline.project(goal).map(|pr| (i, pr.s_m / l.length_m().max(1e-9))))
        .collect();
    let v_max = map.max_speed_mps().max(1e-3);
    let heuristic_on = config.lane_change_penalty_s >= 1.0;
    let entry = |_lane: usize, at_ego: bool| if at_ego { f0 } else { 0.0 };
    let time = |lane: usize, from: f64, to: f64| (to - from) * lanes[lane].length_m() / lanes[lane].speed_limit_mps;

    let successors = |n: &Node| -> Vec<(Node, u64)> {
        let Node::Lane { lane, at_ego } = *n else { return Vec::new() };
        let f = entry(lane, at_ego);
        let l = &lanes[lane];
        let mut out = Vec::with_capacity(l.successors.len() + 3);
        for &(g, fg) in &goals {
            if g == lane && fg >= f {
                out.push((Node::Goal, micros(time(lane, f, fg))));
            }
        }
        for &next in &l.successors {
            out.push((Node::Lane { lane: next, at_ego: false }, micros(time(lane, f, 1.0))));
        }
        for next in [l.change_left, l.change_right].into_iter().flatten() {
            out.push((Node::Lane { lane: next, at_ego }, micros(config.lane_change_penalty_s)));
        }
        out
    };
    let heuristic = |n: &Node| -> u64 {
        match *n {
            Node::Lane { lane, at_ego } if heuristic_on => {
                let p = lanes[lane].centerline.point_at_fraction(entry(lane, at_ego));
                micros((p - goal).norm() / v_max)
            }
            _ => 0,
        }
    };
    let start_node = Node::Lane { lane: s0, at_ego: true };
    let (nodes, cost) = pathfinding::directed::astar::astar(&start_node, successors, heuristic, |n| *n == Node::Goal)
        .ok_or(PlanningError::NoRoute { start: lanes[s0].lanelet.0, goal: goal_lanelet.0 })?;

    // Steps: lanes with their entry/exit fractions. A run of lanes joined by lane changes shares
    // one stretch [entry, exit], split evenly among them.
    let lane_nodes: Vec<(usize, bool)> = nodes
        .iter()
        .filter_map(|n| if let Node::Lane { lane, at_ego } = *n { Some((lane, at_ego)) } else { None })
        .collect();
    let goal_fraction = |lane: usize| goals.iter().find(|(g, _)| *g == lane).map(|(_, f)| *f).unwrap_or(1.0);
    let mut steps: Vec<(usize, Transition, f64, f64)> = Vec::new();
    let mut i = 0;
    while i < lane_nodes.len() {
        let mut j = i;
        while j + 1 < lane_nodes.len() && !lanes[lane_nodes[j].0].successors.contains(&lane_nodes[j + 1].0) {
            j += 1;
        }
        // Lanes i..=j are joined by lane changes (the A* reached j+1 from j by following).
        let from = entry(lane_nodes[i].0, lane_nodes[i].1);
        let to = if j + 1 == lane_nodes.len() { goal_fraction(lane_nodes[j].0) } else { 1.0 };
        let k = (j - i + 1) as f64;
        for (m, &(lane, _)) in lane_nodes[i..=j].iter().enumerate() {
            let transition = if i + m == 0 {
                Transition::Start
            } else if m == 0 {
                Transition::Follow
            } else if lanes[lane_nodes[i + m - 1].0].change_left == Some(lane) {
                Transition::ChangeLeft
            } else {
                Transition::ChangeRight
            };
            let a = from + (to - from) * m as f64 / k;
            let b = from + (to - from) * (m + 1) as f64 / k;
            steps.push((lane, transition, a, b));
        }
        i = j + 1;
    }
    let points = route_points(map, &steps, config);
    let polyline = Polyline::new(points.iter().map(|p| p.position).collect());
    Ok(Route {
        steps: steps
            .iter()
            .map(|&(lane, transition, a, b)| RouteStep {
                lanelet: lanes[lane].lanelet,
                inverted: lanes[lane].inverted,
                transition,
                from_s_m: a * lanes[lane].length_m(),
                to_s_m: b * lanes[lane].length_m(),
            })
            .collect(),
        length_m: polyline.length(),
        points,
        travel_time_s: cost as f64 / MICROS,
        goal,
        polyline,
    })
}

fn smoothstep(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

/// Samples the steps into route points, blending across lane changes.
fn route_points(map: &LaneletMap, steps: &[(usize, Transition, f64, f64)], config: &RouteConfig) -> Vec<RoutePoint> {
    let lanes = map.lanes();
    let spacing = config.spacing_m.max(0.1);
    let mut out: Vec<RoutePoint> = Vec::new();
    for (k, &(lane, _, a, b)) in steps.iter().enumerate() {
        let l = &lanes[lane];
        let len = l.length_m();
        let n = (((b - a) * len) / spacing).ceil().max(1.0) as usize;
        // Blend windows (as fractions of this lane) with the lane changed from / into.
        let half_window = |other: usize| {
            let stretch = (b - a).min(1.0) * len;
            let w = (config.lane_change_length_m / 2.0).min(stretch).max(0.0);
            (other, w / len.max(1e-9))
        };
        let prev = (k > 0 && matches!(steps[k].1, Transition::ChangeLeft | Transition::ChangeRight))
            .then(|| half_window(steps[k - 1].0));
        let next = steps
            .get(k + 1)
            .filter(|s| matches!(s.1, Transition::ChangeLeft | Transition::ChangeRight))
            .map(|s| half_window(s.0));
        for i in 0..=n {
            let f = a + (b - a) * i as f64 / n as f64;
            let here = l.centerline.point_at_fraction(f);
            // Weight of the other lane: 0.5 at the change point, 0 a half window away.
            let mut pos = here;
            let mut speed = l.speed_limit_mps;
            if let Some((o, w)) = prev.filter(|(_, w)| *w > 0.0 && f < a + w) {
                let u = 0.5 * (1.0 - smoothstep((f - a) / w));
                pos = here + (lanes[o].centerline.point_at_fraction(f) - here) * u;
                speed = speed.min(lanes[o].speed_limit_mps);
            }
            if let Some((o, w)) = next.filter(|(_, w)| *w > 0.0 && f > b - w) {
                let u = 0.5 * smoothstep((f - (b - w)) / w);
                pos = here + (lanes[o].centerline.point_at_fraction(f) - here) * u;
                speed = speed.min(lanes[o].speed_limit_mps);
            }
            if out.last().is_some_and(|q| (q.position - pos).norm() < 0.05 * spacing) {
                continue;
            }
            // Room to the sides, from this lane's bounds (and changeable neighbours).
            let s = f * len;
            let heading = l.centerline.heading_at(s);
            let d = (pos - here).dot(&nalgebra::Vector2::new(-heading.sin(), heading.cos()));
            let hw = l.half_width_at(f);
            let width = |o: Option<usize>| o.map(|o| 2.0 * lanes[o].half_width_at(f)).unwrap_or(0.0);
            out.push(RoutePoint {
                position: pos,
                yaw_rad: heading,
                s_m: 0.0,
                speed_limit_mps: speed,
                lanelet: l.lanelet,
                left_bound_m: hw - d,
                right_bound_m: hw + d,
                left_room_m: hw + width(l.change_left) - d,
                right_room_m: hw + width(l.change_right) + d,
            });
        }
    }
    // Arc length and heading from the final points.
    let mut s = 0.0;
    for i in 0..out.len() {
        if i > 0 {
            s += (out[i].position - out[i - 1].position).norm();
        }
        out[i].s_m = s;
        let (a, b) = (out[i.saturating_sub(1)].position, out[(i + 1).min(out.len() - 1)].position);
        if (b - a).norm() > 1e-9 {
            out[i].yaw_rad = (b - a).y.atan2((b - a).x);
        }
    }
    out
}

/// Why a route was (re)planned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReplanReason {
    /// There was no route yet (or the last planning failed).
    NoRoute,
    /// The goal moved by more than [`RouteConfig::goal_tolerance_m`].
    GoalChanged,
    /// The ego was this far (m) from the route path, over [`RouteConfig::replan_lateral_m`].
    LeftRoute {
        /// Distance from the route path, m.
        lateral_m: f64,
    },
}

/// Keeps a route to the current goal, replanning when needed.
#[derive(Debug, Clone, Default)]
pub struct GlobalPlanner {
    /// Parameters.
    pub config: RouteConfig,
    goal: Option<Goal>,
    route: Option<Route>,
}

impl GlobalPlanner {
    /// A planner with `config` and no goal.
    pub fn new(config: RouteConfig) -> Self {
        Self { config, goal: None, route: None }
    }

    /// Sets (or moves) the goal; the next [`update`](Self::update) replans if it moved.
    pub fn set_goal(&mut self, goal: Goal) {
        self.goal = Some(goal);
    }

    /// The current route, if any.
    pub fn route(&self) -> Option<&Route> {
        self.route.as_ref()
    }

    /// Checks the route against the ego state and the goal; replans when there is none, the goal
    /// moved or the ego left the route. Returns why it replanned (`None`: route kept, or no goal
    /// set). A failed plan (no route, off the map) clears the route and is returned as the error.
    pub fn update(&mut self, map: &LaneletMap, ego: &EgoState) -> Result<Option<ReplanReason>> {
        ego.validate()?;
        let Some(goal) = self.goal else { return Ok(None) };
        let goal = goal.in_map(map)?;
        let reason = match &self.route {
            None => Some(ReplanReason::NoRoute),
            Some(r) if (r.goal - goal).norm() > self.config.goal_tolerance_m => Some(ReplanReason::GoalChanged),
            Some(r) => {
                let lateral_m = r.project(ego.position).map(|p| p.d_m.abs()).unwrap_or(f64::INFINITY);
                let heading_off = r
                    .project(ego.position)
                    .map(|p| wrap_angle(ego.yaw_rad - r.polyline.heading_at(p.s_m)).abs() > 0.75 * std::f64::consts::PI)
                    .unwrap_or(false);
                (lateral_m > self.config.replan_lateral_m || heading_off)
                    .then_some(ReplanReason::LeftRoute { lateral_m })
            }
        };
        if reason.is_some() {
            self.route = None;
            self.route = Some(plan_route(map, ego.position, ego.yaw_rad, goal, &self.config)?);
        }
        Ok(reason)
    }
}
