#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The ego-pose filter end to end:
//! - on a real drive: comma2k19's u-blox fixes (10 Hz, no covariance) and phone IMU (100 Hz, no
//!   orientation) from the curator's ROS 2 bag, against comma's tightly coupled INS/GNSS/vision
//!   pose of the same 60 s on a highway (`/comma/global_pose`, ECEF, 20 Hz);
//! - on a simulated drive whose IMU is mounted off its calibration, against the simulator's truth.

use fusor_align::{EgoPoseConfig, EgoPoseEstimator};
use fusor_core::geodesy::{Geodetic, LocalEnu};
use fusor_core::{Duration, GnssFix, Stamp};
use fusor_msgs::convert::{fix_from_navsatfix, imu_from_msg, stamp_from_time};
use fusor_msgs::geometry_msgs::PoseStamped;
use fusor_msgs::sensor_msgs::{Imu, NavSatFix};
use fusor_record::McapReader;
use fusor_tests::shared_data;
use nalgebra::{Point3, Vector3};

const GRAVITY_M_S2: f64 = 9.80665;

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

/// The reference's velocity in `enu` at `stamp`: the central difference of its positions 0.1 s
/// either side (comma's fused pose is smooth at 20 Hz).
fn reference_velocity(reference: &[(Stamp, Vector3<f64>)], stamp: Stamp) -> Option<Vector3<f64>> {
    let i = reference.partition_point(|(s, _)| *s < stamp);
    if i < 2 || i + 2 >= reference.len() {
        return None;
    }
    let (t0, p0) = reference[i - 2];
    let (t1, p1) = reference[i + 1];
    let dt = (t1 - t0).secs_f64();
    (dt > 0.0 && dt < 0.3).then(|| (p1 - p0) / dt)
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
    /// Along-track velocity error (estimated − reference) per compared pose: seconds since the
    /// first pose, m/s.
    along_track_series: Vec<(f64, f64)>,
    /// The filter's forward accelerometer bias after each fix: seconds since the first fix, m/s².
    forward_bias_series: Vec<(f64, f64)>,
    /// The filter's accelerometer bias in `base_link` at the end, m/s².
    accel_bias: Vector3<f64>,
    /// The forward accelerometer bias the drive itself implies: the IMU's mean forward specific
    /// force minus the reference's mean acceleration along the (straight, level) highway, m/s².
    implied_forward_bias: f64,
    /// The same over 2 s windows around each fix: seconds since the first fix, m/s².
    implied_bias_series: Vec<(f64, f64)>,
    /// RMS of the filter's forward bias against the 2 s windows' after the first 10 s, m/s².
    bias_rms_after_10_s: f64,
}

