//! `fusor node`'s ROS 2 side: sensor subscriptions, health accounting and publication.
//!
//! [`run_node`] subscribes to every sensor input of [`NodeParams`] (sensor-data QoS, or reliable
//! when configured; `/tf_static` transient-local), the image, compressed image and camera info of
//! each extra camera (`topics.extra_cameras`), and the goal topic, decodes and counts each
//! message (malformed samples and wrong types are counted, never fatal), and publishes a
//! `/diagnostics` DiagnosticArray every `diagnostics.period_s` with per-input rate, counts, age
//! and an OK/WARN/ERROR/STALE level.
//!
//! With a [`PipelineLink`] (what `fusor node` passes: the runtime graph runs on its own threads)
//! every decoded sensor sample goes to the pipeline as CDR with its receive time, and what the
//! pipeline sends back ([`NodeOutput`]: obstacles, tracks, markers, route, local path, `/tf`) is
//! published here, on the thread that owns the DDS participant. A full pipeline queue drops the
//! sample and counts it (`dropped` in the diagnostics): a slow pipeline never blocks DDS. The
//! pipeline adds its own statuses (per-stage latency, drops, restarts) to each DiagnosticArray.
//! Without a link (tests of the I/O alone), `map → base_link` is published on `/tf` straight from
//! the GNSS fixes (ENU at the first valid fix; orientation from the latest IMU message).

use crate::params::NodeParams;
use crate::{qos, Result, RosContext, TypedPublisher, TypedSubscription};
use fusor_core::geodesy::LocalEnu;
use fusor_msgs::builtin_interfaces::Time;
use fusor_msgs::diagnostic_msgs::{DiagnosticArray, DiagnosticStatus, KeyValue};
use fusor_msgs::geometry_msgs::{PoseStamped, Quaternion, Transform, TransformStamped, Vector3};
use fusor_msgs::nav_msgs::Path as PathMsg;
use fusor_msgs::sensor_msgs::{CameraInfo, CompressedImage, Image, Imu, NavSatFix, NavSatStatus, PointCloud2};
use fusor_msgs::std_msgs::Header;
use fusor_msgs::tf2_msgs::TFMessage;
use fusor_msgs::vision_msgs::Detection3DArray;
use fusor_msgs::visualization_msgs::MarkerArray;
use fusor_msgs::RosMessage;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Per-input accounting.
#[derive(Debug, Clone, Default)]
pub struct InputHealth {
    /// Key of the input: its parameter key (`points`, `gnss`, ...), for an extra camera the kind
    /// and the camera's name (`image.front_left`).
    pub key: String,
    /// Kind of input (`points`, `image`, ...): the key of its expected rate.
    kind: &'static str,
    /// ROS topic.
    pub topic: String,
    /// Messages decoded.
    pub received: u64,
    /// Samples that failed to decode (malformed, or another type on the topic).
    pub decode_errors: u64,
    /// Messages dropped for bad content (e.g. a NavSatFix without a fix or with NaN).
    pub rejected: u64,
    /// Messages dropped because the pipeline's input queue was full.
    pub dropped: u64,
    /// Receive times in the last rate window.
    recent: VecDeque<Instant>,
    /// Last receive time.
    last: Option<Instant>,
}

impl InputHealth {
    fn new(key: &'static str, topic: &str) -> Self {
        Self { key: key.to_owned(), kind: key, topic: topic.to_owned(), ..Self::default() }
    }

    fn camera(kind: &'static str, camera: &str, topic: &str) -> Self {
        Self { key: format!("{kind}.{camera}"), kind, topic: topic.to_owned(), ..Self::default() }
    }

    fn record(&mut self, now: Instant) {
        self.received += 1;
        self.last = Some(now);
        self.recent.push_back(now);
    }

    /// Receive rate over the last 2 s in Hz.
    pub fn rate_hz(&mut self, now: Instant) -> f64 {
        let window = Duration::from_secs(2);
        while self.recent.front().is_some_and(|t| now.duration_since(*t) > window) {
            self.recent.pop_front();
        }
        self.recent.len() as f64 / window.as_secs_f64()
    }
}

/// What the node did, returned when it stops.
#[derive(Debug, Clone, Default)]
pub struct NodeSummary {
    /// Per-input accounting.
    pub inputs: Vec<InputHealth>,
    /// `/tf` messages published.
    pub tf_published: u64,
    /// `/diagnostics` messages published.
    pub diagnostics_published: u64,
    /// Pipeline outputs published, by topic key (`obstacles`, `tracks`, `markers`, `route`,
    /// `local_path`).
    pub published: std::collections::BTreeMap<&'static str, u64>,
    /// Goals received on the goal topic.
    pub goals: u64,
}

