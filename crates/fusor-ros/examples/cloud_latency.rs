//! Publish → receive latency and throughput of PointCloud2 messages over loopback DDS with
//! ros2-client / RustDDS: a sweep over sizes and QoS (reliable, best effort).
//!
//! ```text
//! cargo run --release -p fusor-ros --example cloud_latency -- \
//!     [--sizes 0.1,1,2,4] [--count 50] [--hz 10] [--qos reliable,best_effort] \
//!     [--role both|pub|sub] [--domain D] [--label NAME] [--timeout S] [--depth N] [--deadline-ms T] [--json]
//! ```
//!
//! `--hz 0` publishes back to back (throughput). `--depth N` replaces the keep-last depth of both
//! profiles (default 10 reliable, 5 best effort); `--deadline-ms T` offers a deadline, which makes
//! a RustDDS 0.15 reliable writer run repair rounds every T/5 ms (1..100) instead of 10 ms. `--role both` (default) runs publisher and
//! subscriber in this process on two participants; `pub` / `sub` run one side only, so the other
//! side can be `examples/cyclone_latency.py` (Cyclone DDS) on the same `--domain` with the same
//! `--sizes/--count/--hz/--qos`. The receiver prints the table: latency is receive wall time minus
//! the header stamp set just before `publish` (both sides on one machine, one clock).
//!
//! Every participant is loopback-only (`ROS_LOCALHOST_ONLY=1`, [`NetworkScope::Loopback`]).

use fusor_msgs::builtin_interfaces::Time;
use fusor_msgs::sensor_msgs::{PointCloud2, PointField};
use fusor_msgs::std_msgs::Header;
use fusor_ros::{check_rmem_max, qos, NetworkScope, RosContext, RosContextBuilder, TypedSubscription};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `frame_id` of warm-up messages (not measured); measured ones carry `m<index>`.
const WARMUP_FRAME: &str = "warmup";
/// How long the publisher goes on sending warm-up messages after the first one arrived.
const WARMUP: Duration = Duration::from_millis(500);
/// How long it sends them when it cannot see the subscriber (`--role pub`); the subscriber
/// exists before the sweep starts, so this covers discovery of each new writer.
const WARMUP_BLIND: Duration = Duration::from_secs(3);

fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

fn stamp_now() -> Time {
    let t = now_ns();
    Time { sec: (t / 1_000_000_000) as i32, nanosec: (t % 1_000_000_000) as u32 }
}

