//! The two ROS 2 bags in the shared data, written by the independent `rosbags` library.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{data_dir, read_all};
use fusor_record::{info, RawMessage};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn kitti_bag() -> PathBuf {
    data_dir().join("ros2_mcap/kitti_2011_09_26_drive_0002_f0-1/kitti_2011_09_26_drive_0002_f0-1.mcap")
}

fn comma_bag() -> PathBuf {
    data_dir().join(
        "ros2_mcap/comma2k19_b0c9d2329ad1606b_2018-08-02--08-34-47_seg40/\
         comma2k19_b0c9d2329ad1606b_2018-08-02--08-34-47_seg40.mcap",
    )
}

fn kitti_raw_drive() -> PathBuf {
    data_dir().join("kitti_raw/2011_09_26/2011_09_26_drive_0002_sync")
}

fn read_intact(path: &Path) -> Vec<RawMessage> {
    let (messages, error) = read_all(path).unwrap();
    assert!(error.is_none(), "{error:?}");
    messages
}

fn counts(messages: &[RawMessage]) -> BTreeMap<(&str, &str), usize> {
    let mut counts = BTreeMap::new();
    for m in messages {
        *counts.entry((m.topic.as_str(), m.schema_name.as_str())).or_default() += 1;
    }
    counts
}

#[test]
fn kitti_bag_has_the_documented_topics_types_and_counts_in_log_time_order() {
    let messages = read_intact(&kitti_bag());
    assert_eq!(messages.len(), 37);
    let expected = BTreeMap::from([
        (("/tf_static", "tf2_msgs/msg/TFMessage"), 1),
        (("/kitti/velo/pointcloud", "sensor_msgs/msg/PointCloud2"), 2),
        (("/kitti/camera_color_left/image_raw/compressed", "sensor_msgs/msg/CompressedImage"), 2),
        (("/kitti/camera_color_left/camera_info", "sensor_msgs/msg/CameraInfo"), 2),
        (("/kitti/oxts/gps/fix", "sensor_msgs/msg/NavSatFix"), 10),
        (("/kitti/oxts/imu", "sensor_msgs/msg/Imu"), 10),
        (("/kitti/oxts/gps/vel", "geometry_msgs/msg/TwistStamped"), 10),
    ]);
    assert_eq!(counts(&messages), expected);
    assert!(messages.windows(2).all(|w| w[0].log_time <= w[1].log_time));
    for m in &messages {
        assert_eq!((m.schema_encoding.as_str(), m.message_encoding.as_str()), ("ros2msg", "cdr"));
        assert_eq!(&m.data[..4], &[0, 1, 0, 0], "little-endian CDR header on {}", m.topic);
    }
}

#[test]
fn comma_bag_has_the_documented_topics_types_and_counts() {
    let messages = read_intact(&comma_bag());
    assert_eq!(messages.len(), 13_011);
    let expected = BTreeMap::from([
        (("/comma/gnss/fix", "sensor_msgs/msg/NavSatFix"), 579),
        (("/comma/imu", "sensor_msgs/msg/Imu"), 6_256),
        (("/comma/global_pose", "geometry_msgs/msg/PoseStamped"), 1_200),
        (("/comma/can/speed", "geometry_msgs/msg/TwistStamped"), 4_974),
        (("/comma/camera/image_raw/compressed", "sensor_msgs/msg/CompressedImage"), 1),
        (("/comma/camera/camera_info", "sensor_msgs/msg/CameraInfo"), 1),
    ]);
    assert_eq!(counts(&messages), expected);
    assert!(messages.windows(2).all(|w| w[0].log_time <= w[1].log_time));
}

#[test]
fn info_of_the_bags_matches_their_rosbag2_metadata() {
    let kitti = info(kitti_bag()).unwrap();
    assert!(kitti.from_index);
    assert_eq!(kitti.profile.as_deref(), Some("ros2"));
    assert_eq!(kitti.message_count, 37);
    // metadata.yaml: starting_time 1317042164317412775, duration 947793470 ns.
    assert_eq!(kitti.start.unwrap().nanos(), 1_317_042_164_317_412_775);
    assert_eq!(kitti.duration().nanos(), 947_793_470);
    assert_eq!(kitti.topic("/kitti/oxts/imu").unwrap().message_count, 10);
    assert!(kitti.chunks.as_ref().unwrap().compression.contains_key("zstd"));
    let comma = info(comma_bag()).unwrap();
    assert_eq!(comma.message_count, 13_011);
    let imu_rate = comma.topic("/comma/imu").unwrap().rate_hz().unwrap();
    assert!((imu_rate - 104.0).abs() < 2.0, "about 104 Hz, got {imu_rate}");
    assert!(comma.to_string().contains("Topic: /comma/imu | Type: sensor_msgs/msg/Imu | Count: 6256"));
}

