//! Writes a drive as a ROS 2 MCAP on the standard fusor topics (through `fusor-record`).
//!
//! Sensor topics are those of the KITTI import (lidar, camera image and camera_info, GNSS, IMU,
//! `/tf_static`); ground truth goes on [`TOPIC_GT_OBJECTS`] and [`TOPIC_GT_EGO`], both once per
//! lidar scan at the scan's nominal stamp.
//!
//! # Ground-truth encoding
//!
//! `/ground_truth/objects` is a `vision_msgs/Detection3DArray` in `base_link`, holding every car,
//! pedestrian and cyclist whose box centre is within [`GT_RANGE_M`](crate::drive::GT_RANGE_M)
//! of the ego at the scan stamp, each posed where the lidar swept it (a moving object at the
//! instant the scan reached it: [`Drive::ground_truth_as_swept`](crate::Drive::ground_truth_as_swept)),
//! in `base_link` at the stamp, where the scan's deskewed points of it lie. Each `Detection3D` has:
//!
//! - `id`: the object's track id in decimal, stable over the drive (`"17"`);
//! - `bbox`: centre (m) and yaw in `base_link`, size = length, width, height (m);
//! - `results[0]`: `class_id` = `car` | `pedestrian` | `cyclist`, `score` = 1, pose = box centre;
//! - `results[1]`: the attributes, `score` = 0 (so readers taking the best hypothesis still get
//!   the class), `class_id` = `fusor_gt` followed by space-separated `key=value` fields:
//!   `lidar_points=<points of this scan on the object>`,
//!   `camera_pixels=<image pixels showing it>`,
//!   `camera_visibility=<unoccluded fraction of its silhouette in the image, 0..1>`,
//!   e.g. `fusor_gt lidar_points=412 camera_pixels=5310 camera_visibility=0.9730`. Readers must
//!   ignore keys they do not know.
//!
//! [`ground_truth_from_msg`] decodes it.

use crate::drive::{Drive, GroundTruth, SimEvent};
use crate::rig::{CameraIntrinsics, SIDE_CAMERA_FRAMES};
use crate::{Result, SimError};
use fusor_core::{Box3, FrameId, ObjectClass, Stamp};
use fusor_msgs::convert::{
    detection_from_detection3d, header, image_to_msg, imu_to_msg, navsatfix_from_fix, pointcloud_to_msg,
    transform_stamped,
};
use fusor_msgs::geometry_msgs::{Point, Pose, PoseStamped, PoseWithCovariance, Quaternion, Vector3};
use fusor_msgs::sensor_msgs::{CameraInfo, RegionOfInterest};
use fusor_msgs::tf2_msgs::TFMessage;
use fusor_msgs::vision_msgs::{
    BoundingBox3D, Detection3D, Detection3DArray, ObjectHypothesis, ObjectHypothesisWithPose,
};
use fusor_record::{Compression, McapWriter, WriteSummary, WriterOptions};
use nalgebra::{Isometry3, Point3, UnitQuaternion};
use std::path::Path;

