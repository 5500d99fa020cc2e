//! The ego pose in `map` from GNSS (+ IMU).
//!
//! `map` is ENU at a configured WGS84 origin or, by default, at the drive's first usable fix.
//! Each usable fix gives the antenna position in `map`; the `base_link` origin is found through
//! the lever arm `base_link_from_gnss`. Orientation, in order of preference:
//! 1. the IMU's orientation (when its messages carry one, e.g. KITTI OXTS), through
//!    `base_link_from_imu`: roll, pitch and yaw;
//! 2. otherwise yaw only (roll = pitch = 0): the previous heading advanced by the integrated IMU
//!    yaw rate, blended with the GNSS track heading when the vehicle moves fast enough
//!    (a complementary filter, gain [`EgoPoseConfig::track_gain`]);
//! 3. the track heading alone when there is no IMU.
//!
//! Positions go through a Kalman filter of the antenna's position and velocity, and of the
//! accelerometer's bias, driven by the IMU's acceleration ([`crate::antenna_filter`]), unless
//! `filter_position = false`: raw fixes jitter by their noise from one fix to the next, which
//! reads as metres per second of false motion when the aligner deskews a sweep with the twist
//! between two poses. The track heading is the chord of filtered positions.
//!
//! Until a heading is known (standing still without an IMU orientation) fixes are held, bounded,
//! and emitted with the first heading, so the first scans of a drive still get a pose.

use fusor_core::geodesy::{Geodetic, LocalEnu};
use fusor_core::{BodyTwist, GnssFix, Imu, Stamp};
use fusor_runtime::sync::PoseSample;
use nalgebra::{Isometry3, SMatrix, Translation3, UnitQuaternion, Vector3};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

use crate::antenna_filter::{AntennaFilter, AntennaFilterConfig, FixOutcome, ImuInterval};
use crate::AlignError;

/// IMU samples averaged between two fixes at most (the mean restarts beyond: 100 s at 100 Hz).
const MAX_AVERAGED_IMU_SAMPLES: u32 = 10_000;

/// The running mean of IMU quantities (vectors, rotation matrices) between two fixes, bounded by
/// [`MAX_AVERAGED_IMU_SAMPLES`].
#[derive(Debug)]
struct ImuMean<const R: usize, const C: usize> {
    sum: SMatrix<f64, R, C>,
    count: u32,
}

impl<const R: usize, const C: usize> Default for ImuMean<R, C> {
    fn default() -> Self {
        Self { sum: SMatrix::zeros(), count: 0 }
    }
}

impl<const R: usize, const C: usize> ImuMean<R, C> {
    fn push(&mut self, v: SMatrix<f64, R, C>) {
        if self.count >= MAX_AVERAGED_IMU_SAMPLES {
            // No fix for a long while: a mean over it would be stale; start over.
            *self = Self::default();
        }
        self.sum += v;
        self.count += 1;
    }

    /// The mean since the last take (`None` without samples), and a fresh start.
    fn take(&mut self) -> Option<SMatrix<f64, R, C>> {
        let Self { sum, count } = std::mem::take(self);
        (count > 0).then(|| sum / f64::from(count))
    }
}

/// Slowest ground speed at which the filter's velocity gives the pitch, m/s (at 5 m/s a vertical
/// velocity error of 0.1 m/s is 1.1° of pitch).
const PITCH_MIN_SPEED_M_S: f64 = 5.0;

/// The position filter's input since its stamp: the mean acceleration in `map` and the mean
/// attitude of the same samples (how a `base_link` bias reaches `map`), kept in step.
#[derive(Debug, Default)]
struct AccelMean {
    accel_m_s2: ImuMean<3, 1>,
    map_from_base_link: ImuMean<3, 3>,
}

impl AccelMean {
    fn push(&mut self, accel_m_s2: Vector3<f64>, map_from_base_link: &UnitQuaternion<f64>) {
        self.accel_m_s2.push(accel_m_s2);
        self.map_from_base_link.push(map_from_base_link.to_rotation_matrix().into_inner());
    }

