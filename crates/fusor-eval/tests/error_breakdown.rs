//! The TIDE-style error decomposition on hand-made frames whose answers are known, and its
//! invariants on random ones.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use approx::assert_relative_eq;
use common::{bx, det, gt};
use fusor_core::ObjectClass::{Car, Cyclist, Pedestrian};
use fusor_eval::{error_breakdown, BoxMetric, DetectionConfig, ErrorBreakdown, ErrorKind, FrameEval, GroundTruthBox};
use proptest::prelude::*;

/// A 0.8 × 0.6 × 1.7 m pedestrian at (x, y).
fn ped_at(x: f64, y: f64) -> fusor_core::Box3 {
    bx(x, y, 0.85, 0.8, 0.6, 1.7, 0.0)
}

fn frame(gt: Vec<GroundTruthBox>, dets: Vec<fusor_core::Detection>) -> FrameEval {
    FrameEval { gt, dets, dont_care: vec![] }
}

fn pedestrians(frames: &[FrameEval]) -> ErrorBreakdown {
    error_breakdown(frames, &DetectionConfig::default(), Pedestrian, BoxMetric::Bev).unwrap()
}

/// (count, AP gain) of `kind`.
fn share(b: &ErrorBreakdown, kind: ErrorKind) -> (usize, f64) {
    let s = b.share(kind).unwrap();
    (s.count, s.delta_ap)
}

/// Every kind but `kind` has no error and no gain.
fn only(b: &ErrorBreakdown, kind: ErrorKind) {
    for other in ErrorKind::ALL.into_iter().filter(|k| *k != kind) {
        assert_eq!(share(b, other), (0, 0.0), "{other:?}");
    }
}

/// One pedestrian, a box 0.35 m off along its 0.8 m side (IoU 0.27 / 0.69 = 0.39, between 0.1
/// and 0.5) scored 0.9, and an exact box scored 0.8.
fn poor_box_above_exact_one() -> [FrameEval; 1] {
    [frame(
        vec![gt(ped_at(10.0, 0.0), Pedestrian)],
        vec![det(ped_at(10.35, 0.0), Pedestrian, 0.9), det(ped_at(10.0, 0.0), Pedestrian, 0.8)],
    )]
}

#[test]
fn a_box_beside_its_object_is_a_localisation_error_and_fixing_it_wins_what_it_cost() {
    // Ranked above the exact box the poor one costs half the AP: precision 0 at recall 0, then
    // 0.5 at recall 1.
    let frames = poor_box_above_exact_one();
    let b = pedestrians(&frames);
    assert_relative_eq!(b.ap_r40.unwrap(), 0.5, epsilon = 1e-12);
    assert_eq!((b.num_gt, b.tp), (1, 1));
    let (count, gain) = share(&b, ErrorKind::Localization);
    assert_eq!(count, 1);
    // Fixed, the higher-scored box takes the object and the exact one becomes its duplicate.
    assert_relative_eq!(gain, 0.5, epsilon = 1e-12);
    only(&b, ErrorKind::Localization);

    // A fixed box and the exact one find one object, not two: with a second pedestrian left
    // unfound, the fix reaches recall 1/2 at precision 1 (AP 0.5), from precision 0 and then 1/2
    // at recall 1/2 (AP 0.25).
    let frames = [frame(
        vec![gt(ped_at(10.0, 0.0), Pedestrian), gt(ped_at(20.0, 3.0), Pedestrian)],
        vec![det(ped_at(10.35, 0.0), Pedestrian, 0.9), det(ped_at(10.0, 0.0), Pedestrian, 0.5)],
    )];
    let b = pedestrians(&frames);
    assert_relative_eq!(b.ap_r40.unwrap(), 0.25, epsilon = 1e-12);
    assert_relative_eq!(share(&b, ErrorKind::Localization).1, 0.25, epsilon = 1e-12);

    // Ranked below the exact box the same error costs nothing.
    let frames = [frame(
        vec![gt(ped_at(10.0, 0.0), Pedestrian)],
        vec![det(ped_at(10.35, 0.0), Pedestrian, 0.7), det(ped_at(10.0, 0.0), Pedestrian, 0.8)],
    )];
    let b = pedestrians(&frames);
    assert_eq!(b.ap_r40, Some(1.0));
    assert_eq!(share(&b, ErrorKind::Localization), (1, 0.0));
}