/// Lidar scans (`sensor_msgs/PointCloud2`, frame `lidar`).
pub const TOPIC_LIDAR: &str = "/sensing/lidar/points";
/// Camera frames (`sensor_msgs/Image`, rgb8, frame `camera_front`).
pub const TOPIC_IMAGE: &str = "/sensing/camera/front/image_raw";
/// Camera intrinsics, one per image (`sensor_msgs/CameraInfo`).
pub const TOPIC_CAMERA_INFO: &str = "/sensing/camera/front/camera_info";
/// Image and camera-info topics of the surround rig's side cameras
/// ([`crate::rig::SIDE_CAMERA_FRAMES`], same order), when the scenario renders them.
pub const TOPICS_SIDE_CAMERAS: [[&str; 2]; 2] = [
    ["/sensing/camera/front_left/image_raw", "/sensing/camera/front_left/camera_info"],
    ["/sensing/camera/front_right/image_raw", "/sensing/camera/front_right/camera_info"],
];
/// GNSS fixes (`sensor_msgs/NavSatFix`).
pub const TOPIC_GNSS: &str = "/sensing/gnss/fix";
/// IMU samples (`sensor_msgs/Imu`).
pub const TOPIC_IMU: &str = "/sensing/imu";
/// Static transforms `base_link → sensor` (`tf2_msgs/TFMessage`), once at the start.
pub const TOPIC_TF_STATIC: &str = "/tf_static";
/// Ground-truth objects per lidar scan (`vision_msgs/Detection3DArray` in `base_link`; see
/// [Ground-truth encoding](self#ground-truth-encoding)).
pub const TOPIC_GT_OBJECTS: &str = "/ground_truth/objects";
/// Ground-truth pose of `base_link` per lidar scan (`geometry_msgs/PoseStamped` in `map`).
pub const TOPIC_GT_EGO: &str = "/ground_truth/ego";

fn pose(iso: &Isometry3<f64>) -> Pose {
    let t = iso.translation.vector;
    let q = iso.rotation;
    Pose { position: Point { x: t.x, y: t.y, z: t.z }, orientation: Quaternion { x: q.i, y: q.j, z: q.k, w: q.w } }
}

/// The front camera's `CameraInfo` (rectification identity, `P = [K | 0]`).
pub fn camera_info(drive: &Drive, stamp: Stamp) -> Result<CameraInfo> {
    camera_info_of(&drive.rig().camera_intrinsics, &FrameId::new(crate::rig::CAMERA_FRAME), stamp)
}

