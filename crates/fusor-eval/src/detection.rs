//! Detection average precision: KITTI rotated-IoU AP (BEV and 3D, 40 recall points) and
//! nuScenes centre-distance AP.
//!
//! # Matching
//! Per frame and class, detections are taken highest score first; each takes the unmatched
//! scored ground truth it overlaps most (IoU strictly above the class threshold, as the KITTI
//! devkit compares; or BEV centre distance strictly below the threshold, as nuScenes does). A
//! detection left over is
//! - *ignored* when it matches an ignored ground truth (a neighbouring class, an object harder
//!   than the level; each absorbs one detection) or lies in a [`DontCareRegion`] (covered
//!   fraction above the IoU threshold, or above ½ for centre distance; absorbs any number);
//! - a false positive otherwise.
//!
//! Scored ground truth left unmatched is a false negative.
//!
//! Detections of non-finite score rank last; a detection with a non-finite box overlaps nothing
//! and so is a false positive.
//!
//! # Precision–recall and AP
//! Walking the detections of all frames by descending score gives a precision–recall point after
//! each distinct score (ties are taken together, so their order does not matter).
//! - KITTI AP|R40 (Simonelli et al. 2019) is the mean over recall `r ∈ {1/40, …, 40/40}` of the
//!   interpolated precision `max{p(r') : r' ≥ r}` (0 when recall `r` is never reached).
//! - nuScenes AP samples precision at 101 recalls in [0, 1] by linear interpolation (0 past the
//!   largest recall), drops recalls ≤ `min_recall`, subtracts `min_precision` (clipping at 0) and
//!   normalises by `1 − min_precision`; the mAP is the mean over the distance thresholds.
//!
//! [`DontCareRegion`]: crate::DontCareRegion

use crate::geometry::{center_distance_bev, iou_3d, iou_bev};
use crate::{Difficulty, EvalError, FrameEval, GroundTruthBox, Result};
use fusor_core::{Box3, Detection, ObjectClass};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Number of recall points of KITTI's AP|R40.
pub const R40_POINTS: usize = 40;

/// How boxes are compared for KITTI AP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum BoxMetric {
    /// Rotated IoU of the bird's-eye-view footprints.
    #[serde(rename = "bev")]
    Bev,
    /// IoU of the upright 3D boxes.
    #[serde(rename = "3d")]
    ThreeD,
}

impl BoxMetric {
    /// Short name for reports (`BEV`, `3D`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Bev => "BEV",
            Self::ThreeD => "3D",
        }
    }
}

/// What to evaluate and with which thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectionConfig {
    /// Classes to score, in report order.
    pub classes: Vec<ObjectClass>,
    /// IoU a detection must exceed to match, per class. A class missing here uses 0.5.
    pub iou_thresholds: BTreeMap<ObjectClass, f64>,
    /// nuScenes centre-distance thresholds in metres.
    pub center_distance_thresholds_m: Vec<f64>,
    /// nuScenes recall below which precision does not count (0.1).
    pub min_recall: f64,
    /// nuScenes precision subtracted before averaging (0.1).
    pub min_precision: f64,
}

impl Default for DetectionConfig {
    /// KITTI thresholds (0.7 car, 0.5 pedestrian and cyclist) and nuScenes' 0.5/1/2/4 m with
    /// 0.1 minimum recall and precision.
    fn default() -> Self {
        Self {
            classes: ObjectClass::SCORED.to_vec(),
            iou_thresholds: BTreeMap::from([
                (ObjectClass::Car, 0.7),
                (ObjectClass::Pedestrian, 0.5),
                (ObjectClass::Cyclist, 0.5),
            ]),
            center_distance_thresholds_m: vec![0.5, 1.0, 2.0, 4.0],
            min_recall: 0.1,
            min_precision: 0.1,
        }
    }
}

impl DetectionConfig {
    /// The IoU threshold of `class`.
    pub fn iou_threshold(&self, class: ObjectClass) -> f64 {
        self.iou_thresholds.get(&class).copied().unwrap_or(0.5)
    }
}

