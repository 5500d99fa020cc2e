//! `fusor node`: the pipeline graph between ROS 2 subscriptions and publications.
//!
//! The DDS side lives in `fusor_ros::node::run_node` (one thread owns the participant); the
//! graph is the replay graph of the pipeline file with its source fed by the subscriptions
//! instead of a file, and a [`RosSink`] behind the last of `plan`, `track`, `perceive`:
//!
//! ```text
//! ROS 2 subscriptions ─SensorSample─► source (decode, pose) ─► sync ─► align ─► perceive ─► track ─► plan ─┬─► summary
//!          ▲                                                                                                └─► ros_sink
//!          └──────────── NodeOutput (obstacles, tracks, markers, route, local path, /tf) ◄──────────────────────────┘
//! ```
//!
//! Sensor samples enter through a bounded queue (a full queue drops and counts: the node never
//! blocks DDS), and every edge of a live graph should be `drop-oldest` (the default pipeline's
//! `block` edges are switched to `drop-oldest` here) so a slow stage never holds the sensors
//! back. `/diagnostics` carries, besides the inputs, one status per actor (processing and
//! end-to-end latency percentiles, restarts), the edges' drops and the decoder's counts.

use crate::replay::perceive::PerceivedFrame;
use crate::replay::plan::{decision_key, PlanOutput};
use crate::replay::source::{SharedStats, SourceStats};
use crate::replay::{build_graph, pipeline_base_dir, Hosts, Shared, SourceInput};
use anyhow::{bail, Context, Result};
use crossbeam_channel::{bounded, Sender, TrySendError};
use fusor_core::{FrameId, ObjectClass, Stamp};
use fusor_msgs::builtin_interfaces::Duration as RosDuration;
use fusor_msgs::convert::{detection3d_from, detection3d_from_track, header};
use fusor_msgs::diagnostic_msgs::{DiagnosticStatus, KeyValue};
use fusor_msgs::geometry_msgs::{Point, Pose, PoseStamped, Quaternion, Transform, TransformStamped, Vector3};
use fusor_msgs::nav_msgs::Path as PathMsg;
use fusor_msgs::std_msgs::ColorRGBA;
use fusor_msgs::tf2_msgs::TFMessage;
use fusor_msgs::vision_msgs::Detection3DArray;
use fusor_msgs::visualization_msgs::{Marker, MarkerArray};
use fusor_planning::{Goal, PlannedPath};
use fusor_record::RawMessage;
use fusor_ros::node::{NodeOutput, NodeSummary, PipelineLink, SensorSample};
use fusor_runtime::sync::PivotSyncStats;
use fusor_runtime::{ClockMode, EdgePolicy, LiveMetrics, PipelineConfig, RunSummary, StageConfig};
use nalgebra::UnitQuaternion;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};

/// Sensor samples queued between the DDS thread and the graph's source.
const SAMPLE_QUEUE: usize = 64;
/// Outputs queued between the graph and the DDS thread.
const OUTPUT_QUEUE: usize = 256;

/// The output side of the node, shared by [`RosSink`]s (and their restarts).
#[derive(Debug, Clone)]
pub struct RosOutputs {
    tx: Sender<NodeOutput>,
    frames: Arc<(String, String)>,
    dropped: Arc<AtomicU64>,
}

impl RosOutputs {
    /// Outputs into `tx`, with the node's `map` and `base_link` frame ids.
    pub fn new(tx: Sender<NodeOutput>, map: &str, base_link: &str) -> Self {
        Self { tx, frames: Arc::new((map.to_owned(), base_link.to_owned())), dropped: Arc::default() }
    }

