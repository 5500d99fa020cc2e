//! `fusor replay`: a recorded drive through the pipeline graph, optionally into Rerun.
//!
//! The graph comes from a pipeline file (`launch/pipeline.toml` by default). Stage kinds map to
//! constructors here:
//!
//! | kind | stage | ports |
//! |---|---|---|
//! | `mcap_replay` | [`source::McapSource`] | → `SyncInput` |
//! | `pivot_sync` | `fusor_runtime::sync::PivotSyncStage` | `SyncInput` → `SyncedSet` |
//! | `align` | `fusor_align::AlignStage` | `SyncedSet` → `FusedFrame` |
//! | `summary_sink` | [`sink::SummarySink`] (counts, content hash) | `FusedFrame` → |
//! | `rerun_sink` | `fusor_viz::RerunSink` | `FusedFrame` → |
//!
//! An edge between ports of different types, or an unknown kind, is an error naming the key.
//! `--rerun` adds a `rerun_sink` fed by the `align` stage when the pipeline has none.

pub mod sink;
pub mod source;

use anyhow::{bail, Context, Result};
use clap::Args;
use fusor_align::{AlignConfig, AlignStage, CameraFrame, EgoPoseConfig, FusedFrame, LidarScan};
use fusor_core::calib::Rig;
use fusor_runtime::sync::{PivotSyncConfig, PivotSyncStage, SyncedSet};
use fusor_runtime::{
    ClockMode, EdgePolicy, EdgeSpec, GraphBuilder, InPort, OutPort, PipelineConfig, RunSummary, StageConfig, StagePorts,
};
use fusor_viz::{RerunSink, RerunTarget};
use serde::{Deserialize, Serialize};
use sink::{FrameStats, SharedFrameStats, SummarySink};
use source::{Input, McapSource, SharedStats, SourceConfig, SourceStats};
use std::path::PathBuf;
use std::sync::{Arc, PoisonError};
use std::time::Instant;

/// The stage kinds this host can build.
pub const STAGE_KINDS: [&str; 5] = ["mcap_replay", "pivot_sync", "align", "summary_sink", "rerun_sink"];

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The drive (ROS 2 MCAP on fusor's standard topics).
    recording: PathBuf,
    /// Replay at this rate × real time (1.0 = real time).
    #[arg(long, conflicts_with = "max")]
    rate: Option<f64>,
    /// As fast as possible (virtual clock from the stamps).
    #[arg(long)]
    max: bool,
    /// Rerun output: `spawn`, `connect [ADDR]` (default 127.0.0.1:9876) or `save FILE.rrd`.
    #[arg(long, num_args = 1..=2, value_names = ["MODE", "ARG"])]
    rerun: Option<Vec<String>>,
    /// Pipeline file (default: the built-in `launch/pipeline.toml`).
    #[arg(long)]
    pipeline: Option<PathBuf>,
    /// Rig calibration used where the drive lacks `/tf_static` or CameraInfo.
    #[arg(long)]
    rig: Option<PathBuf>,
    /// Write the run summary, source and frame counters as JSON.
    #[arg(long)]
    metrics_json: Option<PathBuf>,
}

/// `params` of a `mcap_replay` stage.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceParams {
    /// Ego pose estimation (map origin, heading filter).
    #[serde(default)]
    pose: EgoPoseConfig,
    /// Ground-truth objects topic.
    #[serde(default = "default_gt_topic")]
    ground_truth_topic: String,
    /// Rig file used where the drive lacks extrinsics or intrinsics.
    #[serde(default)]
    rig: Option<PathBuf>,
}

fn default_gt_topic() -> String {
    "/ground_truth/objects".into()
}

fn params<T: serde::de::DeserializeOwned>(stage: &StageConfig, key: &str) -> Result<T> {
    toml::Value::Table(stage.params.clone()).try_into().with_context(|| format!("{key}.params"))
}