/// One point of a precision–recall curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PrPoint {
    /// Detections with at least this score are kept.
    pub score: f32,
    /// True positives over scored ground truth, in [0, 1].
    pub recall: f64,
    /// True positives over kept (non-ignored) detections, in [0, 1].
    pub precision: f64,
}

/// Outcome counts of matching with every detection kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchCounts {
    /// Scored ground-truth objects.
    pub num_gt: usize,
    /// Detections of the class.
    pub num_dets: usize,
    /// Detections matched to scored ground truth.
    pub tp: usize,
    /// Detections that match nothing.
    pub fp: usize,
    /// Scored ground truth left unmatched.
    pub fn_: usize,
    /// Detections absorbed by ignored ground truth or `DontCare` regions.
    pub ignored: usize,
}

/// KITTI AP of one class for one box metric and difficulty level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KittiAp {
    /// BEV or 3D IoU.
    pub metric: BoxMetric,
    /// The level; `None` when the ground truth has no difficulty (all objects scored).
    pub difficulty: Option<Difficulty>,
    /// IoU a match must exceed.
    pub iou_threshold: f64,
    /// AP|R40 in [0, 1]; `None` when there is no scored ground truth.
    pub ap_r40: Option<f64>,
    /// Counts with every detection kept.
    pub counts: MatchCounts,
    /// The precision–recall curve, by descending score.
    pub curve: Vec<PrPoint>,
}

/// nuScenes AP of one class at one centre-distance threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CenterDistanceAp {
    /// Largest BEV centre distance of a match, metres (exclusive).
    pub threshold_m: f64,
    /// nuScenes AP in [0, 1]; `None` when there is no scored ground truth.
    pub ap: Option<f64>,
    /// Counts with every detection kept.
    pub counts: MatchCounts,
    /// The precision–recall curve, by descending score.
    pub curve: Vec<PrPoint>,
}

/// Every AP of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassDetectionReport {
    /// The class.
    pub class: ObjectClass,
    /// KITTI AP: BEV then 3D, each at every level the labels allow.
    pub kitti: Vec<KittiAp>,
    /// nuScenes AP per distance threshold.
    pub center_distance: Vec<CenterDistanceAp>,
    /// Mean of the centre-distance APs; `None` without scored ground truth.
    pub center_distance_map: Option<f64>,
}

/// The result of [`evaluate_detections`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectionReport {
    /// The configuration used.
    pub config: DetectionConfig,
    /// Number of frames evaluated.
    pub num_frames: usize,
    /// One entry per configured class.
    pub classes: Vec<ClassDetectionReport>,
}

impl DetectionReport {
    /// The report of `class`.
    pub fn class(&self, class: ObjectClass) -> Option<&ClassDetectionReport> {
        self.classes.iter().find(|c| c.class == class)
    }
}

impl ClassDetectionReport {
    /// KITTI AP|R40 for `metric` at `difficulty` (`None`: the level-free entry).
    pub fn kitti_ap(&self, metric: BoxMetric, difficulty: Option<Difficulty>) -> Option<f64> {
        self.kitti.iter().find(|k| k.metric == metric && k.difficulty == difficulty).and_then(|k| k.ap_r40)
    }
}

/// How a ground truth and a detection are compared.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Criterion {
    Iou { metric: BoxMetric, threshold: f64 },
    CenterDistance { threshold_m: f64 },
}

/// Overlap of two boxes under `metric`.
pub(crate) fn iou(metric: BoxMetric, a: &Box3, b: &Box3) -> f64 {
    match metric {
        BoxMetric::Bev => iou_bev(a, b),
        BoxMetric::ThreeD => iou_3d(a, b),
    }
}

impl Criterion {
    /// Match quality (higher is better) when the pair matches, else `None`.
    fn quality(self, gt: &Box3, det: &Box3) -> Option<f64> {
        match self {
            Self::Iou { metric, threshold } => {
                let iou = iou(metric, gt, det);
                (iou > threshold).then_some(iou)
            }
            Self::CenterDistance { threshold_m } => {
                let d = center_distance_bev(gt, det);
                (d < threshold_m).then_some(-d)
            }
        }
    }