    /// Outputs dropped because the DDS thread fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn send(&self, output: NodeOutput) {
        match self.tx.try_send(output) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// A ROS colour per class.
fn class_rgba(c: ObjectClass) -> ColorRGBA {
    let [r, g, b] = match c {
        ObjectClass::Car => [1.0, 0.55, 0.0],
        ObjectClass::Pedestrian => [0.86, 0.16, 0.78],
        ObjectClass::Cyclist => [0.16, 0.78, 1.0],
        _ => [0.8, 0.8, 0.8],
    };
    ColorRGBA { r, g, b, a: 0.6 }
}

fn quaternion(yaw_rad: f64) -> Quaternion {
    let q = UnitQuaternion::from_euler_angles(0.0, 0.0, yaw_rad);
    Quaternion { x: q.i, y: q.j, z: q.k, w: q.w }
}

/// A planned path as `nav_msgs/Path` in `map_frame`.
pub fn path_msg(path: &PlannedPath, map_frame: &FrameId) -> Result<PathMsg> {
    let mut poses = Vec::with_capacity(path.poses.len());
    for p in &path.poses {
        poses.push(PoseStamped {
            header: header(p.stamp, map_frame)?,
            pose: Pose {
                position: Point { x: p.position.x, y: p.position.y, z: p.position.z },
                orientation: quaternion(p.yaw_rad),
            },
        });
    }
    Ok(PathMsg { header: header(path.stamp, map_frame)?, poses })
}

/// Publishes each perceived frame on the node's topics: obstacles (`base_link`), tracks and
/// their markers (`map`), the route when it changes, the local path, and `map → base_link`.
#[derive(Debug)]
pub struct RosSink {
    outputs: RosOutputs,
    route: Option<Arc<PlannedPath>>,
    errors: u64,
}

impl RosSink {
    /// A sink sending into `outputs`.
    pub fn new(outputs: RosOutputs) -> Self {
        Self { outputs, route: None, errors: 0 }
    }

    fn publish(&mut self, stamp: Stamp, p: &PerceivedFrame) -> Result<()> {
        let frames = Arc::clone(&self.outputs.frames);
        let (map_name, base_name) = &*frames;
        let map = FrameId::new(map_name);
        let base_link = FrameId::new(base_name);
        let mut detections = Vec::with_capacity(p.detections.len());
        for d in p.detections.iter() {
            let mut msg = detection3d_from(d)?;
            msg.header = header(stamp, &base_link)?;
            detections.push(msg);
        }
        self.outputs.send(NodeOutput::Obstacles(Detection3DArray { header: header(stamp, &base_link)?, detections }));
        if let Some(tracks) = &p.tracks {
            let mut detections = Vec::with_capacity(tracks.len());
            let mut markers = vec![Marker {
                header: header(stamp, &map)?,
                ns: "tracks".into(),
                action: Marker::DELETEALL,
                ..Marker::default()
            }];
            for t in tracks.iter() {
                let mut msg = detection3d_from_track(t)?;
                msg.header = header(stamp, &map)?;
                detections.push(msg);
                let b = &t.bbox;
                markers.push(Marker {
                    header: header(stamp, &map)?,
                    ns: "tracks".into(),
                    id: i32::try_from(t.id % (i32::MAX as u64)).unwrap_or(0),
                    r#type: Marker::CUBE,
                    action: Marker::ADD,
                    pose: Pose {
                        position: Point { x: b.center.x, y: b.center.y, z: b.center.z },
                        orientation: quaternion(b.yaw_rad),
                    },
                    scale: Vector3 { x: b.size.x, y: b.size.y, z: b.size.z },
                    color: class_rgba(t.class),
                    lifetime: RosDuration { sec: 0, nanosec: 500_000_000 },
                    text: format!("#{} {}", t.id, t.class),
                    ..Marker::default()
                });
            }
            self.outputs.send(NodeOutput::Tracks(Detection3DArray { header: header(stamp, &map)?, detections }));
            self.outputs.send(NodeOutput::Markers(MarkerArray { markers }));
        }
        if let Some(plan) = &p.plan {
            self.publish_plan(plan, &map)?;
        }
        if let Some(pose) = &p.fused.map_from_base_link {
            let t = pose.translation.vector;
            let q = pose.rotation;
            self.outputs.send(NodeOutput::Tf(TFMessage {
                transforms: vec![TransformStamped {
                    header: header(stamp, &map)?,
                    child_frame_id: base_name.clone(),
                    transform: Transform {
                        translation: Vector3 { x: t.x, y: t.y, z: t.z },
                        rotation: Quaternion { x: q.i, y: q.j, z: q.k, w: q.w },
                    },
                }],
            }));
        }
        Ok(())
    }