fn rerun_target(words: &[String]) -> Result<RerunTarget> {
    match words {
        [mode] if mode == "spawn" => Ok(RerunTarget::Spawn),
        [mode] if mode == "connect" => Ok(RerunTarget::Connect("127.0.0.1:9876".into())),
        [mode, addr] if mode == "connect" => Ok(RerunTarget::Connect(addr.clone())),
        [mode, file] if mode == "save" => Ok(RerunTarget::Save(PathBuf::from(file))),
        _ => bail!(
            "--rerun takes `spawn`, `connect [ADDR]` or `save FILE.rrd`, got `{}` (give the drive before --rerun)",
            words.join(" ")
        ),
    }
}

type Set = SyncedSet<LidarScan, CameraFrame>;

enum Node {
    Source(OutPort<Input>),
    Sync(StagePorts<Input, Set>),
    Align(StagePorts<Set, FusedFrame>),
    Sink(InPort<FusedFrame>),
}

impl Node {
    fn output_type(&self) -> &'static str {
        match self {
            Node::Source(_) => "SyncInput",
            Node::Sync(_) => "SyncedSet",
            Node::Align(_) => "FusedFrame",
            Node::Sink(_) => "nothing (a sink)",
        }
    }
    fn input_type(&self) -> &'static str {
        match self {
            Node::Source(_) => "nothing (a source)",
            Node::Sync(_) => "SyncInput",
            Node::Align(_) => "SyncedSet",
            Node::Sink(_) => "FusedFrame",
        }
    }
}

/// Everything a run produced besides the runtime summary.
#[derive(Debug, Serialize)]
struct ReplayReport {
    recording: PathBuf,
    drive_duration_s: f64,
    wall_s: f64,
    frames_per_s: f64,
    real_time_factor: f64,
    source: SourceStats,
    frames: FrameStats,
}

#[derive(Serialize)]
struct MetricsJson<'a> {
    replay: &'a ReplayReport,
    runtime: serde_json::Value,
}

pub fn run(args: ReplayArgs) -> Result<()> {
    let mut config = match &args.pipeline {
        Some(path) => PipelineConfig::load(path)?,
        None => PipelineConfig::default_pipeline()?,
    };
    config.validate_kinds(&STAGE_KINDS)?;
    let clock_mode = match (args.rate, args.max) {
        (Some(rate), _) => ClockMode::Replay { rate },
        (None, true) => ClockMode::Max,
        (None, false) => config.runtime.clock_mode(),
    };
    let rerun = args.rerun.as_deref().map(rerun_target).transpose()?;
    add_rerun_sink(&mut config, rerun.is_some())?;

    let info = fusor_record::info(&args.recording).ok();
    let total_messages = info.as_ref().map(|i| i.message_count).unwrap_or(0);
    let bar = indicatif::ProgressBar::new(total_messages).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} replaying [{bar:30}] {pos}/{len} messages, {elapsed} (eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let recording = match &rerun {
        Some(target) => Some(fusor_viz::open_recording("fusor", target)?),
        None => None,
    };

    let source_stats: SharedStats = Arc::default();
    let frame_stats: SharedFrameStats = Arc::default();
    let progress_bar = bar.clone();
    let progress: source::Progress = Arc::new(move |n| progress_bar.set_position(n));
    let graph = build_graph(&config, &args, clock_mode, &source_stats, &frame_stats, progress, recording.clone())?;

    let started = Instant::now();
    let summary = graph.run()?;
    let wall_s = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    if let Some(rec) = &recording {
        if let Err(e) = rec.flush_blocking() {
            tracing::warn!("rerun flush: {e}");
        }
    }
    drop(recording);

    let source = source_stats.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let frames = frame_stats.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let drive_duration_s = info
        .as_ref()
        .filter(|i| i.message_count > 0)
        .map(|i| i.duration().secs_f64())
        .or_else(|| Some((frames.last_stamp_ns? - frames.first_stamp_ns?) as f64 * 1e-9))
        .unwrap_or(0.0);
    let report = ReplayReport {
        recording: args.recording.clone(),
        drive_duration_s,
        wall_s,
        frames_per_s: frames.frames as f64 / wall_s.max(1e-9),
        real_time_factor: drive_duration_s / wall_s.max(1e-9),
        source,
        frames,
    };
    println!("{summary}");
    print_report(&report);
    if let Some(path) = &args.metrics_json {
        write_metrics(path, &report, &summary)?;
    }
    if report.frames.frames == 0 {
        bail!(
            "nothing could be processed: no lidar scan reached the end of the pipeline ({} messages read{})",
            report.source.messages,
            report.source.damage.as_deref().map(|d| format!("; {d}")).unwrap_or_default()
        );
    }
    Ok(())
}

