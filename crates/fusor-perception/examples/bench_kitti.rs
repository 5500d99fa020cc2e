//! Runs the geometric detector on the KITTI object frames 000000–000002 and prints, as one JSON
//! object: the parameters shared with the Open3D/PCL comparison, per-stage times on frame 000001
//! (median of `--runs` warm runs, milliseconds, camera association excluded as in the peers),
//! recall under the crate's rule (see `fusor_perception::recall`), and each frame's boxes
//! (`[cx, cy, cz, length, width, height, yaw]`, metres and radians, `lidar` frame).
//!
//! `cargo run --release -p fusor-perception --example bench_kitti [-- --runs 50]`
//! Data: `$FUSOR_DATA/kitti_object/training` or `../shared/data/kitti_object/training`.

#[path = "../tests/support/kitti.rs"]
mod kitti;

use fusor_perception::recall::{match_labels, recall, RecallRule};
use fusor_perception::{CameraInput, Perception, PerceptionParams, StageTimes};
use serde_json::json;
use std::process::ExitCode;

fn median_ms(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(50)
        .max(1);
    let params = PerceptionParams::default();
    let mut perception = match Perception::new(params.clone()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let rule = RecallRule::default();
    let mut all = Vec::new();
    let mut per_object = Vec::new();
    let mut timing = None;
    let mut frames = Vec::new();
    for id in kitti::FRAMES {
        let frame = match kitti::load(id) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        if id == "000001" {
            let mut times: Vec<StageTimes> = Vec::with_capacity(runs);
            for _ in 0..runs + 3 {
                match perception.process(&frame.cloud, None) {
                    Ok(out) => times.push(out.times),
                    Err(e) => {
                        eprintln!("{e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            let t = &times[3..];
            let ms = |f: fn(&StageTimes) -> std::time::Duration| {
                median_ms(t.iter().map(|s| f(s).as_secs_f64() * 1e3).collect())
            };
            timing = Some(json!({
                "points": frame.cloud.len(),
                "sanitise_ms": ms(|s| s.sanitise),
                "ground_ms": ms(|s| s.ground),
                "voxel_ms": ms(|s| s.voxel),
                "cluster_ms": ms(|s| s.cluster),
                "boxes_ms": ms(|s| s.boxes),
                "total_ms": ms(|s| s.total),
            }));
        }
        let camera = match CameraInput::from_rig(&frame.rig, "camera_front", "lidar", Some(&frame.image)) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        let out = match perception.process(&frame.cloud, Some(&camera)) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        let boxes: Vec<[f64; 7]> = out
            .detections
            .iter()
            .map(|d| {
                let b = &d.bbox;
                [b.center.x, b.center.y, b.center.z, b.size.x, b.size.y, b.size.z, b.yaw_rad]
            })
            .collect();
        frames.push(json!({ "id": id, "boxes": boxes }));
        let matches = match_labels(&frame.labels, &out.detections, &rule);
        for m in &matches {
            per_object.push(json!({
                "frame": id,
                "type": frame.label_types[m.label],
                "range_m": m.range_m,
                "found": m.found,
                "found_with_class": m.found_with_class,
                "nearest_center_m": m.nearest_center_m,
                "best_bev_iou": m.best_bev_iou,
            }));
        }
        all.extend(matches);
    }
    let report = json!({
        "tool": "fusor",
        "threads": rayon::current_num_threads(),
        "params": {
            "voxel_leaf_m": params.voxel.leaf_m,
            "ground_distance_m": params.ground.distance_threshold_m,
            "cluster_tolerance_m": params.cluster.tolerance_m,
            "cluster_min_points": params.cluster.min_points,
            "cluster_max_points": params.cluster.max_points,
            "min_range_m": params.ground.zone_radii_m.first(),
            "max_range_m": params.ground.zone_radii_m.last(),
            "max_height_above_ground_m": params.voxel.max_height_above_ground_m,
        },
        "timing_frame": "000001",
        "runs": runs,
        "timing": timing,
        "recall": recall(&all),
        "labels": all.len(),
        "objects": per_object,
        "frames": frames,
    });
    println!("{report}");
    ExitCode::SUCCESS
}
