//! `sensor_msgs/NavSatFix` ↔ [`GnssFix`].

use super::time::{header, stamp_from_time};
use crate::sensor_msgs::{NavSatFix, NavSatStatus};
use crate::MsgError;
use fusor_core::{FixStatus, FrameId, GnssFix};
use nalgebra::Matrix3;

/// Reads a fix. The covariance is ENU on both sides (REP-145/NavSatFix and fusor), so it is copied
/// (row-major); `COVARIANCE_TYPE_UNKNOWN` gives `None`. An unknown `status.status` is an error.
/// `service` is dropped (fusor does not use it).
pub fn fix_from_navsatfix(msg: &NavSatFix) -> Result<GnssFix, MsgError> {
    let status = FixStatus::from_ros(msg.status.status).ok_or_else(|| MsgError::Invalid {
        what: "NavSatStatus.status",
        why: format!("{} is not one of -1, 0, 1, 2", msg.status.status),
    })?;
    let covariance_enu_m2 = match msg.position_covariance_type {
        NavSatFix::COVARIANCE_TYPE_UNKNOWN => None,
        NavSatFix::COVARIANCE_TYPE_APPROXIMATED
        | NavSatFix::COVARIANCE_TYPE_DIAGONAL_KNOWN
        | NavSatFix::COVARIANCE_TYPE_KNOWN => Some(Matrix3::from_row_slice(&msg.position_covariance)),
        other => {
            return Err(MsgError::Invalid { what: "NavSatFix.position_covariance_type", why: format!("{other} > 3") })
        }
    };
    Ok(GnssFix {
        stamp: stamp_from_time(msg.header.stamp)?,
        frame_id: FrameId::new(&msg.header.frame_id),
        latitude_deg: msg.latitude,
        longitude_deg: msg.longitude,
        altitude_m: msg.altitude,
        covariance_enu_m2,
        status,
    })
}

/// Writes a fix. A covariance is written as `COVARIANCE_TYPE_KNOWN` (fusor does not keep how it
/// was obtained), none as `COVARIANCE_TYPE_UNKNOWN` with zeros. `service` is 0 (not known).
pub fn navsatfix_from_fix(fix: &GnssFix) -> Result<NavSatFix, MsgError> {
    let (position_covariance, position_covariance_type) = match &fix.covariance_enu_m2 {
        Some(c) => (row_major(c), NavSatFix::COVARIANCE_TYPE_KNOWN),
        None => ([0.0; 9], NavSatFix::COVARIANCE_TYPE_UNKNOWN),
    };
    Ok(NavSatFix {
        header: header(fix.stamp, &fix.frame_id)?,
        status: NavSatStatus { status: fix.status.to_ros(), service: 0 },
        latitude: fix.latitude_deg,
        longitude: fix.longitude_deg,
        altitude: fix.altitude_m,
        position_covariance,
        position_covariance_type,
    })
}

/// A 3×3 matrix as a ROS row-major array.
pub(crate) fn row_major(m: &Matrix3<f64>) -> [f64; 9] {
    let mut out = [0.0; 9];
    for (i, v) in out.iter_mut().enumerate() {
        *v = m[(i / 3, i % 3)];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use fusor_core::Stamp;

    fn kitti_like() -> NavSatFix {
        NavSatFix {
            status: NavSatStatus { status: NavSatStatus::STATUS_FIX, service: NavSatStatus::SERVICE_GPS },
            latitude: 49.0,
            longitude: 8.4,
            altitude: 110.0,
            position_covariance: [1.0, 0.1, 0.2, 0.1, 2.0, 0.3, 0.2, 0.3, 3.0],
            position_covariance_type: NavSatFix::COVARIANCE_TYPE_APPROXIMATED,
            ..Default::default()
        }
    }

    #[test]
    fn covariance_is_copied_row_major_and_status_mapped() {
        let fix = fix_from_navsatfix(&kitti_like()).unwrap();
        assert_eq!(fix.status, FixStatus::Fix);
        let c = fix.covariance_enu_m2.unwrap();
        assert_eq!((c[(0, 1)], c[(0, 2)], c[(1, 2)], c[(2, 2)]), (0.1, 0.2, 0.3, 3.0));
        let back = navsatfix_from_fix(&fix).unwrap();
        assert_eq!(back.position_covariance, kitti_like().position_covariance);
        assert_eq!(back.position_covariance_type, NavSatFix::COVARIANCE_TYPE_KNOWN);
        assert_eq!(back.status.status, NavSatStatus::STATUS_FIX);
    }

    #[test]
    fn unknown_covariance_type_gives_no_covariance() {
        let msg = NavSatFix { position_covariance_type: NavSatFix::COVARIANCE_TYPE_UNKNOWN, ..kitti_like() };
        assert_eq!(fix_from_navsatfix(&msg).unwrap().covariance_enu_m2, None);
        let none = GnssFix { covariance_enu_m2: None, stamp: Stamp(0), ..fix_from_navsatfix(&msg).unwrap() };
        assert_eq!(navsatfix_from_fix(&none).unwrap().position_covariance_type, NavSatFix::COVARIANCE_TYPE_UNKNOWN);
    }

    #[test]
    fn unknown_status_or_covariance_type_is_an_error() {
        let bad_status = NavSatFix { status: NavSatStatus { status: 5, service: 1 }, ..kitti_like() };
        assert!(matches!(fix_from_navsatfix(&bad_status), Err(MsgError::Invalid { .. })));
        let bad_type = NavSatFix { position_covariance_type: 9, ..kitti_like() };
        assert!(matches!(fix_from_navsatfix(&bad_type), Err(MsgError::Invalid { .. })));
    }
}