fn add_rerun_sink(config: &mut PipelineConfig, requested: bool) -> Result<()> {
    let has_sink = config.stages.iter().any(|s| s.kind == "rerun_sink");
    if has_sink && !requested {
        bail!("the pipeline has a `rerun_sink` stage: pass --rerun spawn|connect|save");
    }
    if requested && !has_sink {
        let Some(align) = config.stages.iter().find(|s| s.kind == "align").map(|s| s.name.clone()) else {
            bail!("--rerun needs an `align` stage in the pipeline to feed the viewer");
        };
        config.stages.push(StageConfig { name: "rerun".into(), kind: "rerun_sink".into(), params: toml::Table::new() });
        config.edges.push(fusor_runtime::EdgeConfig {
            from: align,
            to: "rerun".into(),
            capacity: 16,
            policy: EdgePolicy::Block,
        });
        config.validate()?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn build_graph(
    config: &PipelineConfig,
    args: &ReplayArgs,
    clock_mode: ClockMode,
    source_stats: &SharedStats,
    frame_stats: &SharedFrameStats,
    progress: source::Progress,
    recording: Option<rerun::RecordingStream>,
) -> Result<fusor_runtime::Graph> {
    let sync_config = match config.stages.iter().enumerate().find(|(_, s)| s.kind == "pivot_sync") {
        Some((i, s)) => PivotSyncConfig::from_params(&s.params, &format!("stage[{i}].params"))?,
        None => PivotSyncConfig::default(),
    };
    let camera_names: Vec<String> = sync_config.cameras.iter().map(|c| c.name.clone()).collect();
    let mut builder = GraphBuilder::new(clock_mode.build()?).restart_limit(config.runtime.restart_limit);
    let mut nodes = Vec::with_capacity(config.stages.len());
    for (i, stage) in config.stages.iter().enumerate() {
        let key = format!("stage[{i}]");
        let node = match stage.kind.as_str() {
            "mcap_replay" => {
                let p: SourceParams = params(stage, &key)?;
                p.pose.validate(&format!("{key}.params.pose"))?;
                let rig_path = args.rig.clone().or(p.rig.clone());
                let rig = match &rig_path {
                    Some(path) => Some(Rig::load(path).with_context(|| format!("loading rig {}", path.display()))?),
                    None => None,
                };
                let source_config = SourceConfig {
                    path: args.recording.clone(),
                    cameras: camera_names.clone(),
                    rig,
                    pose: p.pose,
                    ground_truth_topic: p.ground_truth_topic,
                };
                // Fail early, with the reason, if the file cannot be opened at all.
                McapSource::open(source_config.clone(), Arc::clone(source_stats), None)
                    .with_context(|| format!("opening {}", args.recording.display()))?;
                let stats = Arc::clone(source_stats);
                let progress = Arc::clone(&progress);
                Node::Source(builder.source(&stage.name, move || {
                    McapSource::open(source_config.clone(), Arc::clone(&stats), Some(Arc::clone(&progress)))
                        .unwrap_or_else(|e| {
                            McapSource::failed(source_config.clone(), Arc::clone(&stats), format!("{e:#}"))
                        })
                })?)
            }
            "pivot_sync" => {
                let c = PivotSyncConfig::from_params(&stage.params, &format!("{key}.params"))?;
                PivotSyncStage::<LidarScan, CameraFrame>::new(&c)?;
                // Validated just above: a restart rebuilds from the same, valid config.
                #[allow(clippy::expect_used)]
                let factory = move || PivotSyncStage::new(&c).expect("pivot_sync config validated before the run");
                Node::Sync(builder.stage(&stage.name, factory)?)
            }
            "align" => {
                let mut c = AlignConfig::from_params(&stage.params, &format!("{key}.params"))?;
                if c.cameras.is_empty() {
                    c.cameras = camera_names.clone();
                }
                Node::Align(builder.stage(&stage.name, move || AlignStage::new(c.clone()))?)
            }
            "summary_sink" => {
                let shared = Arc::clone(frame_stats);
                Node::Sink(builder.stage(&stage.name, move || SummarySink::new(Arc::clone(&shared)))?.input)
            }
            "rerun_sink" => {
                let Some(rec) = recording.clone() else {
                    bail!("{key}: a rerun_sink needs --rerun");
                };
                Node::Sink(builder.stage(&stage.name, move || RerunSink::new(rec.clone()))?.input)
            }
            other => bail!("{key}.kind: unknown stage kind `{other}` (known: {})", STAGE_KINDS.join(", ")),
        };
        nodes.push(node);
    }
    for (i, e) in config.edges.iter().enumerate() {
        let index = |name: &str| config.stages.iter().position(|s| s.name == name);
        let (Some(from), Some(to)) = (index(&e.from), index(&e.to)) else {
            bail!("edge[{i}]: unknown stage");
        };
        let spec: EdgeSpec = e.spec();
        match (&nodes[from], &nodes[to]) {
            (Node::Source(out), Node::Sync(ports)) => builder.connect(out, &ports.input, spec)?,
            (Node::Sync(a), Node::Align(b)) => builder.connect(&a.output, &b.input, spec)?,
            (Node::Align(a), Node::Sink(input)) => builder.connect(&a.output, input, spec)?,
            (a, b) => bail!(
                "edge[{i}] ({} -> {}): `{}` outputs {} but `{}` takes {}",
                e.from,
                e.to,
                e.from,
                a.output_type(),
                e.to,
                b.input_type()
            ),
        }
    }
    Ok(builder.build()?)
}

fn print_report(r: &ReplayReport) {
    let f = &r.frames;
    let s = &r.source;
    println!(
        "replayed {}: {} frames in {:.2} s ({:.1} frames/s, {:.1}× real time over a {:.1} s drive)",
        r.recording.display(),
        f.frames,
        r.wall_s,
        r.frames_per_s,
        r.real_time_factor,
        r.drive_duration_s
    );
    println!(
        "  source: {} messages, {} scans, {} camera frames, {} poses; deskewed {}/{} frames; {} with ground truth",
        s.messages, s.lidar_scans, s.camera_frames, s.poses, f.deskewed, f.frames, f.with_ground_truth
    );
    if f.degraded_frames > 0 {
        let kinds: Vec<String> = f.degradations.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
        println!("  degraded: {} frames ({})", f.degraded_frames, kinds.join(", "));
    }
    if s.pose.unusable_fixes > 0 {
        println!("  gnss: {} fixes unusable (NO_FIX or invalid) of {}", s.pose.unusable_fixes, s.pose.fixes);
    }
    for (label, map) in
        [("unknown topics", &s.unknown_topics), ("malformed (dropped)", &s.malformed), ("not fused", &s.ignored)]
    {
        if !map.is_empty() {
            let items: Vec<String> = map.iter().map(|(t, n)| format!("{t} ×{n}")).collect();
            println!("  {label}: {}", items.join(", "));
        }
    }
    if let Some(frame) = &s.body_frame {
        println!("  /tf_static has no base_link: its root `{frame}` was used as the body frame");
    }
    if let Some(damage) = &s.damage {
        println!("  DAMAGED: {damage}; replayed up to the damage");
    }
    if let Some(e) = &f.pose_vs_ground_truth {
        println!(
            "  ego pose vs ground truth ({} frames, relative to the first): position RMS {:.2} m (max {:.2}), heading RMS {:.2}° (max {:.2}°)",
            e.frames, e.position_rms_m, e.position_max_m, e.heading_rms_deg, e.heading_max_deg
        );
    }
    println!("  content hash: {}", f.content_hash);
}

fn write_metrics(path: &std::path::Path, report: &ReplayReport, summary: &RunSummary) -> Result<()> {
    let runtime: serde_json::Value = serde_json::from_str(&summary.to_json()?)?;
    let json = serde_json::to_string_pretty(&MetricsJson { replay: report, runtime })?;
    std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))
}
