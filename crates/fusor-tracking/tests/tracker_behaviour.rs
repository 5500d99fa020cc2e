//! The tracker's behaviour, one specification per test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use common::{det_at, stamp, Rng};
use fusor_core::ObjectClass::{Car, Cyclist, Pedestrian};
use fusor_core::{FrameId, Track};
use fusor_tracking::{Tracker, TrackerConfig};

fn tracker() -> Tracker {
    Tracker::new(TrackerConfig::default()).unwrap()
}

#[test]
fn single_object_at_constant_velocity_keeps_one_id_and_its_velocity_within_0_2_m_s() {
    // 8 m/s along a 30° line, 0.1 m detection noise, 10 Hz.
    let (vx, vy) = (8.0 * 30f64.to_radians().cos(), 8.0 * 30f64.to_radians().sin());
    let mut rng = Rng(7);
    let mut t = tracker();
    let mut out: Vec<Track> = Vec::new();
    for k in 0..10 {
        let time = k as f64 * 0.1;
        let d = det_at(vx * time + rng.normal(0.1), vy * time + rng.normal(0.1), 0.5, Car);
        out = t.update(stamp(k), &[d]);
        if k >= 2 {
            assert_eq!(out.len(), 1, "frame {k}");
            assert_eq!(out[0].id, 1);
        }
    }
    let v = out[0].velocity;
    assert!((v.x - vx).hypot(v.y - vy) < 0.2, "velocity {v} vs ({vx:.2}, {vy:.2})");
    assert!((out[0].bbox.yaw_rad - 30f64.to_radians()).abs() < 0.1, "heading follows the motion");
    assert_eq!(out[0].bbox.frame_id, FrameId::new("map"));
}

#[test]
fn track_is_reported_only_after_confirmation() {
    let mut t = tracker();
    assert!(t.update(stamp(0), &[det_at(0.0, 0.0, 0.0, Car)]).is_empty());
    assert!(t.update(stamp(1), &[det_at(0.5, 0.0, 0.0, Car)]).is_empty());
    assert_eq!(t.update(stamp(2), &[det_at(1.0, 0.0, 0.0, Car)]).len(), 1);
}

#[test]
fn two_crossing_objects_keep_their_ids() {
    // A goes east, B goes north; both pass (20, 0) at frame 20.
    let mut t = tracker();
    let mut rng = Rng(11);
    let pos = |k: i64| {
        let s = (k - 20) as f64 * 1.0; // 10 m/s
        ((20.0 + s, 0.0), (20.0, s))
    };
    let mut ids = None;
    for k in 0..40 {
        let ((ax, ay), (bx, by)) = pos(k);
        let dets = [
            det_at(ax + rng.normal(0.05), ay + rng.normal(0.05), 0.0, Car),
            det_at(bx + rng.normal(0.05), by + rng.normal(0.05), 1.57, Car),
        ];
        let out = t.update(stamp(k), &dets);
        if k < 3 {
            continue;
        }
        assert_eq!(out.len(), 2, "frame {k}");
        // The id whose track is nearer A.
        let near_a = |tr: &&Track| (tr.bbox.center.x - ax).hypot(tr.bbox.center.y - ay);
        let a_id = out.iter().min_by(|p, q| near_a(p).total_cmp(&near_a(q))).unwrap().id;
        let b_id = out.iter().find(|tr| tr.id != a_id).unwrap().id;
        if k == 20 {
            continue; // at the crossing both are at one point
        }
        match ids {
            None => ids = Some((a_id, b_id)),
            Some(prev) => assert_eq!(prev, (a_id, b_id), "ids swapped at frame {k}"),
        }
    }
}

#[test]
fn track_coasts_through_two_missed_frames_and_is_deleted_after_the_third() {
    let mut t = tracker();
    let mut k = 0;
    for _ in 0..5 {
        t.update(stamp(k), &[det_at(k as f64, 0.0, 0.0, Car)]);
        k += 1;
    }
    for miss in 1..=2 {
        let out = t.update(stamp(k), &[]);
        assert_eq!(out.len(), 1, "coasting after miss {miss}");
        assert!((out[0].bbox.center.x - k as f64).abs() < 0.3, "predicted ahead: {}", out[0].bbox.center);
        k += 1;
    }
    // The object returns: same id.
    let out = t.update(stamp(k), &[det_at(k as f64, 0.0, 0.0, Car)]);
    assert_eq!(out.iter().map(|t| t.id).collect::<Vec<_>>(), vec![1]);
    k += 1;
    for _ in 0..2 {
        assert_eq!(t.update(stamp(k), &[]).len(), 1);
        k += 1;
    }
    assert!(t.update(stamp(k), &[]).is_empty(), "third consecutive miss deletes the track");
    assert_eq!(t.stats().deleted, 1);
}

