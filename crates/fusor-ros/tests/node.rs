//! `fusor node`'s ROS side on loopback: GNSS fixes become `map → base_link` on `/tf`, and
//! `/diagnostics` reports per-input counts, decode errors of malformed samples, and a silent
//! sensor as STALE, while the node stays up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use fusor_msgs::builtin_interfaces::Time;
use fusor_msgs::diagnostic_msgs::{DiagnosticArray, DiagnosticStatus};
use fusor_msgs::sensor_msgs::{NavSatFix, NavSatStatus};
use fusor_msgs::std_msgs::Header;
use fusor_msgs::tf2_msgs::TFMessage;
use fusor_ros::node::run_node;
use fusor_ros::params::NodeParams;
use fusor_ros::qos;
use fusor_ros::raw::RawCdr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn fix(i: u32) -> NavSatFix {
    NavSatFix {
        header: Header { stamp: Time { sec: 1_700_000_000, nanosec: i * 100_000_000 }, frame_id: "gnss".into() },
        status: NavSatStatus { status: NavSatStatus::STATUS_FIX, service: NavSatStatus::SERVICE_GPS },
        latitude: 48.137 + i as f64 * 1e-5, // ~1.1 m north per fix
        longitude: 11.575,
        altitude: 519.5,
        position_covariance: [0.0; 9],
        position_covariance_type: 0,
    }
}