    /// The interval's input (`None` without samples), and a fresh start.
    fn take(&mut self) -> Option<ImuInterval> {
        let Self { mut accel_m_s2, mut map_from_base_link } = std::mem::take(self);
        Some(ImuInterval { mean_accel_m_s2: accel_m_s2.take()?, mean_map_from_base_link: map_from_base_link.take()? })
    }
}

/// Standard gravity, m/s² (the accelerometer's specific force minus gravity is the acceleration).
const GRAVITY_M_S2: f64 = 9.80665;

/// Parameters of [`EgoPoseEstimator`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgoPoseConfig {
    /// `[latitude_deg, longitude_deg, altitude_m]` of the `map` origin; `None`: the first fix.
    #[serde(default)]
    pub origin: Option<[f64; 3]>,
    /// Slowest ground speed at which the GNSS track gives a heading, m/s.
    #[serde(default = "default_min_track_speed")]
    pub min_track_speed_m_s: f64,
    /// Weight of the GNSS track heading against the IMU-propagated heading, in [0, 1].
    #[serde(default = "default_track_gain")]
    pub track_gain: f64,
    /// The track heading is the chord from the oldest fix within this window to the newest
    /// (a longer chord averages GNSS noise; the IMU yaw over the window corrects for the turn), s.
    #[serde(default = "default_track_window")]
    pub track_window_s: f64,
    /// Shortest chord that gives a track heading, m (σ of the heading ≈ √2·σ_gnss / chord).
    #[serde(default = "default_min_track_chord")]
    pub min_track_chord_m: f64,
    /// An IMU orientation older than this is not used, s.
    #[serde(default = "default_imu_max_age")]
    pub imu_max_age_s: f64,
    /// Fixes held while no heading is known; beyond, the oldest is dropped and counted.
    #[serde(default = "default_max_held")]
    pub max_held_fixes: usize,
    /// Filter positions (Kalman, IMU-aided) instead of using each fix as it comes.
    #[serde(default = "default_true")]
    pub filter_position: bool,
    /// σ of a fix's horizontal and vertical position when its message has no covariance, m.
    #[serde(default = "default_fix_sigma")]
    pub fix_sigma_m: f64,
    /// Process noise of the filter when IMU accelerations drive it (bias, tilt, vibration), m/s².
    #[serde(default = "default_accel_sigma")]
    pub accel_sigma_m_s2: f64,
    /// Process noise of the filter without IMU accelerations (a car's own accelerations), m/s².
    #[serde(default = "default_unaided_accel_sigma")]
    pub unaided_accel_sigma_m_s2: f64,
    /// σ of the accelerometer bias (in `base_link`) before the fixes inform it, m/s²; 0: the
    /// filter assumes an unbiased accelerometer. Mounting tilt reads as bias (g·sin 3° ≈ 0.5).
    #[serde(default = "default_accel_bias_sigma")]
    pub accel_bias_sigma_m_s2: f64,
    /// Random walk of the accelerometer bias, m/s² per √s (the mount's tilt drifts little; what
    /// the pitch misses of the road's slope reads as bias too).
    #[serde(default = "default_accel_bias_walk")]
    pub accel_bias_walk_m_s2_sqrt_s: f64,
    /// Without an IMU orientation, pitch the accelerations by the slope of the filter's velocity
    /// (above 5 m/s, shrunk towards level by its signal-to-noise) instead of taking the road as
    /// level.
    #[serde(default = "default_true")]
    pub pitch_from_velocity: bool,
    /// A fix whose innovation exceeds this χ² (3 degrees of freedom) is rejected as an outlier.
    #[serde(default = "default_gate_chi2")]
    pub gate_chi2: f64,
    /// Rejected fixes in a row after which the filter restarts at the next one.
    #[serde(default = "default_max_rejected_fixes")]
    pub max_rejected_fixes: u32,
    /// A gap between fixes longer than this restarts the filter, s.
    #[serde(default = "default_max_fix_gap")]
    pub max_fix_gap_s: f64,
}

