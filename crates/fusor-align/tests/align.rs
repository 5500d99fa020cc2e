//! Alignment specifications: deskewing, pose estimation and interpolation, rig transforms.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure report

use approx::assert_relative_eq;
use fusor_align::{
    AlignConfig, Aligner, BodyTwist, Degradation, DeskewStatus, EgoPoseConfig, EgoPoseEstimator, LidarScan,
};
use fusor_core::calib::Rig;
use fusor_core::geodesy::LocalEnu;
use fusor_core::{FixStatus, FrameId, GnssFix, Imu, PointCloud, Stamp};
use fusor_runtime::sync::{PoseSample, SyncedSet};
use nalgebra::{Isometry3, Point3, Translation3, UnitQuaternion, Vector3};
use std::sync::Arc;

const SWEEP_S: f64 = 0.1;
const WALL_Y_M: f64 = 8.0;

fn at_s(s: f64) -> Stamp {
    Stamp(1_700_000_000_000_000_000 + (s * 1e9).round() as i64)
}

fn set(
    stamp: Stamp,
    cloud: PointCloud,
    base_link_from_lidar: Isometry3<f64>,
    pose: Option<PoseSample>,
) -> SyncedSet<LidarScan, fusor_align::CameraFrame> {
    SyncedSet {
        stamp,
        lidar: LidarScan {
            cloud: Arc::new(cloud),
            base_link_from_lidar: Some(base_link_from_lidar),
            ground_truth: None,
            map_origin: None,
        },
        cameras: Vec::new(),
        pose,
        missing: if pose.is_some() { Vec::new() } else { vec![fusor_runtime::sync::Modality::Pose] },
    }
}

/// A sweep of a straight wall `y = WALL_Y_M` in `map` while the ego drives at 12 m/s and turns
/// at 0.4 rad/s: each point is measured from the lidar pose at its own firing time.
fn wall_sweep(
    map_from_base_link_at_stamp: &Isometry3<f64>,
    twist: &BodyTwist,
    base_link_from_lidar: &Isometry3<f64>,
    stamp: Stamp,
) -> PointCloud {
    let mut cloud = PointCloud::with_capacity(stamp, "lidar", 2000);
    let mut offsets = Vec::new();
    for k in 0..2000 {
        let t = SWEEP_S * f64::from(k) / 2000.0;
        let map_from_lidar = map_from_base_link_at_stamp * twist.body_from_body_after(t) * base_link_from_lidar;
        // The beam sweeps the left side, from 30° to 150° in the lidar frame.
        let azimuth = (30.0 + 120.0 * f64::from(k) / 2000.0).to_radians();
        let dir = map_from_lidar.rotation * Vector3::new(azimuth.cos(), azimuth.sin(), -0.02);
        let origin = map_from_lidar.translation.vector;
        let s = (WALL_Y_M - origin.y) / dir.y;
        let point_in_map = Point3::from(origin + s * dir);
        let p = map_from_lidar.inverse() * point_in_map;
        cloud.push(p.x as f32, p.y as f32, p.z as f32, 1.0);
        offsets.push(t as f32);
    }
    cloud.time_offset_s = Some(offsets);
    cloud
}

fn wall_residual_m(frame: &fusor_align::FusedFrame, map_from_base_link: &Isometry3<f64>) -> f64 {
    let c = &frame.cloud_in_base_link;
    (0..c.len())
        .map(|i| {
            let p = map_from_base_link * Point3::new(f64::from(c.x[i]), f64::from(c.y[i]), f64::from(c.z[i]));
            (p.y - WALL_Y_M).abs()
        })
        .fold(0.0, f64::max)
}

#[test]
fn deskewing_a_static_wall_seen_while_moving_gives_a_straight_wall() {
    let twist = BodyTwist { linear_m_s: Vector3::new(12.0, 0.0, 0.0), angular_rad_s: Vector3::new(0.0, 0.0, 0.4) };
    let base_link_from_lidar =
        Isometry3::from_parts(Translation3::new(1.2, 0.0, 1.8), UnitQuaternion::from_euler_angles(0.0, 0.0, 0.05));
    let map_from_base_link_before = Isometry3::new(Vector3::new(5.0, 0.0, 0.0), Vector3::new(0.0, 0.0, 0.1));
    let map_from_base_link = map_from_base_link_before * twist.body_from_body_after(0.1);
    let (t0, t1) = (at_s(0.0), at_s(0.1));
    let cloud = wall_sweep(&map_from_base_link, &twist, &base_link_from_lidar, t1);

    let mut aligner = Aligner::new(AlignConfig::default());
    let before = PoseSample { stamp: t0, world_from_body: map_from_base_link_before };
    let now = PoseSample { stamp: t1, world_from_body: map_from_base_link };
    aligner.align(0, &set(t0, PointCloud::with_capacity(t0, "lidar", 0), base_link_from_lidar, Some(before)));
    let deskewed = aligner.align(1, &set(t1, cloud.clone(), base_link_from_lidar, Some(now)));
    assert!(matches!(deskewed.deskew, DeskewStatus::Applied { .. }), "{:?}", deskewed.deskew);

    let mut no_history = Aligner::new(AlignConfig::default());
    let raw = no_history.align(0, &set(t1, cloud, base_link_from_lidar, Some(now)));
    assert_eq!(raw.deskew, DeskewStatus::NoMotionEstimate);

    let residual_deskewed = wall_residual_m(&deskewed, &map_from_base_link);
    let residual_raw = wall_residual_m(&raw, &map_from_base_link);
    eprintln!("wall residual: deskewed {residual_deskewed:.2e} m, uncorrected {residual_raw:.3} m");
    assert!(residual_raw > 0.3, "uncorrected residual {residual_raw} m: the test scene should smear the wall");
    assert!(residual_deskewed < 1e-3, "deskewed residual {residual_deskewed} m");
    assert!(residual_deskewed * 100.0 < residual_raw);
}

