//! Compatibility with an independent ROS 2 writer (`rosbags`): schema texts and CDR bytes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

use fusor_msgs::geometry_msgs::{PoseStamped, TwistStamped};
use fusor_msgs::sensor_msgs::{CameraInfo, CompressedImage, Imu, NavSatFix, NavSatStatus, PointCloud2};
use fusor_msgs::tf2_msgs::TFMessage;
use fusor_msgs::{decode, encode, RosMessage};

fn schema(file: &str) -> String {
    let path = format!("{}/tests/data/schemas/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn wire(file: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/wire/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn assert_definition_matches<M: RosMessage>() {
    let file = format!("{}.msg", M::TYPE_NAME.replace('/', "_"));
    assert_eq!(M::definition(), schema(&file), "definition of {}", M::TYPE_NAME);
}

#[test]
fn definitions_equal_the_schemas_rosbags_writes() {
    assert_definition_matches::<PointCloud2>();
    assert_definition_matches::<NavSatFix>();
    assert_definition_matches::<Imu>();
    assert_definition_matches::<CameraInfo>();
    assert_definition_matches::<CompressedImage>();
    assert_definition_matches::<TFMessage>();
    assert_definition_matches::<PoseStamped>();
    assert_definition_matches::<TwistStamped>();
}

/// Decodes a message written by rosbags and re-encodes it to the very same bytes.
fn assert_round_trips_bytes<M: RosMessage>(file: &str) -> M {
    let bytes = wire(file);
    let msg: M = decode(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_eq!(encode(&msg).unwrap(), bytes, "{file} re-encoded differently");
    msg
}

#[test]
fn decodes_and_reencodes_rosbags_messages_byte_for_byte() {
    let fix: NavSatFix = assert_round_trips_bytes("kitti_kitti_oxts_gps_fix.cdr");
    assert_eq!(fix.header.frame_id, "imu_link");
    assert_eq!(fix.status.status, NavSatStatus::STATUS_FIX);
    assert_eq!(fix.status.service, NavSatStatus::SERVICE_GPS);
    assert_eq!(fix.position_covariance_type, NavSatFix::COVARIANCE_TYPE_APPROXIMATED);
    assert!((fix.latitude - 49.0).abs() < 0.1 && (fix.longitude - 8.4).abs() < 0.1, "{fix:?}");

    let tf: TFMessage = assert_round_trips_bytes("kitti_tf_static.cdr");
    let children: Vec<_> = tf.transforms.iter().map(|t| t.child_frame_id.as_str()).collect();
    assert_eq!(children, ["velo_link", "camera_color_left"]);

    let info: CameraInfo = assert_round_trips_bytes("kitti_kitti_camera_color_left_camera_info.cdr");
    assert_eq!((info.width, info.height, info.distortion_model.as_str()), (1242, 375, "plumb_bob"));

    let imu: Imu = assert_round_trips_bytes("comma_comma_imu.cdr");
    assert_eq!(imu.orientation_covariance[0], -1.0);

    let _: Imu = assert_round_trips_bytes("kitti_kitti_oxts_imu.cdr");
    let _: NavSatFix = assert_round_trips_bytes("comma_comma_gnss_fix.cdr");
    let _: CameraInfo = assert_round_trips_bytes("comma_comma_camera_camera_info.cdr");
    let pose: PoseStamped = assert_round_trips_bytes("comma_comma_global_pose.cdr");
    assert_eq!(pose.header.frame_id, "ecef");
    let _: TwistStamped = assert_round_trips_bytes("comma_comma_can_speed.cdr");
    let _: TwistStamped = assert_round_trips_bytes("kitti_kitti_oxts_gps_vel.cdr");
}
