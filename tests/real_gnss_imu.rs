#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The ego-pose filter on a real drive: comma2k19's u-blox fixes (10 Hz, no covariance) and phone
//! IMU (100 Hz, no orientation) from the curator's ROS 2 bag, against comma's tightly coupled
//! INS/GNSS/vision pose of the same 60 s on a highway (`/comma/global_pose`, ECEF, 20 Hz).

use fusor_align::{EgoPoseConfig, EgoPoseEstimator};
use fusor_core::geodesy::{Geodetic, LocalEnu};
use fusor_core::{Duration, GnssFix, Stamp};
use fusor_msgs::convert::{fix_from_navsatfix, imu_from_msg, stamp_from_time};
use fusor_msgs::geometry_msgs::PoseStamped;
use fusor_msgs::sensor_msgs::{Imu, NavSatFix};
use fusor_record::McapReader;
use fusor_tests::shared_data;
use nalgebra::{Point3, Vector2, Vector3};

fn comma_bag() -> std::path::PathBuf {
    shared_data().join(
        "ros2_mcap/comma2k19_b0c9d2329ad1606b_2018-08-02--08-34-47_seg40/\
         comma2k19_b0c9d2329ad1606b_2018-08-02--08-34-47_seg40.mcap",
    )
}

/// The drive's messages in log order: fixes and IMU samples as fusor reads them, and the
/// reference pose's ECEF positions.
struct Drive {
    inputs: Vec<Input>,
    reference: Vec<(Stamp, Point3<f64>)>,
}

enum Input {
    Fix(fusor_core::GnssFix),
    Imu(fusor_core::Imu),
}

fn read_drive() -> Drive {
    let reader = McapReader::open(comma_bag()).unwrap();
    let mut inputs = Vec::new();
    let mut reference = Vec::new();
    for message in reader.messages().unwrap() {
        let message = message.unwrap();
        match message.topic.as_str() {
            "/comma/gnss/fix" => {
                inputs.push(Input::Fix(fix_from_navsatfix(&message.decode::<NavSatFix>().unwrap()).unwrap()))
            }
            "/comma/imu" => inputs.push(Input::Imu(imu_from_msg(&message.decode::<Imu>().unwrap()).unwrap())),
            "/comma/global_pose" => {
                let pose = message.decode::<PoseStamped>().unwrap();
                let p = pose.pose.position;
                reference.push((stamp_from_time(pose.header.stamp).unwrap(), Point3::new(p.x, p.y, p.z)));
            }
            _ => {}
        }
    }
    let stamp = |i: &Input| match i {
        Input::Fix(f) => f.stamp,
        Input::Imu(m) => m.stamp,
    };
    inputs.sort_by_key(stamp);
    reference.sort_by_key(|(s, _)| *s);
    Drive { inputs, reference }
}

/// The reference's horizontal velocity in `enu` at `stamp`: the central difference of its
/// positions 0.1 s either side (comma's fused pose is smooth at 20 Hz).
fn reference_velocity(reference: &[(Stamp, Vector3<f64>)], stamp: Stamp) -> Option<Vector2<f64>> {
    let i = reference.partition_point(|(s, _)| *s < stamp);
    if i < 2 || i + 2 >= reference.len() {
        return None;
    }
    let (t0, p0) = reference[i - 2];
    let (t1, p1) = reference[i + 1];
    let dt = (t1 - t0).secs_f64();
    (dt > 0.0 && dt < 0.3).then(|| (p1 - p0).xy() / dt)
}

struct Errors {
    /// RMS horizontal velocity error of the filter's twist, m/s, after the first 2 s.
    filter_velocity_rms: f64,
    /// The same for differencing consecutive raw fixes.
    raw_velocity_rms: f64,
    /// Mean along-track velocity error of the filter (estimated − reference), m/s.
    filter_along_track_bias: f64,
    /// RMS heading error against the reference track, degrees.
    heading_rms_deg: f64,
    compared: usize,
    /// The filter's accelerometer bias in `base_link` at the end, m/s².
    accel_bias: Vector3<f64>,
    /// The forward accelerometer bias the drive itself implies: the IMU's mean forward specific
    /// force minus the reference's mean acceleration along the (straight, level) highway, m/s².
    implied_forward_bias: f64,
}

