//! Conversions between ROS 2 messages and fusor-core payloads.