fn default_min_track_speed() -> f64 {
    1.0
}
fn default_track_gain() -> f64 {
    // The track is a chord of filtered positions; 0.1 per fix halves the heading error of 0.3 on
    // the default drive (0.9° against 1.3° RMS) and lets the gyro carry the turns.
    0.1
}
fn default_min_track_chord() -> f64 {
    // 1 m: the first heading comes from the second fix at 10 m/s and 10 Hz, early enough for the
    // first scan to get its pose within the synchroniser's timeout.
    1.0
}
fn default_track_window() -> f64 {
    1.0
}
fn default_imu_max_age() -> f64 {
    0.5
}
fn default_max_held() -> usize {
    20
}
fn default_true() -> bool {
    true
}
fn default_fix_sigma() -> f64 {
    1.0
}
fn default_accel_sigma() -> f64 {
    0.5
}
fn default_unaided_accel_sigma() -> f64 {
    2.0
}
fn default_accel_bias_sigma() -> f64 {
    0.5
}
fn default_accel_bias_walk() -> f64 {
    // The mount's tilt hardly drifts. On comma2k19's hilly highway, with the pitch from the
    // velocity, 0.005–0.05 all give 0.18 m/s RMS of velocity error; without that pitch the bias
    // must follow the slope, and 0.05 beats 0.02 (0.42 against 0.52 m/s).
    0.02
}
fn default_gate_chi2() -> f64 {
    // χ²(3) at 1 − 1e-5.
    25.9
}
fn default_max_rejected_fixes() -> u32 {
    5
}
fn default_max_fix_gap() -> f64 {
    2.0
}

impl Default for EgoPoseConfig {
    fn default() -> Self {
        Self {
            origin: None,
            min_track_speed_m_s: default_min_track_speed(),
            track_gain: default_track_gain(),
            track_window_s: default_track_window(),
            min_track_chord_m: default_min_track_chord(),
            imu_max_age_s: default_imu_max_age(),
            max_held_fixes: default_max_held(),
            filter_position: true,
            fix_sigma_m: default_fix_sigma(),
            accel_sigma_m_s2: default_accel_sigma(),
            unaided_accel_sigma_m_s2: default_unaided_accel_sigma(),
            accel_bias_sigma_m_s2: default_accel_bias_sigma(),
            accel_bias_walk_m_s2_sqrt_s: default_accel_bias_walk(),
            pitch_from_velocity: true,
            gate_chi2: default_gate_chi2(),
            max_rejected_fixes: default_max_rejected_fixes(),
            max_fix_gap_s: default_max_fix_gap(),
        }
    }
}

impl EgoPoseConfig {
    /// Checks ranges; errors name `key.field`.
    pub fn validate(&self, key: &str) -> Result<(), AlignError> {
        let bad = |field: &str, why: String| AlignError::Invalid { key: format!("{key}.{field}"), why };
        if let Some([lat, lon, alt]) = self.origin {
            Geodetic::new(lat, lon, alt).map_err(|e| bad("origin", e.to_string()))?;
        }
        if !(self.min_track_speed_m_s.is_finite() && self.min_track_speed_m_s >= 0.0) {
            return Err(bad(
                "min_track_speed_m_s",
                format!("must be finite and ≥ 0, got {}", self.min_track_speed_m_s),
            ));
        }
        if !(0.0..=1.0).contains(&self.track_gain) {
            return Err(bad("track_gain", format!("must be in [0, 1], got {}", self.track_gain)));
        }
        if !(self.min_track_chord_m.is_finite() && self.min_track_chord_m >= 0.0) {
            return Err(bad("min_track_chord_m", format!("must be finite and ≥ 0, got {}", self.min_track_chord_m)));
        }
        if !(self.track_window_s.is_finite() && self.track_window_s > 0.0) {
            return Err(bad("track_window_s", format!("must be finite and > 0, got {}", self.track_window_s)));
        }
        if !(self.imu_max_age_s.is_finite() && self.imu_max_age_s >= 0.0) {
            return Err(bad("imu_max_age_s", format!("must be finite and ≥ 0, got {}", self.imu_max_age_s)));
        }
        for (field, value) in [
            ("accel_bias_sigma_m_s2", self.accel_bias_sigma_m_s2),
            ("accel_bias_walk_m_s2_sqrt_s", self.accel_bias_walk_m_s2_sqrt_s),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(bad(field, format!("must be finite and ≥ 0, got {value}")));
            }
        }
        if self.max_held_fixes == 0 {
            return Err(bad("max_held_fixes", "must be at least 1".into()));
        }
        for (field, value) in [
            ("fix_sigma_m", self.fix_sigma_m),
            ("accel_sigma_m_s2", self.accel_sigma_m_s2),
            ("unaided_accel_sigma_m_s2", self.unaided_accel_sigma_m_s2),
            ("gate_chi2", self.gate_chi2),
            ("max_fix_gap_s", self.max_fix_gap_s),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(bad(field, format!("must be finite and > 0, got {value}")));
            }
        }
        Ok(())
    }
}