    /// Covered fraction above which a `DontCare` region absorbs a detection.
    fn dont_care_fraction(self) -> f64 {
        match self {
            Self::Iou { threshold, .. } => threshold,
            Self::CenterDistance { .. } => 0.5,
        }
    }
}

/// Outcome of one detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Tp,
    Fp,
    Ignored,
}

/// What matching made of one detection of a frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Matched {
    /// Ranking score (non-finite scores rank last).
    pub score: f32,
    pub outcome: Outcome,
    /// Index of the detection in `FrameEval::dets`.
    pub det: usize,
    /// Index in `FrameEval::gt` of the ground truth a true positive took.
    pub gt: Option<usize>,
}

fn rank_score(d: &Detection) -> f32 {
    if d.score.is_finite() {
        d.score
    } else {
        f32::NEG_INFINITY
    }
}

/// Matches one class in one frame; returns each detection's match, highest score first, and the
/// number of scored ground-truth objects.
pub(crate) fn match_frame(
    frame: &FrameEval,
    class: ObjectClass,
    level: Option<Difficulty>,
    criterion: Criterion,
) -> (Vec<Matched>, usize) {
    let gts: Vec<(usize, &GroundTruthBox)> = frame.gt.iter().enumerate().filter(|(_, g)| g.class == class).collect();
    let scored: Vec<bool> = gts.iter().map(|(_, g)| g.scored_at(level)).collect();
    let num_scored = scored.iter().filter(|&&s| s).count();
    let mut dets: Vec<(usize, &Detection)> = frame.dets.iter().enumerate().filter(|(_, d)| d.class == class).collect();
    dets.sort_by(|a, b| rank_score(b.1).total_cmp(&rank_score(a.1)));
    let mut taken = vec![false; gts.len()];
    let mut out = Vec::with_capacity(dets.len());
    for (det_index, det) in dets {
        // Best free scored ground truth first, then best free ignored one.
        let best = |want_scored: bool, taken: &[bool]| {
            gts.iter()
                .enumerate()
                .filter(|&(i, _)| !taken[i] && scored[i] == want_scored)
                .filter_map(|(i, (_, g))| criterion.quality(&g.bbox, &det.bbox).map(|q| (i, q)))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(i, _)| i)
        };
        let (outcome, gt) = if let Some(i) = best(true, &taken) {
            taken[i] = true;
            (Outcome::Tp, Some(gts[i].0))
        } else if let Some(i) = best(false, &taken) {
            taken[i] = true;
            (Outcome::Ignored, None)
        } else if frame.dont_care.iter().any(|r| r.covered_fraction(&det.bbox) > criterion.dont_care_fraction()) {
            (Outcome::Ignored, None)
        } else {
            (Outcome::Fp, None)
        };
        out.push(Matched { score: rank_score(det), outcome, det: det_index, gt });
    }
    (out, num_scored)
}

/// Matches every frame and builds the precision–recall curve and counts.
fn curve_for(
    frames: &[FrameEval],
    class: ObjectClass,
    level: Option<Difficulty>,
    criterion: Criterion,
) -> (Vec<PrPoint>, MatchCounts) {
    let mut all = Vec::new();
    let mut num_gt = 0;
    for frame in frames {
        let (matched, n) = match_frame(frame, class, level, criterion);
        num_gt += n;
        all.extend(matched.iter().map(|m| (m.score, m.outcome)));
    }
    curve_from(all, num_gt)
}

/// The precision–recall curve and counts of detections' `(score, outcome)` over `num_gt` scored
/// objects.
pub(crate) fn curve_from(mut all: Vec<(f32, Outcome)>, num_gt: usize) -> (Vec<PrPoint>, MatchCounts) {
    let mut counts = MatchCounts { num_gt, num_dets: all.len(), ..MatchCounts::default() };
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut curve = Vec::new();
    let (mut tp, mut fp) = (0usize, 0usize);
    for (i, &(score, outcome)) in all.iter().enumerate() {
        match outcome {
            Outcome::Tp => tp += 1,
            Outcome::Fp => fp += 1,
            Outcome::Ignored => counts.ignored += 1,
        }
        let group_ends = all.get(i + 1).is_none_or(|next| next.0 != score);
        if group_ends && tp + fp > 0 && counts.num_gt > 0 {
            curve.push(PrPoint {
                score,
                recall: tp as f64 / counts.num_gt as f64,
                precision: tp as f64 / (tp + fp) as f64,
            });
        }
    }
    counts.tp = tp;
    counts.fp = fp;
    counts.fn_ = counts.num_gt.saturating_sub(tp);
    (curve, counts)
}

