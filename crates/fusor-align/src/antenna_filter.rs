//! A Kalman filter of the GNSS antenna's position and velocity in `map`, and of the
//! accelerometer's bias in `base_link`, driven by the IMU's acceleration between fixes.
//!
//! Raw fixes carry white noise (σ ≈ 0.3 m for a plain receiver). Poses made straight from them
//! jump by that much from one fix to the next, and the body twist that deskews a lidar sweep is
//! the difference of two poses 0.1 s apart: a 0.3 m jump reads as a 3 m/s velocity error, which
//! moves the last points of a sweep by 0.3 m. The filter keeps the antenna's velocity as state.
//!
//! State: `[position (map), velocity (map), accelerometer bias (base_link)]`, 9 values. Between
//! two fixes the input is the mean IMU acceleration in `map` (specific force rotated by the
//! attitude, gravity removed) and the mean attitude `R̄`; the acceleration applied is
//! `ā − R̄·b`, held over the interval, with white process noise `accel_sigma_m_s2` for what the
//! IMU misses (vibration, tilt changes). The bias is a random walk (`accel_bias_walk`). It
//! matters on real vehicles: a phone or box mounted a few degrees nose-down reads
//! `g·sin(pitch)` ≈ 0.5 m/s² of forward acceleration that is not there (comma2k19's phone:
//! ≈ −0.8 m/s²), which a filter without a bias state turns into a lasting velocity error of metres
//! per second (1.2 m/s along track on that drive).
//! The bias is observable from the fixes once the vehicle moves; it is kept across restarts (a
//! property of the IMU and its mount, not of the fix stream). Without IMU samples in an interval
//! the filter falls back to a constant-velocity prediction with the larger
//! `unaided_accel_sigma_m_s2`, and the bias waits.
//!
//! Robustness: a fix whose innovation is beyond `gate_chi2` (3 degrees of freedom) is rejected and
//! counted; after `max_rejected_fixes` rejections in a row (the filter, not the receiver, is
//! wrong: e.g. a long tunnel) or a gap longer than `max_fix_gap_s`, the filter restarts at the fix.

use fusor_core::Stamp;
use nalgebra::{Matrix3, SMatrix, SVector, Vector3};

type Vector9 = SVector<f64, 9>;
type Matrix9 = SMatrix<f64, 9, 9>;

/// Parameters (a copy of the relevant [`crate::EgoPoseConfig`] fields).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct AntennaFilterConfig {
    pub accel_sigma_m_s2: f64,
    pub unaided_accel_sigma_m_s2: f64,
    /// σ of the accelerometer bias before any fix, per axis, m/s² (0: no bias estimated).
    pub accel_bias_sigma_m_s2: f64,
    /// Random walk of the bias, m/s² per √s.
    pub accel_bias_walk_m_s2_sqrt_s: f64,
    pub gate_chi2: f64,
    pub max_rejected_fixes: u32,
    pub max_fix_gap_s: f64,
}

/// The IMU's input over the interval since the filter's stamp.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ImuInterval {
    /// Mean acceleration in `map`, m/s²: the specific force rotated into `map`, gravity removed.
    pub mean_accel_m_s2: Vector3<f64>,
    /// Mean rotation `map_from_base_link` of the samples (how a `base_link` bias reaches `map`).
    pub mean_map_from_base_link: Matrix3<f64>,
}

/// What [`AntennaFilter::update`] did with a fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FixOutcome {
    /// The fix started the filter (the first fix, or a second one too soon after it).
    Started,
    /// The filter restarted at the fix: outliers in a row, or a gap.
    Restarted,
    /// The fix was fused.
    Fused,
    /// The fix was an outlier and left the state as predicted.
    Rejected,
}

/// The filter; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct AntennaFilter {
    config: AntennaFilterConfig,
    state: Option<State>,
    /// The bias and its covariance, kept across restarts.
    bias: (Vector3<f64>, Matrix3<f64>),
}

#[derive(Debug, Clone)]
struct State {
    stamp: Stamp,
    x: Vector9,
    p: Matrix9,
    /// False until a second fix gave the velocity (two-point start).
    has_velocity: bool,
    /// Outliers rejected in a row.
    rejected_in_a_row: u32,
}

