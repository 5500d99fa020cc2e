//! `fusor replay` specifications: every scan processed, determinism, degraded and damaged
//! drives, pacing, real KITTI data, and an `.rrd` checked by the independent Python Rerun SDK.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use common::{project_root, rerun_python, simulate, ENTITY_ROWS};
use fusor_record::{McapReader, McapWriter};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Instant;

const LIDAR_TOPIC: &str = "/sensing/lidar/points";

fn fusor() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fusor"))
}

fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| common::scratch_dir("replay"))
}

/// A 1 s simulated drive (10 scans), generated once per test binary.
fn sim_drive() -> &'static Path {
    static DRIVE: OnceLock<PathBuf> = OnceLock::new();
    DRIVE.get_or_init(|| {
        let path = scratch().join("town-day-1s.mcap");
        simulate("recordings/town-day.toml", "1", &path);
        path
    })
}

fn topic_count(path: &Path, topic: &str) -> u64 {
    fusor_record::info(path).unwrap().topic(topic).map(|t| t.message_count).unwrap_or(0)
}

/// Runs `fusor replay <drive> <args> --metrics-json <tmp>`; returns the output and the metrics.
fn replay(drive: &Path, args: &[&str], tag: &str) -> (Output, Value) {
    let metrics = scratch().join(format!("metrics-{tag}.json"));
    let out = fusor()
        .current_dir(project_root())
        .arg("replay")
        .arg(drive)
        .args(args)
        .arg("--metrics-json")
        .arg(&metrics)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&metrics).unwrap_or_else(|_| "null".into());
    (out, serde_json::from_str(&text).unwrap())
}

