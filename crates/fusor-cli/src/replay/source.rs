//! The MCAP replay source: a recorded drive into the synchroniser's inputs.
//!
//! Messages are dispatched by their ROS 2 type: `PointCloud2` → lidar scan, `Image` /
//! `CompressedImage` → camera frame, `CameraInfo` → camera model, `NavSatFix` (+ `Imu`) → ego
//! pose in `map` ([`EgoPoseEstimator`]), `/tf_static` → extrinsics, `Detection3DArray` on
//! `/ground_truth/objects` → ground truth attached to the scan of the same stamp. Other topics
//! are counted as unknown; messages that do not decode are counted as malformed and dropped;
//! damage in the file ends the stream after the intact prefix and is reported. Nothing panics on
//! file content.
//!
//! A message is held until the recording's log time moves past it, so that the camera model or
//! ground truth logged at the same instant (after the image or scan) is attached to it.

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError};
use fusor_align::{
    CameraFrame, EgoPoseConfig, EgoPoseEstimator, EgoPoseStats, GroundTruth, GroundTruthObject, LidarScan,
};
use fusor_core::calib::{CameraModel, Distortion, Rig};
use fusor_core::transform::isometry_from_xyz_quat;
use fusor_core::{FrameId, Stamp};
use fusor_msgs::convert;
use fusor_msgs::{geometry_msgs, sensor_msgs, tf2_msgs, vision_msgs};
use fusor_record::{McapReader, Messages, RawMessage};
use fusor_runtime::sync::SyncInput;
use fusor_runtime::{Msg, Source};
use nalgebra::{Isometry3, Matrix3};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

/// How long a scan or camera frame is held after its log time for data of the same instant
/// logged after it (camera model, ground truth, a late `/tf_static`), in log time.
const HOLD: fusor_core::Duration = fusor_core::Duration::from_millis(20);
/// Largest |ground-truth stamp − scan stamp| for the ground truth to be attached (jitter).
const GROUND_TRUTH_TOLERANCE: fusor_core::Duration = fusor_core::Duration::from_millis(20);
/// How long a live source waits for a message before releasing held ones by the wall clock.
const LIVE_RELEASE_PERIOD: std::time::Duration = std::time::Duration::from_millis(25);
/// Ground-truth entries kept while waiting for their scan.
const MAX_PENDING_GROUND_TRUTH: usize = 8;

/// What the synchroniser receives.
pub type Input = SyncInput<LidarScan, CameraFrame>;

/// Counters of a replay source, shared with the CLI for the final report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceStats {
    /// Messages read from the file.
    pub messages: u64,
    /// Lidar scans emitted.
    pub lidar_scans: u64,
    /// Camera frames emitted.
    pub camera_frames: u64,
    /// Camera frames whose camera is not configured (not emitted).
    pub unmatched_camera_frames: u64,
    /// Ego poses emitted.
    pub poses: u64,
    /// Ground-truth object arrays attached to a scan.
    pub ground_truth_attached: u64,
    /// Ground-truth entries (objects and/or ego pose) with no scan within the tolerance.
    pub ground_truth_unattached: u64,
    /// Ground-truth ego poses attached to a scan.
    pub ground_truth_ego_attached: u64,
    /// Messages of topics the pipeline does not use, per topic.
    pub unknown_topics: BTreeMap<String, u64>,
    /// Messages that failed to decode or convert (dropped), per topic.
    pub malformed: BTreeMap<String, u64>,
    /// Known topics deliberately not fused (e.g. the ground-truth ego pose), per topic.
    pub ignored: BTreeMap<String, u64>,
    /// The frame used as `base_link` when `/tf_static` has none (its root), if any.
    pub body_frame: Option<String>,
    /// Damage that ended the stream early, if any.
    pub damage: Option<String>,
    /// The pose estimator's counters.
    pub pose: EgoPoseStats,
}

/// Shared handle on a source's counters.
pub type SharedStats = Arc<Mutex<SourceStats>>;