#[test]
fn kitti_bag_point_cloud_bytes_are_the_velodyne_file_bytes() {
    let messages = read_intact(&kitti_bag());
    let clouds: Vec<&RawMessage> = messages.iter().filter(|m| m.topic == "/kitti/velo/pointcloud").collect();
    for (i, cloud) in clouds.iter().enumerate() {
        let bin = std::fs::read(kitti_raw_drive().join(format!("velodyne_points/data/{i:010}.bin"))).unwrap();
        // PointCloud2 ends with `uint8[] data` then `bool is_dense`.
        let n = cloud.data.len();
        assert_eq!(&cloud.data[n - 1 - bin.len()..n - 1], &bin[..]);
    }
}

/// Decodes `m` with the fusor-msgs type its channel declares.
fn decode_as_declared(m: &RawMessage) -> Result<(), fusor_record::RecordError> {
    use fusor_msgs::geometry_msgs::{PoseStamped, TwistStamped};
    use fusor_msgs::sensor_msgs::{CameraInfo, CompressedImage, Imu, NavSatFix, PointCloud2};
    use fusor_msgs::tf2_msgs::TFMessage;
    macro_rules! by_type {
        ($($t:ty),*) => {
            $(if m.is::<$t>() {
                return m.decode::<$t>().map(|_| ());
            })*
        };
    }
    by_type!(PointCloud2, CompressedImage, CameraInfo, NavSatFix, Imu, TwistStamped, PoseStamped, TFMessage);
    panic!("{} has a type fusor does not know: {}", m.topic, m.schema_name);
}

#[test]
fn every_message_of_both_bags_decodes_with_fusor_msgs_types() {
    for bag in [kitti_bag(), comma_bag()] {
        let messages = read_intact(&bag);
        for m in &messages {
            decode_as_declared(m).unwrap_or_else(|e| panic!("{}: {e}", bag.display()));
        }
    }
}

#[test]
fn kitti_bag_payloads_are_the_kitti_files() {
    use fusor_msgs::sensor_msgs::{CompressedImage, NavSatFix, PointCloud2};
    let messages = read_intact(&kitti_bag());
    fn on<'a>(messages: &'a [RawMessage], topic: &'a str) -> impl Iterator<Item = &'a RawMessage> {
        messages.iter().filter(move |m| m.topic == topic)
    }
    for (i, m) in on(&messages, "/kitti/velo/pointcloud").enumerate() {
        let cloud: PointCloud2 = m.decode().unwrap();
        let bin = std::fs::read(kitti_raw_drive().join(format!("velodyne_points/data/{i:010}.bin"))).unwrap();
        assert!(cloud.data == bin, "scan {i}");
        assert_eq!(cloud.width as usize, bin.len() / 16);
    }
    for (i, m) in on(&messages, "/kitti/camera_color_left/image_raw/compressed").enumerate() {
        let image: CompressedImage = m.decode().unwrap();
        let png = std::fs::read(kitti_raw_drive().join(format!("image_02/data/{i:010}.png"))).unwrap();
        assert!(image.data == png, "image {i}");
    }
    for (i, m) in on(&messages, "/kitti/oxts/gps/fix").enumerate() {
        let fix: NavSatFix = m.decode().unwrap();
        let text = std::fs::read_to_string(kitti_raw_drive().join(format!("oxts/data/{i:010}.txt"))).unwrap();
        let v: Vec<f64> = text.split_whitespace().map(|s| s.parse().unwrap()).collect();
        assert_eq!((fix.latitude, fix.longitude, fix.altitude), (v[0], v[1], v[2]));
    }
}

#[test]
fn decoding_as_the_wrong_type_is_a_typed_error() {
    let messages = read_intact(&kitti_bag());
    let tf = messages.iter().find(|m| m.topic == "/tf_static").unwrap();
    let err = tf.decode::<fusor_msgs::sensor_msgs::Imu>().unwrap_err();
    assert!(matches!(err, fusor_record::RecordError::TypeMismatch { .. }), "{err}");
    let mut cut = tf.clone();
    cut.data.truncate(cut.data.len() / 2);
    let err = cut.decode::<fusor_msgs::tf2_msgs::TFMessage>().unwrap_err();
    assert!(matches!(err, fusor_record::RecordError::Msg { .. }), "{err}");
}

