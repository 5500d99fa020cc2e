//! The recall rule this crate's tests, bench example and comparison script share.
//!
//! A labelled object of a scored class (car — KITTI `Van` included —, pedestrian, cyclist)
//! within `max_range_m` (planar distance of its centre from the sensor) counts as **found** when
//! some detection, of any class, either has its bird's-eye-view centre within
//! `car_center_m` (cars) or `small_center_m` (pedestrians, cyclists) of the label's centre, or
//! overlaps it with a BEV IoU ≥ `min_bev_iou`. Matching is class-agnostic because the class
//! guess is reported separately (`found_with_class`) and because the downstream tracker and
//! planner need the obstacle even when the class is wrong. Labels and detections must be in the
//! same z-up frame (the sensor's: ranges are measured from its origin).
//!
//! This is a self-check of the geometric detector, not the evaluator (`fusor-eval` owns AP).

use fusor_core::{Box3, Detection, ObjectClass};
use serde::{Deserialize, Serialize};

/// Parameters of the recall rule (defaults: 40 m, 2 m, 1 m, IoU 0.5).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RecallRule {
    /// Labels farther than this (planar, metres) are not scored.
    pub max_range_m: f64,
    /// Centre distance that finds a car, metres.
    pub car_center_m: f64,
    /// Centre distance that finds a pedestrian or cyclist, metres.
    pub small_center_m: f64,
    /// BEV IoU that finds any label.
    pub min_bev_iou: f64,
}

impl Default for RecallRule {
    fn default() -> Self {
        Self { max_range_m: 40.0, car_center_m: 2.0, small_center_m: 1.0, min_bev_iou: 0.5 }
    }
}

/// The outcome for one scored label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelMatch {
    /// Index of the label in the input slice.
    pub label: usize,
    /// The label's class.
    pub class: ObjectClass,
    /// Planar range of the label's centre, metres.
    pub range_m: f64,
    /// Found by the rule (any detection class).
    pub found: bool,
    /// Found by a detection whose class guess equals the label's class.
    pub found_with_class: bool,
    /// BEV centre distance to the nearest detection, metres (infinite without detections).
    pub nearest_center_m: f64,
    /// Best BEV IoU with any detection.
    pub best_bev_iou: f64,
}

/// Applies the rule to every scored label within range (labels of class `Other` and labels
/// beyond `max_range_m` are skipped).
pub fn match_labels(labels: &[(ObjectClass, Box3)], detections: &[Detection], rule: &RecallRule) -> Vec<LabelMatch> {
    let mut out = Vec::new();
    for (k, (class, label)) in labels.iter().enumerate() {
        let range_m = label.center.x.hypot(label.center.y);
        if *class == ObjectClass::Other || range_m > rule.max_range_m {
            continue;
        }
        let radius = if *class == ObjectClass::Car { rule.car_center_m } else { rule.small_center_m };
        let mut m = LabelMatch {
            label: k,
            class: *class,
            range_m,
            found: false,
            found_with_class: false,
            nearest_center_m: f64::INFINITY,
            best_bev_iou: 0.0,
        };
        for d in detections {
            let dist = (d.bbox.center.x - label.center.x).hypot(d.bbox.center.y - label.center.y);
            let iou = if dist < label.size.x + d.bbox.size.x { bev_iou(label, &d.bbox) } else { 0.0 };
            m.nearest_center_m = m.nearest_center_m.min(dist);
            m.best_bev_iou = m.best_bev_iou.max(iou);
            if dist <= radius || iou >= rule.min_bev_iou {
                m.found = true;
                m.found_with_class |= d.class == *class;
            }
        }
        out.push(m);
    }
    out
}

/// Found / scored over a set of matches (1.0 for an empty set).
pub fn recall(matches: &[LabelMatch]) -> f64 {
    if matches.is_empty() {
        return 1.0;
    }
    matches.iter().filter(|m| m.found).count() as f64 / matches.len() as f64
}

