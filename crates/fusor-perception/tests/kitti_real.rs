//! The detector on real KITTI object frames (000000–000002 of the training split).
//!
//! Recall rule: see `fusor_perception::recall` (found = any detection within 2 m BEV centre
//! distance of a car label, 1 m of a pedestrian/cyclist label, or BEV IoU ≥ 0.5; labels within
//! 40 m; Van counts as Car).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

#[path = "support/kitti.rs"]
mod kitti;

use fusor_perception::recall::{match_labels, recall, RecallRule};
use fusor_perception::{CameraInput, Perception, PerceptionParams};
use nalgebra::Point3;

#[test]
fn finds_at_least_80_percent_of_labelled_objects_within_40_m() {
    let mut perception = Perception::new(PerceptionParams::default()).unwrap();
    let rule = RecallRule::default();
    let mut all = Vec::new();
    for id in kitti::FRAMES {
        let frame = kitti::load(id).unwrap();
        let camera = CameraInput::from_rig(&frame.rig, "camera_front", "lidar", Some(&frame.image)).unwrap();
        let out = perception.process(&frame.cloud, Some(&camera)).unwrap();
        let matches = match_labels(&frame.labels, &out.detections, &rule);
        println!("frame {id}: {} detections, stats {:?}", out.detections.len(), out.stats);
        for m in &matches {
            let (_, label) = &frame.labels[m.label];
            println!(
                "  {:<10} at ({:6.2}, {:6.2}) range {:5.1} m: found {} (class {}), nearest centre {:.2} m, best BEV IoU {:.2}",
                frame.label_types[m.label],
                label.center.x,
                label.center.y,
                m.range_m,
                m.found,
                m.found_with_class,
                m.nearest_center_m,
                m.best_bev_iou
            );
        }
        all.extend(matches);
    }
    let r = recall(&all);
    println!("recall {r:.2} over {} labels", all.len());
    assert!(!all.is_empty(), "no scored labels: data missing?");
    assert!(r >= 0.8, "recall {r:.2} < 0.8");
}

#[test]
fn ground_removal_keeps_objects_and_removes_the_road() {
    let mut perception = Perception::new(PerceptionParams::default()).unwrap();
    let mut totals = (0usize, 0usize);
    for id in kitti::FRAMES {
        let frame = kitti::load(id).unwrap();
        perception.process(&frame.cloud, None).unwrap();
        let (x, y, z) = perception.sanitised_points();
        let labels = perception.last_ground_labels();
        // Points inside labelled boxes (above their bottom 0.25 m, which touches the road).
        let (mut inside, mut inside_non_ground) = (0usize, 0usize);
        // Road near the car: within 15 m, below z = −1.5 m (the lidar is 1.73 m up), outside boxes.
        let (mut road, mut road_ground) = (0usize, 0usize);
        for i in 0..x.len() {
            let p = Point3::new(f64::from(x[i]), f64::from(y[i]), f64::from(z[i]));
            let in_box = frame.labels.iter().any(|(_, b)| b.contains(&p) && p.z > b.center.z - b.size.z / 2.0 + 0.25);
            if in_box {
                inside += 1;
                inside_non_ground += usize::from(!labels.is_ground[i]);
            } else if z[i] < -1.5 && x[i].hypot(y[i]) < 15.0 {
                road += 1;
                road_ground += usize::from(labels.is_ground[i]);
            }
        }
        for (k, (_, b)) in frame.labels.iter().enumerate() {
            let (mut n, mut ng) = (0, 0);
            for i in 0..x.len() {
                let p = Point3::new(f64::from(x[i]), f64::from(y[i]), f64::from(z[i]));
                if b.contains(&p) && p.z > b.center.z - b.size.z / 2.0 + 0.25 {
                    n += 1;
                    ng += usize::from(!labels.is_ground[i]);
                }
            }
            println!("  {} at {:.1} m: {ng}/{n} non-ground", frame.label_types[k], b.center.x.hypot(b.center.y));
        }
        let kept = inside_non_ground as f64 / inside.max(1) as f64;
        let removed = road_ground as f64 / road.max(1) as f64;
        println!("frame {id}: {inside} object points, {kept:.3} kept; {road} road points, {removed:.3} removed");
        assert!(road > 1000, "too few road points to judge");
        assert!(removed >= 0.9, "frame {id}: only {removed:.3} of road points removed");
        totals.0 += inside;
        totals.1 += inside_non_ground;
    }
    // Pooled: frame 000001's labels are 46–70 m away with a few dozen points each.
    let kept = totals.1 as f64 / totals.0.max(1) as f64;
    println!("all frames: {} object points, {kept:.3} kept as non-ground", totals.0);
    assert!(totals.0 > 300, "too few object points to judge");
    assert!(kept >= 0.9, "only {kept:.3} of object points kept as non-ground");
}
