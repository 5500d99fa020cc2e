//! The ego vehicle: a route through the town and smooth longitudinal kinematics along it.
//!
//! The speed follows a cruise speed, slows for curves (lateral acceleration limit) and brakes for
//! any actor on the path ahead, with limited acceleration and jerk. The trajectory is integrated
//! at 100 Hz with piecewise-constant acceleration, so arc length is C¹ in time and poses between
//! samples are exact.

use crate::geometry::Ground;
use crate::path::{offset_path, Path};
use crate::rng::{stream, Purpose};
use crate::road::lane_offset_m;
use crate::world::World;
use crate::{Result, SimError};
use nalgebra::{Isometry3, Matrix3, Rotation3, Translation3, UnitQuaternion, Vector3};
use rand::Rng;

/// Integration step in seconds.
pub const EGO_STEP_S: f64 = 0.01;
/// Distance from the rear axle (base_link) to the front bumper in metres.
pub const FRONT_OVERHANG_M: f64 = 3.6;

/// Driving style of the ego.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EgoConfig {
    /// Cruise speed range (m/s); the speed is drawn from it per drive.
    pub cruise_speed_m_s: [f64; 2],
    /// Lateral acceleration allowed in curves (m/s²).
    pub max_lateral_m_s2: f64,
    /// Acceleration limit (m/s²).
    pub max_accel_m_s2: f64,
    /// Comfortable deceleration when anticipating curves and obstacles (m/s²).
    pub comfort_decel_m_s2: f64,
    /// Hard braking limit (m/s²).
    pub max_decel_m_s2: f64,
    /// Distance kept to an obstacle ahead when stopped (m).
    pub standstill_gap_m: f64,
}

impl Default for EgoConfig {
    fn default() -> Self {
        Self {
            cruise_speed_m_s: [10.0, 14.0],
            max_lateral_m_s2: 2.5,
            max_accel_m_s2: 1.5,
            comfort_decel_m_s2: 2.5,
            max_decel_m_s2: 6.0,
            standstill_gap_m: 4.0,
        }
    }
}

/// One integration step of the ego state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EgoSample {
    /// Simulation time in seconds.
    pub t_s: f64,
    /// Arc length along the route in metres.
    pub s_m: f64,
    /// Speed in m/s.
    pub v_m_s: f64,
    /// Acceleration held over the next step, in m/s².
    pub a_m_s2: f64,
}

/// The ego's motion over a drive.
#[derive(Debug, Clone)]
pub struct EgoTrajectory {
    path: Path,
    ground: Ground,
    samples: Vec<EgoSample>,
}

impl EgoTrajectory {
    /// Plans a drive of `duration_s` through `world`'s town, route chosen from `seed`.
    pub fn plan(world: &World, seed: u64, duration_s: f64, config: &EgoConfig) -> Result<Self> {
        let town = world.town().ok_or_else(|| SimError::invalid("ego route", "the world has no road network"))?;
        let mut rng = stream(seed, Purpose::Ego, 0, 0);
        let route = town.random_route(&mut rng, config.cruise_speed_m_s[1].max(15.0) * duration_s + 100.0);
        let path = offset_path(&route, lane_offset_m(0), 12.0, 0.3);
        let [lo, hi] = config.cruise_speed_m_s;
        let cruise = if hi > lo { rng.gen_range(lo..hi) } else { lo };
        Ok(Self::along(path, world, duration_s, cruise, config))
    }

    /// Integrates a drive along `path` at up to `cruise_m_s`, braking for `world`'s actors.
    pub fn along(path: Path, world: &World, duration_s: f64, cruise_m_s: f64, config: &EgoConfig) -> Self {
        let steps = (duration_s / EGO_STEP_S).ceil() as usize + 2;
        let mut samples = Vec::with_capacity(steps + 1);
        let arcs: Vec<(f64, f64, f64)> = path.arcs().collect();
        let (mut s, mut v, mut a) = (0.0f64, 0.0f64, 0.0f64);
        // Start at the speed the route allows.
        v = v.max(speed_limit(&arcs, 0.0, cruise_m_s, config));
        for k in 0..=steps {
            let t = k as f64 * EGO_STEP_S;
            let mut target = speed_limit(&arcs, s, cruise_m_s, config);
            if let Some(gap) = obstacle_gap(&path, world, s, t) {
                let room = (gap - config.standstill_gap_m).max(0.0);
                target = target.min((2.0 * config.comfort_decel_m_s2 * room).sqrt());
            }
            let a_cmd = (0.8 * (target - v)).clamp(-config.max_decel_m_s2, config.max_accel_m_s2);
            // Jerk limits: gentle when speeding up, quick when braking.
            a += (a_cmd - a).clamp(-10.0 * EGO_STEP_S, 3.0 * EGO_STEP_S);
            if v + a * EGO_STEP_S < 0.0 {
                a = -v / EGO_STEP_S;
            }
            samples.push(EgoSample { t_s: t, s_m: s, v_m_s: v, a_m_s2: a });
            s += v * EGO_STEP_S + 0.5 * a * EGO_STEP_S * EGO_STEP_S;
            v = (v + a * EGO_STEP_S).max(0.0);
        }
        Self { path, ground: *world.ground(), samples }
    }

