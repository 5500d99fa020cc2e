//! Schema texts: every type resolves, in the rosbag2 layout, without duplicates.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

use fusor_msgs::builtin_interfaces::{Duration, Time};
use fusor_msgs::diagnostic_msgs::{DiagnosticArray, DiagnosticStatus, KeyValue};
use fusor_msgs::geometry_msgs::*;
use fusor_msgs::nav_msgs::Path;
use fusor_msgs::sensor_msgs::*;
use fusor_msgs::std_msgs::{ColorRGBA, Header};
use fusor_msgs::tf2_msgs::TFMessage;
use fusor_msgs::vision_msgs::*;
use fusor_msgs::visualization_msgs::{Marker, MarkerArray, MeshFile, UVCoordinate};
use fusor_msgs::RosMessage;

const SEPARATOR: &str = "================================================================================";

/// Checks the layout of one full definition and returns the `MSG:` names in order.
fn check<M: RosMessage>() -> Vec<String> {
    let def = M::definition();
    let (pkg, rest) = M::TYPE_NAME.split_once("/msg/").expect("pkg/msg/Type");
    assert!(!rest.contains('/'), "{pkg}/{rest}");
    let sections: Vec<&str> = def.split(&format!("{SEPARATOR}\n")).collect();
    let mut names = Vec::new();
    let mut referenced = Vec::new();
    for (i, section) in sections.iter().enumerate() {
        assert!(section.ends_with('\n'), "{}: section {i} lacks its final newline", M::TYPE_NAME);
        let body = if i == 0 {
            section
        } else {
            let (first, body) = section.split_once('\n').expect("MSG line");
            let name = first.strip_prefix("MSG: ").expect("MSG: prefix");
            names.push(name.to_owned());
            body
        };
        for line in body.lines() {
            assert!(!line.trim().is_empty() && !line.starts_with('#'), "{}: {line:?}", M::TYPE_NAME);
            let ty = line.split_whitespace().next().unwrap_or_default();
            let ty = ty.split('[').next().unwrap_or_default();
            if ty.contains('/') {
                referenced.push(ty.to_owned());
            }
        }
    }
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "{}: duplicate sections {names:?}", M::TYPE_NAME);
    for r in &referenced {
        assert!(names.contains(r), "{}: {r} is referenced but has no MSG section", M::TYPE_NAME);
    }
    assert_eq!(names.len(), unique.len());
    assert_eq!(def, M::definition(), "deterministic");
    names
}

#[test]
fn every_type_has_a_complete_definition_without_duplicates() {
    check::<Time>();
    check::<Duration>();
    check::<Header>();
    check::<ColorRGBA>();
    check::<Point>();
    check::<Vector3>();
    check::<Quaternion>();
    check::<Pose>();
    check::<PoseStamped>();
    check::<PoseWithCovariance>();
    check::<Transform>();
    check::<TransformStamped>();
    check::<Twist>();
    check::<TwistStamped>();
    check::<PointField>();
    check::<PointCloud2>();
    check::<Image>();
    check::<CompressedImage>();
    check::<RegionOfInterest>();
    check::<CameraInfo>();
    check::<NavSatStatus>();
    check::<NavSatFix>();
    check::<Imu>();
    check::<TFMessage>();
    check::<ObjectHypothesis>();
    check::<ObjectHypothesisWithPose>();
    check::<BoundingBox3D>();
    check::<Detection3D>();
    check::<Detection3DArray>();
    check::<Path>();
    check::<UVCoordinate>();
    check::<MeshFile>();
    check::<Marker>();
    check::<MarkerArray>();
    check::<KeyValue>();
    check::<DiagnosticStatus>();
    check::<DiagnosticArray>();
}

#[test]
fn dependencies_are_listed_depth_first_in_field_order() {
    assert_eq!(
        check::<Detection3DArray>(),
        [
            "std_msgs/Header",
            "builtin_interfaces/Time",
            "vision_msgs/Detection3D",
            "vision_msgs/ObjectHypothesisWithPose",
            "vision_msgs/ObjectHypothesis",
            "geometry_msgs/PoseWithCovariance",
            "geometry_msgs/Pose",
            "geometry_msgs/Point",
            "geometry_msgs/Quaternion",
            "vision_msgs/BoundingBox3D",
            "geometry_msgs/Vector3",
        ]
    );
    assert_eq!(
        check::<MarkerArray>(),
        [
            "visualization_msgs/Marker",
            "std_msgs/Header",
            "builtin_interfaces/Time",
            "geometry_msgs/Pose",
            "geometry_msgs/Point",
            "geometry_msgs/Quaternion",
            "geometry_msgs/Vector3",
            "std_msgs/ColorRGBA",
            "builtin_interfaces/Duration",
            "sensor_msgs/CompressedImage",
            "visualization_msgs/UVCoordinate",
            "visualization_msgs/MeshFile",
        ]
    );
}

#[test]
fn type_names_follow_the_ros2_pkg_msg_type_form() {
    assert_eq!(PointCloud2::TYPE_NAME, "sensor_msgs/msg/PointCloud2");
    assert_eq!(Detection3DArray::TYPE_NAME, "vision_msgs/msg/Detection3DArray");
    assert_eq!(TFMessage::TYPE_NAME, "tf2_msgs/msg/TFMessage");
    assert!(Header::definition().starts_with("builtin_interfaces/Time stamp\nstring frame_id\n"));
}
