//! The payloads around the synchroniser and the aligned output frame.

use crate::deskew::{BodyTwist, DeskewStatus};
use fusor_core::calib::CameraModel;
use fusor_core::geodesy::Geodetic;
use fusor_core::{Box3, Image, ObjectClass, PointCloud, Stamp};
use nalgebra::{Isometry3, Point2, Point3};
use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// A lidar scan as it enters the synchroniser, with what the source knows about its mounting.
#[derive(Debug, Clone, PartialEq)]
pub struct LidarScan {
    /// The scan in its sensor frame (`cloud.frame_id`), with per-point times when recorded.
    pub cloud: Arc<PointCloud>,
    /// Pose of the lidar in `base_link` (from `/tf_static` or the rig), when known.
    pub base_link_from_lidar: Option<Isometry3<f64>>,
    /// Ground truth recorded for this scan's stamp (simulated drives), when present.
    pub ground_truth: Option<Arc<GroundTruth>>,
    /// WGS84 origin of `map` (ENU) in effect when the scan was emitted, once the source knows it
    /// (configured, or the first usable GNSS fix).
    pub map_origin: Option<Geodetic>,
}

/// A camera frame as it enters the synchroniser.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraFrame {
    /// Camera name (its optical frame id, e.g. `camera_front`).
    pub name: String,
    /// The image.
    pub image: Arc<Image>,
    /// Intrinsics (from the latest CameraInfo or the rig), when known.
    pub model: Option<Arc<CameraModel>>,
    /// Pose of the camera optical frame in `base_link`, when known.
    pub base_link_from_camera: Option<Isometry3<f64>>,
}

/// One ground-truth object, as recorded by the simulator.
#[derive(Debug, Clone, PartialEq)]
pub struct GroundTruthObject {
    /// Stable object id (as recorded).
    pub id: String,
    /// Object class.
    pub class: ObjectClass,
    /// The box, metres, in `bbox.frame_id` (`base_link` for simulated drives).
    pub bbox: Box3,
}

/// The ground truth recorded at one stamp (simulated drives).
#[derive(Debug, Clone, PartialEq)]
pub struct GroundTruth {
    /// Time of validity.
    pub stamp: Stamp,
    /// The objects.
    pub objects: Vec<GroundTruthObject>,
    /// The true ego pose in the recording's own `map` (the simulator's ENU at its scenario
    /// origin, which differs from the replay's `map` by a translation when the replay's origin is
    /// the first fix), when recorded.
    pub map_from_base_link: Option<Isometry3<f64>>,
}

/// A camera attached to a fused frame, with everything needed to project points onto it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlignedCamera {
    /// Camera name (optical frame id).
    pub name: String,
    /// The frame's own stamp.
    pub stamp: Stamp,
    /// The image.
    pub image: Arc<Image>,
    /// Intrinsics, when known.
    pub model: Option<Arc<CameraModel>>,
    /// Pose of the camera optical frame in `base_link`, when known.
    pub base_link_from_camera: Option<Isometry3<f64>>,
}

impl AlignedCamera {
    /// Projects a point given in `base_link` (metres) to pixels (u right, v down); `None` when
    /// the model or extrinsic is unknown, or the point is behind the camera or off the image.
    pub fn project(&self, point_in_base_link: &Point3<f64>) -> Option<Point2<f64>> {
        let model = self.model.as_ref()?;
        let camera_from_base_link = self.base_link_from_camera?.inverse();
        let pixel = model.project(&(camera_from_base_link * point_in_base_link))?;
        model.contains(&pixel).then_some(pixel)
    }
}

/// Something a fused frame lacks, and why downstream should trust it less.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "what")]
pub enum Degradation {
    /// No ego pose at the lidar stamp (no GNSS, no fix, or a gap): `map_from_base_link` is absent.
    NoPose,
    /// The named camera had no frame within the synchroniser's window.
    NoCamera(String),
    /// The named camera has no intrinsics (no CameraInfo, no rig entry).
    NoCameraModel(String),
    /// The named camera has no extrinsic (not in `/tf_static` nor the rig).
    NoCameraExtrinsic(String),
    /// The lidar's extrinsic is unknown: the identity was assumed (points are in the lidar frame).
    NoLidarExtrinsic,
}

impl fmt::Display for Degradation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoPose => f.write_str("no pose"),
            Self::NoCamera(c) => write!(f, "no {c} frame"),
            Self::NoCameraModel(c) => write!(f, "no {c} intrinsics"),
            Self::NoCameraExtrinsic(c) => write!(f, "no {c} extrinsic"),
            Self::NoLidarExtrinsic => f.write_str("no lidar extrinsic (identity assumed)"),
        }
    }
}