/// KITTI AP|R40 of a precision–recall curve: the mean interpolated precision at recall
/// 1/40, 2/40, …, 1. The curve's points need not be sorted.
pub fn ap_r40(curve: &[PrPoint]) -> f64 {
    (1..=R40_POINTS)
        .map(|i| {
            let r = i as f64 / R40_POINTS as f64;
            curve.iter().filter(|p| p.recall >= r - 1e-12).map(|p| p.precision).fold(0.0, f64::max)
        })
        .sum::<f64>()
        / R40_POINTS as f64
}

/// nuScenes AP of a precision–recall curve given by descending score (recall non-decreasing):
/// precision interpolated at 101 recalls in [0, 1], recalls ≤ `min_recall` dropped,
/// `min_precision` subtracted and clipped at 0, normalised by `1 − min_precision`.
pub fn ap_nuscenes(curve: &[PrPoint], min_recall: f64, min_precision: f64) -> f64 {
    let (Some(first), Some(last)) = (curve.first(), curve.last()) else {
        return 0.0;
    };
    // numpy.interp(x, recall, precision, right=0).
    let interp = |x: f64| -> f64 {
        if x <= first.recall {
            return first.precision;
        }
        if x > last.recall {
            return 0.0;
        }
        let j = curve.iter().rposition(|p| p.recall <= x).unwrap_or(0);
        match (curve.get(j), curve.get(j + 1)) {
            (Some(a), Some(b)) if b.recall > a.recall => {
                a.precision + (b.precision - a.precision) * (x - a.recall) / (b.recall - a.recall)
            }
            (Some(a), _) => a.precision,
            _ => 0.0,
        }
    };
    let first_bin = (100.0 * min_recall).round() as usize + 1;
    let kept: Vec<f64> = (first_bin..=100).map(|i| (interp(i as f64 / 100.0) - min_precision).max(0.0)).collect();
    if kept.is_empty() || min_precision >= 1.0 {
        return 0.0;
    }
    // Clamped: the normalisation leaves ~1e-16 of round-off above 1 for a perfect curve.
    (kept.iter().sum::<f64>() / kept.len() as f64 / (1.0 - min_precision)).clamp(0.0, 1.0)
}

/// Checks that every output of a frame is in the frame of its ground truth.
pub(crate) fn check_frames<'a>(
    index: usize,
    gt: &'a [GroundTruthBox],
    outputs: impl IntoIterator<Item = &'a Box3>,
) -> Result<()> {
    let Some(first) = gt.first() else {
        return Ok(());
    };
    let gt_frame = &first.bbox.frame_id;
    for b in gt.iter().map(|g| &g.bbox).chain(outputs) {
        if &b.frame_id != gt_frame {
            return Err(EvalError::FrameMismatch {
                index,
                gt_frame: gt_frame.as_str().to_owned(),
                output_frame: b.frame_id.as_str().to_owned(),
            });
        }
    }
    Ok(())
}

/// Checks that every detection of every frame is in the frame of its ground truth.
pub(crate) fn check_detection_frames(frames: &[FrameEval]) -> Result<()> {
    for (index, frame) in frames.iter().enumerate() {
        check_frames(index, &frame.gt, frame.dets.iter().map(|d| &d.bbox))?;
    }
    Ok(())
}

