//! The fusor data model.
//!
//! Everything another fusor crate exchanges is defined here, free of any wire format, thread or
//! viewer: time ([`Stamp`]), frames and rigid transforms (named `target_from_source`), sensor
//! payloads (point clouds as struct-of-arrays, images, GNSS fixes, IMU samples), perceived objects
//! (boxes, detections, tracks), geodesy (WGS84 ↔ ECEF ↔ ENU) and the rig calibration.

pub mod calib;
pub mod error;
pub mod geodesy;
pub mod gnss;
pub mod image;
pub mod imu;
pub mod object;
pub mod pointcloud;
pub mod time;
pub mod transform;
pub mod twist;

pub use error::{CoreError, Result};
pub use gnss::{FixStatus, GnssFix};
pub use image::{Image, PixelFormat};
pub use imu::Imu;
pub use object::{Box3, Detection, ObjectClass, Track};
pub use pointcloud::PointCloud;
pub use time::{Duration, Stamp};
pub use transform::{FrameId, Transform};
pub use twist::BodyTwist;
