//! `tf2_msgs`: the `/tf` and `/tf_static` message.

use crate::geometry_msgs::TransformStamped;
use crate::ros_message;
use serde::{Deserialize, Serialize};

/// `tf2_msgs/TFMessage`: a batch of `parent_from_child` transforms.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TFMessage {
    /// The transforms.
    pub transforms: Vec<TransformStamped>,
}

ros_message!(TFMessage, "tf2_msgs", "TFMessage");
