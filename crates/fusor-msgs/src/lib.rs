//! ROS 2 messages.