impl State {
    /// The state and covariance predicted `dt_s` ahead with the IMU's input (or at constant
    /// velocity without one).
    fn predicted(&self, dt_s: f64, imu: Option<&ImuInterval>, config: &AntennaFilterConfig) -> (Vector9, Matrix9) {
        let i3 = Matrix3::identity();
        let mut f = Matrix9::identity();
        f.fixed_view_mut::<3, 3>(0, 3).copy_from(&(i3 * dt_s));
        let (accel, sigma) = match imu {
            Some(imu) => {
                // a = ā − R̄·b over the interval.
                f.fixed_view_mut::<3, 3>(0, 6).copy_from(&(-0.5 * dt_s * dt_s * imu.mean_map_from_base_link));
                f.fixed_view_mut::<3, 3>(3, 6).copy_from(&(-dt_s * imu.mean_map_from_base_link));
                (imu.mean_accel_m_s2, config.accel_sigma_m_s2)
            }
            None => (Vector3::zeros(), config.unaided_accel_sigma_m_s2),
        };
        let mut x = f * self.x;
        x.fixed_rows_mut::<3>(0).axpy(0.5 * dt_s * dt_s, &accel, 1.0);
        x.fixed_rows_mut::<3>(3).axpy(dt_s, &accel, 1.0);
        // Discrete white-noise acceleration over the interval, and the bias's random walk.
        let mut g = SMatrix::<f64, 9, 3>::zeros();
        g.fixed_view_mut::<3, 3>(0, 0).copy_from(&(i3 * (0.5 * dt_s * dt_s)));
        g.fixed_view_mut::<3, 3>(3, 0).copy_from(&(i3 * dt_s));
        let mut q = g * g.transpose() * sigma.powi(2);
        let walk = config.accel_bias_walk_m_s2_sqrt_s.powi(2) * dt_s;
        for i in 6..9 {
            q[(i, i)] += walk;
        }
        (x, f * self.p * f.transpose() + q)
    }
}

impl AntennaFilter {
    pub(crate) fn new(config: AntennaFilterConfig) -> Self {
        let bias = (Vector3::zeros(), Matrix3::identity() * config.accel_bias_sigma_m_s2.powi(2));
        Self { config, state: None, bias }
    }

    /// The filter's time, once started.
    pub(crate) fn stamp(&self) -> Option<Stamp> {
        self.state.as_ref().map(|s| s.stamp)
    }

    /// The antenna's estimated position, once started.
    pub(crate) fn position(&self) -> Option<Vector3<f64>> {
        self.state.as_ref().map(|s| s.x.fixed_rows::<3>(0).into_owned())
    }

    /// The antenna's estimated velocity, once known (from the second fix; right after a start
    /// its σ is ≈ √2·σ_fix / Δt, metres per second for a plain receiver, for the first few fixes).
    pub(crate) fn velocity(&self) -> Option<Vector3<f64>> {
        self.state.as_ref().filter(|s| s.has_velocity).map(|s| s.x.fixed_rows::<3>(3).into_owned())
    }

    /// The variance of the velocity estimate per axis, m²/s², once known.
    pub(crate) fn velocity_variance(&self) -> Option<Vector3<f64>> {
        self.state.as_ref().filter(|s| s.has_velocity).map(|s| Vector3::new(s.p[(3, 3)], s.p[(4, 4)], s.p[(5, 5)]))
    }

    /// The estimated accelerometer bias in `base_link`, m/s² (zero until fixes inform it).
    pub(crate) fn accel_bias(&self) -> Vector3<f64> {
        match &self.state {
            Some(s) => s.x.fixed_rows::<3>(6).into_owned(),
            None => self.bias.0,
        }
    }

    fn start(&mut self, stamp: Stamp, z: &Vector3<f64>, variance: &Vector3<f64>) {
        if let Some(old) = &self.state {
            self.bias = (old.x.fixed_rows::<3>(6).into_owned(), old.p.fixed_view::<3, 3>(6, 6).into_owned());
        }
        let mut x = Vector9::zeros();
        x.fixed_rows_mut::<3>(0).copy_from(z);
        x.fixed_rows_mut::<3>(6).copy_from(&self.bias.0);
        let mut p = Matrix9::zeros();
        p.fixed_view_mut::<3, 3>(0, 0).copy_from(&Matrix3::from_diagonal(variance));
        p.fixed_view_mut::<3, 3>(6, 6).copy_from(&self.bias.1);
        self.state = Some(State { stamp, x, p, has_velocity: false, rejected_in_a_row: 0 });
    }

