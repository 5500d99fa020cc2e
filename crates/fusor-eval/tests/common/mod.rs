//! Builders shared by the integration tests.
#![allow(dead_code)]

use fusor_core::{Box3, Detection, FrameId, ObjectClass, Stamp, Track};
use fusor_eval::GroundTruthBox;
use nalgebra::{Point3, Vector3};
use std::path::PathBuf;

/// A box in `base_link`: centre (x, y, z), size (l, w, h) in metres, heading in radians.
pub fn bx(x: f64, y: f64, z: f64, l: f64, w: f64, h: f64, yaw: f64) -> Box3 {
    Box3 {
        frame_id: FrameId::new("base_link"),
        center: Point3::new(x, y, z),
        size: Vector3::new(l, w, h),
        yaw_rad: yaw,
    }
}

/// A 4 × 2 × 1.5 m car-sized box at (x, y).
pub fn car_at(x: f64, y: f64) -> Box3 {
    bx(x, y, 0.75, 4.0, 2.0, 1.5, 0.0)
}

pub fn gt(b: Box3, class: ObjectClass) -> GroundTruthBox {
    GroundTruthBox::new(b, class)
}

pub fn det(b: Box3, class: ObjectClass, score: f32) -> Detection {
    Detection { stamp: Stamp::ZERO, bbox: b, class, score }
}

pub fn track(id: u64, b: Box3, class: ObjectClass) -> Track {
    Track { id, stamp: Stamp::ZERO, bbox: b, velocity: Vector3::zeros(), class, score: 1.0, hits: 1 }
}

/// The shared data folder: `$FUSOR_DATA`, else `shared/data` beside the repository.
pub fn data_dir() -> PathBuf {
    std::env::var_os("FUSOR_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}