#[test]
fn node_publishes_tf_from_gnss_and_reports_health_in_diagnostics() {
    let domain = test_domain(8);
    let mut fusor = node("fusor", domain);
    let mut params = NodeParams::from_yaml(
        "/fusor:\n  ros__parameters:\n    diagnostics:\n      period_s: 0.2\n      stale_after_s: 0.5\n",
        "fusor",
    )
    .unwrap();
    params.topics.points = "/test/points".into();
    let stop = AtomicBool::new(false);
    let mut peer = node("sensors", domain);
    let gnss = peer.publisher::<NavSatFix>("/sensing/gnss/fix", &qos::reliable()).unwrap();
    let garbage = peer.raw_writer("/sensing/gnss/fix", "sensor_msgs/msg/NavSatFix", &qos::reliable()).unwrap();
    let tf = peer.subscription::<TFMessage>("/tf", &qos::reliable()).unwrap();
    let diagnostics = peer.subscription::<DiagnosticArray>("/diagnostics", &qos::reliable()).unwrap();

    let (transforms, last_diag) = std::thread::scope(|s| {
        let fusor_thread = s.spawn(|| run_node(&mut fusor, &params, &stop, None));
        let mut transforms = Vec::new();
        let mut last_diag = None;
        let start = Instant::now();
        let mut i = 0;
        while start.elapsed() < Duration::from_secs(6) && (transforms.len() < 5 || last_diag.is_none()) {
            gnss.publish(fix(i)).unwrap();
            // A truncated sample on the same topic and type: must be counted, not crash the node.
            garbage.write(RawCdr::from_message_bytes(&[0, 1, 0, 0, 9, 0, 0, 0, b'x']).unwrap()).unwrap();
            i += 1;
            std::thread::sleep(Duration::from_millis(100));
            while let Ok(Some((m, _))) = tf.take() {
                transforms.extend(m.transforms);
            }
            while let Ok(Some((m, _))) = diagnostics.take() {
                let gnss_status = m.status.iter().find(|s| s.name == "fusor: input gnss").cloned();
                let points_stale =
                    m.status.iter().any(|s| s.name == "fusor: input points" && s.level == DiagnosticStatus::STALE);
                if points_stale
                    && gnss_status.is_some_and(|g| value(&g, "decode_errors") > 0 && value(&g, "received") > 0)
                {
                    last_diag = Some(m);
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        fusor_thread.join().unwrap().unwrap();
        (transforms, last_diag)
    });

    assert!(transforms.len() >= 5, "only {} transforms on /tf", transforms.len());
    assert!(transforms.iter().all(|t| t.header.frame_id == "map" && t.child_frame_id == "base_link"));
    let first = &transforms[0];
    let last = transforms.last().unwrap();
    let north_m = last.transform.translation.y - first.transform.translation.y;
    let expected_m = (last.header.stamp.nanosec - first.header.stamp.nanosec) as f64 / 1e8 * 1.113;
    assert!((north_m - expected_m).abs() < 0.05, "moved {north_m} m north, expected {expected_m}");

    let diag = last_diag.expect("no /diagnostics with GNSS fixes and decode errors counted and the silent lidar STALE");
    let node_status = diag.status.iter().find(|s| s.name == "fusor: node").unwrap();
    assert_ne!(node_status.level, DiagnosticStatus::OK);
}

fn value(status: &DiagnosticStatus, key: &str) -> u64 {
    status.values.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.parse().ok()).unwrap_or(0)
}

/// A surround rig: the node subscribes each extra camera's image and camera info, forwards them to
/// the pipeline under their own topics, and reports them as inputs of their own, rated like the
/// front camera.
#[test]
fn node_takes_extra_cameras_under_their_namespaces_and_forwards_them_to_the_pipeline() {
    use fusor_msgs::sensor_msgs::{CameraInfo, Image};
    use fusor_ros::node::{PipelineLink, SensorSample};

    let domain = test_domain(9);
    let mut fusor = node("fusor", domain);
    let mut params = NodeParams::from_yaml(
        "/fusor:\n  ros__parameters:\n    topics:\n      extra_cameras: [/test/cam/left, /test/cam/right]\n    \
         diagnostics:\n      period_s: 0.2\n      expected_rate_hz:\n        image: 10.0\n",
        "fusor",
    )
    .unwrap();
    params.topics.points = "/test/points".into();
    let (sample_tx, sample_rx) = crossbeam_channel::bounded::<SensorSample>(256);
    let (goal_tx, _goal_rx) = crossbeam_channel::bounded(8);
    let (_output_tx, output_rx) = crossbeam_channel::bounded(8);
    let link = PipelineLink { samples: sample_tx, goals: goal_tx, outputs: output_rx, diagnostics: Box::new(Vec::new) };
    let stop = AtomicBool::new(false);
    let mut peer = node("cameras", domain);
    let left_image = peer.publisher::<Image>("/test/cam/left/image_raw", &qos::reliable()).unwrap();
    let left_info = peer.publisher::<CameraInfo>("/test/cam/left/camera_info", &qos::reliable()).unwrap();
    let diagnostics = peer.subscription::<DiagnosticArray>("/diagnostics", &qos::reliable()).unwrap();
    let image = |i: u32| Image {
        header: Header { stamp: Time { sec: 1_700_000_000, nanosec: i * 100_000_000 }, frame_id: "camera_left".into() },
        height: 2,
        width: 3,
        encoding: "rgb8".into(),
        is_bigendian: 0,
        step: 9,
        data: vec![i as u8; 18],
    };
    let info = CameraInfo {
        header: Header { stamp: Time { sec: 1_700_000_000, nanosec: 0 }, frame_id: "camera_left".into() },
        height: 2,
        width: 3,
        ..CameraInfo::default()
    };

    let (summary, samples, status) = std::thread::scope(|s| {
        let fusor_thread = s.spawn(|| run_node(&mut fusor, &params, &stop, Some(link)));
        let mut samples = Vec::new();
        let mut status = None;
        let start = Instant::now();
        let mut i = 0;
        while start.elapsed() < Duration::from_secs(6) && (samples.len() < 6 || status.is_none()) {
            left_image.publish(image(i)).unwrap();
            left_info.publish(info.clone()).unwrap();
            i += 1;
            std::thread::sleep(Duration::from_millis(100));
            samples.extend(sample_rx.try_iter());
            while let Ok(Some((m, _))) = diagnostics.take() {
                let left = m.status.iter().find(|s| s.name == "fusor: input image.left").cloned();
                if left.as_ref().is_some_and(|l| value(l, "received") > 0) {
                    status = left;
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        let summary = fusor_thread.join().unwrap().unwrap();
        (summary, samples, status)
    });

    let on = |topic: &str| samples.iter().filter(|s| s.topic == topic).count();
    assert!(
        on("/test/cam/left/image_raw") >= 3,
        "forwarded: {:?}",
        samples.iter().map(|s| &s.topic).collect::<Vec<_>>()
    );
    assert!(on("/test/cam/left/camera_info") >= 3);
    let first = samples.iter().find(|s| s.topic == "/test/cam/left/image_raw").unwrap();
    assert_eq!(first.type_name, "sensor_msgs/msg/Image");
    let decoded: Image = fusor_msgs::decode(&first.cdr).unwrap();
    assert_eq!((decoded.header.frame_id.as_str(), decoded.width, decoded.data.len()), ("camera_left", 3, 18));

    let received = |key: &str| summary.inputs.iter().find(|i| i.key == key).map(|i| (i.topic.clone(), i.received));
    let (topic, n) = received("image.left").expect("an input image.left");
    assert_eq!(topic, "/test/cam/left/image_raw");
    assert!(n >= 3, "image.left received {n}");
    assert!(received("camera_info.left").is_some_and(|(_, n)| n >= 3));
    // The right camera is subscribed and silent; the front camera saw nothing.
    assert_eq!(received("image.right"), Some(("/test/cam/right/image_raw".into(), 0)));
    assert_eq!(
        received("compressed_image.right").map(|(t, _)| t).as_deref(),
        Some("/test/cam/right/image_raw/compressed")
    );
    assert_eq!(received("image").map(|(_, n)| n), Some(0));

    let status = status.expect("no `fusor: input image.left` status with messages received");
    assert_eq!(status.hardware_id, "/test/cam/left/image_raw");
    let expected = status.values.iter().find(|kv| kv.key == "expected_rate_hz").map(|kv| kv.value.as_str());
    assert_eq!(expected, Some("10.00"), "the extra camera is rated like the front one");
}
