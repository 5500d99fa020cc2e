//! KITTI raw (`YYYY_MM_DD_drive_NNNN_sync`) into a ROS 2 MCAP recording.
//!
//! Inputs, per the KITTI raw devkit:
//! - `velodyne_points/data/NNNNNNNNNN.bin` (float32 x, y, z, reflectance) stamped with
//!   `velodyne_points/timestamps.txt` (the moment the scanner faced forward),
//! - `image_02/data/NNNNNNNNNN.png` (rectified left colour camera) with `image_02/timestamps.txt`,
//! - `oxts/data/NNNNNNNNNN.txt` (30 numbers, `oxts/dataformat.txt`) with `oxts/timestamps.txt`,
//! - the recording day's three calibration files, imported by
//!   [`fusor_core::calib::kitti::import_kitti_raw_calib`] (frames `lidar`, `camera_front`,
//!   `camera_gray_left`, `imu`, `gnss` under `base_link`).
//!
//! Timestamps `YYYY-MM-DD HH:MM:SS.nnnnnnnnn` carry no zone; they are read as UTC, to the
//! nanosecond. Frame `i` is line `i` of the timestamps file; frames whose file is absent (KITTI
//! samples are often cut) are counted in [`Missing`] and skipped. Messages are written in
//! log-time order, each with log time = publish time = header stamp.

use super::{
    Progress, TOPIC_CAMERA_COMPRESSED, TOPIC_CAMERA_IMAGE, TOPIC_CAMERA_INFO, TOPIC_GNSS_FIX, TOPIC_IMU, TOPIC_LIDAR,
    TOPIC_TF_STATIC,
};
use crate::{McapWriter, RecordError, Result, WriterOptions};
use fusor_core::calib::kitti::{import_kitti_raw_calib, CAMERA_FRONT, LIDAR};
use fusor_core::calib::Rig;
use fusor_core::{FrameId, Image, PixelFormat, PointCloud, Stamp, Transform};
use fusor_msgs::sensor_msgs::{CameraInfo, CompressedImage, NavSatFix, NavSatStatus};
use fusor_msgs::{convert, tf2_msgs::TFMessage};
use nalgebra::{UnitQuaternion, Vector3};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Frame of the OXTS IMU.
pub const IMU_FRAME: &str = "imu";
/// Frame of the OXTS GNSS solution.
pub const GNSS_FRAME: &str = "gnss";

/// How camera images are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImageMode {
    /// `sensor_msgs/Image` `rgb8`, decoded from the PNG, on [`TOPIC_CAMERA_IMAGE`] (large).
    #[default]
    Raw,
    /// `sensor_msgs/CompressedImage` `png`, the file's bytes as they are, on
    /// [`TOPIC_CAMERA_COMPRESSED`] (small, lossless).
    CompressedPng,
}

/// Import options.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// How camera images are stored.
    pub image_mode: ImageMode,
    /// MCAP writer options (chunk size, compression).
    pub writer: WriterOptions,
}

/// Frames listed in a timestamps file whose data file is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Missing {
    /// Lidar scans.
    pub lidar: usize,
    /// Camera images.
    pub image: usize,
    /// OXTS packets.
    pub oxts: usize,
}

impl Missing {
    /// All missing files.
    pub fn total(&self) -> usize {
        self.lidar + self.image + self.oxts
    }
}

/// What an import wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportSummary {
    /// The recording written.
    pub out_path: PathBuf,
    /// Messages per topic.
    pub messages_per_topic: BTreeMap<String, u64>,
    /// All messages.
    pub message_count: u64,
    /// Frames listed in the lidar timestamps file (the drive's length).
    pub frames_listed: usize,
    /// Listed frames whose files are absent.
    pub missing: Missing,
    /// Header stamp of the first message.
    pub start: Option<Stamp>,
    /// Header stamp of the last message.
    pub end: Option<Stamp>,
    /// Bytes read from sensor files (bin, png, txt).
    pub input_bytes: u64,
    /// Size of the recording in bytes.
    pub file_size_bytes: u64,
    /// Sum of the CDR payload sizes in bytes (before chunk compression).
    pub payload_bytes: u64,
    /// Wall time of the import in seconds.
    pub elapsed_s: f64,
}

/// Imports `drive_sync_dir` (e.g. `.../2011_09_26/2011_09_26_drive_0002_sync`) with the
/// calibration in `day_calib_dir` (e.g. `.../2011_09_26`) into `out_path`.
pub fn import(
    drive_sync_dir: impl AsRef<Path>,
    day_calib_dir: impl AsRef<Path>,
    out_path: impl AsRef<Path>,
    options: &ImportOptions,
) -> Result<ImportSummary> {
    import_with_progress(drive_sync_dir, day_calib_dir, out_path, options, |_| {})
}

