//! GNSS, IMU, camera, ego and fault injection, checked against the simulated truth.

use fusor_core::geodesy::Geodetic;
use fusor_core::Stamp;
use fusor_sim::camera::{CameraConfig, CameraRenderer};
use fusor_sim::geometry::{BoxPrim, Ground, Material, Primitive, Shape, Surface};
use fusor_sim::rig::{CameraIntrinsics, SimRig};
use fusor_sim::world::World;
use fusor_sim::{Drive, Scenario, SimEvent};
use nalgebra::{Isometry3, Point3, Translation3, UnitQuaternion};

/// A scenario with the expensive sensors slowed down to nearly nothing.
fn light(seed: u64, duration_s: f64) -> Scenario {
    let mut s = Scenario::new(seed, duration_s);
    s.lidar.rate_hz = 0.01;
    s.camera.rate_hz = 0.01;
    s.camera.phase_s = duration_s + 1.0;
    s
}

#[test]
fn gnss_error_matches_configured_sigma_in_enu() {
    let mut s = light(5, 30.0);
    s.gnss.rate_hz = 20.0;
    let drive = Drive::new(&s).unwrap();
    let enu = drive.enu().clone();
    let ego_pose = |t: f64| drive.ego().map_from_base_link(t) * drive.rig().base_link_from_gnss * Point3::origin();
    let fixes: Vec<_> = Drive::new(&s)
        .unwrap()
        .filter_map(|e| match e.unwrap() {
            SimEvent::Gnss(f) => Some(f),
            _ => None,
        })
        .collect();
    assert_eq!(fixes.len(), 600);
    let mut e2 = [0.0f64; 3];
    for f in &fixes {
        assert!(f.is_usable());
        let truth = ego_pose(drive.time_of(f.stamp));
        let p = enu.enu_from_geodetic(Geodetic::new(f.latitude_deg, f.longitude_deg, f.altitude_m).unwrap()).unwrap();
        for k in 0..3 {
            e2[k] += (p[k] - truth[k]).powi(2);
        }
        let cov = f.covariance_enu_m2.unwrap();
        assert!((cov[(0, 0)] - 0.09).abs() < 1e-12);
    }
    let n = fixes.len() as f64;
    for (k, sigma) in [(0, 0.3), (1, 0.3), (2, 0.45)] {
        let rms = (e2[k] / n).sqrt();
        assert!((rms - sigma).abs() < 0.15 * sigma, "axis {k}: rms {rms} vs σ {sigma}");
    }
}

#[test]
fn gnss_outage_reports_no_fix() {
    let mut s = light(5, 3.0);
    s.faults.gnss_outages_s = vec![[1.0, 2.0]];
    let drive = Drive::new(&s).unwrap();
    let start = drive.stamp_at(0.0);
    for e in Drive::new(&s).unwrap() {
        if let SimEvent::Gnss(f) = e.unwrap() {
            let t = (f.stamp - start).secs_f64();
            assert_eq!(f.is_usable(), !(1.0..2.0).contains(&t), "fix at {t} s");
        }
    }
}

#[test]
fn imu_yaw_rate_matches_ego_trajectory() {
    let mut s = light(8, 40.0);
    s.imu.gyro_noise_rad_s = 0.0;
    s.imu.gyro_bias_rad_s = 0.0;
    let drive = Drive::new(&s).unwrap();
    let yaw = |t: f64| drive.ego().map_from_base_link(t).rotation.euler_angles().2;
    let wrap = |a: f64| (a + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU) - std::f64::consts::PI;
    let mut integrated = 0.0;
    let mut heading_change = 0.0;
    let mut max_rate: f64 = 0.0;
    let mut close = 0;
    let mut n = 0;
    let dt = 0.01;
    for e in Drive::new(&s).unwrap() {
        if let SimEvent::Imu(imu) = e.unwrap() {
            let t = drive.time_of(imu.stamp);
            let w = imu.angular_velocity_rad_s.z;
            // Midpoint rule over [t, t + dt] against the pose's own heading change.
            integrated += w * dt;
            heading_change += wrap(yaw(t + dt / 2.0) - yaw(t - dt / 2.0));
            let rate = wrap(yaw(t + 0.001) - yaw(t - 0.001)) / 0.002;
            if (w - rate).abs() < 0.01 {
                close += 1;
            }
            // On flat ground the specific force holds gravity up.
            assert!((imu.linear_acceleration_m_s2.z - 9.80665).abs() < 0.2);
            max_rate = max_rate.max(rate.abs());
            n += 1;
        }
    }
    assert_eq!(n, 4000);
    assert!((integrated - heading_change).abs() < 0.02, "∫ω dt {integrated} vs Δyaw {heading_change}");
    assert!(close >= n * 99 / 100, "{close} of {n} samples match the pose's yaw rate");
    assert!(max_rate > 0.2, "the route never turned (max yaw rate {max_rate})");
}