/// Where the heading of an emitted pose came from (counted in [`EgoPoseStats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeadingSource {
    /// The IMU's orientation.
    ImuOrientation,
    /// Integrated IMU yaw rate blended with the GNSS track.
    ImuRateAndTrack,
    /// Integrated IMU yaw rate only (too slow for a track).
    ImuRate,
    /// GNSS track only.
    Track,
    /// Held from the last known heading (no IMU, too slow for a track).
    Held,
}

/// Counters of an [`EgoPoseEstimator`], and its accelerometer bias estimate.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EgoPoseStats {
    /// Fixes offered.
    pub fixes: u64,
    /// Fixes dropped: NO_FIX status, non-finite or out-of-range coordinates.
    pub unusable_fixes: u64,
    /// Fixes dropped: not after the previous fix.
    pub out_of_order_fixes: u64,
    /// Fixes dropped while waiting for a first heading (hold buffer full).
    pub dropped_without_heading: u64,
    /// IMU samples offered.
    pub imu_samples: u64,
    /// IMU samples dropped (non-finite values).
    pub bad_imu_samples: u64,
    /// Fixes the position filter rejected as outliers (the pose is its prediction).
    pub rejected_fixes: u64,
    /// Times the position filter restarted at a fix (outliers in a row, or a gap).
    pub filter_restarts: u64,
    /// Poses emitted.
    pub poses: u64,
    /// Poses by heading source.
    pub heading_imu_orientation: u64,
    /// See [`HeadingSource::ImuRateAndTrack`].
    pub heading_imu_rate_and_track: u64,
    /// See [`HeadingSource::ImuRate`].
    pub heading_imu_rate: u64,
    /// See [`HeadingSource::Track`].
    pub heading_track: u64,
    /// See [`HeadingSource::Held`].
    pub heading_held: u64,
    /// The position filter's accelerometer bias in `base_link` after the latest fix, m/s²
    /// (a mount tilted by θ reads g·sin θ on its axis); `None` before a fix or without a filter.
    pub accel_bias_m_s2: Option<[f64; 3]>,
}

fn wrap_pi(a: f64) -> f64 {
    let two_pi = std::f64::consts::TAU;
    let r = (a + std::f64::consts::PI).rem_euclid(two_pi);
    r - std::f64::consts::PI
}