    /// Fuses the antenna position `z` (map, m) measured at `stamp` with per-axis variance
    /// `variance` (m², finite and > 0). `imu` is the IMU's input since the filter's stamp,
    /// `None` when no IMU sample fell in the interval. The caller guarantees `stamp` is after the
    /// filter's stamp.
    pub(crate) fn update(
        &mut self,
        stamp: Stamp,
        z: &Vector3<f64>,
        variance: &Vector3<f64>,
        imu: Option<&ImuInterval>,
    ) -> FixOutcome {
        let config = self.config;
        let Some(state) = self.state.as_mut() else {
            self.start(stamp, z, variance);
            return FixOutcome::Started;
        };
        let dt_s = (stamp - state.stamp).secs_f64();
        if !(dt_s > 0.0 && dt_s <= config.max_fix_gap_s) {
            self.start(stamp, z, variance);
            return FixOutcome::Restarted;
        }
        if !state.has_velocity {
            // Two-point start: the chord's velocity (plus the IMU's change over the interval when
            // it has one) and the position of the newer fix. Too short a chord gives a velocity
            // of absurd variance: keep waiting, on the newer fix.
            if dt_s < MIN_START_CHORD_S {
                self.start(stamp, z, variance);
                return FixOutcome::Started;
            }
            let a = imu.map_or_else(Vector3::zeros, |imu| {
                imu.mean_accel_m_s2 - imu.mean_map_from_base_link * state.x.fixed_rows::<3>(6)
            });
            let mut p = Matrix9::zeros();
            for i in 0..3 {
                let r_prev = state.p[(i, i)];
                let r = variance[i];
                state.x[3 + i] = (z[i] - state.x[i]) / dt_s + 0.5 * a[i] * dt_s;
                state.x[i] = z[i];
                p[(i, i)] = r;
                p[(i, 3 + i)] = r / dt_s;
                p[(3 + i, i)] = r / dt_s;
                p[(3 + i, 3 + i)] = (r + r_prev) / (dt_s * dt_s);
            }
            p.fixed_view_mut::<3, 3>(6, 6).copy_from(&state.p.fixed_view::<3, 3>(6, 6));
            state.p = p;
            state.stamp = stamp;
            state.has_velocity = true;
            state.rejected_in_a_row = 0;
            return FixOutcome::Fused;
        }
        let (x, p) = state.predicted(dt_s, imu, &config);
        let innovation = z - x.fixed_rows::<3>(0);
        let s = p.fixed_view::<3, 3>(0, 0) + Matrix3::from_diagonal(variance);
        let s_inv = s.try_inverse();
        let chi2 = s_inv.map_or(f64::NAN, |s_inv| (innovation.transpose() * s_inv * innovation)[0]);
        let Some(s_inv) = s_inv.filter(|_| chi2 <= config.gate_chi2) else {
            state.rejected_in_a_row += 1;
            if state.rejected_in_a_row > config.max_rejected_fixes {
                self.start(stamp, z, variance);
                return FixOutcome::Restarted;
            }
            // The prediction stands in for the fix (its covariance grows).
            (state.x, state.p) = (x, p);
            state.stamp = stamp;
            return FixOutcome::Rejected;
        };
        // K = P Hᵀ S⁻¹ with H = [I 0 0]; Joseph form keeps P symmetric and positive.
        let k: SMatrix<f64, 9, 3> = p.fixed_view::<9, 3>(0, 0) * s_inv;
        let mut i_kh = Matrix9::identity();
        let mut kh = i_kh.fixed_view_mut::<9, 3>(0, 0);
        kh -= &k;
        state.x = x + k * innovation;
        state.p = i_kh * p * i_kh.transpose() + k * Matrix3::from_diagonal(variance) * k.transpose();
        state.stamp = stamp;
        state.rejected_in_a_row = 0;
        FixOutcome::Fused
    }
}

