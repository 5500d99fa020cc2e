//! Publish → receive latency of large PointCloud2 messages over loopback DDS (ros2-client /
//! RustDDS), Rust to Rust in one process on two participants.
//!
//! `cargo run --release -p fusor-ros --example cloud_latency -- [MB] [COUNT] [HZ]`
//! (defaults 2 MB, 100 messages, 10 Hz). Prints p50/p90/max per QoS, losses and `rmem_max`.
//! The participants are loopback-only; the domain is derived from the process id.

use fusor_msgs::builtin_interfaces::Time;
use fusor_msgs::sensor_msgs::{PointCloud2, PointField};
use fusor_msgs::std_msgs::Header;
use fusor_ros::{check_rmem_max, qos, NetworkScope, RosContextBuilder};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

fn cloud(bytes: usize) -> PointCloud2 {
    let point_step = 16u32;
    let width = (bytes / point_step as usize) as u32;
    let field = |name: &str, offset: u32| PointField { name: name.into(), offset, datatype: 7, count: 1 };
    PointCloud2 {
        header: Header { stamp: Time::default(), frame_id: "lidar".into() },
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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn run(
    label: &str,
    profile: ros2_client::QosProfile,
    mb: f64,
    count: usize,
    hz: f64,
    domain: u16,
) -> anyhow::Result<()> {
    let mut pub_node = RosContextBuilder::new("latency_pub").domain_id(domain).scope(NetworkScope::Loopback).build()?;
    let mut sub_node = RosContextBuilder::new("latency_sub").domain_id(domain).scope(NetworkScope::Loopback).build()?;
    let topic = format!("/bench/points_{}", label.replace(' ', "_"));
    let publisher = pub_node.publisher::<PointCloud2>(&topic, &profile)?;
    let subscription = sub_node.subscription::<PointCloud2>(&topic, &profile)?;
    let mut msg = cloud((mb * 1e6) as usize);
    // Warm up until the first message gets through (discovery + matching).
    let discovery_start = Instant::now();
    let mut discovered = None;
    while discovery_start.elapsed() < Duration::from_secs(10) {
        msg.header.stamp = Time { sec: -1, nanosec: 0 };
        publisher.publish(msg.clone())?;
        std::thread::sleep(Duration::from_millis(50));
        if subscription.take()?.is_some() {
            discovered = Some(discovery_start.elapsed());
            while subscription.take()?.is_some() {}
            break;
        }
    }
    let Some(discovered) = discovered else { anyhow::bail!("{label}: nothing arrived within 10 s") };
    let period = Duration::from_secs_f64(1.0 / hz);
    let mut latencies_ms = Vec::with_capacity(count);
    let start = Instant::now();
    let mut sent = 0usize;
    let mut next_send = start;
    let deadline = start + period * count as u32 + Duration::from_secs(2);
    while Instant::now() < deadline {
        if sent < count && Instant::now() >= next_send {
            let t = now_ns();
            msg.header.stamp = Time { sec: (t / 1_000_000_000) as i32, nanosec: (t % 1_000_000_000) as u32 };
            publisher.publish(msg.clone())?;
            sent += 1;
            next_send += period;
        }
        match subscription.take()? {
            Some((m, _)) if m.header.stamp.sec > 0 => {
                let sent_ns = m.header.stamp.sec as i64 * 1_000_000_000 + m.header.stamp.nanosec as i64;
                latencies_ms.push((now_ns() - sent_ns) as f64 / 1e6);
                if latencies_ms.len() == count {
                    break;
                }
            }
            Some(_) => {}
            None => std::thread::sleep(Duration::from_micros(50)),
        }
    }
    latencies_ms.sort_by(f64::total_cmp);
    println!(
        "{label:<12} {mb:.1} MB x {count} @ {hz} Hz: received {}/{}  p50 {:.2} ms  p90 {:.2} ms  max {:.2} ms  (first delivery after {:.0} ms)",
        latencies_ms.len(),
        sent,
        percentile(&latencies_ms, 0.5),
        percentile(&latencies_ms, 0.9),
        latencies_ms.last().copied().unwrap_or(f64::NAN),
        discovered.as_secs_f64() * 1e3,
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mb: f64 = args.first().map(|s| s.parse()).transpose()?.unwrap_or(2.0);
    let count: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(100);
    let hz: f64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(10.0);
    std::env::set_var("ROS_LOCALHOST_ONLY", "1");
    println!("net.core.rmem_max: {:?}", check_rmem_max());
    let domain = 1 + (std::process::id() % 100) as u16;
    run("reliable", qos::reliable(), mb, count, hz, domain)?;
    run("best effort", qos::sensor_data(), mb, count, hz, domain)?;
    Ok(())
}
