//! Where a class's AP goes: a TIDE-style error decomposition (Bolya et al., "TIDE: A General
//! Toolbox for Identifying Object Detection Errors", ECCV 2020) of KITTI AP|R40.
//!
//! After the usual matching (see [`crate::detection`]), every false positive of the class gets
//! one kind, by its best overlap (IoU under the metric) with the frame's ground truth:
//! - [`Duplicate`](ErrorKind::Duplicate): above the class threshold with a scored object of its
//!   class that a higher-scored detection already took;
//! - [`Localization`](ErrorKind::Localization): above [`BACKGROUND_IOU`] (but not the threshold)
//!   with a scored object of its class: the right object, the box not good enough;
//! - [`Confusion`](ErrorKind::Confusion): above [`BACKGROUND_IOU`] with an object of another
//!   class: the wrong class;
//! - [`Background`](ErrorKind::Background): nothing there (street clutter, ghosts);
//!
//! and every scored object left unmatched with no detection of any class above
//! [`BACKGROUND_IOU`] is [`Missed`](ErrorKind::Missed).
//!
//! Each kind's weight is the AP an oracle wins by fixing all errors of that kind and nothing
//! else: a localisation error takes its object (or, when a higher-scored detection took it, is
//! removed as the duplicate it then is); duplicates, confusions and background detections are
//! removed; missed objects leave the ground truth. No fix can lower AP, and fixes overlap, so the
//! gains need not add up to the gap to 1.

use crate::detection::{ap_r40, curve_from, iou, match_frame, BoxMetric, Criterion, Matched, Outcome};
use crate::{DetectionConfig, Difficulty, FrameEval, GroundTruthBox, Result};
use fusor_core::ObjectClass;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt::Write as _;

/// Overlap above which a detection is "at" an object (TIDE's background threshold).
pub const BACKGROUND_IOU: f64 = 0.1;

/// The kinds of error, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The right object, a box that does not overlap it enough.
    Localization,
    /// A second detection of an object already found.
    Duplicate,
    /// A detection of another class's object.
    Confusion,
    /// A detection where there is no object.
    Background,
    /// An object no detection comes near.
    Missed,
}

impl ErrorKind {
    /// Every kind, in report order.
    pub const ALL: [Self; 5] = [Self::Localization, Self::Duplicate, Self::Confusion, Self::Background, Self::Missed];

    /// Lower-case name for reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Localization => "localization",
            Self::Duplicate => "duplicate",
            Self::Confusion => "class confusion",
            Self::Background => "background",
            Self::Missed => "missed",
        }
    }
}

/// One error kind of a class: how many, and what fixing them all would win.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ErrorShare {
    /// The kind.
    pub kind: ErrorKind,
    /// Detections (or, for [`ErrorKind::Missed`], objects) of this kind, at any score.
    pub count: usize,
    /// AP|R40 with every error of this kind fixed, minus the AP as measured (≥ 0).
    pub delta_ap: f64,
}

/// The decomposition of one class's AP for one box metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBreakdown {
    /// The class.
    pub class: ObjectClass,
    /// BEV or 3D IoU.
    pub metric: BoxMetric,
    /// IoU a match must exceed.
    pub iou_threshold: f64,
    /// The level scored; `None` when the ground truth has no difficulty.
    pub difficulty: Option<Difficulty>,
    /// AP|R40 as measured; `None` without scored ground truth.
    pub ap_r40: Option<f64>,
    /// Scored ground-truth objects.
    pub num_gt: usize,
    /// True positives at any score.
    pub tp: usize,
    /// One entry per kind, in [`ErrorKind::ALL`] order.
    pub errors: Vec<ErrorShare>,
}

impl ErrorBreakdown {
    /// The share of `kind`.
    pub fn share(&self, kind: ErrorKind) -> Option<&ErrorShare> {
        self.errors.iter().find(|e| e.kind == kind)
    }