/// GNSS (+ IMU) to `map_from_base_link` samples; see the module docs.
#[derive(Debug)]
pub struct EgoPoseEstimator {
    config: EgoPoseConfig,
    enu: Option<LocalEnu>,
    base_link_from_gnss: Isometry3<f64>,
    base_link_from_imu: UnitQuaternion<f64>,
    /// Last accepted fix: stamp and antenna position in map.
    last_fix: Option<(Stamp, Vector3<f64>)>,
    heading_rad: Option<f64>,
    /// Yaw integrated from IMU rates since the start, rad; `None` without IMU rates.
    total_yaw_rad: Option<f64>,
    /// `total_yaw_rad` at the last accepted fix.
    total_yaw_at_last_fix_rad: Option<f64>,
    /// Recent fixes for the track heading: stamp, antenna in map, `total_yaw_rad` then.
    track: VecDeque<(Stamp, Vector3<f64>, Option<f64>)>,
    last_imu_stamp: Option<Stamp>,
    /// Latest IMU attitude of `base_link` in map and its stamp.
    imu_attitude: Option<(Stamp, UnitQuaternion<f64>)>,
    held: VecDeque<(Stamp, Vector3<f64>)>,
    /// Antenna position filter (`None` when `filter_position` is off).
    filter: Option<AntennaFilter>,
    /// Mean IMU acceleration in map (and attitude) since the filter's stamp.
    accel: AccelMean,
    /// Mean gyro rate in `base_link` since the last fix.
    rate_rad_s: ImuMean<3, 1>,
    stats: EgoPoseStats,
}

impl EgoPoseEstimator {
    /// An estimator; the lever arms default to identity until set.
    pub fn new(config: EgoPoseConfig) -> Result<Self, AlignError> {
        config.validate("pose")?;
        let enu = match config.origin {
            Some([lat, lon, alt]) => Some(
                LocalEnu::new(lat, lon, alt)
                    .map_err(|e| AlignError::Invalid { key: "pose.origin".into(), why: e.to_string() })?,
            ),
            None => None,
        };
        Ok(Self {
            config: config.clone(),
            enu,
            base_link_from_gnss: Isometry3::identity(),
            base_link_from_imu: UnitQuaternion::identity(),
            last_fix: None,
            heading_rad: None,
            total_yaw_rad: None,
            total_yaw_at_last_fix_rad: None,
            track: VecDeque::new(),
            last_imu_stamp: None,
            imu_attitude: None,
            held: VecDeque::new(),
            filter: config.filter_position.then(|| {
                AntennaFilter::new(AntennaFilterConfig {
                    accel_sigma_m_s2: config.accel_sigma_m_s2,
                    unaided_accel_sigma_m_s2: config.unaided_accel_sigma_m_s2,
                    accel_bias_sigma_m_s2: config.accel_bias_sigma_m_s2,
                    accel_bias_walk_m_s2_sqrt_s: config.accel_bias_walk_m_s2_sqrt_s,
                    gate_chi2: config.gate_chi2,
                    max_rejected_fixes: config.max_rejected_fixes,
                    max_fix_gap_s: config.max_fix_gap_s,
                })
            }),
            accel: AccelMean::default(),
            rate_rad_s: ImuMean::default(),
            stats: EgoPoseStats::default(),
        })
    }

    /// Sets the GNSS antenna's pose in `base_link` (its lever arm).
    pub fn set_base_link_from_gnss(&mut self, base_link_from_gnss: Isometry3<f64>) {
        self.base_link_from_gnss = base_link_from_gnss;
    }

    /// Sets the IMU's mounting rotation in `base_link`.
    pub fn set_base_link_from_imu(&mut self, base_link_from_imu: UnitQuaternion<f64>) {
        self.base_link_from_imu = base_link_from_imu;
    }

    /// The `map` origin, once known.
    pub fn origin(&self) -> Option<Geodetic> {
        self.enu.as_ref().map(LocalEnu::origin)
    }

    /// The position filter's estimate of the accelerometer bias in `base_link`, m/s² (`None`
    /// without a filter; zero until fixes inform it).
    pub fn accel_bias_m_s2(&self) -> Option<Vector3<f64>> {
        self.filter.as_ref().map(AntennaFilter::accel_bias)
    }

    /// The counters.
    pub fn stats(&self) -> &EgoPoseStats {
        &self.stats
    }

