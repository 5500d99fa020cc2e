//! `sensor_msgs`: point clouds, images, camera calibration, GNSS, IMU.

use crate::geometry_msgs::{Quaternion, Vector3};
use crate::ros_message;
use crate::std_msgs::Header;
use serde::{Deserialize, Serialize};

/// `sensor_msgs/PointField`: one named, typed field inside each point record of a [`PointCloud2`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct PointField {
    /// Field name (`x`, `y`, `z`, `intensity`, `ring`, `t`, …).
    pub name: String,
    /// Byte offset of the field from the start of the point record.
    pub offset: u32,
    /// Element type: one of the associated constants (`INT8` … `FLOAT64`).
    pub datatype: u8,
    /// Number of elements of `datatype` in the field (usually 1).
    pub count: u32,
}

impl PointField {
    /// Signed 8-bit integer.
    pub const INT8: u8 = 1;
    /// Unsigned 8-bit integer.
    pub const UINT8: u8 = 2;
    /// Signed 16-bit integer.
    pub const INT16: u8 = 3;
    /// Unsigned 16-bit integer.
    pub const UINT16: u8 = 4;
    /// Signed 32-bit integer.
    pub const INT32: u8 = 5;
    /// Unsigned 32-bit integer.
    pub const UINT32: u8 = 6;
    /// IEEE-754 single precision.
    pub const FLOAT32: u8 = 7;
    /// IEEE-754 double precision.
    pub const FLOAT64: u8 = 8;

    /// Size in bytes of one element of `datatype`, `None` for an unknown datatype.
    pub const fn datatype_size(datatype: u8) -> Option<usize> {
        match datatype {
            Self::INT8 | Self::UINT8 => Some(1),
            Self::INT16 | Self::UINT16 => Some(2),
            Self::INT32 | Self::UINT32 | Self::FLOAT32 => Some(4),
            Self::FLOAT64 => Some(8),
            _ => None,
        }
    }
}

/// `sensor_msgs/PointCloud2`: points as packed records of [`PointField`]s.
///
/// Point `(row, col)` starts at byte `row * row_step + col * point_step` of `data`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PointCloud2 {
    /// Scan time and sensor frame.
    pub header: Header,
    /// Number of rows (1 for an unordered cloud).
    pub height: u32,
    /// Points per row.
    pub width: u32,
    /// Layout of one point record.
    pub fields: Vec<PointField>,
    /// True when multi-byte fields are big-endian.
    pub is_bigendian: bool,
    /// Bytes per point record.
    pub point_step: u32,
    /// Bytes per row.
    pub row_step: u32,
    /// Point records, `row_step * height` bytes.
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
    /// True when no point is invalid (NaN).
    pub is_dense: bool,
}

/// `sensor_msgs/Image`: an uncompressed image, row-major, (0, 0) at the top-left.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Image {
    /// Exposure time and camera optical frame (z forward, x right, y down).
    pub header: Header,
    /// Number of rows.
    pub height: u32,
    /// Number of columns.
    pub width: u32,
    /// Pixel encoding (`rgb8`, `bgr8`, `mono8`, `rgba8`, `bgra8`, `16UC1`, …).
    pub encoding: String,
    /// 1 when multi-byte pixel values are big-endian.
    pub is_bigendian: u8,
    /// Bytes per row.
    pub step: u32,
    /// Pixel bytes, `step * height`.
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

/// `sensor_msgs/CompressedImage`: a PNG or JPEG image.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct CompressedImage {
    /// Exposure time and camera optical frame.
    pub header: Header,
    /// `png`, `jpeg`, or image_transport's `"<enc>; <codec> compressed <enc>"`.
    pub format: String,
    /// The encoded file bytes.
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

/// `sensor_msgs/RegionOfInterest`: a sub-window of the full-resolution image (pixels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct RegionOfInterest {
    /// Left column of the window.
    pub x_offset: u32,
    /// Top row of the window.
    pub y_offset: u32,
    /// Window height (0 = full image).
    pub height: u32,
    /// Window width (0 = full image).
    pub width: u32,
    /// True when the window should be rectified.
    pub do_rectify: bool,
}

