//! `nav_msgs`: paths.

use crate::geometry_msgs::PoseStamped;
use crate::ros_message;
use crate::std_msgs::Header;
use serde::{Deserialize, Serialize};

/// `nav_msgs/Path`: a sequence of poses for a robot to follow.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Path {
    /// Time and frame of the path.
    pub header: Header,
    /// The poses, in order.
    pub poses: Vec<PoseStamped>,
}

ros_message!(Path, "nav_msgs", "Path");
