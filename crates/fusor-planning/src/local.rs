//! Local path: at every fused frame, a path over the next ~50 m that follows the route and keeps
//! clear of tracked obstacles.
//!
//! A Frenet lattice around the route path: lateral end offsets (every
//! [`LocalConfig::lateral_step_m`] within the drivable room, which includes a neighbour lane when
//! a lane change into it is allowed) reached by quintic transitions of a few lengths, each
//! combined with a few speed profiles (cruise at fractions of the limit, stops before obstacles,
//! the goal and anything crossing the route). Every candidate is checked against the obstacles
//! predicted at constant velocity (boxes inflated by a margin that grows with time) using three
//! circles covering the ego footprint, and scored for clearance, comfort (offset, lateral and
//! longitudinal acceleration, consistency with the last plan) and progress. Anything crossing the
//! route ahead (lateral speed over [`LocalConfig::yield_lateral_speed_mps`], predicted to enter
//! the drivable room) is yielded to: every candidate stops before it. When no candidate is free,
//! the fallback is the hardest allowed stop on the current offset.

use crate::error::{PlanningError, Result};
use crate::geometry::{distance_to_rect, wrap_angle, P2};
use crate::path::{PathPose, PlannedPath};
use crate::route::{EgoState, Route};
use fusor_core::{Duration, FrameId, ObjectClass, Track};
use nalgebra::{Point3, Vector2};

/// The ego footprint, relative to `base_link` (rear axle centre).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VehicleShape {
    /// Overall length, m.
    pub length_m: f64,
    /// Overall width, m.
    pub width_m: f64,
    /// From the rear bumper to the rear axle, m.
    pub rear_overhang_m: f64,
}

impl Default for VehicleShape {
    /// A mid-size car (4.5 m × 1.8 m, rear overhang 0.9 m).
    fn default() -> Self {
        Self { length_m: 4.5, width_m: 1.8, rear_overhang_m: 0.9 }
    }
}

impl VehicleShape {
    /// From `base_link` to the front bumper, m.
    pub fn front_m(&self) -> f64 {
        self.length_m - self.rear_overhang_m
    }

    /// Three circles (offset along the heading from `base_link` in m, radius in m) covering the
    /// footprint.
    fn circles(&self) -> ([f64; 3], f64) {
        let part = self.length_m / 3.0;
        let r = (part / 2.0).hypot(self.width_m / 2.0);
        let first = -self.rear_overhang_m + part / 2.0;
        ([first, first + part, first + 2.0 * part], r)
    }
}

/// Local planner parameters. Weights are dimensionless multipliers of normalised cost terms.
/// (A pipeline's `plan.local` table: every key optional, unknown keys are errors.)
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalConfig {
    /// Path length ahead of the ego, m.
    pub horizon_m: f64,
    /// Spacing of path points, m.
    pub spacing_m: f64,
    /// Obstacle prediction horizon, s (positions are held beyond it).
    pub horizon_s: f64,
    /// Grid of lateral end offsets, m.
    pub lateral_step_m: f64,
    /// Lateral transition durations at the current speed, s (at least `min_transition_m`).
    pub transition_s: Vec<f64>,
    /// Shortest lateral transition, m.
    pub min_transition_m: f64,
    /// Cruise speed profiles as fractions of the speed limit.
    pub speed_fractions: Vec<f64>,
    /// Acceleration, m/s².
    pub accel_mps2: f64,
    /// Comfortable deceleration, m/s².
    pub comfort_decel_mps2: f64,
    /// Hardest deceleration allowed, m/s².
    pub max_decel_mps2: f64,
    /// Lateral acceleration limit in curves, m/s².
    pub max_lateral_accel_mps2: f64,
    /// Smallest gap between the ego footprint and an obstacle box, m (plus growth over time).
    pub safety_margin_m: f64,
    /// Extra margin around pedestrians and cyclists, m.
    pub vulnerable_margin_m: f64,
    /// Growth of the margin with prediction time, m/s.
    pub margin_growth_mps: f64,
    /// Gap below which clearance is penalised, m.
    pub preferred_clearance_m: f64,
    /// Gap between the front bumper and an obstacle when stopping for it, m.
    pub stop_gap_m: f64,
    /// Objects moving across the route faster than this (m/s) are yielded to.
    pub yield_lateral_speed_mps: f64,
    /// The ego footprint.
    pub vehicle: VehicleShape,
    /// Weight of clearance below the preferred gap.
    pub w_clearance: f64,
    /// Weight of lateral offset from the nearest usable lane centre.
    pub w_offset: f64,
    /// Weight (relative to `w_offset`) of lateral offset from the route's own lane centre.
    pub w_route_lane: f64,
    /// Weight of lateral acceleration.
    pub w_lateral: f64,
    /// Weight of longitudinal acceleration.
    pub w_accel: f64,
    /// Weight of speed below the limit (progress).
    pub w_progress: f64,
    /// Weight of a change of end offset from the last plan.
    pub w_consistency: f64,
    /// Weight of leaving the drivable room beyond the lateral transition (m², per sample).
    pub w_room: f64,
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            horizon_m: 50.0,
            spacing_m: 1.0,
            horizon_s: 6.0,
            lateral_step_m: 0.5,
            transition_s: vec![2.0, 3.0, 4.5],
            min_transition_m: 10.0,
            speed_fractions: vec![1.0, 0.6, 0.3],
            accel_mps2: 1.5,
            comfort_decel_mps2: 2.5,
            max_decel_mps2: 7.0,
            max_lateral_accel_mps2: 2.0,
            safety_margin_m: 0.5,
            vulnerable_margin_m: 0.5,
            margin_growth_mps: 0.1,
            preferred_clearance_m: 2.0,
            stop_gap_m: 2.5,
            yield_lateral_speed_mps: 0.5,
            vehicle: VehicleShape::default(),
            w_clearance: 1.0,
            w_offset: 0.05,
            w_route_lane: 0.1,
            w_lateral: 0.05,
            w_accel: 0.05,
            w_progress: 5.0,
            w_consistency: 0.05,
            w_room: 1.0,
        }
    }
}

