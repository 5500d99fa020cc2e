//! The runtime as specified: lossless deterministic replay edges, drop-oldest live edges,
//! supervision with restart, end-of-stream shutdown, metrics.
//!
//! No test sleeps to wait: results come back on channels read with a timeout, so a hang
//! fails the test instead of stalling the suite.

// Test helpers panic to report a failure, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use fusor_core::Stamp;
use fusor_runtime::sync::{PivotSyncConfig, PivotSyncStage, SyncInput, SyncedSet};
use fusor_runtime::{
    Clock, EdgeSpec, FnStage, GraphBuilder, IterSource, Msg, Outbox, PipelineConfig, RunSummary, Source, Stage,
    VirtualClock, WallClock,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(20);

fn msgs(n: u64) -> impl Iterator<Item = Msg<u64>> + Send + 'static {
    (0..n).map(|i| Msg::new(Stamp(1_000_000 * i as i64), i, i))
}

type SinkFn<T> = Box<dyn FnMut(Msg<T>, &mut Outbox<'_, ()>) + Send>;

/// A sink stage forwarding every payload to the test.
fn collector<T: Send + 'static>(tx: Sender<T>) -> impl FnMut() -> FnStage<T, (), SinkFn<T>> {
    move || {
        let tx = tx.clone();
        FnStage::new(Box::new(move |m: Msg<T>, _out: &mut Outbox<'_, ()>| {
            let _ = tx.send(m.payload);
        }) as SinkFn<T>)
    }
}

/// Runs the graph on its own thread; the test waits at most `DEADLINE` for it to finish.
fn run_bounded(builder: GraphBuilder) -> RunSummary {
    let graph = builder.build().unwrap();
    let (done_tx, done_rx) = bounded(1);
    std::thread::spawn(move || {
        let _ = done_tx.send(graph.run());
    });
    done_rx.recv_timeout(DEADLINE).expect("graph did not shut down in time").unwrap()
}

fn three_stage_block_run(n: u64) -> (Vec<u64>, RunSummary) {
    let (tx, rx) = unbounded();
    let mut g = GraphBuilder::new(Arc::new(VirtualClock::new()));
    let source = g.source("source", move || IterSource::new(msgs(n))).unwrap();
    let double = g
        .stage("double", || FnStage::new(|m: Msg<u64>, out: &mut Outbox<'_, u64>| out.send(m.map(|x| x * 2))))
        .unwrap();
    let sink = g.stage("sink", collector(tx)).unwrap();
    g.connect(&source, &double.input, EdgeSpec::block(2)).unwrap();
    g.connect(&double.output, &sink.input, EdgeSpec::block(2)).unwrap();
    let summary = run_bounded(g);
    (rx.try_iter().collect(), summary)
}

#[test]
fn block_graph_delivers_every_message_in_order_and_is_deterministic() {
    let (first, summary) = three_stage_block_run(2_000);
    let expected: Vec<u64> = (0..2_000).map(|i| i * 2).collect();
    assert_eq!(first, expected);
    let (second, _) = three_stage_block_run(2_000);
    assert_eq!(second, first, "two runs of the same graph must publish the same output");
    assert_eq!(summary.total_dropped(), 0);
    let edge = summary.edge("source", "double").unwrap();
    assert_eq!((edge.sent, edge.received, edge.depth_now), (2_000, 2_000, 0));
    assert!(edge.depth_max <= 2);
    assert_eq!(summary.actor("sink").unwrap().msgs_in, 2_000);
}

/// Emits `n` messages, then opens the gate: proof that it was never held back.
struct GateOpeningSource {
    next: u64,
    n: u64,
    gate: Sender<()>,
}

impl Source for GateOpeningSource {
    type Out = u64;
    fn next(&mut self) -> Option<Msg<u64>> {
        if self.next == self.n {
            let _ = self.gate.send(());
            return None;
        }
        self.next += 1;
        Some(Msg::new(Stamp(self.next as i64), self.next, self.next))
    }
}

#[test]
fn drop_oldest_with_slow_consumer_drops_and_counts_and_never_blocks_the_producer() {
    const N: u64 = 500;
    let (gate_tx, gate_rx) = bounded::<()>(1);
    let (seen_tx, seen_rx) = unbounded();
    let gate_opened = Arc::new(AtomicBool::new(false));
    let mut g = GraphBuilder::new(Arc::new(VirtualClock::new()));
    let source = g.source("sensor", move || GateOpeningSource { next: 0, n: N, gate: gate_tx.clone() }).unwrap();
    let opened = Arc::clone(&gate_opened);
    let slow = g
        .stage("slow", move || {
            let (gate_rx, seen_tx, opened) = (gate_rx.clone(), seen_tx.clone(), Arc::clone(&opened));
            let mut first = true;
            FnStage::new(move |m: Msg<u64>, _out: &mut Outbox<'_, ()>| {
                // The consumer stalls on its first message until the producer has sent all N.
                if std::mem::take(&mut first) && gate_rx.recv_timeout(DEADLINE).is_ok() {
                    opened.store(true, Ordering::SeqCst);
                }
                let _ = seen_tx.send(m.payload);
            })
        })
        .unwrap();
    g.connect(&source, &slow.input, EdgeSpec::drop_oldest(4)).unwrap();
    let summary = run_bounded(g);
    assert!(gate_opened.load(Ordering::SeqCst), "the producer was blocked by its slow consumer");
    let seen: Vec<u64> = seen_rx.try_iter().collect();
    let edge = summary.edge("sensor", "slow").unwrap();
    assert!(edge.dropped > 0);
    assert_eq!(edge.dropped + seen.len() as u64, N, "every message was either delivered or counted as dropped");
    assert_eq!(edge.received, seen.len() as u64);
    assert_eq!(seen.last(), Some(&N), "the newest message survives");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "drop-oldest keeps order");
}