fn camera_info_of(k: &CameraIntrinsics, frame: &FrameId, stamp: Stamp) -> Result<CameraInfo> {
    let k = *k;
    let distorted = k.distortion.iter().any(|&d| d != 0.0);
    Ok(CameraInfo {
        header: header(stamp, frame)?,
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

/// Ground truth as a `Detection3DArray` in `base_link` (boxes keep their yaw relative to the
/// ego), encoded as described in the [module docs](self#ground-truth-encoding).
pub fn ground_truth_objects(gt: &GroundTruth) -> Result<Detection3DArray> {
    let base_from_map = gt.map_from_base_link.inverse();
    let (_, _, ego_yaw) = gt.map_from_base_link.rotation.euler_angles();
    let frame = FrameId::new(FrameId::BASE_LINK);
    let mut detections = Vec::with_capacity(gt.objects.len());
    for r in &gt.objects {
        let o = &r.object;
        let c: Point3<f64> = base_from_map * o.bbox.center;
        let q = UnitQuaternion::from_euler_angles(0.0, 0.0, o.bbox.yaw_rad - ego_yaw);
        let center = Pose {
            position: Point { x: c.x, y: c.y, z: c.z },
            orientation: Quaternion { x: q.i, y: q.j, z: q.k, w: q.w },
        };
        let pose = PoseWithCovariance { pose: center, covariance: [0.0; 36] };
        let attributes = format!(
            "{GT_ATTRIBUTES_PREFIX} lidar_points={} camera_pixels={} camera_visibility={:.4}",
            r.lidar_points, r.camera.pixels, r.camera.fraction
        );
        detections.push(Detection3D {
            header: header(gt.stamp, &frame)?,
            results: vec![
                ObjectHypothesisWithPose {
                    hypothesis: ObjectHypothesis { class_id: o.class.as_str().to_owned(), score: 1.0 },
                    pose,
                },
                ObjectHypothesisWithPose { hypothesis: ObjectHypothesis { class_id: attributes, score: 0.0 }, pose },
            ],
            bbox: BoundingBox3D { center, size: Vector3 { x: o.bbox.size.x, y: o.bbox.size.y, z: o.bbox.size.z } },
            id: o.id.to_string(),
        });
    }
    Ok(Detection3DArray { header: header(gt.stamp, &frame)?, detections })
}

/// First word of the attribute hypothesis of a ground-truth detection.
pub const GT_ATTRIBUTES_PREFIX: &str = "fusor_gt";

/// One ground-truth object read back from `/ground_truth/objects`.
#[derive(Debug, Clone, PartialEq)]
pub struct GtDetection {
    /// Stable object (track) id over the drive.
    pub id: u32,
    /// Class.
    pub class: ObjectClass,
    /// Box in the message's frame (`base_link`), at the message stamp.
    pub bbox: Box3,
    /// Lidar points of the scan on the object.
    pub lidar_points: u32,
    /// Camera pixels showing the object.
    pub camera_pixels: u32,
    /// Unoccluded fraction in [0, 1] of the object's silhouette in the camera image.
    pub camera_visibility: f64,
}

/// Decodes a `/ground_truth/objects` message (see the [module docs](self#ground-truth-encoding)).
/// Fails, naming the detection, on a missing or non-numeric id, an unknown class, or a missing or
/// malformed attribute hypothesis.
pub fn ground_truth_from_msg(msg: &Detection3DArray) -> Result<Vec<GtDetection>> {
    msg.detections
        .iter()
        .enumerate()
        .map(|(i, det)| {
            let bad = |why: String| SimError::invalid("ground truth message", format!("detection {i}: {why}"));
            let id = det.id.parse::<u32>().map_err(|_| bad(format!("id {:?} is not an object id", det.id)))?;
            let class_hyp = det.results.first().ok_or_else(|| bad("no class hypothesis".into()))?;
            let class: ObjectClass = class_hyp.hypothesis.class_id.parse().map_err(bad)?;
            let attributes = det
                .results
                .iter()
                .find_map(|r| r.hypothesis.class_id.strip_prefix(GT_ATTRIBUTES_PREFIX))
                .ok_or_else(|| bad(format!("no {GT_ATTRIBUTES_PREFIX:?} hypothesis")))?;
            let mut lidar_points = None;
            let mut camera_pixels = None;
            let mut camera_visibility = None;
            for field in attributes.split_whitespace() {
                let (key, value) = field.split_once('=').ok_or_else(|| bad(format!("attribute {field:?}")))?;
                let number = |v: &str| v.parse::<f64>().ok().filter(|x| x.is_finite() && *x >= 0.0);
                let count = |v: &str| v.parse::<u32>().ok();
                match key {
                    "lidar_points" => lidar_points = count(value),
                    "camera_pixels" => camera_pixels = count(value),
                    "camera_visibility" => camera_visibility = number(value).filter(|x| *x <= 1.0),
                    _ => {} // Later versions may add attributes.
                }
            }
            let missing = |key: &str| bad(format!("attribute {key} missing or malformed in {attributes:?}"));
            let detection = detection_from_detection3d(det)?;
            Ok(GtDetection {
                id,
                class,
                bbox: detection.bbox,
                lidar_points: lidar_points.ok_or_else(|| missing("lidar_points"))?,
                camera_pixels: camera_pixels.ok_or_else(|| missing("camera_pixels"))?,
                camera_visibility: camera_visibility.ok_or_else(|| missing("camera_visibility"))?,
            })
        })
        .collect()
}

/// An open MCAP recording of a drive: `/tf_static` first, then one [`SimEvent`] at a time.
/// [`write_mcap`] is the whole loop; this type lets a caller time generation and writing apart.
#[derive(Debug)]
pub struct McapDriveWriter {
    out: McapWriter,
    camera: CameraIntrinsics,
}

impl McapDriveWriter {
    /// Creates the file at `path` and writes the rig's `/tf_static` at the drive start.
    ///
    /// Chunks are stored uncompressed, as `ros2 bag record` does by default: simulated point
    /// clouds (noise-bearing floats) and rendered images hardly compress (a 10 s town-day drive
    /// is 443 MB raw, 416 MB as lz4, 311 MB as zstd level 1), while decompression is the largest
    /// cost of a replay: with alignment only, that drive replays at ~26× real time uncompressed
    /// against ~14× from zstd on the project's 2-core machine (issue #4 asks ≥ 20×; lz4 frames
    /// also carry an xxhash that the MCAP chunk CRC already covers, and land in between).
    /// Chunk CRCs still guard the data. [`McapDriveWriter::create_with_options`] writes zstd or
    /// lz4 where disk matters more than replay speed.
    pub fn create(drive: &Drive, path: impl AsRef<Path>) -> Result<Self> {
        let options = WriterOptions { compression: Compression::None, ..WriterOptions::default() };
        Self::create_with_options(drive, path, options)
    }

    /// [`McapDriveWriter::create`] with explicit chunk size and compression.
    pub fn create_with_options(drive: &Drive, path: impl AsRef<Path>, options: WriterOptions) -> Result<Self> {
        let mut out = McapWriter::create_with_options(path, options)?;
        let start = drive.stamp_at(0.0);
        let tf = TFMessage {
            transforms: drive
                .static_transforms()
                .iter()
                .map(|t| transform_stamped(t, start))
                .collect::<Result<_, _>>()?,
        };
        out.write(TOPIC_TF_STATIC, &tf, start)?;
        Ok(Self { out, camera: drive.rig().camera_intrinsics })
    }

    /// Writes one event of the drive on its topic(s), logged at the event's stamp.
    pub fn write(&mut self, event: &SimEvent) -> Result<()> {
        let out = &mut self.out;
        let stamp = event.stamp();
        match event {
            SimEvent::Lidar(cloud) => out.write(TOPIC_LIDAR, &pointcloud_to_msg(cloud)?, stamp)?,
            SimEvent::Camera(image) => {
                let side = SIDE_CAMERA_FRAMES.iter().position(|f| image.frame_id.as_str() == *f);
                let [image_topic, info_topic] =
                    side.map_or([TOPIC_IMAGE, TOPIC_CAMERA_INFO], |k| TOPICS_SIDE_CAMERAS[k]);
                out.write(image_topic, &image_to_msg(image)?, stamp)?;
                out.write(info_topic, &camera_info_of(&self.camera, &image.frame_id, stamp)?, stamp)?;
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
        Ok(())
    }

    /// Writes the summary and index and closes the file.
    pub fn finish(self) -> Result<WriteSummary> {
        Ok(self.out.finish()?)
    }
}

/// Runs `drive` to the end and writes every event to the MCAP file at `path`; `progress(done,
/// total)` is called after each event is generated. Same scenario, same bytes.
///
/// Encoding and compression run on their own thread, a few events behind the generator: they
/// are single-threaded and would otherwise leave a core idle between rendering bursts.
pub fn write_mcap(
    mut drive: Drive,
    path: impl AsRef<Path>,
    mut progress: impl FnMut(usize, usize),
) -> Result<WriteSummary> {
    let mut out = McapDriveWriter::create(&drive, path)?;
    let total = drive.event_count();
    let (tx, rx) = std::sync::mpsc::sync_channel::<SimEvent>(WRITE_QUEUE);
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> Result<WriteSummary> {
            for event in rx {
                out.write(&event)?;
            }
            out.finish()
        });
        let mut done = 0;
        let mut generated = Ok(());
        for event in drive.by_ref() {
            match event {
                // A send fails only when the writer stopped on an error, which join reports.
                Ok(event) => {
                    if tx.send(event).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    generated = Err(e);
                    break;
                }
            }
            done += 1;
            progress(done, total);
        }
        drop(tx);
        let written = writer.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        generated?;
        written
    })
}

/// Events queued between generator and writer (a few scans and frames: bounded memory).
const WRITE_QUEUE: usize = 8;