/// [`import`], calling `progress` after every message written.
pub fn import_with_progress(
    drive_sync_dir: impl AsRef<Path>,
    day_calib_dir: impl AsRef<Path>,
    out_path: impl AsRef<Path>,
    options: &ImportOptions,
    mut progress: impl FnMut(Progress),
) -> Result<ImportSummary> {
    let started = Instant::now();
    let drive = drive_sync_dir.as_ref();
    let out_path = out_path.as_ref();
    let rig = import_kitti_raw_calib(day_calib_dir.as_ref())?;
    let camera = rig
        .camera(CAMERA_FRONT)
        .ok_or_else(|| parse_err(day_calib_dir.as_ref(), CAMERA_FRONT, "the rig has no front camera"))?
        .clone();

    let lidar_stamps = read_stamps(&drive.join("velodyne_points/timestamps.txt"))?;
    let image_stamps = read_stamps(&drive.join("image_02/timestamps.txt"))?;
    let oxts_stamps = read_stamps(&drive.join("oxts/timestamps.txt"))?;

    // Plan every message first (stamp, kind, frame index), so the file is in log-time order
    // while sensor data is loaded one frame at a time.
    let mut missing = Missing::default();
    let mut plan: Vec<(Stamp, Kind, usize)> = Vec::new();
    for (i, &stamp) in lidar_stamps.iter().enumerate() {
        if lidar_path(drive, i).is_file() {
            plan.push((stamp, Kind::Lidar, i));
        } else {
            missing.lidar += 1;
        }
    }
    for (i, &stamp) in image_stamps.iter().enumerate() {
        if image_path(drive, i).is_file() {
            plan.push((stamp, Kind::CameraInfo, i));
            plan.push((stamp, Kind::Image, i));
        } else {
            missing.image += 1;
        }
    }
    for (i, &stamp) in oxts_stamps.iter().enumerate() {
        if oxts_path(drive, i).is_file() {
            plan.push((stamp, Kind::Fix, i));
            plan.push((stamp, Kind::Imu, i));
        } else {
            missing.oxts += 1;
        }
    }
    plan.sort();
    if missing.total() > 0 {
        tracing::info!(?missing, drive = %drive.display(), "frames listed in timestamps but absent on disk");
    }
    let first_stamp = plan.first().map(|p| p.0);
    let total = plan.len() + usize::from(first_stamp.is_some());

    let mut writer = McapWriter::create_with_options(out_path, options.writer.clone())?;
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut input_bytes = 0u64;
    let mut written = 0usize;
    let mut last_stamp = None;
    let mut tick = |topic: &str, stamp: Stamp, input: u64, counts: &mut BTreeMap<String, u64>| {
        *counts.entry(topic.to_owned()).or_default() += 1;
        input_bytes += input;
        written += 1;
        last_stamp = Some(stamp);
        progress(Progress { written, total, input_bytes });
    };

    if let Some(stamp) = first_stamp {
        let tf = tf_static(&rig, stamp)?;
        writer.write(TOPIC_TF_STATIC, &tf, stamp)?;
        tick(TOPIC_TF_STATIC, stamp, 0, &mut counts);
    }
    for (stamp, kind, i) in plan {
        match kind {
            Kind::Lidar => {
                let path = lidar_path(drive, i);
                let bytes = read(&path)?;
                let cloud = PointCloud::from_f32_records(&bytes, 4, stamp, LIDAR)?;
                let msg = convert::pointcloud_to_msg(&cloud).map_err(|e| msg_err(TOPIC_LIDAR, e))?;
                writer.write(TOPIC_LIDAR, &msg, stamp)?;
                tick(TOPIC_LIDAR, stamp, bytes.len() as u64, &mut counts);
            }
            Kind::CameraInfo => {
                let msg = camera_info(&camera, stamp)?;
                writer.write(TOPIC_CAMERA_INFO, &msg, stamp)?;
                tick(TOPIC_CAMERA_INFO, stamp, 0, &mut counts);
            }
            Kind::Image => {
                let path = image_path(drive, i);
                let bytes = read(&path)?;
                let input = bytes.len() as u64;
                let topic = match options.image_mode {
                    ImageMode::Raw => {
                        let image = decode_png(&path, &bytes, stamp)?;
                        let msg = convert::image_to_msg(&image).map_err(|e| msg_err(TOPIC_CAMERA_IMAGE, e))?;
                        writer.write(TOPIC_CAMERA_IMAGE, &msg, stamp)?;
                        TOPIC_CAMERA_IMAGE
                    }
                    ImageMode::CompressedPng => {
                        let header = convert::header(stamp, &FrameId::new(CAMERA_FRONT))
                            .map_err(|e| msg_err(TOPIC_CAMERA_COMPRESSED, e))?;
                        let msg = CompressedImage { header, format: "png".into(), data: bytes };
                        writer.write(TOPIC_CAMERA_COMPRESSED, &msg, stamp)?;
                        TOPIC_CAMERA_COMPRESSED
                    }
                };
                tick(topic, stamp, input, &mut counts);
            }
            Kind::Fix | Kind::Imu => {
                let path = oxts_path(drive, i);
                let text = read(&path)?;
                let oxts = Oxts::parse(&path, &text)?;
                if kind == Kind::Fix {
                    writer.write(TOPIC_GNSS_FIX, &oxts.navsatfix(stamp)?, stamp)?;
                    tick(TOPIC_GNSS_FIX, stamp, text.len() as u64, &mut counts);
                } else {
                    writer.write(TOPIC_IMU, &oxts.imu(stamp)?, stamp)?;
                    tick(TOPIC_IMU, stamp, 0, &mut counts);
                }
            }
        }
    }
    let done = writer.finish()?;
    Ok(ImportSummary {
        out_path: out_path.to_path_buf(),
        message_count: counts.values().sum(),
        messages_per_topic: counts,
        frames_listed: lidar_stamps.len(),
        missing,
        start: first_stamp,
        end: last_stamp,
        input_bytes,
        file_size_bytes: done.file_size_bytes,
        payload_bytes: done.payload_bytes,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

/// What to write; the order breaks ties between equal stamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Lidar,
    CameraInfo,
    Image,
    Fix,
    Imu,
}

fn lidar_path(drive: &Path, i: usize) -> PathBuf {
    drive.join(format!("velodyne_points/data/{i:010}.bin"))
}
fn image_path(drive: &Path, i: usize) -> PathBuf {
    drive.join(format!("image_02/data/{i:010}.png"))
}
fn oxts_path(drive: &Path, i: usize) -> PathBuf {
    drive.join(format!("oxts/data/{i:010}.txt"))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| RecordError::io(path, e))
}

fn parse_err(path: &Path, what: impl Into<String>, why: impl Into<String>) -> RecordError {
    RecordError::Parse { path: path.to_path_buf(), what: what.into(), why: why.into() }
}

fn msg_err(topic: &str, source: fusor_msgs::MsgError) -> RecordError {
    RecordError::Msg { topic: topic.to_owned(), source }
}

/// Parses a KITTI timestamp `YYYY-MM-DD HH:MM:SS.nnnnnnnnn` as UTC, to the nanosecond.
pub fn parse_kitti_stamp(text: &str) -> Option<Stamp> {
    let t = chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S%.f").ok()?;
    t.and_utc().timestamp_nanos_opt().map(Stamp)
}

/// Reads a timestamps file: one stamp per line, line `i` for frame `i`; trailing blank lines
/// are ignored, any other unparsable line is an error naming it.
pub fn read_stamps(path: &Path) -> Result<Vec<Stamp>> {
    let text = std::fs::read_to_string(path).map_err(|e| RecordError::io(path, e))?;
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            parse_kitti_stamp(line).ok_or_else(|| {
                parse_err(path, format!("line {}", i + 1), format!("{line:?} is not YYYY-MM-DD HH:MM:SS.nnnnnnnnn"))
            })
        })
        .collect()
}

