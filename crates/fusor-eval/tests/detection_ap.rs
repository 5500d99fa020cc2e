//! KITTI and nuScenes AP on hand-made cases whose answers are known.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use approx::assert_relative_eq;
use common::{bx, car_at, det, gt};
use fusor_core::ObjectClass::{Car, Cyclist, Pedestrian};
use fusor_eval::{
    evaluate_detections, BoxMetric, DetectionConfig, Difficulty, DontCareRegion, EvalError, FrameEval, GroundTruthBox,
};

fn frame(gt: Vec<GroundTruthBox>, dets: Vec<fusor_core::Detection>) -> FrameEval {
    FrameEval { gt, dets, dont_care: vec![] }
}

fn car_bev_ap(frames: &[FrameEval]) -> Option<f64> {
    let report = evaluate_detections(frames, &DetectionConfig::default()).unwrap();
    report.class(Car).unwrap().kitti_ap(BoxMetric::Bev, None)
}

#[test]
fn perfect_detections_score_ap_one_everywhere() {
    let frames: Vec<FrameEval> = (0..5)
        .map(|i| {
            let boxes = [car_at(10.0 + i as f64, 3.0), car_at(25.0, -4.0 + i as f64)];
            frame(
                boxes.iter().map(|b| gt(b.clone(), Car)).collect(),
                boxes.iter().enumerate().map(|(k, b)| det(b.clone(), Car, 0.9 - 0.1 * k as f32)).collect(),
            )
        })
        .collect();
    let report = evaluate_detections(&frames, &DetectionConfig::default()).unwrap();
    let car = report.class(Car).unwrap();
    assert_eq!(car.kitti_ap(BoxMetric::Bev, None), Some(1.0));
    assert_eq!(car.kitti_ap(BoxMetric::ThreeD, None), Some(1.0));
    for cd in &car.center_distance {
        assert_relative_eq!(cd.ap.unwrap(), 1.0, epsilon = 1e-12);
    }
    assert_relative_eq!(car.center_distance_map.unwrap(), 1.0, epsilon = 1e-12);
    // No pedestrian in the ground truth: AP is undefined, not 0 or 1.
    assert_eq!(report.class(Pedestrian).unwrap().kitti_ap(BoxMetric::Bev, None), None);
}

#[test]
fn empty_detections_score_ap_zero() {
    let frames = vec![frame(vec![gt(car_at(10.0, 0.0), Car)], vec![])];
    let report = evaluate_detections(&frames, &DetectionConfig::default()).unwrap();
    let car = report.class(Car).unwrap();
    assert_eq!(car.kitti_ap(BoxMetric::Bev, None), Some(0.0));
    assert_eq!(car.center_distance_map, Some(0.0));
    assert_eq!(car.kitti[0].counts.fn_, 1);
}

#[test]
fn box_shifted_one_metre_matches_a_pedestrian_threshold_but_not_a_car_threshold() {
    // Two 4 × 2 boxes 1 m apart along x: IoU 3/5, above 0.5 (pedestrian, cyclist), below 0.7 (car).
    let shifted = bx(11.0, 0.0, 0.75, 4.0, 2.0, 1.5, 0.0);
    let truth = bx(10.0, 0.0, 0.75, 4.0, 2.0, 1.5, 0.0);
    let frames = vec![frame(
        vec![gt(truth.clone(), Car), gt(truth.clone(), Cyclist)],
        vec![det(shifted.clone(), Car, 0.9), det(shifted, Cyclist, 0.9)],
    )];
    let report = evaluate_detections(&frames, &DetectionConfig::default()).unwrap();
    assert_eq!(report.class(Car).unwrap().kitti_ap(BoxMetric::Bev, None), Some(0.0));
    assert_eq!(report.class(Cyclist).unwrap().kitti_ap(BoxMetric::Bev, None), Some(1.0));
    assert_eq!(report.class(Cyclist).unwrap().kitti_ap(BoxMetric::ThreeD, None), Some(1.0));
    // Centre distance 1 m: a match at 2 m and 4 m, not at 0.5 m or 1 m (exclusive).
    let cd: Vec<Option<f64>> = report.class(Car).unwrap().center_distance.iter().map(|c| c.ap).collect();
    assert_eq!(cd, vec![Some(0.0), Some(0.0), Some(1.0), Some(1.0)]);
}

