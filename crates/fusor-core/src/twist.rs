//! Body twists: the constant linear and angular velocity that moves a body along a circular arc
//! (what deskewing a lidar sweep and interpolating ego motion need).

use crate::Stamp;
use nalgebra::{Isometry3, Translation3, UnitQuaternion, Vector3};

/// A constant body twist: velocities expressed in `base_link` at the start of the motion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BodyTwist {
    /// Linear velocity in m/s, in `base_link`.
    pub linear_m_s: Vector3<f64>,
    /// Angular velocity in rad/s (rotation vector rate), in `base_link`.
    pub angular_rad_s: Vector3<f64>,
}

/// Rotation by half the rotation vector `omega_dt` (the direction of a circular arc's chord).
fn half_turn(omega_dt: &Vector3<f64>) -> UnitQuaternion<f64> {
    UnitQuaternion::from_scaled_axis(omega_dt * 0.5)
}

/// Chord length of an arc over its length for a turn of `angle_rad`: `sin(θ/2) / (θ/2)`.
fn chord_ratio(angle_rad: f64) -> f64 {
    let half = 0.5 * angle_rad;
    if half.abs() < 1e-6 {
        1.0 - half * half / 6.0
    } else {
        half.sin() / half
    }
}

impl BodyTwist {
    /// Standing still.
    pub fn zero() -> Self {
        Self { linear_m_s: Vector3::zeros(), angular_rad_s: Vector3::zeros() }
    }

    /// The twist that moves `world_from_body0` (at `t0`) to `world_from_body1` (at `t1`) on a
    /// circular arc. `None` when `t1 <= t0` or a value is not finite.
    pub fn between(
        world_from_body0: &Isometry3<f64>,
        t0: Stamp,
        world_from_body1: &Isometry3<f64>,
        t1: Stamp,
    ) -> Option<Self> {
        let dt_s = (t1 - t0).secs_f64();
        if dt_s <= 0.0 {
            return None;
        }
        let body0_from_body1 = world_from_body0.inverse() * world_from_body1;
        let rotation_vector = body0_from_body1.rotation.scaled_axis();
        // The translation is the arc's chord: rotated by half the turn and shortened by the chord
        // ratio relative to the initial velocity (inverse of `body_from_body_after`).
        let chord = body0_from_body1.translation.vector;
        let initial_direction = half_turn(&rotation_vector).inverse() * chord;
        let linear = initial_direction / (chord_ratio(rotation_vector.norm()) * dt_s);
        let angular = rotation_vector / dt_s;
        let twist = Self { linear_m_s: linear, angular_rad_s: angular };
        (linear.iter().chain(angular.iter()).all(|v| v.is_finite())).then_some(twist)
    }

    /// `body(t)_from_body(t + dt_s)`: where the body is after `dt_s` seconds of this twist,
    /// expressed in the body frame at `t`.
    pub fn body_from_body_after(&self, dt_s: f64) -> Isometry3<f64> {
        let omega_dt = self.angular_rad_s * dt_s;
        let chord = half_turn(&omega_dt) * (self.linear_m_s * dt_s) * chord_ratio(omega_dt.norm());
        Isometry3::from_parts(Translation3::from(chord), UnitQuaternion::from_scaled_axis(omega_dt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn twist_between_two_poses_reproduces_the_second_pose() {
        let world_from_body0 = Isometry3::new(Vector3::new(3.0, -1.0, 0.2), Vector3::new(0.0, 0.0, 0.7));
        let world_from_body1 = Isometry3::new(Vector3::new(4.1, -0.4, 0.2), Vector3::new(0.0, 0.0, 0.85));
        let twist = BodyTwist::between(&world_from_body0, Stamp(0), &world_from_body1, Stamp(100_000_000)).unwrap();
        let predicted = world_from_body0 * twist.body_from_body_after(0.1);
        assert_relative_eq!(predicted.to_homogeneous(), world_from_body1.to_homogeneous(), epsilon = 1e-9);
    }

    #[test]
    fn no_twist_for_reversed_or_equal_stamps() {
        let p = Isometry3::identity();
        assert!(BodyTwist::between(&p, Stamp(5), &p, Stamp(5)).is_none());
        assert!(BodyTwist::between(&p, Stamp(6), &p, Stamp(5)).is_none());
    }
}
