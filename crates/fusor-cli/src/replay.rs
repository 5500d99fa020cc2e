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
//! | `perceive` | [`perceive::PerceiveStage`] (geometric detector) | `FusedFrame` → `PerceivedFrame` |
//! | `detect` | [`detect::DetectStage`] (fused network, libtorch) | `FusedFrame` → `PerceivedFrame` |
//! | `track` | [`perceive::TrackStage`] (tracker in `map`) | `PerceivedFrame` → `PerceivedFrame` |
//! | `plan` | [`plan::PlanStage`] (route + local path on a Lanelet2 map) | `PerceivedFrame` → `PerceivedFrame` |
//! | `summary_sink` | [`sink::SummarySink`] (counts, content hash) | `FusedFrame` or `PerceivedFrame` → |
//! | `rerun_sink` | `fusor_viz::RerunSink` | `FusedFrame` or `PerceivedFrame` → |
//!
//! A sink fed by `perceive`, `track` or `plan` takes `PerceivedFrame` (and also counts detections and
//! tracks). An edge between ports of different types, or an unknown kind, is an error naming
//! the key. `--rerun` adds a `rerun_sink` fed by the last of `track`, `perceive`, `align` when
//! the pipeline has none.

pub mod detect;
pub mod perceive;
pub mod plan;
pub mod sink;
pub mod source;

use anyhow::{bail, Context, Result};
use clap::Args;
use fusor_align::{AlignConfig, AlignStage, CameraFrame, EgoPoseConfig, FusedFrame, LidarScan};
use fusor_core::calib::Rig;
use fusor_runtime::sync::{PivotSyncConfig, PivotSyncStage, PivotSyncStats, SharedPivotSyncStats, SyncedSet};
use fusor_runtime::{
    ClockMode, EdgePolicy, EdgeSpec, GraphBuilder, InPort, OutPort, PipelineConfig, RunSummary, StageConfig, StagePorts,
};
use fusor_viz::{RerunSink, RerunTarget};
use perceive::{
    PerceiveStage, PerceivedFrame, PerceptionRerunSink, PerceptionStats, PerceptionSummarySink, SharedFrameLog,
    SharedPerceptionStats, TrackParams, TrackStage,
};
use plan::{PlanParams, PlanStage};
use serde::{Deserialize, Serialize};
use sink::{FrameStats, SharedFrameStats, SummarySink};
use source::{Input, McapSource, SharedStats, SourceConfig, SourceStats};
use std::path::PathBuf;
use std::sync::{Arc, PoisonError};
use std::time::Instant;

/// The stage kinds this host can build.
pub const STAGE_KINDS: [&str; 10] = [
    "mcap_replay",
    "pivot_sync",
    "align",
    "perceive",
    "detect",
    "track",
    "plan",
    "summary_sink",
    "rerun_sink",
    "ros_sink",
];

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

impl ReplayArgs {
    /// As fast as possible through `pipeline` (default: the built-in one), no viewer.
    pub(crate) fn max_speed(recording: PathBuf, pipeline: Option<PathBuf>) -> Self {
        Self { recording, rate: None, max: true, rerun: None, pipeline, rig: None, metrics_json: None }
    }
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
    Perceive(StagePorts<FusedFrame, PerceivedFrame>),
    Track(StagePorts<PerceivedFrame, PerceivedFrame>),
    Plan(StagePorts<PerceivedFrame, PerceivedFrame>),
    Sink(InPort<FusedFrame>),
    PerceivedSink(InPort<PerceivedFrame>),
}

impl Node {
    fn output_type(&self) -> &'static str {
        match self {
            Node::Source(_) => "SyncInput",
            Node::Sync(_) => "SyncedSet",
            Node::Align(_) => "FusedFrame",
            Node::Perceive(_) | Node::Track(_) | Node::Plan(_) => "PerceivedFrame",
            Node::Sink(_) | Node::PerceivedSink(_) => "nothing (a sink)",
        }
    }
    fn input_type(&self) -> &'static str {
        match self {
            Node::Source(_) => "nothing (a source)",
            Node::Sync(_) => "SyncInput",
            Node::Align(_) => "SyncedSet",
            Node::Perceive(_) | Node::Sink(_) => "FusedFrame",
            Node::Track(_) | Node::Plan(_) | Node::PerceivedSink(_) => "PerceivedFrame",
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
    /// The synchroniser's counters, when the graph has a `pivot_sync` stage.
    sync: Option<PivotSyncStats>,
    /// Detections and tracks, when the graph has a `perceive` stage feeding the summary.
    perception: Option<PerceptionStats>,
}

