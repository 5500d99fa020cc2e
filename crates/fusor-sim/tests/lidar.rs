//! Lidar model against the geometry it scans.
#![allow(clippy::needless_range_loop)] // Point clouds are struct-of-arrays: one index walks several columns.

use fusor_core::Stamp;
use fusor_sim::geometry::{BoxPrim, Ground, Material, Primitive, Shape, Surface};
use fusor_sim::lidar::LidarConfig;
use fusor_sim::world::World;
use fusor_sim::{Drive, Scenario};
use nalgebra::{Isometry3, Translation3, UnitQuaternion};

fn static_pose(height_m: f64) -> impl Fn(f64) -> Isometry3<f64> + Sync {
    move |_| Isometry3::from_parts(Translation3::new(0.0, 0.0, height_m), UnitQuaternion::identity())
}

#[test]
fn default_scan_has_about_120k_points() {
    let mut drive = Drive::new(&Scenario::new(7, 0.3)).unwrap();
    let t = std::time::Instant::now();
    let n = drive.lidar_scan(1).cloud.len();
    eprintln!("default scan: {n} points in {:?}", t.elapsed());
    assert!((108_000..=132_000).contains(&n), "{n} points");
}

#[test]
fn range_noise_matches_configured_sigma_on_flat_ground() {
    let world = World::from_parts(Ground::FLAT, None, vec![], vec![], 1);
    let config = LidarConfig { range_noise_m: 0.02, dropout_prob: 0.0, azimuth_steps: 500, ..LidarConfig::default() };
    let h = 1.73;
    let scan = config.scan(&world, 0.0, &static_pose(h), Stamp(0), 3, 0);
    let c = &scan.cloud;
    let mut residuals = Vec::new();
    for i in 0..c.len() {
        let p = c.point(i).unwrap().cast::<f64>();
        let r = p.coords.norm();
        let dz = p.z / r;
        // True range along the same direction to the plane z = -h (lidar frame).
        let truth = h / -dz;
        if truth < 40.0 {
            residuals.push(r - truth);
        }
    }
    assert!(residuals.len() > 10_000, "{} returns", residuals.len());
    let n = residuals.len() as f64;
    let mean = residuals.iter().sum::<f64>() / n;
    let sigma = (residuals.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / n).sqrt();
    assert!(mean.abs() < 0.002, "bias {mean}");
    assert!((sigma - 0.02).abs() < 0.2 * 0.02, "σ {sigma}");
}

#[test]
fn time_offsets_span_one_sweep_and_increase_with_azimuth() {
    let mut drive = Drive::new(&Scenario::new(11, 0.3)).unwrap();
    let c = drive.lidar_scan(0).cloud.clone();
    let t = c.time_offset_s.as_ref().unwrap();
    assert!(t.iter().all(|&t| (0.0..0.1).contains(&t)));
    assert!(*t.last().unwrap() > 0.099 && t[0] < 0.001, "offsets do not span the sweep");
    // Clockwise angle from the sweep start (facing backwards).
    let mut prev_t = -1.0f32;
    let mut prev_angle = -1.0f64;
    for i in 0..c.len() {
        let angle =
            (std::f64::consts::PI - f64::from(c.y[i]).atan2(f64::from(c.x[i]))).rem_euclid(std::f64::consts::TAU);
        if t[i] > prev_t {
            assert!(angle + 1e-3 >= prev_angle || angle < 0.01, "azimuth went back at point {i}");
            prev_angle = angle;
        }
        assert!(t[i] >= prev_t, "time went back at point {i}");
        prev_t = t[i];
    }
    let rings = c.ring.as_ref().unwrap();
    assert!(rings.iter().all(|&r| r < 64));
}

#[test]
fn a_lidar_point_on_a_known_box_lies_on_its_surface() {
    let b = BoxPrim { center: [8.0, 2.0, 1.5], half: [2.0, 1.0, 1.0], yaw_rad: 0.4 };
    let prim = Primitive {
        shape: Shape::Box(b),
        surface: Surface { material: Material::CarPaint, color: [200, 0, 0], object_id: 9 },
    };
    let world = World::from_parts(Ground::FLAT, None, vec![prim], vec![], 1);
    let config = LidarConfig { dropout_prob: 0.0, ..LidarConfig::default() };
    let h = 1.73;
    let scan = config.scan(&world, 0.0, &static_pose(h), Stamp(0), 5, 0);
    let c = &scan.cloud;
    let mut on_box = 0;
    for i in 0..c.len() {
        let p = [f64::from(c.x[i]), f64::from(c.y[i]), f64::from(c.z[i]) + h];
        if p[2] > 0.2 {
            // Everything above the ground is the box: residual within 5 σ of the range noise.
            let d = b.signed_distance(p);
            assert!(d.abs() < 0.1, "point {p:?} is {d} m from the box");
            on_box += 1;
        }
    }
    assert!(on_box > 500, "{on_box} points on the box");
    assert_eq!(scan.points_per_object.get(&9).copied().unwrap_or(0) as usize, on_box);
}

