//! Bounded edges between actors, with a back-pressure policy and their own counters.
//!
//! Modelled on rerun's `re_smart_channel`: an edge knows its queue depth, and counts what it
//! delivered and what it dropped, so the run summary can say where data was lost.

use crate::{Result, RuntimeError};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration as StdDuration;

/// What a full edge does with a new message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EdgePolicy {
    /// The sender waits for room: lossless and deterministic (replay).
    Block,
    /// The oldest queued message is discarded and counted: a slow consumer never holds back
    /// the producer (live sensors).
    DropOldest,
}

impl fmt::Display for EdgePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Block => "block",
            Self::DropOldest => "drop-oldest",
        })
    }
}

/// Capacity and policy of one edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeSpec {
    /// Maximum number of queued messages (at least 1).
    pub capacity: usize,
    /// What happens when the queue is full.
    pub policy: EdgePolicy,
}

impl EdgeSpec {
    /// A lossless edge of `capacity` messages.
    pub const fn block(capacity: usize) -> Self {
        Self { capacity, policy: EdgePolicy::Block }
    }
    /// A drop-oldest edge of `capacity` messages.
    pub const fn drop_oldest(capacity: usize) -> Self {
        Self { capacity, policy: EdgePolicy::DropOldest }
    }
}

/// What happened to one sent message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// Queued without loss.
    Queued,
    /// Queued after discarding this many older messages (drop-oldest only).
    QueuedDroppingOldest(u32),
    /// The receiving actor is gone; the message was discarded and counted.
    Disconnected,
}

/// Counters shared by both ends of an edge (lock-free, read at any time).
#[derive(Debug)]
pub(crate) struct EdgeStats {
    pub(crate) name: String,
    pub(crate) spec: EdgeSpec,
    pub(crate) sent: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) dropped_oldest: AtomicU64,
    pub(crate) dropped_disconnected: AtomicU64,
    pub(crate) depth_max: AtomicUsize,
    receiver_alive: AtomicBool,
}

/// The sending end of an edge. Cloning it adds a producer; the receiver sees end of stream when
/// every sender is dropped.
pub struct EdgeSender<T> {
    tx: Sender<T>,
    /// Drop-oldest only: a handle on the queue to discard its oldest message when full.
    evict: Option<Receiver<T>>,
    stats: Arc<EdgeStats>,
}

/// The receiving end of an edge (single consumer).
pub struct EdgeReceiver<T> {
    rx: Receiver<T>,
    stats: Arc<EdgeStats>,
}

/// A bounded edge called `name` with the given capacity and policy.
///
/// Fails with [`RuntimeError::ZeroCapacity`] for a capacity of 0.
pub fn edge<T>(name: impl Into<String>, spec: EdgeSpec) -> Result<(EdgeSender<T>, EdgeReceiver<T>)> {
    let name = name.into();
    if spec.capacity == 0 {
        return Err(RuntimeError::ZeroCapacity { key: format!("edge `{name}`") });
    }
    let (tx, rx) = crossbeam_channel::bounded(spec.capacity);
    let stats = Arc::new(EdgeStats {
        name,
        spec,
        sent: AtomicU64::new(0),
        received: AtomicU64::new(0),
        dropped_oldest: AtomicU64::new(0),
        dropped_disconnected: AtomicU64::new(0),
        depth_max: AtomicUsize::new(0),
        receiver_alive: AtomicBool::new(true),
    });
    let evict = (spec.policy == EdgePolicy::DropOldest).then(|| rx.clone());
    Ok((EdgeSender { tx, evict, stats: Arc::clone(&stats) }, EdgeReceiver { rx, stats }))
}

impl<T> EdgeSender<T> {
    /// Sends by the edge's policy: blocks while full (`Block`) or discards the oldest queued
    /// messages until there is room (`DropOldest`). Never fails: a vanished receiver is counted.
    pub fn send(&self, msg: T) -> SendOutcome {
        let outcome = match &self.evict {
            None => match self.tx.send(msg) {
                Ok(()) => SendOutcome::Queued,
                Err(_) => SendOutcome::Disconnected,
            },
            Some(evict) => self.send_dropping_oldest(evict, msg),
        };
        match outcome {
            SendOutcome::Disconnected => {
                self.stats.dropped_disconnected.fetch_add(1, Ordering::Relaxed);
            }
            SendOutcome::Queued | SendOutcome::QueuedDroppingOldest(_) => {
                self.stats.sent.fetch_add(1, Ordering::Relaxed);
                self.stats.depth_max.fetch_max(self.tx.len(), Ordering::Relaxed);
            }
        }
        outcome
    }

