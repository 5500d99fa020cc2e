//! `geometry_msgs/TransformStamped` ↔ [`Transform`].

use super::time::{header, stamp_from_time};
use crate::geometry_msgs::{self, Quaternion, TransformStamped, Vector3};
use crate::MsgError;
use fusor_core::transform::isometry_from_xyz_quat;
use fusor_core::{FrameId, Stamp, Transform};

/// `target_from_source` valid at `stamp` as a tf2 transform: `header.frame_id` = target (parent),
/// `child_frame_id` = source (child).
pub fn transform_stamped(transform: &Transform, stamp: Stamp) -> Result<TransformStamped, MsgError> {
    let iso = &transform.target_from_source;
    let t = iso.translation.vector;
    let q = iso.rotation.quaternion();
    Ok(TransformStamped {
        header: header(stamp, &transform.target)?,
        child_frame_id: transform.source.as_str().to_owned(),
        transform: geometry_msgs::Transform {
            translation: Vector3 { x: t.x, y: t.y, z: t.z },
            rotation: Quaternion { x: q.i, y: q.j, z: q.k, w: q.w },
        },
    })
}

/// A tf2 transform as `parent_from_child` with its stamp. The quaternion is normalised; a zero or
/// non-finite quaternion or translation is an error.
pub fn transform_from_stamped(msg: &TransformStamped) -> Result<(Transform, Stamp), MsgError> {
    let t = &msg.transform.translation;
    let q = &msg.transform.rotation;
    let iso = isometry_from_xyz_quat([t.x, t.y, t.z], [q.x, q.y, q.z, q.w])?;
    let transform = Transform::new(FrameId::new(&msg.header.frame_id), FrameId::new(&msg.child_frame_id), iso);
    Ok((transform, stamp_from_time(msg.header.stamp)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use fusor_core::transform::isometry_from_xyz_rpy;
    use nalgebra::Point3;

    #[test]
    fn header_frame_is_the_target_and_child_is_the_source() {
        let base_from_lidar =
            Transform::new("base_link", "lidar", isometry_from_xyz_rpy([1.0, 0.0, 1.8], [0.0, 0.0, 0.3]));
        let msg = transform_stamped(&base_from_lidar, Stamp(5)).unwrap();
        assert_eq!(msg.header.frame_id, "base_link");
        assert_eq!(msg.child_frame_id, "lidar");
        let (back, stamp) = transform_from_stamped(&msg).unwrap();
        assert_eq!(stamp, Stamp(5));
        assert_eq!((back.target.as_str(), back.source.as_str()), ("base_link", "lidar"));
        let p = Point3::new(2.0, -1.0, 0.5);
        assert_relative_eq!(back.apply(&p), base_from_lidar.apply(&p), epsilon = 1e-12);
    }

    #[test]
    fn zero_quaternion_is_an_error() {
        let msg = TransformStamped {
            transform: geometry_msgs::Transform {
                rotation: Quaternion { x: 0.0, y: 0.0, z: 0.0, w: 0.0 },
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(matches!(transform_from_stamped(&msg), Err(MsgError::Core(_))));
    }
}