/// Everything needed to (re)open a replay source.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// The drive.
    pub path: PathBuf,
    /// Camera names in the synchroniser's stream order (matched to image `frame_id`s).
    pub cameras: Vec<String>,
    /// Extrinsics and intrinsics used when the drive lacks them (`/tf_static`, CameraInfo).
    pub rig: Option<Rig>,
    /// Ego pose parameters (map origin etc.).
    pub pose: EgoPoseConfig,
    /// Ground-truth objects topic.
    pub ground_truth_topic: String,
}

/// Called with the number of messages read so far (e.g. a progress bar).
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

enum Held {
    Lidar(Stamp, LidarScan),
    Camera(Stamp, usize, CameraFrame),
}

/// The MCAP replay source; see the module docs.
pub struct McapSource {
    config: SourceConfig,
    /// Raw messages from the reader thread (decompression and CRC checks overlap decoding), or
    /// from a live transport (`fusor node`).
    messages: Option<Receiver<fusor_record::Result<RawMessage>>>,
    /// Live input: held messages are also released by the wall clock when no message comes.
    live: bool,
    estimator: Option<EgoPoseEstimator>,
    /// child frame → (parent frame, parent_from_child), from `/tf_static`.
    tf: HashMap<String, (String, Isometry3<f64>)>,
    camera_models: HashMap<String, Arc<CameraModel>>,
    lever_arms_set: bool,
    held: Vec<(Stamp, Held)>,
    /// Ground truth waiting for its scan.
    pending_gt: Vec<GroundTruth>,
    out: VecDeque<Msg<Input>>,
    seq: u64,
    stats: SharedStats,
    local: SourceStats,
    progress: Option<Progress>,
    warned: std::collections::HashSet<String>,
    /// With one camera configured, the frame id that stands in for it when the drive names its
    /// camera otherwise (the first camera frame seen); none once the configured name is seen.
    stand_in: Option<String>,
    /// Whether a camera frame with a configured name has been seen.
    named_camera_seen: bool,
}

impl std::fmt::Debug for McapSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McapSource").field("path", &self.config.path).field("seq", &self.seq).finish()
    }
}

impl McapSource {
    /// Opens the drive. Fails when the file cannot be opened as an MCAP at all.
    pub fn open(config: SourceConfig, stats: SharedStats, progress: Option<Progress>) -> anyhow::Result<Self> {
        let reader = McapReader::open(&config.path)?;
        let messages = spawn_reader(reader.messages()?)?;
        let estimator = EgoPoseEstimator::new(config.pose.clone())?;
        Ok(Self {
            config,
            messages: Some(messages),
            live: false,
            estimator: Some(estimator),
            tf: HashMap::new(),
            camera_models: HashMap::new(),
            lever_arms_set: false,
            held: Vec::new(),
            pending_gt: Vec::new(),
            out: VecDeque::new(),
            seq: 0,
            stats,
            local: SourceStats::default(),
            progress,
            warned: Default::default(),
            stand_in: None,
            named_camera_seen: false,
        })
    }

    /// A live source: raw messages (log time = receive time) from a transport such as the ROS 2
    /// node's subscriptions. The stream ends when every sender is dropped. `config.path` is only
    /// a label.
    pub fn live(
        config: SourceConfig,
        messages: Receiver<fusor_record::Result<RawMessage>>,
        stats: SharedStats,
    ) -> anyhow::Result<Self> {
        let estimator = EgoPoseEstimator::new(config.pose.clone())?;
        let mut source = Self::failed(config, stats, String::new());
        source.local.damage = None;
        source.messages = Some(messages);
        source.estimator = Some(estimator);
        source.live = true;
        source.publish_stats();
        Ok(source)
    }