    /// Offers an IMU sample: its yaw rate is integrated, its orientation (if any) kept, and its
    /// acceleration (in map, once an attitude is known) drives the position filter.
    pub fn push_imu(&mut self, imu: &Imu) {
        self.stats.imu_samples += 1;
        if !imu.angular_velocity_rad_s.iter().all(|v| v.is_finite()) {
            self.stats.bad_imu_samples += 1;
            return;
        }
        let rate_in_base = self.base_link_from_imu * imu.angular_velocity_rad_s;
        self.rate_rad_s.push(rate_in_base);
        if let Some(prev) = self.last_imu_stamp {
            let dt_s = (imu.stamp - prev).secs_f64();
            // Gaps or time going back: skip the interval rather than integrate nonsense.
            if dt_s > 0.0 && dt_s < 0.5 {
                *self.total_yaw_rad.get_or_insert(0.0) += rate_in_base.z * dt_s;
            }
        } else {
            self.total_yaw_rad.get_or_insert(0.0);
        }
        self.last_imu_stamp = Some(imu.stamp);
        if let Some(map_from_imu) = imu.orientation {
            if map_from_imu.coords.iter().all(|v| v.is_finite()) {
                self.imu_attitude = Some((imu.stamp, map_from_imu * self.base_link_from_imu.inverse()));
            }
        }
        self.accumulate_acceleration(imu);
    }

    /// Adds the sample's acceleration in map to the filter's input for the interval since its
    /// stamp. The attitude is the IMU's own when recent, else the heading (and the pitch from the
    /// velocity); without either, or for samples before the filter's stamp, nothing is added. A
    /// sample at the filter's stamp counts for the interval it starts: an IMU that samples with
    /// the receiver (KITTI's OXTS, 10 Hz, logged after the fix) is then used at all.
    fn accumulate_acceleration(&mut self, imu: &Imu) {
        let Some(filter_stamp) = self.filter.as_ref().and_then(AntennaFilter::stamp) else { return };
        if imu.stamp < filter_stamp || !imu.linear_acceleration_m_s2.iter().all(|v| v.is_finite()) {
            return;
        }
        let attitude = self
            .imu_attitude
            .filter(|(stamp, _)| (imu.stamp - *stamp).secs_f64().abs() <= self.config.imu_max_age_s)
            .map(|(_, q)| q)
            .or_else(|| {
                self.heading_rad.map(|yaw| UnitQuaternion::from_euler_angles(0.0, self.pitch_from_velocity(), yaw))
            });
        let Some(map_from_base_link) = attitude else { return };
        let specific_force = map_from_base_link * (self.base_link_from_imu * imu.linear_acceleration_m_s2);
        self.accel.push(specific_force - Vector3::new(0.0, 0.0, GRAVITY_M_S2), &map_from_base_link);
    }

    /// The pitch of `base_link` (ROS: positive nose down) without an IMU orientation: a car moves
    /// along its x axis, so the filter velocity's climb is the road's slope; 0 when slower than
    /// [`PITCH_MIN_SPEED_M_S`] or when `pitch_from_velocity` is off. Like the track heading, it
    /// takes the motion as forwards. Without it, a slope reads as forward acceleration
    /// (g · 5 % ≈ 0.5 m/s²) that the bias state can only follow slowly.
    fn pitch_from_velocity(&self) -> f64 {
        if !self.config.pitch_from_velocity {
            return 0.0;
        }
        let Some(filter) = self.filter.as_ref() else { return 0.0 };
        let (Some(v), Some(var)) = (filter.velocity(), filter.velocity_variance()) else { return 0.0 };
        let ground_speed = v.xy().norm();
        let power = v.z * v.z + var.z;
        if !(ground_speed >= PITCH_MIN_SPEED_M_S && power > 0.0 && power.is_finite()) {
            return 0.0;
        }
        // Shrink towards level by the climb's signal-to-noise (a level road's climb is all noise).
        let climb = v.z * (v.z * v.z / power);
        -climb.atan2(ground_speed)
    }