/// What the pipeline asks the node to publish.
#[derive(Debug, Clone)]
pub enum NodeOutput {
    /// `/perception/obstacles`.
    Obstacles(Detection3DArray),
    /// `/perception/tracks`.
    Tracks(Detection3DArray),
    /// `/perception/markers`.
    Markers(MarkerArray),
    /// `/planning/route` (transient-local: late joiners get the last one).
    Route(PathMsg),
    /// `/planning/local_path`.
    LocalPath(PathMsg),
    /// `/tf` (`map → base_link` from the fused pose).
    Tf(TFMessage),
}

/// A decoded sensor sample on its way to the pipeline: the message re-encoded as CDR (with the
/// encapsulation header), its ROS 2 type name, topic and receive time (ns since the epoch).
#[derive(Debug, Clone)]
pub struct SensorSample {
    /// The topic it came on.
    pub topic: String,
    /// `pkg/msg/Name`.
    pub type_name: &'static str,
    /// CDR bytes.
    pub cdr: Vec<u8>,
    /// Receive time, ns since the Unix epoch.
    pub received_ns: i64,
}

/// The node's connection to a pipeline running on other threads.
pub struct PipelineLink {
    /// Sensor samples in (bounded: a full queue drops and counts).
    pub samples: crossbeam_channel::Sender<SensorSample>,
    /// Goals from the goal topic.
    pub goals: crossbeam_channel::Sender<PoseStamped>,
    /// Messages to publish.
    pub outputs: crossbeam_channel::Receiver<NodeOutput>,
    /// The pipeline's statuses for each `/diagnostics` message (stages, edges, restarts).
    pub diagnostics: Box<dyn FnMut() -> Vec<DiagnosticStatus> + Send>,
}

impl std::fmt::Debug for PipelineLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineLink").field("queued", &self.samples.len()).finish()
    }
}

/// An extra camera's subscriptions.
struct CameraIo {
    image: TypedSubscription<Image>,
    compressed: TypedSubscription<CompressedImage>,
    camera_info: TypedSubscription<CameraInfo>,
}

struct Io {
    points: TypedSubscription<PointCloud2>,
    image: TypedSubscription<Image>,
    compressed: TypedSubscription<CompressedImage>,
    camera_info: TypedSubscription<CameraInfo>,
    gnss: TypedSubscription<NavSatFix>,
    imu: TypedSubscription<Imu>,
    tf_static: TypedSubscription<TFMessage>,
    goal: TypedSubscription<PoseStamped>,
    tf: TypedPublisher<TFMessage>,
    diagnostics: TypedPublisher<DiagnosticArray>,
    obstacles: TypedPublisher<Detection3DArray>,
    tracks: TypedPublisher<Detection3DArray>,
    markers: TypedPublisher<MarkerArray>,
    route: TypedPublisher<PathMsg>,
    local_path: TypedPublisher<PathMsg>,
    extra_cameras: Vec<CameraIo>,
}

impl Io {
    /// Publishes one pipeline output; returns its topic key.
    fn publish(&self, output: NodeOutput) -> Result<&'static str> {
        match output {
            NodeOutput::Obstacles(m) => self.obstacles.publish(m).map(|()| "obstacles"),
            NodeOutput::Tracks(m) => self.tracks.publish(m).map(|()| "tracks"),
            NodeOutput::Markers(m) => self.markers.publish(m).map(|()| "markers"),
            NodeOutput::Route(m) => self.route.publish(m).map(|()| "route"),
            NodeOutput::LocalPath(m) => self.local_path.publish(m).map(|()| "local_path"),
            NodeOutput::Tf(m) => self.tf.publish(m).map(|()| "tf"),
        }
    }
}

/// Hands a decoded message to the pipeline, counting a full queue as a drop.
fn forward<M: RosMessage>(link: Option<&PipelineLink>, health: &mut InputHealth, msg: &M) {
    let Some(link) = link else { return };
    let cdr = match fusor_msgs::encode(msg) {
        Ok(cdr) => cdr,
        Err(e) => {
            health.rejected += 1;
            tracing::debug!("re-encoding {}: {e}", M::TYPE_NAME);
            return;
        }
    };
    let sample = SensorSample { topic: health.topic.clone(), type_name: M::TYPE_NAME, cdr, received_ns: ros_time_ns() };
    if link.samples.try_send(sample).is_err() {
        health.dropped += 1;
    }
}

