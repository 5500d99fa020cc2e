//! `fusor`: the command-line front of the fusor sensor-fusion pipeline.

mod ablation;
mod doctor;
mod eval;
mod import;
mod kitti_detect;
mod node;
mod pose;
mod replay;
mod ros;
mod simulate;
mod train;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Camera + lidar + GNSS sensor fusion: import, inspect and (soon) replay drives.
#[derive(Debug, Parser)]
#[command(name = "fusor", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Log filter (tracing `EnvFilter` syntax, e.g. `info`, `fusor_record=debug`); `RUST_LOG` also works.
    #[arg(long, global = true, default_value = "info")]
    log: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print versions, the libtorch location, CUDA availability and device count, and run a tiny
    /// tch network on the CPU as a smoke test.
    Doctor,
    /// Generate a simulated drive with ground truth from a scenario file, as a ROS 2 MCAP.
    Simulate(simulate::SimulateArgs),
    /// Score a detector: KITTI AP (BEV/3D, R40), centre-distance AP and recall, with a Markdown
    /// table, JSON and precision–recall plots.
    Eval(eval::EvalArgs),
    /// Summarise a recording: topics, types, counts, rates, duration (like `ros2 bag info`).
    Info {
        /// The MCAP file.
        recording: std::path::PathBuf,
    },
    /// Import datasets and calibrations into fusor's formats (MCAP drives, rig files).
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Estimate the ego pose from a recording's GNSS fixes and IMU alone (no lidar needed):
    /// outliers, heading sources, the IMU's mount tilt, and the poses as CSV.
    Pose(pose::PoseArgs),
    /// Replay a recorded drive through the pipeline graph (sync, align, perceive, track, plan),
    /// optionally into Rerun.
    Replay(replay::ReplayArgs),
    /// Publish a recording to ROS 2 with its recorded bytes and stamps (like `ros2 bag play`).
    Play(ros::PlayArgs),
    /// Record ROS 2 topics into a crash-safe streaming MCAP (like `ros2 bag record`).
    Record(ros::RecordArgs),
    /// Run as a ROS 2 node: the pipeline between sensor subscriptions and obstacle, track, route,
    /// /tf and /diagnostics publications.
    Node(ros::NodeArgs),
    /// Train the fused camera + lidar detector (fusor-detect) on simulated drives, with
    /// validation BEV AP per epoch and loss / AP curves next to the weights.
    Train(train::TrainArgs),
    /// Score detector weights on held-out simulated drives (BEV AP R40 per class, ms per frame).
    DetectEval(train::DetectEvalArgs),
    /// Export the detector as a TorchScript module (traced on a simulated frame).
    Export(train::ExportArgs),
    /// Run detector weights on real KITTI object frames: labels matched, BEV PNGs, a report.
    DetectKitti(kitti_detect::KittiDetectArgs),
    /// Every fusion mode on the same held-out drives, clean and under sensor faults (camera
    /// blackout, 32 and 16 beams with and without camera, camera yaw 1°, GNSS outage) and in towns
    /// without street clutter, with gains over lidar-only and AP by range: Markdown, JSON, PNG.
    DetectAblation(ablation::AblationArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    init_logging(&cli.log);
    match cli.command {
        Command::Doctor => {
            let report = doctor::diagnose()?;
            println!("{report}");
        }
        Command::Simulate(args) => simulate::run(args)?,
        Command::Eval(args) => eval::run(args)?,
        Command::Info { recording } => {
            let info = fusor_record::info(&recording)?;
            println!("{info}");
        }
        Command::Import(command) => import::run(command)?,
        Command::Replay(args) => replay::run(args)?,
        Command::Pose(args) => pose::run(args)?,
        Command::Play(args) => ros::run_play(args)?,
        Command::Record(args) => ros::run_record(args)?,
        Command::Node(args) => ros::run_node(args)?,
        Command::Train(args) => train::run_train(args)?,
        Command::DetectEval(args) => train::run_detect_eval(args)?,
        Command::Export(args) => train::run_export(args)?,
        Command::DetectKitti(args) => kitti_detect::run(args)?,
        Command::DetectAblation(args) => ablation::run(args)?,
    }
    Ok(())
}

fn init_logging(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(default_filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // RustDDS logs one warning per datagram over 1500 B (every point-cloud fragment).
    let filter =
        fusor_ros::QUIET_LOG_DIRECTIVES.iter().filter_map(|d| d.parse().ok()).fold(filter, |f, d| f.add_directive(d));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}