    /// A source that emits nothing and records why (used when a restart cannot reopen the file).
    pub fn failed(config: SourceConfig, stats: SharedStats, why: String) -> Self {
        let mut source = Self {
            config,
            messages: None,
            live: false,
            estimator: None,
            tf: HashMap::new(),
            camera_models: HashMap::new(),
            lever_arms_set: false,
            held: Vec::new(),
            pending_gt: Vec::new(),
            out: VecDeque::new(),
            seq: 0,
            stats,
            local: SourceStats::default(),
            progress: None,
            warned: Default::default(),
            stand_in: None,
            named_camera_seen: false,
        };
        source.local.damage = Some(why);
        source.publish_stats();
        source
    }

    /// `base_link_from_<frame>` through the `/tf_static` tree, else the rig.
    ///
    /// A tree without a `base_link` frame (e.g. kitti2bag's `imu_link → velo_link → camera`)
    /// has its root taken as the body frame; [`SourceStats::body_frame`] says which.
    fn base_link_from(&mut self, frame: &str) -> Option<Isometry3<f64>> {
        if frame == FrameId::BASE_LINK {
            return Some(Isometry3::identity());
        }
        let mut root_from_frame = Isometry3::identity();
        let mut current = frame.to_owned();
        for _ in 0..32 {
            let Some((parent, parent_from_child)) = self.tf.get(&current) else { break };
            root_from_frame = parent_from_child * root_from_frame;
            if parent == FrameId::BASE_LINK {
                return Some(root_from_frame);
            }
            current = parent.clone();
        }
        let has_base_link = self.tf.values().any(|(parent, _)| parent == FrameId::BASE_LINK);
        let in_tree = current != frame || self.tf.values().any(|(parent, _)| *parent == current);
        if !has_base_link && in_tree && self.config.rig.is_none() {
            if self.local.body_frame.as_deref() != Some(current.as_str()) {
                tracing::warn!(frame = %current, "/tf_static has no base_link: using its root `{current}` as the body frame");
                self.local.body_frame = Some(current);
            }
            return Some(root_from_frame);
        }
        self.config.rig.as_ref().and_then(|rig| rig.base_link_from(frame).ok())
    }

    fn camera_model(&self, frame: &str) -> Option<Arc<CameraModel>> {
        self.camera_models
            .get(frame)
            .cloned()
            .or_else(|| self.config.rig.as_ref().and_then(|rig| rig.camera(frame).cloned().map(Arc::new)))
    }

    /// The synchroniser stream of camera frame `frame_id`: its configured camera, or with a single
    /// camera configured and a drive that names its camera otherwise, the first camera frame id
    /// seen stands in for it. A drive with several cameras (a surround rig) thus feeds the one
    /// configured camera from one of them, never from all.
    fn camera_index(&mut self, frame_id: &str) -> Option<usize> {
        if let Some(k) = self.config.cameras.iter().position(|c| c == frame_id) {
            self.named_camera_seen = true;
            return Some(k);
        }
        if self.config.cameras.len() != 1 || self.named_camera_seen {
            return None;
        }
        let stand_in = self.stand_in.get_or_insert_with(|| frame_id.to_owned());
        (stand_in == frame_id).then_some(0)
    }

    fn malformed(&mut self, topic: &str, why: impl std::fmt::Display) {
        *self.local.malformed.entry(topic.to_owned()).or_default() += 1;
        if self.warned.insert(format!("malformed {topic}")) {
            tracing::warn!(topic, "malformed message dropped: {why} (further ones on this topic counted silently)");
        }
    }

    fn emit(&mut self, stamp: Stamp, payload: Input) {
        self.out.push_back(Msg::new(stamp, self.seq, payload));
        self.seq += 1;
    }

