//! `fusor detect-kitti` on the three real KITTI object frames in `../shared/data` (skipped with a
//! message when that folder is absent), and its errors on damaged input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The KITTI object training folder, `None` (with a message) when the shared data is absent.
fn kitti_dir() -> Option<PathBuf> {
    let dir = repo_root().join("../shared/data/kitti_object/training");
    if dir.join("velodyne/000002.bin").is_file() {
        Some(dir)
    } else {
        eprintln!("skipping: no KITTI object data at {}", dir.display());
        None
    }
}

fn weights(name: &str) -> PathBuf {
    repo_root().join("models").join(name)
}

fn detect_kitti(data: &Path, out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fusor"))
        .args(["detect-kitti", "--sim-frames", "0", "--weights"])
        .arg(weights("intermediate.safetensors"))
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("runs fusor")
}

fn num(v: &Value, path: &[&str]) -> f64 {
    let mut x = v;
    for k in path {
        x = &x[*k];
    }
    x.as_f64().unwrap_or_else(|| panic!("{path:?} is not a number in {v}"))
}

#[test]
fn runs_on_real_kitti_frames_with_labels_and_camera_in_base_link() {
    let Some(data) = kitti_dir() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let out = detect_kitti(&data, dir.path(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for id in ["000000", "000001", "000002"] {
        assert!(stdout.contains(&format!("### frame {id}")), "{stdout}");
        let png = dir.path().join(format!("{id}.png"));
        let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000 && size < 300_000, "{}: {size} bytes", png.display());
    }
    let report = std::fs::read_to_string(dir.path().join("report.md")).expect("report.md");
    assert!(report.contains("| Pedestrian | pedestrian |") && report.contains("000000.png"), "{report}");
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("frames.json")).expect("frames.json"))
            .expect("json");
    let frames = run["frames"].as_array().expect("frames");
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[0]["image_size"], serde_json::json!([1224, 370]), "000000 has its own camera");
    assert_eq!(frames[1]["image_size"], serde_json::json!([1242, 375]));

    for f in frames {
        let id = f["id"].as_str().unwrap_or("?");
        // The Velodyne is 1.73 m up: in base_link the ground lies at z ≈ 0.
        let ground = num(f, &["stats", "ground_z_median_m"]);
        assert!(ground.abs() < 0.3, "frame {id}: ground at z = {ground} m in base_link");
        assert!(num(f, &["stats", "points_total"]) > 100_000.0, "frame {id}");
        assert_eq!(f["camera_used"], true, "frame {id}");
        // Every label's 3D centre, through camera_from_base_link, lands in its own 2D box.
        for l in f["labels"].as_array().expect("labels") {
            assert_eq!(l["center_px_in_bbox_2d"], true, "frame {id}: {l}");
        }
        // Finite boxes with scores in [0, 1].
        for d in f["detections"].as_array().expect("detections") {
            let score = num(d, &["score"]);
            assert!((0.0..=1.0).contains(&score), "{d}");
            for k in 0..3 {
                assert!(d["center_m"][k].as_f64().is_some_and(f64::is_finite), "{d}");
                assert!(d["size_lwh_m"][k].as_f64().is_some_and(|s| s.is_finite() && s > 0.0), "{d}");
            }
        }
    }

    // 000000: the pedestrian ~9.7 m ahead, right; 377 points in its box (mmdet3d's info: 377).
    let ped = &frames[0]["labels"][0];
    assert_eq!(ped["class"], "pedestrian");
    assert_eq!(ped["scored"], true);
    let (px, py) = (ped["center_m"][0].as_f64().unwrap_or(f64::NAN), ped["center_m"][1].as_f64().unwrap_or(f64::NAN));
    assert!((9.0..10.5).contains(&px) && (-2.5..-1.0).contains(&py), "pedestrian at {px}, {py}");
    assert!(num(ped, &["points_inside"]) > 300.0, "{ped}");
    // 000002: the car ~35 m ahead has > 50 points, and the Misc object at 10 m over 1 000.
    let labels2 = frames[2]["labels"].as_array().expect("labels");
    let car = labels2.iter().find(|l| l["type_name"] == "Car").expect("car in 000002");
    assert_eq!(car["scored"], true);
    assert!(num(car, &["points_inside"]) > 50.0, "{car}");
    let misc = labels2.iter().find(|l| l["type_name"] == "Misc").expect("misc in 000002");
    assert_eq!(misc["scored"], false);
    assert!(num(misc, &["points_inside"]) > 1000.0, "{misc}");
    // 000001: every label is beyond the 40 m grid (car 62 m, cyclist 47 m, truck 70 m).
    for l in frames[1]["labels"].as_array().expect("labels") {
        assert_eq!(l["on_grid"], false, "{l}");
    }
}