fn fix_at(enu: &LocalEnu, stamp: Stamp, point_in_map: &Point3<f64>) -> GnssFix {
    let geo = enu.geodetic_from_enu(point_in_map).unwrap();
    GnssFix {
        stamp,
        frame_id: FrameId::new("gnss"),
        latitude_deg: geo.lat_deg,
        longitude_deg: geo.lon_deg,
        altitude_m: geo.alt_m,
        covariance_enu_m2: None,
        status: FixStatus::Fix,
    }
}

#[test]
fn pose_interpolation_is_exact_on_a_straight_line() {
    // 8 m/s on a heading of 30° from east, fixes at 10 Hz, antenna 0.5 m behind and 1.5 m above
    // base_link; the map origin is configured at the first fix.
    let (lat, lon, alt) = (48.7758, 9.1829, 250.0);
    let enu = LocalEnu::new(lat, lon, alt).unwrap();
    let heading = 30f64.to_radians();
    let velocity = Vector3::new(heading.cos(), heading.sin(), 0.0) * 8.0;
    let base_link_from_gnss = Isometry3::translation(-0.5, 0.0, 1.5);
    let mut estimator =
        EgoPoseEstimator::new(EgoPoseConfig { origin: Some([lat, lon, alt]), ..EgoPoseConfig::default() }).unwrap();
    estimator.set_base_link_from_gnss(base_link_from_gnss);
    let truth = |t: f64| {
        Isometry3::from_parts(Translation3::from(velocity * t), UnitQuaternion::from_euler_angles(0.0, 0.0, heading))
    };
    let mut poses = Vec::new();
    for k in 0..10 {
        let t = 0.1 * f64::from(k);
        let antenna = truth(t) * Point3::from(base_link_from_gnss.translation.vector);
        poses.extend(estimator.push_fix(&fix_at(&enu, at_s(t), &antenna)));
    }
    // The first fix has no heading yet: it is held and released with the second.
    assert_eq!(poses.len(), 10);
    for pair in poses.windows(2) {
        let mid_s = (pair[0].stamp.secs_f64() + pair[1].stamp.secs_f64()) * 0.5 - at_s(0.0).secs_f64();
        let p = pair[0].interpolate(&pair[1], at_s(mid_s));
        let expected = truth(mid_s);
        assert_relative_eq!(p.world_from_body.translation.vector, expected.translation.vector, epsilon = 1e-6);
        // Heading from the GNSS track: exact up to the geodesy round trip (nm over a 0.8 m chord).
        assert_relative_eq!(p.world_from_body.rotation.angle_to(&expected.rotation), 0.0, epsilon = 1e-7);
    }
    assert_eq!(estimator.stats().poses, 10);
}

#[test]
fn imu_orientation_sets_the_heading_and_no_fix_is_dropped_and_counted() {
    let (lat, lon, alt) = (49.0, 8.4, 110.0);
    let enu = LocalEnu::new(lat, lon, alt).unwrap();
    let mut estimator = EgoPoseEstimator::new(EgoPoseConfig::default()).unwrap();
    let yaw = -1.2;
    estimator.push_imu(&Imu {
        stamp: at_s(0.0),
        frame_id: FrameId::new("imu"),
        orientation: Some(UnitQuaternion::from_euler_angles(0.0, 0.0, yaw)),
        angular_velocity_rad_s: Vector3::zeros(),
        linear_acceleration_m_s2: Vector3::zeros(),
        angular_velocity_covariance: None,
        linear_acceleration_covariance: None,
    });
    let mut no_fix = fix_at(&enu, at_s(0.0), &Point3::origin());
    no_fix.status = FixStatus::NoFix;
    assert!(estimator.push_fix(&no_fix).is_empty());
    let poses = estimator.push_fix(&fix_at(&enu, at_s(0.01), &Point3::origin()));
    assert_eq!(poses.len(), 1, "a standing vehicle with an IMU orientation has a pose at once");
    assert_relative_eq!(poses[0].world_from_body.rotation.euler_angles().2, yaw, epsilon = 1e-12);
    assert_eq!(estimator.stats().unusable_fixes, 1);
    assert_eq!(estimator.stats().heading_imu_orientation, 1);
}

#[test]
fn points_in_base_link_match_the_rig_transform() {
    let rig = Rig::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../calibration/sim-rig.toml")).unwrap();
    let base_link_from_lidar = rig.base_link_from("lidar").unwrap();
    let mut cloud = PointCloud::with_capacity(at_s(0.0), "lidar", 3);
    for p in [[10.0f32, 0.0, 0.0], [0.0, -5.0, 1.0], [-3.0, 4.0, -1.5]] {
        cloud.push(p[0], p[1], p[2], 0.5);
    }
    let frame =
        Aligner::new(AlignConfig::default()).align(0, &set(at_s(0.0), cloud.clone(), base_link_from_lidar, None));
    assert_eq!(frame.cloud_in_base_link.frame_id.as_str(), "base_link");
    assert_eq!(frame.deskew, DeskewStatus::NoTimeOffsets);
    assert_eq!(frame.degraded, vec![Degradation::NoPose]);
    let base_link_from_lidar = rig.transform("base_link", "lidar").unwrap();
    for i in 0..cloud.len() {
        let expected = base_link_from_lidar.apply(&cloud.point(i).unwrap().cast());
        let got = frame.cloud_in_base_link.point(i).unwrap().cast::<f64>();
        assert_relative_eq!(got, expected, epsilon = 1e-5);
    }
}
