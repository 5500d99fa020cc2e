//! [`Detection`] / [`Track`] → `vision_msgs/Detection3D`, and back.

use super::time::{header, stamp_from_time};
use crate::geometry_msgs::{Point, Pose, PoseWithCovariance, Quaternion, Vector3};
use crate::vision_msgs::{BoundingBox3D, Detection3D, ObjectHypothesis, ObjectHypothesisWithPose};
use crate::MsgError;
use fusor_core::{Box3, Detection, FrameId, ObjectClass, Stamp, Track};
use nalgebra::UnitQuaternion;

/// The box centre and yaw (about +z of its frame) as a pose.
fn box_pose(b: &Box3) -> Pose {
    let q = UnitQuaternion::from_euler_angles(0.0, 0.0, b.yaw_rad);
    Pose {
        position: Point { x: b.center.x, y: b.center.y, z: b.center.z },
        orientation: Quaternion { x: q.i, y: q.j, z: q.k, w: q.w },
    }
}

fn detection3d(stamp: Stamp, bbox: &Box3, class: ObjectClass, score: f32, id: String) -> Result<Detection3D, MsgError> {
    let pose = box_pose(bbox);
    Ok(Detection3D {
        header: header(stamp, &bbox.frame_id)?,
        results: vec![ObjectHypothesisWithPose {
            hypothesis: ObjectHypothesis { class_id: class.as_str().to_owned(), score: f64::from(score) },
            pose: PoseWithCovariance { pose, covariance: [0.0; 36] },
        }],
        bbox: BoundingBox3D { center: pose, size: Vector3 { x: bbox.size.x, y: bbox.size.y, z: bbox.size.z } },
        id,
    })
}

/// A detection as `vision_msgs/Detection3D` in the box's frame: one hypothesis (class name such as
/// `car`, score), the box centre pose (yaw about +z) with zero covariance (unknown), the box size
/// (length, width, height in metres) and an empty `id`.
pub fn detection3d_from(detection: &Detection) -> Result<Detection3D, MsgError> {
    detection3d(detection.stamp, &detection.bbox, detection.class, detection.score, String::new())
}

/// A track as `vision_msgs/Detection3D`, as [`detection3d_from`] with `id` = the track id in
/// decimal. Velocity is not part of `Detection3D` and is dropped.
pub fn detection3d_from_track(track: &Track) -> Result<Detection3D, MsgError> {
    detection3d(track.stamp, &track.bbox, track.class, track.score, track.id.to_string())
}

/// Reads a detection: the highest-scoring hypothesis gives class and score (unknown class names
/// become [`ObjectClass::Other`]; no hypothesis is an error), the box pose gives centre and yaw
/// (the rotation about +z; roll and pitch are dropped).
pub fn detection_from_detection3d(msg: &Detection3D) -> Result<Detection, MsgError> {
    let best = msg
        .results
        .iter()
        .max_by(|a, b| a.hypothesis.score.total_cmp(&b.hypothesis.score))
        .ok_or_else(|| MsgError::Invalid { what: "Detection3D", why: "no hypothesis in results".into() })?;
    let o = &msg.bbox.center.orientation;
    let q = nalgebra::Quaternion::new(o.w, o.x, o.y, o.z);
    let norm = q.norm();
    if !norm.is_finite() || norm < 1e-9 {
        return Err(MsgError::Invalid { what: "Detection3D.bbox", why: format!("bad orientation {o:?}") });
    }
    let (_, _, yaw_rad) = UnitQuaternion::from_quaternion(q).euler_angles();
    let c = &msg.bbox.center.position;
    let s = &msg.bbox.size;
    Ok(Detection {
        stamp: stamp_from_time(msg.header.stamp)?,
        bbox: Box3 {
            frame_id: FrameId::new(&msg.header.frame_id),
            center: nalgebra::Point3::new(c.x, c.y, c.z),
            size: nalgebra::Vector3::new(s.x, s.y, s.z),
            yaw_rad,
        },
        class: best.hypothesis.class_id.parse().unwrap_or(ObjectClass::Other),
        score: best.hypothesis.score as f32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{Point3, Vector3 as V3};

    fn car() -> Detection {
        Detection {
            stamp: Stamp(1_000_000_123),
            bbox: Box3 {
                frame_id: "base_link".into(),
                center: Point3::new(10.0, 2.0, 0.8),
                size: V3::new(4.0, 2.0, 1.6),
                yaw_rad: 0.7,
            },
            class: ObjectClass::Car,
            score: 0.75,
        }
    }

    #[test]
    fn detection_becomes_one_hypothesis_with_box_pose_and_size() {
        let msg = detection3d_from(&car()).unwrap();
        assert_eq!(msg.header.frame_id, "base_link");
        assert_eq!(msg.results.len(), 1);
        assert_eq!(msg.results[0].hypothesis.class_id, "car");
        assert_eq!(msg.results[0].hypothesis.score, 0.75);
        assert_eq!((msg.bbox.size.x, msg.bbox.size.y, msg.bbox.size.z), (4.0, 2.0, 1.6));
        assert_eq!(msg.results[0].pose.pose, msg.bbox.center);
        assert!(msg.id.is_empty());
        let back = detection_from_detection3d(&msg).unwrap();
        assert!((back.bbox.yaw_rad - 0.7).abs() < 1e-12);
        assert_eq!(Detection { bbox: Box3 { yaw_rad: 0.7, ..back.bbox.clone() }, ..back }, car());
    }

    #[test]
    fn track_id_goes_into_the_id_field() {
        let d = car();
        let track = Track {
            id: 42,
            stamp: d.stamp,
            bbox: d.bbox,
            velocity: V3::zeros(),
            class: ObjectClass::Cyclist,
            score: 0.5,
            hits: 3,
        };
        let msg = detection3d_from_track(&track).unwrap();
        assert_eq!(msg.id, "42");
        assert_eq!(msg.results[0].hypothesis.class_id, "cyclist");
    }

    #[test]
    fn detection_without_hypotheses_is_an_error() {
        let mut msg = detection3d_from(&car()).unwrap();
        msg.results.clear();
        assert!(matches!(detection_from_detection3d(&msg), Err(MsgError::Invalid { .. })));
    }
}
