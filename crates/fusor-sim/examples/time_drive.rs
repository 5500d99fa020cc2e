//! Times a whole drive written to MCAP, the work `fusor simulate` does:
//! `cargo run --release -p fusor-sim --example time_drive -- [scenario.toml] [duration_s] [--breakdown]`.
//!
//! Prints the wall time of `record::write_mcap` and the speed against real time. With
//! `--breakdown`, generates and writes in turn on one thread instead (slower) and prints where
//! the time went: lidar scans, camera frames, encoding and compression.

use fusor_sim::drive::SimEvent;
use fusor_sim::record::McapDriveWriter;
use fusor_sim::{Drive, Scenario};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let breakdown = std::env::args().any(|a| a == "--breakdown");
    let mut args = std::env::args().skip(1).filter(|a| a != "--breakdown");
    let path = args
        .next()
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../recordings/town-day.toml").to_owned());
    let mut scenario = Scenario::load(&path)?;
    if let Some(d) = args.next() {
        scenario.duration_s = d.parse()?;
    }
    let out = std::env::temp_dir().join(format!("fusor-time-drive-{}.mcap", std::process::id()));
    if !breakdown {
        let started = Instant::now();
        let summary = fusor_sim::record::write_mcap(Drive::new(&scenario)?, &out, |_, _| {})?;
        let total = started.elapsed().as_secs_f64();
        let _ = std::fs::remove_file(&out);
        println!(
            "{path}: {:.1} s drive in {total:.1} s ({:.2}× real time, {:.1} frames/s), {} messages, {:.0} MB",
            scenario.duration_s,
            scenario.duration_s / total,
            scenario.duration_s * (scenario.lidar.rate_hz + scenario.camera.rate_hz) / total,
            summary.message_count,
            summary.file_size_bytes as f64 / 1e6
        );
        return Ok(());
    }
    let started = Instant::now();
    let mut drive = Drive::new(&scenario)?;
    let setup = started.elapsed();
    let mut writer = McapDriveWriter::create(&drive, &out)?;
    let (mut lidar, mut camera, mut write) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let (mut scans, mut frames) = (0u32, 0u32);
    loop {
        let t = Instant::now();
        let Some(event) = drive.next() else { break };
        let event = event?;
        match &event {
            SimEvent::Lidar(_) => {
                lidar += t.elapsed();
                scans += 1;
            }
            SimEvent::Camera(_) => {
                camera += t.elapsed();
                frames += 1;
            }
            _ => {}
        }
        let t = Instant::now();
        writer.write(&event)?;
        write += t.elapsed();
    }
    let summary = writer.finish()?;
    let total = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&out);
    let per = |d: Duration, n: u32| d.as_secs_f64() * 1e3 / f64::from(n.max(1));
    println!(
        "{path}: {:.1} s drive in {total:.1} s ({:.2}× real time), {} messages, {:.0} MB",
        scenario.duration_s,
        scenario.duration_s / total,
        summary.message_count,
        summary.file_size_bytes as f64 / 1e6
    );
    println!(
        "  setup {:.2} s; lidar {scans} scans {:.1} ms each; camera {frames} frames {:.1} ms each; \
         encode+write {:.1} s; other events {:.1} s",
        setup.as_secs_f64(),
        per(lidar, scans),
        per(camera, frames),
        write.as_secs_f64(),
        total - setup.as_secs_f64() - lidar.as_secs_f64() - camera.as_secs_f64() - write.as_secs_f64()
    );
    Ok(())
}
