//! Rig calibration against real KITTI and nuScenes data.
//!
//! Data: `$FUSOR_DATA`, else `<CARGO_MANIFEST_DIR>/../../../shared/data` (see its README). When
//! the data is absent these tests print a note and pass, so the crate still tests without it.

// Test helpers outside `#[test]` fns: a panic is the failure report here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fusor_core::calib::kitti::{
    import_kitti_object_calib, import_kitti_raw_calib, load_kitti_labels, KittiCalib, CAMERA_FRONT, LIDAR,
};
use fusor_core::calib::nuscenes::{camera_frame, import_nuscenes_sample, lidar2cam_at_capture};
use fusor_core::calib::Rig;
use fusor_core::{CoreError, PointCloud, Stamp};
use nalgebra::{Matrix3, Matrix4, Point2, Point3};
use std::path::{Path, PathBuf};

fn data_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("FUSOR_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    // The shared data is part of the test environment (CI has it): missing data is a failure,
    // never a silent skip.
    assert!(dir.join("kitti_object").is_dir(), "no test data at {} (set FUSOR_DATA)", dir.display());
    Some(dir)
}

/// `[width, height]` from a PNG's IHDR chunk.
fn png_size(path: &Path) -> [u32; 2] {
    let bytes = std::fs::read(path).unwrap();
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!(&bytes[12..16], b"IHDR");
    [be(16), be(20)]
}

fn object_rig(data: &Path, frame: &str) -> (KittiCalib, Rig) {
    let size = png_size(&data.join(format!("kitti_object/training/image_2/{frame}.png")));
    let path = data.join(format!("kitti_object/training/calib/{frame}.txt"));
    (KittiCalib::load_object(&path, size).unwrap(), import_kitti_object_calib(&path, size).unwrap())
}

/// The KITTI devkit formula, from the raw matrices: `P2 · R0_rect(4×4) · Tr_velo_to_cam(4×4)`.
fn devkit_p2_from_velo(c: &KittiCalib) -> nalgebra::Matrix3x4<f64> {
    let mut rect = Matrix4::identity();
    rect.fixed_view_mut::<3, 3>(0, 0).copy_from(&c.r0_rect);
    let mut velo = Matrix4::identity();
    velo.fixed_view_mut::<3, 4>(0, 0).copy_from(&c.tr_velo_to_cam);
    c.p2 * rect * velo
}

#[test]
fn velodyne_points_project_like_the_devkit_formula_within_a_thousandth_of_a_pixel() {
    let Some(data) = data_dir() else { return };
    for frame in ["000000", "000001"] {
        let (calib, rig) = object_rig(&data, frame);
        let p = devkit_p2_from_velo(&calib);
        let camera_from_lidar = rig.transform(CAMERA_FRONT, LIDAR).unwrap();
        let camera = rig.camera(CAMERA_FRONT).unwrap();
        let bytes = std::fs::read(data.join(format!("kitti_object/training/velodyne/{frame}.bin"))).unwrap();
        let cloud = PointCloud::from_f32_records(&bytes, 4, Stamp::ZERO, LIDAR).unwrap();
        let (w, h) = (f64::from(camera.width), f64::from(camera.height));
        let (mut in_image, mut ahead) = (0usize, 0usize);
        let (mut max_err_in_image, mut max_err_near_image, mut max_err_ahead) = (0.0f64, 0.0f64, 0.0f64);
        for i in 0..cloud.len() {
            let x = cloud.point(i).unwrap().cast::<f64>();
            let hom = p * x.to_homogeneous();
            if hom.z <= 1e-3 {
                continue;
            }
            ahead += 1;
            let devkit = Point2::new(hom.x / hom.z, hom.y / hom.z);
            let pixel = camera.project(&camera_from_lidar.apply(&x)).unwrap();
            let err = (pixel - devkit).norm();
            max_err_ahead = max_err_ahead.max(err);
            if camera.contains(&devkit) {
                in_image += 1;
                max_err_in_image = max_err_in_image.max(err);
            }
            // Within one image size around the image. Further out, at grazing angles, the
            // ~1e-7 non-orthonormality of the printed KITTI rotations grows past 1e-3 px.
            if (-w..2.0 * w).contains(&devkit.x) && (-h..2.0 * h).contains(&devkit.y) {
                max_err_near_image = max_err_near_image.max(err);
            }
        }
        println!(
            "{frame}: {in_image} of {ahead} points ahead land in the image, max error {max_err_in_image:.2e} px; \
             within one image size around it {max_err_near_image:.2e} px; any point ahead {max_err_ahead:.2e} px"
        );
        assert!(in_image > 15_000, "{in_image}");
        assert!(max_err_in_image < 1e-3, "{max_err_in_image}");
        assert!(max_err_near_image < 1e-3, "{max_err_near_image}");
    }
}