    /// Emits held messages logged more than [`HOLD`] before `log_time` (all of them when
    /// `None`), filling in what arrived meanwhile: extrinsics (`/tf_static` logged after a
    /// jittered first scan), camera models, ground truth.
    fn release(&mut self, log_time: Option<Stamp>) {
        let (ready, keep): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.held).into_iter().partition(|(t, _)| log_time.is_none_or(|now| *t + HOLD < now));
        self.held = keep;
        for (_, held) in ready {
            match held {
                Held::Lidar(stamp, mut scan) => {
                    if scan.base_link_from_lidar.is_none() {
                        scan.base_link_from_lidar = self.base_link_from(scan.cloud.frame_id.as_str());
                    }
                    scan.ground_truth = self.take_ground_truth(stamp).map(Arc::new);
                    self.local.lidar_scans += 1;
                    self.emit(stamp, SyncInput::Lidar(scan));
                }
                Held::Camera(stamp, index, mut frame) => {
                    if frame.model.is_none() {
                        frame.model = self.camera_model(&frame.name);
                    }
                    if frame.base_link_from_camera.is_none() {
                        frame.base_link_from_camera = self.base_link_from(&frame.name);
                    }
                    self.local.camera_frames += 1;
                    self.emit(stamp, SyncInput::Camera(index, frame));
                }
            }
        }
        if log_time.is_none() {
            self.local.ground_truth_unattached += std::mem::take(&mut self.pending_gt).len() as u64;
        }
    }

    fn set_lever_arms(&mut self, gnss_frame: &str) {
        if let (Some(t), Some(estimator)) = (self.base_link_from(gnss_frame), self.estimator.as_mut()) {
            estimator.set_base_link_from_gnss(t);
            self.lever_arms_set = true;
        }
    }

    fn handle(&mut self, raw: RawMessage) {
        self.release(Some(raw.log_time));
        let topic = raw.topic.as_str();
        match raw.schema_name.as_str() {
            s if s == <sensor_msgs::PointCloud2 as fusor_msgs::RosMessage>::TYPE_NAME => {
                // CDR (every ROS 2 recording): converted straight from the bytes, without copying
                // the point data into a PointCloud2 first; anything else goes through `decode`,
                // which names the unsupported encoding.
                let cloud = if raw.message_encoding == "cdr" {
                    convert::pointcloud_from_cdr(&raw.data).map_err(anyhow::Error::from)
                } else {
                    raw.decode::<sensor_msgs::PointCloud2>()
                        .map_err(anyhow::Error::from)
                        .and_then(|m| Ok(convert::pointcloud_from_msg(&m)?))
                };
                match cloud {
                    Ok(cloud) => {
                        let base_link_from_lidar = self.base_link_from(cloud.frame_id.as_str());
                        let stamp = cloud.stamp;
                        let map_origin = self.estimator.as_ref().and_then(EgoPoseEstimator::origin);
                        let scan =
                            LidarScan { cloud: Arc::new(cloud), base_link_from_lidar, ground_truth: None, map_origin };
                        self.held.push((raw.log_time, Held::Lidar(stamp, scan)));
                    }
                    Err(e) => self.malformed(topic, e),
                }
            }
            s if s == <sensor_msgs::Image as fusor_msgs::RosMessage>::TYPE_NAME
                || s == <sensor_msgs::CompressedImage as fusor_msgs::RosMessage>::TYPE_NAME =>
            {
                let image = if raw.is::<sensor_msgs::Image>() {
                    raw.decode::<sensor_msgs::Image>()
                        .map_err(anyhow::Error::from)
                        .and_then(|m| Ok(convert::image_from_msg(&m)?))
                } else {
                    raw.decode::<sensor_msgs::CompressedImage>()
                        .map_err(anyhow::Error::from)
                        .and_then(|m| Ok(convert::image_from_compressed(&m)?))
                };
                match image {
                    Ok(image) => {
                        let name = image.frame_id.as_str().to_owned();
                        let Some(index) = self.camera_index(&name) else {
                            self.local.unmatched_camera_frames += 1;
                            return;
                        };
                        let stamp = image.stamp;
                        let frame = CameraFrame {
                            model: self.camera_model(&name),
                            base_link_from_camera: self.base_link_from(&name),
                            name,
                            image: Arc::new(image),
                        };
                        self.held.push((raw.log_time, Held::Camera(stamp, index, frame)));
                    }
                    Err(e) => self.malformed(topic, e),
                }
            }
            s if s == <sensor_msgs::CameraInfo as fusor_msgs::RosMessage>::TYPE_NAME => {
                match raw
                    .decode::<sensor_msgs::CameraInfo>()
                    .map_err(anyhow::Error::from)
                    .and_then(|m| camera_model_from_info(&m).map(|c| (m.header.frame_id, c)))
                {
                    Ok((frame, model)) => {
                        let model = Arc::new(model);
                        // Attach to frames of this camera still held (same instant).
                        for (_, held) in &mut self.held {
                            if let Held::Camera(_, _, f) = held {
                                if f.name == frame {
                                    f.model = Some(Arc::clone(&model));
                                }
                            }
                        }
                        self.camera_models.insert(frame, model);
                    }
                    Err(e) => self.malformed(topic, e),
                }
            }
            s if s == <sensor_msgs::NavSatFix as fusor_msgs::RosMessage>::TYPE_NAME => {
                match raw
                    .decode::<sensor_msgs::NavSatFix>()
                    .map_err(anyhow::Error::from)
                    .and_then(|m| Ok(convert::fix_from_navsatfix(&m)?))
                {
                    Ok(fix) => {
                        if !self.lever_arms_set {
                            self.set_lever_arms(fix.frame_id.as_str());
                        }
                        let poses = self.estimator.as_mut().map(|e| e.push_fix(&fix)).unwrap_or_default();
                        for pose in poses {
                            self.local.poses += 1;
                            self.emit(pose.stamp, SyncInput::Pose(pose));
                        }
                    }
                    Err(e) => self.malformed(topic, e),
                }
            }
            s if s == <sensor_msgs::Imu as fusor_msgs::RosMessage>::TYPE_NAME => {
                match raw
                    .decode::<sensor_msgs::Imu>()
                    .map_err(anyhow::Error::from)
                    .and_then(|m| Ok(convert::imu_from_msg(&m)?))
                {
                    Ok(imu) => {
                        let base_link_from_imu = self.base_link_from(imu.frame_id.as_str());
                        if let Some(estimator) = self.estimator.as_mut() {
                            if let Some(t) = base_link_from_imu {
                                estimator.set_base_link_from_imu(t.rotation);
                            }
                            estimator.push_imu(&imu);
                        }
                    }
                    Err(e) => self.malformed(topic, e),
                }
            }
            s if s == <tf2_msgs::TFMessage as fusor_msgs::RosMessage>::TYPE_NAME && topic == "/tf_static" => {
                match raw.decode::<tf2_msgs::TFMessage>() {
                    Ok(msg) => {
                        for t in &msg.transforms {
                            match convert::transform_from_stamped(t) {
                                Ok((transform, _)) => {
                                    self.tf.insert(
                                        transform.source.as_str().to_owned(),
                                        (transform.target.as_str().to_owned(), transform.target_from_source),
                                    );
                                }
                                Err(e) => self.malformed(topic, e),
                            }
                        }
                    }
                    Err(e) => self.malformed(topic, e),
                }
            }
            s if s == <vision_msgs::Detection3DArray as fusor_msgs::RosMessage>::TYPE_NAME
                && topic == self.config.ground_truth_topic =>
            {
                match raw
                    .decode::<vision_msgs::Detection3DArray>()
                    .map_err(anyhow::Error::from)
                    .and_then(|m| ground_truth_from(&m))
                {
                    Ok(gt) => self.add_ground_truth(gt),
                    Err(e) => self.malformed(topic, e),
                }
            }
            s if s == <geometry_msgs::PoseStamped as fusor_msgs::RosMessage>::TYPE_NAME
                && topic.starts_with("/ground_truth/ego") =>
            {
                match raw.decode::<geometry_msgs::PoseStamped>().map_err(anyhow::Error::from).and_then(|m| {
                    let stamp = convert::stamp_from_time(m.header.stamp)?;
                    let (p, q) = (m.pose.position, m.pose.orientation);
                    Ok((stamp, isometry_from_xyz_quat([p.x, p.y, p.z], [q.x, q.y, q.z, q.w])?))
                }) {
                    Ok((stamp, pose)) => self.add_ground_truth(GroundTruth {
                        stamp,
                        objects: Vec::new(),
                        map_from_base_link: Some(pose),
                    }),
                    Err(e) => self.malformed(topic, e),
                }
            }
            _ => *self.local.unknown_topics.entry(topic.to_owned()).or_default() += 1,
        }
    }

    /// Keeps (part of) the ground truth of one instant until its scan is released.
    fn add_ground_truth(&mut self, part: GroundTruth) {
        let same = |p: &GroundTruth| (p.stamp - part.stamp).abs() <= fusor_core::Duration::from_millis(1);
        match self.pending_gt.iter_mut().find(|p| same(p)) {
            Some(p) => {
                if !part.objects.is_empty() {
                    p.objects = part.objects;
                }
                if part.map_from_base_link.is_some() {
                    p.map_from_base_link = part.map_from_base_link;
                }
            }
            None => self.pending_gt.push(part),
        }
        while self.pending_gt.len() > MAX_PENDING_GROUND_TRUTH {
            self.pending_gt.remove(0);
            self.local.ground_truth_unattached += 1;
        }
    }

    /// The pending ground truth nearest `stamp` within [`GROUND_TRUTH_TOLERANCE`], removed.
    fn take_ground_truth(&mut self, stamp: Stamp) -> Option<GroundTruth> {
        let (index, _) = self
            .pending_gt
            .iter()
            .enumerate()
            .map(|(i, g)| (i, (g.stamp - stamp).abs()))
            .filter(|(_, d)| *d <= GROUND_TRUTH_TOLERANCE)
            .min_by_key(|(_, d)| *d)?;
        let gt = self.pending_gt.remove(index);
        // Older entries can no longer match a later scan.
        let before = self.pending_gt.len();
        self.pending_gt.retain(|g| g.stamp > stamp);
        self.local.ground_truth_unattached += (before - self.pending_gt.len()) as u64;
        self.local.ground_truth_attached += u64::from(!gt.objects.is_empty());
        self.local.ground_truth_ego_attached += u64::from(gt.map_from_base_link.is_some());
        Some(gt)
    }

    fn publish_stats(&mut self) {
        if let Some(estimator) = &self.estimator {
            self.local.pose = estimator.stats().clone();
        }
        let mut shared = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        *shared = self.local.clone();
    }
}

