//! `std_msgs`: header and colour.

use crate::builtin_interfaces::Time;
use crate::ros_message;
use serde::{Deserialize, Serialize};

/// `std_msgs/Header`: time of validity and coordinate frame of the data that follows.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Header {
    /// Time of validity (sensor time of the data).
    pub stamp: Time,
    /// Frame the data is expressed in.
    pub frame_id: String,
}

/// `std_msgs/ColorRGBA`: a colour, each channel in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ColorRGBA {
    /// Red.
    pub r: f32,
    /// Green.
    pub g: f32,
    /// Blue.
    pub b: f32,
    /// Alpha (1 = opaque).
    pub a: f32,
}

ros_message!(Header, "std_msgs", "Header");
ros_message!(ColorRGBA, "std_msgs", "ColorRGBA");
