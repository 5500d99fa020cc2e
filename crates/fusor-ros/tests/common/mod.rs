//! Shared set-up of the loopback-only DDS tests.
#![allow(dead_code)]

use fusor_msgs::builtin_interfaces::Time;
use fusor_msgs::geometry_msgs::{Point, Pose, Quaternion, Vector3};
use fusor_msgs::sensor_msgs::{PointCloud2, PointField};
use fusor_msgs::std_msgs::Header;
use fusor_msgs::vision_msgs::{
    BoundingBox3D, Detection3D, Detection3DArray, ObjectHypothesis, ObjectHypothesisWithPose,
};
use fusor_ros::{NetworkScope, RosContext, RosContextBuilder};
use std::time::{Duration, Instant};

/// Keeps every participant of these tests on 127.0.0.1, as ROS 2's own switch would.
pub fn loopback_env() {
    std::env::set_var("ROS_LOCALHOST_ONLY", "1");
    std::env::set_var("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST");
}

/// A DDS domain in 1..=100 private to this process and `slot` (so parallel tests and parallel
/// test binaries don't hear each other).
pub fn test_domain(slot: u16) -> u16 {
    let pid = std::process::id();
    1 + ((pid as u16 % 10) * 10 + slot % 10) % 100
}

/// A loopback-only node on `domain`.
pub fn node(name: &str, domain: u16) -> RosContext {
    loopback_env();
    match RosContextBuilder::new(name).domain_id(domain).scope(NetworkScope::Loopback).build() {
        Ok(ctx) => ctx,
        Err(e) => panic!("creating node {name} on domain {domain}: {e}"),
    }
}

/// Polls `f` every 5 ms until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// Two detections in base_link with class hypotheses and track-like ids.
pub fn sample_detections() -> Detection3DArray {
    let header = Header { stamp: Time { sec: 1_700_000_000, nanosec: 123_456_789 }, frame_id: "base_link".into() };
    let det = |id: &str, class: &str, x: f64, score: f64| Detection3D {
        header: header.clone(),
        results: vec![ObjectHypothesisWithPose {
            hypothesis: ObjectHypothesis { class_id: class.into(), score },
            pose: Default::default(),
        }],
        bbox: BoundingBox3D {
            center: Pose {
                position: Point { x, y: -2.5, z: 0.8 },
                orientation: Quaternion { x: 0.0, y: 0.0, z: 0.0, w: 1.0 },
            },
            size: Vector3 { x: 4.5, y: 1.9, z: 1.6 },
        },
        id: id.into(),
    };
    Detection3DArray {
        header: header.clone(),
        detections: vec![det("7", "car", 12.5, 0.9), det("11", "pedestrian", 6.0, 0.6)],
    }
}

/// An organised x/y/z/intensity cloud of about `bytes` bytes with a recognisable pattern.
pub fn cloud_of_size(bytes: usize, seq: u32) -> PointCloud2 {
    let point_step = 16u32;
    let width = (bytes / point_step as usize) as u32;
    let data: Vec<u8> = (0..width as usize * point_step as usize)
        .map(|i| (i as u32).wrapping_mul(31).wrapping_add(seq) as u8)
        .collect();
    let field = |name: &str, offset: u32| PointField { name: name.into(), offset, datatype: 7, count: 1 };
    PointCloud2 {
        header: Header { stamp: Time { sec: 1_700_000_000 + seq as i32, nanosec: 0 }, frame_id: "lidar".into() },
        height: 1,
        width,
        fields: vec![field("x", 0), field("y", 4), field("z", 8), field("intensity", 12)],
        is_bigendian: false,
        point_step,
        row_step: point_step * width,
        data,
        is_dense: true,
    }
}
