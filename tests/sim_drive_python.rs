//! A simulated drive is a valid ROS 2 recording for an independent reader: the Python `mcap` +
//! `mcap-ros2-support` packages (schema text parsed from the file, CRCs checked) decode every
//! message, and their ground-truth fields agree with fusor's own decoder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fusor_msgs::vision_msgs::Detection3DArray;
use fusor_record::McapReader;
use fusor_sim::drive::Drive;
use fusor_sim::record::{ground_truth_from_msg, write_mcap, TOPIC_GT_OBJECTS};
use fusor_sim::scenario::Scenario;
use fusor_tests::project_root;
use std::collections::BTreeMap;
use std::process::Command;

fn python() -> std::path::PathBuf {
    let python = project_root().join(".venv/bin/python");
    assert!(python.is_file(), "no project venv at {}: run `make setup`", python.display());
    let has = |m: &str| Command::new(&python).args(["-c", &format!("import {m}")]).status().is_ok_and(|s| s.success());
    if !(has("mcap") && has("mcap_ros2")) {
        let ok = Command::new(&python)
            .args(["-m", "pip", "install", "-q", "mcap", "mcap-ros2-support"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "could not pip install mcap mcap-ros2-support into the venv");
    }
    python
}

#[test]
fn python_mcap_reader_decodes_a_simulated_drive_and_agrees_on_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.mcap");
    let mut scenario = Scenario::load(project_root().join("recordings/town-day.toml")).unwrap();
    scenario.duration_s = 0.35;
    write_mcap(Drive::new(&scenario).unwrap(), &path, |_, _| {}).unwrap();

    // Ours: messages per topic, and ground-truth (id, lidar points) per scan.
    let mut ours: BTreeMap<String, usize> = BTreeMap::new();
    let mut our_truth = Vec::new();
    for message in McapReader::open(&path).unwrap().messages().unwrap() {
        let message = message.unwrap();
        *ours.entry(message.topic.clone()).or_default() += 1;
        if message.topic == TOPIC_GT_OBJECTS {
            let objects = ground_truth_from_msg(&message.decode::<Detection3DArray>().unwrap()).unwrap();
            our_truth.push(objects.len());
        }
    }

    let script = project_root().join("crates/fusor-record/tests/py/decode_mcap.py");
    let out = Command::new(python()).arg(&script).arg(&path).output().unwrap();
    assert!(out.status.success(), "python reader failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let decoded: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let messages = decoded["messages"].as_array().unwrap();
    let mut theirs: BTreeMap<String, usize> = BTreeMap::new();
    let mut their_truth = Vec::new();
    for m in messages {
        let topic = m["topic"].as_str().unwrap().to_owned();
        if topic == TOPIC_GT_OBJECTS {
            let detections = m["msg"]["detections"].as_array().unwrap();
            // Every ground-truth detection carries a decimal track id and a class hypothesis.
            for d in detections {
                assert!(d["id"].as_str().unwrap().parse::<u64>().is_ok(), "{d}");
                let class = d["results"][0]["hypothesis"]["class_id"].as_str().unwrap();
                assert!(["car", "pedestrian", "cyclist"].contains(&class), "{class}");
            }
            their_truth.push(detections.len());
        }
        *theirs.entry(topic).or_default() += 1;
    }
    assert_eq!(ours, theirs, "topic counts differ between fusor and the Python reader");
    assert_eq!(our_truth, their_truth);
    assert!(ours.get("/sensing/lidar/points").copied().unwrap_or(0) >= 3, "{ours:?}");
    assert!(our_truth.iter().all(|&n| n > 0), "scans without ground truth: {our_truth:?}");
}
