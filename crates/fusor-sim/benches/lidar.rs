//! One lidar scan and one camera frame of the default scenario (town, 64 beams, 1242 × 375).

use criterion::{criterion_group, criterion_main, Criterion};
use fusor_sim::{Drive, Scenario};

fn bench(c: &mut Criterion) {
    let scenario = Scenario::new(7, 2.0);
    let Ok(mut drive) = Drive::new(&scenario) else {
        return;
    };
    let mut group = c.benchmark_group("sim");
    group.sample_size(10);
    let mut k = 0u64;
    group.bench_function("lidar_scan_default", |b| {
        b.iter(|| {
            // A fresh index each time so the cache never answers.
            k = (k + 1) % 20;
            drive.lidar_scan(k).cloud.len()
        })
    });
    let stamp = drive.stamp_at(0.5);
    group.bench_function("camera_frame_default", |b| b.iter(|| drive.camera_frame(0.5, stamp, 5).data.len()));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
