//! Perceived and ground-truth objects: boxes, classes, detections, tracks.

use crate::{FrameId, Stamp};
use nalgebra::{Point3, Vector3};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Object classes fusor detects and evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ObjectClass {
    /// Passenger cars, vans.
    Car,
    /// People on foot.
    Pedestrian,
    /// People on bicycles.
    Cyclist,
    /// Anything else (trucks, trams, clutter) when reported at all.
    Other,
}

impl ObjectClass {
    /// The classes the detector and evaluator score.
    pub const SCORED: [ObjectClass; 3] = [Self::Car, Self::Pedestrian, Self::Cyclist];

    /// Lower-case name, as used in `vision_msgs` class ids and reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Car => "car",
            Self::Pedestrian => "pedestrian",
            Self::Cyclist => "cyclist",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for ObjectClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ObjectClass {
    type Err = String;
    /// Accepts fusor names and KITTI names (`Car`, `Van`, `Pedestrian`, `Person_sitting`, `Cyclist`).
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "car" | "van" => Self::Car,
            "pedestrian" | "person_sitting" => Self::Pedestrian,
            "cyclist" => Self::Cyclist,
            "other" | "truck" | "tram" | "misc" => Self::Other,
            _ => return Err(format!("unknown object class {s:?}")),
        })
    }
}

/// An oriented 3D box. The box is upright in `frame_id` (z up): `yaw_rad` turns its length axis
/// from the frame's +x towards +y.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Box3 {
    /// Frame the box is expressed in.
    pub frame_id: FrameId,
    /// Geometric centre in metres.
    pub center: Point3<f64>,
    /// Length (along heading), width, height in metres.
    pub size: Vector3<f64>,
    /// Heading about +z in radians.
    pub yaw_rad: f64,
}

impl Box3 {
    /// The 8 corners: bottom face counter-clockwise from front-left, then the top face.
    pub fn corners(&self) -> [Point3<f64>; 8] {
        let (s, c) = self.yaw_rad.sin_cos();
        let (hl, hw, hh) = (self.size.x / 2.0, self.size.y / 2.0, self.size.z / 2.0);
        let mut out = [Point3::origin(); 8];
        let xy = [(hl, hw), (-hl, hw), (-hl, -hw), (hl, -hw)];
        for (dz, base) in [(-hh, 0usize), (hh, 4)] {
            for (i, (dx, dy)) in xy.iter().enumerate() {
                out[base + i] =
                    Point3::new(self.center.x + c * dx - s * dy, self.center.y + s * dx + c * dy, self.center.z + dz);
            }
        }
        out
    }

    /// The 4 bird's-eye-view corners (x, y), counter-clockwise.
    pub fn bev_corners(&self) -> [[f64; 2]; 4] {
        let c = self.corners();
        [[c[0].x, c[0].y], [c[1].x, c[1].y], [c[2].x, c[2].y], [c[3].x, c[3].y]]
    }

    /// True when `p` (same frame) lies inside the box.
    pub fn contains(&self, p: &Point3<f64>) -> bool {
        let (s, c) = self.yaw_rad.sin_cos();
        let d = p - self.center;
        let along = c * d.x + s * d.y;
        let across = -s * d.x + c * d.y;
        along.abs() <= self.size.x / 2.0 && across.abs() <= self.size.y / 2.0 && d.z.abs() <= self.size.z / 2.0
    }
}

/// One detected object at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Time of validity (the sensor stamp it came from).
    pub stamp: Stamp,
    /// The box.
    pub bbox: Box3,
    /// Most likely class.
    pub class: ObjectClass,
    /// Confidence in [0, 1].
    pub score: f32,
}

/// A tracked object: a detection with identity and motion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Track {
    /// Stable id, unique over a run.
    pub id: u64,
    /// Time of the last update.
    pub stamp: Stamp,
    /// Filtered box (usually in `map`).
    pub bbox: Box3,
    /// Velocity in m/s in the box's frame.
    pub velocity: Vector3<f64>,
    /// Voted class.
    pub class: ObjectClass,
    /// Confidence in [0, 1].
    pub score: f32,
    /// Number of updates with an associated detection.
    pub hits: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    fn car() -> Box3 {
        Box3 {
            frame_id: "base_link".into(),
            center: Point3::new(10.0, 2.0, 0.8),
            size: Vector3::new(4.0, 2.0, 1.6),
            yaw_rad: std::f64::consts::FRAC_PI_2,
        }
    }

    #[test]
    fn corners_follow_yaw() {
        let c = car().corners();
        // Yaw 90°: the front-left bottom corner is at +y (length) and −x (left of heading).
        assert_relative_eq!(c[0], Point3::new(9.0, 4.0, 0.0), epsilon = 1e-12);
        assert_relative_eq!(c[6], Point3::new(11.0, 0.0, 1.6), epsilon = 1e-12);
    }

    #[test]
    fn contains_respects_orientation() {
        let b = car();
        assert!(b.contains(&Point3::new(10.0, 3.9, 0.5)));
        assert!(!b.contains(&Point3::new(11.5, 2.0, 0.5)));
    }

    #[test]
    fn parses_kitti_class_names() {
        assert_eq!("Van".parse::<ObjectClass>(), Ok(ObjectClass::Car));
        assert_eq!("Person_sitting".parse::<ObjectClass>(), Ok(ObjectClass::Pedestrian));
        assert!("DontCare".parse::<ObjectClass>().is_err());
    }
}