    fn publish_plan(&mut self, plan: &PlanOutput, map: &FrameId) -> Result<()> {
        let changed = match (&self.route, &plan.route) {
            (Some(a), Some(b)) => !Arc::ptr_eq(a, b),
            (None, Some(_)) => true,
            _ => false,
        };
        if changed {
            if let Some(route) = &plan.route {
                self.outputs.send(NodeOutput::Route(path_msg(route, map)?));
            }
        }
        if plan.route.is_some() {
            self.route = plan.route.clone();
        }
        if let Some(local) = &plan.local {
            self.outputs.send(NodeOutput::LocalPath(path_msg(&local.path, map)?));
            tracing::debug!(decision = decision_key(&local.decision), "local path");
        }
        Ok(())
    }
}

impl fusor_runtime::Stage for RosSink {
    type In = PerceivedFrame;
    type Out = ();

    fn on_msg(&mut self, msg: fusor_runtime::Msg<PerceivedFrame>, _out: &mut fusor_runtime::Outbox<'_, ()>) {
        if let Err(e) = self.publish(msg.stamp, &msg.payload) {
            self.errors += 1;
            if self.errors == 1 {
                tracing::warn!("ros_sink: {e:#} (further errors counted only)");
            }
        }
    }
}

fn kv(key: &str, value: impl ToString) -> KeyValue {
    KeyValue { key: key.to_owned(), value: value.to_string() }
}

/// The pipeline's `/diagnostics` statuses: the synchroniser (drops, degraded sets, resets when
/// the clock jumps back), one per actor, one for the edges, one for the decoder and output queue.
pub fn pipeline_statuses(
    live: &RunSummary,
    source: &SourceStats,
    sync: &PivotSyncStats,
    outputs_dropped: u64,
) -> Vec<DiagnosticStatus> {
    let mut out = Vec::new();
    let streams =
        [("lidar", &sync.lidar), ("pose", &sync.pose)].into_iter().chain(sync.cameras.iter().map(|c| ("camera", c)));
    let mut sync_drops = 0;
    let mut values = vec![
        kv("sets", sync.sets),
        kv("degraded_sets", sync.degraded),
        kv("sets_without_pose", sync.missing_pose),
        kv("sets_without_camera", sync.missing_camera.iter().sum::<u64>()),
        kv("resets_time_went_back", sync.resets),
        kv("forced_by_backlog", sync.forced_by_backlog),
    ];
    for (name, s) in streams {
        sync_drops += s.dropped_duplicate + s.dropped_out_of_order + s.dropped_late;
        values.push(kv(
            &format!("{name} dropped duplicate/out_of_order/late"),
            format!("{}/{}/{}", s.dropped_duplicate, s.dropped_out_of_order, s.dropped_late),
        ));
    }
    out.push(DiagnosticStatus {
        level: if sync.resets > 0 || sync_drops > 0 || sync.degraded > 0 {
            DiagnosticStatus::WARN
        } else {
            DiagnosticStatus::OK
        },
        name: "fusor: sync".into(),
        message: format!(
            "{} sets, {} degraded, {} dropped, {} resets (clock jumped back)",
            sync.sets, sync.degraded, sync_drops, sync.resets
        ),
        hardware_id: "fusor".into(),
        values,
    });
    for a in &live.actors {
        let p = a.processing.summary();
        let e = a.end_to_end.summary();
        let (level, message) = if a.failed {
            (DiagnosticStatus::ERROR, format!("abandoned after {} panics", a.panics))
        } else if a.restarts > 0 {
            (DiagnosticStatus::WARN, format!("restarted {} times", a.restarts))
        } else {
            (DiagnosticStatus::OK, format!("p50 {:.1} ms, p99 {:.1} ms", p.p50_ms, p.p99_ms))
        };
        out.push(DiagnosticStatus {
            level,
            name: format!("fusor: stage {}", a.name),
            message,
            hardware_id: "fusor".into(),
            values: vec![
                kv("msgs_in", a.msgs_in),
                kv("msgs_out", a.msgs_out),
                kv("processing_p50_ms", format!("{:.3}", p.p50_ms)),
                kv("processing_p90_ms", format!("{:.3}", p.p90_ms)),
                kv("processing_p99_ms", format!("{:.3}", p.p99_ms)),
                kv("processing_max_ms", format!("{:.3}", p.max_ms)),
                kv("end_to_end_p50_ms", format!("{:.3}", e.p50_ms)),
                kv("end_to_end_p99_ms", format!("{:.3}", e.p99_ms)),
                kv("restarts", a.restarts),
                kv("panics", a.panics),
            ],
        });
    }
    let dropped: u64 = live.edges.iter().map(|e| e.dropped).sum();
    out.push(DiagnosticStatus {
        level: if dropped > 0 { DiagnosticStatus::WARN } else { DiagnosticStatus::OK },
        name: "fusor: edges".into(),
        message: if dropped > 0 { format!("{dropped} messages dropped (drop-oldest)") } else { "no drops".into() },
        hardware_id: "fusor".into(),
        values: live
            .edges
            .iter()
            .flat_map(|e| {
                [kv(&format!("{} dropped", e.name), e.dropped), kv(&format!("{} depth_max", e.name), e.depth_max)]
            })
            .collect(),
    });
    let malformed: u64 = source.malformed.values().sum();
    let mut values = vec![
        kv("messages", source.messages),
        kv("lidar_scans", source.lidar_scans),
        kv("camera_frames", source.camera_frames),
        kv("poses", source.poses),
        kv("gnss_unusable", source.pose.unusable_fixes),
        kv("output_queue_dropped", outputs_dropped),
    ];
    values.extend(source.malformed.iter().map(|(t, n)| kv(&format!("malformed {t}"), n)));
    values.extend(source.unknown_topics.iter().map(|(t, n)| kv(&format!("unknown {t}"), n)));
    out.push(pose_status(&source.pose));
    out.push(DiagnosticStatus {
        level: if malformed > 0 || outputs_dropped > 0 { DiagnosticStatus::WARN } else { DiagnosticStatus::OK },
        name: "fusor: decoder".into(),
        message: format!("{malformed} malformed messages dropped, {outputs_dropped} outputs dropped"),
        hardware_id: "fusor".into(),
        values,
    });
    out
}

/// Largest accelerometer bias (m/s², g·sin 10°) a correctly calibrated IMU mount explains; beyond,
/// the pose status warns that `base_link_from_imu` looks wrong.
const IMPLAUSIBLE_BIAS_M_S2: f64 = 1.7;

/// The ego-pose estimator's status: fixes, outliers, restarts, heading sources and the
/// accelerometer bias it has found (read as a mount tilt). Warns when the bias is larger than a
/// calibrated mount explains.
fn pose_status(pose: &fusor_align::EgoPoseStats) -> DiagnosticStatus {
    let mut values = vec![
        kv("fixes", pose.fixes),
        kv("fixes_unusable", pose.unusable_fixes),
        kv("fixes_out_of_order", pose.out_of_order_fixes),
        kv("fixes_rejected_as_outliers", pose.rejected_fixes),
        kv("filter_restarts", pose.filter_restarts),
        kv("imu_samples", pose.imu_samples),
        kv("imu_samples_bad", pose.bad_imu_samples),
        kv("poses", pose.poses),
        kv("heading_imu_orientation", pose.heading_imu_orientation),
        kv("heading_imu_rate_and_track", pose.heading_imu_rate_and_track),
        kv("heading_imu_rate", pose.heading_imu_rate),
        kv("heading_track", pose.heading_track),
        kv("heading_held", pose.heading_held),
    ];
    let bias = pose.accel_bias_m_s2.filter(|_| pose.imu_samples > 0);
    if let Some([x, y, z]) = bias {
        values.push(kv("accel_bias_m_s2", format!("{x:.3} {y:.3} {z:.3}")));
    }
    let implausible = bias.is_some_and(|[x, y, _]| x.hypot(y) > IMPLAUSIBLE_BIAS_M_S2);
    let counts = format!(
        "{} fixes, {} rejected as outliers, {} filter restarts",
        pose.fixes, pose.rejected_fixes, pose.filter_restarts
    );
    DiagnosticStatus {
        level: if implausible { DiagnosticStatus::WARN } else { DiagnosticStatus::OK },
        name: "fusor: pose".into(),
        message: match bias {
            Some(b) if implausible => {
                format!(
                    "{counts}; {}: more than a calibrated mount explains, check base_link_from_imu",
                    crate::replay::describe_accel_bias(b)
                )
            }
            Some(b) => format!("{counts}; {}", crate::replay::describe_accel_bias(b)),
            None => counts,
        },
        hardware_id: "fusor".into(),
        values,
    }
}

/// A goal from `/planning/goal`: a position in `map` (the frame id must be the node's `map`).
fn goal_from(msg: &PoseStamped, map_frame: &str) -> Option<Goal> {
    let p = msg.pose.position;
    let ok = (msg.header.frame_id.is_empty() || msg.header.frame_id == map_frame) && p.x.is_finite() && p.y.is_finite();
    if !ok {
        tracing::warn!(frame = %msg.header.frame_id, "goal ignored: not finite, or not in `{map_frame}`");
    }
    ok.then_some(Goal::Map { x_m: p.x, y_m: p.y })
}

/// Adds a `ros_sink` fed by the last of `plan`, `track`, `perceive`, and makes every edge
/// `drop-oldest` (live input).
fn live_pipeline(mut config: PipelineConfig) -> Result<PipelineConfig> {
    let feeder = ["plan", "track", "perceive", "detect"]
        .iter()
        .find_map(|kind| config.stages.iter().rfind(|s| s.kind == *kind).map(|s| s.name.clone()));
    let Some(feeder) = feeder else {
        bail!("the node's pipeline needs a `perceive` or `detect` stage (and usually `track` and `plan`) to publish anything");
    };
    if !config.stages.iter().any(|s| s.kind == "ros_sink") {
        config.stages.push(StageConfig { name: "ros".into(), kind: "ros_sink".into(), params: toml::Table::new() });
        config.edges.push(fusor_runtime::EdgeConfig {
            from: feeder,
            to: "ros".into(),
            capacity: 8,
            policy: EdgePolicy::Block,
        });
    }
    for e in &mut config.edges {
        e.policy = EdgePolicy::DropOldest;
    }
    config.validate()?;
    Ok(config)
}

/// What a node run did.
#[derive(Debug)]
pub struct NodeRun {
    /// The DDS side.
    pub node: NodeSummary,
    /// The graph.
    pub graph: RunSummary,
    /// The decoder's counters.
    pub source: SourceStats,
}

/// Runs the node with the pipeline until `stop` is set.
pub fn run(
    ctx: &mut fusor_ros::RosContext,
    params: &fusor_ros::params::NodeParams,
    stop: &AtomicBool,
) -> Result<NodeRun> {
    let pipeline = params.pipeline.as_deref().map(std::path::Path::new);
    let config = match pipeline {
        Some(path) => PipelineConfig::load(path)?,
        None => PipelineConfig::default_pipeline()?,
    };
    config.validate_kinds(&crate::replay::STAGE_KINDS)?;
    let config = live_pipeline(config)?;

    let (sample_tx, sample_rx) = bounded::<SensorSample>(SAMPLE_QUEUE);
    let (raw_tx, raw_rx) = bounded::<fusor_record::Result<RawMessage>>(SAMPLE_QUEUE);
    let (output_tx, output_rx) = bounded::<NodeOutput>(OUTPUT_QUEUE);
    let (goal_msg_tx, goal_msg_rx) = bounded::<PoseStamped>(8);
    let (goal_tx, goal_rx) = bounded::<Goal>(8);
    let outputs = RosOutputs::new(output_tx, &params.frames.map, &params.frames.base_link);

    // Samples → raw messages for the decoder (ends when the node drops its sender).
    let adapter = std::thread::Builder::new().name("ros-samples".into()).spawn(move || {
        for s in sample_rx {
            let raw = RawMessage {
                topic: s.topic,
                schema_name: s.type_name.to_owned(),
                schema_encoding: "ros2msg".into(),
                schema_text: None,
                message_encoding: "cdr".into(),
                sequence: 0,
                log_time: Stamp(s.received_ns),
                publish_time: Stamp(s.received_ns),
                data: s.cdr,
            };
            if raw_tx.send(Ok(raw)).is_err() {
                break;
            }
        }
    })?;
    let map_frame = params.frames.map.clone();
    let goals = std::thread::Builder::new().name("ros-goals".into()).spawn(move || {
        for msg in goal_msg_rx {
            if let Some(goal) = goal_from(&msg, &map_frame) {
                if goal_tx.send(goal).is_err() {
                    break;
                }
            }
        }
    })?;

    let source_stats: SharedStats = Arc::default();
    let shared = Shared::default();
    let hosts = Hosts {
        source: SourceInput::Live(raw_rx),
        rig: None,
        base_dir: pipeline_base_dir(pipeline),
        rerun: None,
        ros: Some(outputs.clone()),
        goals: Some(goal_rx),
    };
    // Live sensors stamp in wall time; a played recording keeps its old stamps, so with
    // `use_sim_time` the graph's clock follows the newest sensor stamp instead (end-to-end
    // latency then means "behind the newest data", in sensor time).
    let clock = if params.use_sim_time { ClockMode::Max } else { ClockMode::Wall };
    let graph = build_graph(&config, hosts, clock, &source_stats, &shared)?;
    let live: Arc<LiveMetrics> = graph.live_metrics();
    let graph_thread = std::thread::Builder::new().name("pipeline".into()).spawn(move || graph.run())?;

    let stats = Arc::clone(&source_stats);
    let sync_stats = Arc::clone(&shared.sync);
    let dropped_outputs = outputs.clone();
    let link = PipelineLink {
        samples: sample_tx,
        goals: goal_msg_tx,
        outputs: output_rx,
        diagnostics: Box::new(move || {
            let source = stats.lock().unwrap_or_else(PoisonError::into_inner).clone();
            let sync = sync_stats.lock().unwrap_or_else(PoisonError::into_inner).clone();
            pipeline_statuses(&live.snapshot(), &source, &sync, dropped_outputs.dropped())
        }),
    };
    drop(outputs);
    // Returns when `stop` is set (or the pipeline ends); dropping the link ends the source's
    // input, so end of stream shuts the graph down.
    let node = fusor_ros::node::run_node(ctx, params, stop, Some(link));
    let graph = graph_thread.join().map_err(|_| anyhow::anyhow!("the pipeline thread panicked"))??;
    let _ = adapter.join();
    let _ = goals.join();
    let node = node.context("ROS 2 node")?;
    let source = source_stats.lock().unwrap_or_else(PoisonError::into_inner).clone();
    Ok(NodeRun { node, graph, source })
}

/// Published counts for the end-of-run printout.
pub fn published_line(node: &NodeSummary) -> String {
    let mut parts: BTreeMap<&str, u64> = node.published.clone();
    parts.insert("tf", node.tf_published);
    parts.insert("diagnostics", node.diagnostics_published);
    parts.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use fusor_msgs::std_msgs::Header;

    fn pose(frame: &str, x: f64, y: f64) -> PoseStamped {
        PoseStamped {
            header: Header { frame_id: frame.into(), ..Header::default() },
            pose: Pose { position: Point { x, y, z: 0.0 }, orientation: Quaternion::default() },
        }
    }

    #[test]
    fn a_clock_jump_and_sync_drops_turn_the_sync_status_to_warn() {
        let mut sync = PivotSyncStats { sets: 40, ..PivotSyncStats::default() };
        let ok = pipeline_statuses(
            &RunSummary { wall_ns: 0, actors: Vec::new(), edges: Vec::new() },
            &SourceStats::default(),
            &sync,
            0,
        );
        assert_eq!(ok[0].name, "fusor: sync");
        assert_eq!(ok[0].level, DiagnosticStatus::OK);
        sync.resets = 1;
        sync.lidar.dropped_out_of_order = 2;
        let warn = pipeline_statuses(
            &RunSummary { wall_ns: 0, actors: Vec::new(), edges: Vec::new() },
            &SourceStats::default(),
            &sync,
            0,
        );
        assert_eq!(warn[0].level, DiagnosticStatus::WARN);
        assert!(warn[0].message.contains("2 dropped, 1 resets"), "{}", warn[0].message);
        assert!(warn[0]
            .values
            .iter()
            .any(|v| v.key == "lidar dropped duplicate/out_of_order/late" && v.value == "0/2/0"));
    }

    #[test]
    fn the_pose_status_reports_the_imu_tilt_and_warns_when_the_mount_looks_miscalibrated() {
        let summary = RunSummary { wall_ns: 0, actors: Vec::new(), edges: Vec::new() };
        let status = |bias: [f64; 3]| {
            let mut source = SourceStats::default();
            source.pose.fixes = 100;
            source.pose.imu_samples = 1000;
            source.pose.accel_bias_m_s2 = Some(bias);
            let all = pipeline_statuses(&summary, &source, &PivotSyncStats::default(), 0);
            all.into_iter().find(|s| s.name == "fusor: pose").expect("a pose status")
        };
        // A phone 3° nose down: reported, fine.
        let tilted = status([-0.513, 0.0, -0.01]);
        assert_eq!(tilted.level, DiagnosticStatus::OK);
        assert!(
            tilted.message.contains("100 fixes") && tilted.message.contains("3.0° nose down"),
            "{}",
            tilted.message
        );
        assert!(tilted.values.iter().any(|v| v.key == "accel_bias_m_s2" && v.value == "-0.513 0.000 -0.010"));
        // 15° is not a mount error a calibration leaves: warn.
        let wrong = status([-2.54, 0.0, -0.3]);
        assert_eq!(wrong.level, DiagnosticStatus::WARN);
        assert!(wrong.message.contains("check base_link_from_imu"), "{}", wrong.message);
        // Without IMU samples there is no bias to report.
        let mut source = SourceStats::default();
        source.pose.accel_bias_m_s2 = Some([0.0; 3]);
        let all = pipeline_statuses(&summary, &source, &PivotSyncStats::default(), 0);
        let none = all.iter().find(|s| s.name == "fusor: pose").expect("a pose status");
        assert!(!none.values.iter().any(|v| v.key == "accel_bias_m_s2") && !none.message.contains("tilt"));
    }

    #[test]
    fn goals_are_taken_in_map_only_and_finite() {
        assert_eq!(goal_from(&pose("map", 3.0, 4.0), "map"), Some(Goal::Map { x_m: 3.0, y_m: 4.0 }));
        assert_eq!(goal_from(&pose("", 3.0, 4.0), "map"), Some(Goal::Map { x_m: 3.0, y_m: 4.0 }));
        assert_eq!(goal_from(&pose("base_link", 3.0, 4.0), "map"), None);
        assert_eq!(goal_from(&pose("map", f64::NAN, 4.0), "map"), None);
    }

    #[test]
    fn the_live_pipeline_gets_a_ros_sink_behind_plan_and_drop_oldest_edges() {
        let config = live_pipeline(PipelineConfig::default_pipeline().unwrap()).unwrap();
        assert!(config.edges.iter().all(|e| e.policy == EdgePolicy::DropOldest));
        assert!(config.edges.iter().any(|e| e.from == "plan" && e.to == "ros"));
        let mut no_perception = PipelineConfig::default_pipeline().unwrap();
        no_perception.stages.retain(|s| !matches!(s.kind.as_str(), "perceive" | "track" | "plan"));
        no_perception.edges.retain(|e| e.from == "source" || e.from == "sync");
        assert!(live_pipeline(no_perception).is_err());
    }
}
