//! KITTI raw drive 0002 (5 lidar/camera frames, 10 OXTS packets) into a ROS 2 MCAP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{data_dir, read_all};
use fusor_msgs::sensor_msgs::{CameraInfo, CompressedImage, Image, Imu, NavSatFix, PointCloud2};
use fusor_msgs::tf2_msgs::TFMessage;
use fusor_record::import::kitti_raw::{self, ImageMode, ImportOptions, Missing};
use fusor_record::import::{
    TOPIC_CAMERA_COMPRESSED, TOPIC_CAMERA_IMAGE, TOPIC_CAMERA_INFO, TOPIC_GNSS_FIX, TOPIC_IMU, TOPIC_LIDAR,
    TOPIC_TF_STATIC,
};
use fusor_record::{info, RawMessage, RecordError};
use nalgebra::UnitQuaternion;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn day() -> PathBuf {
    data_dir().join("kitti_raw/2011_09_26")
}
fn drive() -> PathBuf {
    day().join("2011_09_26_drive_0002_sync")
}

/// Expected stamp of a KITTI line, computed without chrono: 2011-09-26 00:00:00 UTC is
/// 1 316 995 200 s after the epoch (15 243 days).
fn expected_stamp_ns(line: &str) -> i64 {
    let (date, time) = line.trim().split_once(' ').unwrap();
    assert_eq!(date, "2011-09-26");
    let (hms, frac) = time.split_once('.').unwrap();
    let hms: Vec<i64> = hms.split(':').map(|v| v.parse().unwrap()).collect();
    assert_eq!(frac.len(), 9);
    (1_316_995_200 + hms[0] * 3600 + hms[1] * 60 + hms[2]) * 1_000_000_000 + frac.parse::<i64>().unwrap()
}

fn stamp_lines(rel: &str) -> Vec<String> {
    std::fs::read_to_string(drive().join(rel)).unwrap().lines().map(str::to_owned).collect()
}

fn header_ns(stamp: fusor_msgs::builtin_interfaces::Time) -> i64 {
    i64::from(stamp.sec) * 1_000_000_000 + i64::from(stamp.nanosec)
}

fn import(mode: ImageMode, dir: &Path) -> (kitti_raw::ImportSummary, Vec<RawMessage>) {
    let out = dir.join("drive.mcap");
    let options = ImportOptions { image_mode: mode, ..ImportOptions::default() };
    let mut calls = 0;
    let summary = kitti_raw::import_with_progress(drive(), day(), &out, &options, |p| {
        calls += 1;
        assert_eq!(p.written, calls);
        assert!(p.written <= p.total);
    })
    .unwrap();
    assert_eq!(calls as u64, summary.message_count);
    let (messages, error) = read_all(&out).unwrap();
    assert!(error.is_none(), "{error:?}");
    (summary, messages)
}

fn on<'a>(messages: &'a [RawMessage], topic: &str) -> Vec<&'a RawMessage> {
    messages.iter().filter(|m| m.topic == topic).collect()
}

#[test]
fn imports_the_frames_on_disk_and_counts_the_missing_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (summary, messages) = import(ImageMode::Raw, dir.path());
    let expected: BTreeMap<String, u64> = [
        (TOPIC_TF_STATIC, 1),
        (TOPIC_LIDAR, 5),
        (TOPIC_CAMERA_IMAGE, 5),
        (TOPIC_CAMERA_INFO, 5),
        (TOPIC_GNSS_FIX, 10),
        (TOPIC_IMU, 10),
    ]
    .into_iter()
    .map(|(t, n)| (t.to_owned(), n))
    .collect();
    assert_eq!(summary.messages_per_topic, expected);
    assert_eq!(summary.frames_listed, 77);
    assert_eq!(summary.missing, Missing { lidar: 72, image: 72, oxts: 67 });
    assert_eq!(messages.len() as u64, summary.message_count);
    assert!(messages.windows(2).all(|w| w[0].log_time <= w[1].log_time), "log-time order");
    assert_eq!(messages[0].topic, TOPIC_TF_STATIC, "static transforms come first");
    // Every message is stamped with its header stamp, as log and publish time.
    for m in &messages {
        assert_eq!(m.log_time, m.publish_time);
    }
}