    /// The antenna position to use for a fix: the filter's estimate after fusing it, or the fix
    /// itself without a filter; and whether the fix was accepted (not an outlier).
    fn filtered_antenna(&mut self, fix: &GnssFix, antenna: Vector3<f64>) -> (Vector3<f64>, bool) {
        let Some(filter) = self.filter.as_mut() else { return (antenna, true) };
        let default_var = self.config.fix_sigma_m.powi(2);
        let variance = match fix.covariance_enu_m2 {
            Some(c) => Vector3::from_fn(|i, _| {
                let v = c[(i, i)];
                if v.is_finite() && v > 0.0 {
                    v
                } else {
                    default_var
                }
            }),
            None => Vector3::repeat(default_var),
        };
        let imu = self.accel.take();
        let outcome = filter.update(fix.stamp, &antenna, &variance, imu.as_ref());
        self.stats.accel_bias_m_s2 = Some(filter.accel_bias().into());
        match outcome {
            FixOutcome::Fused | FixOutcome::Started => {}
            FixOutcome::Restarted => self.stats.filter_restarts += 1,
            FixOutcome::Rejected => self.stats.rejected_fixes += 1,
        }
        (filter.position().unwrap_or(antenna), outcome != FixOutcome::Rejected)
    }

    /// Offers a fix; returns the poses that became known (usually one, none while no heading
    /// is known, several when held fixes are released).
    pub fn push_fix(&mut self, fix: &GnssFix) -> Vec<PoseSample> {
        self.stats.fixes += 1;
        if !fix.is_usable() {
            self.stats.unusable_fixes += 1;
            return Vec::new();
        }
        if let Some((last, _)) = self.last_fix {
            if fix.stamp <= last {
                self.stats.out_of_order_fixes += 1;
                return Vec::new();
            }
        }
        let Ok(geo) = Geodetic::new(fix.latitude_deg, fix.longitude_deg, fix.altitude_m) else {
            self.stats.unusable_fixes += 1;
            return Vec::new();
        };
        if self.enu.is_none() {
            match LocalEnu::new(geo.lat_deg, geo.lon_deg, geo.alt_m) {
                Ok(enu) => self.enu = Some(enu),
                Err(_) => {
                    self.stats.unusable_fixes += 1;
                    return Vec::new();
                }
            }
        }
        let Some(antenna) = self.enu.as_ref().and_then(|enu| enu.enu_from_geodetic(geo).ok()) else {
            self.stats.unusable_fixes += 1;
            return Vec::new();
        };
        let (antenna, accepted) = self.filtered_antenna(fix, antenna.coords);

        let imu_attitude = self
            .imu_attitude
            .filter(|(stamp, _)| (fix.stamp - *stamp).secs_f64().abs() <= self.config.imu_max_age_s)
            .map(|(_, q)| q);
        let (attitude, source) = match imu_attitude {
            Some(q) => {
                self.heading_rad = Some(q.euler_angles().2);
                (Some(q), Some(HeadingSource::ImuOrientation))
            }
            None => {
                let source = self.update_heading(fix.stamp, &antenna);
                (self.heading_rad.map(|yaw| UnitQuaternion::from_euler_angles(0.0, 0.0, yaw)), source)
            }
        };
        let twist = self.take_twist(attitude);
        self.total_yaw_at_last_fix_rad = self.total_yaw_rad;
        self.last_fix = Some((fix.stamp, antenna));
        if accepted {
            self.track.push_back((fix.stamp, antenna, self.total_yaw_rad));
        }

        let (Some(rotation), Some(source)) = (attitude, source) else {
            if self.held.len() >= self.config.max_held_fixes {
                self.held.pop_front();
                self.stats.dropped_without_heading += 1;
            }
            self.held.push_back((fix.stamp, antenna));
            return Vec::new();
        };
        let held = std::mem::take(&mut self.held);
        let mut poses: Vec<PoseSample> =
            held.into_iter().map(|(stamp, antenna)| self.pose(stamp, &antenna, rotation)).collect();
        poses.push(PoseSample { twist, ..self.pose(fix.stamp, &antenna, rotation) });
        for _ in &poses {
            self.count(source);
        }
        poses
    }

