//! Replay of a simulated 64-beam drive through the alignment-only graph (issue #4, Speed:
//! "≥ 20× real time on 2 cores"), and the per-stage costs behind it.
//!
//! A drive of `FUSOR_BENCH_DRIVE_S` seconds (default 4) of `recordings/town-day.toml` (64 beams,
//! 2000 azimuth steps, 1242 × 375 rgb8 camera, all at 10 Hz) is simulated once into a temp dir
//! with the built `fusor` (uncompressed chunks, as the simulator writes them), and copied into an
//! lz4 and a zstd (level 1, what the simulator wrote before) recording of the same messages.
//!
//! - `replay_align/{none,lz4,zstd}`: the real `fusor replay <drive> --max --pipeline
//!   launch/align-only.toml` (source → sync → align → summary sink), one process per iteration;
//!   the time measured is the graph's run as the replay reports it (`wall_s` of its metrics: file
//!   opened to last frame), not the process start-up (loading libtorch, ~0.4 s). Throughput
//!   "elements" are milliseconds of drive, so `Kelem/s` reads as the real-time factor.
//! - `read/{none,lz4,zstd}`: `fusor_record::McapReader` over the whole file (chunk decompression,
//!   CRC, message copies), bytes = message payload.
//! - `stage/*`: one scan (or camera frame) through each step of the replay in turn: PointCloud2
//!   CDR → PointCloud (through a decoded message, as the replay source does, and straight from
//!   the bytes), Image decode, deskew into `base_link`, and the summary sink's
//!   `FusedFrame::content_hash` over a frame of one scan and one image.
//!
//! Run: `cargo bench -p fusor-cli --bench replay_align`.

// Bench helpers panic to report a failure, like tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fusor_align::{deskew_into_base_link, AlignedCamera, BodyTwist, DeskewStatus, FusedFrame, StageLatency};
use fusor_msgs::{convert, sensor_msgs};
use fusor_record::{Compression, McapReader, McapWriter, RawMessage, WriterOptions};
use nalgebra::{Isometry3, Vector3};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const LIDAR_TOPIC: &str = "/sensing/lidar/points";
const IMAGE_TOPIC: &str = "/sensing/camera/front/image_raw";

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Drives {
    _dir: tempfile::TempDir,
    none: PathBuf,
    lz4: PathBuf,
    zstd: PathBuf,
    duration_s: f64,
}

impl Drives {
    fn all(&self) -> [(&'static str, &Path); 3] {
        [("none", &self.none), ("lz4", &self.lz4), ("zstd", &self.zstd)]
    }
}

/// Rewrites every message of `from` into `to` with `options`.
fn copy_drive(from: &Path, to: &Path, options: WriterOptions) {
    let mut writer = McapWriter::create_with_options(to, options).unwrap();
    for m in McapReader::open(from).unwrap().messages().unwrap() {
        let m = m.unwrap();
        let text = m.schema_text.as_deref().unwrap_or("");
        writer.write_raw(&m.topic, &m.schema_name, text, m.log_time, m.publish_time, &m.data).unwrap();
    }
    writer.finish().unwrap();
}

/// The simulated drive (uncompressed, as `fusor simulate` writes it) and lz4 and zstd copies,
/// made once.
fn drives() -> &'static Drives {
    static DRIVES: OnceLock<Drives> = OnceLock::new();
    DRIVES.get_or_init(|| {
        let duration_s: f64 = std::env::var("FUSOR_BENCH_DRIVE_S").ok().and_then(|s| s.parse().ok()).unwrap_or(4.0);
        let dir = tempfile::tempdir().unwrap();
        let none = dir.path().join("town-day-none.mcap");
        let out = Command::new(env!("CARGO_BIN_EXE_fusor"))
            .current_dir(project_root())
            .args(["simulate", "--scenario", "recordings/town-day.toml", "--duration", &duration_s.to_string(), "-o"])
            .arg(&none)
            .output()
            .unwrap();
        assert!(out.status.success(), "simulate failed: {}", String::from_utf8_lossy(&out.stderr));
        let lz4 = dir.path().join("town-day-lz4.mcap");
        copy_drive(&none, &lz4, WriterOptions { compression: Compression::Lz4, ..WriterOptions::default() });
        let zstd = dir.path().join("town-day-zstd.mcap");
        let options =
            WriterOptions { compression: Compression::Zstd, compression_level: 1, ..WriterOptions::default() };
        copy_drive(&none, &zstd, options);
        let drives = Drives { _dir: dir, none, lz4, zstd, duration_s };
        for (name, path) in drives.all() {
            eprintln!("{name}: {:.1} MB for {duration_s} s", std::fs::metadata(path).unwrap().len() as f64 / 1e6);
        }
        drives
    })
}

