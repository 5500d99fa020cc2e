//! Builders and a deterministic noise source shared by the tracker tests.
#![allow(dead_code)]

use fusor_core::{Box3, Detection, FrameId, ObjectClass, Stamp};
use nalgebra::{Point3, Vector3};

/// Frame period of the simulated sensor: 10 Hz.
pub const DT_NS: i64 = 100_000_000;

pub fn stamp(frame: i64) -> Stamp {
    Stamp::from_nanos(1_700_000_000_000_000_000 + frame * DT_NS)
}

/// A detection in `map` at (x, y), car-sized, heading `yaw`.
pub fn det_at(x: f64, y: f64, yaw: f64, class: ObjectClass) -> Detection {
    Detection {
        stamp: Stamp::ZERO,
        bbox: Box3 {
            frame_id: FrameId::new("map"),
            center: Point3::new(x, y, 0.8),
            size: Vector3::new(4.2, 1.8, 1.6),
            yaw_rad: yaw,
        },
        class,
        score: 0.8,
    }
}

/// xorshift64* with Box–Muller normals: deterministic noise for reproducible tests.
pub struct Rng(pub u64);

impl Rng {
    pub fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn normal(&mut self, std: f64) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        std * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}
