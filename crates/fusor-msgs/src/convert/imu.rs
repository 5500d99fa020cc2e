//! `sensor_msgs/Imu` ↔ [`Imu`].

use super::gnss::row_major;
use super::time::{header, stamp_from_time};
use crate::geometry_msgs::{Quaternion, Vector3};
use crate::sensor_msgs;
use crate::MsgError;
use fusor_core::{FrameId, Imu};
use nalgebra::{Matrix3, UnitQuaternion};

/// A covariance as fusor keeps it: `None` when ROS marks it "not provided" (element 0 = -1) or
/// "unknown" (all zeros).
fn covariance(c: &[f64; 9]) -> Option<Matrix3<f64>> {
    (c[0] != -1.0 && c.iter().any(|v| *v != 0.0)).then(|| Matrix3::from_row_slice(c))
}

/// Reads an IMU sample (REP-103 axes, rad/s, m/s²).
///
/// The orientation is `None` when `orientation_covariance[0] == -1` (ROS: no orientation), and
/// also when the quaternion is zero or not finite (drivers without orientation often send zeros);
/// otherwise it is normalised.
pub fn imu_from_msg(msg: &sensor_msgs::Imu) -> Result<Imu, MsgError> {
    let q = &msg.orientation;
    let orientation = if msg.orientation_covariance[0] == -1.0 {
        None
    } else {
        let q = nalgebra::Quaternion::new(q.w, q.x, q.y, q.z);
        let norm = q.norm();
        (norm.is_finite() && norm > 1e-9).then(|| UnitQuaternion::from_quaternion(q))
    };
    let v = |v: &Vector3| nalgebra::Vector3::new(v.x, v.y, v.z);
    Ok(Imu {
        stamp: stamp_from_time(msg.header.stamp)?,
        frame_id: FrameId::new(&msg.header.frame_id),
        orientation,
        angular_velocity_rad_s: v(&msg.angular_velocity),
        linear_acceleration_m_s2: v(&msg.linear_acceleration),
        angular_velocity_covariance: covariance(&msg.angular_velocity_covariance),
        linear_acceleration_covariance: covariance(&msg.linear_acceleration_covariance),
    })
}

/// Writes an IMU sample. No orientation is written as `orientation_covariance[0] = -1` with the
/// identity quaternion; an orientation as its quaternion with covariance zeros (unknown). Missing
/// velocity/acceleration covariances are zeros (unknown).
pub fn imu_to_msg(imu: &Imu) -> Result<sensor_msgs::Imu, MsgError> {
    let (orientation, orientation_covariance) = match &imu.orientation {
        Some(q) => (Quaternion { x: q.i, y: q.j, z: q.k, w: q.w }, [0.0; 9]),
        None => {
            let mut c = [0.0; 9];
            c[0] = -1.0;
            (Quaternion::default(), c)
        }
    };
    let v = |v: &nalgebra::Vector3<f64>| Vector3 { x: v.x, y: v.y, z: v.z };
    let cov = |c: &Option<Matrix3<f64>>| c.as_ref().map_or([0.0; 9], row_major);
    Ok(sensor_msgs::Imu {
        header: header(imu.stamp, &imu.frame_id)?,
        orientation,
        orientation_covariance,
        angular_velocity: v(&imu.angular_velocity_rad_s),
        angular_velocity_covariance: cov(&imu.angular_velocity_covariance),
        linear_acceleration: v(&imu.linear_acceleration_m_s2),
        linear_acceleration_covariance: cov(&imu.linear_acceleration_covariance),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covariance_minus_one_means_no_orientation_both_ways() {
        let mut msg = sensor_msgs::Imu::default();
        msg.orientation_covariance[0] = -1.0;
        msg.angular_velocity.z = 0.5;
        let imu = imu_from_msg(&msg).unwrap();
        assert_eq!(imu.orientation, None);
        assert_eq!(imu.angular_velocity_rad_s.z, 0.5);
        let back = imu_to_msg(&imu).unwrap();
        assert_eq!(back.orientation_covariance[0], -1.0);
        assert_eq!(imu_from_msg(&back).unwrap().orientation, None);
    }

    #[test]
    fn orientation_is_normalised_and_zero_quaternion_is_none() {
        let msg = sensor_msgs::Imu { orientation: Quaternion { x: 0.0, y: 0.0, z: 2.0, w: 2.0 }, ..Default::default() };
        let q = imu_from_msg(&msg).unwrap().orientation.unwrap();
        assert!((q.angle() - std::f64::consts::FRAC_PI_2).abs() < 1e-12);
        let zero =
            sensor_msgs::Imu { orientation: Quaternion { x: 0.0, y: 0.0, z: 0.0, w: 0.0 }, ..Default::default() };
        assert_eq!(imu_from_msg(&zero).unwrap().orientation, None);
    }

    #[test]
    fn zero_covariances_are_unknown() {
        let mut msg = sensor_msgs::Imu::default();
        msg.linear_acceleration_covariance[4] = 0.01;
        let imu = imu_from_msg(&msg).unwrap();
        assert_eq!(imu.angular_velocity_covariance, None);
        assert_eq!(imu.linear_acceleration_covariance.unwrap()[(1, 1)], 0.01);
    }
}
