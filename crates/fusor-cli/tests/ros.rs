//! `fusor play` and `fusor record` as processes over loopback DDS: a simulated drive played and
//! recorded keeps every message and byte, and a recorder killed with SIGKILL leaves every
//! complete chunk readable.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{fusor, test_domain};
use fusor_msgs::builtin_interfaces::Time;
use fusor_msgs::sensor_msgs::{PointCloud2, PointField};
use fusor_msgs::std_msgs::Header;
use fusor_record::McapReader;
use fusor_ros::{qos, NetworkScope, RosContextBuilder};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Waits for `child` at most `timeout` (then kills it); returns whether it succeeded.
fn wait_bounded(child: &mut Child, timeout: Duration) -> bool {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.success();
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn messages_by_topic(path: &Path) -> BTreeMap<String, Vec<Vec<u8>>> {
    let mut out: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for m in McapReader::open(path).unwrap().messages().unwrap() {
        let m = m.unwrap();
        out.entry(m.topic).or_default().push(m.data);
    }
    out
}

/// `copy` is `original` plus DDS's padding of a sample to 4 bytes (at most 3 trailing zeros).
fn same_message(original: &[u8], copy: &[u8]) -> bool {
    copy.len() >= original.len()
        && copy.len() - original.len() < 4
        && &copy[..original.len()] == original
        && copy[original.len()..].iter().all(|&b| b == 0)
}

#[test]
fn play_of_a_simulated_drive_is_recorded_with_every_message_and_byte() {
    let dir = tempfile::tempdir().unwrap();
    let drive = dir.path().join("drive.mcap");
    let recorded = dir.path().join("recorded.mcap");
    let out = fusor(0).args(["simulate", "--duration", "1", "-o"]).arg(&drive).output().unwrap();
    assert!(out.status.success(), "simulate: {}", String::from_utf8_lossy(&out.stderr));
    let domain = test_domain(6);

    let mut recorder = fusor(domain)
        .args(["record", "--idle-exit", "3", "--duration", "40", "-o"])
        .arg(&recorded)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let play =
        fusor(domain).arg("play").arg(&drive).args(["--rate", "2", "--wait-for-subscribers", "15"]).output().unwrap();
    assert!(play.status.success(), "play: {}", String::from_utf8_lossy(&play.stderr));
    assert!(wait_bounded(&mut recorder, Duration::from_secs(45)), "record did not finish cleanly");

    let original = messages_by_topic(&drive);
    let copy = messages_by_topic(&recorded);
    assert_eq!(original.keys().collect::<Vec<_>>(), copy.keys().collect::<Vec<_>>(), "topics");
    for (topic, messages) in &original {
        assert_eq!(messages.len(), copy[topic].len(), "{topic}: message count");
        for (i, (a, b)) in messages.iter().zip(&copy[topic]).enumerate() {
            assert!(same_message(a, b), "{topic} message {i}: {} vs {} bytes or content differs", a.len(), b.len());
        }
    }
}

fn cloud(seq: u32) -> PointCloud2 {
    let width = 2_500u32;
    let field = |name: &str, offset: u32| PointField { name: name.into(), offset, datatype: 7, count: 1 };
    PointCloud2 {
        header: Header { stamp: Time { sec: 1_700_000_000, nanosec: seq }, frame_id: "lidar".into() },
        height: 1,
        width,
        fields: vec![field("x", 0), field("y", 4), field("z", 8), field("intensity", 12)],
        is_bigendian: false,
        point_step: 16,
        row_step: 16 * width,
        data: (0..width as usize * 16).map(|i| (i as u32 ^ seq) as u8).collect(),
        is_dense: true,
    }
}

#[test]
fn record_killed_with_sigkill_leaves_every_complete_chunk_readable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.mcap");
    let domain = test_domain(7);
    std::env::set_var("ROS_LOCALHOST_ONLY", "1");
    let mut recorder = fusor(domain)
        .args(["record", "--chunk-size", "65536", "--duration", "60", "-o"])
        .arg(&path)
        .arg("/test/points")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut node =
        RosContextBuilder::new("cloud_source").domain_id(domain).scope(NetworkScope::Loopback).build().unwrap();
    let publisher = node.publisher::<PointCloud2>("/test/points", &qos::reliable()).unwrap();
    // 40 kB clouds at ~100 Hz for 2 s: dozens of 64 kB chunks reach the disk.
    let start = Instant::now();
    let mut seq = 0u32;
    while start.elapsed() < Duration::from_secs(2) {
        publisher.publish(cloud(seq)).unwrap();
        seq += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    // Child::kill is SIGKILL on Unix: no handler, no finish, no flush.
    recorder.kill().unwrap();
    recorder.wait().unwrap();

    let reader = McapReader::open(&path).unwrap();
    assert!(!reader.is_indexed(), "a killed recording has no summary");
    let mut read = Vec::new();
    for m in reader.messages().unwrap() {
        match m {
            Ok(m) => read.push(m),
            Err(_) => break, // the open chunk at the kill: damage after the intact prefix
        }
    }
    assert!(read.len() >= 20, "only {} of {seq} messages in complete chunks", read.len());
    // Every message read is intact and they are consecutive clouds.
    let first: PointCloud2 = read[0].decode().unwrap();
    for (i, m) in read.iter().enumerate() {
        let expected = fusor_msgs::encode(&cloud(first.header.stamp.nanosec + i as u32)).unwrap();
        assert!(same_message(&expected, &m.data), "message {i} damaged or out of order");
    }
}