    fn count(&mut self, source: HeadingSource) {
        let s = &mut self.stats;
        s.poses += 1;
        match source {
            HeadingSource::ImuOrientation => s.heading_imu_orientation += 1,
            HeadingSource::ImuRateAndTrack => s.heading_imu_rate_and_track += 1,
            HeadingSource::ImuRate => s.heading_imu_rate += 1,
            HeadingSource::Track => s.heading_track += 1,
            HeadingSource::Held => s.heading_held += 1,
        }
    }

    /// Propagates the heading with the IMU yaw and corrects it with the GNSS track.
    fn update_heading(&mut self, stamp: Stamp, antenna: &Vector3<f64>) -> Option<HeadingSource> {
        let yaw_between = |from: Option<f64>, to: Option<f64>| match (from, to) {
            (Some(a), Some(b)) => b - a,
            _ => 0.0,
        };
        let turned = self.total_yaw_rad.map(|_| yaw_between(self.total_yaw_at_last_fix_rad, self.total_yaw_rad));
        let window = fusor_core::Duration::from_secs_f64(self.config.track_window_s);
        while self.track.front().is_some_and(|(t, _, _)| stamp - *t > window) {
            self.track.pop_front();
        }
        let track = self.track.front().and_then(|&(base_stamp, base, base_yaw)| {
            let dt_s = (stamp - base_stamp).secs_f64();
            let d = antenna - base;
            let speed = d.xy().norm() / dt_s;
            // A chord points along the heading at its middle (constant turn rate): add half of
            // the turn made over it to get the heading now.
            (dt_s > 0.0
                && speed.is_finite()
                && speed >= self.config.min_track_speed_m_s
                && d.xy().norm() >= self.config.min_track_chord_m)
                .then(|| d.y.atan2(d.x) + 0.5 * yaw_between(base_yaw, self.total_yaw_rad))
        });
        let predicted = self.heading_rad.map(|h| h + turned.unwrap_or(0.0));
        let (heading, source) = match (predicted, track, turned.is_some()) {
            (Some(p), Some(t), true) => (p + self.config.track_gain * wrap_pi(t - p), HeadingSource::ImuRateAndTrack),
            (Some(p), None, true) => (p, HeadingSource::ImuRate),
            (_, Some(t), _) => (t, HeadingSource::Track),
            (Some(p), None, false) => (p, HeadingSource::Held),
            (None, None, _) => return None,
        };
        self.heading_rad = Some(wrap_pi(heading));
        Some(source)
    }

    fn pose(
        &self,
        stamp: Stamp,
        antenna: &Vector3<f64>,
        map_from_base_link_rotation: UnitQuaternion<f64>,
    ) -> PoseSample {
        // antenna = p + R · t_gnss  ⇒  p = antenna − R · t_gnss
        let lever_arm = map_from_base_link_rotation * self.base_link_from_gnss.translation.vector;
        PoseSample::new(
            stamp,
            Isometry3::from_parts(Translation3::from(antenna - lever_arm), map_from_base_link_rotation),
        )
    }

    /// `base_link`'s twist from the filter's antenna velocity and the mean gyro rate since the
    /// previous fix (taken, reset); `None` without an attitude, a filter velocity or a gyro sample.
    fn take_twist(&mut self, map_from_base_link_rotation: Option<UnitQuaternion<f64>>) -> Option<BodyTwist> {
        let mean_rate = self.rate_rad_s.take();
        let map_from_base_link_rotation = map_from_base_link_rotation?;
        let antenna_velocity = self.filter.as_ref().and_then(AntennaFilter::velocity)?;
        let angular_rad_s = mean_rate?;
        // v_antenna = v_base + ω × r_antenna, all in map.
        let lever_arm = map_from_base_link_rotation * self.base_link_from_gnss.translation.vector;
        let base_velocity = antenna_velocity - (map_from_base_link_rotation * angular_rad_s).cross(&lever_arm);
        Some(BodyTwist { linear_m_s: map_from_base_link_rotation.inverse() * base_velocity, angular_rad_s })
    }
}
