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
    let before = PoseSample::new(t0, map_from_base_link_before);
    let now = PoseSample::new(t1, map_from_base_link);
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

/// A deterministic normal sample (Box–Muller on a 64-bit LCG).
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn gauss(&mut self) -> f64 {
        (-2.0 * self.uniform().ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
    }
}

/// A car turning at 0.15 rad/s while its speed swings between 4 and 12 m/s, with an IMU at
/// 100 Hz (specific force with gravity, rates; no orientation) and fixes at 10 Hz with σ 0.3 m
/// horizontally and 0.45 m vertically. Returns the RMS error (m/s, °/s) of the twist between
/// poses interpolated at 10 Hz lidar stamps (what the aligner deskews with), after 3 s.
fn twist_errors(config: EgoPoseConfig) -> (f64, f64) {
    let (lat, lon, alt) = (49.0, 8.4, 110.0);
    let enu = LocalEnu::new(lat, lon, alt).unwrap();
    let mut estimator = EgoPoseEstimator::new(EgoPoseConfig { origin: Some([lat, lon, alt]), ..config }).unwrap();
    let base_link_from_gnss = Isometry3::translation(0.3, 0.0, 1.6);
    estimator.set_base_link_from_gnss(base_link_from_gnss);
    let yaw_rate = 0.15;
    let speed = |t: f64| 8.0 + 4.0 * (t * 0.8).sin();
    let accel = |t: f64| 3.2 * (t * 0.8).cos();
    // Integrate the path finely.
    let dt = 0.001;
    let mut truth: Vec<(f64, Isometry3<f64>)> = Vec::new();
    let (mut x, mut y, mut yaw) = (0.0, 0.0, 0.3);
    for k in 0..=12_000 {
        let t = f64::from(k) * dt;
        truth.push((
            t,
            Isometry3::from_parts(Translation3::new(x, y, 0.0), UnitQuaternion::from_euler_angles(0.0, 0.0, yaw)),
        ));
        x += speed(t) * yaw.cos() * dt;
        y += speed(t) * yaw.sin() * dt;
        yaw += yaw_rate * dt;
    }
    let pose_at = |t: f64| truth[(t / dt).round() as usize].1;
    let mut noise = Noise(11);
    let mut poses: Vec<PoseSample> = Vec::new();
    for k in 0..=1_200 {
        let t = f64::from(k) * 0.01;
        // Specific force in base_link: forward acceleration, centripetal v·ω to the left, and the
        // reaction to gravity, plus 0.03 m/s² of noise.
        let force =
            Vector3::new(accel(t), speed(t) * yaw_rate, 9.80665) + Vector3::from_fn(|_, _| 0.03 * noise.gauss());
        estimator.push_imu(&Imu {
            stamp: at_s(t),
            frame_id: FrameId::new("imu"),
            orientation: None,
            angular_velocity_rad_s: Vector3::new(0.0, 0.0, yaw_rate + 0.002 * noise.gauss()),
            linear_acceleration_m_s2: force,
            angular_velocity_covariance: None,
            linear_acceleration_covariance: None,
        });
        if k % 10 == 5 {
            let antenna = pose_at(t) * Point3::from(base_link_from_gnss.translation.vector);
            let noisy = antenna + Vector3::new(0.3 * noise.gauss(), 0.3 * noise.gauss(), 0.45 * noise.gauss());
            let mut fix = fix_at(&enu, at_s(t), &noisy);
            fix.covariance_enu_m2 = Some(nalgebra::Matrix3::from_diagonal(&Vector3::new(0.09, 0.09, 0.2025)));
            poses.extend(estimator.push_fix(&fix));
        }
    }
    let interpolate = |t: f64| {
        let i = poses.iter().position(|p| p.stamp > at_s(t)).unwrap();
        poses[i - 1].interpolate(&poses[i], at_s(t))
    };
    let (mut sq_v, mut sq_w, mut n) = (0.0, 0.0, 0.0);
    for k in 30..110 {
        let (t0, t1) = (f64::from(k) * 0.1, f64::from(k + 1) * 0.1);
        // What the aligner deskews with: the pose's own twist, else the motion since the last frame.
        let now = interpolate(t1);
        let ours = now
            .twist
            .or_else(|| BodyTwist::between(&interpolate(t0).world_from_body, at_s(t0), &now.world_from_body, at_s(t1)))
            .unwrap();
        // The true twist at t1 (constant turn rate; the speed's change over 0.1 s is < 0.04 m/s²·s).
        let truth = BodyTwist::between(&pose_at(t1 - 0.001), at_s(t1 - 0.001), &pose_at(t1), at_s(t1)).unwrap();
        sq_v += (ours.linear_m_s - truth.linear_m_s).norm_squared();
        sq_w += (ours.angular_rad_s.z - truth.angular_rad_s.z).to_degrees().powi(2);
        n += 1.0;
    }
    ((sq_v / n).sqrt(), (sq_w / n).sqrt())
}