impl LocalConfig {
    /// Checks that lengths, times, limits and weights are finite and in range; the error names
    /// the key.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("horizon_m", self.horizon_m),
            ("spacing_m", self.spacing_m),
            ("horizon_s", self.horizon_s),
            ("lateral_step_m", self.lateral_step_m),
            ("min_transition_m", self.min_transition_m),
            ("accel_mps2", self.accel_mps2),
            ("comfort_decel_mps2", self.comfort_decel_mps2),
            ("max_decel_mps2", self.max_decel_mps2),
            ("max_lateral_accel_mps2", self.max_lateral_accel_mps2),
            ("vehicle.length_m", self.vehicle.length_m),
            ("vehicle.width_m", self.vehicle.width_m),
        ];
        for (key, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(PlanningError::invalid(format!("local.{key}"), format!("must be finite and > 0, got {v}")));
            }
        }
        let non_negative = [
            ("safety_margin_m", self.safety_margin_m),
            ("vulnerable_margin_m", self.vulnerable_margin_m),
            ("margin_growth_mps", self.margin_growth_mps),
            ("preferred_clearance_m", self.preferred_clearance_m),
            ("stop_gap_m", self.stop_gap_m),
            ("yield_lateral_speed_mps", self.yield_lateral_speed_mps),
            ("vehicle.rear_overhang_m", self.vehicle.rear_overhang_m),
            ("w_clearance", self.w_clearance),
            ("w_offset", self.w_offset),
            ("w_route_lane", self.w_route_lane),
            ("w_lateral", self.w_lateral),
            ("w_accel", self.w_accel),
            ("w_progress", self.w_progress),
            ("w_consistency", self.w_consistency),
            ("w_room", self.w_room),
        ];
        for (key, v) in non_negative {
            if !(v.is_finite() && v >= 0.0) {
                return Err(PlanningError::invalid(
                    format!("local.{key}"),
                    format!("must be finite and >= 0, got {v}"),
                ));
            }
        }
        if self.spacing_m > self.horizon_m || self.horizon_m / self.spacing_m > 10_000.0 {
            return Err(PlanningError::invalid(
                "local.spacing_m",
                format!("{} m over a {} m horizon: 1 to 10000 samples allowed", self.spacing_m, self.horizon_m),
            ));
        }
        if self.vehicle.rear_overhang_m >= self.vehicle.length_m {
            return Err(PlanningError::invalid("local.vehicle.rear_overhang_m", "must be shorter than the vehicle"));
        }
        for (key, list, max) in
            [("transition_s", &self.transition_s, 60.0), ("speed_fractions", &self.speed_fractions, 1.5)]
        {
            if list.is_empty() || list.len() > 16 || list.iter().any(|v| !(v.is_finite() && *v > 0.0 && *v <= max)) {
                return Err(PlanningError::invalid(
                    format!("local.{key}"),
                    format!("needs 1 to 16 values in (0, {max}], got {list:?}"),
                ));
            }
        }
        Ok(())
    }
}

