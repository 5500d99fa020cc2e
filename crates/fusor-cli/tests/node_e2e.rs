//! `fusor node` end to end over loopback DDS (issue #7): a simulated drive played with
//! `fusor play` goes through the node's pipeline, and an independent Cyclone DDS peer (PyPI
//! `cyclonedds`, `crates/fusor-ros/tests/py/ros2_peer.py`) reads `/perception/obstacles`,
//! `/planning/route` and `/diagnostics`; in the other direction the peer's NavSatFix,
//! PointCloud2 and Image reach the node's inputs.
//!
//! Needs the project venv (`<repo>/.venv`, made by `make setup`); installs `cyclonedds` into it
//! when missing. Without the venv it fails saying so: it never skips silently.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{fusor, project_root, simulate, test_domain};
use fusor_msgs::vision_msgs::Detection3DArray;
use fusor_record::McapReader;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The sensor topics of a simulated drive that the node subscribes to (the ground truth is
/// left out: nobody subscribes to it, so `--wait-for-subscribers` would wait it out).
const SENSOR_TOPICS: [&str; 6] = [
    "/sensing/lidar/points",
    "/sensing/camera/front/image_raw",
    "/sensing/camera/front/camera_info",
    "/sensing/gnss/fix",
    "/sensing/imu",
    "/tf_static",
];

/// The venv's Python with `cyclonedds` importable (`make setup` installs it; installed here once
/// per test binary when missing, the other tests waiting for that one install).
fn python_with_cyclonedds() -> PathBuf {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON.get_or_init(install_cyclonedds).clone()
}

fn install_cyclonedds() -> PathBuf {
    let python = project_root().join(".venv/bin/python");
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

fn peer(python: &Path, domain: u16, args: &[&str]) -> Command {
    let mut c = Command::new(python);
    c.arg(project_root().join("crates/fusor-ros/tests/py/ros2_peer.py"))
        .args(args)
        .args(["--domain", &domain.to_string()])
        .env("ROS_LOCALHOST_ONLY", "1")
        .env("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST");
    c
}

/// A child process killed (SIGKILL) when the test lets go of it, on success or panic.
struct Proc {
    child: Child,
    name: &'static str,
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command) -> Self {
        Self { child: cmd.spawn().unwrap_or_else(|e| panic!("starting {name}: {e}")), name }
    }

    /// Waits at most `timeout`; `None` when it is still running then.
    fn wait_for(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if start.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM (the node's clean stop), then at most `timeout` for it to exit.
    fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        self.wait_for(timeout)
    }

    /// Reads the pipe on a thread (a full pipe would block the child).
    fn read_stdout(&mut self) -> JoinHandle<String> {
        let mut pipe = self.child.stdout.take().expect("stdout piped");
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = pipe.read_to_string(&mut s);
            s
        })
    }

    /// Stderr line by line on a channel.
    fn stderr_lines(&mut self) -> mpsc::Receiver<String> {
        let pipe = self.child.stderr.take().expect("stderr piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        rx
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            eprintln!("killing {}", self.name);
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The node, stdout piped, its log in `dir`.
fn start_node(domain: u16, dir: &Path, log_name: &str) -> Proc {
    start_node_with(domain, dir, log_name, "launch/fusor.params.yaml")
}

fn start_node_with(domain: u16, dir: &Path, log_name: &str, params: &str) -> Proc {
    let log = File::create(dir.join(log_name)).unwrap();
    Proc::spawn(
        "fusor node",
        fusor(domain)
            .args(["node", "--params", params, "--log", "warn", "--duration", "80"])
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log)),
    )
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// `received` per input key from the node's end-of-run printout
/// (`  points  /sensing/lidar/points  received  60  decode errors 0 ...`).
fn received_by_input(printout: &str) -> BTreeMap<String, (u64, u64)> {
    let mut out = BTreeMap::new();
    for line in printout.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [key, topic, "received", n, "decode", "errors", e, ..] = words.as_slice() {
            if topic.starts_with('/') {
                out.insert((*key).to_owned(), (n.parse().unwrap(), e.parse().unwrap()));
            }
        }
    }
    out
}

type StampKey = (i64, i64);
/// Ground-truth car centres (x, y) in metres in base_link, per stamp.
type CarsByStamp = BTreeMap<StampKey, Vec<(f64, f64)>>;

/// Lidar scan stamps and ground-truth cars (x, y in base_link) per stamp, from the drive.
fn drive_truth(drive: &Path) -> (BTreeSet<StampKey>, CarsByStamp) {
    let mut scans = BTreeSet::new();
    let mut cars = BTreeMap::new();
    for m in McapReader::open(drive).unwrap().messages().unwrap() {
        let m = m.unwrap();
        if m.topic == "/sensing/lidar/points" {
            // CDR: 4-byte encapsulation header, then the Header's stamp (int32 sec, uint32 nanosec).
            assert_eq!(&m.data[..2], &[0, 1], "little-endian CDR expected");
            let sec = i32::from_le_bytes(m.data[4..8].try_into().unwrap());
            let nanosec = u32::from_le_bytes(m.data[8..12].try_into().unwrap());
            scans.insert((i64::from(sec), i64::from(nanosec)));
        } else if m.topic == "/ground_truth/objects" {
            let gt: Detection3DArray = m.decode().unwrap();
            let key = (i64::from(gt.header.stamp.sec), i64::from(gt.header.stamp.nanosec));
            let list: &mut Vec<(f64, f64)> = cars.entry(key).or_default();
            for d in &gt.detections {
                if d.results.first().is_some_and(|r| r.hypothesis.class_id == "car") {
                    list.push((d.bbox.center.position.x, d.bbox.center.position.y));
                }
            }
        }
    }
    (scans, cars)
}

fn stamp_of(v: &Value) -> StampKey {
    (v[0].as_i64().unwrap(), v[1].as_i64().unwrap())
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

#[test]
fn node_turns_a_played_drive_into_obstacles_route_and_diagnostics_read_by_cyclone() {
    let python = python_with_cyclonedds();
    let dir = tempfile::tempdir().unwrap();
    let drive = dir.path().join("drive.mcap");
    simulate("recordings/town-day.toml", "6", &drive);
    let (scan_stamps, gt_cars) = drive_truth(&drive);
    assert!(scan_stamps.len() >= 40, "the drive has {} lidar scans", scan_stamps.len());

    let domain = test_domain(8);
    let mut node = start_node(domain, dir.path(), "node.log");
    let node_stdout = node.read_stdout();
    let mut sub = Proc::spawn(
        "Cyclone peer (sub-outputs)",
        peer(&python, domain, &["sub-outputs", "--timeout", "60", "--idle", "5"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let sub_stdout = sub.read_stdout();
    let sub_stderr = sub.stderr_lines();
    // The peer says `ready` once its obstacles reader is matched with the node's writer.
    let ready = sub_stderr.recv_timeout(Duration::from_secs(40));
    assert!(
        matches!(ready.as_deref(), Ok("ready")),
        "Cyclone peer not matched with the node: {ready:?}\nnode log:\n{}",
        log_tail(&dir.path().join("node.log"))
    );

    let play = fusor(domain)
        .arg("play")
        .arg(&drive)
        .args(["--log", "warn", "--wait-for-subscribers", "30", "--topics"])
        .args(SENSOR_TOPICS)
        .output()
        .unwrap();
    assert!(play.status.success(), "play: {}", String::from_utf8_lossy(&play.stderr));

    // The peer ends 5 s after the last obstacle array.
    let sub_status = sub.wait_for(Duration::from_secs(45));
    let node_status = node.terminate(Duration::from_secs(20));
    let peer_err: Vec<String> = sub_stderr.try_iter().collect();
    let printout = node_stdout.join().unwrap();
    let log = log_tail(&dir.path().join("node.log"));
    assert!(sub_status.is_some_and(|s| s.success()), "peer: {sub_status:?}\n{}", peer_err.join("\n"));
    assert!(node_status.is_some_and(|s| s.success()), "node: {node_status:?}\n{printout}\n{log}");
    println!("node printout:\n{printout}");

    let got: Value = serde_json::from_str(sub_stdout.join().unwrap().trim()).expect("peer prints JSON");

    // Obstacles: in base_link, stamped with the scan they come from, cars where the truth has them.
    let arrays = got["obstacles"].as_array().unwrap();
    let boxes: usize = arrays.iter().map(|a| a["boxes"].as_array().unwrap().len()).sum();
    let mut matched_cars = 0usize;
    let mut car_boxes_with_truth = 0usize;
    let mut worst_match_m = 0.0f64;
    for a in arrays {
        assert_eq!(a["frame_id"], "base_link");
        let stamp = stamp_of(&a["stamp"]);
        assert!(scan_stamps.contains(&stamp), "obstacles stamped {stamp:?}: not a lidar scan stamp of the drive");
        let Some(truth) = gt_cars.get(&stamp) else { continue };
        for b in a["boxes"].as_array().unwrap() {
            assert_eq!(b["frame_id"], "base_link");
            let c = &b["center"];
            let (x, y, z) = (f(&c[0]), f(&c[1]), f(&c[2]));
            assert!(x.abs() < 150.0 && y.abs() < 150.0 && z.abs() < 10.0, "implausible box centre {c}");
            if b["class"] != "car" {
                continue;
            }
            car_boxes_with_truth += 1;
            let nearest = truth.iter().map(|(tx, ty)| (tx - x).hypot(ty - y)).fold(f64::INFINITY, f64::min);
            if nearest < 2.5 {
                matched_cars += 1;
                worst_match_m = worst_match_m.max(nearest);
            }
        }
    }
    println!(
        "obstacles: {} arrays, {boxes} boxes; {matched_cars} of {car_boxes_with_truth} car boxes within 2.5 m of a \
         ground-truth car (worst {worst_match_m:.2} m)",
        arrays.len()
    );
    assert!(arrays.len() >= 10, "only {} obstacle arrays of {} scans", arrays.len(), scan_stamps.len());
    assert!(boxes > 0, "no obstacles at all");
    assert!(matched_cars >= 5, "only {matched_cars} car boxes near a ground-truth car");

    // The route: latched, in map, a real path.
    let route = got["routes"].as_array().unwrap().last().cloned().expect("no /planning/route received");
    println!("route: {route}");
    assert_eq!(route["frame_id"], "map");
    assert_eq!(route["pose_frame_id"], "map");
    assert!(route["poses"].as_u64().unwrap() >= 10, "route of {} poses", route["poses"]);
    let (first, last) = (&route["first"], &route["last"]);
    assert!((0..3).all(|i| f(&first[i]).is_finite() && f(&last[i]).is_finite()), "route ends {first} {last}");

    // Diagnostics: per-stage latencies and the inputs' counts.
    let diags = &got["diagnostics"];
    let perceive = &diags["fusor: stage perceive"]["values"];
    let p50: f64 = perceive["processing_p50_ms"].as_str().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN);
    println!(
        "diagnostics: {} arrays; `fusor: stage perceive` {perceive}; `fusor: input points` {}",
        got["diagnostics_arrays"], diags["fusor: input points"]["values"]
    );
    assert!(p50.is_finite() && p50 > 0.0, "perceive processing_p50_ms {p50}");
    let points_received: u64 =
        diags["fusor: input points"]["values"]["received"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
    assert!(points_received > 0, "diagnostics: points received {points_received}");
    for name in ["fusor: edges", "fusor: decoder", "fusor: node", "fusor: pose"] {
        assert!(diags.get(name).is_some(), "no `{name}` status in /diagnostics");
    }

    // The node's own printout agrees.
    let inputs = received_by_input(&printout);
    assert!(inputs.get("points").is_some_and(|&(n, _)| n > 0), "node inputs: {inputs:?}");
}

#[test]
fn node_receives_cyclones_navsatfix_pointcloud2_and_image() {
    let python = python_with_cyclonedds();
    let dir = tempfile::tempdir().unwrap();
    let domain = test_domain(9);
    let mut node = start_node(domain, dir.path(), "node.log");
    let node_stdout = node.read_stdout();
    let mut publisher = Proc::spawn(
        "Cyclone peer (pub-sensors)",
        peer(&python, domain, &["pub-sensors", "--count", "5", "--linger", "1", "--timeout", "40"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let peer_err = publisher.stderr_lines();
    let status = publisher.wait_for(Duration::from_secs(60));
    // A moment for the last samples to reach the node's counters.
    std::thread::sleep(Duration::from_millis(500));
    let node_status = node.terminate(Duration::from_secs(20));
    let printout = node_stdout.join().unwrap();
    let peer_err: Vec<String> = peer_err.try_iter().collect();
    assert!(status.is_some_and(|s| s.success()), "peer: {status:?}\n{}", peer_err.join("\n"));
    assert_eq!(peer_err.first().map(String::as_str), Some("matched"), "peer: {}", peer_err.join("\n"));
    assert!(
        node_status.is_some_and(|s| s.success()),
        "node: {node_status:?}\n{printout}\n{}",
        log_tail(&dir.path().join("node.log"))
    );
    println!("node printout:\n{printout}");
    let inputs = received_by_input(&printout);
    for key in ["gnss", "points", "image"] {
        let (received, decode_errors) = inputs.get(key).copied().unwrap_or_default();
        assert!(received > 0, "node input `{key}` received nothing from Cyclone: {inputs:?}");
        assert_eq!(decode_errors, 0, "node input `{key}` failed to decode Cyclone's samples: {inputs:?}");
    }
}

/// `launch/fusor-surround.params.yaml` on a played surround drive (`recordings/town-surround.toml`):
/// the node takes the two side cameras' images and calibrations from their own namespaces, its
/// pipeline decodes three camera frames per scan, and the late-fusion network's obstacles come out.
#[test]
fn node_with_the_surround_params_takes_every_camera_of_a_played_surround_drive() {
    let dir = tempfile::tempdir().unwrap();
    let drive = dir.path().join("surround.mcap");
    simulate("recordings/town-surround.toml", "4", &drive);

    let domain = test_domain(7);
    let mut node = start_node_with(domain, dir.path(), "node.log", "launch/fusor-surround.params.yaml");
    let node_stdout = node.read_stdout();
    let side_topics = ["front_left", "front_right"]
        .map(|c| [format!("/sensing/camera/{c}/image_raw"), format!("/sensing/camera/{c}/camera_info")]);
    let play = fusor(domain)
        .arg("play")
        .arg(&drive)
        .args(["--log", "warn", "--wait-for-subscribers", "30", "--topics"])
        .args(SENSOR_TOPICS)
        .args(side_topics.iter().flatten())
        .output()
        .unwrap();
    assert!(play.status.success(), "play: {}", String::from_utf8_lossy(&play.stderr));
    // A moment for the pipeline to finish the last scans.
    std::thread::sleep(Duration::from_secs(3));
    let node_status = node.terminate(Duration::from_secs(20));
    let printout = node_stdout.join().unwrap();
    let log = log_tail(&dir.path().join("node.log"));
    assert!(node_status.is_some_and(|s| s.success()), "node: {node_status:?}\n{printout}\n{log}");
    println!("node printout:\n{printout}");

    let inputs = received_by_input(&printout);
    for key in [
        "image",
        "camera_info",
        "image.front_left",
        "camera_info.front_left",
        "image.front_right",
        "camera_info.front_right",
    ] {
        let (received, decode_errors) = inputs.get(key).copied().unwrap_or_default();
        assert!(received > 0, "node input `{key}` received nothing: {inputs:?}");
        assert_eq!(decode_errors, 0, "node input `{key}`: {inputs:?}");
    }
    // The decoder's counts: `decoder: M messages, S scans, C camera frames, ...`.
    let decoder = printout.lines().find(|l| l.trim_start().starts_with("decoder:")).expect("a decoder line");
    let count = |what: &str| -> u64 {
        let words: Vec<&str> = decoder.split([' ', ',']).filter(|w| !w.is_empty()).collect();
        let at = words.windows(2).position(|w| w[1] == what).unwrap_or_else(|| panic!("no `{what}` in {decoder}"));
        words[at].parse().unwrap()
    };
    let (scans, frames) = (count("scans"), count("camera"));
    assert!(scans >= 20, "{decoder}");
    assert!(frames as f64 >= 2.5 * scans as f64, "three cameras per scan expected: {decoder}");
    // Obstacles were published (`fusor node stopped: published ..., obstacles N, ...`).
    let published = printout.lines().find(|l| l.contains("published")).unwrap_or_default();
    let obstacles: u64 = published
        .split(", ")
        .find_map(|part| part.rsplit_once("obstacles ").and_then(|(_, n)| n.parse().ok()))
        .unwrap_or(0);
    assert!(obstacles >= 10, "{published}");
}