#[test]
fn ego_drives_smoothly_between_5_and_15_m_s() {
    let drive = Drive::new(&light(3, 60.0)).unwrap();
    let samples = drive.ego().samples();
    let mut moving = 0;
    for w in samples.windows(2) {
        assert!(w[0].v_m_s <= 15.0 + 1e-9 && w[0].v_m_s >= 0.0);
        assert!(w[0].a_m_s2.abs() <= 6.0 + 1e-9);
        assert!((w[1].a_m_s2 - w[0].a_m_s2).abs() <= 0.1 + 1e-9, "jerk");
        if w[0].v_m_s >= 5.0 {
            moving += 1;
        }
    }
    assert!(moving > samples.len() / 2, "mostly crawling: {moving} of {}", samples.len());
}

#[test]
fn camera_sees_a_known_box_where_the_rig_projects_it() {
    let b = BoxPrim { center: [15.0, 3.0, 1.0], half: [1.0, 1.0, 1.0], yaw_rad: 0.0 };
    let prim = Primitive {
        shape: Shape::Box(b),
        surface: Surface { material: Material::CarPaint, color: [230, 20, 20], object_id: 1 },
    };
    let world = World::from_parts(Ground::FLAT, None, vec![prim], vec![], 1);
    let scene = world.scene_at(0.0);
    let rig = SimRig {
        camera_intrinsics: CameraIntrinsics { distortion: [-0.15, 0.02, 0.0, 0.0, 0.0], ..CameraIntrinsics::KITTI },
        ..SimRig::default()
    };
    let cam =
        CameraRenderer::new(rig.camera_intrinsics, CameraConfig { noise_dn: 0.0, ..CameraConfig::default() }).unwrap();
    let map_from_base = Isometry3::from_parts(Translation3::new(0.0, 0.0, 0.0), UnitQuaternion::identity());
    let map_from_camera = map_from_base * rig.base_link_from_camera(0.0);
    let img = cam.render(&scene, &map_from_camera, [0.0, 0.0, 1.0], 1.0, Stamp(0), 1, 0);
    // Project the centre of the face the camera sees (x = 14).
    let p_cam = map_from_camera.inverse() * Point3::new(14.0, 3.0, 1.0);
    let [u, v] = rig.camera_intrinsics.project([p_cam.x, p_cam.y, p_cam.z]).unwrap();
    let px = img.rgb(u.round() as u32, v.round() as u32).unwrap();
    assert!(px[0] > 60 && px[0] > 3 * px[1] && px[0] > 3 * px[2], "pixel at ({u:.0}, {v:.0}) is {px:?}");
    // The box is left of centre (y = +3 is left) and a little below the horizon line.
    assert!(u < f64::from(img.width) / 2.0);
    // Just beside the box's projected edge the image is no longer red.
    let p_edge = map_from_camera.inverse() * Point3::new(14.0, 4.3, 1.0);
    let [ue, ve] = rig.camera_intrinsics.project([p_edge.x, p_edge.y, p_edge.z]).unwrap();
    let beside = img.rgb(ue.round() as u32, ve.round() as u32).unwrap();
    assert!(beside[1] > 60, "beside the box: {beside:?}");
}

#[test]
fn camera_blackout_removes_frames_and_camera_is_not_locked_to_lidar() {
    let mut s = Scenario::new(4, 1.0);
    s.lidar.rate_hz = 2.0;
    s.camera.render_scale = 0.25;
    s.faults.camera_blackouts_s = vec![[0.25, 0.65]];
    let drive = Drive::new(&s).unwrap();
    let mut camera_times = Vec::new();
    let mut lidar_times = Vec::new();
    let mut prev = Stamp(i64::MIN);
    for e in Drive::new(&s).unwrap() {
        let e = e.unwrap();
        assert!(e.stamp() >= prev, "events out of order");
        prev = e.stamp();
        match e {
            SimEvent::Camera(img) => {
                assert_eq!((img.width, img.height), (1242, 375));
                camera_times.push(drive.time_of(img.stamp));
            }
            SimEvent::Lidar(c) => lidar_times.push(drive.time_of(c.stamp)),
            _ => {}
        }
    }
    assert!(camera_times.iter().all(|t| !(0.25..0.65).contains(t)), "{camera_times:?}");
    assert_eq!(camera_times.len(), 6, "{camera_times:?}");
    for t in &camera_times {
        let phase = (t * 10.0).fract() / 10.0;
        assert!((phase - 0.03).abs() <= 0.0021, "camera at {t}");
    }
    assert_eq!(lidar_times, vec![0.0, 0.5]);
}

#[test]
fn dropped_and_duplicated_messages_follow_the_fault_rates() {
    let mut s = light(6, 20.0);
    s.faults.drop_prob = 0.1;
    s.faults.duplicate_prob = 0.1;
    s.faults.stamp_jitter_s = 0.001;
    let imu = Drive::new(&s).unwrap().filter(|e| matches!(e, Ok(SimEvent::Imu(_)))).count();
    // 2000 nominal, ×0.9 kept, ×1.1 duplicated ≈ 1980.
    assert!((1850..=2110).contains(&imu), "{imu} IMU messages");
}
