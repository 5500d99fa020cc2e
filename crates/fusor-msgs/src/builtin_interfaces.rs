//! `builtin_interfaces`: time and duration.

use crate::ros_message;
use serde::{Deserialize, Serialize};

/// `builtin_interfaces/Time`: a point in time since the Unix epoch (UTC or the ROS clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Time {
    /// Whole seconds since the epoch.
    pub sec: i32,
    /// Nanoseconds past `sec`, in `[0, 1e9)` when valid.
    pub nanosec: u32,
}

/// `builtin_interfaces/Duration`: a span of time, `sec + nanosec·1e-9` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Duration {
    /// Whole seconds (may be negative).
    pub sec: i32,
    /// Nanoseconds added to `sec`, in `[0, 1e9)` when valid.
    pub nanosec: u32,
}

ros_message!(Time, "builtin_interfaces", "Time");
ros_message!(Duration, "builtin_interfaces", "Duration");