#[test]
fn ground_truth_boxes_contain_the_lidar_points_of_nearby_objects() {
    let mut drive = Drive::new(&Scenario::new(21, 0.3)).unwrap();
    let index = 1;
    let t0 = 0.1;
    let scan = drive.lidar_scan(index).clone();
    let c = &scan.cloud;
    let times = c.time_offset_s.as_ref().unwrap();
    let mut checked = 0;
    for (i, &id) in scan.point_object_ids.iter().enumerate() {
        if id == 0 {
            continue;
        }
        // The object's box at the point's own time, grown by 10 cm (5 σ of range noise).
        let t = t0 + f64::from(times[i]);
        let p_map = drive.map_from_lidar(t) * c.point(i).unwrap().cast::<f64>();
        let mut bbox = drive.world().objects_at(t).into_iter().find(|o| o.id == id).unwrap().bbox;
        bbox.size += nalgebra::Vector3::repeat(0.2);
        assert!(
            bbox.contains(&p_map),
            "point {i} {p_map:?} outside the box of object {id}: {bbox:?} {:?}",
            drive.world().actors().iter().find(|a| a.id == id).map(|a| (a.class, a.motion_kind()))
        );
        checked += 1;
    }
    let objects = scan.points_per_object.values().filter(|&&n| n >= 20).count();
    assert!(objects >= 3 && checked > 500, "{objects} objects, {checked} points");
}

#[test]
fn lost_beams_return_no_points() {
    let mut s = Scenario::new(7, 0.3);
    s.faults.lidar_lost_beams = vec![0, 5, 63];
    let mut drive = Drive::new(&s).unwrap();
    let rings = drive.lidar_scan(0).cloud.ring.clone().unwrap();
    assert!(!rings.is_empty());
    assert!(rings.iter().all(|r| ![0u16, 5, 63].contains(r)));
    assert!(rings.contains(&4));
}

#[test]
fn town_lidar_returns_lie_on_the_surfaces_they_hit_within_noise() {
    // A sloped town, so the ground is not simply z = 0.
    let mut s = Scenario::new(17, 0.3);
    s.world.ground_slope = [0.03, -0.02];
    let sigma = s.lidar.range_noise_m;
    let mut drive = Drive::new(&s).unwrap();
    let scan = drive.lidar_scan(1).clone();
    let t0 = 0.1;
    let world = drive.world();
    let c = &scan.cloud;
    let times = c.time_offset_s.as_ref().unwrap();
    let ground = *world.ground();
    let mut residuals = Vec::new();
    for i in (0..c.len()).step_by(17) {
        let t = t0 + f64::from(times[i]);
        let p = drive.map_from_lidar(t) * c.point(i).unwrap().cast::<f64>();
        let p = [p.x, p.y, p.z];
        let id = scan.point_object_ids[i];
        // Distance to the nearest surface the point could be on: the ground and static
        // primitives for id 0, the object's own parts (in its body frame at the point's time)
        // otherwise.
        let d = if id == 0 {
            let n = ground.normal();
            let on_ground = (p[2] - ground.height(p[0], p[1])) * n[2];
            world
                .statics()
                .iter()
                .filter(|q| {
                    let b = q.shape.bounds_xy();
                    p[0] > b[0] - 0.5 && p[0] < b[2] + 0.5 && p[1] > b[1] - 0.5 && p[1] < b[3] + 0.5
                })
                .map(|q| q.shape.signed_distance(p))
                .fold(on_ground, |a: f64, b| if b.abs() < a.abs() { b } else { a })
        } else {
            let actor = world.actors().iter().find(|a| a.id == id).unwrap();
            let st = world.actor_state(actor, t);
            let z = ground.height(st.xy[0], st.xy[1]);
            let (sn, cs) = st.yaw_rad.sin_cos();
            let (dx, dy) = (p[0] - st.xy[0], p[1] - st.xy[1]);
            let body = [cs * dx + sn * dy, -sn * dx + cs * dy, p[2] - z];
            actor.parts.iter().map(|part| part.shape.signed_distance(body)).fold(f64::INFINITY, |a: f64, b| {
                if b.abs() < a.abs() {
                    b
                } else {
                    a
                }
            })
        };
        residuals.push(d);
    }
    let n = residuals.len() as f64;
    let rms = (residuals.iter().map(|d| d * d).sum::<f64>() / n).sqrt();
    let worst = residuals.iter().fold(0.0f64, |a, d| a.max(d.abs()));
    eprintln!("{} returns: residual rms {rms:.4} m, worst {worst:.4} m (σ {sigma} m)", residuals.len());
    assert!(residuals.len() > 5_000);
    // Range noise along the ray shows as σ·cos(incidence) across the surface: at most σ.
    assert!(rms <= 1.05 * sigma && rms > 0.3 * sigma, "rms {rms}");
    assert!(worst < 6.0 * sigma, "a return {worst} m off every surface");
}

#[test]
fn time_offset_at_azimuth_inverts_the_firing_order() {
    let lidar = LidarConfig { azimuth_steps: 720, ..LidarConfig::default() };
    for k in 0..lidar.azimuth_steps {
        let dt = lidar.time_offset_at_azimuth(lidar.azimuth_rad(k));
        assert!((dt - lidar.time_offset_s(k)).abs() < 1e-12, "firing {k}: {dt} vs {}", lidar.time_offset_s(k));
    }
    // Straight ahead is half a sweep after the stamp; every azimuth maps into one period.
    assert!((lidar.time_offset_at_azimuth(0.0) - lidar.period_s() / 2.0).abs() < 1e-12);
    for a in [-10.0, -std::f64::consts::PI, std::f64::consts::PI, 7.0, 1e6] {
        assert!((0.0..lidar.period_s()).contains(&lidar.time_offset_at_azimuth(a)), "azimuth {a}");
    }
}