/// Evaluates detections against ground truth, frame by frame, with KITTI AP|R40 (BEV and 3D, at
/// each difficulty level the labels allow) and nuScenes centre-distance AP.
///
/// Ground truth and detections of a frame must be in one frame of reference (any z-up frame:
/// `base_link`, `lidar`, `map`); otherwise [`EvalError::FrameMismatch`].
pub fn evaluate_detections(frames: &[FrameEval], config: &DetectionConfig) -> Result<DetectionReport> {
    check_detection_frames(frames)?;
    let classes = config
        .classes
        .iter()
        .map(|&class| {
            let graded = frames.iter().flat_map(|f| &f.gt).any(|g| g.class == class && g.difficulty.is_some());
            let levels: Vec<Option<Difficulty>> =
                if graded { Difficulty::ALL.iter().copied().map(Some).collect() } else { vec![None] };
            let threshold = config.iou_threshold(class);
            let mut kitti = Vec::new();
            for metric in [BoxMetric::Bev, BoxMetric::ThreeD] {
                for &difficulty in &levels {
                    let (curve, counts) = curve_for(frames, class, difficulty, Criterion::Iou { metric, threshold });
                    let ap_r40 = (counts.num_gt > 0).then(|| ap_r40(&curve));
                    kitti.push(KittiAp { metric, difficulty, iou_threshold: threshold, ap_r40, counts, curve });
                }
            }
            let center_distance: Vec<CenterDistanceAp> = config
                .center_distance_thresholds_m
                .iter()
                .map(|&threshold_m| {
                    let (curve, counts) = curve_for(frames, class, None, Criterion::CenterDistance { threshold_m });
                    let ap = (counts.num_gt > 0).then(|| ap_nuscenes(&curve, config.min_recall, config.min_precision));
                    CenterDistanceAp { threshold_m, ap, counts, curve }
                })
                .collect();
            let aps: Option<Vec<f64>> = center_distance.iter().map(|c| c.ap).collect();
            let center_distance_map = aps.filter(|a| !a.is_empty()).map(|a| a.iter().sum::<f64>() / a.len() as f64);
            ClassDetectionReport { class, kitti, center_distance, center_distance_map }
        })
        .collect();
    Ok(DetectionReport { config: config.clone(), num_frames: frames.len(), classes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    fn p(recall: f64, precision: f64) -> PrPoint {
        PrPoint { score: 0.0, recall, precision }
    }

    #[test]
    fn r40_interpolates_the_precision_envelope_on_a_hand_computed_curve() {
        // Recall 0.25 @ 1.0, 0.5 @ 0.5, 0.75 @ 0.6, never 1.0.
        // Envelope max{p(r') : r' ≥ r}: r ≤ 0.25 (10 points) → 1.0; 0.25 < r ≤ 0.75 (20 points)
        // → 0.6; r > 0.75 (10 points) → 0. AP = (10 + 12) / 40 = 0.55.
        let curve = [p(0.25, 1.0), p(0.5, 0.5), p(0.75, 0.6)];
        assert_relative_eq!(ap_r40(&curve), 0.55, epsilon = 1e-12);
    }

    #[test]
    fn r40_ignores_recall_zero() {
        // Only recall 1/40 reached: one of 40 points counts.
        assert_relative_eq!(ap_r40(&[p(1.0 / 40.0, 1.0)]), 1.0 / 40.0, epsilon = 1e-12);
        assert_eq!(ap_r40(&[]), 0.0);
    }

    #[test]
    fn nuscenes_ap_is_one_for_a_perfect_curve_and_clips_low_precision() {
        assert_relative_eq!(ap_nuscenes(&[p(0.5, 1.0), p(1.0, 1.0)], 0.1, 0.1), 1.0, epsilon = 1e-12);
        // Precision 0.1 everywhere is clipped to nothing.
        assert_eq!(ap_nuscenes(&[p(1.0, 0.1)], 0.1, 0.1), 0.0);
        // Precision 0.55 up to recall 1: (0.55 − 0.1) / 0.9 = 0.5.
        assert_relative_eq!(ap_nuscenes(&[p(1.0, 0.55)], 0.1, 0.1), 0.5, epsilon = 1e-12);
    }

    #[test]
    fn nuscenes_ap_counts_only_recall_bins_reached() {
        // Precision 1 up to recall 0.55 then nothing: bins 0.11..=0.55 (45 of 90) count fully.
        assert_relative_eq!(ap_nuscenes(&[p(0.55, 1.0)], 0.1, 0.1), 0.5, epsilon = 1e-12);
    }
}
