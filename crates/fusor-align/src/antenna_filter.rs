//! A Kalman filter of the GNSS antenna's position and velocity in `map`, driven by the IMU's
//! acceleration between fixes.
//!
//! Raw fixes carry white noise (σ ≈ 0.3 m for a plain receiver). Poses made straight from them
//! jump by that much from one fix to the next, and the body twist that deskews a lidar sweep is
//! the difference of two poses 0.1 s apart: a 0.3 m jump reads as a 3 m/s velocity error, which
//! moves the last points of a sweep by 0.3 m. The filter keeps the antenna's velocity as state:
//! each axis is a constant-acceleration-over-the-interval model `[position, velocity]` whose
//! input is the mean IMU acceleration (in `map`) since the previous fix, with white process noise
//! `accel_sigma_m_s2` for what the IMU misses (bias, tilt, vibration). Without IMU samples in an
//! interval it falls back to a constant-velocity prediction with the larger
//! `unaided_accel_sigma_m_s2`.
//!
//! Robustness: a fix whose innovation is beyond `gate_chi2` (3 degrees of freedom) is rejected and
//! counted; after `max_rejected_fixes` rejections in a row (the filter, not the receiver, is
//! wrong: e.g. a long tunnel) or a gap longer than `max_fix_gap_s`, the filter restarts at the fix.

use fusor_core::Stamp;
use nalgebra::{Matrix2, Vector2, Vector3};

/// Parameters (a copy of the relevant [`crate::EgoPoseConfig`] fields).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct AntennaFilterConfig {
    pub accel_sigma_m_s2: f64,
    pub unaided_accel_sigma_m_s2: f64,
    pub gate_chi2: f64,
    pub max_rejected_fixes: u32,
    pub max_fix_gap_s: f64,
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

/// One axis: `[position, velocity]` and its covariance.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Axis {
    x: Vector2<f64>,
    p: Matrix2<f64>,
}

impl Axis {
    fn predict(&mut self, dt_s: f64, accel_m_s2: f64, accel_sigma_m_s2: f64) {
        let f = Matrix2::new(1.0, dt_s, 0.0, 1.0);
        self.x = f * self.x + Vector2::new(0.5 * dt_s * dt_s, dt_s) * accel_m_s2;
        // Discrete white-noise acceleration over the interval.
        let g = Vector2::new(0.5 * dt_s * dt_s, dt_s);
        self.p = f * self.p * f.transpose() + g * g.transpose() * accel_sigma_m_s2.powi(2);
    }

    /// Innovation and its variance for a position measurement of variance `r`.
    fn innovation(&self, z: f64, r: f64) -> (f64, f64) {
        (z - self.x[0], self.p[(0, 0)] + r)
    }

    fn update(&mut self, innovation: f64, s: f64) {
        let k = self.p.column(0) / s;
        self.x += k * innovation;
        // Joseph-free form is fine here: `s` > 0 and the state is 2-D.
        let p0 = self.p.row(0).into_owned();
        self.p -= k * p0;
        // Keep it symmetric against rounding.
        let off = 0.5 * (self.p[(0, 1)] + self.p[(1, 0)]);
        self.p[(0, 1)] = off;
        self.p[(1, 0)] = off;
    }
}

/// The filter; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct AntennaFilter {
    config: AntennaFilterConfig,
    state: Option<State>,
}

#[derive(Debug, Clone)]
struct State {
    stamp: Stamp,
    axes: [Axis; 3],
    /// False until a second fix gave the velocity (two-point start).
    has_velocity: bool,
    /// Outliers rejected in a row.
    rejected_in_a_row: u32,
}

impl AntennaFilter {
    pub(crate) fn new(config: AntennaFilterConfig) -> Self {
        Self { config, state: None }
    }

    /// The filter's time, once started.
    pub(crate) fn stamp(&self) -> Option<Stamp> {
        self.state.as_ref().map(|s| s.stamp)
    }

