//! Real KITTI object labels (shared/data/kitti_object, frames 000000–000002) evaluated against
//! themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use common::data_dir;
use fusor_core::calib::kitti::{import_kitti_object_calib, load_kitti_labels};
use fusor_core::{Detection, ObjectClass, Stamp};
use fusor_eval::kitti::{ground_truth_from_kitti, image_from_frame, kitti_dont_care_regions};
use fusor_eval::{evaluate_detections, BoxMetric, DetectionConfig, Difficulty, FrameEval};

/// `image_2` sizes: 000000 comes from another recording day (README section 1).
const FRAMES: [(&str, [u32; 2]); 3] = [("000000", [1224, 370]), ("000001", [1242, 375]), ("000002", [1242, 375])];

fn kitti_frames() -> Vec<FrameEval> {
    let dir = data_dir().join("kitti_object/training");
    FRAMES
        .iter()
        .map(|(name, size)| {
            let rig = import_kitti_object_calib(dir.join(format!("calib/{name}.txt")), *size).unwrap();
            let labels = load_kitti_labels(dir.join(format!("label_2/{name}.txt"))).unwrap();
            let gt: Vec<_> =
                labels.objects.iter().map(|o| ground_truth_from_kitti(o, &rig, "lidar").unwrap()).collect();
            // A perfect detector reports every labelled object, ignored ones included.
            let dets = gt
                .iter()
                .map(|g| Detection { stamp: Stamp::ZERO, bbox: g.bbox.clone(), class: g.class, score: 0.9 })
                .collect();
            let text = std::fs::read_to_string(dir.join(format!("label_2/{name}.txt"))).unwrap();
            let dont_care = kitti_dont_care_regions(&text, image_from_frame(&rig, "lidar").unwrap());
            FrameEval { gt, dets, dont_care }
        })
        .collect()
}

#[test]
fn kitti_object_labels_against_themselves_score_ap_one_for_each_present_class() {
    let frames = kitti_frames();
    let report = evaluate_detections(&frames, &DetectionConfig::default()).unwrap();
    let mut scored_classes = Vec::new();
    for class in ObjectClass::SCORED {
        let c = report.class(class).unwrap();
        for k in &c.kitti {
            assert_eq!(k.counts.fp, 0, "{class} {:?} {:?}", k.metric, k.difficulty);
            if k.counts.num_gt > 0 {
                assert_eq!(k.ap_r40, Some(1.0), "{class} {:?} {:?}", k.metric, k.difficulty);
            } else {
                assert_eq!(k.ap_r40, None);
            }
        }
        if c.kitti_ap(BoxMetric::ThreeD, Some(Difficulty::Hard)).is_some() {
            scored_classes.push(class);
        }
    }
    // 000000 holds a pedestrian, 000001 a car and a cyclist, 000002 a car (README section 1). The
    // 000001 car (22 px tall) and cyclist (occlusion 3, "unknown") are harder than Hard, so the
    // devkit ignores them: only the 000002 car and the pedestrian are scored.
    assert_eq!(scored_classes, vec![ObjectClass::Car, ObjectClass::Pedestrian], "{}", report.to_markdown());
    let cyclists: Vec<_> = frames.iter().flat_map(|f| &f.gt).filter(|g| g.class == ObjectClass::Cyclist).collect();
    assert_eq!(cyclists.len(), 1);
    assert!(cyclists[0].ignore && cyclists[0].difficulty.is_none());
    // The cyclist detection is absorbed by its ignored label, not counted as a false positive.
    let cyclist_bev = &report.class(ObjectClass::Cyclist).unwrap().kitti[0];
    assert_eq!((cyclist_bev.counts.ignored, cyclist_bev.counts.fp), (1, 0));
}

#[test]
fn kitti_truck_and_misc_are_not_scored_and_dont_care_regions_are_kept() {
    let frames = kitti_frames();
    let regions: Vec<usize> = frames.iter().map(|f| f.dont_care.len()).collect();
    assert_eq!(regions, [0, 4, 0]);
    let others = frames.iter().flat_map(|f| &f.gt).filter(|g| g.class == ObjectClass::Other).count();
    assert_eq!(others, 2, "000001 has a truck, 000002 a misc");
}
