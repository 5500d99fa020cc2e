//! Interop with an independent DDS implementation: Eclipse Cyclone DDS through its PyPI wheel
//! (`cyclonedds==11.0.1`, no ROS, no Rust), with IDL types written from the ROS 2 definitions
//! in `tests/py/ros2_peer.py`. Loopback only on both sides.
//!
//! Needs the project venv (`<repo>/.venv`, made by `make setup`); installs `cyclonedds` into it
//! when missing. Without the venv it fails saying so: it never skips silently.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use fusor_msgs::sensor_msgs::NavSatFix;
use fusor_msgs::vision_msgs::Detection3DArray;
use fusor_ros::qos;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's Python with `cyclonedds` importable (`make setup` installs it; installed here once
/// per test binary when missing, the other tests waiting for that one install).
fn python_with_cyclonedds() -> PathBuf {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON.get_or_init(install_cyclonedds).clone()
}

fn install_cyclonedds() -> PathBuf {
    let python = repo_root().join(".venv/bin/python");
    assert!(python.exists(), "{} is missing: run make setup", python.display());
    let has =
        |p: &PathBuf| Command::new(p).args(["-c", "import cyclonedds.domain"]).status().is_ok_and(|s| s.success());
    if !has(&python) {
        let status = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "cyclonedds==11.0.1"])
            .status()
            .expect("running pip");
        assert!(status.success(), "pip install cyclonedds==11.0.1 failed");
        assert!(has(&python), "cyclonedds still not importable after pip install");
    }
    python
}

fn peer(python: &PathBuf, args: &[&str]) -> Child {
    Command::new(python)
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/ros2_peer.py"))
        .args(args)
        .env("ROS_LOCALHOST_ONLY", "1")
        .env("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the Python Cyclone peer")
}

/// Waits for `child` at most `timeout`, killing it then; returns (success, stdout, stderr).
fn finish(mut child: Child, timeout: Duration) -> (bool, String, String) {
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    (status.is_some_and(|s| s.success()), out, err)
}

#[test]
fn cyclone_decodes_fusors_obstacles_field_by_field() {
    let python = python_with_cyclonedds();
    let domain = test_domain(4);
    let mut fusor = node("fusor_obstacles", domain);
    let publisher = fusor.publisher::<Detection3DArray>("/perception/obstacles", &qos::transient_local(1)).unwrap();
    let sent = sample_detections();
    publisher.publish(sent.clone()).unwrap();
    let child = peer(&python, &["sub-obstacles", "--domain", &domain.to_string(), "--timeout", "20"]);
    let (ok, out, err) = finish(child, Duration::from_secs(30));
    assert!(ok, "Cyclone peer did not decode /perception/obstacles:\nstdout: {out}\nstderr: {err}");
    let got: serde_json::Value = serde_json::from_str(out.trim()).expect("peer prints JSON");
    assert_eq!(got["frame_id"], "base_link");
    assert_eq!(got["stamp"], serde_json::json!([1_700_000_000, 123_456_789]));
    let dets = got["detections"].as_array().unwrap();
    assert_eq!(dets.len(), 2);
    assert_eq!(dets[0]["id"], "7");
    assert_eq!(dets[0]["classes"], serde_json::json!([["car", 0.9]]));
    assert_eq!(dets[0]["center"], serde_json::json!([12.5, -2.5, 0.8]));
    assert_eq!(dets[0]["size"], serde_json::json!([4.5, 1.9, 1.6]));
    assert_eq!(dets[1]["id"], "11");
    assert_eq!(dets[1]["classes"][0][0], "pedestrian");
    drop(publisher);
}

#[test]
fn fusor_decodes_cyclones_navsatfix() {
    let python = python_with_cyclonedds();
    let domain = test_domain(5);
    let mut fusor = node("fusor_gnss", domain);
    let subscription = fusor.subscription::<NavSatFix>("/sensing/gnss/fix", &qos::transient_local(10)).unwrap();
    let child = peer(&python, &["pub-navsatfix", "--domain", &domain.to_string(), "--count", "3", "--linger", "20"]);
    let mut fixes = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while fixes.len() < 3 && Instant::now() < deadline {
        match subscription.take() {
            Ok(Some((fix, _))) => fixes.push(fix),
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("{e}"),
        }
    }
    let (_, out, err) = finish(child, Duration::from_millis(1));
    assert_eq!(
        fixes.len(),
        3,
        "NavSatFix from Cyclone: got {} of 3\npeer stdout: {out}\npeer stderr: {err}",
        fixes.len()
    );
    for (i, fix) in fixes.iter().enumerate() {
        assert_eq!(fix.header.frame_id, "gnss");
        assert_eq!(fix.header.stamp.sec, 1_700_000_000 + i as i32);
        assert_eq!(fix.header.stamp.nanosec, 250_000_000);
        assert!((fix.latitude - (48.137 + i as f64 * 1e-5)).abs() < 1e-12);
        assert_eq!(fix.longitude, 11.575);
        assert_eq!(fix.altitude, 519.5);
        assert_eq!(fix.status.service, 1);
        assert_eq!(fix.position_covariance, [0.25, 0.0, 0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 1.0]);
        assert_eq!(fix.position_covariance_type, 2);
    }
}
