//! An externally commanded ego: a kinematic bicycle model that a planner's controller drives
//! with acceleration and steering commands, for closed-loop tests.
//!
//! Unlike [`crate::ego::EgoTrajectory`] (a drive planned ahead of time along the sim's own route),
//! this ego only knows where it is now; each [`ControlledEgo::step`] integrates one
//! [`EGO_STEP_S`] step under the command, after applying the vehicle's limits: steering angle and
//! steering rate, acceleration and deceleration, top speed, no reversing. Within a step the
//! acceleration and the curvature are constant, and the motion along the resulting arc is exact,
//! so a held command gives the textbook stopping distance and turning radius.
//!
//! `base_link` is the rear axle centre on the ground, as everywhere in the sim: the front bumper
//! is [`FRONT_OVERHANG_M`] ahead of it by default. The ground may slope ([`Ground`]); the pose
//! stands on it (z, pitch and roll from the plane), the motion is planar in x/y.

use crate::ego::{pose_on_ground, EgoConfig, EGO_STEP_S, FRONT_OVERHANG_M};
use crate::geometry::Ground;
use crate::{Result, SimError};
use nalgebra::Isometry3;

/// Footprint and limits of a commanded vehicle.
#[derive(Debug, Clone, PartialEq)]
pub struct VehicleConfig {
    /// Distance between the front and the rear axle, m.
    pub wheelbase_m: f64,
    /// Overall length, m.
    pub length_m: f64,
    /// Overall width, m.
    pub width_m: f64,
    /// From `base_link` (rear axle) to the front bumper, m.
    pub front_m: f64,
    /// Largest forward acceleration, m/s².
    pub max_accel_m_s2: f64,
    /// Hardest braking, m/s² (positive).
    pub max_decel_m_s2: f64,
    /// Top speed, m/s.
    pub max_speed_m_s: f64,
    /// Largest front-wheel steering angle either way, rad.
    pub max_steer_rad: f64,
    /// Fastest change of the steering angle, rad/s.
    pub max_steer_rate_rad_s: f64,
}

impl Default for VehicleConfig {
    /// A mid-size car (4.5 m × 1.8 m, wheelbase 2.7 m, front bumper 3.6 m ahead of the rear axle)
    /// with the default drive's acceleration and braking limits ([`EgoConfig::default`]).
    fn default() -> Self {
        Self::from_ego_config(&EgoConfig::default())
    }
}

impl VehicleConfig {
    /// A mid-size car with the acceleration and braking limits of a scenario's `[ego]` table.
    pub fn from_ego_config(ego: &EgoConfig) -> Self {
        Self {
            wheelbase_m: 2.7,
            length_m: 4.5,
            width_m: 1.8,
            front_m: FRONT_OVERHANG_M,
            max_accel_m_s2: ego.max_accel_m_s2,
            max_decel_m_s2: ego.max_decel_m_s2,
            max_speed_m_s: 20.0,
            max_steer_rad: 0.6,
            max_steer_rate_rad_s: 0.7,
        }
    }

    /// From the rear bumper to `base_link`, m.
    pub fn rear_m(&self) -> f64 {
        self.length_m - self.front_m
    }

    /// Checks that every value is finite and in range; the error names the field.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("wheelbase_m", self.wheelbase_m),
            ("length_m", self.length_m),
            ("width_m", self.width_m),
            ("max_accel_m_s2", self.max_accel_m_s2),
            ("max_decel_m_s2", self.max_decel_m_s2),
            ("max_speed_m_s", self.max_speed_m_s),
            ("max_steer_rad", self.max_steer_rad),
            ("max_steer_rate_rad_s", self.max_steer_rate_rad_s),
        ];
        for (key, v) in positive {
            if !(v > 0.0 && v.is_finite()) {
                return Err(SimError::invalid("vehicle config", format!("{key} must be positive, got {v}")));
            }
        }
        if !(self.front_m > 0.0 && self.front_m < self.length_m) {
            return Err(SimError::invalid(
                "vehicle config",
                format!("front_m must lie within the length ({} m), got {}", self.length_m, self.front_m),
            ));
        }
        if self.max_steer_rad >= std::f64::consts::FRAC_PI_2 {
            return Err(SimError::invalid(
                "vehicle config",
                format!("max_steer_rad must be below π/2, got {}", self.max_steer_rad),
            ));
        }
        Ok(())
    }
}