    /// The route.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The integration samples (100 Hz).
    pub fn samples(&self) -> &[EgoSample] {
        &self.samples
    }

    /// Arc length (m) and speed (m/s) at time `t_s` (held constant-acceleration between samples).
    pub fn s_v_at(&self, t_s: f64) -> (f64, f64) {
        let Some(last) = self.samples.len().checked_sub(1) else {
            return (0.0, 0.0);
        };
        let k = ((t_s / EGO_STEP_S).floor().max(0.0) as usize).min(last);
        let e = self.samples[k];
        let tau = t_s - e.t_s;
        (e.s_m + e.v_m_s * tau + 0.5 * e.a_m_s2 * tau * tau, e.v_m_s + e.a_m_s2 * tau)
    }

    /// Pose of `base_link` in `map` at time `t_s`: on the ground, x along the route, z along the
    /// ground normal.
    pub fn map_from_base_link(&self, t_s: f64) -> Isometry3<f64> {
        let (s, _) = self.s_v_at(t_s);
        let p = self.path.sample(s);
        pose_on_ground(&self.ground, p.x, p.y, p.heading_rad)
    }

    /// True angular velocity (rad/s) and specific force (m/s², gravity reaction included) of
    /// `base_link` in the `base_link` frame at time `t_s`, by central differences of the pose.
    pub fn imu_truth(&self, t_s: f64) -> (Vector3<f64>, Vector3<f64>) {
        const H: f64 = 1e-3;
        let p0 = self.map_from_base_link(t_s - H);
        let p1 = self.map_from_base_link(t_s);
        let p2 = self.map_from_base_link(t_s + H);
        let acc_map = (p2.translation.vector - 2.0 * p1.translation.vector + p0.translation.vector) / (H * H);
        let d_rot = p0.rotation.inverse() * p2.rotation;
        let omega_body = d_rot.scaled_axis() / (2.0 * H);
        let specific_force_map = acc_map + Vector3::new(0.0, 0.0, crate::imu::GRAVITY_M_S2);
        (omega_body, p1.rotation.inverse() * specific_force_map)
    }
}

/// Pose in `map` of a `base_link` standing on `ground` at (`x`, `y`) m with heading `heading_rad`
/// (about map +z, from east): the origin on the ground, x along the heading tilted with the ground,
/// z along the ground normal.
pub(crate) fn pose_on_ground(ground: &Ground, x: f64, y: f64, heading_rad: f64) -> Isometry3<f64> {
    let z = ground.height(x, y);
    let (sn, cs) = heading_rad.sin_cos();
    let n = Vector3::new(-ground.slope_x, -ground.slope_y, 1.0).normalize();
    let fwd = Vector3::new(cs, sn, ground.slope_x * cs + ground.slope_y * sn).normalize();
    let left = n.cross(&fwd);
    let rot = Rotation3::from_matrix_unchecked(Matrix3::from_columns(&[fwd, left, n]));
    Isometry3::from_parts(Translation3::new(x, y, z), UnitQuaternion::from_rotation_matrix(&rot))
}

/// Speed allowed at arc length `s` by the cruise speed and the curves ahead.
fn speed_limit(arcs: &[(f64, f64, f64)], s: f64, cruise: f64, config: &EgoConfig) -> f64 {
    let mut v: f64 = cruise;
    for &(start, end, radius) in arcs {
        if end < s {
            continue;
        }
        if start > s + 120.0 {
            break;
        }
        let v_curve = (config.max_lateral_m_s2 * radius).sqrt();
        let allowed = if start <= s {
            v_curve
        } else {
            (v_curve * v_curve + 2.0 * config.comfort_decel_m_s2 * (start - s)).sqrt()
        };
        v = v.min(allowed);
    }
    v
}

/// Free distance (m) from the ego's front to the nearest actor on the path ahead, if any within
/// 50 m.
fn obstacle_gap(path: &Path, world: &World, s: f64, t: f64) -> Option<f64> {
    const LOOKAHEAD_M: f64 = 50.0;
    const STEP_M: f64 = 1.0;
    let here = path.sample(s);
    let mut best: Option<f64> = None;
    let probes: Vec<(f64, f64, f64)> = (1..=(LOOKAHEAD_M / STEP_M) as usize)
        .map(|k| {
            let ds = FRONT_OVERHANG_M - 1.0 + k as f64 * STEP_M;
            let p = path.sample(s + ds);
            (ds, p.x, p.y)
        })
        .collect();
    for actor in world.actors() {
        let st = world.actor_state(actor, t);
        let (dx, dy) = (st.xy[0] - here.x, st.xy[1] - here.y);
        if dx * dx + dy * dy > (LOOKAHEAD_M + 10.0) * (LOOKAHEAD_M + 10.0) {
            continue;
        }
        let reach = 1.1 + actor.size[1] / 2.0;
        for &(ds, px, py) in &probes {
            if best.is_some_and(|b| ds > b + FRONT_OVERHANG_M) {
                break;
            }
            if (st.xy[0] - px).hypot(st.xy[1] - py) < reach {
                let gap = (ds - FRONT_OVERHANG_M - actor.size[0] / 2.0).max(0.0);
                best = Some(best.map_or(gap, |b: f64| b.min(gap)));
                break;
            }
        }
    }
    best
}