    /// A Markdown table, one row per breakdown: AP and each kind's AP gain (in AP points, ×100)
    /// with its count. Rows are labelled (e.g. by model) in a first column when a label is not
    /// empty.
    pub fn markdown_table<'a>(rows: impl IntoIterator<Item = (&'a str, &'a ErrorBreakdown)>) -> String {
        let rows: Vec<(&str, &ErrorBreakdown)> = rows.into_iter().collect();
        let labelled = rows.iter().any(|(label, _)| !label.is_empty());
        let mut s = String::from(if labelled { "| | class | AP |" } else { "| class | AP |" });
        for kind in ErrorKind::ALL {
            let _ = write!(s, " {} |", kind.as_str());
        }
        let _ = writeln!(s, "\n|{}", "---|".repeat(ErrorKind::ALL.len() + 2 + usize::from(labelled)));
        for (label, b) in rows {
            if labelled {
                let _ = write!(s, "| {label} ");
            }
            let ap = b.ap_r40.map_or_else(|| "–".to_owned(), |a| format!("{a:.3}"));
            let _ = write!(s, "| {} | {ap} |", b.class);
            for e in &b.errors {
                let _ = write!(s, " +{:.1} ({}) |", 100.0 * e.delta_ap, e.count);
            }
            s.push('\n');
        }
        s
    }

    /// A Markdown section: a heading, what the figures mean, and [`Self::markdown_table`].
    pub fn markdown_section<'a>(rows: impl IntoIterator<Item = (&'a str, &'a ErrorBreakdown)>) -> String {
        format!(
            "\n### Where the AP goes (TIDE-style)\n\nAP points (×100) an oracle wins by fixing every error of one \
             kind, and how many there are (any score): a box at its object but overlapping it too little \
             (localization), a second box on a found object (duplicate), a box on another class's object (class \
             confusion), a box at nothing (background), an object no box comes near (missed; IoU ≤ {BACKGROUND_IOU}).\n\n{}",
            Self::markdown_table(rows)
        )
    }
}

/// The breakdown under `metric` of every class of `config` with scored ground truth.
pub fn error_breakdowns(
    frames: &[FrameEval],
    config: &DetectionConfig,
    metric: BoxMetric,
) -> Result<Vec<ErrorBreakdown>> {
    let mut out = Vec::new();
    for &class in &config.classes {
        let b = error_breakdown(frames, config, class, metric)?;
        if b.num_gt > 0 {
            out.push(b);
        }
    }
    Ok(out)
}

/// What one false positive is, with the object it is at (for localisation errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FpKind {
    Localization { gt: usize },
    Duplicate,
    Confusion,
    Background,
}

/// One frame's matches of the class, each false positive given its kind.
struct FrameErrors {
    matched: Vec<Matched>,
    kinds: Vec<Option<FpKind>>,
    num_gt: usize,
    missed: usize,
}

fn frame_errors(
    frame: &FrameEval,
    class: ObjectClass,
    level: Option<Difficulty>,
    metric: BoxMetric,
    threshold: f64,
) -> FrameErrors {
    let (matched, num_gt) = match_frame(frame, class, level, Criterion::Iou { metric, threshold });
    let scored_own = |g: &GroundTruthBox| g.class == class && g.scored_at(level);
    let kinds = matched
        .iter()
        .map(|m| {
            if m.outcome != Outcome::Fp {
                return None;
            }
            let det = &frame.dets[m.det].bbox;
            let best_own = frame
                .gt
                .iter()
                .enumerate()
                .filter(|(_, g)| scored_own(g))
                .map(|(i, g)| (i, iou(metric, &g.bbox, det)))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            Some(match best_own {
                Some((_, o)) if o > threshold => FpKind::Duplicate,
                Some((gt, o)) if o > BACKGROUND_IOU => FpKind::Localization { gt },
                _ if frame.gt.iter().any(|g| g.class != class && iou(metric, &g.bbox, det) > BACKGROUND_IOU) => {
                    FpKind::Confusion
                }
                _ => FpKind::Background,
            })
        })
        .collect();
    let found: Vec<usize> = matched.iter().filter_map(|m| m.gt).collect();
    let missed = frame
        .gt
        .iter()
        .enumerate()
        .filter(|(i, g)| scored_own(g) && !found.contains(i))
        .filter(|(_, g)| !frame.dets.iter().any(|d| iou(metric, &g.bbox, &d.bbox) > BACKGROUND_IOU))
        .count();
    FrameErrors { matched, kinds, num_gt, missed }
}

/// The object a true positive took or a localisation error is at.
fn object_of(m: &Matched, kind: &Option<FpKind>) -> Option<usize> {
    match kind {
        Some(FpKind::Localization { gt }) => Some(*gt),
        _ => m.gt,
    }
}

