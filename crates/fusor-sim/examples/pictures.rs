//! Pictures of the default drive for the docs: a camera frame with the ground-truth boxes drawn
//! (projected 3D box edges), and a bird's-eye view of a lidar scan (points coloured by height,
//! ground-truth boxes drawn).
//! `cargo run --release -p fusor-sim --example pictures -- [out_dir] [time_s]`
//! (defaults: `docs/`, 12.0 s).

use fusor_core::ObjectClass;
use fusor_sim::drive::GtRecord;
use fusor_sim::{Drive, Scenario};
use image::{Rgb, RgbImage};
use nalgebra::Point3;

/// Box colour per class.
fn class_color(class: ObjectClass) -> Rgb<u8> {
    match class {
        ObjectClass::Car => Rgb([0, 230, 255]),
        ObjectClass::Pedestrian => Rgb([255, 40, 200]),
        ObjectClass::Cyclist => Rgb([255, 220, 0]),
        ObjectClass::Other => Rgb([255, 255, 255]),
    }
}

/// A line from `a` to `b` (pixels), `width` pixels thick, clipped to the image.
fn line(img: &mut RgbImage, a: [f64; 2], b: [f64; 2], color: Rgb<u8>, width: i64) {
    let steps = (b[0] - a[0]).abs().max((b[1] - a[1]).abs()).ceil().clamp(1.0, 20_000.0) as usize;
    for s in 0..=steps {
        let f = s as f64 / steps as f64;
        let (x, y) = ((a[0] + f * (b[0] - a[0])).round() as i64, (a[1] + f * (b[1] - a[1])).round() as i64);
        for dy in 0..width {
            for dx in 0..width {
                let (px, py) = (x + dx - width / 2, y + dy - width / 2);
                if px >= 0 && py >= 0 && (px as u32) < img.width() && (py as u32) < img.height() {
                    img.put_pixel(px as u32, py as u32, color);
                }
            }
        }
    }
}

/// Height colour map (blue low → red high) for `z` metres above the ground.
fn height_color(z: f64) -> Rgb<u8> {
    let t = ((z + 0.3) / 4.0).clamp(0.0, 1.0);
    let stops =
        [[40.0, 60.0, 200.0], [0.0, 200.0, 220.0], [60.0, 220.0, 60.0], [250.0, 220.0, 0.0], [240.0, 40.0, 30.0]];
    let x = t * (stops.len() - 1) as f64;
    let i = (x.floor() as usize).min(stops.len() - 2);
    let f = x - i as f64;
    let c = |k: usize| (stops[i][k] + f * (stops[i + 1][k] - stops[i][k])) as u8;
    Rgb([c(0), c(1), c(2)])
}

