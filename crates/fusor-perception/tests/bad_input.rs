//! Bad and adversarial input: no panic, bounded work, every drop counted in `Stats`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

use fusor_core::calib::{CameraModel, Distortion};
use fusor_core::{ObjectClass, PointCloud, Stamp};
use fusor_perception::{CameraInput, Perception, PerceptionError, PerceptionParams};
use nalgebra::{Isometry3, Matrix3, Translation3, UnitQuaternion, Vector3};
use std::time::{Duration, Instant};

const GROUND_Z: f32 = -1.73;

fn detector() -> Perception {
    Perception::new(PerceptionParams::default()).unwrap()
}

/// A lidar-like ground: points on polar rings from 3 to 60 m at height `ground_z(x, y)`.
fn ground(cloud: &mut PointCloud, ground_z: impl Fn(f32, f32) -> f32) {
    let mut r = 3.0f32;
    while r < 60.0 {
        let n = (2.0 * std::f32::consts::PI * r / 0.15) as usize;
        for k in 0..n {
            let a = k as f32 / n as f32 * 2.0 * std::f32::consts::PI;
            let (x, y) = (r * a.cos(), r * a.sin());
            cloud.push(x, y, ground_z(x, y), 0.1);
        }
        r *= 1.04;
    }
}

/// The visible surface of an upright box (its four sides and top), points every 5 cm.
fn solid_box(cloud: &mut PointCloud, center: [f32; 3], size: [f32; 3]) {
    let [cx, cy, cz] = center;
    let [l, w, h] = size;
    let step = 0.05;
    let mut z = cz - h / 2.0 + 0.25;
    while z <= cz + h / 2.0 {
        let mut u = -l / 2.0;
        while u <= l / 2.0 {
            cloud.push(cx + u, cy - w / 2.0, z, 0.5);
            cloud.push(cx + u, cy + w / 2.0, z, 0.5);
            u += step;
        }
        let mut v = -w / 2.0;
        while v <= w / 2.0 {
            cloud.push(cx - l / 2.0, cy + v, z, 0.5);
            cloud.push(cx + l / 2.0, cy + v, z, 0.5);
            v += step;
        }
        z += step;
    }
}

fn cloud() -> PointCloud {
    PointCloud::with_capacity(Stamp(7), "lidar", 0)
}

#[test]
fn empty_cloud_gives_no_detections_and_zero_counts() {
    let out = detector().process(&cloud(), None).unwrap();
    assert!(out.detections.is_empty());
    assert_eq!(out.stats, Default::default());
}

#[test]
fn all_ground_cloud_gives_no_detections() {
    let mut c = cloud();
    ground(&mut c, |_, _| GROUND_Z);
    let out = detector().process(&c, None).unwrap();
    assert!(out.detections.is_empty(), "{:?}", out.detections);
    assert!(out.stats.points_ground as f64 > 0.99 * c.len() as f64, "{:?}", out.stats);
}

#[test]
fn sloped_road_with_a_curb_is_ground_and_the_car_on_it_is_found() {
    // 8 % uphill ahead, flat behind; a 15 cm curb at y > 6 m; a car 20 m ahead on the slope.
    let road = |x: f32, y: f32| GROUND_Z + 0.08 * x.max(0.0) + if y > 6.0 { 0.15 } else { 0.0 };
    let mut c = cloud();
    ground(&mut c, road);
    let ground_points = c.len();
    let car_z = road(20.0, 0.0) + 0.75;
    solid_box(&mut c, [20.0, 0.0, car_z], [4.0, 1.7, 1.5]);
    let out = detector().process(&c, None).unwrap();
    assert!(out.stats.points_ground as f64 > 0.97 * ground_points as f64, "{:?}", out.stats);
    assert_eq!(out.detections.len(), 1, "{:?}", out.detections);
    let d = &out.detections[0];
    assert_eq!(d.class, ObjectClass::Car);
    assert!((d.bbox.center.x - 20.0).abs() < 0.3 && d.bbox.center.y.abs() < 0.3, "{}", d.bbox.center);
    // The box stands on the sloped road, not on the flat plane through the sensor's feet.
    assert!((d.bbox.center.z - f64::from(car_z)).abs() < 0.3, "{} vs {car_z}", d.bbox.center.z);
}

#[test]
fn nan_and_infinite_points_are_dropped_and_counted() {
    let mut c = cloud();
    solid_box(&mut c, [10.0, 3.0, GROUND_Z + 0.85], [0.6, 0.6, 1.7]);
    let good = c.len();
    for v in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        c.push(v, 1.0, 0.0, 0.0);
        c.push(5.0, v, 0.0, 0.0);
        c.push(5.0, 1.0, v, 0.0);
    }
    let out = detector().process(&c, None).unwrap();
    assert_eq!(out.stats.points_non_finite, 9);
    assert_eq!(out.stats.points_in, good + 9);
    assert_eq!(out.detections.len(), 1);
    assert_eq!(out.detections[0].class, ObjectClass::Pedestrian);
}

