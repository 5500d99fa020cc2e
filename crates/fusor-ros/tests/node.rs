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
