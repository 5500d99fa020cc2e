//! Dataset importers: public datasets into fusor's standard ROS 2 MCAP layout.
//!
//! Standard topics (frames in parentheses):
//!
//! | topic | type |
//! |---|---|
//! | [`TOPIC_LIDAR`] | `sensor_msgs/msg/PointCloud2` (`lidar`) |
//! | [`TOPIC_CAMERA_IMAGE`] | `sensor_msgs/msg/Image` (`camera_front`) |
//! | [`TOPIC_CAMERA_COMPRESSED`] | `sensor_msgs/msg/CompressedImage` (`camera_front`) |
//! | [`TOPIC_CAMERA_INFO`] | `sensor_msgs/msg/CameraInfo` (`camera_front`) |
//! | [`TOPIC_GNSS_FIX`] | `sensor_msgs/msg/NavSatFix` (`gnss`) |
//! | [`TOPIC_IMU`] | `sensor_msgs/msg/Imu` (`imu`) |
//! | [`TOPIC_TF_STATIC`] | `tf2_msgs/msg/TFMessage` (`base_link` → each sensor) |

pub mod kitti_raw;

/// Lidar scans.
pub const TOPIC_LIDAR: &str = "/sensing/lidar/points";
/// Front camera, raw pixels.
pub const TOPIC_CAMERA_IMAGE: &str = "/sensing/camera/front/image_raw";
/// Front camera, compressed (PNG/JPEG bytes).
pub const TOPIC_CAMERA_COMPRESSED: &str = "/sensing/camera/front/image_raw/compressed";
/// Front camera intrinsics, one per image.
pub const TOPIC_CAMERA_INFO: &str = "/sensing/camera/front/camera_info";
/// GNSS fixes.
pub const TOPIC_GNSS_FIX: &str = "/sensing/gnss/fix";
/// IMU samples.
pub const TOPIC_IMU: &str = "/sensing/imu";
/// Static transforms (`base_link` → sensors).
pub const TOPIC_TF_STATIC: &str = "/tf_static";

/// Import progress, reported after every message written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Messages written so far.
    pub written: usize,
    /// Messages the import will write in total.
    pub total: usize,
    /// Input bytes read so far (sensor files).
    pub input_bytes: u64,
}