/// Raw messages read ahead on their own thread, in order. The thread ends at the end of the
/// file, after a damage error, or when the source is dropped (the channel closes).
fn spawn_reader(messages: Messages) -> anyhow::Result<Receiver<fusor_record::Result<RawMessage>>> {
    // A few messages ahead: a scan is ~4 MB, so this bounds the read-ahead to ~32 MB.
    let (tx, rx) = bounded(8);
    std::thread::Builder::new().name("mcap-read".into()).spawn(move || {
        for message in messages {
            if tx.send(message).is_err() {
                break;
            }
        }
    })?;
    Ok(rx)
}

/// A camera model from a `CameraInfo` (K and plumb_bob distortion; other models as undistorted,
/// with a warning by the caller's counters).
pub fn camera_model_from_info(info: &sensor_msgs::CameraInfo) -> anyhow::Result<CameraModel> {
    anyhow::ensure!(info.width > 0 && info.height > 0, "CameraInfo has a zero image size");
    anyhow::ensure!(info.k.iter().all(|v| v.is_finite()), "CameraInfo K has a non-finite entry");
    let k = Matrix3::from_row_slice(&info.k);
    anyhow::ensure!(k[(0, 0)] > 0.0 && k[(1, 1)] > 0.0, "CameraInfo K has no positive focal lengths");
    let distortion = match (info.distortion_model.as_str(), info.d.as_slice()) {
        (_, d) if d.iter().all(|v| *v == 0.0) => Distortion::None,
        ("plumb_bob", [k1, k2, p1, p2, k3, ..]) | ("rational_polynomial", [k1, k2, p1, p2, k3, ..]) => {
            Distortion::PlumbBob { k1: *k1, k2: *k2, p1: *p1, p2: *p2, k3: *k3 }
        }
        (model, d) => anyhow::bail!("unsupported distortion `{model}` with {} coefficients", d.len()),
    };
    Ok(CameraModel { width: info.width, height: info.height, k, distortion })
}