fn ros_time_ns() -> i64 {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Drains `sub`, counting into `health`; calls `f` on each decoded message.
fn drain<M: RosMessage + 'static>(
    sub: &TypedSubscription<M>,
    health: &mut InputHealth,
    now: Instant,
    mut f: impl FnMut(M, &mut InputHealth),
) {
    // Bounded per round so one flooding topic cannot starve the others.
    for _ in 0..64 {
        match sub.take() {
            Ok(Some((msg, _))) => {
                health.record(now);
                f(msg, health);
            }
            Ok(None) => break,
            Err(e) => {
                health.decode_errors += 1;
                tracing::debug!("{e}");
            }
        }
    }
}

fn ros_time_now() -> Time {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Time { sec: i32::try_from(d.as_secs()).unwrap_or(i32::MAX), nanosec: d.subsec_nanos() }
}

fn kv(key: &str, value: impl ToString) -> KeyValue {
    KeyValue { key: key.to_owned(), value: value.to_string() }
}

/// Runs the node until `stop` is set (or, with a pipeline, until the pipeline closes its output
/// channel).
pub fn run_node(
    ctx: &mut RosContext,
    params: &NodeParams,
    stop: &AtomicBool,
    mut link: Option<PipelineLink>,
) -> Result<NodeSummary> {
    let t = &params.topics;
    let extra_cameras = t.extra_camera_topics();
    let mut sensor = qos::sensor_data();
    sensor.history =
        ros2_client::qos::History::KeepLast { depth: usize::try_from(params.sensor_qos.depth).unwrap_or(5) };
    if params.sensor_qos.reliability == "reliable" {
        sensor = sensor
            .reliability(ros2_client::qos::Reliability::Reliable { when_full: ros2_client::qos::WhenFull::DEFAULT });
    }
    let io = Io {
        points: ctx.subscription(&t.points, &sensor)?,
        image: ctx.subscription(&t.image, &sensor)?,
        compressed: ctx.subscription(&t.compressed_image, &sensor)?,
        camera_info: ctx.subscription(&t.camera_info, &sensor)?,
        gnss: ctx.subscription(&t.gnss, &sensor)?,
        imu: ctx.subscription(&t.imu, &sensor)?,
        tf_static: ctx.subscription(&t.tf_static, &qos::transient_local(100))?,
        goal: ctx.subscription(&t.goal, &qos::reliable())?,
        tf: ctx.publisher(&t.tf, &qos::reliable())?,
        diagnostics: ctx.publisher(&t.diagnostics, &qos::reliable())?,
        obstacles: ctx.publisher(&t.obstacles, &qos::reliable())?,
        tracks: ctx.publisher(&t.tracks, &qos::reliable())?,
        markers: ctx.publisher(&t.markers, &qos::reliable())?,
        route: ctx.publisher(&t.route, &qos::transient_local(1))?,
        local_path: ctx.publisher(&t.local_path, &qos::reliable())?,
        extra_cameras: extra_cameras
            .iter()
            .map(|c| {
                Ok(CameraIo {
                    image: ctx.subscription(&c.image, &sensor)?,
                    compressed: ctx.subscription(&c.compressed_image, &sensor)?,
                    camera_info: ctx.subscription(&c.camera_info, &sensor)?,
                })
            })
            .collect::<Result<_>>()?,
    };
    let mut inputs = [
        InputHealth::new("points", &t.points),
        InputHealth::new("image", &t.image),
        InputHealth::new("compressed_image", &t.compressed_image),
        InputHealth::new("camera_info", &t.camera_info),
        InputHealth::new("gnss", &t.gnss),
        InputHealth::new("imu", &t.imu),
        InputHealth::new("tf_static", &t.tf_static),
        InputHealth::new("goal", &t.goal),
    ];
    let mut camera_inputs: Vec<[InputHealth; 3]> = extra_cameras
        .iter()
        .map(|c| {
            [
                InputHealth::camera("image", &c.name, &c.image),
                InputHealth::camera("compressed_image", &c.name, &c.compressed_image),
                InputHealth::camera("camera_info", &c.name, &c.camera_info),
            ]
        })
        .collect();
    let started = Instant::now();
    let period = Duration::from_secs_f64(params.diagnostics.period_s);
    let mut next_diagnostics = started + period;
    let mut origin: Option<LocalEnu> = None;
    let mut orientation = Quaternion { x: 0.0, y: 0.0, z: 0.0, w: 1.0 };
    let mut summary = NodeSummary::default();
    let mut pending_tf: Vec<TransformStamped> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let [points, image, compressed, camera_info, gnss, imu, tf_static, goal] = &mut inputs;
        let l = link.as_ref();
        for (io, [image, compressed, camera_info]) in io.extra_cameras.iter().zip(&mut camera_inputs) {
            drain(&io.image, image, now, |m, h| forward(l, h, &m));
            drain(&io.compressed, compressed, now, |m, h| forward(l, h, &m));
            drain(&io.camera_info, camera_info, now, |m, h| forward(l, h, &m));
        }
        drain(&io.points, points, now, |m, h| forward(l, h, &m));
        drain(&io.image, image, now, |m, h| forward(l, h, &m));
        drain(&io.compressed, compressed, now, |m, h| forward(l, h, &m));
        drain(&io.camera_info, camera_info, now, |m, h| forward(l, h, &m));
        drain(&io.tf_static, tf_static, now, |m, h| forward(l, h, &m));
        drain(&io.goal, goal, now, |m, h| match l {
            Some(link) if link.goals.try_send(m).is_ok() => summary.goals += 1,
            Some(_) => h.dropped += 1,
            None => summary.goals += 1,
        });
        drain(&io.imu, imu, now, |m, h| {
            forward(l, h, &m);
            let q = m.orientation;
            let norm = (q.x * q.x + q.y * q.y + q.z * q.z + q.w * q.w).sqrt();
            // An all-zero orientation means "unknown" (covariance[0] = -1 by convention).
            if norm.is_finite() && (norm - 1.0).abs() < 1e-3 && m.orientation_covariance[0] >= 0.0 {
                orientation = q;
            }
        });
        let mut rejected = 0;
        drain(&io.gnss, gnss, now, |fix, h| {
            forward(l, h, &fix);
            if l.is_some() {
                // The pipeline publishes `/tf` from the fused pose.
                return;
            }
            let valid = fix.status.status >= NavSatStatus::STATUS_FIX
                && fix.latitude.is_finite()
                && fix.longitude.is_finite()
                && fix.altitude.is_finite();
            if !valid {
                rejected += 1;
                return;
            }
            let origin = match &origin {
                Some(o) => o,
                None => match LocalEnu::new(fix.latitude, fix.longitude, fix.altitude) {
                    Ok(o) => origin.insert(o),
                    Err(_) => {
                        rejected += 1;
                        return;
                    }
                },
            };
            let enu = fusor_core::geodesy::Geodetic::new(fix.latitude, fix.longitude, fix.altitude)
                .and_then(fusor_core::geodesy::ecef_from_geodetic)
                .and_then(|ecef| origin.enu_from_ecef(&ecef));
            match enu {
                Ok(p) => pending_tf.push(TransformStamped {
                    header: Header { stamp: fix.header.stamp, frame_id: params.frames.map.clone() },
                    child_frame_id: params.frames.base_link.clone(),
                    transform: Transform { translation: Vector3 { x: p.x, y: p.y, z: p.z }, rotation: orientation },
                }),
                Err(_) => rejected += 1,
            }
        });
        gnss.rejected += rejected;
        for transform in pending_tf.drain(..) {
            match io.tf.publish(TFMessage { transforms: vec![transform] }) {
                Ok(()) => summary.tf_published += 1,
                Err(e) => tracing::warn!("{e}"),
            }
        }
        let mut pipeline_done = false;
        if let Some(link) = &link {
            loop {
                match link.outputs.try_recv() {
                    Ok(output) => match io.publish(output) {
                        Ok("tf") => summary.tf_published += 1,
                        Ok(key) => *summary.published.entry(key).or_default() += 1,
                        Err(e) => tracing::warn!("{e}"),
                    },
                    Err(crossbeam_channel::TryRecvError::Empty) => break,
                    Err(crossbeam_channel::TryRecvError::Disconnected) => {
                        pipeline_done = true;
                        break;
                    }
                }
            }
        }
        if now >= next_diagnostics {
            next_diagnostics += period;
            let extra = link.as_mut().map(|l| (l.diagnostics)()).unwrap_or_default();
            let all_inputs = inputs.iter_mut().chain(camera_inputs.iter_mut().flatten());
            let msg = diagnostics(all_inputs, params, now, started, extra);
            match io.diagnostics.publish(msg) {
                Ok(()) => summary.diagnostics_published += 1,
                Err(e) => tracing::warn!("{e}"),
            }
        }
        if pipeline_done {
            tracing::warn!("the pipeline stopped; the node stops too");
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    summary.inputs = inputs.into_iter().chain(camera_inputs.into_iter().flatten()).collect();
    Ok(summary)
}

/// One DiagnosticArray: a status per input and one for the node.
fn diagnostics<'a>(
    inputs: impl Iterator<Item = &'a mut InputHealth>,
    params: &NodeParams,
    now: Instant,
    started: Instant,
    pipeline: Vec<DiagnosticStatus>,
) -> DiagnosticArray {
    let d = &params.diagnostics;
    let mut status = Vec::new();
    let mut worst = DiagnosticStatus::OK;
    for input in inputs {
        let rate = input.rate_hz(now);
        let expected = d.expected_rate_hz.get(input.kind).copied();
        let age = input.last.map(|t| now.duration_since(t).as_secs_f64());
        let (level, message) = match (age, expected) {
            (None, Some(_)) if now.duration_since(started).as_secs_f64() > d.stale_after_s => {
                (DiagnosticStatus::STALE, "no message yet".to_owned())
            }
            (None, _) => (DiagnosticStatus::OK, "not received (optional)".to_owned()),
            (Some(a), Some(_)) if a > d.stale_after_s => (DiagnosticStatus::STALE, format!("silent for {a:.1} s")),
            _ if input.decode_errors > 0 && input.received == 0 => {
                (DiagnosticStatus::ERROR, format!("{} samples failed to decode", input.decode_errors))
            }
            (Some(_), Some(hz)) if rate < hz * d.min_rate_fraction => {
                (DiagnosticStatus::WARN, format!("{rate:.1} Hz, expected {hz:.1} Hz"))
            }
            _ if input.decode_errors > 0 || input.rejected > 0 || input.dropped > 0 => (
                DiagnosticStatus::WARN,
                format!(
                    "{} undecodable, {} rejected, {} dropped (pipeline busy)",
                    input.decode_errors, input.rejected, input.dropped
                ),
            ),
            _ => (DiagnosticStatus::OK, format!("{rate:.1} Hz")),
        };
        if level != DiagnosticStatus::OK && level > worst {
            worst = level;
        }
        status.push(DiagnosticStatus {
            level,
            name: format!("fusor: input {}", input.key),
            message,
            hardware_id: input.topic.clone(),
            values: vec![
                kv("topic", &input.topic),
                kv("rate_hz", format!("{rate:.2}")),
                kv("expected_rate_hz", expected.map(|h| format!("{h:.2}")).unwrap_or_else(|| "-".into())),
                kv("received", input.received),
                kv("decode_errors", input.decode_errors),
                kv("rejected", input.rejected),
                kv("dropped", input.dropped),
                kv("age_s", age.map(|a| format!("{a:.3}")).unwrap_or_else(|| "-".into())),
            ],
        });
    }
    let with_pipeline = !pipeline.is_empty();
    let mut pipeline_worst = DiagnosticStatus::OK;
    for p in &pipeline {
        if p.level != DiagnosticStatus::STALE && p.level > pipeline_worst {
            pipeline_worst = p.level;
        }
    }
    status.extend(pipeline);
    let message = match (worst == DiagnosticStatus::OK, pipeline_worst == DiagnosticStatus::OK) {
        (true, true) => "running",
        (false, true) => "degraded inputs",
        (true, false) => "pipeline degraded",
        (false, false) => "degraded inputs, pipeline degraded",
    };
    status.push(DiagnosticStatus {
        level: worst.max(pipeline_worst),
        name: "fusor: node".into(),
        message: message.into(),
        hardware_id: "fusor".into(),
        values: vec![
            kv("uptime_s", format!("{:.1}", now.duration_since(started).as_secs_f64())),
            kv(
                "pipeline",
                if with_pipeline {
                    "sync → align → perceive → track → plan"
                } else {
                    "inputs + /tf from GNSS only"
                },
            ),
        ],
    });
    DiagnosticArray { header: Header { stamp: ros_time_now(), frame_id: String::new() }, status }
}