/// Runs the replay once; its graph wall time and real-time factor as it reports them.
fn replay(drive: &Path) -> (Duration, f64) {
    let metrics = drive.with_extension("metrics.json");
    let out = Command::new(env!("CARGO_BIN_EXE_fusor"))
        .current_dir(project_root())
        .arg("replay")
        .arg(drive)
        .args(["--max", "--pipeline", "launch/align-only.toml", "--metrics-json"])
        .arg(&metrics)
        .output()
        .unwrap();
    assert!(out.status.success(), "replay failed: {}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&metrics).unwrap()).unwrap();
    let wall_s = json["replay"]["wall_s"].as_f64().unwrap();
    (Duration::from_secs_f64(wall_s), json["replay"]["real_time_factor"].as_f64().unwrap())
}

fn replay_align(c: &mut Criterion) {
    let d = drives();
    let mut group = c.benchmark_group("replay_align");
    group.sample_size(10);
    group.throughput(Throughput::Elements((d.duration_s * 1e3) as u64));
    for (name, path) in d.all() {
        eprintln!("replay_align/{name}: one run reports {:.1}× real time", replay(path).1);
        group.bench_function(name, |b| b.iter_custom(|iters| (0..iters).map(|_| replay(path).0).sum()));
    }
    group.finish();
}

fn payload_bytes(path: &Path) -> u64 {
    McapReader::open(path).unwrap().messages().unwrap().map(|m| m.unwrap().data.len() as u64).sum()
}

fn read(c: &mut Criterion) {
    let d = drives();
    let mut group = c.benchmark_group("read");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(payload_bytes(&d.none)));
    for (name, path) in d.all() {
        group.bench_function(name, |b| {
            b.iter(|| {
                let reader = McapReader::open(path).unwrap();
                reader.messages().unwrap().map(|m| black_box(m.unwrap()).data.len()).sum::<usize>()
            })
        });
    }
    group.finish();
}

/// The first message of `topic` after `skip` of them.
fn message(path: &Path, topic: &str, skip: usize) -> RawMessage {
    McapReader::open(path)
        .unwrap()
        .messages()
        .unwrap()
        .map(Result::unwrap)
        .filter(|m| m.topic == topic)
        .nth(skip)
        .unwrap()
}

fn stages(c: &mut Criterion) {
    let d = drives();
    let scan = message(&d.none, LIDAR_TOPIC, 5);
    let image = message(&d.none, IMAGE_TOPIC, 5);
    assert!(scan.is::<sensor_msgs::PointCloud2>(), "{}", scan.schema_name);
    let cloud = convert::pointcloud_from_msg(&scan.decode::<sensor_msgs::PointCloud2>().unwrap()).unwrap();
    eprintln!("scan: {} points, {:.2} MB of PointCloud2", cloud.len(), scan.data.len() as f64 / 1e6);
    let mut group = c.benchmark_group("stage");
    group.sample_size(30);
    group.throughput(Throughput::Elements(1));

    group.bench_function("pointcloud2_decode_and_convert", |b| {
        b.iter(|| {
            let msg = scan.decode::<sensor_msgs::PointCloud2>().unwrap();
            convert::pointcloud_from_msg(&msg).unwrap()
        })
    });
    group
        .bench_function("pointcloud2_from_cdr_bytes", |b| b.iter(|| convert::pointcloud_from_cdr(&scan.data).unwrap()));
    group.bench_function("pointcloud2_convert_only", |b| {
        let msg = scan.decode::<sensor_msgs::PointCloud2>().unwrap();
        b.iter(|| convert::pointcloud_from_msg(&msg).unwrap())
    });
    group.bench_function("image_decode_and_convert", |b| {
        assert!(image.is::<sensor_msgs::Image>(), "{}", image.schema_name);
        b.iter(|| convert::image_from_msg(&image.decode::<sensor_msgs::Image>().unwrap()).unwrap())
    });

    // 10 m/s with a 0.2 rad/s turn: the scan's first and last firings are 1 m apart.
    let twist = BodyTwist { linear_m_s: Vector3::new(10.0, 0.0, 0.0), angular_rad_s: Vector3::new(0.0, 0.0, 0.2) };
    let base_link_from_lidar = Isometry3::new(Vector3::new(0.81, 0.0, 1.73), Vector3::zeros());
    group.bench_function("deskew", |b| b.iter(|| deskew_into_base_link(&cloud, &base_link_from_lidar, Some(&twist))));

    let (cloud_in_base_link, deskew) = deskew_into_base_link(&cloud, &base_link_from_lidar, Some(&twist));
    assert!(matches!(deskew, DeskewStatus::Applied { .. }));
    let image = convert::image_from_msg(&image.decode::<sensor_msgs::Image>().unwrap()).unwrap();
    let frame = FusedFrame {
        stamp: cloud.stamp,
        seq: 5,
        cloud_in_base_link: Arc::new(cloud_in_base_link),
        map_from_base_link: Some(Isometry3::identity()),
        map_origin: None,
        cameras: vec![AlignedCamera {
            name: "camera_front".into(),
            stamp: image.stamp,
            image: Arc::new(image),
            model: None,
            base_link_from_camera: None,
        }],
        ground_truth: None,
        deskew,
        ego_twist: Some(twist),
        degraded: Vec::new(),
        latency: StageLatency::default(),
    };
    group.bench_function("content_hash_scan_and_image", |b| b.iter(|| frame.content_hash()));
    group.finish();
}

criterion_group!(benches, stages, read, replay_align);
criterion_main!(benches);