/// Bird's-eye-view IoU of two upright boxes (convex polygon clipping).
pub fn bev_iou(a: &Box3, b: &Box3) -> f64 {
    let pa = a.bev_corners();
    let pb = b.bev_corners();
    let inter = polygon_area(&clip(&pa, &pb));
    let union = polygon_area(&pa) + polygon_area(&pb) - inter;
    if union > 0.0 {
        (inter / union).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

fn polygon_area(p: &[[f64; 2]]) -> f64 {
    let n = p.len();
    let mut s = 0.0;
    for i in 0..n {
        let (a, b) = (p[i], p[(i + 1) % n]);
        s += a[0] * b[1] - a[1] * b[0];
    }
    (s / 2.0).abs()
}

/// Sutherland–Hodgman: `subject` clipped by the convex counter-clockwise `clipper`.
fn clip(subject: &[[f64; 2]], clipper: &[[f64; 2]; 4]) -> Vec<[f64; 2]> {
    let mut out: Vec<[f64; 2]> = subject.to_vec();
    for i in 0..4 {
        let (a, b) = (clipper[i], clipper[(i + 1) % 4]);
        let inside = |p: [f64; 2]| (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) >= 0.0;
        let input = std::mem::take(&mut out);
        for j in 0..input.len() {
            let (p, q) = (input[j], input[(j + 1) % input.len()]);
            let (ip, iq) = (inside(p), inside(q));
            if ip {
                out.push(p);
            }
            if ip != iq {
                let (d1, d2) = ([q[0] - p[0], q[1] - p[1]], [b[0] - a[0], b[1] - a[1]]);
                let den = d1[0] * d2[1] - d1[1] * d2[0];
                if den.abs() > 1e-12 {
                    let t = ((a[0] - p[0]) * d2[1] - (a[1] - p[1]) * d2[0]) / den;
                    out.push([p[0] + t * d1[0], p[1] + t * d1[1]]);
                }
            }
        }
        if out.is_empty() {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use fusor_core::Stamp;
    use nalgebra::{Point3, Vector3};

    fn b(x: f64, y: f64, l: f64, w: f64, yaw: f64) -> Box3 {
        Box3 { frame_id: "lidar".into(), center: Point3::new(x, y, 0.0), size: Vector3::new(l, w, 1.5), yaw_rad: yaw }
    }

    #[test]
    fn bev_iou_of_known_overlaps() {
        assert!((bev_iou(&b(0.0, 0.0, 4.0, 2.0, 0.0), &b(0.0, 0.0, 4.0, 2.0, 0.0)) - 1.0).abs() < 1e-9);
        // Shifted by half a length: intersection 2×2 = 4, union 12.
        assert!((bev_iou(&b(0.0, 0.0, 4.0, 2.0, 0.0), &b(2.0, 0.0, 4.0, 2.0, 0.0)) - 1.0 / 3.0).abs() < 1e-9);
        // A square turned 90° is the same square.
        assert!(
            (bev_iou(&b(0.0, 0.0, 2.0, 2.0, 0.0), &b(0.0, 0.0, 2.0, 2.0, std::f64::consts::FRAC_PI_2)) - 1.0).abs()
                < 1e-9
        );
        assert_eq!(bev_iou(&b(0.0, 0.0, 1.0, 1.0, 0.0), &b(5.0, 0.0, 1.0, 1.0, 0.0)), 0.0);
    }

    #[test]
    fn labels_are_found_by_centre_distance_or_iou_and_far_ones_are_skipped() {
        let det =
            |x: f64, y: f64, class| Detection { stamp: Stamp(0), bbox: b(x, y, 4.0, 1.8, 0.0), class, score: 1.0 };
        let labels = vec![
            (ObjectClass::Car, b(10.0, 0.0, 4.0, 1.8, 0.0)),
            (ObjectClass::Pedestrian, b(20.0, 5.0, 0.6, 0.6, 0.0)),
            (ObjectClass::Car, b(60.0, 0.0, 4.0, 1.8, 0.0)),
            (ObjectClass::Other, b(5.0, 0.0, 4.0, 1.8, 0.0)),
        ];
        let dets = vec![det(11.5, 0.0, ObjectClass::Car), det(21.2, 5.0, ObjectClass::Car)];
        let m = match_labels(&labels, &dets, &RecallRule::default());
        assert_eq!(m.len(), 2);
        assert!(m[0].found && m[0].found_with_class);
        assert!(!m[1].found, "a pedestrian 1.2 m off is not found");
        assert_eq!(recall(&m), 0.5);
    }
}