/// Latencies measured on the way to this frame, for monitoring (not part of its content).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StageLatency {
    /// Graph clock at the align stage's input minus the lidar stamp (synchroniser wait), ms.
    pub until_align_ms: f64,
    /// Processing time of the align stage (wall), ms.
    pub align_ms: f64,
}

/// One lidar scan aligned in space and time: the input of perception.
#[derive(Debug, Clone, PartialEq)]
pub struct FusedFrame {
    /// Time of validity: the lidar stamp (ns since the epoch).
    pub stamp: Stamp,
    /// Running frame number from the synchroniser.
    pub seq: u64,
    /// The scan in `base_link` at `stamp` (deskewed when possible; see `deskew`).
    pub cloud_in_base_link: Arc<PointCloud>,
    /// Ego pose at `stamp`: `point_in_map = map_from_base_link * point_in_base_link`, metres,
    /// `map` = ENU at the drive's origin. `None` when degraded by [`Degradation::NoPose`].
    pub map_from_base_link: Option<Isometry3<f64>>,
    /// WGS84 origin of `map`, when known: places the frame on the globe (map views, lat/lon
    /// goals, Lanelet2 maps in lat/lon).
    pub map_origin: Option<Geodetic>,
    /// The cameras that had a frame within the window, in the configured order.
    pub cameras: Vec<AlignedCamera>,
    /// Ground truth recorded at this stamp, when the drive has it.
    pub ground_truth: Option<Arc<GroundTruth>>,
    /// What deskewing did.
    pub deskew: DeskewStatus,
    /// The ego's twist at `stamp` (the pose source's velocity, or the motion since the previous
    /// frame), when known: what deskewing uses when it is on. Not hashed (it follows from the
    /// poses).
    pub ego_twist: Option<BodyTwist>,
    /// What the frame lacks; empty for a complete frame.
    pub degraded: Vec<Degradation>,
    /// Latencies on the way here (monitoring only; not hashed).
    pub latency: StageLatency,
}

/// 64-bit FNV-1a over words: stable across runs and platforms (unlike `DefaultHasher`'s keys
/// across Rust releases), enough to tell two replays apart.
#[derive(Debug, Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    fn word(&mut self, w: u64) {
        self.0 ^= w;
        self.0 = self.0.wrapping_mul(Self::PRIME);
    }
    fn f32s(&mut self, v: &[f32]) {
        self.word(v.len() as u64);
        for x in v {
            self.word(u64::from(x.to_bits()));
        }
    }
    fn f64s(&mut self, v: &[f64]) {
        self.word(v.len() as u64);
        for x in v {
            self.word(x.to_bits());
        }
    }
    fn bytes(&mut self, v: &[u8]) {
        self.word(v.len() as u64);
        let mut chunks = v.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.word(u64::from_le_bytes(w));
        }
        for b in chunks.remainder() {
            self.word(u64::from(*b));
        }
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
}

impl FusedFrame {
    /// Whether the frame lacks something (see [`FusedFrame::degraded`]).
    pub fn is_degraded(&self) -> bool {
        !self.degraded.is_empty()
    }

    /// A hash of the frame's content (stamp, points, pose, camera images and models, ground
    /// truth, flags), excluding the latencies: two deterministic replays give equal hashes.
    pub fn content_hash(&self) -> u64 {
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        h.word(self.stamp.nanos() as u64);
        h.word(self.seq);
        let c = &*self.cloud_in_base_link;
        h.str(c.frame_id.as_str());
        h.f32s(&c.x);
        h.f32s(&c.y);
        h.f32s(&c.z);
        h.f32s(&c.intensity);
        match &self.map_from_base_link {
            Some(pose) => h.f64s(pose.to_homogeneous().as_slice()),
            None => h.word(0),
        }
        if let Some(o) = &self.map_origin {
            h.f64s(&[o.lat_deg, o.lon_deg, o.alt_m]);
        }
        for cam in &self.cameras {
            h.str(&cam.name);
            h.word(cam.stamp.nanos() as u64);
            h.word(u64::from(cam.image.width) << 32 | u64::from(cam.image.height));
            h.bytes(&cam.image.data);
            if let Some(m) = &cam.model {
                h.f64s(m.k.as_slice());
            }
            if let Some(t) = &cam.base_link_from_camera {
                h.f64s(t.to_homogeneous().as_slice());
            }
        }
        if let Some(gt) = &self.ground_truth {
            for o in &gt.objects {
                h.str(&o.id);
                h.f64s(&[o.bbox.center.x, o.bbox.center.y, o.bbox.center.z, o.bbox.yaw_rad]);
                h.f64s(o.bbox.size.as_slice());
            }
            if let Some(pose) = &gt.map_from_base_link {
                h.f64s(pose.to_homogeneous().as_slice());
            }
        }
        h.str(&format!("{:?}", self.deskew));
        for d in &self.degraded {
            h.str(&d.to_string());
        }
        h.0
    }
}