#[test]
fn lidar_scans_keep_every_point_and_the_exact_stamp() {
    let dir = tempfile::tempdir().unwrap();
    let (_, messages) = import(ImageMode::Raw, dir.path());
    let lines = stamp_lines("velodyne_points/timestamps.txt");
    let expected_counts = [121_080u32, 120_862, 120_802, 120_603, 120_755];
    let clouds = on(&messages, TOPIC_LIDAR);
    assert_eq!(clouds.len(), 5);
    for (i, raw) in clouds.iter().enumerate() {
        let cloud: PointCloud2 = raw.decode().unwrap();
        assert_eq!((cloud.height, cloud.width), (1, expected_counts[i]));
        assert_eq!(cloud.header.frame_id, "lidar");
        let names: Vec<&str> = cloud.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["x", "y", "z", "intensity"]);
        assert_eq!(cloud.point_step, 16);
        let bin = std::fs::read(drive().join(format!("velodyne_points/data/{i:010}.bin"))).unwrap();
        assert!(cloud.data == bin, "scan {i}: PointCloud2 data is the .bin, byte for byte");
        assert_eq!(header_ns(cloud.header.stamp), expected_stamp_ns(&lines[i]));
        assert_eq!(raw.log_time.nanos(), expected_stamp_ns(&lines[i]));
    }
    assert_eq!(clouds[0].log_time.nanos(), 1_317_042_164_317_412_775);
}

#[test]
fn raw_images_are_the_decoded_pngs_with_camera_info_from_the_calibration() {
    let dir = tempfile::tempdir().unwrap();
    let (_, messages) = import(ImageMode::Raw, dir.path());
    let lines = stamp_lines("image_02/timestamps.txt");
    let images = on(&messages, TOPIC_CAMERA_IMAGE);
    let infos = on(&messages, TOPIC_CAMERA_INFO);
    assert_eq!((images.len(), infos.len()), (5, 5));
    for (i, (raw, raw_info)) in images.iter().zip(&infos).enumerate() {
        let image: Image = raw.decode().unwrap();
        let png = image::open(drive().join(format!("image_02/data/{i:010}.png"))).unwrap().into_rgb8();
        assert_eq!((image.width, image.height, image.encoding.as_str(), image.step), (1242, 375, "rgb8", 1242 * 3));
        assert!(image.data == png.into_raw(), "image {i} equals the PNG's pixels");
        assert_eq!(image.header.frame_id, "camera_front");
        assert_eq!(header_ns(image.header.stamp), expected_stamp_ns(&lines[i]));
        let info: CameraInfo = raw_info.decode().unwrap();
        assert_eq!(info.header, image.header);
        assert_eq!((info.width, info.height), (1242, 375));
        // K = P_rect_02[:, :3] (calib_cam_to_cam.txt).
        assert_eq!([info.k[0], info.k[2], info.k[4], info.k[5]], [721.5377, 609.5593, 721.5377, 172.854]);
        assert_eq!(info.p[3], 0.0, "the baseline lives in the camera_front extrinsics");
    }
}

#[test]
fn compressed_mode_stores_the_png_bytes_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let (summary, messages) = import(ImageMode::CompressedPng, dir.path());
    assert_eq!(summary.messages_per_topic.get(TOPIC_CAMERA_COMPRESSED), Some(&5));
    assert!(on(&messages, TOPIC_CAMERA_IMAGE).is_empty());
    for (i, raw) in on(&messages, TOPIC_CAMERA_COMPRESSED).iter().enumerate() {
        let msg: CompressedImage = raw.decode().unwrap();
        assert_eq!(msg.format, "png");
        let png = std::fs::read(drive().join(format!("image_02/data/{i:010}.png"))).unwrap();
        assert!(msg.data == png);
    }
}

#[test]
fn oxts_packets_become_navsatfix_and_imu_with_the_exact_values() {
    let dir = tempfile::tempdir().unwrap();
    let (_, messages) = import(ImageMode::CompressedPng, dir.path());
    let lines = stamp_lines("oxts/timestamps.txt");
    let fixes = on(&messages, TOPIC_GNSS_FIX);
    let imus = on(&messages, TOPIC_IMU);
    assert_eq!((fixes.len(), imus.len()), (10, 10));
    for i in 0..10 {
        let text = std::fs::read_to_string(drive().join(format!("oxts/data/{i:010}.txt"))).unwrap();
        let v: Vec<f64> = text.split_whitespace().map(|s| s.parse().unwrap()).collect();
        let fix: NavSatFix = fixes[i].decode().unwrap();
        assert_eq!((fix.latitude, fix.longitude, fix.altitude), (v[0], v[1], v[2]));
        assert_eq!(fix.header.frame_id, "gnss");
        assert_eq!(fix.position_covariance[0], v[23] * v[23]);
        assert_eq!(header_ns(fix.header.stamp), expected_stamp_ns(&lines[i]));
        let imu: Imu = imus[i].decode().unwrap();
        assert_eq!(imu.header.frame_id, "imu");
        let (wf, wl, wu) = (imu.angular_velocity.x, imu.angular_velocity.y, imu.angular_velocity.z);
        assert_eq!([wf, wl, wu], [v[20], v[21], v[22]]);
        assert_eq!(
            [imu.linear_acceleration.x, imu.linear_acceleration.y, imu.linear_acceleration.z],
            [v[14], v[15], v[16]]
        );
        let q = imu.orientation;
        let q = UnitQuaternion::from_quaternion(nalgebra::Quaternion::new(q.w, q.x, q.y, q.z));
        let (roll, pitch, yaw) = q.euler_angles();
        assert!((roll - v[3]).abs() < 1e-12 && (pitch - v[4]).abs() < 1e-12 && (yaw - v[5]).abs() < 1e-12);
    }
}