fn iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
}

#[test]
fn labelled_3d_boxes_project_onto_their_2d_boxes() {
    let Some(data) = data_dir() else { return };
    let mut ious = Vec::new();
    for frame in ["000000", "000001", "000002"] {
        let (_, rig) = object_rig(&data, frame);
        let labels = load_kitti_labels(data.join(format!("kitti_object/training/label_2/{frame}.txt"))).unwrap();
        let camera_from_lidar = rig.transform(CAMERA_FRONT, LIDAR).unwrap();
        let camera = rig.camera(CAMERA_FRONT).unwrap();
        let (w, h) = (f64::from(camera.width) - 1.0, f64::from(camera.height) - 1.0);
        for object in &labels.objects {
            // Through the calibration: label → geometric-centre box in `lidar` → camera_front.
            let b = object.box_in(&rig, LIDAR).unwrap();
            let pixels: Vec<Point2<f64>> =
                b.corners().iter().map(|c| camera.project(&camera_from_lidar.apply(c)).unwrap()).collect();
            let hull = [
                pixels.iter().map(|p| p.x).fold(f64::INFINITY, f64::min).clamp(0.0, w),
                pixels.iter().map(|p| p.y).fold(f64::INFINITY, f64::min).clamp(0.0, h),
                pixels.iter().map(|p| p.x).fold(f64::NEG_INFINITY, f64::max).clamp(0.0, w),
                pixels.iter().map(|p| p.y).fold(f64::NEG_INFINITY, f64::max).clamp(0.0, h),
            ];
            let v = iou(hull, object.bbox_2d);
            println!("{frame} {:<10} IoU {v:.3}", object.type_name);
            assert!(v >= 0.85, "{frame} {}: IoU {v:.3}, hull {hull:?} vs {:?}", object.type_name, object.bbox_2d);
            ious.push(v);
        }
        if frame == "000001" {
            assert_eq!((labels.objects.len(), labels.dont_care), (3, 4));
        }
    }
    let min = ious.iter().copied().fold(f64::INFINITY, f64::min);
    let mean = ious.iter().sum::<f64>() / ious.len() as f64;
    println!("{} boxes: IoU min {min:.3}, mean {mean:.3}", ious.len());
    assert_eq!(ious.len(), 6);
}

#[test]
fn raw_day_calibration_equals_object_calibration_of_the_same_day() {
    let Some(data) = data_dir() else { return };
    let raw = import_kitti_raw_calib(data.join("kitti_raw/2011_09_26")).unwrap();
    let (_, object) = object_rig(&data, "000001");
    for (target, source) in [(CAMERA_FRONT, LIDAR), (LIDAR, "imu"), ("camera_gray_left", LIDAR)] {
        let a = raw.transform(target, source).unwrap().target_from_source.to_homogeneous();
        let b = object.transform(target, source).unwrap().target_from_source.to_homogeneous();
        assert!((a - b).abs().max() < 1e-9, "{target}_from_{source}: {}", (a - b).abs().max());
    }
    assert_eq!(raw.camera(CAMERA_FRONT), object.camera(CAMERA_FRONT));
    assert_eq!(raw.name, "kitti-2011-09-26");
}

