//! Hand-made frames: boxes sampled as lidar surfaces on a flat ground, and a camera that sees
//! them as coloured rectangles.
#![allow(dead_code)]

use fusor_core::calib::{CameraModel, Distortion};
use fusor_core::{Box3, ObjectClass};
use fusor_detect::{CameraView, GtBox, Sample, CLASSES};
use nalgebra::{Isometry3, Matrix3, Point3, Translation3, Vector3};

pub const IMAGE: [u32; 2] = [64, 32];

/// A forward-looking camera 1.5 m above `base_link`, 64 × 32 px, 90° wide.
pub fn camera() -> (CameraModel, Isometry3<f64>) {
    let model = CameraModel {
        width: IMAGE[0],
        height: IMAGE[1],
        k: Matrix3::new(32.0, 0.0, 32.0, 0.0, 32.0, 16.0, 0.0, 0.0, 1.0),
        distortion: Distortion::None,
    };
    let base_link_from_camera =
        Isometry3::from_parts(Translation3::new(0.0, 0.0, 1.5), fusor_sim::rig::body_from_optical());
    (model, base_link_from_camera.inverse())
}

pub fn gt(class: ObjectClass, x: f64, y: f64, yaw: f64) -> GtBox {
    let size = match class {
        ObjectClass::Pedestrian => Vector3::new(0.7, 0.7, 1.7),
        ObjectClass::Cyclist => Vector3::new(1.8, 0.7, 1.7),
        _ => Vector3::new(4.2, 1.8, 1.5),
    };
    GtBox {
        class,
        bbox: Box3 { frame_id: "base_link".into(), center: Point3::new(x, y, size.z / 2.0), size, yaw_rad: yaw },
        lidar_points: 100,
    }
}

fn colour(class: ObjectClass) -> [u8; 3] {
    match class {
        ObjectClass::Car => [220, 40, 40],
        ObjectClass::Pedestrian => [40, 40, 220],
        _ => [40, 220, 40],
    }
}

/// A frame with `boxes`: ground points every 0.5 m, box sides and tops every ~0.15 m, and a
/// camera image with each box's projection filled in its class colour.
pub fn frame(boxes: Vec<GtBox>) -> Sample {
    let mut points = Vec::new();
    for i in 0..40 {
        for j in -20..20 {
            points.push([i as f32 * 0.5 + 0.1, j as f32 * 0.5 + 0.1, 0.0, 0.1]);
        }
    }
    for b in &boxes {
        let (s, c) = (b.bbox.size, b.bbox.center);
        let (sn, cs) = b.bbox.yaw_rad.sin_cos();
        let step = 0.15;
        let (nl, nw, nh) = ((s.x / step) as i32, (s.y / step) as i32, (s.z / step) as i32);
        let mut local = Vec::new();
        for k in 0..=nh {
            let z = -s.z / 2.0 + k as f64 * step;
            for i in 0..=nl {
                let x = -s.x / 2.0 + i as f64 * step;
                local.push((x, -s.y / 2.0, z));
                local.push((x, s.y / 2.0, z));
            }
            for j in 0..=nw {
                let y = -s.y / 2.0 + j as f64 * step;
                local.push((-s.x / 2.0, y, z));
                local.push((s.x / 2.0, y, z));
            }
        }
        for (x, y, z) in local {
            points.push([(c.x + cs * x - sn * y) as f32, (c.y + sn * x + cs * y) as f32, (c.z + z) as f32, 0.6]);
        }
    }
    let (model, camera_from_base_link) = camera();
    let [w, h] = IMAGE;
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    let mut labels = vec![0u8; (w * h) as usize];
    for v in 0..h {
        for u in 0..w {
            let g = if v < h / 2 { 150 } else { 90 };
            rgb[((v * w + u) * 3) as usize..((v * w + u) * 3 + 3) as usize].copy_from_slice(&[g, g, g]);
        }
    }
    for b in &boxes {
        let px: Vec<_> = b.bbox.corners().iter().filter_map(|p| model.project(&(camera_from_base_link * p))).collect();
        if px.len() < 8 {
            continue;
        }
        let (u0, u1) = px.iter().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.x), b.max(p.x)));
        let (v0, v1) = px.iter().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.y), b.max(p.y)));
        for v in (v0.max(0.0) as u32)..(v1.min(f64::from(h)) as u32) {
            for u in (u0.max(0.0) as u32)..(u1.min(f64::from(w)) as u32) {
                let o = ((v * w + u) * 3) as usize;
                rgb[o..o + 3].copy_from_slice(&colour(b.class));
                labels[(v * w + u) as usize] = CLASSES.iter().position(|c| *c == b.class).map_or(0, |k| k as u8 + 1);
            }
        }
    }
    let view = CameraView { width: w, height: h, rgb, camera: model, camera_from_base_link, labels };
    Sample { seed: 0, scan: 0, points, cameras: vec![view], boxes }
}

/// Four frames with cars and pedestrians in different places.
pub fn handful() -> Vec<Sample> {
    use ObjectClass::{Car, Pedestrian};
    vec![
        frame(vec![gt(Car, 8.0, 2.0, 0.1), gt(Pedestrian, 5.0, -3.0, 0.0)]),
        frame(vec![gt(Car, 11.0, -3.5, 1.4), gt(Pedestrian, 6.5, 1.0, 0.5), gt(Pedestrian, 4.0, 4.5, 0.0)]),
        frame(vec![gt(Car, 5.5, 0.5, -0.3), gt(Car, 12.5, 4.0, 0.0)]),
        frame(vec![gt(Pedestrian, 9.0, -1.0, 0.0), gt(Car, 7.0, -5.0, 2.8)]),
    ]
}