/// What the controller asks of the vehicle for the next step.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EgoCommand {
    /// Longitudinal acceleration, m/s² (negative brakes); clamped to the vehicle's limits.
    pub accel_m_s2: f64,
    /// Front-wheel steering angle, rad (positive turns left); approached at the steering rate
    /// limit and clamped to the largest angle.
    pub steer_rad: f64,
}

/// A kinematic bicycle model on the sim's ground, stepped at [`EGO_STEP_S`] by commands.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlledEgo {
    config: VehicleConfig,
    ground: Ground,
    t_s: f64,
    x_m: f64,
    y_m: f64,
    yaw_rad: f64,
    speed_m_s: f64,
    steer_rad: f64,
    accel_m_s2: f64,
    odometer_m: f64,
}

impl ControlledEgo {
    /// An ego at (`x_m`, `y_m`) in `map` heading `yaw_rad` (from east towards north) at
    /// `speed_m_s`, wheels straight, at simulation time 0 s.
    pub fn new(
        config: VehicleConfig,
        ground: Ground,
        x_m: f64,
        y_m: f64,
        yaw_rad: f64,
        speed_m_s: f64,
    ) -> Result<Self> {
        config.validate()?;
        if ![x_m, y_m, yaw_rad, speed_m_s].iter().all(|v| v.is_finite()) {
            return Err(SimError::invalid(
                "ego start",
                format!("non-finite value in x {x_m}, y {y_m}, yaw {yaw_rad}, speed {speed_m_s}"),
            ));
        }
        if !(0.0..=config.max_speed_m_s).contains(&speed_m_s) {
            return Err(SimError::invalid(
                "ego start",
                format!("speed {speed_m_s} m/s outside [0, {}]", config.max_speed_m_s),
            ));
        }
        Ok(Self {
            config,
            ground,
            t_s: 0.0,
            x_m,
            y_m,
            yaw_rad,
            speed_m_s,
            steer_rad: 0.0,
            accel_m_s2: 0.0,
            odometer_m: 0.0,
        })
    }

    /// Advances one [`EGO_STEP_S`] step under `command`. A non-finite command is refused (the
    /// state is left as it was); anything out of range is clamped to the limits.
    pub fn step(&mut self, command: &EgoCommand) -> Result<()> {
        if !(command.accel_m_s2.is_finite() && command.steer_rad.is_finite()) {
            return Err(SimError::invalid(
                "ego command",
                format!("non-finite accel {} m/s² or steer {} rad", command.accel_m_s2, command.steer_rad),
            ));
        }
        let c = &self.config;
        let dt = EGO_STEP_S;
        let steer_goal = command.steer_rad.clamp(-c.max_steer_rad, c.max_steer_rad);
        let max_turn = c.max_steer_rate_rad_s * dt;
        self.steer_rad += (steer_goal - self.steer_rad).clamp(-max_turn, max_turn);

        let v0 = self.speed_m_s;
        let mut a = command.accel_m_s2.clamp(-c.max_decel_m_s2, c.max_accel_m_s2);
        if v0 + a * dt > c.max_speed_m_s {
            a = (c.max_speed_m_s - v0) / dt;
        }
        // No reversing: braking to a standstill within the step covers v0² / 2|a| and stays there.
        let (ds, v1) =
            if v0 + a * dt < 0.0 { (v0 * v0 / (-2.0 * a), 0.0) } else { (v0 * dt + 0.5 * a * dt * dt, v0 + a * dt) };
        if v0 <= 0.0 && a < 0.0 {
            a = 0.0;
        }
        // Along an arc of constant curvature: the chord runs at half the heading change.
        let kappa = self.steer_rad.tan() / c.wheelbase_m;
        let dyaw = kappa * ds;
        let half = 0.5 * dyaw;
        let chord = if half.abs() < 1e-9 { ds } else { ds * half.sin() / half };
        let (sn, cs) = (self.yaw_rad + half).sin_cos();
        self.x_m += chord * cs;
        self.y_m += chord * sn;
        self.yaw_rad = wrap(self.yaw_rad + dyaw);
        self.speed_m_s = v1;
        self.accel_m_s2 = a;
        self.odometer_m += ds;
        self.t_s += dt;
        Ok(())
    }