/// An x/y/z/intensity cloud whose `data` is `bytes` rounded down to whole 16-byte points.
fn cloud(bytes: usize) -> PointCloud2 {
    let point_step = 16u32;
    let width = (bytes / point_step as usize) as u32;
    let field = |name: &str, offset: u32| PointField { name: name.into(), offset, datatype: 7, count: 1 };
    PointCloud2 {
        header: Header { stamp: Time::default(), frame_id: WARMUP_FRAME.into() },
        height: 1,
        width,
        fields: vec![field("x", 0), field("y", 4), field("z", 8), field("intensity", 12)],
        is_bigendian: false,
        point_step,
        row_step: point_step * width,
        data: (0..width as usize * point_step as usize).map(|i| i as u8).collect(),
        is_dense: true,
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum QosKind {
    Reliable,
    BestEffort,
}

impl QosKind {
    fn name(self) -> &'static str {
        match self {
            QosKind::Reliable => "reliable",
            QosKind::BestEffort => "best_effort",
        }
    }

    /// The profile, with keep-last `depth` and a deadline (RustDDS repairs every fifth of it,
    /// 1..100 ms; else every 10 ms) when given.
    fn profile(self, depth: Option<usize>, deadline_ms: Option<u64>) -> ros2_client::QosProfile {
        let profile = match self {
            // Reliable, volatile, keep last 10, publish blocks up to 100 ms when full.
            QosKind::Reliable => qos::reliable(),
            // Best effort, volatile, keep last 5.
            QosKind::BestEffort => qos::sensor_data(),
        };
        let profile = match depth {
            Some(depth) => profile.history(ros2_client::qos::History::KeepLast { depth }),
            None => profile,
        };
        profile.deadline(deadline_ms.map(Duration::from_millis))
    }
}

#[derive(Clone, Copy, Debug)]
struct Case {
    qos: QosKind,
    mb: f64,
    depth: Option<usize>,
    deadline_ms: Option<u64>,
}

impl Case {
    fn bytes(&self) -> usize {
        (self.mb * 1e6) as usize / 16 * 16
    }

    /// The ROS topic; `cyclone_latency.py` uses the same name with the `rt` prefix.
    fn topic(&self) -> String {
        format!("/bench/cloud_{}_{}kb", self.qos.name(), (self.mb * 1000.0).round() as u64)
    }
}

struct Args {
    sizes_mb: Vec<f64>,
    count: usize,
    hz: f64,
    qos: Vec<QosKind>,
    role: String,
    domain: u16,
    label: Option<String>,
    depth: Option<usize>,
    deadline_ms: Option<u64>,
    timeout: Duration,
    json: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        sizes_mb: vec![0.1, 1.0, 2.0, 4.0],
        count: 50,
        hz: 10.0,
        qos: vec![QosKind::Reliable, QosKind::BestEffort],
        role: "both".into(),
        domain: 1 + (std::process::id() % 100) as u16,
        label: None,
        depth: None,
        deadline_ms: None,
        timeout: Duration::from_secs(180),
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--json" {
            a.json = true;
            continue;
        }
        let value = it.next().ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))?;
        match flag.as_str() {
            "--sizes" => a.sizes_mb = value.split(',').map(str::parse).collect::<Result<_, _>>()?,
            "--count" => a.count = value.parse()?,
            "--hz" => a.hz = value.parse()?,
            "--qos" => {
                a.qos = value
                    .split(',')
                    .map(|q| match q {
                        "reliable" => Ok(QosKind::Reliable),
                        "best_effort" => Ok(QosKind::BestEffort),
                        other => Err(anyhow::anyhow!("unknown QoS {other}")),
                    })
                    .collect::<anyhow::Result<_>>()?
            }
            "--role" => a.role = value,
            "--domain" => a.domain = value.parse()?,
            "--label" => a.label = Some(value),
            "--depth" => a.depth = Some(value.parse()?),
            "--deadline-ms" => a.deadline_ms = Some(value.parse()?),
            "--timeout" => a.timeout = Duration::from_secs_f64(value.parse()?),
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    anyhow::ensure!(["both", "pub", "sub"].contains(&a.role.as_str()), "--role is both, pub or sub");
    Ok(a)
}

/// What a receiver saw of one case.
#[derive(Default)]
struct Received {
    latencies_ms: Vec<f64>,
    bytes: usize,
    first_stamp_ns: Option<i64>,
    last_recv_ns: i64,
}