    /// The antenna's estimated position, once started.
    pub(crate) fn position(&self) -> Option<Vector3<f64>> {
        self.state.as_ref().map(|s| Vector3::new(s.axes[0].x[0], s.axes[1].x[0], s.axes[2].x[0]))
    }

    /// The antenna's estimated velocity, once known (from the second fix; right after a start
    /// its σ is ≈ √2·σ_fix / Δt, metres per second for a plain receiver, for the first few fixes).
    pub(crate) fn velocity(&self) -> Option<Vector3<f64>> {
        self.state
            .as_ref()
            .filter(|s| s.has_velocity)
            .map(|s| Vector3::new(s.axes[0].x[1], s.axes[1].x[1], s.axes[2].x[1]))
    }

    fn start(&mut self, stamp: Stamp, z: &Vector3<f64>, variance: &Vector3<f64>) {
        let axis = |i: usize| Axis { x: Vector2::new(z[i], 0.0), p: Matrix2::new(variance[i], 0.0, 0.0, 0.0) };
        self.state =
            Some(State { stamp, axes: [axis(0), axis(1), axis(2)], has_velocity: false, rejected_in_a_row: 0 });
    }

    /// Fuses the antenna position `z` (map, m) measured at `stamp` with per-axis variance
    /// `variance` (m², finite and > 0). `mean_accel_m_s2` is the mean IMU acceleration in `map`
    /// since the filter's stamp, `None` when no IMU sample fell in the interval. The caller
    /// guarantees `stamp` is after the filter's stamp.
    pub(crate) fn update(
        &mut self,
        stamp: Stamp,
        z: &Vector3<f64>,
        variance: &Vector3<f64>,
        mean_accel_m_s2: Option<Vector3<f64>>,
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
            let a = mean_accel_m_s2.unwrap_or_else(Vector3::zeros);
            for i in 0..3 {
                let axis = &mut state.axes[i];
                let r_prev = axis.p[(0, 0)];
                let velocity = (z[i] - axis.x[0]) / dt_s + 0.5 * a[i] * dt_s;
                let r = variance[i];
                axis.x = Vector2::new(z[i], velocity);
                axis.p = Matrix2::new(r, r / dt_s, r / dt_s, (r + r_prev) / (dt_s * dt_s));
            }
            state.stamp = stamp;
            state.has_velocity = true;
            state.rejected_in_a_row = 0;
            return FixOutcome::Fused;
        }
        let (accel, sigma) = match mean_accel_m_s2 {
            Some(a) => (a, config.accel_sigma_m_s2),
            None => (Vector3::zeros(), config.unaided_accel_sigma_m_s2),
        };
        let mut predicted = state.axes;
        for (i, axis) in predicted.iter_mut().enumerate() {
            axis.predict(dt_s, accel[i], sigma);
        }
        let innovations: [(f64, f64); 3] = std::array::from_fn(|i| predicted[i].innovation(z[i], variance[i]));
        let chi2: f64 = innovations.iter().map(|(y, s)| y * y / s).sum();
        if chi2.is_nan() || chi2 > config.gate_chi2 {
            state.rejected_in_a_row += 1;
            if state.rejected_in_a_row > config.max_rejected_fixes {
                self.start(stamp, z, variance);
                return FixOutcome::Restarted;
            }
            // The prediction stands in for the fix (its covariance grows).
            state.axes = predicted;
            state.stamp = stamp;
            return FixOutcome::Rejected;
        }
        for (axis, (y, s)) in predicted.iter_mut().zip(innovations) {
            axis.update(y, s);
        }
        state.axes = predicted;
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
                let mean =
                    (with_imu && accel_count > 0).then(|| Vector3::new(accel_sum / f64::from(accel_count), 0.0, 0.0));
                filter.update(at(t), &Vector3::new(z, 0.0, 0.0), &Vector3::repeat(0.09), mean);
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
