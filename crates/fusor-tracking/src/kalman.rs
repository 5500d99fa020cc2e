//! Constant-velocity Kalman filter on the box centre: state `[x, y, z, vx, vy, vz]` (metres,
//! metres per second, in the tracker's frame), measurement `[x, y, z]`.

use nalgebra::{Matrix3, SMatrix, Vector3, Vector6};

/// 6 × 6 state covariance.
pub(crate) type Matrix6 = SMatrix<f64, 6, 6>;
/// 3 × 6 measurement matrix.
type Matrix3x6 = SMatrix<f64, 3, 6>;

/// Noise parameters of the filter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Noise {
    /// White-acceleration standard deviation, horizontal, m/s².
    pub accel_xy: f64,
    /// White-acceleration standard deviation, vertical, m/s².
    pub accel_z: f64,
    /// Measurement standard deviation of the centre, horizontal, m.
    pub meas_xy: f64,
    /// Measurement standard deviation of the centre, vertical, m.
    pub meas_z: f64,
    /// Initial velocity standard deviation, m/s.
    pub init_velocity: f64,
}

/// The filter's estimate.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Kalman {
    pub x: Vector6<f64>,
    pub p: Matrix6,
}

fn h() -> Matrix3x6 {
    Matrix3x6::from_fn(|r, c| if r == c { 1.0 } else { 0.0 })
}

impl Kalman {
    /// A filter at `position` with unknown velocity.
    pub fn new(position: Vector3<f64>, noise: &Noise) -> Self {
        let mut x = Vector6::zeros();
        x.fixed_rows_mut::<3>(0).copy_from(&position);
        let (pxy, pz, v) = (noise.meas_xy.powi(2), noise.meas_z.powi(2), noise.init_velocity.powi(2));
        let p = Matrix6::from_diagonal(&Vector6::new(pxy, pxy, pz, v, v, v));
        Self { x, p }
    }

    /// Propagates the state `dt_s` seconds ahead (dt ≥ 0).
    pub fn predict(&mut self, dt_s: f64, noise: &Noise) {
        let mut f = Matrix6::identity();
        let mut q = Matrix6::zeros();
        let (dt2, dt3, dt4) = (dt_s * dt_s, dt_s.powi(3), dt_s.powi(4));
        for axis in 0..3 {
            f[(axis, axis + 3)] = dt_s;
            let var = if axis == 2 { noise.accel_z.powi(2) } else { noise.accel_xy.powi(2) };
            // Discrete white-noise acceleration model (Bar-Shalom): G·Gᵀ·σ² with G = [dt²/2, dt].
            q[(axis, axis)] = dt4 / 4.0 * var;
            q[(axis, axis + 3)] = dt3 / 2.0 * var;
            q[(axis + 3, axis)] = dt3 / 2.0 * var;
            q[(axis + 3, axis + 3)] = dt2 * var;
        }
        self.x = f * self.x;
        self.p = f * self.p * f.transpose() + q;
    }

    fn r(noise: &Noise) -> Matrix3<f64> {
        Matrix3::from_diagonal(&Vector3::new(noise.meas_xy.powi(2), noise.meas_xy.powi(2), noise.meas_z.powi(2)))
    }

    /// Squared Mahalanobis distance of a measured centre from the prediction, or `None` when the
    /// innovation covariance is singular.
    pub fn mahalanobis_sq(&self, z: &Vector3<f64>, noise: &Noise) -> Option<f64> {
        let h = h();
        let s = h * self.p * h.transpose() + Self::r(noise);
        let nu = z - h * self.x;
        let s_inv = s.try_inverse()?;
        let d2 = (nu.transpose() * s_inv * nu)[(0, 0)];
        d2.is_finite().then_some(d2)
    }

    /// Corrects the state with a measured centre (Joseph form, which keeps P symmetric and
    /// positive semi-definite). Leaves the state unchanged when the innovation covariance is
    /// singular.
    pub fn update(&mut self, z: &Vector3<f64>, noise: &Noise) {
        let h = h();
        let r = Self::r(noise);
        let s = h * self.p * h.transpose() + r;
        let Some(s_inv) = s.try_inverse() else { return };
        let k = self.p * h.transpose() * s_inv;
        let nu = z - h * self.x;
        self.x += k * nu;
        let i_kh = Matrix6::identity() - k * h;
        self.p = i_kh * self.p * i_kh.transpose() + k * r * k.transpose();
    }

    pub fn position(&self) -> Vector3<f64> {
        self.x.fixed_rows::<3>(0).into_owned()
    }

    pub fn velocity(&self) -> Vector3<f64> {
        self.x.fixed_rows::<3>(3).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOISE: Noise = Noise { accel_xy: 1.0, accel_z: 0.1, meas_xy: 0.1, meas_z: 0.1, init_velocity: 10.0 };

    #[test]
    fn noiseless_constant_velocity_measurements_converge_to_the_true_velocity() {
        let mut kf = Kalman::new(Vector3::zeros(), &NOISE);
        for k in 1..30 {
            kf.predict(0.1, &NOISE);
            kf.update(&Vector3::new(0.5 * k as f64, -0.2 * k as f64, 0.0), &NOISE);
        }
        assert!((kf.velocity() - Vector3::new(5.0, -2.0, 0.0)).norm() < 0.05, "{}", kf.velocity());
    }

    #[test]
    fn prediction_grows_uncertainty_and_mahalanobis_distance_shrinks_with_it() {
        let mut kf = Kalman::new(Vector3::zeros(), &NOISE);
        let z = Vector3::new(2.0, 0.0, 0.0);
        let before = kf.mahalanobis_sq(&z, &NOISE).unwrap();
        kf.predict(1.0, &NOISE);
        let after = kf.mahalanobis_sq(&z, &NOISE).unwrap();
        assert!(after < before, "{before} → {after}");
    }
}