    /// The vehicle.
    pub fn config(&self) -> &VehicleConfig {
        &self.config
    }

    /// Simulation time in seconds (0 at [`new`](Self::new), [`EGO_STEP_S`] per step).
    pub fn t_s(&self) -> f64 {
        self.t_s
    }

    /// Position of `base_link` (x, y) in metres in `map`.
    pub fn position_xy(&self) -> [f64; 2] {
        [self.x_m, self.y_m]
    }

    /// Heading in radians in `map` (from east towards north), in (−π, π].
    pub fn yaw_rad(&self) -> f64 {
        self.yaw_rad
    }

    /// Forward speed in m/s (never negative).
    pub fn speed_m_s(&self) -> f64 {
        self.speed_m_s
    }

    /// Front-wheel steering angle in radians (positive left), as reached under the rate limit.
    pub fn steer_rad(&self) -> f64 {
        self.steer_rad
    }

    /// Acceleration applied over the last step, m/s² (after the limits).
    pub fn accel_m_s2(&self) -> f64 {
        self.accel_m_s2
    }

    /// Path curvature of the current steering angle, 1/m (positive left).
    pub fn curvature_per_m(&self) -> f64 {
        self.steer_rad.tan() / self.config.wheelbase_m
    }

    /// Distance driven since the start, m.
    pub fn odometer_m(&self) -> f64 {
        self.odometer_m
    }

    /// Pose of `base_link` in `map`: on the ground, x along the heading, z along the ground
    /// normal.
    pub fn map_from_base_link(&self) -> Isometry3<f64> {
        pose_on_ground(&self.ground, self.x_m, self.y_m, self.yaw_rad)
    }

    /// Corners (x, y) in metres in `map` of the footprint seen from above, counter-clockwise from
    /// the front left.
    pub fn footprint_xy(&self) -> [[f64; 2]; 4] {
        let c = &self.config;
        let (sn, cs) = self.yaw_rad.sin_cos();
        let hw = 0.5 * c.width_m;
        let corner = |along: f64, left: f64| [self.x_m + cs * along - sn * left, self.y_m + sn * along + cs * left];
        [corner(c.front_m, hw), corner(-c.rear_m(), hw), corner(-c.rear_m(), -hw), corner(c.front_m, -hw)]
    }
}

