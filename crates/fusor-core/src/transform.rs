//! Frames and rigid transforms (REP-103/105 frames; transforms named `target_from_source`).

use crate::{CoreError, Result};
use nalgebra::{Isometry3, Point3, Translation3, UnitQuaternion, Vector3};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The name of a coordinate frame, as in a ROS `header.frame_id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FrameId(pub String);

impl FrameId {
    /// `map`: ENU (x east, y north, z up) at the configured WGS84 origin.
    pub const MAP: &'static str = "map";
    /// `base_link`: x forward, y left, z up, on the ground under the rear axle.
    pub const BASE_LINK: &'static str = "base_link";

    /// A frame id from any string.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }
    /// The frame name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for FrameId {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}
impl fmt::Display for FrameId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A rigid transform that maps coordinates expressed in `source` into `target`:
/// `point_in_target = target_from_source * point_in_source`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transform {
    /// The frame the result is expressed in.
    pub target: FrameId,
    /// The frame the input is expressed in.
    pub source: FrameId,
    /// The rigid motion (metres, unit quaternion).
    pub target_from_source: Isometry3<f64>,
}

impl Transform {
    /// A named transform.
    pub fn new(target: impl Into<FrameId>, source: impl Into<FrameId>, target_from_source: Isometry3<f64>) -> Self {
        Self { target: target.into(), source: source.into(), target_from_source }
    }

    /// The inverse: `source_from_target`.
    pub fn inverse(&self) -> Transform {
        Transform {
            target: self.source.clone(),
            source: self.target.clone(),
            target_from_source: self.target_from_source.inverse(),
        }
    }

    /// `self ∘ other`: `a_from_b.then(b_from_c)` is `a_from_c`. Fails when `other.target`
    /// is not `self.source`, so a wrong chain is an error instead of a silent mistake.
    pub fn compose(&self, other: &Transform) -> Result<Transform> {
        if self.source != other.target {
            return Err(CoreError::invalid(
                "transform chain",
                format!("{}_from_{} cannot follow {}_from_{}", self.target, self.source, other.target, other.source),
            ));
        }
        Ok(Transform {
            target: self.target.clone(),
            source: other.source.clone(),
            target_from_source: self.target_from_source * other.target_from_source,
        })
    }

    /// Maps a point from `source` into `target`.
    pub fn apply(&self, point_in_source: &Point3<f64>) -> Point3<f64> {
        self.target_from_source * point_in_source
    }
}

/// Builds an isometry from a translation (m) and roll/pitch/yaw (rad), applied as
/// `R = Rz(yaw) · Ry(pitch) · Rx(roll)` (extrinsic X-Y-Z, the ROS `tf2` convention).
pub fn isometry_from_xyz_rpy(xyz: [f64; 3], rpy: [f64; 3]) -> Isometry3<f64> {
    Isometry3::from_parts(
        Translation3::new(xyz[0], xyz[1], xyz[2]),
        UnitQuaternion::from_euler_angles(rpy[0], rpy[1], rpy[2]),
    )
}

/// Builds an isometry from a translation (m) and a quaternion given as `[x, y, z, w]` (ROS order).
/// The quaternion is normalised; a zero or non-finite one is an error.
pub fn isometry_from_xyz_quat(xyz: [f64; 3], xyzw: [f64; 4]) -> Result<Isometry3<f64>> {
    let q = nalgebra::Quaternion::new(xyzw[3], xyzw[0], xyzw[1], xyzw[2]);
    let norm = q.norm();
    if !norm.is_finite() || norm < 1e-9 || xyz.iter().any(|v| !v.is_finite()) {
        return Err(CoreError::invalid("transform", format!("bad translation {xyz:?} or quaternion {xyzw:?}")));
    }
    Ok(Isometry3::from_parts(Translation3::from(Vector3::from(xyz)), UnitQuaternion::from_quaternion(q)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use proptest::prelude::*;

    fn arb_isometry() -> impl Strategy<Value = Isometry3<f64>> {
        (prop::array::uniform3(-100.0..100.0f64), prop::array::uniform3(-3.1..3.1f64))
            .prop_map(|(t, r)| isometry_from_xyz_rpy(t, r))
    }

    proptest! {
        #[test]
        fn transform_composed_with_inverse_is_identity(iso in arb_isometry(), p in prop::array::uniform3(-50.0..50.0f64)) {
            let a_from_b = Transform::new("a", "b", iso);
            let a_from_a = a_from_b.compose(&a_from_b.inverse()).unwrap();
            let p = Point3::from(p);
            let q = a_from_a.apply(&p);
            prop_assert!((p - q).norm() < 1e-9);
        }
    }

    #[test]
    fn composing_mismatched_frames_is_an_error() {
        let map_from_base = Transform::new("map", "base_link", Isometry3::identity());
        let camera_from_lidar = Transform::new("camera", "lidar", Isometry3::identity());
        assert!(map_from_base.compose(&camera_from_lidar).is_err());
    }

    #[test]
    fn yaw_rotates_x_into_y() {
        let iso = isometry_from_xyz_rpy([0.0; 3], [0.0, 0.0, std::f64::consts::FRAC_PI_2]);
        let p = iso * Point3::new(1.0, 0.0, 0.0);
        assert_relative_eq!(p, Point3::new(0.0, 1.0, 0.0), epsilon = 1e-12);
    }

    #[test]
    fn rejects_zero_quaternion() {
        assert!(isometry_from_xyz_quat([0.0; 3], [0.0; 4]).is_err());
    }
}
