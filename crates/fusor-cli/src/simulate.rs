//! `fusor simulate`: a scenario file into a ROS 2 MCAP drive with ground truth.

use anyhow::{ensure, Context, Result};
use clap::Args;
use fusor_sim::drive::Drive;
use fusor_sim::scenario::Scenario;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Scenario file (TOML): seed, duration, traffic, lighting, rig, faults.
    #[arg(long, default_value = "recordings/town-day.toml")]
    scenario: PathBuf,
    /// Override the scenario's duration, in seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Override the scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Output MCAP file.
    #[arg(short, long)]
    output: PathBuf,
}

pub fn run(args: SimulateArgs) -> Result<()> {
    let mut scenario =
        Scenario::load(&args.scenario).with_context(|| format!("loading scenario {}", args.scenario.display()))?;
    if let Some(duration) = args.duration {
        ensure!(duration.is_finite() && duration > 0.0, "--duration must be a positive number of seconds");
        scenario.duration_s = duration;
    }
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    let drive = Drive::new(&scenario)?;
    let bar = indicatif::ProgressBar::new(drive.event_count() as u64).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} simulating [{bar:30}] {pos}/{len} events, {elapsed} (eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let summary = fusor_sim::record::write_mcap(drive, &args.output, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    let scans = scenario.duration_s * scenario.lidar.rate_hz;
    println!(
        "wrote {}: {} messages, {:.1} MB, {:.1} s simulated in {:.1} s ({:.2}× real time, {:.1} lidar scans/s)",
        summary.path.display(),
        summary.message_count,
        summary.file_size_bytes as f64 / 1e6,
        scenario.duration_s,
        elapsed,
        scenario.duration_s / elapsed,
        scans / elapsed,
    );
    Ok(())
}
