//! Multi-object tracking metrics over a drive: CLEAR MOT (MOTA, MOTP) and IDF1.
//!
//! # Per-frame matching (CLEAR MOT, Bernardin & Stiefelhagen 2008, as py-motmetrics does it)
//! 1. A ground-truth object keeps the track it was last matched to, if that track is present and
//!    still within the matching threshold.
//! 2. The remaining objects and tracks are assigned by the Hungarian algorithm, minimising the
//!    total distance (BEV centre distance, or 1 − BEV IoU) over pairs within the threshold.
//! 3. A matched object whose last matched track (in any earlier frame) had another id counts an
//!    identity switch.
//! 4. Tracks left over that match an ignored object or lie in a `DontCare` region are dropped;
//!    the others are false positives. Objects left over are misses (false negatives).
//!
//! `MOTA = 1 − (FN + FP + IDSW) / GT`; MOTP is reported both as the mean BEV centre distance of
//! the matches (metres) and as their mean BEV IoU.
//!
//! # IDF1 (Ristani et al. 2016)
//! Ground-truth ids and track ids are put in one-to-one correspondence for the whole drive by a
//! maximum-weight bipartite assignment (`pathfinding::kuhn_munkres`) whose weight is the number
//! of frames in which the pair is within the threshold; that total is IDTP.
//! `IDF1 = 2·IDTP / (GT detections + track detections)`.

use crate::assignment::max_weight_assignment;
use crate::detection::check_frames;
use crate::geometry::{center_distance_bev, iou_bev};
use crate::{EvalError, Result, TrackingFrameEval};
use fusor_core::{Box3, ObjectClass};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Integer scale of distances handed to the Hungarian algorithm (µm or 1e-6 IoU).
const COST_SCALE: f64 = 1e6;
/// Distances are clamped here before scaling so that sums of weights stay far from `i64::MAX`.
const MAX_COST: f64 = 1e3;

/// When a track matches a ground-truth object.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum TrackMatching {
    /// BEV centre distance below `max_m` metres.
    CenterDistance {
        /// Largest distance of a match in metres (exclusive).
        max_m: f64,
    },
    /// BEV IoU above `min_iou`.
    IouBev {
        /// Smallest IoU of a match (exclusive).
        min_iou: f64,
    },
}

impl TrackMatching {
    /// Dissimilarity of a pair when it matches: metres, or 1 − IoU.
    fn distance(self, gt: &Box3, track: &Box3) -> Option<f64> {
        match self {
            Self::CenterDistance { max_m } => {
                let d = center_distance_bev(gt, track);
                (d < max_m).then_some(d)
            }
            Self::IouBev { min_iou } => {
                let iou = iou_bev(gt, track);
                (iou > min_iou).then_some(1.0 - iou)
            }
        }
    }
}

/// What to evaluate and how to match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackingConfig {
    /// Match criterion.
    pub matching: TrackMatching,
    /// Only a track of the object's class can match it.
    pub class_aware: bool,
    /// Classes evaluated; objects and tracks of other classes are left out.
    pub classes: Vec<ObjectClass>,
}

impl Default for TrackingConfig {
    /// Class-aware matching within 2 m BEV centre distance, for cars, pedestrians and cyclists.
    fn default() -> Self {
        Self {
            matching: TrackMatching::CenterDistance { max_m: 2.0 },
            class_aware: true,
            classes: ObjectClass::SCORED.to_vec(),
        }
    }
}

/// The result of [`evaluate_tracking`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackingReport {
    /// The configuration used.
    pub config: TrackingConfig,
    /// Frames evaluated.
    pub num_frames: usize,
    /// Ground-truth object instances (summed over frames, ignored ones excluded).
    pub num_gt: usize,
    /// Track instances (summed over frames, those dropped by ignore rules excluded).
    pub num_tracks: usize,
    /// Distinct ground-truth ids.
    pub num_gt_ids: usize,
    /// Distinct track ids.
    pub num_track_ids: usize,
    /// Matched pairs.
    pub matches: usize,
    /// Misses.
    pub false_negatives: usize,
    /// False tracks.
    pub false_positives: usize,
    /// Identity switches.
    pub id_switches: usize,
    /// `1 − (FN + FP + IDSW) / GT`; `None` without ground truth.
    pub mota: Option<f64>,
    /// Mean BEV centre distance of the matches, metres; `None` without matches.
    pub motp_distance_m: Option<f64>,
    /// Mean BEV IoU of the matches; `None` without matches.
    pub motp_iou: Option<f64>,
    /// Identity true positives.
    pub idtp: usize,
    /// Identity false positives (`num_tracks − IDTP`).
    pub idfp: usize,
    /// Identity false negatives (`num_gt − IDTP`).
    pub idfn: usize,
    /// `2·IDTP / (num_gt + num_tracks)`; `None` when both are 0.
    pub idf1: Option<f64>,
}

