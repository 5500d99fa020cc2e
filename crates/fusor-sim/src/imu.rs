//! IMU model: the ego's true angular velocity and specific force, plus constant per-drive bias and
//! white noise.

use crate::ego::EgoTrajectory;
use crate::rig::IMU_FRAME;
use crate::rng::{gauss, stream, Purpose, SimRng};
use fusor_core::{Imu, Stamp};
use nalgebra::{Matrix3, UnitQuaternion, Vector3};

/// Standard gravity in m/s².
pub const GRAVITY_M_S2: f64 = 9.80665;

/// Noise parameters of the IMU.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImuConfig {
    /// Sample rate in Hz.
    pub rate_hz: f64,
    /// White noise σ of each gyro axis in rad/s.
    pub gyro_noise_rad_s: f64,
    /// White noise σ of each accelerometer axis in m/s².
    pub accel_noise_m_s2: f64,
    /// σ of the constant gyro bias drawn per drive, in rad/s.
    pub gyro_bias_rad_s: f64,
    /// σ of the constant accelerometer bias drawn per drive, in m/s².
    pub accel_bias_m_s2: f64,
}

impl Default for ImuConfig {
    fn default() -> Self {
        Self {
            rate_hz: 100.0,
            gyro_noise_rad_s: 0.002,
            accel_noise_m_s2: 0.03,
            gyro_bias_rad_s: 0.002,
            accel_bias_m_s2: 0.03,
        }
    }
}

/// An IMU with its biases for one drive.
#[derive(Debug, Clone, PartialEq)]
pub struct ImuModel {
    /// The parameters.
    pub config: ImuConfig,
    /// Gyro bias in rad/s (IMU frame).
    pub gyro_bias_rad_s: Vector3<f64>,
    /// Accelerometer bias in m/s² (IMU frame).
    pub accel_bias_m_s2: Vector3<f64>,
    imu_from_base: UnitQuaternion<f64>,
}

fn gauss3(rng: &mut SimRng, sigma: f64) -> Vector3<f64> {
    Vector3::new(gauss(rng), gauss(rng), gauss(rng)) * sigma
}

impl ImuModel {
    /// Draws the biases from `seed`; `base_link_from_imu` is the mount rotation.
    pub fn new(config: ImuConfig, base_link_from_imu: UnitQuaternion<f64>, seed: u64) -> Self {
        let mut rng = stream(seed, Purpose::Imu, u64::MAX, 0);
        let gyro_bias_rad_s = gauss3(&mut rng, config.gyro_bias_rad_s);
        let accel_bias_m_s2 = gauss3(&mut rng, config.accel_bias_m_s2);
        Self { config, gyro_bias_rad_s, accel_bias_m_s2, imu_from_base: base_link_from_imu.inverse() }
    }

    /// Sample `index` taken at simulation time `t_s`, stamped `stamp`.
    pub fn sample(&self, ego: &EgoTrajectory, t_s: f64, stamp: Stamp, seed: u64, index: u64) -> Imu {
        let mut rng = stream(seed, Purpose::Imu, index, 0);
        let (omega, force) = ego.imu_truth(t_s);
        let omega = self.imu_from_base * omega + self.gyro_bias_rad_s + gauss3(&mut rng, self.config.gyro_noise_rad_s);
        let force = self.imu_from_base * force + self.accel_bias_m_s2 + gauss3(&mut rng, self.config.accel_noise_m_s2);
        let g2 = self.config.gyro_noise_rad_s.powi(2);
        let a2 = self.config.accel_noise_m_s2.powi(2);
        Imu {
            stamp,
            frame_id: IMU_FRAME.into(),
            orientation: None,
            angular_velocity_rad_s: omega,
            linear_acceleration_m_s2: force,
            angular_velocity_covariance: Some(Matrix3::from_diagonal_element(g2)),
            linear_acceleration_covariance: Some(Matrix3::from_diagonal_element(a2)),
        }
    }
}