/// Runs the estimator over the drive; `accelerations = false` drops the IMU's accelerations
/// (gyro only), so the filter predicts constant velocity.
fn run(config: EgoPoseConfig, accelerations: bool) -> (Errors, fusor_align::EgoPoseStats) {
    let drive = read_drive();
    let mut estimator = EgoPoseEstimator::new(config).unwrap();
    let mut poses = Vec::new();
    let mut fixes = Vec::new();
    let mut forward = Vec::new();
    let mut forward_bias_series = Vec::new();
    for input in &drive.inputs {
        match input {
            Input::Imu(imu) => {
                forward.push((imu.stamp, imu.linear_acceleration_m_s2.x));
                let mut imu = imu.clone();
                if !accelerations {
                    imu.linear_acceleration_m_s2 = Vector3::repeat(f64::NAN);
                }
                estimator.push_imu(&imu);
            }
            Input::Fix(fix) => {
                fixes.push(fix.clone());
                poses.extend(estimator.push_fix(fix));
                let t = (fix.stamp - fixes[0].stamp).secs_f64();
                forward_bias_series.push((t, estimator.accel_bias_m_s2().unwrap().x));
            }
        }
    }
    let origin = estimator.origin().unwrap();
    let enu = LocalEnu::new(origin.lat_deg, origin.lon_deg, origin.alt_m).unwrap();
    let reference: Vec<(Stamp, Vector3<f64>)> =
        drive.reference.iter().map(|(s, ecef)| (*s, enu.enu_from_ecef(ecef).unwrap().coords)).collect();
    let start = poses[0].stamp + Duration::from_secs_f64(2.0);

    let (mut sq_filter, mut along, mut sq_heading, mut n) = (0.0, 0.0, 0.0, 0usize);
    let mut along_track_series = Vec::new();
    for pose in poses.iter().filter(|p| p.stamp >= start) {
        let (Some(twist), Some(truth)) = (pose.twist, reference_velocity(&reference, pose.stamp).map(|v| v.xy()))
        else {
            continue;
        };
        let velocity = (pose.world_from_body.rotation * twist.linear_m_s).xy();
        sq_filter += (velocity - truth).norm_squared();
        let along_track = (velocity - truth).dot(&truth.normalize());
        along += along_track;
        along_track_series.push(((pose.stamp - poses[0].stamp).secs_f64(), along_track));
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
        let Some(truth) = reference_velocity(&reference, mid).map(|v| v.xy()).filter(|_| mid >= start) else {
            continue;
        };
        sq_raw += ((antenna(&pair[1]) - antenna(&pair[0])).xy() / dt - truth).norm_squared();
        n_raw += 1;
    }
    // What the bias should be: the IMU's forward specific force minus what the reference says it
    // reads, the acceleration along the road and gravity's share on its slope (what is left is
    // the mount's tilt), averaged over `half_window` s either side of `stamp`.
    let implied_bias = |stamp: Stamp, half_window: f64| {
        let (from, to) = (stamp - Duration::from_secs_f64(half_window), stamp + Duration::from_secs_f64(half_window));
        let inside: Vec<f64> = forward.iter().filter(|(t, _)| *t >= from && *t <= to).map(|(_, f)| *f).collect();
        let (v0, v1) = (reference_velocity(&reference, from)?, reference_velocity(&reference, to)?);
        let along_road = (v1.norm() - v0.norm()) / (2.0 * half_window);
        let slope = 0.5 * (v0.z / v0.norm() + v1.z / v1.norm());
        (!inside.is_empty())
            .then(|| inside.iter().sum::<f64>() / inside.len() as f64 - along_road - GRAVITY_M_S2 * slope)
    };
    let (first, last) = (forward[0].0, forward[forward.len() - 1].0);
    let half_drive = 0.5 * (last - first).secs_f64() - 0.2;
    let implied_forward_bias = implied_bias(first + Duration::from_secs_f64(half_drive + 0.2), half_drive).unwrap();
    let t0 = fixes[0].stamp;
    let implied_bias_series: Vec<(f64, f64)> =
        fixes.iter().filter_map(|f| Some(((f.stamp - t0).secs_f64(), implied_bias(f.stamp, 1.0)?))).collect();
    let sq_bias: Vec<f64> = forward_bias_series
        .iter()
        .zip(&fixes)
        .filter(|(_, f)| f.stamp >= t0 + Duration::from_secs_f64(10.0))
        .filter_map(|((_, b), f)| Some((b - implied_bias(f.stamp, 1.0)?).powi(2)))
        .collect();
    let errors = Errors {
        filter_velocity_rms: (sq_filter / n as f64).sqrt(),
        raw_velocity_rms: (sq_raw / n_raw as f64).sqrt(),
        filter_along_track_bias: along / n as f64,
        heading_rms_deg: (sq_heading / n as f64).sqrt(),
        compared: n,
        along_track_series,
        forward_bias_series,
        accel_bias: estimator.accel_bias_m_s2().unwrap(),
        implied_forward_bias,
        implied_bias_series,
        bias_rms_after_10_s: (sq_bias.iter().sum::<f64>() / sq_bias.len() as f64).sqrt(),
    };
    (errors, estimator.stats().clone())
}

fn wrap_pi(a: f64) -> f64 {
    (a + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU) - std::f64::consts::PI
}