#[test]
fn lidar_weights_and_no_camera_run_without_the_camera() {
    let Some(data) = kitti_dir() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_fusor"))
        .args(["detect-kitti", "--sim-frames", "0", "--frames", "000002", "--no-camera", "--weights"])
        .arg(weights("lidar.safetensors"))
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(dir.path())
        .output()
        .expect("runs fusor");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("frames.json")).expect("frames.json"))
            .expect("json");
    assert_eq!(run["mode"], "lidar");
    assert_eq!(run["camera"], false);
    assert_eq!(run["frames"][0]["camera_used"], false);
    assert!(dir.path().join("000002.png").is_file());
}

/// A copy of frame 000001 in a temporary folder (outside the repository), for damaging.
fn copy_frame(data: &Path, to: &Path) {
    for (sub, ext) in [("velodyne", "bin"), ("image_2", "png"), ("calib", "txt"), ("label_2", "txt")] {
        std::fs::create_dir_all(to.join(sub)).expect("mkdir");
        std::fs::copy(data.join(sub).join(format!("000001.{ext}")), to.join(sub).join(format!("000001.{ext}")))
            .expect("copy");
    }
}

fn assert_clean_error(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "should fail: {}", String::from_utf8_lossy(&out.stdout));
    assert!(!stderr.contains("panicked"), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "error should mention {n:?}: {stderr}");
    }
}

#[test]
fn truncated_velodyne_scan_is_a_clear_error() {
    let Some(data) = kitti_dir() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    copy_frame(&data, dir.path());
    let bin = dir.path().join("velodyne/000001.bin");
    let bytes = std::fs::read(&bin).expect("read");
    std::fs::write(&bin, &bytes[..bytes.len() - 5]).expect("truncate");
    let out = detect_kitti(dir.path(), &dir.path().join("out"), &["--frames", "000001"]);
    assert_clean_error(&out, &["000001.bin", "not a multiple of the 16-byte record"]);
}

#[test]
fn calibration_without_r0_rect_is_a_clear_error_naming_the_key() {
    let Some(data) = kitti_dir() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    copy_frame(&data, dir.path());
    let calib = dir.path().join("calib/000001.txt");
    let text = std::fs::read_to_string(&calib).expect("read");
    let kept: String = text.lines().filter(|l| !l.starts_with("R0_rect")).map(|l| format!("{l}\n")).collect();
    std::fs::write(&calib, kept).expect("write");
    let out = detect_kitti(dir.path(), &dir.path().join("out"), &["--frames", "000001"]);
    assert_clean_error(&out, &["R0_rect", "000001.txt"]);
}

#[test]
fn image_of_another_size_is_a_clear_error() {
    let Some(data) = kitti_dir() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    copy_frame(&data, dir.path());
    let png = dir.path().join("image_2/000001.png");
    image::RgbImage::new(621, 188).save(&png).expect("write png");
    let out = detect_kitti(dir.path(), &dir.path().join("out"), &["--frames", "000001"]);
    assert_clean_error(&out, &["000001.png", "621 × 188", "does not belong to this calibration"]);
    // Not a PNG at all.
    std::fs::write(&png, b"not an image").expect("write");
    let out = detect_kitti(dir.path(), &dir.path().join("out"), &["--frames", "000001"]);
    assert_clean_error(&out, &["000001.png"]);
}