/// Per-pair statistics for IDF1: frames in which a (gt id, track id) pair is within threshold.
type CoOccurrence = HashMap<(u64, u64), i64>;

/// Evaluates a tracker's output over a drive. Frames are in time order; every non-ignored
/// ground-truth object needs a `track_id` ([`EvalError::Invalid`] otherwise), and each frame's
/// tracks must be in the frame of its ground truth ([`EvalError::FrameMismatch`]).
pub fn evaluate_tracking(frames: &[TrackingFrameEval], config: &TrackingConfig) -> Result<TrackingReport> {
    let wanted = |c: ObjectClass| config.classes.contains(&c);
    let mut last_match: HashMap<u64, u64> = HashMap::new();
    let mut co: CoOccurrence = HashMap::new();
    let mut gt_ids: BTreeMap<u64, usize> = BTreeMap::new();
    let mut track_ids: BTreeMap<u64, usize> = BTreeMap::new();
    let (mut num_gt, mut num_tracks, mut matches, mut fp, mut fn_, mut idsw) = (0, 0, 0, 0, 0, 0);
    let (mut sum_dist, mut sum_iou) = (0.0, 0.0);

    for (index, frame) in frames.iter().enumerate() {
        check_frames(index, &frame.gt, frame.tracks.iter().map(|t| &t.bbox))?;
        let mut gts = Vec::new();
        let mut ignored = Vec::new();
        for g in frame.gt.iter().filter(|g| wanted(g.class)) {
            if g.ignore {
                ignored.push(g);
                continue;
            }
            let id = g.track_id.ok_or_else(|| {
                EvalError::Invalid(format!("frame {index}: a ground-truth {} has no track id", g.class))
            })?;
            gts.push((id, g));
        }
        let tracks: Vec<_> = frame.tracks.iter().filter(|t| wanted(t.class)).collect();
        let compatible = |gc: ObjectClass, tc: ObjectClass| !config.class_aware || gc == tc;
        let dist = |gi: usize, ti: usize| -> Option<f64> {
            let (g, t) = (gts[gi].1, tracks[ti]);
            if compatible(g.class, t.class) {
                config.matching.distance(&g.bbox, &t.bbox)
            } else {
                None
            }
        };

        // 1. Keep last correspondences that are still valid.
        let mut gt_match: Vec<Option<usize>> = vec![None; gts.len()];
        let mut track_taken = vec![false; tracks.len()];
        for (gi, (id, _)) in gts.iter().enumerate() {
            let Some(&prev) = last_match.get(id) else { continue };
            if let Some(ti) = tracks.iter().position(|t| t.id == prev) {
                if !track_taken[ti] && dist(gi, ti).is_some() {
                    gt_match[gi] = Some(ti);
                    track_taken[ti] = true;
                }
            }
        }
        // 2. Hungarian on the rest: maximise the number of matches, then minimise distance.
        let free_gts: Vec<usize> = (0..gts.len()).filter(|&gi| gt_match[gi].is_none()).collect();
        let free_tracks: Vec<usize> = (0..tracks.len()).filter(|&ti| !track_taken[ti]).collect();
        let costs: Vec<Vec<Option<i64>>> = free_gts
            .iter()
            .map(|&gi| {
                free_tracks
                    .iter()
                    .map(|&ti| dist(gi, ti).map(|d| (d.min(MAX_COST) * COST_SCALE).round() as i64))
                    .collect()
            })
            .collect();
        // Every match is worth more than any total of costs, so the count of matches comes first.
        let max_cost = costs.iter().flatten().flatten().copied().max().unwrap_or(0);
        let big = (max_cost + 1) * (free_gts.len().min(free_tracks.len()) as i64 + 1);
        let weights: Vec<Vec<i64>> =
            costs.iter().map(|row| row.iter().map(|c| c.map_or(0, |c| big - c)).collect()).collect();
        for (row, col) in max_weight_assignment(&weights, free_tracks.len()).into_iter().enumerate() {
            if let Some(col) = col {
                gt_match[free_gts[row]] = Some(free_tracks[col]);
                track_taken[free_tracks[col]] = true;
            }
        }
        // 3. Score matches and identity switches.
        for (gi, m) in gt_match.iter().enumerate() {
            let (gt_id, g) = gts[gi];
            let Some(ti) = *m else {
                fn_ += 1;
                continue;
            };
            let t = tracks[ti];
            matches += 1;
            sum_dist += center_distance_bev(&g.bbox, &t.bbox);
            sum_iou += iou_bev(&g.bbox, &t.bbox);
            if last_match.insert(gt_id, t.id).is_some_and(|prev| prev != t.id) {
                idsw += 1;
            }
        }
        // 4. Leftover tracks: absorbed by ignored objects / DontCare, or false positives.
        let mut counted = vec![true; tracks.len()];
        let mut ignored_taken = vec![false; ignored.len()];
        for ti in (0..tracks.len()).filter(|&ti| !track_taken[ti]) {
            let t = tracks[ti];
            let absorbed_by = ignored.iter().enumerate().position(|(ii, g)| {
                !ignored_taken[ii]
                    && compatible(g.class, t.class)
                    && config.matching.distance(&g.bbox, &t.bbox).is_some()
            });
            if let Some(ii) = absorbed_by {
                ignored_taken[ii] = true;
                counted[ti] = false;
            } else if frame.dont_care.iter().any(|r| r.covered_fraction(&t.bbox) > 0.5) {
                counted[ti] = false;
            } else {
                fp += 1;
            }
        }
        // IDF1 bookkeeping over counted instances.
        num_gt += gts.len();
        for (id, _) in &gts {
            *gt_ids.entry(*id).or_default() += 1;
        }
        for (ti, t) in tracks.iter().enumerate().filter(|(ti, _)| counted[*ti]) {
            num_tracks += 1;
            *track_ids.entry(t.id).or_default() += 1;
            for (gi, (gt_id, _)) in gts.iter().enumerate() {
                if dist(gi, ti).is_some() {
                    *co.entry((*gt_id, t.id)).or_default() += 1;
                }
            }
        }
    }

    let idtp = identity_true_positives(&co, &gt_ids, &track_ids);
    let ratio = |num: f64, den: usize| (den > 0).then(|| num / den as f64);
    Ok(TrackingReport {
        config: config.clone(),
        num_frames: frames.len(),
        num_gt,
        num_tracks,
        num_gt_ids: gt_ids.len(),
        num_track_ids: track_ids.len(),
        matches,
        false_negatives: fn_,
        false_positives: fp,
        id_switches: idsw,
        mota: ratio((num_gt as f64) - (fn_ + fp + idsw) as f64, num_gt),
        motp_distance_m: ratio(sum_dist, matches),
        motp_iou: ratio(sum_iou, matches),
        idtp,
        idfp: num_tracks - idtp,
        idfn: num_gt - idtp,
        idf1: ratio(2.0 * idtp as f64, num_gt + num_tracks),
    })
}

/// IDTP: the largest total co-occurrence over one-to-one id correspondences.
fn identity_true_positives(
    co: &CoOccurrence,
    gt_ids: &BTreeMap<u64, usize>,
    track_ids: &BTreeMap<u64, usize>,
) -> usize {
    let gts: Vec<u64> = gt_ids.keys().copied().collect();
    let tracks: Vec<u64> = track_ids.keys().copied().collect();
    let weights: Vec<Vec<i64>> =
        gts.iter().map(|g| tracks.iter().map(|t| co.get(&(*g, *t)).copied().unwrap_or(0)).collect()).collect();
    max_weight_assignment(&weights, tracks.len())
        .iter()
        .enumerate()
        .filter_map(|(r, c)| c.and_then(|c| weights.get(r).and_then(|row| row.get(c))))
        .map(|&w| w as usize)
        .sum()
}