/// Counts messages since it was built; panics once on message 5 (shared flag), so a restart
/// shows as the count starting again from 0.
struct FlakyCounter {
    count: u64,
    panicked: Arc<AtomicBool>,
}

impl Stage for FlakyCounter {
    type In = u64;
    type Out = u64;
    fn on_msg(&mut self, msg: Msg<u64>, out: &mut Outbox<'_, u64>) {
        if msg.payload == 5 && !self.panicked.swap(true, Ordering::SeqCst) {
            panic!("injected failure on message 5");
        }
        self.count += 1;
        out.send(msg.map(|_| self.count));
    }
}

#[test]
fn panicking_actor_is_restarted_with_fresh_state_and_the_graph_completes() {
    let (tx, rx) = unbounded();
    let panicked = Arc::new(AtomicBool::new(false));
    let mut g = GraphBuilder::new(Arc::new(VirtualClock::new()));
    let source = g.source("source", || IterSource::new(msgs(10))).unwrap();
    let flag = Arc::clone(&panicked);
    let flaky = g.stage("flaky", move || FlakyCounter { count: 0, panicked: Arc::clone(&flag) }).unwrap();
    let sink = g.stage("sink", collector(tx)).unwrap();
    g.connect(&source, &flaky.input, EdgeSpec::block(4)).unwrap();
    g.connect(&flaky.output, &sink.input, EdgeSpec::block(4)).unwrap();
    let summary = run_bounded(g);
    let report = summary.actor("flaky").unwrap();
    assert_eq!((report.panics, report.restarts, report.failed), (1, 1, false));
    // Messages 0..=4 counted 1..=5; message 5 was lost in the panic; the fresh actor counts 6..=9 from 1.
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2, 3, 4, 5, 1, 2, 3, 4]);
}

#[test]
fn actor_past_its_restart_limit_is_abandoned_and_the_rest_still_shuts_down() {
    let (tx, rx) = unbounded();
    let mut g = GraphBuilder::new(Arc::new(VirtualClock::new())).restart_limit(2);
    let source = g.source("source", || IterSource::new(msgs(100))).unwrap();
    let broken = g
        .stage("broken", || {
            FnStage::new(|m: Msg<u64>, out: &mut Outbox<'_, u64>| {
                if m.payload % 10 == 3 {
                    panic!("always fails on x3");
                }
                out.send(m);
            })
        })
        .unwrap();
    let sink = g.stage("sink", collector(tx)).unwrap();
    g.connect(&source, &broken.input, EdgeSpec::block(4)).unwrap();
    g.connect(&broken.output, &sink.input, EdgeSpec::block(4)).unwrap();
    let summary = run_bounded(g);
    let report = summary.actor("broken").unwrap();
    assert_eq!((report.panics, report.restarts, report.failed), (3, 2, true));
    assert_eq!(summary.failed_actors().count(), 1);
    // Up to the third panic (on 23), everything else got through; then the sink saw end of stream.
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), (0..23).filter(|x| x % 10 != 3).collect::<Vec<_>>());
    // The source kept running to its end; what it sent after the failure is counted, not lost silently.
    let edge = summary.edge("source", "broken").unwrap();
    assert_eq!(edge.sent + edge.dropped_disconnected, 100);
}

