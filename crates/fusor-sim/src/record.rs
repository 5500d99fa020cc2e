//! Writes a drive as a ROS 2 MCAP on the standard fusor topics (through `fusor-record`).

use crate::drive::{Drive, GroundTruth, SimEvent};
use crate::rig::CAMERA_FRAME;
use crate::Result;
use fusor_core::{FrameId, Stamp};
use fusor_msgs::convert::{header, image_to_msg, imu_to_msg, navsatfix_from_fix, pointcloud_to_msg, transform_stamped};
use fusor_msgs::geometry_msgs::{Point, Pose, PoseStamped, PoseWithCovariance, Quaternion, Vector3};
use fusor_msgs::sensor_msgs::{CameraInfo, RegionOfInterest};
use fusor_msgs::tf2_msgs::TFMessage;
use fusor_msgs::vision_msgs::{
    BoundingBox3D, Detection3D, Detection3DArray, ObjectHypothesis, ObjectHypothesisWithPose,
};
use fusor_record::{McapWriter, WriteSummary};
use nalgebra::{Isometry3, Point3, UnitQuaternion};
use std::path::Path;

/// Lidar scans (`sensor_msgs/PointCloud2`, frame `lidar`).
pub const TOPIC_LIDAR: &str = "/sensing/lidar/points";
/// Camera frames (`sensor_msgs/Image`, rgb8, frame `camera_front`).
pub const TOPIC_IMAGE: &str = "/sensing/camera/front/image_raw";
/// Camera intrinsics, one per image (`sensor_msgs/CameraInfo`).
pub const TOPIC_CAMERA_INFO: &str = "/sensing/camera/front/camera_info";
/// GNSS fixes (`sensor_msgs/NavSatFix`).
pub const TOPIC_GNSS: &str = "/sensing/gnss/fix";
/// IMU samples (`sensor_msgs/Imu`).
pub const TOPIC_IMU: &str = "/sensing/imu";
/// Static transforms `base_link → sensor` (`tf2_msgs/TFMessage`), once at the start.
pub const TOPIC_TF_STATIC: &str = "/tf_static";
/// Ground-truth objects per lidar scan (`vision_msgs/Detection3DArray` in `base_link`; `id` is
/// the stable object id, the hypothesis the class with score 1).
pub const TOPIC_GT_OBJECTS: &str = "/ground_truth/objects";
/// Ground-truth ego pose per lidar scan (`geometry_msgs/PoseStamped` in `map`).
pub const TOPIC_GT_EGO: &str = "/ground_truth/ego_pose";

fn pose(iso: &Isometry3<f64>) -> Pose {
    let t = iso.translation.vector;
    let q = iso.rotation;
    Pose { position: Point { x: t.x, y: t.y, z: t.z }, orientation: Quaternion { x: q.i, y: q.j, z: q.k, w: q.w } }
}

/// The camera's `CameraInfo` (rectification identity, `P = [K | 0]`).
pub fn camera_info(drive: &Drive, stamp: Stamp) -> Result<CameraInfo> {
    let k = drive.rig().camera_intrinsics;
    let distorted = k.distortion.iter().any(|&d| d != 0.0);
    Ok(CameraInfo {
        header: header(stamp, &FrameId::new(CAMERA_FRAME))?,
        height: k.height,
        width: k.width,
        distortion_model: "plumb_bob".into(),
        d: if distorted { k.distortion.to_vec() } else { vec![0.0; 5] },
        k: [k.fx, 0.0, k.cx, 0.0, k.fy, k.cy, 0.0, 0.0, 1.0],
        r: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        p: k.projection_matrix(),
        binning_x: 0,
        binning_y: 0,
        roi: RegionOfInterest::default(),
    })
}

/// Ground truth as a `Detection3DArray` in `base_link` (boxes keep their yaw relative to the ego).
pub fn ground_truth_objects(gt: &GroundTruth) -> Result<Detection3DArray> {
    let base_from_map = gt.map_from_base_link.inverse();
    let (_, _, ego_yaw) = gt.map_from_base_link.rotation.euler_angles();
    let frame = FrameId::new(FrameId::BASE_LINK);
    let mut detections = Vec::with_capacity(gt.objects.len());
    for o in &gt.objects {
        let c: Point3<f64> = base_from_map * o.bbox.center;
        let q = UnitQuaternion::from_euler_angles(0.0, 0.0, o.bbox.yaw_rad - ego_yaw);
        let center = Pose {
            position: Point { x: c.x, y: c.y, z: c.z },
            orientation: Quaternion { x: q.i, y: q.j, z: q.k, w: q.w },
        };
        detections.push(Detection3D {
            header: header(gt.stamp, &frame)?,
            results: vec![ObjectHypothesisWithPose {
                hypothesis: ObjectHypothesis { class_id: o.class.as_str().to_owned(), score: 1.0 },
                pose: PoseWithCovariance { pose: center, covariance: [0.0; 36] },
            }],
            bbox: BoundingBox3D { center, size: Vector3 { x: o.bbox.size.x, y: o.bbox.size.y, z: o.bbox.size.z } },
            id: o.id.to_string(),
        });
    }
    Ok(Detection3DArray { header: header(gt.stamp, &frame)?, detections })
}

/// Runs `drive` to the end and writes every event to the MCAP file at `path`; `progress(done,
/// total)` is called after each event. Same scenario, same bytes.
pub fn write_mcap(
    mut drive: Drive,
    path: impl AsRef<Path>,
    mut progress: impl FnMut(usize, usize),
) -> Result<WriteSummary> {
    let mut out = McapWriter::create(path)?;
    let start = drive.stamp_at(0.0);
    let tf = TFMessage {
        transforms: drive.static_transforms().iter().map(|t| transform_stamped(t, start)).collect::<Result<_, _>>()?,
    };
    out.write(TOPIC_TF_STATIC, &tf, start)?;
    let total = drive.event_count();
    let mut done = 0;
    while let Some(event) = drive.next() {
        let event = event?;
        let stamp = event.stamp();
        match &event {
            SimEvent::Lidar(cloud) => out.write(TOPIC_LIDAR, &pointcloud_to_msg(cloud)?, stamp)?,
            SimEvent::Camera(image) => {
                out.write(TOPIC_IMAGE, &image_to_msg(image)?, stamp)?;
                out.write(TOPIC_CAMERA_INFO, &camera_info(&drive, stamp)?, stamp)?;
            }
            SimEvent::Gnss(fix) => out.write(TOPIC_GNSS, &navsatfix_from_fix(fix)?, stamp)?,
            SimEvent::Imu(imu) => out.write(TOPIC_IMU, &imu_to_msg(imu)?, stamp)?,
            SimEvent::GroundTruth(gt) => {
                out.write(TOPIC_GT_OBJECTS, &ground_truth_objects(gt)?, stamp)?;
                let ego = PoseStamped {
                    header: header(stamp, &FrameId::new(FrameId::MAP))?,
                    pose: pose(&gt.map_from_base_link),
                };
                out.write(TOPIC_GT_EGO, &ego, stamp)?;
            }
        }
        done += 1;
        progress(done, total);
    }
    Ok(out.finish()?)
}
