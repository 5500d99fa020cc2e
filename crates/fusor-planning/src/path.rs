//! Planner outputs shaped like `nav_msgs/Path`: a stamped list of stamped poses in `map`.

use fusor_core::{FrameId, Stamp};
use nalgebra::{Point3, UnitQuaternion, Vector3};

/// One pose of a path: `geometry_msgs/PoseStamped` plus the speed the planner means to drive there.
#[derive(Debug, Clone, PartialEq)]
pub struct PathPose {
    /// When the vehicle is planned to be here (for a route: the planning time).
    pub stamp: Stamp,
    /// Position of `base_link` in metres in `map` (z = 0: the planner is planar).
    pub position: Point3<f64>,
    /// Heading of `base_link` about `map`'s +z, radians from +x (east) towards +y (north).
    pub yaw_rad: f64,
    /// Planned speed in m/s (for a route: the speed limit).
    pub speed_mps: f64,
}

impl PathPose {
    /// The orientation as a unit quaternion (`map_from_base_link` rotation).
    pub fn orientation(&self) -> UnitQuaternion<f64> {
        UnitQuaternion::from_axis_angle(&Vector3::z_axis(), self.yaw_rad)
    }
}

/// A path in `map`, ready to become a `nav_msgs/Path`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedPath {
    /// Always `map`.
    pub frame_id: FrameId,
    /// Time of the data the path was planned from (the fused frame's sensor stamp).
    pub stamp: Stamp,
    /// Poses in driving order.
    pub poses: Vec<PathPose>,
}
