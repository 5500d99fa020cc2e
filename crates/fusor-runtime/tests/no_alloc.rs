//! Steady-state allocation counts (issue #4: "no allocation per message in steady state").
//!
//! A counting global allocator wraps the system one and counts per process and per thread.
//! Single-threaded subjects (an edge used from one thread, the synchronisers) are warmed up, then
//! the calling thread's allocations are counted while many more messages pass. A whole graph runs
//! on several threads: two runs of different lengths are compared with the process-wide count,
//! so that thread start-up and end-of-run reports cancel out; those tests take a lock so that
//! only one of them allocates at a time.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report
#![allow(unsafe_code)] // a GlobalAlloc impl is unsafe by definition; it only forwards to System

use fusor_core::Stamp;
use fusor_runtime::sync::{
    ApproximateTime, ApproximateTimeConfig, CameraStreamConfig, PivotSync, PivotSyncConfig, PoseSample,
};
use fusor_runtime::{edge, EdgeSpec, FnStage, GraphBuilder, IterSource, Msg, Outbox, VirtualClock};
use nalgebra::Isometry3;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Counts every allocation (and reallocation) of the process.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // const-initialised and without a destructor: safe to touch from inside the allocator.
    static THREAD_ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    let _ = THREAD_ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One test at a time: the graph test counts process-wide.
static SERIAL: Mutex<()> = Mutex::new(());

/// Allocations by every thread of the process while `f` runs.
fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    f();
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

/// Allocations by this thread while `f` runs (other tests may run meanwhile).
fn thread_allocations_during(f: impl FnOnce()) -> u64 {
    let before = THREAD_ALLOCATIONS.with(Cell::get);
    f();
    THREAD_ALLOCATIONS.with(Cell::get) - before
}

/// source → pass-through → sink over `Block` edges of 1024, `n` messages of a `u64`.
fn run_graph(n: u64) -> u64 {
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
    g.connect(&source, &pass.input, EdgeSpec::block(1024)).unwrap();
    g.connect(&pass.output, &sink.input, EdgeSpec::block(1024)).unwrap();
    let summary = g.build().unwrap().run().unwrap();
    summary.actor("sink").map_or(0, |a| a.msgs_in)
}

#[test]
fn a_graph_of_block_edges_allocates_nothing_per_message() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (short, long) = (1_000u64, 201_000u64);
    run_graph(short); // thread-locals, lazy statics, the tracing dispatcher: once per process
    let a_long = allocations_during(|| assert_eq!(run_graph(long), long));
    // The short run after the long one, so that a late one-off initialisation cannot hide in it.
    let a_short = allocations_during(|| assert_eq!(run_graph(short), short));
    // Thread start-up, edges, histograms and the final report cost the same in both runs; the
    // live metrics publish every 500 ms (per time, not per message). 200 000 extra messages
    // through two edges and three actors must not add an allocation each: allow 1 per 10 000.
    let extra = a_long.saturating_sub(a_short);
    eprintln!("graph: {a_short} allocations for {short} messages, {a_long} for {long}");
    assert!(
        extra <= (long - short) / 10_000,
        "{extra} more allocations for {} more messages (short run {a_short}, long run {a_long})",
        long - short
    );
}

#[test]
fn a_bare_edge_allocates_nothing_per_message() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (tx, rx) = edge::<Msg<u64>>("a->b", EdgeSpec::block(64)).unwrap();
    // Same thread, so the count is exact: fill and drain the queue repeatedly.
    for i in 0..64 {
        tx.send(Msg::new(Stamp(i), i as u64, i as u64));
        black_box(rx.try_recv().unwrap());
    }
    let n = 100_000u64;
    let count = thread_allocations_during(|| {
        for i in 0..n {
            tx.send(Msg::new(Stamp(i as i64), i, i));
            black_box(rx.try_recv().unwrap());
        }
    });
    eprintln!("edge: {count} allocations for {n} messages");
    assert_eq!(count, 0, "{count} allocations for {n} messages through one edge");
}

#[test]
fn approximate_time_allocates_nothing_per_message_in_steady_state() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut config = ApproximateTimeConfig::<2>::new(8);
    config.age_penalty = 0.0;
    let mut sync = ApproximateTime::<u64, 2>::new(config).unwrap();
    let mut sets = 0u64;
    let mut feed = |sync: &mut ApproximateTime<u64, 2>, range: std::ops::Range<u64>| {
        for i in range {
            let t = i as i64 * 100_000_000;
            sync.add(0, Stamp(t), i).unwrap();
            sync.add(1, Stamp(t + 3_000_000), i).unwrap();
            while let Some(set) = sync.pop() {
                black_box(set);
                sets += 1;
            }
        }
    };
    feed(&mut sync, 0..1_000); // queues and the ready list reach their working size
    let n = 100_000u64;
    let count = thread_allocations_during(|| feed(&mut sync, 1_000..1_000 + n));
    eprintln!("approximate time: {count} allocations for {} messages", 2 * n);
    assert!(sets >= n, "the two topics must pair up: {sets} sets");
    assert_eq!(count, 0, "{count} allocations for {} messages", 2 * n);
}

#[test]
fn pivot_sync_allocates_only_the_camera_list_of_each_emitted_set() {
    let _serial = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let config = PivotSyncConfig {
        cameras: vec![CameraStreamConfig { name: "camera_front".into(), offset_ms: 0.0 }],
        ..PivotSyncConfig::default()
    };
    let mut sync = PivotSync::<u64, u64>::new(&config).unwrap();
    let pose = |ms: i64| PoseSample::new(Stamp(ms * 1_000_000), Isometry3::identity());
    // The replay's order: per 100 ms a pose, the scan, a camera frame 30 ms after the scan.
    // Returns the sets emitted.
    let feed = |sync: &mut PivotSync<u64, u64>, range: std::ops::Range<u64>| {
        let mut sets = 0u64;
        for k in range {
            let t_ms = k as i64 * 100;
            sync.push_pose(pose(t_ms));
            sync.push_lidar(Stamp(t_ms * 1_000_000), k);
            sync.push_camera(0, Stamp((t_ms + 30) * 1_000_000), k).unwrap();
            while let Some(set) = sync.pop() {
                assert!(set.missing.is_empty(), "complete sets in this feed");
                black_box(set);
                sets += 1;
            }
        }
        sets
    };
    feed(&mut sync, 0..100);
    let n = 30_000u64;
    let mut emitted = 0;
    let count = thread_allocations_during(|| emitted = feed(&mut sync, 100..100 + n));
    assert!(emitted + 2 >= n, "one set per scan: {emitted} of {n}");
    eprintln!("pivot sync: {count} allocations for {emitted} sets ({} input messages)", 3 * n);
    // `SyncedSet::cameras` is a Vec (one per emitted set, i.e. per scan: one allocation for three
    // input messages); `missing` stays empty and allocates nothing. Nothing else may allocate.
    assert!(count <= emitted, "{count} allocations for {emitted} sets ({} input messages)", 3 * n);
}
