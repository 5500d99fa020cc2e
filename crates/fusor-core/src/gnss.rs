//! GNSS fixes.

use crate::{FrameId, Stamp};
use nalgebra::Matrix3;
use serde::{Deserialize, Serialize};

/// Quality of a fix (the `sensor_msgs/NavSatStatus.status` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FixStatus {
    /// No fix: the position must not be used.
    NoFix,
    /// Unaugmented fix.
    Fix,
    /// Satellite-based augmentation.
    SbasFix,
    /// Ground-based augmentation (RTK and similar).
    GbasFix,
}

impl FixStatus {
    /// From the ROS integer (`-1..=2`); other values are `None`.
    pub fn from_ros(status: i8) -> Option<Self> {
        Some(match status {
            -1 => Self::NoFix,
            0 => Self::Fix,
            1 => Self::SbasFix,
            2 => Self::GbasFix,
            _ => return None,
        })
    }
    /// The ROS integer.
    pub const fn to_ros(self) -> i8 {
        match self {
            Self::NoFix => -1,
            Self::Fix => 0,
            Self::SbasFix => 1,
            Self::GbasFix => 2,
        }
    }
    /// True when the position is usable.
    pub const fn has_fix(self) -> bool {
        !matches!(self, Self::NoFix)
    }
}

/// A WGS84 position fix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GnssFix {
    /// Time of the fix.
    pub stamp: Stamp,
    /// Antenna frame.
    pub frame_id: FrameId,
    /// Latitude in degrees (WGS84), + north.
    pub latitude_deg: f64,
    /// Longitude in degrees (WGS84), + east.
    pub longitude_deg: f64,
    /// Height above the WGS84 ellipsoid in metres.
    pub altitude_m: f64,
    /// Position covariance in the local ENU frame at the fix (m²), `None` when unknown.
    pub covariance_enu_m2: Option<Matrix3<f64>>,
    /// Fix quality.
    pub status: FixStatus,
}

impl GnssFix {
    /// True when the fix is usable: a fix status and finite, in-range coordinates.
    pub fn is_usable(&self) -> bool {
        self.status.has_fix()
            && self.latitude_deg.is_finite()
            && self.longitude_deg.is_finite()
            && self.altitude_m.is_finite()
            && (-90.0..=90.0).contains(&self.latitude_deg)
            && (-180.0..=180.0).contains(&self.longitude_deg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_and_rejects_unknown() {
        for s in [FixStatus::NoFix, FixStatus::Fix, FixStatus::SbasFix, FixStatus::GbasFix] {
            assert_eq!(FixStatus::from_ros(s.to_ros()), Some(s));
        }
        assert_eq!(FixStatus::from_ros(7), None);
    }

    #[test]
    fn nan_latitude_is_not_usable() {
        let fix = GnssFix {
            stamp: Stamp(0),
            frame_id: "gnss".into(),
            latitude_deg: f64::NAN,
            longitude_deg: 8.4,
            altitude_m: 100.0,
            covariance_enu_m2: None,
            status: FixStatus::Fix,
        };
        assert!(!fix.is_usable());
        assert!(GnssFix { latitude_deg: 49.0, ..fix.clone() }.is_usable());
        assert!(!GnssFix { latitude_deg: 49.0, status: FixStatus::NoFix, ..fix }.is_usable());
    }
}