fn wrap(a: f64) -> f64 {
    let a = a.rem_euclid(std::f64::consts::TAU);
    if a > std::f64::consts::PI {
        a - std::f64::consts::TAU
    } else {
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use nalgebra::Vector3;

    fn ego_at(speed: f64) -> ControlledEgo {
        ControlledEgo::new(VehicleConfig::default(), Ground::FLAT, 0.0, 0.0, 0.0, speed).unwrap()
    }

    fn hold(ego: &mut ControlledEgo, command: EgoCommand, seconds: f64) {
        for _ in 0..(seconds / EGO_STEP_S).round() as usize {
            ego.step(&command).unwrap();
        }
    }

    #[test]
    fn full_braking_stops_after_v_squared_over_twice_the_deceleration() {
        let mut ego = ego_at(12.0);
        let decel = ego.config().max_decel_m_s2;
        // Asking for more than the brakes give brakes at the limit.
        let brake = EgoCommand { accel_m_s2: -100.0, steer_rad: 0.0 };
        let mut stopped_at = None;
        for k in 1..=400 {
            ego.step(&brake).unwrap();
            if ego.speed_m_s() == 0.0 && stopped_at.is_none() {
                stopped_at = Some(k as f64 * EGO_STEP_S);
            }
        }
        assert_relative_eq!(ego.position_xy()[0], 144.0 / (2.0 * decel), epsilon = 1e-9);
        assert_eq!(ego.position_xy()[1], 0.0);
        assert_relative_eq!(ego.odometer_m(), 144.0 / (2.0 * decel), epsilon = 1e-9);
        // 12 / 6 = 2 s, to the step.
        let t = stopped_at.unwrap();
        assert!((t - 12.0 / decel).abs() <= EGO_STEP_S + 1e-9, "stopped after {t} s");
        // Standing still, a braking command does not reverse.
        assert_eq!(ego.speed_m_s(), 0.0);
        assert_eq!(ego.accel_m_s2(), 0.0);
    }

    #[test]
    fn held_steering_drives_a_circle_of_wheelbase_over_tan_steer() {
        let mut ego = ego_at(5.0);
        let steer = 0.2;
        let cruise = EgoCommand { accel_m_s2: 0.0, steer_rad: steer };
        // The wheels turn at 0.7 rad/s: 0.2 rad after ~0.29 s.
        hold(&mut ego, cruise, 1.0);
        assert_relative_eq!(ego.steer_rad(), steer, epsilon = 1e-12);
        let radius = ego.config().wheelbase_m / steer.tan();
        let [x, y] = ego.position_xy();
        let yaw = ego.yaw_rad();
        let centre = [x - radius * yaw.sin(), y + radius * yaw.cos()];
        let mut swept = 0.0;
        for _ in 0..1000 {
            let before = ego.yaw_rad();
            ego.step(&cruise).unwrap();
            swept += wrap(ego.yaw_rad() - before);
            let [x, y] = ego.position_xy();
            assert_relative_eq!((x - centre[0]).hypot(y - centre[1]), radius, epsilon = 1e-9);
        }
        // 10 s at 5 m/s on the circle: 50 m of arc, turning left.
        assert_relative_eq!(swept, 50.0 / radius, epsilon = 1e-9);
        assert_relative_eq!(ego.speed_m_s(), 5.0, epsilon = 1e-12);
    }

    #[test]
    fn steering_rate_steering_angle_acceleration_and_top_speed_are_limits() {
        let mut ego = ego_at(19.0);
        let c = ego.config().clone();
        let floor_it = EgoCommand { accel_m_s2: 50.0, steer_rad: 2.0 };
        ego.step(&floor_it).unwrap();
        assert_relative_eq!(ego.steer_rad(), c.max_steer_rate_rad_s * EGO_STEP_S, epsilon = 1e-12);
        assert_relative_eq!(ego.accel_m_s2(), c.max_accel_m_s2, epsilon = 1e-12);
        let mut last_steer = ego.steer_rad();
        for _ in 0..300 {
            ego.step(&floor_it).unwrap();
            assert!(ego.steer_rad() - last_steer <= c.max_steer_rate_rad_s * EGO_STEP_S + 1e-12);
            assert!(ego.steer_rad() <= c.max_steer_rad);
            assert!(ego.speed_m_s() <= c.max_speed_m_s + 1e-12);
            last_steer = ego.steer_rad();
        }
        assert_relative_eq!(ego.steer_rad(), c.max_steer_rad, epsilon = 1e-12);
        assert_relative_eq!(ego.speed_m_s(), c.max_speed_m_s, epsilon = 1e-9);
        // Full lock the other way takes 2 × max / rate seconds.
        let other_way = EgoCommand { accel_m_s2: 0.0, steer_rad: -2.0 };
        let steps = (2.0 * c.max_steer_rad / (c.max_steer_rate_rad_s * EGO_STEP_S)).ceil() as usize;
        for _ in 0..steps - 1 {
            ego.step(&other_way).unwrap();
        }
        assert!(ego.steer_rad() > -c.max_steer_rad);
        ego.step(&other_way).unwrap();
        assert_relative_eq!(ego.steer_rad(), -c.max_steer_rad, epsilon = 1e-12);
        // Speeding up from rest follows the acceleration limit.
        let mut ego = ego_at(0.0);
        hold(&mut ego, EgoCommand { accel_m_s2: 9.0, steer_rad: 0.0 }, 2.0);
        assert_relative_eq!(ego.speed_m_s(), 2.0 * c.max_accel_m_s2, epsilon = 1e-9);
        assert_relative_eq!(ego.position_xy()[0], 0.5 * c.max_accel_m_s2 * 4.0, epsilon = 1e-9);
    }

    #[test]
    fn non_finite_commands_are_refused_with_a_typed_error_and_change_nothing() {
        let mut ego = ego_at(8.0);
        ego.step(&EgoCommand { accel_m_s2: 0.5, steer_rad: 0.1 }).unwrap();
        let before = ego.clone();
        for bad in [
            EgoCommand { accel_m_s2: f64::NAN, steer_rad: 0.0 },
            EgoCommand { accel_m_s2: 0.0, steer_rad: f64::NAN },
            EgoCommand { accel_m_s2: f64::INFINITY, steer_rad: 0.0 },
            EgoCommand { accel_m_s2: 0.0, steer_rad: f64::NEG_INFINITY },
        ] {
            let err = ego.step(&bad).unwrap_err();
            assert!(matches!(err, SimError::Invalid { what: "ego command", .. }), "{err}");
            assert_eq!(ego, before);
        }
        let err = ControlledEgo::new(VehicleConfig::default(), Ground::FLAT, f64::NAN, 0.0, 0.0, 1.0).unwrap_err();
        assert!(matches!(err, SimError::Invalid { what: "ego start", .. }), "{err}");
        let err = ControlledEgo::new(VehicleConfig::default(), Ground::FLAT, 0.0, 0.0, 0.0, -1.0).unwrap_err();
        assert!(matches!(err, SimError::Invalid { what: "ego start", .. }), "{err}");
        let bad_config = VehicleConfig { max_steer_rate_rad_s: f64::NAN, ..VehicleConfig::default() };
        let err = ControlledEgo::new(bad_config, Ground::FLAT, 0.0, 0.0, 0.0, 1.0).unwrap_err();
        assert!(err.to_string().contains("max_steer_rate_rad_s"), "{err}");
    }

    #[test]
    fn pose_stands_on_sloped_ground_and_footprint_hangs_off_the_rear_axle() {
        let ground = Ground { z0_m: 1.0, slope_x: 0.05, slope_y: -0.02 };
        let yaw = 0.5;
        let ego = ControlledEgo::new(VehicleConfig::default(), ground, 10.0, 3.0, yaw, 0.0).unwrap();
        let pose = ego.map_from_base_link();
        assert_relative_eq!(
            pose.translation.vector,
            Vector3::new(10.0, 3.0, ground.height(10.0, 3.0)),
            epsilon = 1e-12
        );
        let up = pose.rotation * Vector3::z();
        assert_relative_eq!(up, Vector3::from(ground.normal()), epsilon = 1e-12);
        let fwd = pose.rotation * Vector3::x();
        assert_relative_eq!(fwd.y.atan2(fwd.x), yaw, epsilon = 1e-12);
        // Forward climbs with the ground.
        assert_relative_eq!(fwd.z / fwd.xy().norm(), 0.05 * yaw.cos() - 0.02 * yaw.sin(), epsilon = 1e-12);

        let [fl, rl, rr, fr] = ego.footprint_xy();
        let (s, c) = yaw.sin_cos();
        let along = |p: [f64; 2]| (p[0] - 10.0) * c + (p[1] - 3.0) * s;
        let left = |p: [f64; 2]| -(p[0] - 10.0) * s + (p[1] - 3.0) * c;
        assert_relative_eq!(along(fl), FRONT_OVERHANG_M, epsilon = 1e-12);
        assert_relative_eq!(along(fr), FRONT_OVERHANG_M, epsilon = 1e-12);
        assert_relative_eq!(along(rl), -0.9, epsilon = 1e-12);
        assert_relative_eq!(left(fl), 0.9, epsilon = 1e-12);
        assert_relative_eq!(left(rr), -0.9, epsilon = 1e-12);
    }
}