/// Runs the estimator over the drive; `accelerations = false` drops the IMU's accelerations
/// (gyro only), so the filter predicts constant velocity.
fn run(config: EgoPoseConfig, accelerations: bool) -> (Errors, fusor_align::EgoPoseStats) {
    let drive = read_drive();
    let mut estimator = EgoPoseEstimator::new(config).unwrap();
    let mut poses = Vec::new();
    let mut fixes = Vec::new();
    let (mut forward_sum, mut imu_stamps) = (0.0, Vec::new());
    for input in &drive.inputs {
        match input {
            Input::Imu(imu) => {
                forward_sum += imu.linear_acceleration_m_s2.x;
                imu_stamps.push(imu.stamp);
                let mut imu = imu.clone();
                if !accelerations {
                    imu.linear_acceleration_m_s2 = Vector3::repeat(f64::NAN);
                }
                estimator.push_imu(&imu);
            }
            Input::Fix(fix) => {
                fixes.push(fix.clone());
                poses.extend(estimator.push_fix(fix));
            }
        }
    }
    let origin = estimator.origin().unwrap();
    let enu = LocalEnu::new(origin.lat_deg, origin.lon_deg, origin.alt_m).unwrap();
    let reference: Vec<(Stamp, Vector3<f64>)> =
        drive.reference.iter().map(|(s, ecef)| (*s, enu.enu_from_ecef(ecef).unwrap().coords)).collect();
    let start = poses[0].stamp + Duration::from_secs_f64(2.0);

    let (mut sq_filter, mut along, mut sq_heading, mut n) = (0.0, 0.0, 0.0, 0usize);
    for pose in poses.iter().filter(|p| p.stamp >= start) {
        let (Some(twist), Some(truth)) = (pose.twist, reference_velocity(&reference, pose.stamp)) else { continue };
        let velocity = (pose.world_from_body.rotation * twist.linear_m_s).xy();
        sq_filter += (velocity - truth).norm_squared();
        along += (velocity - truth).dot(&truth.normalize());
        let yaw = pose.world_from_body.rotation.euler_angles().2;
        sq_heading += wrap_pi(yaw - truth.y.atan2(truth.x)).to_degrees().powi(2);
        n += 1;
    }
    let antenna = |f: &GnssFix| {
        enu.enu_from_geodetic(Geodetic::new(f.latitude_deg, f.longitude_deg, f.altitude_m).unwrap()).unwrap()
    };
    let (mut sq_raw, mut n_raw) = (0.0, 0usize);
    for pair in fixes.windows(2) {
        let dt = (pair[1].stamp - pair[0].stamp).secs_f64();
        let mid = pair[0].stamp + Duration::from_secs_f64(0.5 * dt);
        let Some(truth) = reference_velocity(&reference, mid).filter(|_| mid >= start) else { continue };
        sq_raw += ((antenna(&pair[1]) - antenna(&pair[0])).xy() / dt - truth).norm_squared();
        n_raw += 1;
    }
    let (first, last) = (imu_stamps[0], imu_stamps[imu_stamps.len() - 1]);
    let speed = |stamp: Stamp| reference_velocity(&reference, stamp).unwrap().norm();
    let (early, late) = (first + Duration::from_secs_f64(0.2), last - Duration::from_secs_f64(0.2));
    let mean_accel = (speed(late) - speed(early)) / (late - early).secs_f64();
    let errors = Errors {
        filter_velocity_rms: (sq_filter / n as f64).sqrt(),
        raw_velocity_rms: (sq_raw / n_raw as f64).sqrt(),
        filter_along_track_bias: along / n as f64,
        heading_rms_deg: (sq_heading / n as f64).sqrt(),
        compared: n,
        accel_bias: estimator.accel_bias_m_s2().unwrap(),
        implied_forward_bias: forward_sum / imu_stamps.len() as f64 - mean_accel,
    };
    (errors, estimator.stats().clone())
}

fn wrap_pi(a: f64) -> f64 {
    (a + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU) - std::f64::consts::PI
}

#[test]
fn on_a_real_highway_drive_the_filter_finds_the_accelerometer_bias_and_beats_raw_fixes() {
    let (with_bias, stats) = run(EgoPoseConfig::default(), true);
    let no_bias_state =
        EgoPoseConfig { accel_bias_sigma_m_s2: 0.0, accel_bias_walk_m_s2_sqrt_s: 0.0, ..Default::default() };
    let (without_bias, _) = run(no_bias_state, true);
    let (constant_velocity, _) = run(EgoPoseConfig::default(), false);
    for (name, e) in [
        ("bias estimated", &with_bias),
        ("no bias state", &without_bias),
        ("no accelerations (constant velocity)", &constant_velocity),
    ] {
        eprintln!(
            "{name}: velocity {:.3} m/s RMS (along-track {:+.3}), raw fixes differenced {:.3}, heading {:.2}° RMS, \
             {} poses, bias [{:+.3}, {:+.3}, {:+.3}] m/s² (the drive implies {:+.3} forward)",
            e.filter_velocity_rms,
            e.filter_along_track_bias,
            e.raw_velocity_rms,
            e.heading_rms_deg,
            e.compared,
            e.accel_bias.x,
            e.accel_bias.y,
            e.accel_bias.z,
            e.implied_forward_bias,
        );
    }
    assert!(with_bias.compared > 500, "{stats:?}");
    assert_eq!((stats.unusable_fixes, stats.rejected_fixes, stats.filter_restarts), (0, 0, 0), "{stats:?}");
    // The phone reads ~0.6 m/s² of forward acceleration that is not there (its mount's pitch and
    // the road's slope); the filter finds most of it (the end value follows the local slope).
    let implied = with_bias.implied_forward_bias;
    assert!(implied < -0.4, "{implied}");
    let found = with_bias.accel_bias.x / implied;
    assert!(
        (0.5..1.5).contains(&found),
        "estimated forward bias {} against the drive's {implied}",
        with_bias.accel_bias.x
    );
    // Without a bias state the filter integrates it into a lasting along-track velocity error,
    // worse than not using the accelerations at all; with it, the IMU beats constant velocity.
    assert!(without_bias.filter_along_track_bias < -0.8, "{}", without_bias.filter_along_track_bias);
    assert!(with_bias.filter_along_track_bias.abs() < 0.2, "{}", with_bias.filter_along_track_bias);
    assert!(without_bias.filter_velocity_rms > constant_velocity.filter_velocity_rms);
    assert!(with_bias.filter_velocity_rms < 0.8 * constant_velocity.filter_velocity_rms);
    assert!(with_bias.filter_velocity_rms < 0.4 * without_bias.filter_velocity_rms);
    assert!(with_bias.filter_velocity_rms < 0.3 * with_bias.raw_velocity_rms);
    assert!(with_bias.heading_rms_deg < 0.5, "{}", with_bias.heading_rms_deg);
}