/// Why the local path stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StopReason {
    /// The route ends (goal) within the horizon.
    Goal,
    /// Yielding to the track with this id, which crosses the route.
    Yield(u64),
    /// The track with this id blocks every way past it.
    Blocked(u64),
}

/// What the chosen local path does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// Follows the route at (close to) zero offset.
    Follow,
    /// Moves to a lateral offset (m, left positive) within the lane.
    Nudge(f64),
    /// Moves into the neighbour lane (end offset in m, left positive).
    ChangeLane(f64),
    /// Comes to a stop `distance_m` (m, along the route) ahead of `base_link`.
    Stop {
        /// Why.
        reason: StopReason,
        /// Distance to the stop point along the route, m.
        distance_m: f64,
    },
    /// No candidate is free of collisions: the hardest allowed stop on the current offset.
    EmergencyStop,
}

/// A local path and how it was chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalPath {
    /// Poses of `base_link` in `map`, stamped with the planned time of passage, with speeds.
    pub path: PlannedPath,
    /// What the path does.
    pub decision: Decision,
    /// Lateral end offset from the route path, m (left positive).
    pub end_offset_m: f64,
    /// Smallest predicted gap between the ego footprint and an (uninflated) obstacle box over the
    /// path, m (capped at 10 m).
    pub min_clearance_m: f64,
    /// Candidates scored.
    pub candidates: usize,
    /// Candidates free of collisions.
    pub free_candidates: usize,
}

/// Distance after a lateral transition within which a candidate must stay in the drivable room, m.
const ROOM_HARD_M: f64 = 15.0;

#[derive(Debug, Clone)]
struct Obstacle {
    id: u64,
    center: P2,
    velocity: Vector2<f64>,
    cos: f64,
    sin: f64,
    half_l: f64,
    half_w: f64,
    radius: f64,
    margin: f64,
    moving: bool,
}

impl Obstacle {
    fn at(&self, t: f64) -> P2 {
        self.center + self.velocity * t
    }
}

/// Reference samples along the route ahead of the ego.
#[derive(Debug, Default)]
struct Reference {
    pos: Vec<P2>,
    heading: Vec<f64>,
    kappa: Vec<f64>,
    speed_limit: Vec<f64>,
    left_room: Vec<f64>,
    right_room: Vec<f64>,
    /// Offsets of the usable lane centres (own first), m.
    centres: Vec<[f64; 3]>,
}

struct Profile {
    v: Vec<f64>,
    t: Vec<f64>,
    /// Number of samples the path keeps: up to and including the stopped one (`len` when it never
    /// stops).
    stop_at: usize,
    stop: Option<StopReason>,
    feasible: bool,
}

/// The local planner. Keeps the last end offset (for consistency) and the ego's last position on
/// the route (to search near it).
#[derive(Debug, Clone, Default)]
pub struct LocalPlanner {
    /// Parameters.
    pub config: LocalConfig,
    last_offset_m: Option<f64>,
}

fn quintic(d0: f64, dd0: f64, d1: f64, length: f64) -> [f64; 6] {
    // d(x) = d0 + dd0 x + a3 x³ + a4 x⁴ + a5 x⁵ with d(L) = d1, d'(L) = d''(L) = 0, d''(0) = 0.
    let l = length;
    let (l2, l3) = (l * l, l * l * l);
    let h = d1 - d0 - dd0 * l;
    let g = -dd0;
    let a3 = (10.0 * h - 4.0 * g * l) / l3;
    let a4 = (-15.0 * h + 7.0 * g * l) / (l3 * l);
    let a5 = (6.0 * h - 3.0 * g * l) / (l3 * l2);
    [d0, dd0, 0.0, a3, a4, a5]
}

impl LocalPlanner {
    /// A planner with `config`.
    pub fn new(config: LocalConfig) -> Self {
        Self { config, last_offset_m: None }
    }

