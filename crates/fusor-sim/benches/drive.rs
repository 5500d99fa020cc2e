//! One simulated second of the default drive (`recordings/town-day.toml`): 10 lidar scans,
//! 10 camera frames, ground truth, 10 GNSS fixes and 100 IMU samples, every event generated.
//! Throughput is in sensor frames (lidar scans + camera frames) per second: real time is 20.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fusor_sim::{Drive, Scenario};

fn bench(c: &mut Criterion) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../recordings/town-day.toml");
    let Ok(mut scenario) = Scenario::load(path) else {
        return;
    };
    scenario.duration_s = 1.0;
    let mut group = c.benchmark_group("sim");
    group.sample_size(10);
    group.throughput(Throughput::Elements(20));
    group.bench_function("drive_1s_default", |b| {
        b.iter(|| {
            let Ok(drive) = Drive::new(&scenario) else { return 0 };
            drive.filter(Result::is_ok).count()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
