//! `fusor play` and `fusor record`: a recording to ROS 2 and back (like `ros2 bag play|record`),
//! on a participant scoped by ROS 2's environment (loopback unless opened; see `fusor-ros`).

use anyhow::{Context, Result};
use clap::Args;
use fusor_ros::play::PlayOptions;
use fusor_ros::record::RecordOptions;
use fusor_ros::RosContextBuilder;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `fusor play`.
#[derive(Debug, Args)]
pub struct PlayArgs {
    /// The MCAP recording to publish.
    pub recording: PathBuf,
    /// Speed factor (1.0 = recorded pace; 0 = as fast as possible).
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    /// Start over at the end until interrupted.
    #[arg(long = "loop")]
    pub looped: bool,
    /// Only these topics (default: all).
    #[arg(long, num_args = 1..)]
    pub topics: Vec<String>,
    /// Before publishing, wait this many seconds at most for every topic to have a subscriber.
    #[arg(long, value_name = "SECONDS")]
    pub wait_for_subscribers: Option<f64>,
    /// ROS 2 node name.
    #[arg(long, default_value = "fusor_player")]
    pub node_name: String,
}

/// Arguments of `fusor record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The MCAP file to write.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Topics to record (default: every discovered topic).
    pub topics: Vec<String>,
    /// Subscribe best effort (also matches best-effort publishers; may lose samples).
    #[arg(long)]
    pub best_effort: bool,
    /// Chunk size in bytes: a chunk is closed and flushed to disk at this size, so a crash loses
    /// at most this much.
    #[arg(long, default_value_t = 256 * 1024)]
    pub chunk_size: u64,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Stop after this many messages.
    #[arg(long)]
    pub max_messages: Option<u64>,
    /// Stop when nothing arrived for this many seconds after the first message.
    #[arg(long, value_name = "SECONDS")]
    pub idle_exit: Option<f64>,
    /// ROS 2 node name.
    #[arg(long, default_value = "fusor_recorder")]
    pub node_name: String,
}

/// A flag set by SIGINT/SIGTERM.
pub fn stop_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed)).context("installing the SIGINT/SIGTERM handler")?;
    Ok(stop)
}

fn seconds(what: &str, s: Option<f64>) -> Result<Option<Duration>> {
    s.map(|s| Duration::try_from_secs_f64(s).with_context(|| format!("--{what} {s}: not a duration in seconds")))
        .transpose()
}

/// Runs `fusor play`.
pub fn run_play(args: PlayArgs) -> Result<()> {
    anyhow::ensure!(args.rate.is_finite(), "--rate {} is not a number", args.rate);
    let ctx = RosContextBuilder::new(&args.node_name).build()?;
    let stop = stop_flag()?;
    let mut options = PlayOptions::new(&args.recording);
    options.rate = args.rate;
    options.looped = args.looped;
    options.topics = args.topics;
    options.wait_for_readers = seconds("wait-for-subscribers", args.wait_for_subscribers)?;
    let summary = fusor_ros::play::play(&ctx, &options, &stop)?;
    println!(
        "played {} messages ({} bytes) from {} on domain {}{}",
        summary.published,
        summary.payload_bytes,
        args.recording.display(),
        ctx.domain_id(),
        if summary.skipped > 0 { format!(", {} skipped", summary.skipped) } else { String::new() }
    );
    for (topic, count) in &summary.per_topic {
        println!("  {topic}: {count}");
    }
    Ok(())
}

/// Runs `fusor record`.
pub fn run_record(args: RecordArgs) -> Result<()> {
    let ctx = RosContextBuilder::new(&args.node_name).build()?;
    let stop = stop_flag()?;
    let mut options = RecordOptions::new(&args.output);
    options.topics = args.topics;
    options.best_effort = args.best_effort;
    options.chunk_size_bytes = args.chunk_size;
    options.duration = seconds("duration", args.duration)?;
    options.idle_exit = seconds("idle-exit", args.idle_exit)?;
    options.max_messages = args.max_messages;
    let summary = fusor_ros::record::record(&ctx, &options, &stop)?;
    println!(
        "recorded {} messages ({} bytes) into {}",
        summary.message_count,
        summary.payload_bytes,
        args.output.display()
    );
    for (topic, count) in &summary.per_topic {
        println!("  {topic}: {count}");
    }
    Ok(())
}

/// Arguments of `fusor node`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// ROS 2 parameters file (`/fusor: ros__parameters: ...`).
    #[arg(long, default_value = "launch/fusor.params.yaml")]
    pub params: PathBuf,
    /// Topic remaps `from:=to` (ROS 2 `--remap` syntax); repeatable.
    #[arg(short = 'r', long = "remap", value_name = "FROM:=TO")]
    pub remaps: Vec<String>,
    /// Node name (also selects the parameters section).
    #[arg(long, default_value = "fusor")]
    pub node_name: String,
    /// Node namespace.
    #[arg(long, default_value = "/")]
    pub namespace: String,
    /// Stop after this many seconds (default: until SIGINT/SIGTERM).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
}

/// Runs `fusor node`.
pub fn run_node(args: NodeArgs) -> Result<()> {
    let mut params = fusor_ros::params::NodeParams::from_file(&args.params, &args.node_name)?;
    params.apply_remaps(&args.remaps)?;
    let mut ctx = RosContextBuilder::new(&args.node_name).namespace(&args.namespace).build()?;
    let stop = stop_flag()?;
    if let Some(d) = seconds("duration", args.duration)? {
        let flag = Arc::clone(&stop);
        std::thread::spawn(move || {
            std::thread::sleep(d);
            flag.store(true, Ordering::Relaxed);
        });
    }
    tracing::info!(node = %ctx.node_name(), domain = ctx.domain_id(), "fusor node running");
    let run = crate::node::run(&mut ctx, &params, &stop)?;
    println!("fusor node stopped: published {}", crate::node::published_line(&run.node));
    for input in &run.node.inputs {
        println!(
            "  {:<28} {:<48} received {:>6}  decode errors {}  rejected {}  dropped {}",
            input.key, input.topic, input.received, input.decode_errors, input.rejected, input.dropped
        );
    }
    println!(
        "  decoder: {} messages, {} scans, {} camera frames, {} poses; malformed {:?}",
        run.source.messages, run.source.lidar_scans, run.source.camera_frames, run.source.poses, run.source.malformed
    );
    println!("{}", run.graph);
    Ok(())
}
