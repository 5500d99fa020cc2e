//! The QoS profiles fusor uses, named after rclcpp's.

use ros2_client::qos::{Durability, History, Reliability, WhenFull};
use ros2_client::QosProfile;
use std::time::Duration;

/// How long a reliable writer may block when its history is full before `publish` fails.
const RELIABLE_BLOCK: Duration = Duration::from_millis(100);

/// Sensor data (rclcpp's `SensorDataQoS`): best effort, keep last 5, volatile. A late sample is
/// worth less than the next one; a subscriber with this profile matches reliable and best-effort
/// publishers.
pub fn sensor_data() -> QosProfile {
    QosProfile::subscription_default()
        .reliability(Reliability::BestEffort)
        .durability(Durability::Volatile)
        .history(History::KeepLast { depth: 5 })
}

/// The reliable default (rclcpp's default QoS): reliable, keep last 10, volatile.
pub fn reliable() -> QosProfile {
    QosProfile::publisher_default()
        .reliability(Reliability::Reliable { when_full: WhenFull::Wait(RELIABLE_BLOCK) })
        .durability(Durability::Volatile)
        .history(History::KeepLast { depth: 10 })
}

/// Latched topics (`/tf_static`, `/planning/route`): reliable, keep last `depth`,
/// transient-local, so a subscriber that joins later still gets the last `depth` messages.
pub fn transient_local(depth: usize) -> QosProfile {
    reliable().durability(Durability::TransientLocal).history(History::KeepLast { depth: depth.max(1) })
}

/// True for topics ROS 2 conventionally latches (published transient-local).
pub fn is_latched_topic(topic: &str) -> bool {
    matches!(topic.trim_end_matches('/'), "/tf_static" | "/planning/route" | "/robot_description" | "/map")
}

/// True for ROS 2 types that are sensor streams (sensor-data QoS on the subscribing side).
pub fn is_sensor_type(type_name: &str) -> bool {
    matches!(
        type_name,
        "sensor_msgs/msg/PointCloud2"
            | "sensor_msgs/msg/Image"
            | "sensor_msgs/msg/CompressedImage"
            | "sensor_msgs/msg/CameraInfo"
            | "sensor_msgs/msg/NavSatFix"
            | "sensor_msgs/msg/Imu"
    )
}

/// What a player offers on `topic` (like `ros2 bag play`'s recorded QoS): transient-local for
/// latched topics, reliable otherwise; a reliable writer also matches best-effort readers.
pub fn offered_for_topic(topic: &str) -> QosProfile {
    if is_latched_topic(topic) {
        transient_local(1)
    } else {
        reliable()
    }
}

/// What a recorder asks on `topic`: transient-local for latched topics (to get their history),
/// reliable otherwise, or best effort when `best_effort` (to match best-effort publishers too).
pub fn requested_for_topic(topic: &str, best_effort: bool) -> QosProfile {
    if is_latched_topic(topic) {
        transient_local(1)
    } else if best_effort {
        sensor_data().history(History::KeepLast { depth: 100 })
    } else {
        reliable().history(History::KeepLast { depth: 100 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensor_data_is_best_effort_keep_last_5_volatile() {
        let q = sensor_data();
        assert_eq!(q.reliability, Reliability::BestEffort);
        assert_eq!(q.history, History::KeepLast { depth: 5 });
        assert_eq!(q.durability, Durability::Volatile);
    }

    #[test]
    fn route_and_tf_static_are_transient_local() {
        for topic in ["/tf_static", "/planning/route"] {
            assert_eq!(offered_for_topic(topic).durability, Durability::TransientLocal, "{topic}");
        }
        assert_eq!(offered_for_topic("/tf").durability, Durability::Volatile);
    }
}