    fn reference(&self, route: &Route, s_start: f64, n: usize) -> Reference {
        let ds = self.config.spacing_m;
        let pts = &route.points;
        let mut r = Reference::default();
        let mut idx = 0;
        for k in 0..=n {
            let s = s_start + k as f64 * ds;
            while idx + 2 < pts.len() && pts[idx + 1].s_m < s {
                idx += 1;
            }
            let (a, b) = (&pts[idx], &pts[(idx + 1).min(pts.len() - 1)]);
            let span = b.s_m - a.s_m;
            let u = if span > 1e-9 { ((s - a.s_m) / span).clamp(0.0, 1.0) } else { 0.0 };
            r.pos.push(a.position + (b.position - a.position) * u);
            r.heading.push(a.yaw_rad + wrap_angle(b.yaw_rad - a.yaw_rad) * u);
            r.speed_limit.push(a.speed_limit_mps.min(b.speed_limit_mps));
            r.left_room.push(a.left_room_m + (b.left_room_m - a.left_room_m) * u);
            r.right_room.push(a.right_room_m + (b.right_room_m - a.right_room_m) * u);
            let nearest = if u < 0.5 { a } else { b };
            let mut centres = [f64::NAN; 3];
            for (slot, c) in centres.iter_mut().zip(nearest.lane_centres_m()) {
                *slot = c;
            }
            r.centres.push(centres);
        }
        // Curvature from heading differences over ±3 samples, then averaged over ±5: map
        // centrelines are polylines whose heading jumps at the vertices, so a short difference
        // sees spikes and straight bits instead of the arc.
        let raw: Vec<f64> = (0..=n)
            .map(|k| {
                let (a, b) = (k.saturating_sub(3), (k + 3).min(n));
                if b > a {
                    wrap_angle(r.heading[b] - r.heading[a]) / ((b - a) as f64 * ds)
                } else {
                    0.0
                }
            })
            .collect();
        for k in 0..=n {
            let (a, b) = (k.saturating_sub(5), (k + 5).min(n));
            r.kappa.push(raw[a..=b].iter().sum::<f64>() / (b - a + 1) as f64);
        }
        r
    }

    fn obstacles(&self, tracks: &[Track], ego: P2) -> Result<Vec<Obstacle>> {
        let c = &self.config;
        let mut out = Vec::new();
        for t in tracks {
            if t.bbox.frame_id.as_str() != FrameId::MAP {
                return Err(PlanningError::invalid(
                    "track",
                    format!(
                        "track {} is in frame {:?}, the planner needs {:?}",
                        t.id,
                        t.bbox.frame_id.as_str(),
                        FrameId::MAP
                    ),
                ));
            }
            let vals = [
                t.bbox.center.x,
                t.bbox.center.y,
                t.bbox.size.x,
                t.bbox.size.y,
                t.bbox.yaw_rad,
                t.velocity.x,
                t.velocity.y,
            ];
            if vals.iter().any(|v| !v.is_finite()) || t.bbox.size.x < 0.0 || t.bbox.size.y < 0.0 {
                return Err(PlanningError::invalid(
                    "track",
                    format!("track {} has a non-finite or negative box/velocity", t.id),
                ));
            }
            let center = P2::new(t.bbox.center.x, t.bbox.center.y);
            let velocity = Vector2::new(t.velocity.x, t.velocity.y);
            let (half_l, half_w) = (t.bbox.size.x / 2.0, t.bbox.size.y / 2.0);
            let radius = half_l.hypot(half_w);
            // Too far to matter within the horizon, wherever it goes.
            let reach = c.horizon_m + c.vehicle.length_m + radius + velocity.norm() * c.horizon_s + 5.0;
            if (center - ego).norm() > reach {
                continue;
            }
            let vulnerable = matches!(t.class, ObjectClass::Pedestrian | ObjectClass::Cyclist);
            let (sin, cos) = t.bbox.yaw_rad.sin_cos();
            out.push(Obstacle {
                id: t.id,
                center,
                velocity,
                cos,
                sin,
                half_l,
                half_w,
                radius,
                margin: c.safety_margin_m + if vulnerable { c.vulnerable_margin_m } else { 0.0 },
                moving: velocity.norm() > 0.2,
            });
        }
        Ok(out)
    }