fn frames(metrics: &Value) -> u64 {
    metrics["replay"]["frames"]["frames"].as_u64().unwrap()
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "replay failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn max_replay_processes_every_lidar_scan_and_is_deterministic() {
    let drive = sim_drive();
    let scans = topic_count(drive, LIDAR_TOPIC);
    assert_eq!(scans, 10);
    let (first, a) = replay(drive, &["--max"], "det-a");
    assert_ok(&first);
    let (second, b) = replay(drive, &["--max"], "det-b");
    assert_ok(&second);
    assert_eq!(frames(&a), scans, "every scan becomes a fused frame");
    let f = &a["replay"]["frames"];
    assert_eq!(f["with_camera"].as_u64(), Some(scans), "{f}");
    assert_eq!(f["with_ground_truth"].as_u64(), Some(scans), "{f}");
    // The first scan has no motion history; every later one is deskewed.
    assert_eq!(f["deskewed"].as_u64(), Some(scans - 1), "{f}");
    // The ego pose from GNSS (σ 0.3 m, 10 Hz) + IMU yaw rate against the simulator's truth.
    let e = &f["pose_vs_ground_truth"];
    assert_eq!(e["frames"].as_u64(), Some(scans), "{e}");
    assert!(e["position_rms_m"].as_f64().unwrap() < 1.0, "{e}");
    assert!(e["heading_rms_deg"].as_f64().unwrap() < 6.0, "{e}");
    // The position filter's accelerometer bias reaches the metrics and the summary (the
    // simulated IMU's is σ 0.03 m/s²; one second of fixes cannot make much of it).
    let bias = &a["replay"]["source"]["pose"]["accel_bias_m_s2"];
    let bias: Vec<f64> =
        bias.as_array().unwrap_or_else(|| panic!("{bias}")).iter().map(|b| b.as_f64().unwrap()).collect();
    assert!(bias.len() == 3 && bias.iter().all(|b| b.abs() < 0.5), "{bias:?}");
    assert_eq!(a["replay"]["frames"]["content_hash"], b["replay"]["frames"]["content_hash"]);
    assert_eq!(a["replay"]["frames"]["points"], b["replay"]["frames"]["points"]);
    let counts = |m: &Value| -> Vec<(String, u64)> {
        m["runtime"]["actors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| (x["name"].to_string(), x["msgs_out"].as_u64().unwrap()))
            .collect()
    };
    assert_eq!(counts(&a), counts(&b));
    let text = String::from_utf8_lossy(&first.stdout);
    assert!(text.contains("content hash:"), "{text}");
    assert!(text.contains("accelerometer bias in base_link ["), "{text}");
    // The synchroniser's counters reach the summary.
    let sync = &a["replay"]["sync"];
    assert_eq!(sync["sets"].as_u64(), Some(scans), "{sync}");
    assert_eq!(sync["degraded"].as_u64(), Some(0), "{sync}");
    assert!(text.contains("sync: 10 sets"), "{text}");
    // The built-in pipeline plans on the town's Lanelet2 map: a route to the goal and a local
    // path on every frame, deterministically.
    let p = &a["replay"]["perception"];
    let plan = &p["planning"];
    assert_eq!(plan["frames"].as_u64(), Some(scans), "{plan}");
    assert_eq!(plan["outcomes"]["planned"].as_u64(), Some(scans), "{plan}");
    assert_eq!(plan["replans"]["first route"].as_u64(), Some(1), "{plan}");
    assert!(plan["last_route_length_m"].as_f64().unwrap() > 100.0, "{plan}");
    assert_eq!(p["content_hash"], b["replay"]["perception"]["content_hash"], "detections, tracks and paths repeat");
}

/// Copies `src` to `dst` without the messages of topics for which `drop` is true.
fn filter_mcap(src: &Path, dst: &Path, drop: impl Fn(&str) -> bool) {
    let reader = McapReader::open(src).unwrap();
    let mut writer = McapWriter::create(dst).unwrap();
    for msg in reader.messages().unwrap() {
        let msg = msg.unwrap();
        if drop(&msg.topic) {
            continue;
        }
        let schema = msg.schema_text.as_deref().unwrap_or("");
        writer.write_raw(&msg.topic, &msg.schema_name, schema, msg.log_time, msg.publish_time, &msg.data).unwrap();
    }
    writer.finish().unwrap();
}

#[test]
fn drive_without_camera_still_emits_every_frame_marked_degraded() {
    let drive = scratch().join("no-camera.mcap");
    filter_mcap(sim_drive(), &drive, |t| t.starts_with("/sensing/camera/"));
    let scans = topic_count(&drive, LIDAR_TOPIC);
    let (out, m) = replay(&drive, &["--max"], "no-camera");
    assert_ok(&out);
    let f = &m["replay"]["frames"];
    assert_eq!(frames(&m), scans);
    assert_eq!(f["degraded_frames"].as_u64(), Some(scans), "{f}");
    assert_eq!(f["degradations"]["no camera_front frame"].as_u64(), Some(scans), "{f}");
    assert_eq!(f["with_camera"].as_u64(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("degraded: 10 frames"));
}

#[test]
fn drive_without_lidar_fails_with_a_clear_message() {
    let drive = scratch().join("no-lidar.mcap");
    filter_mcap(sim_drive(), &drive, |t| t == LIDAR_TOPIC);
    let (out, m) = replay(&drive, &["--max"], "no-lidar");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing could be processed"));
    assert_eq!(frames(&m), 0, "the metrics are still written");
}

#[test]
fn truncated_drive_replays_up_to_the_damage_and_reports_it() {
    let full = std::fs::read(sim_drive()).unwrap();
    let cut = scratch().join("truncated.mcap");
    std::fs::write(&cut, &full[..full.len() * 6 / 10]).unwrap();
    let (out, m) = replay(&cut, &["--max"], "truncated");
    assert_ok(&out);
    let n = frames(&m);
    assert!(n > 0 && n < 10, "{n} frames from a file cut at 60%");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("DAMAGED"), "{text}");
    assert!(m["replay"]["source"]["damage"].is_string());
}

#[test]
fn faulty_drive_with_jitter_drops_and_duplicates_replays_with_extrinsics_and_ground_truth() {
    let drive = scratch().join("town-faults-1s.mcap");
    simulate("recordings/town-faults.toml", "1", &drive);
    let (out, m) = replay(&drive, &["--max"], "faults");
    assert_ok(&out);
    let f = &m["replay"]["frames"];
    let n = frames(&m);
    // Duplicated scans are dropped by the synchroniser; dropped ones never arrive.
    assert!(n >= 8 && n <= topic_count(&drive, LIDAR_TOPIC), "{f}");
    // ±2 ms stamp jitter: /tf_static may be logged after the first scan, ground truth off its
    // scan's stamp; both are still attached.
    assert_eq!(f["degraded_frames"].as_u64(), Some(0), "{f}");
    assert_eq!(f["with_ground_truth"].as_u64(), Some(n), "{f}");
}

#[test]
fn unknown_topics_are_counted_and_garbage_is_not_a_drive() {
    let (out, m) = replay(sim_drive(), &["--max"], "topics");
    assert_ok(&out);
    assert!(m["replay"]["source"]["unknown_topics"].as_object().unwrap().is_empty());
    let garbage = scratch().join("garbage.mcap");
    std::fs::write(&garbage, b"not an mcap at all").unwrap();
    let out = fusor().arg("replay").arg(&garbage).arg("--max").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("MCAP"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn unknown_stage_kind_in_the_pipeline_is_an_error_naming_the_key() {
    let pipeline = scratch().join("bad-pipeline.toml");
    std::fs::write(
        &pipeline,
        "[[stage]]\nname = \"source\"\nkind = \"mcap_replay\"\n[[stage]]\nname = \"x\"\nkind = \"teleport\"\n",
    )
    .unwrap();
    let out = fusor().arg("replay").arg(sim_drive()).arg("--pipeline").arg(&pipeline).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stage[1].kind") && err.contains("teleport"), "{err}");
}

#[test]
fn rate_one_replays_a_one_second_drive_in_about_one_second() {
    let started = Instant::now();
    let (out, m) = replay(sim_drive(), &["--rate", "1.0"], "rate");
    let wall_s = started.elapsed().as_secs_f64();
    assert_ok(&out);
    assert_eq!(frames(&m), 10);
    let graph_s = m["replay"]["wall_s"].as_f64().unwrap();
    // The stamps span 0.99 s: paced replay cannot be faster; processing adds a little.
    assert!(graph_s >= 0.9, "graph ran in {graph_s} s");
    assert!(graph_s < 3.0, "graph ran in {graph_s} s");
    assert!(wall_s < 6.0, "process took {wall_s} s");
}

fn shared_data() -> PathBuf {
    std::env::var_os("FUSOR_DATA").map(Into::into).unwrap_or_else(|| project_root().join("../shared/data"))
}

#[test]
fn kitti_raw_import_replays_every_scan_with_camera_and_pose_from_oxts() {
    let drive_dir = shared_data().join("kitti_raw/2011_09_26/2011_09_26_drive_0002_sync");
    let mcap = scratch().join("kitti-0002.mcap");
    let out = fusor()
        .args(["import", "kitti-raw"])
        .arg(&drive_dir)
        .arg("--compressed")
        .arg("-o")
        .arg(&mcap)
        .output()
        .unwrap();
    assert!(out.status.success(), "import failed: {}", String::from_utf8_lossy(&out.stderr));
    let scans = topic_count(&mcap, LIDAR_TOPIC);
    assert_eq!(scans, 5);
    let (out, m) = replay(&mcap, &["--max"], "kitti");
    assert_ok(&out);
    let f = &m["replay"]["frames"];
    assert_eq!(frames(&m), scans);
    // The first scan (44.3174 s) precedes the first OXTS fix (44.3351 s): its pose is
    // extrapolated (pipeline: pose_max_extrapolation_ms = 50), so no frame is degraded.
    assert_eq!(f["degraded_frames"].as_u64(), Some(0), "{f}");
    assert_eq!(f["with_camera"].as_u64(), Some(scans), "{f}");
    assert_eq!(f["no_time_offsets"].as_u64(), Some(scans), "KITTI scans carry no per-point times");
    let fixes = topic_count(&mcap, "/sensing/gnss/fix");
    let pose = &m["replay"]["source"]["pose"];
    assert_eq!(
        pose["heading_imu_orientation"].as_u64(),
        Some(fixes),
        "one pose per OXTS fix, heading from its IMU: {pose}"
    );
}

#[test]
fn rerun_save_writes_an_rrd_that_the_python_sdk_verifies() {
    let python = rerun_python();
    let rrd = scratch().join("town-day.rrd");
    let (out, m) = replay(sim_drive(), &["--max", "--rerun", "save", rrd.to_str().unwrap()], "rrd");
    assert_ok(&out);
    let n = frames(&m);
    let verify = Command::new(python.with_file_name("rerun")).args(["rrd", "verify"]).arg(&rrd).output().unwrap();
    assert!(
        verify.status.success(),
        "rerun rrd verify: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );

    let listed = Command::new(&python).arg("-c").arg(ENTITY_ROWS).arg(&rrd).output().unwrap();
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let rows = |entity: &str| listed["rows"][entity].as_u64().unwrap_or(0);
    for entity in [
        "/map/base_link/lidar",
        "/map/base_link",
        "/map/trajectory",
        "/map/base_link/ground_truth",
        "/latency/end_to_end_ms",
    ] {
        assert_eq!(rows(entity), n, "{entity}: {listed}");
    }
    // The GNSS-derived ego on the map view, the route (logged when it changes), the local path
    // and the goal.
    for entity in ["/geo/ego", "/geo/trajectory", "/map/local_path", "/map/goal"] {
        assert_eq!(rows(entity), n, "{entity}: {listed}");
    }
    assert!(rows("/map/route") >= 1 && rows("/geo/route") >= 1, "{listed}");
    // Image and pinhole share the camera entity: at least one row per frame.
    assert!(rows("/map/base_link/camera_front/image") >= n, "{listed}");
    assert_eq!(listed["points"].as_u64(), m["replay"]["frames"]["points"].as_u64(), "points in the .rrd vs fused");
}

#[test]
fn shared_kitti_ros2_bag_replays_into_a_verified_rrd_with_its_tf_root_as_body_frame() {
    let python = rerun_python();
    let bag = shared_data().join("ros2_mcap/kitti_2011_09_26_drive_0002_f0-1/kitti_2011_09_26_drive_0002_f0-1.mcap");
    let rrd = scratch().join("kitti-ros2.rrd");
    let (out, m) = replay(&bag, &["--max", "--rerun", "save", rrd.to_str().unwrap()], "kitti-ros2");
    assert_ok(&out);
    let f = &m["replay"]["frames"];
    assert_eq!(frames(&m), topic_count(&bag, "/kitti/velo/pointcloud"));
    // kitti2bag's tree is imu_link → velo_link → camera_color_left: no base_link.
    assert_eq!(m["replay"]["source"]["body_frame"].as_str(), Some("imu_link"));
    assert_eq!(f["degraded_frames"].as_u64(), Some(0), "{f}");
    assert_eq!(m["replay"]["source"]["unknown_topics"]["/kitti/oxts/gps/vel"].as_u64(), Some(10));
    let verify = Command::new(python.with_file_name("rerun")).args(["rrd", "verify"]).arg(&rrd).output().unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    let listed = Command::new(&python).arg("-c").arg(ENTITY_ROWS).arg(&rrd).output().unwrap();
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["rows"]["/map/base_link/lidar"].as_u64(), Some(frames(&m)), "{listed}");
    assert_eq!(listed["points"].as_u64(), f["points"].as_u64(), "points in the .rrd vs fused");
}

#[test]
fn the_network_pipeline_detects_tracks_and_plans_with_the_committed_weights() {
    let drive = sim_drive();
    let (out, m) = replay(drive, &["--max", "--pipeline", "launch/pipeline-network.toml"], "network");
    assert_ok(&out);
    let p = &m["replay"]["perception"];
    assert_eq!(p["frames"].as_u64(), Some(10), "{p}");
    assert_eq!(p["failed_frames"].as_u64(), Some(0), "{p}");
    // The default town-day drive has cars around the ego from the first second.
    assert!(p["detections_by_class"]["car"].as_u64().unwrap_or(0) >= 5, "{p}");
    assert_eq!(p["planning"]["outcomes"]["planned"].as_u64(), Some(10), "{p}");
    let detect = m["runtime"]["actors"].as_array().unwrap().iter().find(|a| a["name"] == "perceive").unwrap();
    assert_eq!(detect["msgs_out"].as_u64(), Some(10), "{detect}");
    // Same weights, same input: the same detections.
    let (_, again) = replay(drive, &["--max", "--pipeline", "launch/pipeline-network.toml"], "network-again");
    assert_eq!(p["content_hash"], again["replay"]["perception"]["content_hash"]);
}

#[test]
fn a_surround_drive_replays_three_calibrated_cameras_per_frame_into_the_late_model() {
    let drive = scratch().join("town-surround-1s.mcap");
    simulate("recordings/town-surround.toml", "1", &drive);
    let images: Vec<u64> = [
        "/sensing/camera/front/image_raw",
        "/sensing/camera/front_left/image_raw",
        "/sensing/camera/front_right/image_raw",
    ]
    .iter()
    .map(|t| topic_count(&drive, t))
    .collect();
    assert!(images[0] >= 9 && images.iter().all(|&n| n == images[0]), "images per camera {images:?}");
    assert_eq!(topic_count(&drive, "/sensing/camera/front_left/camera_info"), images[0]);
    let (out, m) = replay(&drive, &["--max", "--pipeline", "launch/pipeline-surround.toml"], "surround");
    assert_ok(&out);
    let f = &m["replay"]["frames"];
    let n = frames(&m);
    assert_eq!(n, 10, "{f}");
    // Every frame carries all three views, each with its CameraInfo and /tf_static extrinsic.
    assert_eq!(f["camera_views"].as_u64(), Some(3 * n), "{f}");
    assert_eq!(f["calibrated_camera_views"].as_u64(), Some(3 * n), "{f}");
    assert_eq!(f["degraded_frames"].as_u64(), Some(0), "{f}");
    let p = &m["replay"]["perception"];
    assert_eq!(p["frames"].as_u64(), Some(10), "{p}");
    assert_eq!(p["failed_frames"].as_u64(), Some(0), "{p}");
    assert!(p["detections_by_class"]["car"].as_u64().unwrap_or(0) >= 5, "{p}");
    // The same drive read with the front camera alone gives one view per frame.
    let (out, front) = replay(&drive, &["--max", "--pipeline", "launch/pipeline-network.toml"], "surround-front");
    assert_ok(&out);
    assert_eq!(front["replay"]["frames"]["camera_views"].as_u64(), Some(n), "{}", front["replay"]["frames"]);
}