/// Shortest interval between the first two fixes that starts the velocity, s (at σ = 0.3 m the
/// start velocity's σ is ≈ 8 m/s; the filter then brings it down within a second).
const MIN_START_CHORD_S: f64 = 0.05;

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AntennaFilterConfig {
        AntennaFilterConfig {
            accel_sigma_m_s2: 0.5,
            unaided_accel_sigma_m_s2: 2.0,
            accel_bias_sigma_m_s2: 0.5,
            accel_bias_walk_m_s2_sqrt_s: 0.01,
            gate_chi2: 25.0,
            max_rejected_fixes: 3,
            max_fix_gap_s: 2.0,
        }
    }

    fn at(s: f64) -> Stamp {
        Stamp::from_nanos((s * 1e9).round() as i64)
    }

    /// A deterministic normal sample (Box–Muller on a 64-bit LCG).
    struct Noise(u64);
    impl Noise {
        fn uniform(&mut self) -> f64 {
            self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }
        fn gauss(&mut self) -> f64 {
            (-2.0 * self.uniform().ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
        }
    }

    /// Accelerating and braking along x at up to 2 m/s², fixes at 10 Hz with σ = 0.3 m; returns
    /// the RMS velocity error (m/s) of the filter after 5 s and of differencing raw fixes.
    fn velocity_errors(with_imu: bool) -> (f64, f64) {
        let accel = |t: f64| 2.0 * (std::f64::consts::TAU * t / 8.0).sin();
        let mut filter = AntennaFilter::new(config());
        let mut noise = Noise(7);
        let (mut x, mut v, dt) = (0.0, 10.0, 0.01);
        let (mut sq_filter, mut sq_raw, mut n) = (0.0, 0.0, 0);
        let mut previous_raw: Option<f64> = None;
        let mut accel_sum = 0.0;
        let mut accel_count = 0;
        for step in 1..=6000 {
            let t = f64::from(step) * dt;
            let a = accel(t);
            x += v * dt + 0.5 * a * dt * dt;
            v += a * dt;
            // IMU at 100 Hz with 0.03 m/s² bias and noise.
            accel_sum += a + 0.03 + 0.03 * noise.gauss();
            accel_count += 1;
            if step % 10 == 0 {
                let z = x + 0.3 * noise.gauss();
                let mean = (with_imu && accel_count > 0).then(|| ImuInterval {
                    mean_accel_m_s2: Vector3::new(accel_sum / f64::from(accel_count), 0.0, 0.0),
                    mean_map_from_base_link: Matrix3::identity(),
                });
                filter.update(at(t), &Vector3::new(z, 0.0, 0.0), &Vector3::repeat(0.09), mean.as_ref());
                (accel_sum, accel_count) = (0.0, 0);
                if t > 5.0 {
                    let estimate = filter.velocity().unwrap()[0];
                    sq_filter += (estimate - v).powi(2);
                    if let Some(previous) = previous_raw {
                        sq_raw += ((z - previous) / 0.1 - v).powi(2);
                    }
                    n += 1;
                }
                previous_raw = Some(z);
            }
        }
        ((sq_filter / f64::from(n)).sqrt(), (sq_raw / f64::from(n)).sqrt())
    }

    #[test]
    fn the_imu_aided_velocity_is_an_order_of_magnitude_better_than_differenced_fixes() {
        let (aided, raw) = velocity_errors(true);
        let (unaided, _) = velocity_errors(false);
        eprintln!("velocity RMS: IMU-aided {aided:.3} m/s, unaided {unaided:.3} m/s, raw differences {raw:.3} m/s");
        assert!(raw > 3.5, "raw differences of σ = 0.3 m fixes 0.1 s apart: {raw}");
        assert!(aided < 0.25, "IMU-aided {aided}");
        assert!(unaided < 1.0, "constant velocity {unaided}");
        assert!(aided * 10.0 < raw && aided < unaided);
    }

    /// A car at 10 m/s driving a circle (0.1 rad/s) whose accelerometer reads a constant
    /// 0.6 m/s² forward that is not there (a nose-down mount), fixes at 10 Hz with σ = 0.3 m;
    /// returns the RMS velocity error after 20 s, and the filter.
    fn turning_with_a_biased_accelerometer(config: AntennaFilterConfig) -> (f64, AntennaFilter) {
        let (speed, rate, bias) = (10.0, 0.1, 0.6);
        let mut filter = AntennaFilter::new(config);
        let mut noise = Noise(11);
        let (mut sq, mut n) = (0.0, 0);
        for k in 0..=600 {
            let t = 0.1 * f64::from(k);
            let yaw = rate * t;
            let position = Vector3::new(yaw.sin(), 1.0 - yaw.cos(), 0.0) * (speed / rate);
            let z = position + Vector3::new(noise.gauss(), noise.gauss(), noise.gauss()) * 0.3;
            // Mean over the interval of R(yaw)·(true centripetal + bias), with the attitude.
            let mid = yaw - 0.5 * rate * 0.1;
            let rotation = *nalgebra::Rotation3::from_euler_angles(0.0, 0.0, mid).matrix();
            let body = Vector3::new(bias, speed * rate, 0.0);
            let imu = ImuInterval { mean_accel_m_s2: rotation * body, mean_map_from_base_link: rotation };
            filter.update(at(t), &z, &Vector3::repeat(0.09), (k > 0).then_some(&imu));
            if t > 20.0 {
                let truth = Vector3::new(yaw.cos(), yaw.sin(), 0.0) * speed;
                sq += (filter.velocity().unwrap() - truth).norm_squared();
                n += 1;
            }
        }
        ((sq / f64::from(n)).sqrt(), filter)
    }

    #[test]
    fn a_biased_accelerometer_is_calibrated_in_flight_while_the_car_turns() {
        let (with_bias, filter) = turning_with_a_biased_accelerometer(config());
        let no_bias_state =
            AntennaFilterConfig { accel_bias_sigma_m_s2: 0.0, accel_bias_walk_m_s2_sqrt_s: 0.0, ..config() };
        let (without_bias, _) = turning_with_a_biased_accelerometer(no_bias_state);
        eprintln!("velocity RMS with a 0.6 m/s² bias: estimated {with_bias:.3} m/s, ignored {without_bias:.3} m/s");
        approx::assert_abs_diff_eq!(filter.accel_bias(), Vector3::new(0.6, 0.0, 0.0), epsilon = 0.1);
        assert!(with_bias < 0.2, "{with_bias}");
        assert!(without_bias > 3.0 * with_bias, "{without_bias}");

        // The bias is the IMU's: a restart (a gap in the fixes) keeps it.
        let mut filter = filter;
        let before = filter.accel_bias();
        assert_eq!(filter.update(at(100.0), &Vector3::zeros(), &Vector3::repeat(0.09), None), FixOutcome::Restarted);
        assert_eq!(filter.accel_bias(), before);
    }

    #[test]
    fn noise_free_constant_velocity_is_tracked_exactly_from_the_second_fix() {
        let mut filter = AntennaFilter::new(config());
        let v = Vector3::new(8.0, -3.0, 0.2);
        for k in 0..20 {
            let t = 0.1 * f64::from(k);
            filter.update(at(t), &(v * t), &Vector3::repeat(0.09), None);
            if k >= 1 {
                approx::assert_relative_eq!(filter.position().unwrap(), v * t, epsilon = 1e-9);
                approx::assert_relative_eq!(filter.velocity().unwrap(), v, epsilon = 1e-9);
            }
        }
    }

    #[test]
    fn an_outlier_is_rejected_and_a_lasting_jump_restarts_the_filter() {
        let mut filter = AntennaFilter::new(config());
        let v = Vector3::new(10.0, 0.0, 0.0);
        let mut t = 0.0;
        for _ in 0..30 {
            t += 0.1;
            filter.update(at(t), &(v * t), &Vector3::repeat(0.09), None);
        }
        t += 0.1;
        let jump = Vector3::new(0.0, 30.0, 0.0);
        assert_eq!(filter.update(at(t), &(v * t + jump), &Vector3::repeat(0.09), None), FixOutcome::Rejected);
        approx::assert_relative_eq!(filter.position().unwrap(), v * t, epsilon = 1e-6);
        let outcomes: Vec<FixOutcome> = (0..3)
            .map(|_| {
                t += 0.1;
                filter.update(at(t), &(v * t + jump), &Vector3::repeat(0.09), None)
            })
            .collect();
        assert_eq!(outcomes, [FixOutcome::Rejected, FixOutcome::Rejected, FixOutcome::Restarted]);
        approx::assert_relative_eq!(filter.position().unwrap(), v * t + jump, epsilon = 1e-9);
        // A gap longer than max_fix_gap_s restarts too.
        assert_eq!(filter.update(at(t + 5.0), &Vector3::zeros(), &Vector3::repeat(0.09), None), FixOutcome::Restarted);
    }
}