#[derive(Serialize)]
struct MetricsJson<'a> {
    replay: &'a ReplayReport,
    runtime: serde_json::Value,
}

pub fn run(args: ReplayArgs) -> Result<()> {
    let replayed = replay(&args, None)?;
    let (report, summary) = (&replayed.report, &replayed.summary);
    println!("{summary}");
    print_report(report);
    if let Some(path) = &args.metrics_json {
        write_metrics(path, report, summary)?;
    }
    check_frames(report)
}

/// What [`replay`] returns: the runtime summary and the report.
pub(crate) struct Replayed {
    /// Per-actor counters and latencies.
    pub summary: RunSummary,
    report: ReplayReport,
}

impl Replayed {
    /// Fails when no frame reached the end of the pipeline.
    pub(crate) fn check(&self) -> Result<()> {
        check_frames(&self.report)
    }
    /// Prints the runtime summary and the replay report.
    pub(crate) fn print(&self) {
        println!("{}", self.summary);
        print_report(&self.report);
    }
    /// Frames that reached the end of the pipeline per wall second.
    pub(crate) fn frames_per_s(&self) -> f64 {
        self.report.frames_per_s
    }
}

fn check_frames(report: &ReplayReport) -> Result<()> {
    if report.frames.frames == 0 {
        bail!(
            "nothing could be processed: no lidar scan reached the end of the pipeline ({} messages read{})",
            report.source.messages,
            report.source.damage.as_deref().map(|d| format!("; {d}")).unwrap_or_default()
        );
    }
    Ok(())
}

/// Runs the drive through the graph; a summary sink behind `perceive`/`track` records every
/// frame into `log` when it is given (holding `Some(vec![])`).
pub(crate) fn replay(args: &ReplayArgs, log: Option<SharedFrameLog>) -> Result<Replayed> {
    let mut config = load_pipeline(args.pipeline.as_deref())?;
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
        Some(target) => Some(fusor_viz::open_recording("fusor", target, &sync_camera_names(&config)?)?),
        None => None,
    };

    let source_stats: SharedStats = Arc::default();
    let sync_stats: SharedPivotSyncStats = Arc::default();
    let frame_stats: SharedFrameStats = Arc::default();
    let perception_stats: SharedPerceptionStats = Arc::default();
    let frame_log = log.unwrap_or_default();
    let progress_bar = bar.clone();
    let progress: source::Progress = Arc::new(move |n| progress_bar.set_position(n));
    let shared = Shared {
        frames: frame_stats.clone(),
        perception: perception_stats.clone(),
        sync: sync_stats.clone(),
        log: frame_log,
    };
    let hosts = Hosts {
        source: SourceInput::File(args.recording.clone(), progress),
        rig: args.rig.clone(),
        base_dir: pipeline_base_dir(args.pipeline.as_deref()),
        rerun: recording.clone(),
        ros: None,
        goals: None,
    };
    let graph = build_graph(&config, hosts, clock_mode, &source_stats, &shared)?;

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
    let has_perception = config.stages.iter().any(|s| s.kind == "perceive" || s.kind == "detect");
    let has_sync = config.stages.iter().any(|s| s.kind == "pivot_sync");
    let sync = has_sync.then(|| sync_stats.lock().unwrap_or_else(PoisonError::into_inner).clone());
    let perception = has_perception.then(|| perception_stats.lock().unwrap_or_else(PoisonError::into_inner).clone());
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
        sync,
        perception,
    };
    Ok(Replayed { summary, report })
}

/// The counters the sinks publish into.
#[derive(Default)]
pub(crate) struct Shared {
    pub frames: SharedFrameStats,
    pub perception: SharedPerceptionStats,
    pub sync: SharedPivotSyncStats,
    pub log: SharedFrameLog,
}

/// Folder that relative paths in the built-in pipeline (e.g. the `plan` stage's map) are
/// resolved against: this repository's `launch/`.
const BUILTIN_PIPELINE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../launch");