    fn send_dropping_oldest(&self, evict: &Receiver<T>, mut msg: T) -> SendOutcome {
        // The sender holds a receiver clone, so the channel never reports disconnection:
        // the real receiver announces its departure through the flag instead.
        if !self.stats.receiver_alive.load(Ordering::Acquire) {
            return SendOutcome::Disconnected;
        }
        let mut dropped = 0u32;
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) => {
                    msg = back;
                    // The consumer may have taken the oldest meanwhile; only count what we discard.
                    if evict.try_recv().is_ok() {
                        dropped += 1;
                        self.stats.dropped_oldest.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(TrySendError::Disconnected(_)) => return SendOutcome::Disconnected,
            }
        }
        if dropped == 0 {
            SendOutcome::Queued
        } else {
            SendOutcome::QueuedDroppingOldest(dropped)
        }
    }

    /// Messages queued now.
    pub fn len(&self) -> usize {
        self.tx.len()
    }

    /// Whether the queue is empty now.
    pub fn is_empty(&self) -> bool {
        self.tx.is_empty()
    }

    /// The edge's name (`from->to`).
    pub fn name(&self) -> &str {
        &self.stats.name
    }

    pub(crate) fn stats(&self) -> &Arc<EdgeStats> {
        &self.stats
    }
}

impl<T> Clone for EdgeSender<T> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone(), evict: self.evict.clone(), stats: Arc::clone(&self.stats) }
    }
}

impl<T> EdgeReceiver<T> {
    /// The next message, waiting for one; `None` at end of stream (every sender dropped and the
    /// queue drained).
    pub fn recv(&self) -> Option<T> {
        let msg = self.rx.recv().ok();
        if msg.is_some() {
            self.stats.received.fetch_add(1, Ordering::Relaxed);
        }
        msg
    }

    /// The next message if one arrives within `timeout`.
    pub fn recv_timeout(&self, timeout: StdDuration) -> Result<T, RecvTimeoutError> {
        let msg = self.rx.recv_timeout(timeout);
        if msg.is_ok() {
            self.stats.received.fetch_add(1, Ordering::Relaxed);
        }
        msg
    }

    /// The next message if one is queued.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let msg = self.rx.try_recv();
        if msg.is_ok() {
            self.stats.received.fetch_add(1, Ordering::Relaxed);
        }
        msg
    }

    /// Messages queued now.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Whether the queue is empty now.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// The edge's name (`from->to`).
    pub fn name(&self) -> &str {
        &self.stats.name
    }

    /// Messages discarded by drop-oldest so far.
    pub fn dropped(&self) -> u64 {
        self.stats.dropped_oldest.load(Ordering::Relaxed)
    }

    pub(crate) fn raw(&self) -> &Receiver<T> {
        &self.rx
    }

    pub(crate) fn count_received(&self) {
        self.stats.received.fetch_add(1, Ordering::Relaxed);
    }
}

impl<T> Drop for EdgeReceiver<T> {
    fn drop(&mut self) {
        self.stats.receiver_alive.store(false, Ordering::Release);
    }
}

impl<T> fmt::Debug for EdgeSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdgeSender").field("name", &self.stats.name).field("len", &self.tx.len()).finish()
    }
}

impl<T> fmt::Debug for EdgeReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdgeReceiver").field("name", &self.stats.name).field("len", &self.rx.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_capacity_is_rejected() {
        assert!(matches!(edge::<u32>("a->b", EdgeSpec::block(0)), Err(RuntimeError::ZeroCapacity { .. })));
    }

    #[test]
    fn drop_oldest_keeps_the_newest_and_counts_the_rest() {
        let (tx, rx) = edge::<u32>("a->b", EdgeSpec::drop_oldest(2)).unwrap_or_else(|e| panic!("{e}"));
        for i in 0..5 {
            tx.send(i);
        }
        assert_eq!(rx.dropped(), 3);
        assert_eq!(rx.try_recv().ok(), Some(3));
        assert_eq!(rx.try_recv().ok(), Some(4));
    }

    #[test]
    fn sending_to_a_dropped_receiver_is_counted_not_fatal() {
        for spec in [EdgeSpec::block(1), EdgeSpec::drop_oldest(1)] {
            let (tx, rx) = edge::<u32>("a->b", spec).unwrap_or_else(|e| panic!("{e}"));
            drop(rx);
            assert_eq!(tx.send(1), SendOutcome::Disconnected);
            assert_eq!(tx.stats().dropped_disconnected.load(Ordering::Relaxed), 1);
        }
    }

    #[test]
    fn receiver_sees_end_of_stream_after_draining() {
        let (tx, rx) = edge::<u32>("a->b", EdgeSpec::block(4)).unwrap_or_else(|e| panic!("{e}"));
        tx.send(7);
        drop(tx);
        assert_eq!(rx.recv(), Some(7));
        assert_eq!(rx.recv(), None);
    }
}