#[test]
fn a_second_box_on_a_found_object_is_a_duplicate() {
    // 0.9 finds the first, 0.8 finds it again, 0.7 finds the second: precision 1, then 1/2 at
    // recall 1/2, then 2/3 at recall 1. AP = (20 · 1 + 20 · 2/3) / 40 = 5/6.
    let frames = [frame(
        vec![gt(ped_at(10.0, 0.0), Pedestrian), gt(ped_at(20.0, 0.0), Pedestrian)],
        vec![
            det(ped_at(10.0, 0.0), Pedestrian, 0.9),
            det(ped_at(10.05, 0.0), Pedestrian, 0.8),
            det(ped_at(20.0, 0.0), Pedestrian, 0.7),
        ],
    )];
    let b = pedestrians(&frames);
    assert_relative_eq!(b.ap_r40.unwrap(), 5.0 / 6.0, epsilon = 1e-12);
    let (count, gain) = share(&b, ErrorKind::Duplicate);
    assert_eq!(count, 1);
    assert_relative_eq!(gain, 1.0 / 6.0, epsilon = 1e-12);
    only(&b, ErrorKind::Duplicate);
}

#[test]
fn a_pedestrian_box_on_a_cyclist_is_a_confusion_and_on_nothing_a_background_error() {
    let cyclist = bx(20.0, 5.0, 0.85, 1.8, 0.6, 1.7, 0.0);
    let truth = vec![gt(ped_at(10.0, 0.0), Pedestrian), gt(cyclist.clone(), Cyclist)];
    let on_cyclist =
        [frame(truth.clone(), vec![det(ped_at(20.0, 5.0), Pedestrian, 0.95), det(ped_at(10.0, 0.0), Pedestrian, 0.5)])];
    let b = pedestrians(&on_cyclist);
    assert_relative_eq!(b.ap_r40.unwrap(), 0.5, epsilon = 1e-12);
    let (count, gain) = share(&b, ErrorKind::Confusion);
    assert_eq!(count, 1);
    assert_relative_eq!(gain, 0.5, epsilon = 1e-12);
    only(&b, ErrorKind::Confusion);

    let on_nothing =
        [frame(truth, vec![det(ped_at(40.0, 10.0), Pedestrian, 0.95), det(ped_at(10.0, 0.0), Pedestrian, 0.5)])];
    let b = pedestrians(&on_nothing);
    let (count, gain) = share(&b, ErrorKind::Background);
    assert_eq!(count, 1);
    assert_relative_eq!(gain, 0.5, epsilon = 1e-12);
    only(&b, ErrorKind::Background);
}

#[test]
fn an_object_with_no_box_near_it_is_missed_but_one_with_a_poor_box_is_not() {
    // Three pedestrians: one found, one with only a poor box (a localisation error), one with
    // nothing near it, not even a car box.
    let frames = [frame(
        vec![gt(ped_at(10.0, 0.0), Pedestrian), gt(ped_at(20.0, 0.0), Pedestrian), gt(ped_at(30.0, 0.0), Pedestrian)],
        vec![
            det(ped_at(10.0, 0.0), Pedestrian, 0.9),
            det(ped_at(20.35, 0.0), Pedestrian, 0.1),
            det(bx(36.0, 0.0, 0.75, 4.0, 2.0, 1.5, 0.0), Car, 0.9),
        ],
    )];
    let b = pedestrians(&frames);
    assert_eq!((b.num_gt, b.tp), (3, 1));
    // Recall 1/3 at precision 1: 13 of 40 recall points.
    assert_relative_eq!(b.ap_r40.unwrap(), 13.0 / 40.0, epsilon = 1e-12);
    let (missed, gain) = share(&b, ErrorKind::Missed);
    assert_eq!(missed, 1);
    // Without it, recall 1/2 at precision 1: 20 of 40.
    assert_relative_eq!(gain, 20.0 / 40.0 - 13.0 / 40.0, epsilon = 1e-12);
    let (loc, gain) = share(&b, ErrorKind::Localization);
    assert_eq!(loc, 1);
    // Fixed, the poor box finds the second: recall 2/3 at precision 1, 26 of 40.
    assert_relative_eq!(gain, 26.0 / 40.0 - 13.0 / 40.0, epsilon = 1e-12);
    // A box of another class at it (a cyclist box, IoU 0.44) means it was not missed.
    let near = [frame(
        vec![gt(ped_at(30.0, 0.0), Pedestrian)],
        vec![det(bx(30.3, 0.0, 0.85, 1.8, 0.6, 1.7, 0.0), Cyclist, 0.9)],
    )];
    assert_eq!(share(&pedestrians(&near), ErrorKind::Missed).0, 0);
}