#[test]
fn end_of_stream_shuts_down_fan_in_and_fan_out() {
    let (tx_a, rx_a) = unbounded();
    let (tx_b, rx_b) = unbounded();
    let mut g = GraphBuilder::new(Arc::new(VirtualClock::new()));
    let lidar = g.source("lidar", || IterSource::new(msgs(300))).unwrap();
    let camera = g.source("camera", || IterSource::new(msgs(200).map(|m| m.map(|x| x + 10_000)))).unwrap();
    let merge = g.stage("merge", || FnStage::new(|m: Msg<u64>, out: &mut Outbox<'_, u64>| out.send(m))).unwrap();
    let sink_a = g.stage("sink_a", collector(tx_a)).unwrap();
    let sink_b = g.stage("sink_b", collector(tx_b)).unwrap();
    g.connect(&lidar, &merge.input, EdgeSpec::block(8)).unwrap();
    g.connect(&camera, &merge.input, EdgeSpec::block(8)).unwrap();
    g.connect(&merge.output, &sink_a.input, EdgeSpec::block(8)).unwrap();
    g.connect(&merge.output, &sink_b.input, EdgeSpec::block(8)).unwrap();
    let summary = run_bounded(g);
    let (a, b): (Vec<u64>, Vec<u64>) = (rx_a.try_iter().collect(), rx_b.try_iter().collect());
    assert_eq!((a.len(), b.len()), (500, 500));
    assert_eq!(a, b, "fan-out delivers the same sequence to both sinks");
    assert_eq!(summary.actor("merge").unwrap().msgs_in, 500);
}

#[test]
fn stop_handle_ends_an_endless_source() {
    let (tx, rx) = unbounded();
    let mut g = GraphBuilder::new(Arc::new(VirtualClock::new()));
    let endless = g.source("endless", || IterSource::new((0u64..).map(|i| Msg::new(Stamp(i as i64), i, i)))).unwrap();
    let sink = g.stage("sink", collector(tx)).unwrap();
    g.connect(&endless, &sink.input, EdgeSpec::block(4)).unwrap();
    let graph = g.build().unwrap();
    let stop = graph.stop_handle();
    let (done_tx, done_rx) = bounded(1);
    std::thread::spawn(move || {
        let _ = done_tx.send(graph.run());
    });
    for _ in 0..10 {
        rx.recv_timeout(DEADLINE).expect("sink got nothing");
    }
    stop.stop();
    let summary = done_rx.recv_timeout(DEADLINE).expect("graph did not stop").unwrap();
    assert!(summary.actor("endless").unwrap().msgs_out >= 10);
}

#[test]
fn metrics_record_nonzero_latencies_and_render_as_table_and_json() {
    let clock: Arc<dyn Clock> = Arc::new(WallClock);
    let stamp_clock = Arc::clone(&clock);
    let mut g = GraphBuilder::new(Arc::clone(&clock));
    let source = g
        .source("sensor", move || {
            let clock = Arc::clone(&stamp_clock);
            IterSource::new((0..50u64).map(move |i| Msg::new(clock.now(), i, i)))
        })
        .unwrap();
    let work = g
        .stage("work", || {
            FnStage::new(|m: Msg<u64>, out: &mut Outbox<'_, u64>| {
                // Some real work so processing time is measurable.
                let x = (0..2_000u64).fold(m.payload, |acc, k| acc.wrapping_mul(6364136223846793005).wrapping_add(k));
                out.send(m.map(|_| std::hint::black_box(x)));
            })
        })
        .unwrap();
    let (tx, _rx) = unbounded();
    let sink = g.stage("sink", collector(tx)).unwrap();
    g.connect(&source, &work.input, EdgeSpec::block(8)).unwrap();
    g.connect(&work.output, &sink.input, EdgeSpec::block(8)).unwrap();
    let summary = run_bounded(g);
    let work = summary.actor("work").unwrap();
    assert_eq!(work.processing.len(), 50);
    assert!(work.processing.max_ns() > 0);
    assert_eq!(work.end_to_end.len(), 50);
    assert!(work.end_to_end.max_ns() > 0, "wall clock now − sensor stamp must be positive downstream");
    let sink = summary.actor("sink").unwrap();
    assert!(sink.end_to_end.quantile_ns(0.5) >= work.end_to_end.quantile_ns(0.0));

    let table = summary.to_string();
    for needle in ["sensor", "work", "sink", "sensor->work", "block"] {
        assert!(table.contains(needle), "table lacks {needle}:\n{table}");
    }
    let json: serde_json::Value = serde_json::from_str(&summary.to_json().unwrap()).unwrap();
    assert_eq!(json["actors"][1]["name"], "work");
    assert_eq!(json["actors"][1]["processing"]["count"], 50);
    assert!(json["actors"][1]["end_to_end"]["p99_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(json["edges"][0]["policy"], "block");
}

#[test]
fn duplicate_node_and_unconnected_stage_are_rejected() {
    let mut g = GraphBuilder::new(Arc::new(VirtualClock::new()));
    g.source("a", || IterSource::new(msgs(1))).unwrap();
    assert!(g.source("a", || IterSource::new(msgs(1))).is_err());
    g.stage("lonely", || FnStage::new(|_m: Msg<u64>, _out: &mut Outbox<'_, ()>| {})).unwrap();
    assert!(matches!(g.build(), Err(fusor_runtime::RuntimeError::UnconnectedInput { stage }) if stage == "lonely"));
}

fn rx_all<T>(rx: &Receiver<T>) -> Vec<T> {
    rx.try_iter().collect()
}

#[test]
fn pivot_sync_stage_from_the_default_pipeline_runs_in_a_graph() {
    let pipeline = PipelineConfig::default_pipeline().unwrap();
    let sync_params = &pipeline.stage("sync").unwrap().params;
    let sync_config = PivotSyncConfig::from_params(sync_params, "stage[sync].params").unwrap();
    assert_eq!(sync_config.cameras.len(), 1);

    // 10 Hz lidar, 20 Hz camera, 100 Hz pose over one second; the camera dies after 0.5 s.
    let ms = |t: i64| Stamp(t * 1_000_000);
    let mut inputs: Vec<Msg<SyncInput<u32, u32>>> = Vec::new();
    for t in (0..=1_000).step_by(10) {
        let pose = fusor_runtime::sync::PoseSample::new(ms(t), nalgebra::Isometry3::identity());
        inputs.push(Msg::new(ms(t), 0, SyncInput::Pose(pose)));
        if t % 50 == 0 && t <= 500 {
            inputs.push(Msg::new(ms(t), 0, SyncInput::Camera(0, t as u32)));
        }
        if t % 100 == 0 {
            inputs.push(Msg::new(ms(t), 0, SyncInput::Lidar(t as u32)));
        }
    }
    let (tx, rx) = unbounded::<SyncedSet<u32, u32>>();
    let mut g = GraphBuilder::new(Arc::new(VirtualClock::new()));
    let source = g.source("source", move || IterSource::new(inputs.clone().into_iter())).unwrap();
    let config = sync_config.clone();
    let sync = g.stage("sync", move || PivotSyncStage::<u32, u32>::new(&config).unwrap()).unwrap();
    let sink = g.stage("sink", collector(tx)).unwrap();
    let edge = |from: &str, to: &str| pipeline.edge(from, to).map(|e| e.spec()).unwrap_or(EdgeSpec::block(16));
    g.connect(&source, &sync.input, edge("source", "sync")).unwrap();
    g.connect(&sync.output, &sink.input, edge("sync", "sink")).unwrap();
    run_bounded(g);
    let sets = rx_all(&rx);
    assert_eq!(sets.len(), 11, "every scan comes out, the last ones flushed at end of stream");
    let degraded: Vec<u32> = sets.iter().filter(|s| s.is_degraded()).map(|s| s.lidar).collect();
    assert_eq!(degraded, [600, 700, 800, 900, 1_000], "scans after the camera died lack it");
    assert!(sets.iter().all(|s| s.pose.is_some()));
}

/// A source fed by the test through a channel; ends when the sender is dropped.
struct ChannelSource(Receiver<Msg<u64>>);

impl Source for ChannelSource {
    type Out = u64;
    fn next(&mut self) -> Option<Msg<u64>> {
        self.0.recv().ok()
    }
}

#[test]
fn live_metrics_show_a_running_graph_and_end_equal_to_the_summary() {
    let (msg_tx, msg_rx) = unbounded();
    let mut g = GraphBuilder::new(Arc::new(WallClock));
    let source = g.source("source", move || ChannelSource(msg_rx.clone())).unwrap();
    let (tx, _rx) = unbounded();
    let sink = g.stage("sink", collector::<u64>(tx)).unwrap();
    g.connect(&source, &sink.input, EdgeSpec::block(4)).unwrap();
    let graph = g.build().unwrap();
    let live = graph.live_metrics();
    let (done_tx, done_rx) = bounded(1);
    std::thread::spawn(move || {
        let _ = done_tx.send(graph.run());
    });
    // Feed messages until the sink's counters show up while the graph is still running.
    let started = std::time::Instant::now();
    let mut sent = 0u64;
    let seen_live = loop {
        assert!(started.elapsed() < DEADLINE, "no live counters within {DEADLINE:?}");
        msg_tx.send(Msg::new(Stamp(sent as i64), sent, sent)).unwrap();
        sent += 1;
        let snapshot = live.snapshot();
        if let Some(sink) = snapshot.actor("sink").filter(|a| a.msgs_in > 0) {
            break sink.msgs_in;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(seen_live <= sent);
    drop(msg_tx);
    let summary = done_rx.recv_timeout(DEADLINE).expect("graph did not shut down").unwrap();
    let end = live.snapshot();
    assert_eq!(summary.actor("sink").unwrap().msgs_in, sent);
    assert_eq!(end.actor("sink").unwrap().msgs_in, sent, "the final publication equals the summary");
    assert_eq!(end.edge("source", "sink").unwrap().received, sent);
}
