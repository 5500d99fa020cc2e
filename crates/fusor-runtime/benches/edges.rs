//! Edge throughput: messages/s through a 3-stage `Block` graph (source → pass-through → sink),
//! against a bare crossbeam channel carrying the same messages between two threads, in the
//! same run.

// Test helpers panic to report a failure, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fusor_core::Stamp;
use fusor_runtime::sync::{
    ApproximateTime, ApproximateTimeConfig, CameraStreamConfig, PivotSync, PivotSyncConfig, PoseSample,
};
use fusor_runtime::{EdgeSpec, FnStage, GraphBuilder, IterSource, Msg, Outbox, VirtualClock};
use nalgebra::Isometry3;
use std::hint::black_box;
use std::sync::Arc;

const MESSAGES: u64 = 100_000;
const CAPACITY: usize = 1_024;

fn graph_run(n: u64) -> u64 {
    let mut g = GraphBuilder::new(Arc::new(VirtualClock::new()));
    let source = g.source("source", move || IterSource::new((0..n).map(|i| Msg::new(Stamp(i as i64), i, i)))).unwrap();
    let pass = g.stage("pass", || FnStage::new(|m: Msg<u64>, out: &mut Outbox<'_, u64>| out.send(m))).unwrap();
    let sink = g
        .stage("sink", || {
            FnStage::new(|m: Msg<u64>, _out: &mut Outbox<'_, ()>| {
                black_box(m);
            })
        })
        .unwrap();
    g.connect(&source, &pass.input, EdgeSpec::block(CAPACITY)).unwrap();
    g.connect(&pass.output, &sink.input, EdgeSpec::block(CAPACITY)).unwrap();
    let summary = g.build().unwrap().run().unwrap();
    summary.actor("sink").map_or(0, |a| a.msgs_in)
}

fn bare_channel(n: u64) -> u64 {
    let (tx, rx) = crossbeam_channel::bounded::<Msg<u64>>(CAPACITY);
    let producer = std::thread::spawn(move || {
        for i in 0..n {
            let _ = tx.send(Msg::new(Stamp(i as i64), i, i));
        }
    });
    let mut count = 0;
    while let Ok(m) = rx.recv() {
        black_box(m);
        count += 1;
    }
    let _ = producer.join();
    count
}

/// The same shape as the graph without the runtime: three threads, two bounded channels.
fn bare_chain(n: u64) -> u64 {
    let (tx_a, rx_a) = crossbeam_channel::bounded::<Msg<u64>>(CAPACITY);
    let (tx_b, rx_b) = crossbeam_channel::bounded::<Msg<u64>>(CAPACITY);
    let producer = std::thread::spawn(move || {
        for i in 0..n {
            let _ = tx_a.send(Msg::new(Stamp(i as i64), i, i));
        }
    });
    let relay = std::thread::spawn(move || {
        while let Ok(m) = rx_a.recv() {
            let _ = tx_b.send(m);
        }
    });
    let mut count = 0;
    while let Ok(m) = rx_b.recv() {
        black_box(m);
        count += 1;
    }
    let _ = producer.join();
    let _ = relay.join();
    count
}

fn edges(c: &mut Criterion) {
    let mut group = c.benchmark_group("edges");
    group.throughput(Throughput::Elements(MESSAGES));
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("block_graph_3_stages", MESSAGES), |b| b.iter(|| graph_run(MESSAGES)));
    group.bench_function(BenchmarkId::new("bare_crossbeam_channel", MESSAGES), |b| b.iter(|| bare_channel(MESSAGES)));
    group.bench_function(BenchmarkId::new("bare_crossbeam_chain_3_threads", MESSAGES), |b| {
        b.iter(|| bare_chain(MESSAGES))
    });
    group.finish();
}

fn approximate_time(c: &mut Criterion) {
    // Two topics at 10 Hz with a 3 ms skew: steady-state matching cost per message.
    let mut group = c.benchmark_group("sync");
    group.throughput(Throughput::Elements(2 * MESSAGES));
    group.sample_size(10);
    group.bench_function("approximate_time_2_topics", |b| {
        b.iter(|| {
            let mut config = ApproximateTimeConfig::<2>::new(8);
            config.age_penalty = 0.0;
            let mut sync = ApproximateTime::<u64, 2>::new(config).unwrap();
            let mut sets = 0u64;
            for i in 0..MESSAGES {
                let t = i as i64 * 100_000_000;
                sync.add(0, Stamp(t), i).unwrap();
                sync.add(1, Stamp(t + 3_000_000), i).unwrap();
                while let Some(set) = sync.pop() {
                    black_box(set);
                    sets += 1;
                }
            }
            sets
        })
    });
    group.finish();
}

fn pivot(c: &mut Criterion) {
    // The pipeline's synchroniser in the replay's order: per 100 ms a pose, the scan, a camera
    // frame 30 ms after it; 3 input messages and one set each step.
    let mut group = c.benchmark_group("sync");
    group.throughput(Throughput::Elements(3 * MESSAGES));
    group.sample_size(10);
    group.bench_function("pivot_lidar_camera_pose", |b| {
        b.iter(|| {
            let config = PivotSyncConfig {
                cameras: vec![CameraStreamConfig { name: "camera_front".into(), offset_ms: 0.0 }],
                ..PivotSyncConfig::default()
            };
            let mut sync = PivotSync::<u64, u64>::new(&config).unwrap();
            let mut sets = 0u64;
            for k in 0..MESSAGES {
                let t_ms = k as i64 * 100;
                sync.push_pose(PoseSample::new(Stamp(t_ms * 1_000_000), Isometry3::identity()));
                sync.push_lidar(Stamp(t_ms * 1_000_000), k);
                sync.push_camera(0, Stamp((t_ms + 30) * 1_000_000), k).unwrap();
                while let Some(set) = sync.pop() {
                    black_box(set);
                    sets += 1;
                }
            }
            sets
        })
    });
    group.finish();
}

criterion_group!(benches, edges, approximate_time, pivot);
criterion_main!(benches);