#[test]
fn the_table_lists_each_kind_in_ap_points_with_its_count() {
    let frames = poor_box_above_exact_one();
    let b = pedestrians(&frames);
    let md = ErrorBreakdown::markdown_table([("lidar", &b)]);
    assert!(md.contains("| lidar | pedestrian | 0.500 | +50.0 (1) | +0.0 (0) |"), "{md}");
    assert!(md.starts_with("| | class | AP | localization | duplicate | class confusion | background | missed |\n|---|---|---|---|---|---|---|---|\n"));
    // Unlabelled rows leave the label column out.
    let md = ErrorBreakdown::markdown_table([("", &b)]);
    assert!(md.starts_with("| class | AP | localization |"), "{md}");
    assert!(md.contains("\n| pedestrian | 0.500 | +50.0 (1) |"), "{md}");
    // Every class with ground truth gets a row; cyclists (none here) none.
    let all = fusor_eval::error_breakdowns(&frames, &DetectionConfig::default(), BoxMetric::Bev).unwrap();
    assert_eq!(all.iter().map(|b| b.class).collect::<Vec<_>>(), vec![Pedestrian]);
}

#[test]
fn a_class_without_ground_truth_has_no_ap_and_no_gain() {
    let frames = [frame(vec![gt(ped_at(10.0, 0.0), Pedestrian)], vec![det(ped_at(10.0, 0.0), Car, 0.9)])];
    let b = error_breakdown(&frames, &DetectionConfig::default(), Car, BoxMetric::Bev).unwrap();
    assert_eq!(b.ap_r40, None);
    assert!(b.errors.iter().all(|e| e.delta_ap == 0.0));
    // Counted all the same: a car detection right on a pedestrian is a confusion.
    assert_eq!(share(&b, ErrorKind::Confusion).0, 1);
    assert_eq!(share(&b, ErrorKind::Background).0, 0);
    // A car-sized box on it overlaps it by IoU 0.06 only, under the 0.1 of a confusion.
    let frames = [frame(vec![gt(ped_at(10.0, 0.0), Pedestrian)], vec![det(common::car_at(10.0, 0.0), Car, 0.9)])];
    let b = error_breakdown(&frames, &DetectionConfig::default(), Car, BoxMetric::Bev).unwrap();
    assert_eq!(share(&b, ErrorKind::Background).0, 1);
}

/// Boxes on a coarse grid (steps of 0.35 m along x, 0.3 m across) so that they land on, beside
/// and away from each other often.
fn arb_frame() -> impl Strategy<Value = FrameEval> {
    let at = |i: u8, j: u8| (10.0 + 0.35 * f64::from(i), 0.3 * f64::from(j));
    let object = (0..8u8, 0..4u8, prop::bool::weighted(0.8));
    let detection = (0..8u8, 0..4u8, 0.0..1.0f32, prop::bool::weighted(0.8));
    (prop::collection::vec(object, 0..4), prop::collection::vec(detection, 0..6)).prop_map(move |(objects, dets)| {
        let truth = objects
            .into_iter()
            .map(|(i, j, ped)| {
                let (x, y) = at(i, j);
                if ped {
                    gt(ped_at(x, y), Pedestrian)
                } else {
                    gt(bx(x, y, 0.85, 1.8, 0.6, 1.7, 0.0), Cyclist)
                }
            })
            .collect();
        let dets = dets
            .into_iter()
            .map(|(i, j, score, ped)| {
                let (x, y) = at(i, j);
                det(ped_at(x, y), if ped { Pedestrian } else { Cyclist }, score)
            })
            .collect();
        frame(truth, dets)
    })
}

proptest! {
    #[test]
    fn no_fix_lowers_ap_and_every_false_positive_has_one_kind(frames in prop::collection::vec(arb_frame(), 1..5)) {
        let b = pedestrians(&frames);
        let dets = frames.iter().flat_map(|f| &f.dets).filter(|d| d.class == Pedestrian).count();
        let false_positives: usize =
            b.errors.iter().filter(|e| e.kind != ErrorKind::Missed).map(|e| e.count).sum();
        prop_assert_eq!(b.tp + false_positives, dets);
        prop_assert!(share(&b, ErrorKind::Missed).0 <= b.num_gt - b.tp);
        if let Some(ap) = b.ap_r40 {
            for e in &b.errors {
                prop_assert!(e.delta_ap >= -1e-12, "{:?} lowers AP by {}", e.kind, e.delta_ap);
                prop_assert!(ap + e.delta_ap <= 1.0 + 1e-12);
                if e.count == 0 {
                    prop_assert_eq!(e.delta_ap, 0.0);
                }
            }
        } else {
            prop_assert_eq!(b.num_gt, 0);
        }
    }
}