fn ground_truth_from(msg: &vision_msgs::Detection3DArray) -> anyhow::Result<GroundTruth> {
    let stamp = convert::stamp_from_time(msg.header.stamp)?;
    let mut objects = Vec::with_capacity(msg.detections.len());
    for d in &msg.detections {
        let detection = convert::detection_from_detection3d(d)?;
        objects.push(GroundTruthObject { id: d.id.clone(), class: detection.class, bbox: detection.bbox });
    }
    Ok(GroundTruth { stamp, objects, map_from_base_link: None })
}

impl Source for McapSource {
    type Out = Input;

    fn next(&mut self) -> Option<Msg<Input>> {
        loop {
            if let Some(msg) = self.out.pop_front() {
                return Some(msg);
            }
            let messages = self.messages.as_ref()?;
            let next = if self.live {
                match messages.recv_timeout(LIVE_RELEASE_PERIOD) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => {
                        // Nothing came: release what is held by the wall clock instead.
                        self.release(Some(fusor_runtime::Clock::now(&fusor_runtime::WallClock)));
                        self.publish_stats();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => None,
                }
            } else {
                messages.recv().ok()
            };
            match next {
                Some(Ok(raw)) => {
                    self.local.messages += 1;
                    if let Some(progress) = &self.progress {
                        progress(self.local.messages);
                    }
                    self.handle(raw);
                }
                Some(Err(e)) => {
                    tracing::warn!("replay stops at the damage: {e}");
                    self.local.damage = Some(e.to_string());
                }
                None => {
                    self.messages = None;
                    self.release(None);
                    self.publish_stats();
                }
            }
            if self.local.messages.is_multiple_of(64) {
                self.publish_stats();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fusor_core::{FixStatus, GnssFix, PointCloud, Transform};
    use fusor_msgs::RosMessage;
    use fusor_record::McapWriter;

    fn at_ms(ms: i64) -> Stamp {
        Stamp(1_700_000_000_000_000_000 + ms * 1_000_000)
    }

    fn config(path: PathBuf) -> SourceConfig {
        SourceConfig {
            path,
            cameras: vec!["camera_front".into()],
            rig: None,
            pose: EgoPoseConfig::default(),
            ground_truth_topic: "/ground_truth/objects".into(),
        }
    }

    fn drain(source: &mut McapSource) -> Vec<Msg<Input>> {
        std::iter::from_fn(|| source.next()).collect()
    }

    #[test]
    fn one_configured_camera_takes_its_own_frames_or_else_one_stand_in_never_every_camera() {
        let stats = SharedStats::default();
        // A surround drive read with the front camera alone: the side cameras are unmatched.
        let mut src = McapSource::failed(config(PathBuf::from("x")), stats.clone(), String::new());
        assert_eq!(src.camera_index("camera_front"), Some(0));
        assert_eq!(src.camera_index("camera_front_left"), None);
        assert_eq!(src.camera_index("camera_front"), Some(0));
        // A drive that names its one camera otherwise: it stands in, and only it.
        let mut src = McapSource::failed(config(PathBuf::from("x")), stats.clone(), String::new());
        assert_eq!(src.camera_index("camera_color_left"), Some(0));
        assert_eq!(src.camera_index("camera_color_right"), None);
        assert_eq!(src.camera_index("camera_color_left"), Some(0));
        // Several cameras configured: names must match.
        let cfg = SourceConfig {
            cameras: vec!["camera_front".into(), "camera_front_left".into()],
            ..config(PathBuf::from("x"))
        };
        let mut src = McapSource::failed(cfg, stats, String::new());
        assert_eq!(src.camera_index("camera_front_left"), Some(1));
        assert_eq!(src.camera_index("camera_color_left"), None);
    }

    #[test]
    fn lidar_extrinsic_comes_from_tf_static_and_matches_the_rig_and_bad_input_is_counted() {
        let rig = Rig::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../calibration/sim-rig.toml")).unwrap();
        let base_link_from_lidar = rig.base_link_from("lidar").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("drive.mcap");
        let mut w = McapWriter::create(&path).unwrap();
        let tf = Transform::new("base_link", "lidar", base_link_from_lidar);
        let tf_msg = tf2_msgs::TFMessage { transforms: vec![convert::transform_stamped(&tf, at_ms(0)).unwrap()] };
        w.write("/tf_static", &tf_msg, at_ms(0)).unwrap();
        let mut cloud = PointCloud::with_capacity(at_ms(10), "lidar", 1);
        cloud.push(10.0, 0.0, 0.0, 1.0);
        w.write("/sensing/lidar/points", &convert::pointcloud_to_msg(&cloud).unwrap(), at_ms(10)).unwrap();
        // Garbage bytes declared as a PointCloud2, an unknown topic, a NO_FIX fix.
        let pc2 = sensor_msgs::PointCloud2::TYPE_NAME;
        let pc2_text = sensor_msgs::PointCloud2::definition();
        w.write_raw("/sensing/lidar/points", pc2, &pc2_text, at_ms(20), at_ms(20), &[0, 1, 0, 0, 7, 7, 7]).unwrap();
        w.write_raw("/radar/tracks", "acme_msgs/msg/Tracks", "uint8 x", at_ms(21), at_ms(21), &[0, 1, 0, 0, 1])
            .unwrap();
        let fix = GnssFix {
            stamp: at_ms(22),
            frame_id: FrameId::new("gnss"),
            latitude_deg: f64::NAN,
            longitude_deg: 0.0,
            altitude_m: 0.0,
            covariance_enu_m2: None,
            status: FixStatus::NoFix,
        };
        w.write("/sensing/gnss/fix", &convert::navsatfix_from_fix(&fix).unwrap(), at_ms(22)).unwrap();
        w.finish().unwrap();

        let stats = SharedStats::default();
        let mut source = McapSource::open(config(path), Arc::clone(&stats), None).unwrap();
        let out = drain(&mut source);
        assert_eq!(out.len(), 1, "one good scan");
        let SyncInput::Lidar(scan) = &out[0].payload else { panic!("expected a scan") };
        assert_eq!(out[0].stamp, at_ms(10));
        let got = scan.base_link_from_lidar.unwrap();
        assert!((got.to_homogeneous() - base_link_from_lidar.to_homogeneous()).abs().max() < 1e-12);
        let s = stats.lock().unwrap().clone();
        assert_eq!(s.malformed.get("/sensing/lidar/points"), Some(&1));
        assert_eq!(s.unknown_topics.get("/radar/tracks"), Some(&1));
        assert_eq!(s.pose.unusable_fixes, 1);
        assert_eq!(s.messages, 5);
    }

    #[test]
    fn camera_model_comes_from_camera_info_with_k_and_plumb_bob() {
        let info = sensor_msgs::CameraInfo {
            width: 640,
            height: 480,
            distortion_model: "plumb_bob".into(),
            d: vec![-0.1, 0.01, 0.0, 0.0, 0.0],
            k: [500.0, 0.0, 320.0, 0.0, 510.0, 240.0, 0.0, 0.0, 1.0],
            ..Default::default()
        };
        let model = camera_model_from_info(&info).unwrap();
        assert_eq!((model.fx(), model.fy(), model.cx(), model.cy()), (500.0, 510.0, 320.0, 240.0));
        assert!(matches!(model.distortion, Distortion::PlumbBob { k1, .. } if k1 == -0.1));
        let zero = sensor_msgs::CameraInfo { k: [0.0; 9], ..info };
        assert!(camera_model_from_info(&zero).is_err());
    }
}
