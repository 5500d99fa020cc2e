//! `builtin_interfaces/Time` ↔ [`Stamp`], and headers.

use crate::builtin_interfaces::Time;
use crate::std_msgs::Header;
use crate::MsgError;
use fusor_core::{FrameId, Stamp};

/// A ROS time as a fusor [`Stamp`] (ns since the epoch). `nanosec ≥ 1e9` is an error.
pub fn stamp_from_time(time: Time) -> Result<Stamp, MsgError> {
    Stamp::from_sec_nanosec(time.sec, time.nanosec)
        .ok_or_else(|| MsgError::Time(format!("nanosec {} ≥ 1e9 (sec {})", time.nanosec, time.sec)))
}

/// A fusor [`Stamp`] as a ROS time. Stamps whose seconds do not fit an `i32` (after 2038-01-19
/// or before 1901-12-13) are an error.
pub fn time_from_stamp(stamp: Stamp) -> Result<Time, MsgError> {
    stamp
        .to_sec_nanosec()
        .map(|(sec, nanosec)| Time { sec, nanosec })
        .ok_or_else(|| MsgError::Time(format!("stamp {stamp} s does not fit builtin_interfaces/Time (i32 seconds)")))
}

/// A header for data valid at `stamp` in `frame_id`.
pub fn header(stamp: Stamp, frame_id: &FrameId) -> Result<Header, MsgError> {
    Ok(Header { stamp: time_from_stamp(stamp)?, frame_id: frame_id.as_str().to_owned() })
}

impl TryFrom<Time> for Stamp {
    type Error = MsgError;
    /// See [`stamp_from_time`].
    fn try_from(time: Time) -> Result<Self, MsgError> {
        stamp_from_time(time)
    }
}

impl TryFrom<Stamp> for Time {
    type Error = MsgError;
    /// See [`time_from_stamp`].
    fn try_from(stamp: Stamp) -> Result<Self, MsgError> {
        time_from_stamp(stamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanosec_of_one_second_or_more_is_an_error() {
        assert!(matches!(stamp_from_time(Time { sec: 1, nanosec: 1_000_000_000 }), Err(MsgError::Time(_))));
        assert_eq!(stamp_from_time(Time { sec: 1, nanosec: 999_999_999 }).unwrap(), Stamp(1_999_999_999));
    }

    #[test]
    fn negative_stamps_keep_nanosec_positive() {
        let t = time_from_stamp(Stamp(-1)).unwrap();
        assert_eq!(t, Time { sec: -1, nanosec: 999_999_999 });
        assert_eq!(Stamp::try_from(t).unwrap(), Stamp(-1));
    }

    #[test]
    fn stamps_beyond_2038_do_not_fit_ros_time() {
        assert!(matches!(
            time_from_stamp(Stamp(i64::from(i32::MAX) * 1_000_000_000 + 1_000_000_000)),
            Err(MsgError::Time(_))
        ));
        assert!(Time::try_from(Stamp(i64::from(i32::MAX) * 1_000_000_000)).is_ok());
    }
}