#[test]
fn tf_static_places_every_sensor_under_base_link() {
    let dir = tempfile::tempdir().unwrap();
    let (_, messages) = import(ImageMode::CompressedPng, dir.path());
    let tf: TFMessage = on(&messages, TOPIC_TF_STATIC)[0].decode().unwrap();
    let by_child: BTreeMap<&str, &fusor_msgs::geometry_msgs::TransformStamped> =
        tf.transforms.iter().map(|t| (t.child_frame_id.as_str(), t)).collect();
    for frame in ["lidar", "camera_front", "imu", "gnss"] {
        let t = by_child.get(frame).unwrap_or_else(|| panic!("no base_link → {frame}"));
        assert_eq!(t.header.frame_id, "base_link");
    }
    // KITTI setup: IMU 0.93 m, Velodyne 1.73 m above the ground.
    let lidar_z = by_child["lidar"].transform.translation.z;
    assert!((lidar_z - 1.73).abs() < 0.02, "lidar height {lidar_z}");
}

#[test]
fn info_of_an_import_lists_the_standard_topics() {
    let dir = tempfile::tempdir().unwrap();
    let (summary, _) = import(ImageMode::Raw, dir.path());
    let info = info(&summary.out_path).unwrap();
    assert_eq!(info.message_count, summary.message_count);
    assert_eq!(info.topic(TOPIC_LIDAR).unwrap().schema_name, "sensor_msgs/msg/PointCloud2");
    let lidar_rate = info.topic(TOPIC_LIDAR).unwrap().rate_hz().unwrap();
    assert!((lidar_rate - 9.7).abs() < 0.3, "KITTI spins at about 10 Hz: {lidar_rate}");
    assert_eq!(info.file_size_bytes, summary.file_size_bytes);
}

#[test]
fn a_bad_timestamp_line_is_an_error_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("timestamps.txt");
    std::fs::write(&path, "2011-09-26 13:02:44.317412775\n2011-09-26 13:02:44.4x\n").unwrap();
    let err = kitti_raw::read_stamps(&path).unwrap_err();
    assert!(matches!(&err, RecordError::Parse { what, .. } if what == "line 2"), "{err}");
    std::fs::write(&path, "2011-09-26 13:02:44.317412775\n\n").unwrap();
    assert_eq!(kitti_raw::read_stamps(&path).unwrap().len(), 1, "a trailing blank line is not a frame");
}

#[test]
fn a_short_oxts_packet_is_an_error_not_a_panic() {
    let path = Path::new("0000000000.txt");
    assert!(matches!(kitti_raw::Oxts::parse(path, b"49.0 8.4 116.0"), Err(RecordError::Parse { .. })));
    let mut fields = vec!["1.0"; 30];
    fields[25] = "4.5"; // navstat must be an integer
    assert!(kitti_raw::Oxts::parse(path, fields.join(" ").as_bytes()).is_err());
    fields[25] = "4";
    fields[3] = "nan";
    assert!(kitti_raw::Oxts::parse(path, fields.join(" ").as_bytes()).is_err());
}

#[test]
fn a_missing_drive_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = kitti_raw::import(dir.path().join("nope"), day(), dir.path().join("x.mcap"), &ImportOptions::default());
    assert!(matches!(err, Err(RecordError::Io { .. })), "{err:?}");
}

/// Figures for the report: `cargo test -p fusor-record --test kitti_raw_import -- --nocapture figures`.
#[test]
fn figures_import_and_read_throughput() {
    let dir = tempfile::tempdir().unwrap();
    for mode in [ImageMode::Raw, ImageMode::CompressedPng] {
        let (summary, _) = import(mode, dir.path());
        let started = std::time::Instant::now();
        let (messages, _) = read_all(&summary.out_path).unwrap();
        let read_s = started.elapsed().as_secs_f64();
        let read_bytes: usize = messages.iter().map(|m| m.data.len()).sum();
        let info = info(&summary.out_path).unwrap();
        eprintln!(
            "{mode:?}: {} msgs, input {:.1} MB, payload {:.1} MB, file {:.1} MB (ratio {:.2}), import {:.3} s = {:.0} MB/s in, read {:.3} s = {:.0} MB/s payload",
            summary.message_count,
            summary.input_bytes as f64 / 1e6,
            summary.payload_bytes as f64 / 1e6,
            summary.file_size_bytes as f64 / 1e6,
            info.compression_ratio().unwrap_or(f64::NAN),
            summary.elapsed_s,
            summary.input_bytes as f64 / 1e6 / summary.elapsed_s,
            read_s,
            read_bytes as f64 / 1e6 / read_s,
        );
        eprintln!("{info}");
    }
}