fn decode_png(path: &Path, bytes: &[u8], stamp: Stamp) -> Result<Image> {
    let decoded = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)
        .map_err(|source| RecordError::Image { path: path.to_path_buf(), source })?
        .into_rgb8();
    let (width, height) = decoded.dimensions();
    let stride = width as usize * 3;
    Ok(Image::new(stamp, CAMERA_FRONT, width, height, PixelFormat::Rgb8, stride, decoded.into_raw())?)
}

/// `sensor_msgs/CameraInfo` of the rectified front camera: no distortion (plumb_bob with zeros),
/// `R = I`, `P = [K | 0]` (the stereo baseline is in the `camera_front` extrinsics, not in `P`).
fn camera_info(camera: &fusor_core::calib::CameraModel, stamp: Stamp) -> Result<CameraInfo> {
    let header = convert::header(stamp, &FrameId::new(CAMERA_FRONT)).map_err(|e| msg_err(TOPIC_CAMERA_INFO, e))?;
    let k = &camera.k;
    let k9 = [k[(0, 0)], k[(0, 1)], k[(0, 2)], k[(1, 0)], k[(1, 1)], k[(1, 2)], k[(2, 0)], k[(2, 1)], k[(2, 2)]];
    let p = [k9[0], k9[1], k9[2], 0.0, k9[3], k9[4], k9[5], 0.0, k9[6], k9[7], k9[8], 0.0];
    Ok(CameraInfo {
        header,
        height: camera.height,
        width: camera.width,
        distortion_model: "plumb_bob".into(),
        d: vec![0.0; 5],
        k: k9,
        r: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        p,
        ..CameraInfo::default()
    })
}

