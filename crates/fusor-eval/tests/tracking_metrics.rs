//! MOTA, MOTP and IDF1 on a hand-made sequence and on real KITTI tracking labels.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use approx::assert_relative_eq;
use common::{car_at, data_dir, gt, track};
use fusor_core::calib::kitti::import_kitti_object_calib;
use fusor_core::{ObjectClass::Car, Track};
use fusor_eval::kitti::load_kitti_tracking_labels;
use fusor_eval::{evaluate_tracking, EvalError, TrackMatching, TrackingConfig, TrackingFrameEval};

/// Two cars, A (gt id 1) at x = 10 m and B (gt id 2) at x = 30 m, over 5 frames.
/// - Track 100 follows A in every frame.
/// - Track 200 follows B in frames 0–1; B is missed in frame 2 (FN); track 300 follows B in
///   frames 3–4, 0.5 m off (an identity switch in frame 3).
/// - Frame 4 also has a false track 400 at x = 60 m (FP).
///
/// By hand: GT = 10, FN = 1, FP = 1, IDSW = 1 → MOTA = 1 − 3/10 = 0.7.
/// Matches 9, distances 0 except 2 × 0.5 m → MOTP = 1/9 m.
/// IDF1: gt instances 10, track instances 5 + 2 + 2 + 1 = 10; best id pairing 1↔100 (5 frames),
/// 2↔200 or 2↔300 (2 frames) → IDTP 7, IDF1 = 2·7 / 20 = 0.7.
fn hand_made_sequence() -> Vec<TrackingFrameEval> {
    (0..5)
        .map(|f| {
            let (a, b) = (car_at(10.0, 0.0), car_at(30.0, 0.0));
            let mut tracks = vec![track(100, a.clone(), Car)];
            match f {
                0 | 1 => tracks.push(track(200, b.clone(), Car)),
                2 => {}
                _ => tracks.push(track(300, car_at(30.5, 0.0), Car)),
            }
            if f == 4 {
                tracks.push(track(400, car_at(60.0, 0.0), Car));
            }
            TrackingFrameEval {
                gt: vec![gt(a, Car).with_track_id(1), gt(b, Car).with_track_id(2)],
                tracks,
                dont_care: vec![],
            }
        })
        .collect()
}

#[test]
fn mota_and_idf1_of_a_hand_made_sequence_with_one_id_switch() {
    let r = evaluate_tracking(&hand_made_sequence(), &TrackingConfig::default()).unwrap();
    assert_eq!((r.num_gt, r.num_tracks, r.matches), (10, 10, 9));
    assert_eq!((r.false_negatives, r.false_positives, r.id_switches), (1, 1, 1));
    assert_relative_eq!(r.mota.unwrap(), 0.7, epsilon = 1e-12);
    assert_relative_eq!(r.motp_distance_m.unwrap(), 1.0 / 9.0, epsilon = 1e-12);
    assert_eq!((r.idtp, r.idfp, r.idfn), (7, 3, 3));
    assert_relative_eq!(r.idf1.unwrap(), 0.7, epsilon = 1e-12);
    assert_eq!((r.num_gt_ids, r.num_track_ids), (2, 4));
}

#[test]
fn iou_matching_scores_the_same_sequence_alike() {
    // The 0.5 m offset of track 300 keeps BEV IoU 3.5/4.5 > 0.5.
    let config = TrackingConfig { matching: TrackMatching::IouBev { min_iou: 0.5 }, ..TrackingConfig::default() };
    let r = evaluate_tracking(&hand_made_sequence(), &config).unwrap();
    assert_eq!((r.false_negatives, r.false_positives, r.id_switches), (1, 1, 1));
    assert_relative_eq!(r.motp_iou.unwrap(), (7.0 + 2.0 * 3.5 / 4.5) / 9.0, epsilon = 1e-12);
}

#[test]
fn ground_truth_without_track_id_is_refused() {
    let frames = vec![TrackingFrameEval { gt: vec![gt(car_at(1.0, 0.0), Car)], ..Default::default() }];
    assert!(matches!(evaluate_tracking(&frames, &TrackingConfig::default()), Err(EvalError::Invalid(_))));
}