    /// Speed profile over `n + 1` samples: cruise at `fraction` of the limit (lowered in curves),
    /// stopping at sample `stop` (if any).
    fn profile(&self, r: &Reference, v0: f64, fraction: f64, stop: Option<(usize, StopReason)>) -> Profile {
        let c = &self.config;
        let ds = c.spacing_m;
        let n = r.pos.len() - 1;
        let cap = |k: usize| {
            let curve = (c.max_lateral_accel_mps2 / r.kappa[k].abs().max(1e-6)).sqrt();
            (r.speed_limit[k] * fraction).min(curve)
        };
        let mut v = vec![v0.max(0.0); n + 1];
        // Accelerate up to each sample's cap (limit and curve)...
        for k in 1..=n {
            let up = (v[k - 1] * v[k - 1] + 2.0 * c.accel_mps2 * ds).sqrt();
            v[k] = up.min(cap(k));
        }
        // ...brake ahead of lower caps (curves, slower limits) at the comfortable rate...
        for k in (1..n).rev() {
            let bound = (v[k + 1] * v[k + 1] + 2.0 * c.comfort_decel_mps2 * ds).sqrt();
            v[k] = v[k].min(bound);
        }
        // ...but never brake harder than the vehicle can from the current speed: a curve taken
        // too fast is taken as slowly as `max_decel_mps2` allows.
        for k in 1..=n {
            let floor = (v[k - 1] * v[k - 1] - 2.0 * c.max_decel_mps2 * ds).max(0.0).sqrt();
            v[k] = v[k].max(floor);
        }
        let mut feasible = true;
        let mut stop_at = n + 1;
        let mut reason = None;
        if let Some((ks, why)) = stop {
            let dist = ks as f64 * ds;
            let needed = v0 * v0 / (2.0 * dist.max(ds));
            let b = needed.max(c.comfort_decel_mps2);
            feasible = b <= c.max_decel_mps2;
            let b = b.min(c.max_decel_mps2);
            let ks_eff = ks.max(1);
            for (k, vk) in v.iter_mut().enumerate().skip(1) {
                *vk = if k >= ks_eff { 0.0 } else { vk.min((2.0 * b * (ks_eff - k) as f64 * ds).sqrt()) };
            }
            // The stopped pose itself is the path's last; a stop at the ego is taken 1 sample on.
            let ks = ks.max(1).min(n);
            v[ks] = 0.0;
            stop_at = ks + 1;
            reason = Some(why);
        }
        let mut t = vec![0.0; n + 1];
        for k in 1..=n {
            let avg = 0.5 * (v[k - 1] + v[k]);
            t[k] = t[k - 1] + if avg > 1e-3 { ds / avg } else { f64::INFINITY };
        }
        Profile { v, t, stop_at, stop: reason, feasible }
    }

