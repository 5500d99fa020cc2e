//! What the evaluator compares against: ground-truth boxes, ignore regions, one frame's inputs.

use fusor_core::{Box3, Detection, ObjectClass, Track};
use nalgebra::{Matrix3x4, Point3};
use serde::{Deserialize, Serialize};

/// KITTI difficulty level, ordered from easiest to hardest. Levels are cumulative: evaluating at
/// `Moderate` scores Easy and Moderate objects and ignores Hard ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Difficulty {
    /// 2D box ≥ 40 px tall, fully visible, truncated ≤ 15 %.
    Easy,
    /// 2D box ≥ 25 px tall, at most partly occluded, truncated ≤ 30 %.
    Moderate,
    /// 2D box ≥ 25 px tall, at most largely occluded, truncated ≤ 50 %.
    Hard,
}

impl Difficulty {
    /// All levels, easiest first.
    pub const ALL: [Difficulty; 3] = [Self::Easy, Self::Moderate, Self::Hard];

    /// Lower-case name, as used in reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Easy => "easy",
            Self::Moderate => "moderate",
            Self::Hard => "hard",
        }
    }
}

/// One ground-truth object of one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroundTruthBox {
    /// The box, in the same frame as the outputs it is compared with (e.g. `base_link` or `map`).
    pub bbox: Box3,
    /// The class a detection must have to match it.
    pub class: ObjectClass,
    /// KITTI difficulty; `None` when the labels do not allow one (simulated or nuScenes ground
    /// truth), in which case the object counts at every level.
    pub difficulty: Option<Difficulty>,
    /// Identity across frames, needed for tracking metrics.
    pub track_id: Option<u64>,
    /// An object that must be neither found nor missed (KITTI's neighbouring classes `Van` and
    /// `Person_sitting`, objects harder than `Hard`): a missed ignored object is no false
    /// negative, and an output matched to it is no false positive.
    pub ignore: bool,
}

impl GroundTruthBox {
    /// A scored object of unknown difficulty and no track id.
    pub fn new(bbox: Box3, class: ObjectClass) -> Self {
        Self { bbox, class, difficulty: None, track_id: None, ignore: false }
    }

    /// The same object with a track id.
    pub fn with_track_id(mut self, id: u64) -> Self {
        self.track_id = Some(id);
        self
    }

    /// Whether the object is scored at `level` (`None`: no level, every non-ignored object).
    pub(crate) fn scored_at(&self, level: Option<Difficulty>) -> bool {
        !self.ignore
            && match (level, self.difficulty) {
                (Some(level), Some(own)) => own <= level,
                _ => true,
            }
    }
}

/// A region where outputs of any class are neither right nor wrong: KITTI `DontCare` areas
/// (unlabelled far or crowded objects).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DontCareRegion {
    /// A BEV footprint in the frame of the ground truth (height ignored).
    Bev(Box3),
    /// A KITTI-style image rectangle. An output is projected through `image_from_frame` (pixels
    /// from the ground-truth frame, e.g. `P2 · camera_from_base_link`), and its 2D bounding
    /// rectangle is compared with `rect_px`.
    Image {
        /// `[x1, y1, x2, y2]` in pixels.
        rect_px: [f64; 4],
        /// 3×4 projection from the ground-truth frame to pixels.
        image_from_frame: Matrix3x4<f64>,
    },
}

impl DontCareRegion {
    /// Fraction of `b`'s footprint (BEV) or of its projected 2D rectangle (image) that falls in
    /// the region, in [0, 1] — KITTI's overlap criterion normalised by the output's area.
    pub fn covered_fraction(&self, b: &Box3) -> f64 {
        match self {
            Self::Bev(region) => {
                let area = b.size.x * b.size.y;
                if area > 0.0 {
                    (crate::geometry::bev_intersection_area(b, region) / area).clamp(0.0, 1.0)
                } else {
                    0.0
                }
            }
            Self::Image { rect_px, image_from_frame } => {
                let Some(r) = project_rect(b, image_from_frame) else {
                    return 0.0;
                };
                let w = r[2].min(rect_px[2]) - r[0].max(rect_px[0]);
                let h = r[3].min(rect_px[3]) - r[1].max(rect_px[1]);
                let area = (r[2] - r[0]) * (r[3] - r[1]);
                if w > 0.0 && h > 0.0 && area > 0.0 {
                    (w * h / area).clamp(0.0, 1.0)
                } else {
                    0.0
                }
            }
        }
    }
}

/// The 2D bounding rectangle `[x1, y1, x2, y2]` of the projected corners of `b`; `None` when a
/// corner is not at least 0.1 m in front of the camera or a value is not finite.
fn project_rect(b: &Box3, image_from_frame: &Matrix3x4<f64>) -> Option<[f64; 4]> {
    let mut r = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
    for corner in b.corners() {
        let h = image_from_frame * Point3::from(corner.coords).to_homogeneous();
        if h.z.is_nan() || h.z <= 0.1 {
            return None;
        }
        let (u, v) = (h.x / h.z, h.y / h.z);
        r = [r[0].min(u), r[1].min(v), r[2].max(u), r[3].max(v)];
    }
    r.iter().all(|v| v.is_finite()).then_some(r)
}

/// Ground truth and detections of one frame, all in one frame of reference.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FrameEval {
    /// Ground-truth objects (scored and ignored).
    pub gt: Vec<GroundTruthBox>,
    /// The detector's output.
    pub dets: Vec<Detection>,
    /// Regions where unmatched detections are not false positives.
    pub dont_care: Vec<DontCareRegion>,
}

/// Ground truth and tracker output of one frame of a drive, all in one frame of reference.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrackingFrameEval {
    /// Ground-truth objects; every non-ignored one needs a `track_id`.
    pub gt: Vec<GroundTruthBox>,
    /// The tracker's confirmed tracks at this frame.
    pub tracks: Vec<Track>,
    /// Regions where unmatched tracks are not false positives.
    pub dont_care: Vec<DontCareRegion>,
}