#[test]
fn filtered_poses_give_the_aligner_a_twist_within_a_fraction_of_a_metre_per_second() {
    let (velocity, yaw_rate) = twist_errors(EgoPoseConfig::default());
    let (raw_velocity, raw_yaw_rate) =
        twist_errors(EgoPoseConfig { filter_position: false, ..EgoPoseConfig::default() });
    eprintln!(
        "twist RMS error: filtered {velocity:.3} m/s, {yaw_rate:.3}°/s; raw fixes {raw_velocity:.3} m/s, {raw_yaw_rate:.3}°/s"
    );
    // Raw fixes 0.1 s apart: √2 · (0.3, 0.3, 0.45) m / 0.1 s ≈ 7.7 m/s.
    assert!(raw_velocity > 4.0, "{raw_velocity}");
    // The filter's velocity and the gyro (0.002 rad/s noise): ~0.14 m/s and ~0.02°/s here.
    assert!(velocity < 0.3, "{velocity}");
    assert!(yaw_rate < 0.2, "{yaw_rate}");
    assert!(velocity * 10.0 < raw_velocity && yaw_rate * 10.0 < raw_yaw_rate);
}

#[test]
fn a_gnss_jump_is_rejected_counted_and_bridged_by_the_filter() {
    let (lat, lon, alt) = (49.0, 8.4, 110.0);
    let enu = LocalEnu::new(lat, lon, alt).unwrap();
    let mut estimator =
        EgoPoseEstimator::new(EgoPoseConfig { origin: Some([lat, lon, alt]), ..EgoPoseConfig::default() }).unwrap();
    let velocity = Vector3::new(10.0, 0.0, 0.0);
    let mut poses = Vec::new();
    for k in 0..40 {
        let t = 0.1 * f64::from(k);
        estimator.push_imu(&Imu {
            stamp: at_s(t - 0.05),
            frame_id: FrameId::new("imu"),
            orientation: None,
            angular_velocity_rad_s: Vector3::zeros(),
            linear_acceleration_m_s2: Vector3::new(0.0, 0.0, 9.80665),
            angular_velocity_covariance: None,
            linear_acceleration_covariance: None,
        });
        // Multipath: one fix 15 m to the side.
        let jump = if k == 25 { Vector3::new(0.0, 15.0, 0.0) } else { Vector3::zeros() };
        poses.extend(estimator.push_fix(&fix_at(&enu, at_s(t), &Point3::from(velocity * t + jump))));
    }
    assert_eq!(estimator.stats().rejected_fixes, 1);
    assert_eq!(estimator.stats().filter_restarts, 0);
    let at_jump = poses.iter().find(|p| p.stamp == at_s(2.5)).unwrap();
    assert_relative_eq!(at_jump.world_from_body.translation.vector, velocity * 2.5, epsilon = 1e-6);
    // Every pose after the first two carries the filter's twist: straight ahead at 10 m/s.
    let last = poses.last().unwrap().twist.unwrap();
    assert_relative_eq!(last.linear_m_s, velocity, epsilon = 1e-6);
    assert_relative_eq!(last.angular_rad_s, Vector3::zeros(), epsilon = 1e-12);
}