#[test]
fn a_track_that_returns_to_its_object_after_another_took_over_counts_two_switches() {
    // Object 1 matched by 10, then 20, then 10 again: two switches (last-match rule).
    let ids = [10, 20, 10];
    let frames: Vec<_> = ids
        .iter()
        .map(|&id| TrackingFrameEval {
            gt: vec![gt(car_at(5.0, 0.0), Car).with_track_id(1)],
            tracks: vec![track(id, car_at(5.0, 0.0), Car)],
            dont_care: vec![],
        })
        .collect();
    let r = evaluate_tracking(&frames, &TrackingConfig::default()).unwrap();
    assert_eq!(r.id_switches, 2);
    // IDF1: best single pairing 1↔10 covers 2 of 3 frames → 2·2/6.
    assert_relative_eq!(r.idf1.unwrap(), 2.0 / 3.0, epsilon = 1e-12);
}

/// KITTI tracking sequence 0012 (4 tracks, 78 frames), ground truth in `base_link`.
fn kitti_0012() -> Vec<TrackingFrameEval> {
    let dir = data_dir().join("kitti_tracking_labels/training");
    let rig = import_kitti_object_calib(dir.join("calib/0012.txt"), [1242, 375]).unwrap();
    load_kitti_tracking_labels(dir.join("label_02/0012.txt"), &rig, "base_link").unwrap()
}

/// A perfect tracker: one track per labelled object, with the label's id mapped by `id_of`.
fn tracks_from_labels(frames: &mut [TrackingFrameEval], id_of: impl Fn(usize, u64) -> u64) {
    for (f, frame) in frames.iter_mut().enumerate() {
        frame.tracks = frame
            .gt
            .iter()
            .map(|g| {
                let id = g.track_id.unwrap_or(u64::MAX);
                Track { id: id_of(f, id), ..track(0, g.bbox.clone(), g.class) }
            })
            .collect();
    }
}

#[test]
fn kitti_0012_ground_truth_against_itself_scores_mota_one_and_idf1_one() {
    let mut frames = kitti_0012();
    assert_eq!(frames.len(), 78);
    let instances: usize = frames.iter().map(|f| f.gt.len()).sum();
    assert_eq!(instances, 41 + 66 + 64 + 78);
    assert!(frames.iter().any(|f| !f.dont_care.is_empty()));
    tracks_from_labels(&mut frames, |_, id| id);
    let r = evaluate_tracking(&frames, &TrackingConfig::default()).unwrap();
    assert_eq!((r.false_negatives, r.false_positives, r.id_switches), (0, 0, 0));
    assert_eq!(r.mota, Some(1.0));
    assert_eq!(r.idf1, Some(1.0));
    assert_eq!(r.motp_distance_m, Some(0.0));
    assert_eq!(r.num_gt_ids, 4);
}

#[test]
fn kitti_0012_with_one_track_renamed_half_way_counts_one_switch() {
    // Car 3 is labelled in frames 0–77; from frame 39 on the tracker calls it 99.
    let mut frames = kitti_0012();
    tracks_from_labels(&mut frames, |f, id| if id == 3 && f >= 39 { 99 } else { id });
    let r = evaluate_tracking(&frames, &TrackingConfig::default()).unwrap();
    assert_eq!((r.false_negatives, r.false_positives, r.id_switches), (0, 0, 1));
    // IDF1: object 3 keeps id 3 for 39 of its 78 frames, so 39 of 249 instances are lost on
    // each side: IDF1 = 2·(249 − 39) / 498.
    assert_relative_eq!(r.idf1.unwrap(), 210.0 / 249.0, epsilon = 1e-12);
    assert_relative_eq!(r.mota.unwrap(), 1.0 - 1.0 / 249.0, epsilon = 1e-12);
}

#[test]
fn kitti_0012_with_two_car_ids_swapped_half_way_counts_two_switches() {
    // Cars 1 (frames 0–65) and 3 (frames 0–77) trade ids from frame 30.
    let mut frames = kitti_0012();
    let swap = |f: usize, id: u64| match (f >= 30, id) {
        (true, 1) => 3,
        (true, 3) => 1,
        _ => id,
    };
    tracks_from_labels(&mut frames, swap);
    let r = evaluate_tracking(&frames, &TrackingConfig::default()).unwrap();
    assert_eq!(r.id_switches, 2);
    assert_eq!((r.false_negatives, r.false_positives), (0, 0));
}