/// The variants compared: name, configuration, whether the accelerations are used.
fn variants() -> [(&'static str, EgoPoseConfig, bool); 4] {
    let default = EgoPoseConfig::default();
    let no_pitch = EgoPoseConfig { pitch_from_velocity: false, ..default.clone() };
    let neither = EgoPoseConfig { accel_bias_sigma_m_s2: 0.0, accel_bias_walk_m_s2_sqrt_s: 0.0, ..no_pitch.clone() };
    [
        ("IMU-aided, bias state, pitch from the velocity (default)", default.clone(), true),
        ("IMU-aided, bias state, level road", no_pitch, true),
        ("IMU-aided, no bias state, level road", neither, true),
        ("gyro only (constant velocity)", default, false),
    ]
}

#[test]
fn on_a_real_highway_drive_the_filter_finds_the_mount_tilt_and_the_slope() {
    let results: Vec<(&str, Errors, fusor_align::EgoPoseStats)> = variants()
        .into_iter()
        .map(|(name, config, accelerations)| {
            let (errors, stats) = run(config, accelerations);
            (name, errors, stats)
        })
        .collect();
    for (name, e, _) in &results {
        eprintln!(
            "{name}: velocity {:.3} m/s RMS (along-track {:+.3}), raw fixes differenced {:.3}, heading {:.2}° RMS, \
             {} poses, bias [{:+.3}, {:+.3}, {:+.3}] m/s² (the drive implies {:+.3} forward; {:.3} RMS off the \
             2 s windows' after 10 s)",
            e.filter_velocity_rms,
            e.filter_along_track_bias,
            e.raw_velocity_rms,
            e.heading_rms_deg,
            e.compared,
            e.accel_bias.x,
            e.accel_bias.y,
            e.accel_bias.z,
            e.implied_forward_bias,
            e.bias_rms_after_10_s,
        );
    }
    let [(_, best, stats), (_, level, _), (_, neither, _), (_, constant_velocity, _)] = &results[..] else {
        unreachable!()
    };
    assert!(best.compared > 500, "{stats:?}");
    assert_eq!((stats.unusable_fixes, stats.rejected_fixes, stats.filter_restarts), (0, 0, 0), "{stats:?}");
    // The phone, mounted nose-down, reads ~0.8 m/s² of forward acceleration that is not there;
    // the filter finds it and follows it within a tenth of that.
    let implied = best.implied_forward_bias;
    assert!(implied < -0.5, "{implied}");
    assert!(
        (best.accel_bias.x - implied).abs() < 0.15,
        "estimated forward bias {} against {implied}",
        best.accel_bias.x
    );
    assert!(best.bias_rms_after_10_s < 0.12, "{}", best.bias_rms_after_10_s);
    // Without a bias state the filter integrates it into a lasting along-track velocity error,
    // worse than not using the accelerations at all; with it (and the road's slope) the IMU
    // beats constant velocity by a factor of four.
    assert!(neither.filter_along_track_bias < -0.8, "{}", neither.filter_along_track_bias);
    assert!(neither.filter_velocity_rms > constant_velocity.filter_velocity_rms);
    assert!(level.filter_velocity_rms < neither.filter_velocity_rms);
    assert!(best.filter_velocity_rms < 0.5 * level.filter_velocity_rms);
    assert!(best.filter_velocity_rms < 0.35 * constant_velocity.filter_velocity_rms);
    assert!(best.filter_velocity_rms < 0.15 * best.raw_velocity_rms);
    assert!(best.filter_along_track_bias.abs() < 0.1, "{}", best.filter_along_track_bias);
    assert!(best.heading_rms_deg < 0.5, "{}", best.heading_rms_deg);
}

const FONT: &str = "sans-serif";

/// A legend entry: a short line in `color`, `width` pixels wide.
fn line_legend(
    color: plotters::style::RGBColor,
    width: u32,
) -> impl Fn((i32, i32)) -> plotters::element::PathElement<(i32, i32)> {
    use plotters::style::Color;
    move |(x, y)| plotters::element::PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(width))
}

