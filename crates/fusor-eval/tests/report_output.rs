//! Markdown, JSON and PNG output of the reports.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

mod common;

use common::{car_at, det, gt, track};
use fusor_core::ObjectClass::{Car, Pedestrian};
use fusor_eval::{
    error_breakdown, evaluate_detections, evaluate_tracking, BoxMetric, DetectionConfig, DetectionReport,
    ErrorBreakdown, FrameEval, TrackingConfig, TrackingFrameEval,
};

fn report() -> DetectionReport {
    let frames: Vec<FrameEval> = (0..4)
        .map(|i| {
            let truth = car_at(10.0 + 5.0 * i as f64, 0.0);
            let shifted = car_at(10.5 + 5.0 * i as f64, 0.0);
            let dets = vec![
                det(if i % 2 == 0 { truth.clone() } else { shifted }, Car, 0.9 - 0.1 * i as f32),
                det(car_at(80.0, 0.0), Car, 0.3),
            ];
            FrameEval { gt: vec![gt(truth, Car)], dets, dont_care: vec![] }
        })
        .collect();
    evaluate_detections(&frames, &DetectionConfig::default()).unwrap()
}

#[test]
fn detection_markdown_has_a_row_per_class_metric_and_level() {
    let md = report().to_markdown();
    assert!(md.contains("| car | BEV | 0.7 | all | 4 | 8 |"), "{md}");
    assert!(md.contains("| car | 3D |"), "{md}");
    assert!(md.contains("| pedestrian | BEV | 0.5 | all | 0 | 0 | 0 | 0 | 0 | — |"), "{md}");
    assert!(md.contains("AP@0.5 m"), "{md}");
}

#[test]
fn detection_json_round_trips_to_the_same_counts_and_aps() {
    // serde_json's default float parsing may differ from the written value in the last bit, so
    // numbers are compared within 1e-12.
    let r = report();
    let back: DetectionReport = serde_json::from_str(&r.to_json().unwrap()).unwrap();
    assert_eq!((back.num_frames, &back.config), (r.num_frames, &r.config));
    for (b, c) in back.classes.iter().zip(&r.classes) {
        for (kb, kc) in b.kitti.iter().zip(&c.kitti) {
            assert_eq!((kb.counts, kb.ap_r40, kb.curve.len()), (kc.counts, kc.ap_r40, kc.curve.len()));
        }
        for (db, dc) in b.center_distance.iter().zip(&c.center_distance) {
            assert_eq!(db.counts, dc.counts);
            assert!((db.ap.unwrap_or(-1.0) - dc.ap.unwrap_or(-1.0)).abs() < 1e-12);
        }
    }
}

#[test]
fn pr_plots_are_written_as_png_per_scored_class() {
    let dir = tempfile::tempdir().unwrap();
    let written = report().write_pr_plots(dir.path()).unwrap();
    let names: Vec<String> = written.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["pr_car_kitti.png", "pr_car_center_distance.png"]);
    for path in &written {
        let bytes = std::fs::read(path).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{}", path.display());
        assert!(bytes.len() > 5_000, "{} is suspiciously small", path.display());
    }
    if let Some(out) = std::env::var_os("FUSOR_EVAL_PLOT_DIR") {
        for path in &written {
            std::fs::copy(path, std::path::Path::new(&out).join(path.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn the_error_breakdown_plot_is_a_png_with_a_bar_per_row() {
    let frames = [FrameEval {
        gt: vec![gt(car_at(10.0, 0.0), Car), gt(car_at(30.0, 0.0), Car)],
        dets: vec![det(car_at(50.0, 0.0), Car, 0.9), det(car_at(10.0, 0.0), Car, 0.8)],
        dont_care: vec![],
    }];
    let b = error_breakdown(&frames, &DetectionConfig::default(), Car, BoxMetric::Bev).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rows = |n: usize| (0..n).map(|k| (format!("model {k}"), b.clone())).collect::<Vec<_>>();
    let (one, three) = (dir.path().join("one.png"), dir.path().join("three.png"));
    ErrorBreakdown::write_plot(&one, &rows(1)).unwrap();
    ErrorBreakdown::write_plot(&three, &rows(3)).unwrap();
    let png = |p: &std::path::Path| image::open(p).unwrap().to_rgb8();
    let (one, three) = (png(&one), png(&three));
    // 26 px per bar.
    assert_eq!((one.width(), three.height() - one.height()), (1200, 52));
    // A bar of the AP colour (tab:blue) on the first row.
    assert!(one.pixels().any(|p| p.0 == [31, 119, 180]));
    // Fixing the background box (precision 1/2 -> 1 at recall 1/2) is drawn in its colour.
    assert!(one.pixels().any(|p| p.0 == [140, 86, 75]), "background bar");
}

#[test]
fn tracking_markdown_and_json_carry_the_metrics() {
    let frames = vec![TrackingFrameEval {
        gt: vec![gt(car_at(5.0, 0.0), Car).with_track_id(1), gt(car_at(15.0, 0.0), Pedestrian).with_track_id(2)],
        tracks: vec![track(7, car_at(5.0, 0.0), Car)],
        dont_care: vec![],
    }];
    let r = evaluate_tracking(&frames, &TrackingConfig::default()).unwrap();
    let md = r.to_markdown();
    assert!(md.contains("| 2 | 1 | 2 | 1 | 1 | 1 | 0 | 0 | 0.5000 |"), "{md}");
    let json: serde_json::Value = serde_json::from_str(&r.to_json().unwrap()).unwrap();
    assert_eq!(json["mota"], 0.5);
    assert_eq!(json["id_switches"], 0);
}
