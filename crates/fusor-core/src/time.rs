//! Time: nanoseconds since the Unix epoch, signed, as ROS 2 and MCAP count it.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, Sub};

/// A point in time: nanoseconds since 1970-01-01T00:00:00 UTC (sensor time of validity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Stamp(pub i64);

/// A signed span of time in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Duration(pub i64);

impl Stamp {
    /// The epoch itself.
    pub const ZERO: Stamp = Stamp(0);

    /// From whole nanoseconds since the epoch.
    pub const fn from_nanos(ns: i64) -> Self {
        Self(ns)
    }

    /// From seconds since the epoch; `None` when not finite or out of the i64 ns range.
    pub fn from_secs_f64(secs: f64) -> Option<Self> {
        let ns = secs * 1e9;
        (ns.is_finite() && ns.abs() < i64::MAX as f64).then(|| Self(ns.round() as i64))
    }

    /// From a ROS `builtin_interfaces/Time` (sec, nanosec). `None` when `nanosec ≥ 1e9`.
    pub fn from_sec_nanosec(sec: i32, nanosec: u32) -> Option<Self> {
        (nanosec < 1_000_000_000).then(|| Self(i64::from(sec) * 1_000_000_000 + i64::from(nanosec)))
    }

    /// To a ROS `builtin_interfaces/Time` (sec, nanosec), nanosec in `[0, 1e9)`.
    /// `None` when the seconds do not fit an `i32` (after 2038 or before 1901).
    pub fn to_sec_nanosec(self) -> Option<(i32, u32)> {
        let sec = self.0.div_euclid(1_000_000_000);
        let nanosec = self.0.rem_euclid(1_000_000_000) as u32;
        i32::try_from(sec).ok().map(|s| (s, nanosec))
    }

    /// Nanoseconds since the epoch.
    pub const fn nanos(self) -> i64 {
        self.0
    }

    /// Seconds since the epoch.
    pub fn secs_f64(self) -> f64 {
        self.0 as f64 * 1e-9
    }
}

impl Duration {
    /// From nanoseconds.
    pub const fn from_nanos(ns: i64) -> Self {
        Self(ns)
    }
    /// From milliseconds.
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms * 1_000_000)
    }
    /// From seconds (rounded to the nanosecond).
    pub fn from_secs_f64(secs: f64) -> Self {
        Self((secs * 1e9).round() as i64)
    }
    /// Nanoseconds.
    pub const fn nanos(self) -> i64 {
        self.0
    }
    /// Seconds.
    pub fn secs_f64(self) -> f64 {
        self.0 as f64 * 1e-9
    }
    /// Absolute value.
    pub const fn abs(self) -> Self {
        Self(self.0.saturating_abs())
    }
}

impl Sub for Stamp {
    type Output = Duration;
    fn sub(self, rhs: Stamp) -> Duration {
        Duration(self.0.saturating_sub(rhs.0))
    }
}
impl Add<Duration> for Stamp {
    type Output = Stamp;
    fn add(self, rhs: Duration) -> Stamp {
        Stamp(self.0.saturating_add(rhs.0))
    }
}
impl Sub<Duration> for Stamp {
    type Output = Stamp;
    fn sub(self, rhs: Duration) -> Stamp {
        Stamp(self.0.saturating_sub(rhs.0))
    }
}
impl Add for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        Duration(self.0.saturating_add(rhs.0))
    }
}

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09}", self.0.div_euclid(1_000_000_000), self.0.rem_euclid(1_000_000_000))
    }
}
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3} s", self.secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn negative_stamps_split_into_ros_time_with_positive_nanosec() {
        let s = Stamp(-1_500_000_000);
        assert_eq!(s.to_sec_nanosec(), Some((-2, 500_000_000)));
        assert_eq!(Stamp::from_sec_nanosec(-2, 500_000_000), Some(s));
    }

    #[test]
    fn rejects_nanosec_overflow() {
        assert_eq!(Stamp::from_sec_nanosec(1, 1_000_000_000), None);
    }

    #[test]
    fn display_is_seconds_dot_nanos() {
        assert_eq!(Stamp(1_317_000_000_000_000_123).to_string(), "1317000000.000000123");
    }

    proptest! {
        #[test]
        fn ros_time_round_trips(sec in i32::MIN..i32::MAX, nanosec in 0u32..1_000_000_000) {
            let s = Stamp::from_sec_nanosec(sec, nanosec).unwrap();
            prop_assert_eq!(s.to_sec_nanosec(), Some((sec, nanosec)));
        }
    }
}