#[test]
fn committed_kitti_rig_matches_a_fresh_import() {
    let committed_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../calibration/kitti-2011-09-26.toml");
    let committed = Rig::load(&committed_path).unwrap();
    let Some(data) = data_dir() else { return };
    let fresh = import_kitti_raw_calib(data.join("kitti_raw/2011_09_26")).unwrap();
    assert_eq!(committed.name, fresh.name);
    assert_eq!(committed.sensors.keys().collect::<Vec<_>>(), fresh.sensors.keys().collect::<Vec<_>>());
    for (name, s) in &fresh.sensors {
        let c = &committed.sensors[name];
        assert_eq!(c.frame_id, s.frame_id, "{name}");
        assert_eq!(c.kind, s.kind, "{name}");
        let d = (c.base_link_from_sensor.to_homogeneous() - s.base_link_from_sensor.to_homogeneous()).abs().max();
        assert!(d < 1e-12, "{name} drifted by {d}: rerun the import_kitti_calib example");
    }
}

#[test]
fn truncated_or_corrupted_kitti_calib_names_the_key() {
    let Some(data) = data_dir() else { return };
    let text = std::fs::read_to_string(data.join("kitti_object/training/calib/000001.txt")).unwrap();
    let dir = std::env::temp_dir().join(format!("fusor-calib-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_of = |contents: &str, name: &str| {
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        match import_kitti_object_calib(&path, [1242, 375]) {
            Err(CoreError::Calibration { key, path: p, .. }) => {
                assert_eq!(p, path);
                key
            }
            other => panic!("expected a calibration error, got {other:?}"),
        }
    };
    // Cut in the middle of P2.
    let cut = text.find("P2:").unwrap() + 60;
    assert_eq!(key_of(&text[..cut], "truncated.txt"), "P2");
    // A byte flipped in Tr_velo_to_cam.
    assert_eq!(
        key_of(&text.replacen("-7.631618000000e-02", "-7.63l618000000e-02", 1), "corrupt.txt"),
        "Tr_velo_to_cam"
    );
    // A line dropped.
    let dropped: String =
        text.lines().filter(|l| !l.starts_with("Tr_imu_to_velo")).map(|l| l.to_owned() + "\n").collect();
    assert_eq!(key_of(&dropped, "dropped.txt"), "Tr_imu_to_velo");

    // A raw day whose velo→cam translation lost a number.
    let day = dir.join("2011_09_26");
    std::fs::create_dir_all(&day).unwrap();
    for f in ["calib_cam_to_cam.txt", "calib_imu_to_velo.txt"] {
        std::fs::copy(data.join("kitti_raw/2011_09_26").join(f), day.join(f)).unwrap();
    }
    let velo = std::fs::read_to_string(data.join("kitti_raw/2011_09_26/calib_velo_to_cam.txt")).unwrap();
    std::fs::write(day.join("calib_velo_to_cam.txt"), velo.replace(" -2.717806e-01", "")).unwrap();
    match import_kitti_raw_calib(&day) {
        Err(CoreError::Calibration { key, path, .. }) => {
            assert_eq!(key, "T");
            assert!(path.ends_with("calib_velo_to_cam.txt"), "{}", path.display());
        }
        other => panic!("expected a calibration error, got {other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn nuscenes_json(data: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(data.join("nuscenes_sample/sample_info.json")).unwrap()).unwrap()
}

fn rows(v: &serde_json::Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()).collect()
}

#[test]
fn nuscenes_rig_round_trips_cam2img_and_extrinsics() {
    let Some(data) = data_dir() else { return };
    let rig = import_nuscenes_sample(data.join("nuscenes_sample/sample_info.json")).unwrap();
    let json = nuscenes_json(&data);
    assert_eq!(rig.sensors.len(), 7);
    let lidar2ego = rows(&json["lidar"]["lidar2ego"]);
    let base_link_from_lidar = rig.base_link_from("lidar").unwrap().to_homogeneous();
    for (r, row) in lidar2ego.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            assert!((base_link_from_lidar[(r, c)] - v).abs() < 1e-6);
        }
    }
    for (channel, cam) in json["cameras"].as_object().unwrap() {
        let frame = camera_frame(channel);
        let model = rig.camera(&frame).unwrap();
        let k = Matrix3::from_fn(|r, c| rows(&cam["cam2img"])[r][c]);
        assert_eq!(model.k, k, "{channel}");
        assert_eq!((model.width, model.height), (1600, 900));
        let cam2ego = rows(&cam["cam2ego"]);
        let m = rig.base_link_from(&frame).unwrap().to_homogeneous();
        for (r, row) in cam2ego.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                assert!((m[(r, c)] - v).abs() < 1e-6, "{channel} [{r}][{c}]");
            }
        }
        // The static camera_from_lidar differs from the sample's lidar2cam only by the ego motion
        // between the two timestamps (≤ 43 ms at ≤ 10 m/s).
        let static_from_lidar = rig.transform(&frame, "lidar").unwrap().target_from_source;
        let at_capture = &lidar2cam_at_capture(data.join("nuscenes_sample/sample_info.json")).unwrap()[&frame];
        let d = static_from_lidar.inverse() * at_capture.target_from_source;
        println!("{channel}: static vs lidar2cam: {:.3} m, {:.4} rad", d.translation.vector.norm(), d.rotation.angle());
        assert!(d.translation.vector.norm() < 0.5 && d.rotation.angle() < 0.01);
    }
}