/// True when an edge into `stage` comes from a `perceive`, `track` or `plan` stage.
pub(crate) fn fed_by_perception(config: &PipelineConfig, stage: &str) -> bool {
    config.edges.iter().filter(|e| e.to == stage).any(|e| {
        config
            .stages
            .iter()
            .any(|s| s.name == e.from && matches!(s.kind.as_str(), "perceive" | "detect" | "track" | "plan"))
    })
}

fn add_rerun_sink(config: &mut PipelineConfig, requested: bool) -> Result<()> {
    let has_sink = config.stages.iter().any(|s| s.kind == "rerun_sink");
    if has_sink && !requested {
        bail!("the pipeline has a `rerun_sink` stage: pass --rerun spawn|connect|save");
    }
    if requested && !has_sink {
        let feeder = ["plan", "track", "perceive", "detect", "align"]
            .iter()
            .find_map(|kind| config.stages.iter().rfind(|s| s.kind == *kind).map(|s| s.name.clone()));
        let Some(align) = feeder else {
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

/// Where the graph's source reads from.
pub(crate) enum SourceInput {
    /// A recorded drive, with a progress callback.
    File(PathBuf, source::Progress),
    /// A live transport (`fusor node`): raw messages stamped with their receive time.
    Live(crossbeam_channel::Receiver<fusor_record::Result<fusor_record::RawMessage>>),
}

/// What the host provides the graph besides the pipeline file.
pub(crate) struct Hosts {
    /// The source's input.
    pub source: SourceInput,
    /// Rig file used where the drive lacks extrinsics or intrinsics (overrides the stage's).
    pub rig: Option<PathBuf>,
    /// Folder relative paths of the pipeline file are resolved against.
    pub base_dir: PathBuf,
    /// The Rerun stream, for `rerun_sink` stages.
    pub rerun: Option<rerun::RecordingStream>,
    /// The ROS 2 node's output queue, for `ros_sink` stages.
    pub ros: Option<crate::node::RosOutputs>,
    /// New goals for `plan` stages (the node's goal topic).
    pub goals: Option<crossbeam_channel::Receiver<fusor_planning::Goal>>,
}

/// The BEV field (`base_link`, metres: x `[min, max)`, y `[min, max)`) that the pipeline's
/// `detect` stage (the network) sees, `None` when it has none (the geometric detector sees all
/// around).
pub(crate) fn detector_field(pipeline: Option<&std::path::Path>) -> Result<Option<([f64; 2], [f64; 2])>> {
    let config = load_pipeline(pipeline)?;
    let Some(stage) = config.stages.iter().find(|s| s.kind == "detect") else { return Ok(None) };
    let key = format!("stage `{}`", stage.name);
    let p: detect::DetectParams = params(stage, &key)?;
    let p = p.prepare(&pipeline_base_dir(pipeline)).with_context(|| format!("{key}.params"))?;
    let detector = fusor_detect::Detector::load(&p.weights, tch::Device::Cpu)
        .with_context(|| format!("weights {}", p.weights.display()))?;
    let c = detector.config();
    Ok(Some((c.x_range_m.map(f64::from), c.y_range_m.map(f64::from))))
}

/// The pipeline file given on the command line, else the built-in pipeline.
fn load_pipeline(pipeline: Option<&std::path::Path>) -> Result<PipelineConfig> {
    Ok(match pipeline {
        Some(path) => PipelineConfig::load(path)?,
        None => PipelineConfig::default_pipeline()?,
    })
}

/// Folder of a pipeline file given on the command line, else the built-in pipeline's.
pub(crate) fn pipeline_base_dir(pipeline: Option<&std::path::Path>) -> PathBuf {
    match pipeline {
        Some(path) => path.parent().map(PathBuf::from).unwrap_or_default(),
        None => PathBuf::from(BUILTIN_PIPELINE_DIR),
    }
}

/// The names of the cameras the graph synchronises (its `pivot_sync` stage's, or the default's).
fn sync_camera_names(config: &PipelineConfig) -> Result<Vec<String>> {
    let sync = match config.stages.iter().enumerate().find(|(_, s)| s.kind == "pivot_sync") {
        Some((i, s)) => PivotSyncConfig::from_params(&s.params, &format!("stage[{i}].params"))?,
        None => PivotSyncConfig::default(),
    };
    Ok(sync.cameras.iter().map(|c| c.name.clone()).collect())
}

pub(crate) fn build_graph(
    config: &PipelineConfig,
    hosts: Hosts,
    clock_mode: ClockMode,
    source_stats: &SharedStats,
    shared: &Shared,
) -> Result<fusor_runtime::Graph> {
    let base_dir = hosts.base_dir.as_path();
    let recording = hosts.rerun;
    let camera_names = sync_camera_names(config)?;
    let mut builder = GraphBuilder::new(clock_mode.build()?).restart_limit(config.runtime.restart_limit);
    let mut nodes = Vec::with_capacity(config.stages.len());
    for (i, stage) in config.stages.iter().enumerate() {
        let key = format!("stage[{i}]");
        let node = match stage.kind.as_str() {
            "mcap_replay" => {
                let p: SourceParams = params(stage, &key)?;
                p.pose.validate(&format!("{key}.params.pose"))?;
                let rig_path = hosts.rig.clone().or(p.rig.clone());
                let rig = match &rig_path {
                    Some(path) => Some(Rig::load(path).with_context(|| format!("loading rig {}", path.display()))?),
                    None => None,
                };
                let path = match &hosts.source {
                    SourceInput::File(path, _) => path.clone(),
                    SourceInput::Live(_) => PathBuf::from("<ros 2>"),
                };
                let source_config = SourceConfig {
                    path,
                    cameras: camera_names.clone(),
                    rig,
                    pose: p.pose,
                    ground_truth_topic: p.ground_truth_topic,
                };
                let stats = Arc::clone(source_stats);
                match &hosts.source {
                    SourceInput::File(path, progress) => {
                        // Fail early, with the reason, if the file cannot be opened at all.
                        McapSource::open(source_config.clone(), Arc::clone(source_stats), None)
                            .with_context(|| format!("opening {}", path.display()))?;
                        let progress = Arc::clone(progress);
                        Node::Source(builder.source(&stage.name, move || {
                            McapSource::open(source_config.clone(), Arc::clone(&stats), Some(Arc::clone(&progress)))
                                .unwrap_or_else(|e| {
                                    McapSource::failed(source_config.clone(), Arc::clone(&stats), format!("{e:#}"))
                                })
                        })?)
                    }
                    SourceInput::Live(rx) => {
                        McapSource::live(source_config.clone(), rx.clone(), Arc::clone(source_stats))
                            .with_context(|| format!("{key}.params"))?;
                        let rx = rx.clone();
                        Node::Source(builder.source(&stage.name, move || {
                            McapSource::live(source_config.clone(), rx.clone(), Arc::clone(&stats)).unwrap_or_else(
                                |e| McapSource::failed(source_config.clone(), Arc::clone(&stats), format!("{e:#}")),
                            )
                        })?)
                    }
                }
            }
            "pivot_sync" => {
                let c = PivotSyncConfig::from_params(&stage.params, &format!("{key}.params"))?;
                PivotSyncStage::<LidarScan, CameraFrame>::new(&c)?;
                let stats = Arc::clone(&shared.sync);
                // Validated just above: a restart rebuilds from the same, valid config.
                #[allow(clippy::expect_used)]
                let factory = move || {
                    PivotSyncStage::new(&c)
                        .expect("pivot_sync config validated before the run")
                        .with_shared_stats(Arc::clone(&stats))
                };
                Node::Sync(builder.stage(&stage.name, factory)?)
            }
            "align" => {
                let mut c = AlignConfig::from_params(&stage.params, &format!("{key}.params"))?;
                if c.cameras.is_empty() {
                    c.cameras = camera_names.clone();
                }
                Node::Align(builder.stage(&stage.name, move || AlignStage::new(c.clone()))?)
            }
            "perceive" => {
                let p: fusor_perception::PerceptionParams = params(stage, &key)?;
                PerceiveStage::new(p.clone()).with_context(|| format!("{key}.params"))?;
                // Validated just above: a restart rebuilds from the same, valid parameters.
                #[allow(clippy::expect_used)]
                let factory = move || PerceiveStage::new(p.clone()).expect("perceive params validated before the run");
                Node::Perceive(builder.stage(&stage.name, factory)?)
            }
            "detect" => {
                let p: detect::DetectParams = params(stage, &key)?;
                let p = p.prepare(base_dir).with_context(|| format!("{key}.params"))?;
                // Checked before the run; a (re)start that still cannot load them (file changed, GPU
                // out of memory) gives a stage that reports the error on every frame.
                let factory = move || {
                    detect::DetectStage::new(&p).unwrap_or_else(|e| detect::DetectStage::failed(format!("{e:#}")))
                };
                Node::Perceive(builder.stage(&stage.name, factory)?)
            }
            "track" => {
                let p: TrackParams = params(stage, &key)?;
                let c = p.config().with_context(|| format!("{key}.params"))?;
                TrackStage::new(c.clone(), p.classes.clone())?;
                #[allow(clippy::expect_used)]
                let factory = move || {
                    TrackStage::new(c.clone(), p.classes.clone()).expect("track params validated before the run")
                };
                Node::Track(builder.stage(&stage.name, factory)?)
            }
            "plan" => {
                let p: PlanParams = params(stage, &key)?;
                let mut prepared = p.prepare(base_dir).with_context(|| format!("{key}.params"))?;
                if let Some(goals) = &hosts.goals {
                    prepared = prepared.with_goal_updates(goals.clone());
                }
                Node::Plan(builder.stage(&stage.name, move || PlanStage::new(prepared.clone()))?)
            }
            "summary_sink" if fed_by_perception(config, &stage.name) => {
                let (frames, perception, log) =
                    (Arc::clone(&shared.frames), Arc::clone(&shared.perception), Arc::clone(&shared.log));
                let factory =
                    move || PerceptionSummarySink::new(Arc::clone(&frames), Arc::clone(&perception), Arc::clone(&log));
                Node::PerceivedSink(builder.stage(&stage.name, factory)?.input)
            }
            "summary_sink" => {
                let shared = Arc::clone(&shared.frames);
                Node::Sink(builder.stage(&stage.name, move || SummarySink::new(Arc::clone(&shared)))?.input)
            }
            "rerun_sink" => {
                let Some(rec) = recording.clone() else {
                    bail!("{key}: a rerun_sink needs --rerun");
                };
                if fed_by_perception(config, &stage.name) {
                    let factory = move || PerceptionRerunSink::new(rec.clone());
                    Node::PerceivedSink(builder.stage(&stage.name, factory)?.input)
                } else {
                    Node::Sink(builder.stage(&stage.name, move || RerunSink::new(rec.clone()))?.input)
                }
            }
            "ros_sink" => {
                let Some(ros) = hosts.ros.clone() else {
                    bail!("{key}: a ros_sink runs only in `fusor node`");
                };
                if !fed_by_perception(config, &stage.name) {
                    bail!("{key}: a ros_sink must be fed by a perceive, track or plan stage");
                }
                Node::PerceivedSink(builder.stage(&stage.name, move || crate::node::RosSink::new(ros.clone()))?.input)
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
            (Node::Align(a), Node::Perceive(b)) => builder.connect(&a.output, &b.input, spec)?,
            (Node::Perceive(a), Node::Track(b)) => builder.connect(&a.output, &b.input, spec)?,
            (Node::Track(a), Node::Track(b)) => builder.connect(&a.output, &b.input, spec)?,
            (Node::Perceive(a), Node::PerceivedSink(input)) => builder.connect(&a.output, input, spec)?,
            (Node::Track(a), Node::PerceivedSink(input)) => builder.connect(&a.output, input, spec)?,
            (Node::Perceive(a), Node::Plan(b)) => builder.connect(&a.output, &b.input, spec)?,
            (Node::Track(a), Node::Plan(b)) => builder.connect(&a.output, &b.input, spec)?,
            (Node::Plan(a), Node::PerceivedSink(input)) => builder.connect(&a.output, input, spec)?,
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
    if s.pose.rejected_fixes > 0 || s.pose.filter_restarts > 0 {
        println!(
            "  pose filter: {} GNSS fixes rejected as outliers, {} restarts (outliers in a row or a gap)",
            s.pose.rejected_fixes, s.pose.filter_restarts
        );
    }
    if let Some(bias) = s.pose.accel_bias_m_s2 {
        println!("  {}", describe_accel_bias(bias));
    }
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
            "  ego pose vs ground truth ({} frames, relative to the first): position RMS {:.2} m (max {:.2}), heading RMS {:.2}° (max {:.2}°); \
             frame-to-frame motion RMS error {:.2} m/s, {:.2}°/s",
            e.frames,
            e.position_rms_m,
            e.position_max_m,
            e.heading_rms_deg,
            e.heading_max_deg,
            e.velocity_rms_m_s,
            e.yaw_rate_rms_deg_s
        );
    }
    if let Some(sync) = &r.sync {
        print_sync(sync);
    }
    println!("  content hash: {}", f.content_hash);
    if let Some(p) = &r.perception {
        let classes: Vec<String> = p.detections_by_class.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
        println!(
            "  perception: {} detections over {} frames ({}); {} failed frames",
            p.detections,
            p.frames,
            classes.join(", "),
            p.failed_frames
        );
        if !p.dropped.is_empty() {
            let drops: Vec<String> = p.dropped.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
            println!("  detector dropped: {}", drops.join(", "));
        }
        if let Some(e) = &p.first_error {
            println!("  first detector error: {e}");
        }
        println!(
            "  tracking: {} frames tracked ({} without pose), {} confirmed track instances, {} track ids",
            p.tracked_frames, p.untracked_no_pose, p.track_instances, p.track_ids
        );
        if let Some(plan) = &p.planning {
            let list = |m: &std::collections::BTreeMap<String, u64>| {
                m.iter().map(|(k, n)| format!("{k} ×{n}")).collect::<Vec<_>>().join(", ")
            };
            println!(
                "  planning: {} frames ({}); route plans: {}; local path: {}",
                plan.frames,
                list(&plan.outcomes),
                if plan.replans.is_empty() { "none".to_owned() } else { list(&plan.replans) },
                if plan.decisions.is_empty() { "none".to_owned() } else { list(&plan.decisions) },
            );
            if let Some(m) = plan.last_route_length_m {
                println!(
                    "  route: {m:.0} m; smallest predicted clearance {}",
                    plan.min_clearance_m.map_or("-".to_owned(), |c| format!("{c:.1} m"))
                );
            }
            if let Some(e) = &plan.first_failure {
                println!("  first planning failure: {e}");
            }
        }
        println!("  perception hash: {}", p.content_hash);
    }
}

fn print_sync(s: &PivotSyncStats) {
    let mut drops = Vec::new();
    let cameras = s.cameras.iter().enumerate().map(|(i, c)| (format!("camera[{i}]"), c));
    for (name, stream) in [("lidar".to_owned(), &s.lidar), ("pose".to_owned(), &s.pose)].into_iter().chain(cameras) {
        for (why, n) in [
            ("duplicate", stream.dropped_duplicate),
            ("out of order", stream.dropped_out_of_order),
            ("late", stream.dropped_late),
        ] {
            if n > 0 {
                drops.push(format!("{name} {why} ×{n}"));
            }
        }
    }
    let missing_camera: u64 = s.missing_camera.iter().sum();
    println!(
        "  sync: {} sets ({} degraded: {} without a camera, {} without a pose); dropped: {}; {} resets (time went back), {} forced by backlog",
        s.sets,
        s.degraded,
        missing_camera,
        s.missing_pose,
        if drops.is_empty() { "none".to_owned() } else { drops.join(", ") },
        s.resets,
        s.forced_by_backlog
    );
}

fn write_metrics(path: &std::path::Path, report: &ReplayReport, summary: &RunSummary) -> Result<()> {
    let runtime: serde_json::Value = serde_json::from_str(&summary.to_json()?)?;
    let json = serde_json::to_string_pretty(&MetricsJson { replay: report, runtime })?;
    std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))
}

/// The pose filter's accelerometer bias in `base_link`, and the mount tilt it would mean: a mount
/// pitched nose-down by θ reads −g·sin θ forward; rolled right side down by φ, +g·sin φ to the
/// left.
pub(crate) fn describe_accel_bias([x, y, z]: [f64; 3]) -> String {
    let tilt_deg = |b: f64| (b / 9.80665).clamp(-1.0, 1.0).asin().to_degrees();
    let (nose_down, right_down) = (tilt_deg(-x), tilt_deg(y));
    format!(
        "pose filter: accelerometer bias in base_link [{x:+.3}, {y:+.3}, {z:+.3}] m/s² (as a mount tilt: {:.1}° nose {}, \
         {:.1}° {} side down)",
        nose_down.abs(),
        if nose_down >= 0.0 { "down" } else { "up" },
        right_down.abs(),
        if right_down >= 0.0 { "right" } else { "left" },
    )
}
