//! Clocks: wall time (live), replay paced at a rate, and a virtual clock driven by message
//! stamps (as fast as possible).
//!
//! Sources call [`Clock::wait_until`] with each message's stamp before sending it; stages read
//! [`Clock::now`] to measure end-to-end latency (`now - sensor stamp`).

use crate::{Result, RuntimeError};
use fusor_core::Stamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A source of "now" in sensor time, shared by every actor of a graph.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time on this clock (ns since the epoch).
    fn now(&self) -> Stamp;
    /// Waits until this clock reaches `stamp` (returns at once if it already has).
    fn wait_until(&self, stamp: Stamp);
}

/// Wall-clock time (`SystemTime`), for live sensors.
#[derive(Debug, Clone, Copy, Default)]
pub struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> Stamp {
        wall_now()
    }
    fn wait_until(&self, stamp: Stamp) {
        let wait_ns = (stamp - wall_now()).nanos();
        if wait_ns > 0 {
            std::thread::sleep(std::time::Duration::from_nanos(wait_ns.unsigned_abs()));
        }
    }
}

fn wall_now() -> Stamp {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => Stamp(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        // A wall clock set before 1970: report the epoch rather than failing the run.
        Err(_) => Stamp::ZERO,
    }
}

/// Replay time: recorded stamps paced against wall time at `rate` (1.0 = real time).
///
/// The first [`Clock::wait_until`] anchors the recording's time to the wall clock; after that,
/// `now = anchor_stamp + rate * wall_elapsed`. Before the anchor, `now` is [`Stamp::ZERO`].
#[derive(Debug)]
pub struct ReplayClock {
    rate: f64,
    anchor: Mutex<Option<(Stamp, Instant)>>,
}

impl ReplayClock {
    /// A replay clock; `rate` must be finite and positive.
    pub fn new(rate: f64) -> Result<Self> {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(RuntimeError::invalid("rate", format!("replay rate must be finite and > 0, got {rate}")));
        }
        Ok(Self { rate, anchor: Mutex::new(None) })
    }

    /// The replay rate (1.0 = real time).
    pub fn rate(&self) -> f64 {
        self.rate
    }

    fn anchor(&self, stamp: Stamp) -> (Stamp, Instant) {
        let mut anchor = self.anchor.lock().unwrap_or_else(PoisonError::into_inner);
        *anchor.get_or_insert_with(|| (stamp, Instant::now()))
    }
}

impl Clock for ReplayClock {
    fn now(&self) -> Stamp {
        let anchor = *self.anchor.lock().unwrap_or_else(PoisonError::into_inner);
        match anchor {
            Some((stamp0, wall0)) => {
                let elapsed_ns = wall0.elapsed().as_nanos() as f64 * self.rate;
                stamp0 + fusor_core::Duration(elapsed_ns as i64)
            }
            None => Stamp::ZERO,
        }
    }

    fn wait_until(&self, stamp: Stamp) {
        let (stamp0, wall0) = self.anchor(stamp);
        let ahead_ns = (stamp - stamp0).nanos();
        if ahead_ns <= 0 {
            return;
        }
        let target = wall0 + std::time::Duration::from_secs_f64(ahead_ns as f64 * 1e-9 / self.rate);
        let now = Instant::now();
        if target > now {
            std::thread::sleep(target - now);
        }
    }
}

/// As fast as possible: time is the latest stamp any source has reached; nothing sleeps.
#[derive(Debug)]
pub struct VirtualClock {
    now_ns: AtomicI64,
}

impl VirtualClock {
    /// A virtual clock at [`Stamp::ZERO`] until the first message.
    pub fn new() -> Self {
        Self { now_ns: AtomicI64::new(i64::MIN) }
    }
}

impl Default for VirtualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Stamp {
        match self.now_ns.load(Ordering::Acquire) {
            i64::MIN => Stamp::ZERO,
            ns => Stamp(ns),
        }
    }
    fn wait_until(&self, stamp: Stamp) {
        self.now_ns.fetch_max(stamp.nanos(), Ordering::AcqRel);
    }
}

/// Which clock a run uses, as chosen on the command line or in the pipeline config.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockMode {
    /// Live: wall-clock time.
    Wall,
    /// Replay paced at `rate` × real time.
    Replay {
        /// 1.0 = real time, 2.0 = twice as fast.
        rate: f64,
    },
    /// As fast as possible, virtual time from message stamps.
    Max,
}

impl ClockMode {
    /// The clock for this mode.
    pub fn build(self) -> Result<Arc<dyn Clock>> {
        Ok(match self {
            Self::Wall => Arc::new(WallClock),
            Self::Replay { rate } => Arc::new(ReplayClock::new(rate)?),
            Self::Max => Arc::new(VirtualClock::new()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_clock_follows_the_latest_stamp_and_never_goes_back() {
        let clock = VirtualClock::new();
        clock.wait_until(Stamp(100));
        clock.wait_until(Stamp(50));
        assert_eq!(clock.now(), Stamp(100));
    }

    #[test]
    fn replay_clock_paces_stamps_against_wall_time() {
        // 20 ms of recording at rate 2 takes ≥ 10 ms of wall time.
        let clock = ReplayClock::new(2.0).unwrap();
        let start = Instant::now();
        clock.wait_until(Stamp(1_000_000_000));
        clock.wait_until(Stamp(1_020_000_000));
        assert!(start.elapsed() >= std::time::Duration::from_millis(10));
        assert!(clock.now() >= Stamp(1_020_000_000));
    }

    #[test]
    fn replay_rate_must_be_positive() {
        assert!(ReplayClock::new(0.0).is_err());
        assert!(ReplayClock::new(f64::NAN).is_err());
    }
}