#[test]
fn a_bad_filter_parameter_is_refused_with_its_key() {
    type Spoil = fn(&mut EgoPoseConfig);
    let cases: [(&str, Spoil); 5] = [
        ("pose.fix_sigma_m", |c| c.fix_sigma_m = 0.0),
        ("pose.accel_sigma_m_s2", |c| c.accel_sigma_m_s2 = f64::NAN),
        ("pose.accel_bias_sigma_m_s2", |c| c.accel_bias_sigma_m_s2 = -0.1),
        ("pose.accel_bias_walk_m_s2_sqrt_s", |c| c.accel_bias_walk_m_s2_sqrt_s = f64::INFINITY),
        ("pose.gate_chi2", |c| c.gate_chi2 = -1.0),
    ];
    for (key, spoil) in cases {
        let mut config = EgoPoseConfig::default();
        spoil(&mut config);
        match EgoPoseEstimator::new(config) {
            Err(fusor_align::AlignError::Invalid { key: got, .. }) => assert_eq!(got, key),
            other => panic!("{key}: {other:?}"),
        }
    }
    // Zero bias prior and walk is allowed: no bias state.
    let no_bias = EgoPoseConfig { accel_bias_sigma_m_s2: 0.0, accel_bias_walk_m_s2_sqrt_s: 0.0, ..Default::default() };
    assert_eq!(EgoPoseEstimator::new(no_bias).unwrap().accel_bias_m_s2(), Some(Vector3::zeros()));
}

/// Horizontal velocity RMS error (m/s, after 10 s) over a hilly straight road: 15 m/s east over
/// hills 6 m high every 300 m (slopes up to 12.6 %), a level-mounted IMU without orientation,
/// fixes at 10 Hz with σ = 0.3 m (0.45 m vertical).
fn hill_velocity_error(config: EgoPoseConfig) -> f64 {
    let (lat, lon, alt) = (49.0, 8.4, 110.0);
    let enu = LocalEnu::new(lat, lon, alt).unwrap();
    let mut estimator = EgoPoseEstimator::new(EgoPoseConfig { origin: Some([lat, lon, alt]), ..config }).unwrap();
    let (speed, height, k) = (15.0, 6.0, std::f64::consts::TAU / 300.0);
    let mut noise = Noise(5);
    let (mut sq, mut n) = (0.0, 0.0);
    for step in 0..=4_000 {
        let t = f64::from(step) * 0.01;
        let x = speed * t;
        let slope = height * k * (k * x).cos();
        let vertical_accel = -height * k * k * speed * speed * (k * x).sin();
        let pitch_up = slope.atan();
        // The reaction to gravity plus the vertical acceleration, seen by the pitched body.
        let force = (vertical_accel + 9.80665) * Vector3::new(pitch_up.sin(), 0.0, pitch_up.cos());
        estimator.push_imu(&Imu {
            stamp: at_s(t),
            frame_id: FrameId::new("imu"),
            orientation: None,
            angular_velocity_rad_s: Vector3::new(0.0, 0.0, 0.002 * noise.gauss()),
            linear_acceleration_m_s2: force + Vector3::from_fn(|_, _| 0.03 * noise.gauss()),
            angular_velocity_covariance: None,
            linear_acceleration_covariance: None,
        });
        if step % 10 == 5 {
            let antenna = Point3::new(x, 0.0, height * (k * x).sin());
            let noisy = antenna + Vector3::new(0.3 * noise.gauss(), 0.3 * noise.gauss(), 0.45 * noise.gauss());
            let mut fix = fix_at(&enu, at_s(t), &noisy);
            fix.covariance_enu_m2 = Some(nalgebra::Matrix3::from_diagonal(&Vector3::new(0.09, 0.09, 0.2025)));
            for pose in estimator.push_fix(&fix) {
                if t > 10.0 {
                    let velocity = pose.world_from_body.rotation * pose.twist.unwrap().linear_m_s;
                    sq += (velocity.xy() - nalgebra::Vector2::new(speed, 0.0)).norm_squared();
                    n += 1.0;
                }
            }
        }
    }
    (sq / n).sqrt()
}

#[test]
fn over_hills_the_velocity_s_slope_pitches_the_accelerations() {
    let pitched = hill_velocity_error(EgoPoseConfig::default());
    let level = hill_velocity_error(EgoPoseConfig { pitch_from_velocity: false, ..EgoPoseConfig::default() });
    eprintln!("hills, horizontal velocity RMS: pitch from the velocity {pitched:.3} m/s, level road {level:.3} m/s");
    assert!(pitched < 0.25, "{pitched}");
    assert!(pitched < 0.3 * level, "{pitched} against {level}");
}