const BOX_EDGES: [(usize, usize); 12] =
    [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7)];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let mut args = std::env::args().skip(1);
    let out_dir = args.next().unwrap_or_else(|| format!("{root}/docs"));
    let t_s: f64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(12.0);
    let mut scenario = Scenario::load(format!("{root}/recordings/town-day.toml"))?;
    scenario.duration_s = scenario.duration_s.max(t_s + 1.0);
    let mut drive = Drive::new(&scenario)?;
    let index = (t_s * scenario.lidar.rate_hz).round() as u64;
    let t_scan = index as f64 / scenario.lidar.rate_hz;
    let gt = drive.ground_truth(index);

    // Camera frame at the scan time with every ground-truth box in range drawn.
    let image = drive.camera_frame(t_scan, drive.stamp_at(t_scan), index);
    let mut cam = RgbImage::from_raw(image.width, image.height, image.data.clone()).ok_or("image size")?;
    let camera_from_map = drive.map_from_camera(t_scan).inverse();
    let k = drive.rig().camera_intrinsics;
    let mut drawn = 0;
    for r in &gt.objects {
        let corners = r.object.bbox.corners().map(|c| camera_from_map * c);
        if r.camera.pixels == 0 {
            continue;
        }
        for (a, b) in BOX_EDGES {
            // Clip each edge to the space in front of the camera before projecting it.
            let (mut p, mut q) = (corners[a], corners[b]);
            let near = 0.5;
            if p.z < near && q.z < near {
                continue;
            }
            if p.z < near {
                p = q + (p - q) * ((q.z - near) / (q.z - p.z));
            } else if q.z < near {
                q = p + (q - p) * ((p.z - near) / (p.z - q.z));
            }
            if let (Some(u), Some(v)) = (k.project([p.x, p.y, p.z]), k.project([q.x, q.y, q.z])) {
                line(&mut cam, u, v, class_color(r.object.class), 2);
            }
        }
        drawn += 1;
    }
    let cam_path = format!("{out_dir}/sim-camera-ground-truth.png");
    cam.save(&cam_path)?;

    // Bird's-eye view of the scan in base_link at the scan start (points deskewed with the
    // ego motion), 0.125 m per pixel, ego at the centre facing up.
    let scan = drive.lidar_scan(index).clone();
    let base_from_map = gt.map_from_base_link.inverse();
    let (size, m_per_px) = (800u32, 0.125);
    let mut bev = RgbImage::from_pixel(size, size, Rgb([12, 12, 16]));
    let to_px = |x: f64, y: f64| [f64::from(size) / 2.0 - y / m_per_px, f64::from(size) / 2.0 - x / m_per_px];
    let times = scan.cloud.time_offset_s.as_ref().ok_or("no time offsets")?;
    let mut points: Vec<(f64, [f64; 2])> = Vec::with_capacity(scan.cloud.len());
    for (i, &dt) in times.iter().enumerate() {
        let Some(p) = scan.cloud.point(i) else { continue };
        let p_map = drive.map_from_lidar(t_scan + f64::from(dt)) * p.cast::<f64>();
        let p_base = base_from_map * p_map;
        points.push((p_base.z, to_px(p_base.x, p_base.y)));
    }
    // Low points first, so walls and objects stay on top of the road.
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (z, [u, v]) in points {
        if u >= 0.0 && v >= 0.0 && u < f64::from(size) && v < f64::from(size) {
            bev.put_pixel(u as u32, v as u32, height_color(z));
        }
    }
    let draw_box = |img: &mut RgbImage, r: &GtRecord| {
        let c = r.object.bbox.corners().map(|c| base_from_map * c);
        for (a, b) in [(0, 1), (1, 2), (2, 3), (3, 0)] {
            line(img, to_px(c[a].x, c[a].y), to_px(c[b].x, c[b].y), class_color(r.object.class), 2);
        }
        // A tick from the centre towards the front shows the heading.
        let centre: Point3<f64> = base_from_map * r.object.bbox.center;
        let front = Point3::from((c[0].coords + c[3].coords) / 2.0);
        line(img, to_px(centre.x, centre.y), to_px(front.x, front.y), class_color(r.object.class), 1);
    };
    for r in &gt.objects {
        draw_box(&mut bev, r);
    }
    // The ego: a white box 4.5 × 1.8 m around the car body (base_link is the rear axle).
    let ego = [[3.7, 0.9], [-0.8, 0.9], [-0.8, -0.9], [3.7, -0.9]];
    for i in 0..4 {
        let (a, b) = (ego[i], ego[(i + 1) % 4]);
        line(&mut bev, to_px(a[0], a[1]), to_px(b[0], b[1]), Rgb([255, 255, 255]), 2);
    }
    let bev_path = format!("{out_dir}/sim-lidar-bev.png");
    bev.save(&bev_path)?;
    let seen = gt.objects.iter().filter(|r| r.lidar_points > 0).count();
    println!(
        "{cam_path}: {drawn} boxes; {bev_path}: {} points, {} objects within range, {seen} with lidar points",
        scan.cloud.len(),
        gt.objects.len()
    );
    Ok(())
}
