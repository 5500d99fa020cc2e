//! Point clouds as struct-of-arrays.

use crate::{CoreError, FrameId, Result, Stamp};
use nalgebra::{Isometry3, Point3};
use serde::{Deserialize, Serialize};

/// A lidar scan, one column per attribute (struct-of-arrays: cache-friendly and SIMD-friendly).
/// All columns have the same length; optional columns are either absent or full length.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PointCloud {
    /// Time of validity (the scan's reference time, usually its start or the forward direction).
    pub stamp: Stamp,
    /// Frame the coordinates are expressed in (usually `lidar`).
    pub frame_id: FrameId,
    /// x in metres.
    pub x: Vec<f32>,
    /// y in metres.
    pub y: Vec<f32>,
    /// z in metres.
    pub z: Vec<f32>,
    /// Return intensity, sensor units (KITTI: reflectance in [0, 1]; many drivers: 0–255).
    pub intensity: Vec<f32>,
    /// Laser ring (beam) index, when the sensor reports it.
    pub ring: Option<Vec<u16>>,
    /// Per-point time offset from `stamp`, in seconds (for deskewing), when the sensor reports it.
    pub time_offset_s: Option<Vec<f32>>,
}

impl PointCloud {
    /// An empty cloud with room for `capacity` points.
    pub fn with_capacity(stamp: Stamp, frame_id: impl Into<FrameId>, capacity: usize) -> Self {
        Self {
            stamp,
            frame_id: frame_id.into(),
            x: Vec::with_capacity(capacity),
            y: Vec::with_capacity(capacity),
            z: Vec::with_capacity(capacity),
            intensity: Vec::with_capacity(capacity),
            ring: None,
            time_offset_s: None,
        }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// True when there are no points.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// Appends one point (x, y, z in metres, intensity).
    pub fn push(&mut self, x: f32, y: f32, z: f32, intensity: f32) {
        self.x.push(x);
        self.y.push(y);
        self.z.push(z);
        self.intensity.push(intensity);
    }

    /// Point `i` as a 3D point, `None` when out of range.
    pub fn point(&self, i: usize) -> Option<Point3<f32>> {
        Some(Point3::new(*self.x.get(i)?, *self.y.get(i)?, *self.z.get(i)?))
    }

    /// Checks that all columns have the same length.
    pub fn validate(&self) -> Result<()> {
        let n = self.x.len();
        let lens = [
            ("y", self.y.len()),
            ("z", self.z.len()),
            ("intensity", self.intensity.len()),
            ("ring", self.ring.as_ref().map_or(n, Vec::len)),
            ("time_offset_s", self.time_offset_s.as_ref().map_or(n, Vec::len)),
        ];
        for (name, len) in lens {
            if len != n {
                return Err(CoreError::invalid("point cloud", format!("column {name} has {len} values, x has {n}")));
            }
        }
        Ok(())
    }

    /// Parses the KITTI / nuScenes binary layout: little-endian f32 records of `floats_per_point`
    /// values (`x y z intensity [ring]`; KITTI has 4, nuScenes 5 with the ring as a float).
    pub fn from_f32_records(
        bytes: &[u8],
        floats_per_point: usize,
        stamp: Stamp,
        frame_id: impl Into<FrameId>,
    ) -> Result<Self> {
        if floats_per_point < 4 {
            return Err(CoreError::invalid(
                "point records",
                format!("need ≥ 4 floats per point, got {floats_per_point}"),
            ));
        }
        let record = 4 * floats_per_point;
        if !bytes.len().is_multiple_of(record) {
            return Err(CoreError::invalid(
                "point records",
                format!("{} bytes is not a multiple of the {record}-byte record", bytes.len()),
            ));
        }
        let n = bytes.len() / record;
        let mut cloud = Self::with_capacity(stamp, frame_id, n);
        let mut ring = (floats_per_point >= 5).then(|| Vec::with_capacity(n));
        for rec in bytes.chunks_exact(record) {
            let f = |k: usize| f32::from_le_bytes([rec[4 * k], rec[4 * k + 1], rec[4 * k + 2], rec[4 * k + 3]]);
            cloud.push(f(0), f(1), f(2), f(3));
            if let Some(ring) = ring.as_mut() {
                let r = f(4);
                ring.push(if r.is_finite() && (0.0..=f32::from(u16::MAX)).contains(&r) { r as u16 } else { u16::MAX });
            }
        }
        cloud.ring = ring;
        Ok(cloud)
    }

    /// Returns this cloud expressed in `target` through `target_from_self` (f64 maths, f32 storage).
    pub fn transformed(&self, target: impl Into<FrameId>, target_from_self: &Isometry3<f64>) -> Self {
        let mut out = self.clone();
        out.frame_id = target.into();
        for i in 0..self.len() {
            let p = target_from_self * Point3::new(f64::from(self.x[i]), f64::from(self.y[i]), f64::from(self.z[i]));
            out.x[i] = p.x as f32;
            out.y[i] = p.y as f32;
            out.z[i] = p.z as f32;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kitti_records_and_rejects_partial_ones() {
        let mut bytes = Vec::new();
        for v in [1.0f32, 2.0, 3.0, 0.5, -1.0, -2.0, -3.0, 0.25] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let cloud = PointCloud::from_f32_records(&bytes, 4, Stamp(5), "lidar").unwrap();
        assert_eq!(cloud.len(), 2);
        assert_eq!(cloud.point(1), Some(Point3::new(-1.0, -2.0, -3.0)));
        assert_eq!(cloud.intensity, vec![0.5, 0.25]);
        assert!(PointCloud::from_f32_records(&bytes[..30], 4, Stamp(5), "lidar").is_err());
    }

    #[test]
    fn validate_catches_ragged_columns() {
        let mut cloud = PointCloud::with_capacity(Stamp(0), "lidar", 2);
        cloud.push(0.0, 0.0, 0.0, 0.0);
        assert!(cloud.validate().is_ok());
        cloud.ring = Some(vec![]);
        assert!(cloud.validate().is_err());
    }
}