#[test]
fn duplicate_detection_is_a_false_positive_and_lowers_ap_to_five_sixths() {
    // Ground truth A and B. Detections by score: A (0.9, TP), A again (0.8, duplicate → FP),
    // B (0.7, TP). PR points: (r ½, p 1), (r ½, p ½), (r 1, p ⅔).
    // R40: recalls 1/40..20/40 interpolate to 1, 21/40..40/40 to ⅔ → AP = (20 + 20·⅔)/40 = 5/6.
    let (a, b) = (car_at(10.0, 0.0), car_at(20.0, 5.0));
    let frames = vec![frame(
        vec![gt(a.clone(), Car), gt(b.clone(), Car)],
        vec![det(a.clone(), Car, 0.9), det(a, Car, 0.8), det(b, Car, 0.7)],
    )];
    let report = evaluate_detections(&frames, &DetectionConfig::default()).unwrap();
    let bev = &report.class(Car).unwrap().kitti[0];
    assert_eq!((bev.counts.tp, bev.counts.fp, bev.counts.fn_), (2, 1, 0));
    assert_relative_eq!(bev.ap_r40.unwrap(), 5.0 / 6.0, epsilon = 1e-12);
}

#[test]
fn a_lower_scored_duplicate_does_not_change_ap() {
    // The duplicate comes after every true positive: the envelope stays at 1.
    let a = car_at(10.0, 0.0);
    let frames = vec![frame(vec![gt(a.clone(), Car)], vec![det(a.clone(), Car, 0.9), det(a, Car, 0.1)])];
    assert_eq!(car_bev_ap(&frames), Some(1.0));
}

#[test]
fn wrong_class_detection_is_a_false_positive_of_its_own_class() {
    let a = car_at(10.0, 0.0);
    let frames = vec![frame(vec![gt(a.clone(), Car)], vec![det(a, Pedestrian, 0.9)])];
    let report = evaluate_detections(&frames, &DetectionConfig::default()).unwrap();
    assert_eq!(report.class(Car).unwrap().kitti_ap(BoxMetric::Bev, None), Some(0.0));
    assert_eq!(report.class(Pedestrian).unwrap().kitti[0].counts.fp, 1);
}

#[test]
fn detection_on_an_ignored_object_is_neither_true_nor_false_positive() {
    // A van labelled as an ignored car, and a real car. Detecting both gives AP 1, not ½.
    let (van, real) = (car_at(10.0, 0.0), car_at(20.0, 0.0));
    let ignored = GroundTruthBox { ignore: true, ..gt(van.clone(), Car) };
    let frames = vec![frame(vec![ignored, gt(real.clone(), Car)], vec![det(van, Car, 0.95), det(real, Car, 0.5)])];
    let report = evaluate_detections(&frames, &DetectionConfig::default()).unwrap();
    let bev = &report.class(Car).unwrap().kitti[0];
    assert_eq!((bev.counts.num_gt, bev.counts.tp, bev.counts.fp, bev.counts.ignored), (1, 1, 0, 1));
    assert_eq!(bev.ap_r40, Some(1.0));
}

#[test]
fn detection_inside_a_dont_care_region_is_not_a_false_positive() {
    let real = car_at(20.0, 0.0);
    let in_region = car_at(40.0, 10.0);
    let frames = vec![FrameEval {
        gt: vec![gt(real.clone(), Car)],
        dets: vec![det(in_region, Car, 0.99), det(real, Car, 0.5), det(car_at(60.0, -20.0), Car, 0.4)],
        dont_care: vec![DontCareRegion::Bev(bx(40.0, 10.0, 0.0, 10.0, 10.0, 1.0, 0.0))],
    }];
    let report = evaluate_detections(&frames, &DetectionConfig::default()).unwrap();
    let bev = &report.class(Car).unwrap().kitti[0];
    // The one outside every region still counts against precision, after the true positive.
    assert_eq!((bev.counts.tp, bev.counts.fp, bev.counts.ignored), (1, 1, 1));
    assert_eq!(bev.ap_r40, Some(1.0));
}

