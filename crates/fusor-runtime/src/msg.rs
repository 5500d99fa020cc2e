//! The envelope every edge carries: the sensor stamp travels with the payload end to end.

use fusor_core::Stamp;

/// A payload with the sensor time of validity it was derived from and a sequence number.
///
/// Stages that transform a message keep its `stamp` (use [`Msg::map`]), so end-to-end latency
/// (`clock.now() - stamp`) is measurable at every stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Msg<T> {
    /// Sensor time of validity of the data this payload came from (ns since the epoch).
    pub stamp: Stamp,
    /// Sequence number assigned by the source, increasing per source.
    pub seq: u64,
    /// The payload.
    pub payload: T,
}

impl<T> Msg<T> {
    /// A message.
    pub fn new(stamp: Stamp, seq: u64, payload: T) -> Self {
        Self { stamp, seq, payload }
    }

    /// The same stamp and sequence number around a new payload.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Msg<U> {
        Msg { stamp: self.stamp, seq: self.seq, payload: f(self.payload) }
    }
}