/// The chart's legend, on a white box with a black border.
fn draw_legend<'a, DB: plotters::prelude::DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut plotters::chart::ChartContext<'a, DB, CT>,
) {
    use plotters::style::{Color, BLACK, WHITE};
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font((FONT, 12))
        .draw()
        .unwrap();
}

/// Writes `docs/ego_pose_comma2k19.png`: along-track velocity error over the drive with and
/// without the bias state and without accelerations, and the forward bias the filter finds. Run
/// it with `cargo test -p fusor-tests --test ego_pose -- --ignored`.
#[test]
#[ignore = "writes docs/ego_pose_comma2k19.png"]
fn draw_the_velocity_errors() {
    use plotters::prelude::*;
    let text = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok();
    let colors = [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(214, 39, 40), RGBColor(120, 120, 120)];
    let runs: Vec<(&str, Errors, RGBColor)> = variants()
        .into_iter()
        .zip(colors)
        .map(|((name, config, accelerations), color)| (name, run(config, accelerations).0, color))
        .collect();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ego_pose_comma2k19.png");
    let root = BitMapBackend::new(&path, (1000, 640)).into_drawing_area();
    root.fill(&WHITE).unwrap();
    let (upper, lower) = root.split_vertically(400);
    let t_end = runs[0].1.forward_bias_series.last().unwrap().0;
    let mut velocity = ChartBuilder::on(&upper);
    velocity.margin(10).x_label_area_size(30).y_label_area_size(50);
    if text {
        velocity.caption(
            "comma2k19 (u-blox 10 Hz + phone IMU, 60 s highway): along-track velocity error vs comma's fused pose",
            (FONT, 15),
        );
    }
    let mut chart = velocity.build_cartesian_2d(0.0..t_end, -2.5..1.5).unwrap();
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.y_desc("error (m/s)").label_style((FONT, 12));
    }
    mesh.draw().unwrap();
    for (name, errors, color) in &runs {
        let series = chart
            .draw_series(LineSeries::new(errors.along_track_series.iter().copied(), color.stroke_width(2)))
            .unwrap();
        if text {
            let label = format!("{name}: {:.2} m/s RMS", errors.filter_velocity_rms);
            series.label(label).legend(line_legend(*color, 2));
        }
    }
    if text {
        draw_legend(&mut chart);
    }
    let mut bias = ChartBuilder::on(&lower);
    bias.margin(10).x_label_area_size(35).y_label_area_size(50);
    let mut chart = bias.build_cartesian_2d(0.0..t_end, -1.2..0.2).unwrap();
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc("time (s)").y_desc("forward bias (m/s²)").label_style((FONT, 12));
    }
    mesh.draw().unwrap();
    let (_, estimated, color) = &runs[0];
    let implied = estimated.implied_forward_bias;
    let series = chart
        .draw_series(LineSeries::new(estimated.forward_bias_series.iter().copied(), color.stroke_width(2)))
        .unwrap();
    if text {
        series.label("filter's forward bias").legend(line_legend(*color, 2));
    }
    let reference = chart
        .draw_series(LineSeries::new(estimated.implied_bias_series.iter().copied(), BLACK.stroke_width(1)))
        .unwrap();
    if text {
        reference
            .label(format!(
                "the mount's tilt: IMU forward minus the reference's acceleration and slope, 2 s windows \
                 (whole drive {implied:+.2}); {:.2} RMS apart after 10 s",
                estimated.bias_rms_after_10_s
            ))
            .legend(line_legend(BLACK, 1));
        draw_legend(&mut chart);
    }
    root.present().unwrap();
    println!("wrote {}", path.display());
}