#[test]
fn dont_care_in_the_image_absorbs_a_detection_that_projects_into_it() {
    // Camera looking along +x of base_link: u = 500 + 500·(−y)/x, v = 200 + 500·(−z)/x.
    let image_from_frame =
        nalgebra::Matrix3x4::new(500.0, -500.0, 0.0, 0.0, 200.0, 0.0, -500.0, 0.0, 1.0, 0.0, 0.0, 0.0);
    let far = car_at(50.0, 0.0); // projects around u = 500, v ≈ 192
    let frames = vec![FrameEval {
        gt: vec![],
        dets: vec![det(far, Car, 0.9)],
        dont_care: vec![DontCareRegion::Image { rect_px: [450.0, 150.0, 550.0, 250.0], image_from_frame }],
    }];
    let report = evaluate_detections(&frames, &DetectionConfig::default()).unwrap();
    let bev = &report.class(Car).unwrap().kitti[0];
    assert_eq!((bev.counts.fp, bev.counts.ignored), (0, 1));
}

#[test]
fn difficulty_levels_are_cumulative() {
    // Easy object found, hard object missed. Easy and Moderate ignore the Hard object (AP 1); at
    // Hard, recall stops at ½, so AP|R40 = 20/40.
    let (easy, hard) = (car_at(10.0, 0.0), car_at(30.0, 0.0));
    let frames = vec![frame(
        vec![
            GroundTruthBox { difficulty: Some(Difficulty::Easy), ..gt(easy.clone(), Car) },
            GroundTruthBox { difficulty: Some(Difficulty::Hard), ..gt(hard, Car) },
        ],
        vec![det(easy, Car, 0.9)],
    )];
    let report = evaluate_detections(&frames, &DetectionConfig::default()).unwrap();
    let car = report.class(Car).unwrap();
    assert_eq!(car.kitti_ap(BoxMetric::Bev, Some(Difficulty::Easy)), Some(1.0));
    assert_eq!(car.kitti_ap(BoxMetric::Bev, Some(Difficulty::Moderate)), Some(1.0));
    assert_relative_eq!(car.kitti_ap(BoxMetric::Bev, Some(Difficulty::Hard)).unwrap(), 0.5, epsilon = 1e-12);
    assert_eq!(car.kitti_ap(BoxMetric::Bev, None), None, "graded labels give no level-free entry");
}

#[test]
fn tied_scores_give_one_precision_recall_point() {
    let (a, b) = (car_at(10.0, 0.0), car_at(20.0, 0.0));
    let frames = vec![frame(
        vec![gt(a.clone(), Car), gt(b.clone(), Car)],
        vec![det(a, Car, 0.5), det(car_at(50.0, 0.0), Car, 0.5), det(b, Car, 0.5)],
    )];
    let report = evaluate_detections(&frames, &DetectionConfig::default()).unwrap();
    let curve = &report.class(Car).unwrap().kitti[0].curve;
    assert_eq!(curve.len(), 1);
    assert_relative_eq!(curve[0].precision, 2.0 / 3.0, epsilon = 1e-12);
}

#[test]
fn nan_detections_are_false_positives_not_panics() {
    let a = car_at(10.0, 0.0);
    let frames = vec![frame(
        vec![gt(a.clone(), Car)],
        vec![det(bx(f64::NAN, 0.0, 0.0, 4.0, 2.0, 1.5, 0.0), Car, f32::NAN), det(a, Car, 0.9)],
    )];
    let report = evaluate_detections(&frames, &DetectionConfig::default()).unwrap();
    let bev = &report.class(Car).unwrap().kitti[0];
    assert_eq!((bev.counts.tp, bev.counts.fp), (1, 1));
    assert_eq!(bev.ap_r40, Some(1.0), "the NaN-scored detection ranks last");
}

#[test]
fn detections_in_another_frame_than_the_ground_truth_are_refused() {
    let mut d = det(car_at(10.0, 0.0), Car, 0.9);
    d.bbox.frame_id = fusor_core::FrameId::new("map");
    let err = evaluate_detections(&[frame(vec![gt(car_at(10.0, 0.0), Car)], vec![d])], &DetectionConfig::default())
        .unwrap_err();
    assert!(matches!(err, EvalError::FrameMismatch { index: 0, .. }), "{err}");
}