/// Two independent pipelines (the `rosbags` bag and our importer) agree on the KITTI stamps,
/// fixes and the IMU→lidar calibration.
#[test]
fn kitti_bag_and_our_import_agree_on_stamps_fixes_and_calibration() {
    use fusor_msgs::geometry_msgs::Transform as TfMsg;
    use fusor_msgs::sensor_msgs::{NavSatFix, PointCloud2};
    use fusor_msgs::tf2_msgs::TFMessage;
    use fusor_record::import::{kitti_raw, TOPIC_GNSS_FIX, TOPIC_LIDAR, TOPIC_TF_STATIC};
    use nalgebra::{Isometry3, Quaternion, Translation3, UnitQuaternion};

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ours.mcap");
    let options = kitti_raw::ImportOptions {
        image_mode: kitti_raw::ImageMode::CompressedPng,
        ..kitti_raw::ImportOptions::default()
    };
    kitti_raw::import(kitti_raw_drive(), data_dir().join("kitti_raw/2011_09_26"), &out, &options).unwrap();
    let ours = read_intact(&out);
    let theirs = read_intact(&kitti_bag());
    let pick = |messages: &[RawMessage], topic: &str| -> Vec<RawMessage> {
        messages.iter().filter(|m| m.topic == topic).cloned().collect()
    };

    let (our_clouds, their_clouds) = (pick(&ours, TOPIC_LIDAR), pick(&theirs, "/kitti/velo/pointcloud"));
    for (a, b) in our_clouds.iter().zip(&their_clouds) {
        let (a, b): (PointCloud2, PointCloud2) = (a.decode().unwrap(), b.decode().unwrap());
        assert_eq!(a.header.stamp, b.header.stamp);
        assert!(a.data == b.data);
    }
    let (our_fixes, their_fixes) = (pick(&ours, TOPIC_GNSS_FIX), pick(&theirs, "/kitti/oxts/gps/fix"));
    assert_eq!(our_fixes.len(), their_fixes.len());
    for (a, b) in our_fixes.iter().zip(&their_fixes) {
        let (a, b): (NavSatFix, NavSatFix) = (a.decode().unwrap(), b.decode().unwrap());
        assert_eq!(
            (a.header.stamp, a.latitude, a.longitude, a.altitude),
            (b.header.stamp, b.latitude, b.longitude, b.altitude)
        );
        assert_eq!(a.position_covariance, b.position_covariance);
    }

    let iso = |t: &TfMsg| {
        let r = t.rotation;
        Isometry3::from_parts(
            Translation3::new(t.translation.x, t.translation.y, t.translation.z),
            UnitQuaternion::from_quaternion(Quaternion::new(r.w, r.x, r.y, r.z)),
        )
    };
    let find = |tf: &TFMessage, parent: &str, child: &str| {
        let t = tf.transforms.iter().find(|t| t.header.frame_id == parent && t.child_frame_id == child);
        iso(&t.unwrap_or_else(|| panic!("no {parent} → {child}")).transform)
    };
    let our_tf: TFMessage = pick(&ours, TOPIC_TF_STATIC)[0].decode().unwrap();
    let their_tf: TFMessage = pick(&theirs, "/tf_static")[0].decode().unwrap();
    let imu_from_lidar = find(&our_tf, "base_link", "imu").inverse() * find(&our_tf, "base_link", "lidar");
    let imu_from_velo = find(&their_tf, "imu_link", "velo_link");
    assert!((imu_from_lidar.translation.vector - imu_from_velo.translation.vector).norm() < 1e-6);
    assert!(imu_from_lidar.rotation.angle_to(&imu_from_velo.rotation) < 1e-5);
}

#[test]
fn a_linear_scan_of_both_bags_keeps_every_message_despite_its_framing_checks() {
    // Without its last byte a bag has no usable footer, so it is scanned record by record with
    // the recovery scan's structure checks; a bag from another writer must pass them whole.
    let dir = tempfile::tempdir().unwrap();
    for bag in [kitti_bag(), comma_bag()] {
        let indexed = read_intact(&bag);
        let mut bytes = std::fs::read(&bag).unwrap();
        bytes.pop();
        let cut = dir.path().join("cut.mcap");
        std::fs::write(&cut, &bytes).unwrap();
        assert!(!fusor_record::McapReader::open(&cut).unwrap().is_indexed());
        let (scanned, error) = read_all(&cut).unwrap();
        assert!(matches!(error, Some(fusor_record::RecordError::Damaged { .. })), "{error:?}");
        let key = |m: &RawMessage| (m.log_time, m.topic.clone(), m.data.len());
        let (mut a, mut b): (Vec<_>, Vec<_>) = (indexed.iter().map(key).collect(), scanned.iter().map(key).collect());
        a.sort();
        b.sort();
        assert_eq!(a.len(), b.len(), "{}", bag.display());
        assert!(a == b, "{}: the scan and the index disagree", bag.display());
    }
}