/// A 30 s simulated town drive whose IMU sits `mount_error_deg` off the rig's calibration, run
/// through the estimator (GNSS + IMU events only); returns the horizontal velocity RMS error
/// after 5 s (m/s), the final bias estimate, and the bias the tilt means.
fn simulated_tilt(config: EgoPoseConfig, mount_error_deg: [f64; 3]) -> (f64, Vector3<f64>, Vector3<f64>) {
    let mut scenario = fusor_sim::Scenario::load(fusor_tests::project_root().join("recordings/town-day.toml")).unwrap();
    scenario.duration_s = 30.0;
    scenario.faults.imu_mount_error_deg = mount_error_deg;
    // Only GNSS and IMU are read: keep the costly sensors rare.
    scenario.lidar.rate_hz = 0.1;
    scenario.camera.rate_hz = 0.1;
    let mut drive = fusor_sim::Drive::new(&scenario).unwrap();
    let rig = drive.rig().clone();
    let mut estimator = EgoPoseEstimator::new(config).unwrap();
    estimator.set_base_link_from_gnss(rig.base_link_from_gnss);
    estimator.set_base_link_from_imu(rig.base_link_from_imu.rotation);
    let mut events = Vec::new();
    for event in drive.by_ref() {
        match event.unwrap() {
            fusor_sim::SimEvent::Gnss(fix) => events.push(Input::Fix(fix)),
            fusor_sim::SimEvent::Imu(imu) => events.push(Input::Imu(imu)),
            _ => {}
        }
    }
    let (mut sq, mut n) = (0.0, 0.0);
    for input in &events {
        match input {
            Input::Imu(imu) => estimator.push_imu(imu),
            Input::Fix(fix) => {
                for pose in estimator.push_fix(fix) {
                    let t = drive.time_of(pose.stamp);
                    let Some(twist) = pose.twist.filter(|_| t > 5.0) else { continue };
                    let (before, after) =
                        (drive.ego().map_from_base_link(t - 0.005), drive.ego().map_from_base_link(t + 0.005));
                    let truth = (after.translation.vector - before.translation.vector) / 0.01;
                    sq += (pose.world_from_body.rotation * twist.linear_m_s - truth).xy().norm_squared();
                    n += 1.0;
                }
            }
        }
    }
    // What the filter should find in base_link: gravity's reaction seen through the tilt, less
    // the level reading (the nominal mount here is base_link's own axes).
    let [roll, pitch, yaw] = mount_error_deg.map(f64::to_radians);
    let up = Vector3::new(0.0, 0.0, GRAVITY_M_S2);
    let tilt = nalgebra::UnitQuaternion::from_euler_angles(roll, pitch, yaw);
    ((sq / n).sqrt(), estimator.accel_bias_m_s2().unwrap(), tilt.inverse() * up - up)
}

#[test]
fn a_simulated_imu_mounted_off_its_calibration_is_found_and_costs_no_velocity() {
    let tilt = [1.0, 3.0, 0.0];
    let (error, bias, expected) = simulated_tilt(EgoPoseConfig::default(), tilt);
    let no_bias_state =
        EgoPoseConfig { accel_bias_sigma_m_s2: 0.0, accel_bias_walk_m_s2_sqrt_s: 0.0, ..Default::default() };
    let (error_without, _, _) = simulated_tilt(no_bias_state, tilt);
    let (error_level, _, _) = simulated_tilt(EgoPoseConfig::default(), [0.0; 3]);
    eprintln!(
        "IMU 1° right side down, 3° nose down: velocity RMS {error:.3} m/s with the bias state ({error_level:.3} \
         mounted level), {error_without:.3} without; bias [{:+.3}, {:+.3}, {:+.3}] m/s², the tilt means \
         [{:+.3}, {:+.3}, {:+.3}] (plus the simulated bias, σ 0.03)",
        bias.x, bias.y, bias.z, expected.x, expected.y, expected.z
    );
    approx::assert_abs_diff_eq!(bias.xy(), expected.xy(), epsilon = 0.1);
    assert!(error < 0.25 && error < 1.3 * error_level, "{error} (level {error_level})");
    assert!(error_without > 2.0 * error, "{error_without}");
}
