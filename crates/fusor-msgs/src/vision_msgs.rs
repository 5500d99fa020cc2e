//! `vision_msgs` (4.x layout, Humble and later): 3D detections.

use crate::geometry_msgs::{Pose, PoseWithCovariance, Vector3};
use crate::ros_message;
use crate::std_msgs::Header;
use serde::{Deserialize, Serialize};

/// `vision_msgs/ObjectHypothesis`: a class and its score.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ObjectHypothesis {
    /// Class name (fusor: `car`, `pedestrian`, `cyclist`, `other`).
    pub class_id: String,
    /// Confidence, usually in [0, 1].
    pub score: f64,
}

/// `vision_msgs/ObjectHypothesisWithPose`: a class hypothesis with the object's pose.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ObjectHypothesisWithPose {
    /// Class and score.
    pub hypothesis: ObjectHypothesis,
    /// Pose of the object in the header's frame.
    pub pose: PoseWithCovariance,
}

/// `vision_msgs/BoundingBox3D`: an oriented box.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct BoundingBox3D {
    /// Centre and orientation of the box.
    pub center: Pose,
    /// Edge lengths in metres along the box's own x, y, z axes.
    pub size: Vector3,
}

/// `vision_msgs/Detection3D`: one detected object.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Detection3D {
    /// Time of validity and frame.
    pub header: Header,
    /// Class hypotheses.
    pub results: Vec<ObjectHypothesisWithPose>,
    /// The box.
    pub bbox: BoundingBox3D,
    /// Track id, empty when not tracked.
    pub id: String,
}

/// `vision_msgs/Detection3DArray`: all detections of one frame.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Detection3DArray {
    /// Time of validity and frame.
    pub header: Header,
    /// The detections.
    pub detections: Vec<Detection3D>,
}

ros_message!(ObjectHypothesis, "vision_msgs", "ObjectHypothesis");
ros_message!(ObjectHypothesisWithPose, "vision_msgs", "ObjectHypothesisWithPose");
ros_message!(BoundingBox3D, "vision_msgs", "BoundingBox3D");
ros_message!(Detection3D, "vision_msgs", "Detection3D");
ros_message!(Detection3DArray, "vision_msgs", "Detection3DArray");
