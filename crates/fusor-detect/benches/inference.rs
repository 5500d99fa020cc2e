//! Detector inference per frame on the CPU (issue #6: "≤ 60 ms with 2 threads"), for every
//! committed fusion mode on the same simulated frame, fp32, weights loaded once.
//!
//! - `inference/<mode>`: `Detector::detect_sample` = features (grid, painting) + network +
//!   peak decoding, on one frame of held-out drive seed 20 001 (~25k points on the grid).
//! - `inference/intermediate_no_camera`: the fused model with the camera blacked out.
//! - `inference/late_surround`: the late model on the same frame from a surround rig (three
//!   camera views).
//! - `inference/<mode>_long`, `inference/intermediate_crops`: the longer budget's models
//!   (`models/README.md`, "A longer training budget"); `late_long` is the pipelines' model.
//! - `inference/features_<mode>`: building the input batch alone.
//!
//! Threads: `FUSOR_BENCH_THREADS` (default 2) libtorch intra-op threads.
//! Run: `cargo bench -p fusor-detect --bench inference`.

// Bench helpers panic to report a failure, like tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion};
use fusor_detect::features::CellRectCache;
use fusor_detect::sample::{drive_samples, CameraSet};
use fusor_detect::{Batch, Detector, DriveSpec, FrameInput};
use std::hint::black_box;
use std::path::PathBuf;
use tch::Device;

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

fn bench(c: &mut Criterion) {
    let threads = std::env::var("FUSOR_BENCH_THREADS").ok().and_then(|t| t.parse().ok()).unwrap_or(2);
    tch::set_num_threads(threads);
    let mut group = c.benchmark_group("inference");
    group.sample_size(30);
    // One simulated frame per camera input size (late reads a larger image than the others).
    let mut samples: Vec<(([u32; 2], CameraSet), fusor_detect::sample::Sample)> = Vec::new();
    for (mode, file, cameras) in [
        ("lidar", "lidar", CameraSet::Front),
        ("early", "early", CameraSet::Front),
        ("intermediate", "intermediate", CameraSet::Front),
        ("late", "late", CameraSet::Front),
        ("late_surround", "late", CameraSet::Surround),
        ("lidar_long", "lidar-long", CameraSet::Front),
        ("early_long", "early-long", CameraSet::Front),
        ("intermediate_long", "intermediate-long", CameraSet::Front),
        ("intermediate_crops", "intermediate-crops", CameraSet::Front),
        ("late_long", "late-long", CameraSet::Front),
    ] {
        let path = models().join(format!("{file}.safetensors"));
        if !path.exists() {
            eprintln!("skipping {mode}: {} not found", path.display());
            continue;
        }
        let detector = Detector::load(&path, Device::Cpu).expect("weights");
        let key = (detector.config().image_size, cameras);
        let k = samples.iter().position(|(s, _)| *s == key).unwrap_or_else(|| {
            let spec = DriveSpec::from_seed(20_001, 0.6, 5).with_cameras(cameras);
            samples.push((key, drive_samples(&spec, key.0, None).expect("simulated frame").remove(1)));
            samples.len() - 1
        });
        let s = &samples[k].1;
        detector.warm_up(3);
        group.bench_function(mode, |b| b.iter(|| black_box(detector.detect_sample(s, true))));
        if mode.starts_with("intermediate") {
            group.bench_function(format!("{mode}_no_camera"), |b| {
                b.iter(|| black_box(detector.detect_sample(s, false)))
            });
        }
        let cfg = detector.config().clone();
        let frame = [FrameInput { points: &s.points, cameras: &s.cameras }];
        // As the detector builds them: late's cell rectangles come from its calibration cache.
        let cache = CellRectCache::default();
        group.bench_function(format!("features_{mode}"), |b| {
            b.iter(|| black_box(Batch::with_cell_rects(&cfg, &frame, Device::Cpu, &cache).num_points()))
        });
        if mode == "late" {
            group.bench_function("features_late_uncached", |b| {
                b.iter(|| black_box(Batch::new(&cfg, &frame, Device::Cpu).num_points()))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
