//! Inertial measurements.

use crate::{FrameId, Stamp};
use nalgebra::{Matrix3, UnitQuaternion, Vector3};
use serde::{Deserialize, Serialize};

/// One IMU sample (REP-103 axes: x forward, y left, z up).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Imu {
    /// Time of the sample.
    pub stamp: Stamp,
    /// IMU frame.
    pub frame_id: FrameId,
    /// Orientation of the IMU frame in a world frame (ENU), `None` when the sensor gives none.
    pub orientation: Option<UnitQuaternion<f64>>,
    /// Angular velocity in rad/s, in the IMU frame.
    pub angular_velocity_rad_s: Vector3<f64>,
    /// Specific force (acceleration incl. gravity reaction) in m/s², in the IMU frame.
    pub linear_acceleration_m_s2: Vector3<f64>,
    /// Covariance of the angular velocity (rad²/s²), `None` when unknown.
    pub angular_velocity_covariance: Option<Matrix3<f64>>,
    /// Covariance of the linear acceleration (m²/s⁴), `None` when unknown.
    pub linear_acceleration_covariance: Option<Matrix3<f64>>,
}