#[test]
fn one_frame_clutter_never_becomes_a_confirmed_track() {
    let mut t = tracker();
    let mut rng = Rng(3);
    for k in 0..200 {
        let clutter: Vec<_> = (0..5)
            .map(|_| det_at(rng.uniform() * 100.0 - 50.0, rng.uniform() * 100.0 - 50.0, 0.0, Pedestrian))
            .collect();
        assert!(t.update(stamp(k), &clutter).is_empty(), "frame {k}");
    }
    assert_eq!(t.stats().confirmed, 0);
    // A few clutter points fall by chance in a tentative track's gate (a second hit) and start
    // no track of their own; none reaches the third hit.
    assert!(t.stats().born > 950, "{:?}", t.stats());
}

#[test]
fn class_voting_picks_the_majority() {
    let mut t = tracker();
    let classes = [Cyclist, Pedestrian, Cyclist, Cyclist, Pedestrian, Cyclist, Car];
    let mut out = Vec::new();
    for (k, class) in classes.iter().enumerate() {
        out = t.update(stamp(k as i64), &[det_at(0.3 * k as f64, 0.0, 0.0, *class)]);
    }
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].class, Cyclist, "4 cyclist, 2 pedestrian, 1 car votes");
    assert_eq!(out[0].hits, 7);
}

#[test]
fn nan_detections_are_dropped_and_counted_without_panicking() {
    let mut t = tracker();
    let mut bad = det_at(f64::NAN, 0.0, 0.0, Car);
    let mut bad_size = det_at(1.0, 0.0, 0.0, Car);
    bad_size.bbox.size.x = f64::INFINITY;
    let mut bad_score = det_at(1.0, 0.0, 0.0, Car);
    bad_score.score = f32::NAN;
    for k in 0..4 {
        bad.bbox.yaw_rad = k as f64;
        let out = t.update(stamp(k), &[bad.clone(), bad_size.clone(), bad_score.clone(), det_at(0.0, 5.0, 0.0, Car)]);
        for tr in out {
            assert!(tr.bbox.center.iter().all(|v| v.is_finite()));
        }
    }
    assert_eq!(t.stats().dropped_non_finite, 12);
    assert_eq!(t.stats().born, 1, "only the good detection starts a track");
}

#[test]
fn detections_in_another_frame_are_dropped_and_counted() {
    let mut t = tracker();
    let mut d = det_at(0.0, 0.0, 0.0, Car);
    d.bbox.frame_id = FrameId::new("base_link");
    assert!(t.update(stamp(0), &[d]).is_empty());
    assert_eq!(t.stats().dropped_wrong_frame, 1);
    assert_eq!(t.stats().born, 0);
}

#[test]
fn time_going_backwards_resets_the_tracker_and_is_counted() {
    let mut t = tracker();
    for k in 0..5 {
        t.update(stamp(k), &[det_at(k as f64, 0.0, 0.0, Car)]);
    }
    assert!(t.update(stamp(2), &[det_at(2.0, 0.0, 0.0, Car)]).is_empty(), "tracks forgotten, new one tentative");
    assert_eq!(t.stats().time_resets, 1);
    // Ids stay unique across the reset.
    t.update(stamp(3), &[det_at(3.0, 0.0, 0.0, Car)]);
    let out = t.update(stamp(4), &[det_at(4.0, 0.0, 0.0, Car)]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].id, 2);
}

#[test]
fn heading_of_a_standing_object_is_the_smoothed_detected_heading_modulo_half_a_turn() {
    // Detected headings flip by π (a box's front is ambiguous); the track keeps one direction.
    let mut t = tracker();
    let mut out = Vec::new();
    for k in 0..10 {
        let yaw = if k % 2 == 0 { 0.3 } else { 0.3 - std::f64::consts::PI };
        out = t.update(stamp(k), &[det_at(5.0, 5.0, yaw, Car)]);
    }
    assert!((out[0].bbox.yaw_rad - 0.3).abs() < 1e-6, "{}", out[0].bbox.yaw_rad);
    assert!(out[0].velocity.norm() < 0.1);
}