/// `base_link → sensor` for every sensor of the rig, sorted by frame.
fn tf_static(rig: &Rig, stamp: Stamp) -> Result<TFMessage> {
    let mut transforms = Vec::new();
    for sensor in rig.sensors.values() {
        let t = Transform::new(FrameId::BASE_LINK, sensor.frame_id.clone(), sensor.base_link_from_sensor);
        transforms.push(convert::transform_stamped(&t, stamp).map_err(|e| msg_err(TOPIC_TF_STATIC, e))?);
    }
    Ok(TFMessage { transforms })
}

/// One OXTS packet (fields as in `oxts/dataformat.txt`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Oxts {
    /// Latitude in degrees (WGS84).
    pub lat_deg: f64,
    /// Longitude in degrees (WGS84).
    pub lon_deg: f64,
    /// Altitude in metres.
    pub alt_m: f64,
    /// Roll, pitch, yaw in radians (yaw 0 = east, counter-clockwise positive).
    pub rpy_rad: [f64; 3],
    /// Acceleration (forward, left, up) in m/s², vehicle frame.
    pub accel_flu_m_s2: [f64; 3],
    /// Angular rate (forward, left, up) in rad/s, vehicle frame.
    pub rate_flu_rad_s: [f64; 3],
    /// Position accuracy (north/east) in metres.
    pub pos_accuracy_m: f64,
    /// Navigation status code.
    pub navstat: i64,
    /// Number of satellites.
    pub numsats: i64,
}

impl Oxts {
    /// Parses one packet: 30 whitespace-separated numbers (the last five integers).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        let text = std::str::from_utf8(bytes).map_err(|_| parse_err(path, "packet", "not UTF-8 text"))?;
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 30 {
            return Err(parse_err(path, "packet", format!("{} fields, expected 30", fields.len())));
        }
        let f = |i: usize| -> Result<f64> {
            let s = fields.get(i).copied().unwrap_or("");
            s.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| parse_err(path, format!("field {}", i + 1), format!("{s:?} is not a finite number")))
        };
        let n = |i: usize| -> Result<i64> {
            let s = fields.get(i).copied().unwrap_or("");
            s.parse::<i64>()
                .map_err(|_| parse_err(path, format!("field {}", i + 1), format!("{s:?} is not an integer")))
        };
        Ok(Self {
            lat_deg: f(0)?,
            lon_deg: f(1)?,
            alt_m: f(2)?,
            rpy_rad: [f(3)?, f(4)?, f(5)?],
            accel_flu_m_s2: [f(14)?, f(15)?, f(16)?],
            rate_flu_rad_s: [f(20)?, f(21)?, f(22)?],
            pos_accuracy_m: f(23)?,
            navstat: n(25)?,
            numsats: n(26)?,
        })
    }

    /// `sensor_msgs/NavSatFix` in frame `gnss`: latitude/longitude/altitude as given, status
    /// FIX, service GPS, covariance `diag(pos_accuracy²)` (APPROXIMATED).
    pub fn navsatfix(&self, stamp: Stamp) -> Result<NavSatFix> {
        let header = convert::header(stamp, &FrameId::new(GNSS_FRAME)).map_err(|e| msg_err(TOPIC_GNSS_FIX, e))?;
        let var = self.pos_accuracy_m * self.pos_accuracy_m;
        Ok(NavSatFix {
            header,
            status: NavSatStatus { status: NavSatStatus::STATUS_FIX, service: NavSatStatus::SERVICE_GPS },
            latitude: self.lat_deg,
            longitude: self.lon_deg,
            altitude: self.alt_m,
            position_covariance: [var, 0.0, 0.0, 0.0, var, 0.0, 0.0, 0.0, var],
            position_covariance_type: NavSatFix::COVARIANCE_TYPE_APPROXIMATED,
        })
    }

    /// `sensor_msgs/Imu` in frame `imu`: orientation `Rz(yaw)·Ry(pitch)·Rx(roll)` (ENU-like, yaw 0
    /// = east), angular velocity (wf, wl, wu), linear acceleration (af, al, au); covariances
    /// unknown.
    pub fn imu(&self, stamp: Stamp) -> Result<fusor_msgs::sensor_msgs::Imu> {
        let [roll, pitch, yaw] = self.rpy_rad;
        let imu = fusor_core::Imu {
            stamp,
            frame_id: FrameId::new(IMU_FRAME),
            orientation: Some(UnitQuaternion::from_euler_angles(roll, pitch, yaw)),
            angular_velocity_rad_s: Vector3::from(self.rate_flu_rad_s),
            linear_acceleration_m_s2: Vector3::from(self.accel_flu_m_s2),
            angular_velocity_covariance: None,
            linear_acceleration_covariance: None,
        };
        convert::imu_to_msg(&imu).map_err(|e| msg_err(TOPIC_IMU, e))
    }
}
