//! End to end with the evaluator: a simulated drive scored with fusor-eval's MOTA and IDF1.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use common::{stamp, Rng};
use fusor_core::{Box3, Detection, FrameId, ObjectClass, Stamp};
use fusor_eval::{evaluate_tracking, GroundTruthBox, TrackingConfig, TrackingFrameEval};
use fusor_tracking::{Tracker, TrackerConfig};
use nalgebra::{Point3, Vector3};

/// One simulated road user on a straight line.
struct Mover {
    start: (f64, f64),
    velocity: (f64, f64),
    class: ObjectClass,
    size: Vector3<f64>,
}

fn movers() -> Vec<Mover> {
    let car = Vector3::new(4.2, 1.8, 1.6);
    let ped = Vector3::new(0.6, 0.6, 1.7);
    let bike = Vector3::new(1.8, 0.6, 1.7);
    vec![
        Mover { start: (0.0, 0.0), velocity: (10.0, 0.0), class: ObjectClass::Car, size: car },
        Mover { start: (60.0, 4.0), velocity: (-12.0, 0.0), class: ObjectClass::Car, size: car },
        Mover { start: (20.0, -15.0), velocity: (0.0, 1.4), class: ObjectClass::Pedestrian, size: ped },
        Mover { start: (5.0, 10.0), velocity: (4.0, -1.0), class: ObjectClass::Cyclist, size: bike },
        Mover { start: (30.0, 30.0), velocity: (-3.0, -6.0), class: ObjectClass::Car, size: car },
    ]
}

fn box_at(m: &Mover, time_s: f64, noise: (f64, f64)) -> Box3 {
    Box3 {
        frame_id: FrameId::new("map"),
        center: Point3::new(
            m.start.0 + m.velocity.0 * time_s + noise.0,
            m.start.1 + m.velocity.1 * time_s + noise.1,
            m.size.z / 2.0,
        ),
        size: m.size,
        yaw_rad: m.velocity.1.atan2(m.velocity.0),
    }
}

#[test]
fn tracker_on_five_noisy_straight_movers_with_ten_percent_dropouts_scores_mota_and_idf1_above_0_8() {
    const FRAMES: i64 = 100; // 10 s at 10 Hz
    let movers = movers();
    let mut rng = Rng(2024);
    let mut tracker = Tracker::new(TrackerConfig::default()).unwrap();
    let mut frames = Vec::new();
    let mut dropped = 0;
    // Per mover, the current run of consecutive dropouts and the number of runs of 3 or more:
    // the tracker is specified to delete a track at its 3rd consecutive miss, so each such run
    // may cost one identity switch when the mover reappears under a new id.
    let mut run = vec![0u32; movers.len()];
    let mut long_gaps = 0;
    for k in 0..FRAMES {
        let time_s = k as f64 * 0.1;
        let mut dets = Vec::new();
        let mut gt = Vec::new();
        for (i, m) in movers.iter().enumerate() {
            gt.push(GroundTruthBox::new(box_at(m, time_s, (0.0, 0.0)), m.class).with_track_id(i as u64));
            if rng.uniform() < 0.1 {
                dropped += 1;
                run[i] += 1;
                if run[i] == 3 {
                    long_gaps += 1;
                }
                continue;
            }
            run[i] = 0;
            let noisy = box_at(m, time_s, (rng.normal(0.15), rng.normal(0.15)));
            dets.push(Detection { stamp: Stamp::ZERO, bbox: noisy, class: m.class, score: 0.7 });
        }
        let tracks = tracker.update(stamp(k), &dets);
        frames.push(TrackingFrameEval { gt, tracks, dont_care: vec![] });
    }
    let report = evaluate_tracking(&frames, &TrackingConfig::default()).unwrap();
    println!(
        "{dropped} of {} detections dropped, {long_gaps} gaps of ≥ 3 frames\n{}",
        FRAMES * 5,
        report.to_markdown()
    );
    let (mota, idf1) = (report.mota.unwrap(), report.idf1.unwrap());
    assert!(mota >= 0.8, "MOTA {mota:.3}");
    assert!(idf1 >= 0.8, "IDF1 {idf1:.3}");
    assert!(report.id_switches <= long_gaps, "{} switches for {long_gaps} long gaps", report.id_switches);
    assert_eq!(report.false_positives, 0);
    assert!(report.motp_distance_m.unwrap() < 0.2, "MOTP {:?} m", report.motp_distance_m);
}