    /// Plans a local path for the ego along `route`, around `tracks` (boxes and velocities in `map`).
    pub fn plan(&mut self, route: &Route, ego: &EgoState, tracks: &[Track]) -> Result<LocalPath> {
        ego.validate()?;
        let c = self.config.clone();
        if !(c.spacing_m > 0.0 && c.horizon_m > 0.0) {
            return Err(PlanningError::invalid("local planner config", "spacing and horizon must be positive"));
        }
        let ds = c.spacing_m;
        let proj = route
            .project(ego.position)
            .ok_or_else(|| PlanningError::invalid("route", "route has fewer than two points"))?;
        let (s_e, d_e) = (proj.s_m, proj.d_m);
        let n = (((route.length_m - s_e).min(c.horizon_m)) / ds).floor().max(0.0) as usize;
        let r = self.reference(route, s_e, n.max(1));
        let heading_err = wrap_angle(ego.yaw_rad - r.heading[0]);
        let dd_e = heading_err.tan().clamp(-1.0, 1.0);
        let v0 = ego.speed_mps.max(0.0);
        let obstacles = self.obstacles(tracks, ego.position)?;
        let (offsets, ego_r) = c.vehicle.circles();
        let hw = c.vehicle.width_m / 2.0;
        let front = c.vehicle.front_m();

        // Frenet position of each obstacle on the reference.
        let normal = |k: usize| Vector2::new(-r.heading[k].sin(), r.heading[k].cos());
        let tangent = |k: usize| Vector2::new(r.heading[k].cos(), r.heading[k].sin());
        let frenet = |p: P2| -> (f64, f64, usize) {
            let mut best = (f64::INFINITY, 0usize);
            for (k, q) in r.pos.iter().enumerate() {
                let d2 = (p - q).norm_squared();
                if d2 < best.0 {
                    best = (d2, k);
                }
            }
            let k = best.1;
            let v = p - r.pos[k];
            (k as f64 * ds + v.dot(&tangent(k)), v.dot(&normal(k)), k)
        };

        // Stop points (sample index along the reference) and yields.
        let n_samples = r.pos.len() - 1;
        let to_index = |s: f64| -> usize { (s / ds).floor().clamp(0.0, n_samples as f64) as usize };
        let mut forced_stop: Option<(usize, StopReason)> = None;
        let consider_stop = |ks: usize, why: StopReason, into: &mut Option<(usize, StopReason)>| {
            if into.is_none_or(|(k, _)| ks < k) {
                *into = Some((ks, why));
            }
        };
        if route.length_m - s_e <= c.horizon_m + 1e-9 {
            consider_stop(n.min(n_samples), StopReason::Goal, &mut forced_stop);
        }
        let mut blocking_stops: Vec<(usize, StopReason)> = Vec::new();
        for o in &obstacles {
            let (s_o, d_o, k) = frenet(o.center);
            if s_o + o.radius < 0.0 || s_o - o.radius > n_samples as f64 * ds + 1.0 {
                continue;
            }
            let stop_s = s_o - o.radius - c.stop_gap_m - front;
            let v_lat = o.velocity.dot(&normal(k));
            let (lo, hi) = (-r.right_room[k] - hw, r.left_room[k] + hw);
            let crosses = v_lat.abs() > c.yield_lateral_speed_mps && {
                // Does its lateral position enter the drivable room within the horizon?
                let d_end = d_o + v_lat * c.horizon_s;
                let (a, b) = (d_o.min(d_end) - o.radius, d_o.max(d_end) + o.radius);
                let inside_now = d_o + o.radius > lo && d_o - o.radius < hi;
                let approaching = (v_lat > 0.0 && d_o < hi) || (v_lat < 0.0 && d_o > lo);
                b > lo && a < hi && (approaching || inside_now)
            };
            if crosses && s_o - o.radius > front {
                consider_stop(to_index(stop_s), StopReason::Yield(o.id), &mut forced_stop);
            } else if d_o.abs() < r.left_room[k].max(r.right_room[k]) + o.radius && s_o > 0.0 {
                blocking_stops.push((to_index(stop_s), StopReason::Blocked(o.id)));
            }
        }

        // Speed profiles (each also honours the forced stop).
        let mut profiles: Vec<Profile> = Vec::new();
        for &f in &c.speed_fractions {
            profiles.push(self.profile(&r, v0, f, forced_stop));
        }
        for &(ks, why) in &blocking_stops {
            let stop = match forced_stop {
                Some((kf, w)) if kf <= ks => (kf, w),
                _ => (ks, why),
            };
            profiles.push(self.profile(&r, v0, 1.0, Some(stop)));
        }

        // Lateral geometries: end offsets on a grid spanning the widest room ahead; each is then
        // checked against the room sample by sample.
        let room_l = r.left_room.iter().fold(0.0f64, |a, &b| a.max(b));
        let room_r = r.right_room.iter().fold(0.0f64, |a, &b| a.max(b));
        let (d_lo, d_hi) = (-(room_r - hw - 0.1), room_l - hw - 0.1);
        let step = c.lateral_step_m.max(0.05);
        let mut targets: Vec<f64> = Vec::new();
        let (k_lo, k_hi) = ((d_lo / step).ceil() as i64, (d_hi / step).floor() as i64);
        for k in k_lo..=k_hi.max(k_lo - 1) {
            targets.push(k as f64 * step);
        }
        // The lane centres themselves, where the lateral transitions end.
        let k_mid = (20.0 / ds).round().min(n_samples as f64) as usize;
        for c in r.centres[k_mid].iter().filter(|c| c.is_finite()) {
            if *c >= d_lo && *c <= d_hi && targets.iter().all(|t| (t - c).abs() > 0.05) {
                targets.push(*c);
            }
        }
        if targets.is_empty() {
            targets.push(0.0);
        }
        let mut lengths: Vec<f64> = c.transition_s.iter().map(|t| (t * v0).max(c.min_transition_m)).collect();
        lengths.sort_by(f64::total_cmp);
        lengths.dedup_by(|a, b| (*a - *b).abs() < 1.0);

        struct Geometry {
            target: f64,
            d: Vec<f64>,
            dd2: Vec<f64>,
            pos: Vec<P2>,
            yaw: Vec<f64>,
            circles: Vec<[P2; 3]>,
            static_clear: Vec<f64>,
            room_cost: f64,
        }
        let cap = 10.0;
        let mut geometries = Vec::with_capacity(targets.len() * lengths.len());
        for &target in &targets {
            for &len in &lengths {
                let a = quintic(d_e, dd_e, target, len);
                let mut g = Geometry {
                    target,
                    d: Vec::with_capacity(n_samples + 1),
                    dd2: Vec::with_capacity(n_samples + 1),
                    pos: Vec::with_capacity(n_samples + 1),
                    yaw: Vec::with_capacity(n_samples + 1),
                    circles: Vec::with_capacity(n_samples + 1),
                    static_clear: Vec::with_capacity(n_samples + 1),
                    room_cost: 0.0,
                };
                // Within the transition and `ROOM_HARD_M` after it, the path must stay in the
                // room (or leave it no further than the ego already is); beyond, leaving it is
                // penalised (later frames turn back, or the route is replanned from the new lane).
                let k_hard = ((len + ROOM_HARD_M) / ds).ceil() as usize;
                let mut worst0 = 0.0f64;
                let mut room_cost = 0.0;
                let mut feasible = true;
                for k in 0..=n_samples {
                    let x = (k as f64 * ds).min(len);
                    let (d, d1, d2) = if k as f64 * ds >= len {
                        (target, 0.0, 0.0)
                    } else {
                        (
                            a[0] + x * (a[1] + x * (a[2] + x * (a[3] + x * (a[4] + x * a[5])))),
                            a[1] + x * (2.0 * a[2] + x * (3.0 * a[3] + x * (4.0 * a[4] + x * 5.0 * a[5]))),
                            2.0 * a[2] + x * (6.0 * a[3] + x * (12.0 * a[4] + x * 20.0 * a[5])),
                        )
                    };
                    let out_of_room = (d + hw - r.left_room[k]).max(-d + hw - r.right_room[k]).max(0.0);
                    if k == 0 {
                        worst0 = out_of_room;
                    } else if out_of_room > worst0 + 1e-6 {
                        if k <= k_hard {
                            feasible = false;
                            break;
                        }
                        room_cost += out_of_room * out_of_room;
                    }
                    let p = r.pos[k] + normal(k) * d;
                    let yaw = r.heading[k] + d1.atan2(1.0 - r.kappa[k] * d);
                    let dir = Vector2::new(yaw.cos(), yaw.sin());
                    let circles = [p + dir * offsets[0], p + dir * offsets[1], p + dir * offsets[2]];
                    let mut clear = cap;
                    for o in obstacles.iter().filter(|o| !o.moving) {
                        if (p - o.center).norm() - o.radius - front - ego_r > clear {
                            continue;
                        }
                        for q in &circles {
                            let dist =
                                distance_to_rect(*q, o.center, o.cos, o.sin, o.half_l, o.half_w) - ego_r - o.margin;
                            clear = clear.min(dist);
                        }
                    }
                    g.d.push(d);
                    g.dd2.push(d2);
                    g.pos.push(p);
                    g.yaw.push(yaw);
                    g.circles.push(circles);
                    g.static_clear.push(clear);
                }
                g.room_cost = room_cost / (n_samples + 1) as f64;
                if feasible {
                    geometries.push(g);
                }
            }
        }

        // Score every (geometry, profile) pair.
        let mut best: Option<(f64, usize, usize, f64)> = None;
        let mut candidates = 0;
        let mut free = 0;
        let v_ref_sq = r.speed_limit.iter().map(|v| v * v).sum::<f64>() / r.speed_limit.len() as f64;
        for (gi, g) in geometries.iter().enumerate() {
            // A stop that needs more than the hardest braking is no option (the fallback is).
            for (pi, p) in profiles.iter().enumerate().filter(|(_, p)| p.feasible) {
                candidates += 1;
                let last = p.stop_at.min(n_samples + 1);
                let mut min_clear = cap;
                let mut clear_cost = 0.0;
                let mut collides = false;
                for k in 0..last {
                    let mut clear = g.static_clear[k];
                    let t_k = p.t[k].min(c.horizon_s);
                    for o in obstacles.iter().filter(|o| o.moving) {
                        // A stopped ego waits at its last pose for the rest of the horizon.
                        let times: &[f64] = if k + 1 == last && p.stop.is_some() {
                            &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
                        } else {
                            std::slice::from_ref(&t_k)
                        };
                        for &t in times {
                            let t = t.max(t_k).min(c.horizon_s);
                            let oc = o.at(t);
                            if (g.pos[k] - oc).norm() - o.radius - front - ego_r > clear {
                                continue;
                            }
                            let margin = o.margin + c.margin_growth_mps * t;
                            for q in &g.circles[k] {
                                let dist = distance_to_rect(*q, oc, o.cos, o.sin, o.half_l, o.half_w) - ego_r - margin;
                                clear = clear.min(dist);
                            }
                        }
                    }
                    if clear < 0.0 {
                        collides = true;
                        break;
                    }
                    min_clear = min_clear.min(clear);
                    let short = (c.preferred_clearance_m - clear).max(0.0);
                    clear_cost += short * short;
                }
                if collides {
                    continue;
                }
                free += 1;
                let m = last.max(1) as f64;
                // Off-centre in whichever usable lane, plus a little for leaving the route's lane.
                let offset_cost = g.d[..last]
                    .iter()
                    .zip(&r.centres)
                    .map(|(d, cs)| {
                        let off =
                            cs.iter().filter(|c| c.is_finite()).map(|c| (d - c).abs()).fold(f64::INFINITY, f64::min);
                        off.min(d.abs()).powi(2) + c.w_route_lane * d * d
                    })
                    .sum::<f64>()
                    / m;
                let lat_cost = (0..last).map(|k| (p.v[k] * p.v[k] * g.dd2[k]).powi(2)).sum::<f64>() / m;
                let acc_cost =
                    (1..last).map(|k| ((p.v[k] * p.v[k] - p.v[k - 1] * p.v[k - 1]) / (2.0 * ds)).powi(2)).sum::<f64>()
                        / m;
                let progress_cost = (0..=n_samples)
                    .map(|k| {
                        let v = if k < last { p.v[k] } else { 0.0 };
                        (r.speed_limit[k] - v).max(0.0).powi(2)
                    })
                    .sum::<f64>()
                    / ((n_samples + 1) as f64 * v_ref_sq.max(1.0));
                let consistency = self.last_offset_m.map(|o| (g.target - o).powi(2)).unwrap_or(0.0);
                let cost = c.w_clearance * clear_cost / m
                    + c.w_offset * offset_cost
                    + c.w_lateral * lat_cost
                    + c.w_accel * acc_cost
                    + c.w_progress * progress_cost
                    + c.w_consistency * consistency
                    + c.w_room * g.room_cost;

                if best.is_none_or(|(b, ..)| cost < b) {
                    best = Some((cost, gi, pi, min_clear));
                }
            }
        }

        let make_pose = |k: usize, pos: P2, yaw: f64, v: f64, t: f64| PathPose {
            stamp: ego.stamp + Duration::from_secs_f64(if t.is_finite() { t } else { c.horizon_s }),
            position: Point3::new(pos.x, pos.y, 0.0),
            yaw_rad: yaw,
            speed_mps: if k == 0 { v0 } else { v },
        };
        let (poses, decision, end_offset_m, min_clearance_m) = match best {
            Some((_, gi, pi, min_clear)) => {
                let (g, p) = (&geometries[gi], &profiles[pi]);
                let last = p.stop_at.min(n_samples + 1);
                let poses: Vec<PathPose> =
                    (0..last).map(|k| make_pose(k, g.pos[k], g.yaw[k], p.v[k], p.t[k])).collect();
                let lane_half = 0.5 * (r.left_room[0].min(r.right_room[0]) + hw);
                let decision = match p.stop.filter(|_| p.v[last - 1] <= 0.0) {
                    Some(reason) => Decision::Stop { reason, distance_m: (last.saturating_sub(1)) as f64 * ds },
                    None if g.target.abs() < 0.25 => Decision::Follow,
                    None if g.target.abs() > lane_half.max(1.5) => Decision::ChangeLane(g.target),
                    None => Decision::Nudge(g.target),
                };
                (poses, decision, g.target, min_clear)
            }
            None => {
                // Fallback: brake as hard as allowed along the current offset.
                let mut poses = Vec::new();
                let mut v = v0;
                let mut t = 0.0;
                for k in 0..=n_samples {
                    let p = r.pos[k] + normal(k) * d_e;
                    poses.push(make_pose(k, p, r.heading[k], v, t));
                    if v <= 1e-6 {
                        break;
                    }
                    let next = (v * v - 2.0 * c.max_decel_mps2 * ds).max(0.0).sqrt();
                    t += ds / (0.5 * (v + next)).max(1e-3);
                    v = next;
                }
                (poses, Decision::EmergencyStop, d_e, 0.0)
            }
        };
        self.last_offset_m = Some(end_offset_m);
        Ok(LocalPath {
            path: PlannedPath { frame_id: FrameId::new(FrameId::MAP), stamp: ego.stamp, poses },
            decision,
            end_offset_m,
            min_clearance_m: (min_clearance_m + c.safety_margin_m).min(cap),
            candidates,
            free_candidates: free,
        })
    }
}
