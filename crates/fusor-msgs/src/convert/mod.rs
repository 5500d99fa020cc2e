//! Conversions between ROS 2 messages and `fusor-core` payloads.
//!
//! Every size, step and offset read from a message is checked (with checked arithmetic) against
//! the bytes actually present before anything is indexed or allocated, so malformed or hostile
//! messages give a [`MsgError`](crate::MsgError), never a panic or a huge allocation.
//!
//! Frames: ROS and fusor share REP-103/105 frames; a `TransformStamped` (`header.frame_id` =
//! parent, `child_frame_id` = child) is fusor's `Transform { target: parent, source: child,
//! target_from_source }`.

mod detection;
mod gnss;
mod image;
mod imu;
mod pointcloud;
mod time;
mod transform;

pub use detection::{detection3d_from, detection3d_from_track, detection_from_detection3d};
pub use gnss::{fix_from_navsatfix, navsatfix_from_fix};
pub use image::{
    compressed_from_image, image_from_compressed, image_from_msg, image_to_msg, CompressedFormat, MAX_DECODED_BYTES,
    MAX_DECODED_SIDE,
};
pub use imu::{imu_from_msg, imu_to_msg};
#[doc(hidden)]
pub use pointcloud::pointcloud_from_msg_generic;
pub use pointcloud::{pointcloud_from_cdr, pointcloud_from_msg, pointcloud_to_msg};
pub use time::{header, stamp_from_time, time_from_stamp};
pub use transform::{transform_from_stamped, transform_stamped};