#[test]
fn two_million_points_are_decimated_to_the_cap_in_bounded_time() {
    let mut c = PointCloud::with_capacity(Stamp(0), "lidar", 2_000_000);
    // A deterministic scatter over the whole annulus and a 4 m height span.
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32
    };
    for _ in 0..2_000_000 {
        let (a, r) = (next() * std::f32::consts::TAU, 3.0 + next() * 70.0);
        c.push(r * a.cos(), r * a.sin(), GROUND_Z + next() * 4.0, 0.0);
    }
    let t = Instant::now();
    let out = detector().process(&c, None).unwrap();
    let max = PerceptionParams::default().limits.max_points;
    assert_eq!(out.stats.points_capped, 2_000_000 - max);
    let processed = out.stats.points_in - out.stats.points_capped;
    assert_eq!(processed, max);
    assert!(out.detections.len() <= PerceptionParams::default().limits.max_clusters);
    // Generous bound for the unoptimised test profile on 2 shared cores.
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}

#[test]
fn points_at_the_sensor_origin_are_out_of_range_and_make_no_detection() {
    let mut c = cloud();
    for i in 0..500 {
        let e = (i % 10) as f32 * 0.01;
        c.push(e, -e, 0.0, 0.0);
        c.push(0.0, 0.0, 0.0, 0.0);
    }
    let out = detector().process(&c, None).unwrap();
    assert_eq!(out.stats.points_out_of_range, 1000);
    assert!(out.detections.is_empty());

    // With the grid reaching the origin, the blob is clustered and boxed without trouble.
    let mut params = PerceptionParams::default();
    params.ground.zone_radii_m[0] = 0.0;
    let out = Perception::new(params).unwrap().process(&c, None).unwrap();
    assert!(out.detections.iter().all(|d| d.bbox.center.iter().all(|v| v.is_finite())));
}

fn front_camera() -> CameraModel {
    CameraModel {
        width: 1242,
        height: 375,
        k: Matrix3::new(721.5, 0.0, 609.6, 0.0, 721.5, 172.9, 0.0, 0.0, 1.0),
        distortion: Distortion::None,
    }
}

/// `camera_from_lidar` for a forward-looking optical frame at the lidar (x right = −y_lidar,
/// y down = −z_lidar, z forward = x_lidar).
fn camera_from_lidar() -> Isometry3<f64> {
    let r = Matrix3::new(0.0, -1.0, 0.0, 0.0, 0.0, -1.0, 1.0, 0.0, 0.0);
    let q = UnitQuaternion::from_rotation_matrix(&nalgebra::Rotation3::from_matrix_unchecked(r));
    Isometry3::from_parts(Translation3::from(Vector3::zeros()), q)
}

#[test]
fn objects_behind_the_camera_have_no_image_region_and_are_counted() {
    let mut c = cloud();
    solid_box(&mut c, [-12.0, 1.0, GROUND_Z + 0.75], [4.0, 1.7, 1.5]);
    solid_box(&mut c, [12.0, 1.0, GROUND_Z + 0.75], [4.0, 1.7, 1.5]);
    let model = front_camera();
    let camera = CameraInput { image: None, model: &model, camera_from_cloud: camera_from_lidar() };
    let out = detector().process(&c, Some(&camera)).unwrap();
    assert_eq!(out.detections.len(), 2);
    assert_eq!(out.stats.clusters_outside_image, 1);
    let (front, back): (Vec<_>, Vec<_>) =
        out.detections.iter().zip(&out.clusters).partition(|(d, _)| d.bbox.center.x > 0.0);
    let front = front[0].1.image.as_ref().unwrap();
    let back = back[0].1.image.as_ref().unwrap();
    assert!(front.region_px.is_some() && front.fraction_in_image > 0.9, "{front:?}");
    assert_eq!((back.region_px, back.fraction_in_image), (None, 0.0));
}

#[test]
fn cluster_count_is_capped_closest_first() {
    let mut c = cloud();
    for k in 0..40 {
        solid_box(&mut c, [5.0 + k as f32 * 1.5, 4.0, GROUND_Z + 0.85], [0.5, 0.5, 1.7]);
    }
    let mut params = PerceptionParams::default();
    params.limits.max_clusters = 10;
    let out = Perception::new(params).unwrap().process(&c, None).unwrap();
    assert_eq!(out.detections.len(), 10);
    assert_eq!(out.stats.clusters_capped, 30);
    assert!(out.detections.iter().all(|d| d.bbox.center.x < 20.0));
}

#[test]
fn ragged_columns_are_an_error_not_a_panic() {
    let mut c = cloud();
    c.push(1.0, 2.0, 3.0, 0.0);
    c.z.clear();
    assert!(matches!(detector().process(&c, None), Err(PerceptionError::MalformedCloud(_))));
}

#[test]
fn every_input_point_is_accounted_for() {
    let mut c = cloud();
    ground(&mut c, |_, _| GROUND_Z);
    solid_box(&mut c, [8.0, -2.0, GROUND_Z + 0.85], [0.6, 0.6, 1.7]);
    c.push(f32::NAN, 0.0, 0.0, 0.0);
    c.push(200.0, 0.0, 0.0, 0.0);
    c.push(10.0, 0.0, 10.0, 0.0); // 11.7 m above the road: above the height cap
    let s = detector().process(&c, None).unwrap().stats;
    let sum = s.points_capped
        + s.points_non_finite
        + s.points_out_of_range
        + s.points_ground
        + s.points_above_max_height
        + s.points_clustered_input;
    assert_eq!(sum, s.points_in, "{s:?}");
    assert_eq!((s.points_non_finite, s.points_out_of_range, s.points_above_max_height), (1, 1, 1));
}