impl Received {
    /// Records one message; returns whether it was a measured one.
    fn record(&mut self, m: &PointCloud2) -> bool {
        if !m.header.frame_id.starts_with('m') {
            return false;
        }
        let recv_ns = now_ns();
        let sent_ns = m.header.stamp.sec as i64 * 1_000_000_000 + m.header.stamp.nanosec as i64;
        self.latencies_ms.push((recv_ns - sent_ns) as f64 / 1e6);
        self.bytes += m.data.len();
        self.first_stamp_ns = Some(self.first_stamp_ns.map_or(sent_ns, |f| f.min(sent_ns)));
        self.last_recv_ns = recv_ns;
        true
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// One table row.
struct Row {
    label: String,
    case: Case,
    count: usize,
    hz: f64,
    delivered: usize,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    mb_per_s: f64,
}

fn row(label: &str, case: Case, count: usize, hz: f64, mut r: Received) -> Row {
    r.latencies_ms.sort_by(f64::total_cmp);
    let span_s = r.first_stamp_ns.map_or(f64::NAN, |f| (r.last_recv_ns - f) as f64 / 1e9);
    Row {
        label: label.into(),
        case,
        count,
        hz,
        delivered: r.latencies_ms.len(),
        p50: percentile(&r.latencies_ms, 0.5),
        p90: percentile(&r.latencies_ms, 0.9),
        p99: percentile(&r.latencies_ms, 0.99),
        max: r.latencies_ms.last().copied().unwrap_or(f64::NAN),
        mb_per_s: r.bytes as f64 / 1e6 / span_s,
    }
}

fn print_rows(rows: &[Row], json: bool) {
    if json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "label": r.label, "qos": r.case.qos.name(), "mb": r.case.mb, "count": r.count,
                    "hz": r.hz, "delivered": r.delivered, "p50_ms": r.p50, "p90_ms": r.p90,
                    "p99_ms": r.p99, "max_ms": r.max, "mb_per_s": r.mb_per_s,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(v));
        return;
    }
    println!(
        "{:<26} {:<12} {:>5} {:>5} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "pair", "qos", "MB", "Hz", "delivered", "p50 ms", "p90 ms", "p99 ms", "max ms", "MB/s"
    );
    for r in rows {
        println!(
            "{:<26} {:<12} {:>5.1} {:>5.1} {:>9} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.1}",
            r.label,
            r.case.qos.name(),
            r.case.mb,
            r.hz,
            format!("{}/{}", r.delivered, r.count),
            r.p50,
            r.p90,
            r.p99,
            r.max,
            r.mb_per_s
        );
    }
}

fn node(name: &str, domain: u16) -> anyhow::Result<RosContext> {
    Ok(RosContextBuilder::new(name).domain_id(domain).scope(NetworkScope::Loopback).build()?)
}

/// Publishes one case: warm-ups, then `count` measured messages at `hz` (0: back to back).
fn publish_case(
    ctx: &mut RosContext,
    case: Case,
    count: usize,
    hz: f64,
    warm: Option<&AtomicBool>,
) -> anyhow::Result<()> {
    let publisher = ctx.publisher::<PointCloud2>(&case.topic(), &case.qos.profile(case.depth, case.deadline_ms))?;
    // ros2-client's matched counts come from the ROS graph, which needs a spinner; warm-ups stand
    // in: until one arrives (when `warm` is given) and [`WARMUP`] more, or [`WARMUP_BLIND`].
    let template = cloud(case.bytes());
    let start = Instant::now();
    let mut warm_since: Option<Instant> = None;
    loop {
        let warmed_up = match warm {
            Some(w) => w.load(Ordering::Relaxed) && warm_since.get_or_insert_with(Instant::now).elapsed() >= WARMUP,
            None => start.elapsed() >= WARMUP_BLIND,
        };
        if warmed_up {
            break;
        }
        anyhow::ensure!(start.elapsed() < Duration::from_secs(20), "{}: warm-up never arrived", case.topic());
        let mut m = template.clone();
        m.header.stamp = stamp_now();
        // A failed warm-up publish (reliable history full) is harmless.
        let _ = publisher.publish(m);
        std::thread::sleep(Duration::from_millis(100));
    }
    let period = if hz > 0.0 { Duration::from_secs_f64(1.0 / hz) } else { Duration::ZERO };
    let mut next = Instant::now();
    let mut failed = 0usize;
    for i in 0..count {
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        next += period;
        let mut m = template.clone();
        m.header.frame_id = format!("m{i}");
        m.header.stamp = stamp_now();
        if publisher.publish(m).is_err() {
            failed += 1;
        }
    }
    if failed > 0 {
        eprintln!("{} {}: {failed}/{count} publish calls failed", case.qos.name(), case.mb);
    }
    // Keep the writer alive while reliable repairs finish.
    std::thread::sleep(Duration::from_millis(1500));
    Ok(())
}