/// The detections' `(score, outcome)` after an oracle fixed every error of `kind`.
fn fixed(frame: &FrameErrors, kind: Option<ErrorKind>) -> Vec<(f32, Outcome)> {
    let mut out = Vec::with_capacity(frame.matched.len());
    // Localisation fix: each object goes to the highest-scored of its true positive and the
    // localisation errors at it; the others are then duplicates and removed.
    let mut owner: HashMap<usize, f32> = HashMap::new();
    if kind == Some(ErrorKind::Localization) {
        for (m, k) in frame.matched.iter().zip(&frame.kinds) {
            let Some(gt) = object_of(m, k) else {
                continue;
            };
            let best = owner.entry(gt).or_insert(m.score);
            *best = best.max(m.score);
        }
    }
    let mut claimed: Vec<usize> = Vec::new();
    for (m, k) in frame.matched.iter().zip(&frame.kinds) {
        let outcome = match (kind, k) {
            (Some(ErrorKind::Localization), _) => match object_of(m, k) {
                Some(gt) if owner.get(&gt) == Some(&m.score) && !claimed.contains(&gt) => {
                    claimed.push(gt);
                    Some(Outcome::Tp)
                }
                Some(_) => None,
                None => Some(m.outcome),
            },
            (Some(ErrorKind::Duplicate), Some(FpKind::Duplicate))
            | (Some(ErrorKind::Confusion), Some(FpKind::Confusion))
            | (Some(ErrorKind::Background), Some(FpKind::Background)) => None,
            _ => Some(m.outcome),
        };
        if let Some(outcome) = outcome {
            out.push((m.score, outcome));
        }
    }
    out
}

/// Decomposes `class`'s KITTI AP|R40 under `metric` (its IoU threshold from `config`) at the
/// loosest level the labels allow (`Hard` when they are graded, every object otherwise).
pub fn error_breakdown(
    frames: &[FrameEval],
    config: &DetectionConfig,
    class: ObjectClass,
    metric: BoxMetric,
) -> Result<ErrorBreakdown> {
    crate::detection::check_detection_frames(frames)?;
    let graded = frames.iter().flat_map(|f| &f.gt).any(|g| g.class == class && g.difficulty.is_some());
    let level = graded.then_some(Difficulty::Hard);
    let threshold = config.iou_threshold(class);
    let per_frame: Vec<FrameErrors> = frames.iter().map(|f| frame_errors(f, class, level, metric, threshold)).collect();
    let num_gt: usize = per_frame.iter().map(|f| f.num_gt).sum();
    let missed: usize = per_frame.iter().map(|f| f.missed).sum();
    let ap_with = |kind: Option<ErrorKind>| -> Option<f64> {
        let all: Vec<(f32, Outcome)> = per_frame.iter().flat_map(|f| fixed(f, kind)).collect();
        let gt = if kind == Some(ErrorKind::Missed) { num_gt.saturating_sub(missed) } else { num_gt };
        (gt > 0).then(|| ap_r40(&curve_from(all, gt).0))
    };
    let ap = ap_with(None);
    let count = |want: fn(&FpKind) -> bool| -> usize {
        per_frame.iter().flat_map(|f| f.kinds.iter().flatten()).filter(|k| want(k)).count()
    };
    let errors = ErrorKind::ALL
        .into_iter()
        .map(|kind| {
            let count = match kind {
                ErrorKind::Localization => count(|k| matches!(k, FpKind::Localization { .. })),
                ErrorKind::Duplicate => count(|k| *k == FpKind::Duplicate),
                ErrorKind::Confusion => count(|k| *k == FpKind::Confusion),
                ErrorKind::Background => count(|k| *k == FpKind::Background),
                ErrorKind::Missed => missed,
            };
            // With every scored object missed, fixing "missed" leaves nothing to score: no gain.
            let delta_ap = match (ap, ap_with(Some(kind))) {
                (Some(base), Some(fixed)) => fixed - base,
                _ => 0.0,
            };
            ErrorShare { kind, count, delta_ap }
        })
        .collect();
    let tp = per_frame.iter().flat_map(|f| &f.matched).filter(|m| m.outcome == Outcome::Tp).count();
    Ok(ErrorBreakdown { class, metric, iou_threshold: threshold, difficulty: level, ap_r40: ap, num_gt, tp, errors })
}