#[test]
fn nuscenes_box_centres_project_onto_center_2d() {
    let Some(data) = data_dir() else { return };
    let path = data.join("nuscenes_sample/sample_info.json");
    let rig = import_nuscenes_sample(&path).unwrap();
    let at_capture = lidar2cam_at_capture(&path).unwrap();
    let json = nuscenes_json(&data);
    let lidar_centres: Vec<Point3<f64>> = json["lidar_instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let v: Vec<f64> = b["bbox_3d"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
            Point3::new(v[0], v[1], v[2])
        })
        .collect();
    let (mut n, mut max_k_err, mut max_static_err) = (0, 0.0f64, 0.0f64);
    for (channel, instances) in json["camera_instances"].as_object().unwrap() {
        let frame = camera_frame(channel);
        let camera = rig.camera(&frame).unwrap();
        let camera_from_lidar = &at_capture[&frame];
        let static_from_lidar = rig.transform(&frame, "lidar").unwrap();
        for inst in instances.as_array().unwrap() {
            let b: Vec<f64> = inst["bbox_3d"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
            let c2d: Vec<f64> = inst["center_2d"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
            let expected = Point2::new(c2d[0], c2d[1]);
            let centre_in_camera = Point3::new(b[0], b[1], b[2]);
            // The rig's K reproduces the sample's projection.
            max_k_err = max_k_err.max((camera.project(&centre_in_camera).unwrap() - expected).norm());
            // The camera box is a lidar box seen through lidar2cam.
            let lidar_centre = lidar_centres
                .iter()
                .find(|c| (camera_from_lidar.apply(c) - centre_in_camera).norm() < 1e-3)
                .expect("every camera box comes from a lidar box");
            // Through the static calibration the centre lands near center_2d (ego motion aside).
            if let Some(px) = camera.project(&static_from_lidar.apply(lidar_centre)) {
                max_static_err = max_static_err.max((px - expected).norm());
            }
            n += 1;
        }
    }
    println!("{n} camera boxes: K error max {max_k_err:.2e} px; static-rig centre error max {max_static_err:.1} px");
    assert_eq!(n, 84);
    assert!(max_k_err < 1e-2, "{max_k_err}");
    assert!(max_static_err < 60.0, "{max_static_err}");
}