/// `sensor_msgs/CameraInfo`: intrinsic calibration of a camera (pixels; matrices row-major).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CameraInfo {
    /// Time and camera optical frame.
    pub header: Header,
    /// Image height in pixels.
    pub height: u32,
    /// Image width in pixels.
    pub width: u32,
    /// Distortion model (`plumb_bob`, `rational_polynomial`, `equidistant`).
    pub distortion_model: String,
    /// Distortion coefficients (`k1 k2 t1 t2 k3` for plumb_bob).
    pub d: Vec<f64>,
    /// Intrinsic matrix K (3×3) of the raw image.
    pub k: [f64; 9],
    /// Rectification rotation R (3×3).
    pub r: [f64; 9],
    /// Projection matrix P (3×4) of the rectified image.
    pub p: [f64; 12],
    /// Horizontal binning (0 or 1 = none).
    pub binning_x: u32,
    /// Vertical binning (0 or 1 = none).
    pub binning_y: u32,
    /// Region of interest.
    pub roi: RegionOfInterest,
}

/// `sensor_msgs/NavSatStatus`: GNSS fix quality and the constellations used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct NavSatStatus {
    /// One of `STATUS_*`.
    pub status: i8,
    /// Bit set of `SERVICE_*`.
    pub service: u16,
}

impl NavSatStatus {
    /// Unable to fix position.
    pub const STATUS_NO_FIX: i8 = -1;
    /// Unaugmented fix.
    pub const STATUS_FIX: i8 = 0;
    /// Satellite-based augmentation.
    pub const STATUS_SBAS_FIX: i8 = 1;
    /// Ground-based augmentation.
    pub const STATUS_GBAS_FIX: i8 = 2;
    /// GPS.
    pub const SERVICE_GPS: u16 = 1;
    /// GLONASS.
    pub const SERVICE_GLONASS: u16 = 2;
    /// BeiDou (COMPASS).
    pub const SERVICE_COMPASS: u16 = 4;
    /// Galileo.
    pub const SERVICE_GALILEO: u16 = 8;
}

/// `sensor_msgs/NavSatFix`: a WGS84 position fix.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NavSatFix {
    /// Fix time and antenna frame.
    pub header: Header,
    /// Fix quality.
    pub status: NavSatStatus,
    /// Latitude in degrees, + north.
    pub latitude: f64,
    /// Longitude in degrees, + east.
    pub longitude: f64,
    /// Height above the WGS84 ellipsoid in metres.
    pub altitude: f64,
    /// Position covariance in m², row-major, in the ENU frame at the fix.
    pub position_covariance: [f64; 9],
    /// One of `COVARIANCE_TYPE_*`.
    pub position_covariance_type: u8,
}

impl NavSatFix {
    /// Covariance unknown.
    pub const COVARIANCE_TYPE_UNKNOWN: u8 = 0;
    /// Covariance approximated.
    pub const COVARIANCE_TYPE_APPROXIMATED: u8 = 1;
    /// Diagonal known.
    pub const COVARIANCE_TYPE_DIAGONAL_KNOWN: u8 = 2;
    /// Full matrix known.
    pub const COVARIANCE_TYPE_KNOWN: u8 = 3;
}

/// `sensor_msgs/Imu`: orientation, angular velocity and linear acceleration in the IMU frame.
///
/// A covariance whose element 0 is -1 means "not provided" (for the orientation: no orientation);
/// all zeros means "unknown".
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Imu {
    /// Sample time and IMU frame.
    pub header: Header,
    /// Orientation of the IMU frame in a fixed (world) frame.
    pub orientation: Quaternion,
    /// Orientation covariance (rad², row-major, about x, y, z).
    pub orientation_covariance: [f64; 9],
    /// Angular velocity in rad/s.
    pub angular_velocity: Vector3,
    /// Angular velocity covariance (rad²/s², row-major).
    pub angular_velocity_covariance: [f64; 9],
    /// Linear acceleration (specific force) in m/s².
    pub linear_acceleration: Vector3,
    /// Linear acceleration covariance (m²/s⁴, row-major).
    pub linear_acceleration_covariance: [f64; 9],
}

ros_message!(PointField, "sensor_msgs", "PointField");
ros_message!(PointCloud2, "sensor_msgs", "PointCloud2");
ros_message!(Image, "sensor_msgs", "Image");
ros_message!(CompressedImage, "sensor_msgs", "CompressedImage");
ros_message!(RegionOfInterest, "sensor_msgs", "RegionOfInterest");
ros_message!(CameraInfo, "sensor_msgs", "CameraInfo");
ros_message!(NavSatStatus, "sensor_msgs", "NavSatStatus");
ros_message!(NavSatFix, "sensor_msgs", "NavSatFix");
ros_message!(Imu, "sensor_msgs", "Imu");