/// Takes from `subscription` until `count` measured messages arrived, or `done` is set and 2 s
/// pass without data, or `timeout` passes.
fn receive_case(
    subscription: &TypedSubscription<PointCloud2>,
    count: usize,
    done: &AtomicBool,
    warm: &AtomicBool,
    timeout: Duration,
) -> anyhow::Result<Received> {
    let mut r = Received::default();
    let start = Instant::now();
    let mut last_data = Instant::now();
    while r.latencies_ms.len() < count && start.elapsed() < timeout {
        match subscription.take()? {
            Some((m, _)) => {
                warm.store(true, Ordering::Relaxed);
                r.record(&m);
                last_data = Instant::now();
            }
            None => {
                if done.load(Ordering::Relaxed) && last_data.elapsed() > Duration::from_secs(2) {
                    break;
                }
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }
    Ok(r)
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    std::env::set_var("ROS_LOCALHOST_ONLY", "1");
    let rmem = check_rmem_max();
    if !args.json {
        eprintln!("net.core.rmem_max: {rmem:?}, domain {}", args.domain);
    }
    let cases: Vec<Case> = args
        .qos
        .iter()
        .flat_map(|&qos| {
            args.sizes_mb.iter().map(move |&mb| Case { qos, mb, depth: args.depth, deadline_ms: args.deadline_ms })
        })
        .collect();
    let mut rows = Vec::new();
    match args.role.as_str() {
        "both" => {
            let label = args.label.clone().unwrap_or_else(|| "ros2-client→ros2-client".into());
            let mut pub_ctx = node("latency_pub", args.domain)?;
            let mut sub_ctx = node("latency_sub", args.domain)?;
            for case in &cases {
                let subscription = sub_ctx
                    .subscription::<PointCloud2>(&case.topic(), &case.qos.profile(case.depth, case.deadline_ms))?;
                let done = Arc::new(AtomicBool::new(false));
                let warm = Arc::new(AtomicBool::new(false));
                let (d, w, count, timeout) = (done.clone(), warm.clone(), args.count, args.timeout);
                let receiver = std::thread::spawn(move || receive_case(&subscription, count, &d, &w, timeout));
                let published = publish_case(&mut pub_ctx, *case, args.count, args.hz, Some(&warm));
                done.store(true, Ordering::Relaxed);
                let received = receiver.join().map_err(|_| anyhow::anyhow!("receiver panicked"))??;
                published?;
                rows.push(row(&label, *case, args.count, args.hz, received));
            }
        }
        "pub" => {
            let mut ctx = node("latency_pub", args.domain)?;
            for case in &cases {
                publish_case(&mut ctx, *case, args.count, args.hz, None)?;
            }
            return Ok(());
        }
        _ => {
            let label = args.label.clone().unwrap_or_else(|| "?→ros2-client".into());
            let mut ctx = node("latency_sub", args.domain)?;
            let subs = cases
                .iter()
                .map(|c| ctx.subscription::<PointCloud2>(&c.topic(), &c.qos.profile(c.depth, c.deadline_ms)))
                .collect::<Result<Vec<_>, _>>()?;
            let mut received: Vec<Received> = cases.iter().map(|_| Received::default()).collect();
            let start = Instant::now();
            let mut last_data: Option<Instant> = None;
            loop {
                let mut got = false;
                for (sub, r) in subs.iter().zip(received.iter_mut()) {
                    while let Some((m, _)) = sub.take()? {
                        got = true;
                        r.record(&m);
                    }
                }
                if got {
                    last_data = Some(Instant::now());
                }
                let all_in = received.iter().all(|r| r.latencies_ms.len() >= args.count);
                let idle = last_data.is_some_and(|t| t.elapsed() > Duration::from_secs(8));
                if all_in || idle || start.elapsed() > args.timeout {
                    break;
                }
                if !got {
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
            for (case, r) in cases.iter().zip(received) {
                rows.push(row(&label, *case, args.count, args.hz, r));
            }
        }
    }
    print_rows(&rows, args.json);
    Ok(())
}
