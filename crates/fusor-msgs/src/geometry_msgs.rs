//! `geometry_msgs`: points, vectors, poses, transforms, twists (metres, radians, SI units).

use crate::ros_message;
use crate::std_msgs::Header;
use serde::{Deserialize, Serialize};
use serde_big_array::BigArray;

/// `geometry_msgs/Point`: a position in metres.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Point {
    /// x in metres.
    pub x: f64,
    /// y in metres.
    pub y: f64,
    /// z in metres.
    pub z: f64,
}

/// `geometry_msgs/Vector3`: a free vector (units depend on use: m, m/s, rad/s, m/s²).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Vector3 {
    /// x component.
    pub x: f64,
    /// y component.
    pub y: f64,
    /// z component.
    pub z: f64,
}

/// `geometry_msgs/Quaternion`: an orientation, ROS order x, y, z, w.
///
/// `Default` is the identity (w = 1), as the ROS 2 definition's default values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quaternion {
    /// x (vector part).
    pub x: f64,
    /// y (vector part).
    pub y: f64,
    /// z (vector part).
    pub z: f64,
    /// w (scalar part).
    pub w: f64,
}

impl Default for Quaternion {
    fn default() -> Self {
        Self { x: 0.0, y: 0.0, z: 0.0, w: 1.0 }
    }
}

/// `geometry_msgs/Pose`: position (m) and orientation of a body in the header's frame.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Pose {
    /// Position in metres.
    pub position: Point,
    /// Orientation.
    pub orientation: Quaternion,
}

/// `geometry_msgs/PoseStamped`: a pose with time and frame.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PoseStamped {
    /// Time and frame of the pose.
    pub header: Header,
    /// The pose.
    pub pose: Pose,
}

/// `geometry_msgs/PoseWithCovariance`: a pose with a 6×6 row-major covariance over
/// (x, y, z, rotation about X, about Y, about Z), in m² / rad².
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PoseWithCovariance {
    /// The pose.
    pub pose: Pose,
    /// Row-major 6×6 covariance.
    #[serde(with = "BigArray")]
    pub covariance: [f64; 36],
}

impl Default for PoseWithCovariance {
    fn default() -> Self {
        Self { pose: Pose::default(), covariance: [0.0; 36] }
    }
}

/// `geometry_msgs/Transform`: `parent_from_child` translation (m) and rotation.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Transform {
    /// Translation in metres.
    pub translation: Vector3,
    /// Rotation.
    pub rotation: Quaternion,
}

/// `geometry_msgs/TransformStamped`: the pose of `child_frame_id` in `header.frame_id`, i.e. the
/// transform `parent_from_child` (`p_parent = T · p_child`), as tf2 uses it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TransformStamped {
    /// Time of validity and the parent frame.
    pub header: Header,
    /// The child frame.
    pub child_frame_id: String,
    /// `parent_from_child`.
    pub transform: Transform,
}

/// `geometry_msgs/Twist`: linear (m/s) and angular (rad/s) velocity.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Twist {
    /// Linear velocity in m/s.
    pub linear: Vector3,
    /// Angular velocity in rad/s.
    pub angular: Vector3,
}

/// `geometry_msgs/TwistStamped`: a twist with time and frame.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TwistStamped {
    /// Time and frame of the twist.
    pub header: Header,
    /// The twist.
    pub twist: Twist,
}

ros_message!(Point, "geometry_msgs", "Point");
ros_message!(Vector3, "geometry_msgs", "Vector3");
ros_message!(Quaternion, "geometry_msgs", "Quaternion");
ros_message!(Pose, "geometry_msgs", "Pose");
ros_message!(PoseStamped, "geometry_msgs", "PoseStamped");
ros_message!(PoseWithCovariance, "geometry_msgs", "PoseWithCovariance");
ros_message!(Transform, "geometry_msgs", "Transform");
ros_message!(TransformStamped, "geometry_msgs", "TransformStamped");
ros_message!(Twist, "geometry_msgs", "Twist");
ros_message!(TwistStamped, "geometry_msgs", "TwistStamped");
