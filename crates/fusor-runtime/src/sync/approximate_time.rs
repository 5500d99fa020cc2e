//! ROS `message_filters` ApproximateTime, ported from `sync_policies/approximate_time.h`.
//!
//! Guarantees (ROS wiki, message_filters/ApproximateTime), with the size of a set being the
//! difference between its latest and earliest stamp:
//! 1. each message is used at most once (some are dropped);
//! 2. sets do not cross: for sets S before T, `S[i] < T[i]` on every topic `i`;
//! 3. sets are contiguous: on at least one topic no message was dropped between two sets;
//! 4. each set is of minimal size among the sets contiguous to the previous one, a later
//!    candidate being penalised by `(1 + age_penalty)`;
//! 5. the output depends only on the stamps, not on the arrival order across topics (as long
//!    as no queue overflows).
//!
//! The algorithm keeps, per topic, a queue of messages after the last published set. Once every
//! queue holds a message, the latest head is the *pivot*; candidates are formed by repeatedly
//! moving the earliest head to a "past" list, and the best candidate is published once every
//! candidate containing the pivot has been seen, or once optimality can be proven early (from
//! the pivot time, or from per-topic inter-message lower bounds for topics whose queue is empty).
//!
//! Differences from ROS: a message older than the previous one on its topic is dropped and
//! counted (ROS only warns, and the no-crossing guarantee then no longer holds); messages are
//! moved, not shared, so `T` need not be `Clone`.

use crate::{Result, RuntimeError};
use fusor_core::{Duration, Stamp};
use std::collections::VecDeque;

/// One emitted set: a `(stamp, message)` per topic, in topic order.
pub type SyncSet<T, const N: usize> = [(Stamp, T); N];

/// Parameters of [`ApproximateTime`].
#[derive(Debug, Clone, PartialEq)]
pub struct ApproximateTimeConfig<const N: usize> {
    /// Messages kept per topic (queue plus candidate search), at least 1; ROS recommends ≥ 2.
    /// On overflow the oldest message of that topic is dropped and counted.
    pub queue_size: usize,
    /// Largest allowed set size (latest − earliest stamp); `None` = unbounded.
    pub max_interval: Option<Duration>,
    /// Later candidates are penalised by `(1 + age_penalty)` when comparing sizes (≥ 0).
    pub age_penalty: f64,
    /// Per topic, the smallest possible gap between two consecutive messages (0 if unknown).
    /// Lets a set be published before the next message of a slow topic arrives.
    pub inter_message_lower_bounds: [Duration; N],
}

impl<const N: usize> ApproximateTimeConfig<N> {
    /// ROS defaults: no max interval, age penalty 0.1, no lower bounds.
    pub fn new(queue_size: usize) -> Self {
        Self { queue_size, max_interval: None, age_penalty: 0.1, inter_message_lower_bounds: [Duration(0); N] }
    }
}

/// Counters of an [`ApproximateTime`] synchroniser, per topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApproximateTimeStats<const N: usize> {
    /// Messages offered to [`ApproximateTime::add`].
    pub received: [u64; N],
    /// Messages dropped because the topic's queue was full (drop-oldest).
    pub dropped_overflow: [u64; N],
    /// Messages dropped because they were older than their topic's previous message.
    pub dropped_out_of_order: [u64; N],
    /// Messages discarded unused by the matching (skipped between sets, or too far from any
    /// other topic for `max_interval`).
    pub unused: [u64; N],
    /// Sets emitted.
    pub sets: u64,
}

/// Per topic: one buffer holding the "past" (messages moved aside during the candidate
/// search, the first `past` entries) followed by the live queue. Moving the head to the past
/// is then an index bump, and recovering it a decrement: no allocation per message.
#[derive(Debug)]
struct Topic<T> {
    buf: VecDeque<(Stamp, T)>,
    past: usize,
    last_stamp: Option<Stamp>,
}

impl<T> Topic<T> {
    fn live(&self) -> usize {
        self.buf.len() - self.past
    }
    fn head(&self) -> Option<i64> {
        self.buf.get(self.past).map(|(s, _)| s.nanos())
    }
}

/// The ApproximateTime synchroniser over `N` topics carrying `T` (use an enum for mixed types).
#[derive(Debug)]
pub struct ApproximateTime<T, const N: usize> {
    config: ApproximateTimeConfig<N>,
    max_interval_ns: i64,
    topics: [Topic<T>; N],
    has_dropped: [bool; N],
    warned_bound: [bool; N],
    /// The pivot topic while a candidate exists.
    pivot: Option<usize>,
    pivot_ns: i64,
    candidate_start_ns: i64,
    candidate_end_ns: i64,
    ready: VecDeque<SyncSet<T, N>>,
    stats: ApproximateTimeStats<N>,
}

impl<T, const N: usize> ApproximateTime<T, N> {
    /// A synchroniser; fails on `queue_size == 0`, `N < 2`, a negative age penalty, max interval
    /// or lower bound.
    pub fn new(config: ApproximateTimeConfig<N>) -> Result<Self> {
        if N < 2 {
            return Err(RuntimeError::invalid("topics", format!("need at least 2 topics, got {N}")));
        }
        if config.queue_size == 0 {
            return Err(RuntimeError::invalid("queue_size", "must be at least 1"));
        }
        if !(config.age_penalty.is_finite() && config.age_penalty >= 0.0) {
            return Err(RuntimeError::invalid(
                "age_penalty",
                format!("must be finite and ≥ 0, got {}", config.age_penalty),
            ));
        }
        if config.max_interval.is_some_and(|d| d.nanos() < 0) {
            return Err(RuntimeError::invalid("max_interval", "must be ≥ 0"));
        }
        if config.inter_message_lower_bounds.iter().any(|d| d.nanos() < 0) {
            return Err(RuntimeError::invalid("inter_message_lower_bounds", "must be ≥ 0"));
        }
        let capacity = config.queue_size + 1;
        Ok(Self {
            max_interval_ns: config.max_interval.map_or(i64::MAX, Duration::nanos),
            topics: std::array::from_fn(|_| Topic {
                buf: VecDeque::with_capacity(capacity),
                past: 0,
                last_stamp: None,
            }),
            has_dropped: [false; N],
            warned_bound: [false; N],
            pivot: None,
            pivot_ns: 0,
            candidate_start_ns: 0,
            candidate_end_ns: 0,
            ready: VecDeque::new(),
            stats: ApproximateTimeStats {
                received: [0; N],
                dropped_overflow: [0; N],
                dropped_out_of_order: [0; N],
                unused: [0; N],
                sets: 0,
            },
            config,
        })
    }

    /// Offers a message on `topic`; completed sets become available from [`Self::pop`].
    pub fn add(&mut self, topic: usize, stamp: Stamp, msg: T) -> Result<()> {
        if topic >= N {
            return Err(RuntimeError::TopicOutOfRange { topic, topics: N });
        }
        self.stats.received[topic] += 1;
        if self.topics[topic].last_stamp.is_some_and(|last| stamp < last) {
            self.stats.dropped_out_of_order[topic] += 1;
            if !self.warned_bound[topic] {
                self.warned_bound[topic] = true;
                tracing::warn!(topic, %stamp, "approximate-time: message older than its predecessor dropped (warns once)");
            }
            return Ok(());
        }
        let q = &mut self.topics[topic];
        q.last_stamp = Some(stamp);
        q.buf.push_back((stamp, msg));
        if q.live() == 1 {
            // The topic's queue was empty: maybe every queue now has a message.
            if self.all_live() {
                self.process();
            }
        } else {
            self.check_inter_message_bound(topic);
        }
        // During process() a queue may briefly hold queue_size + 1 messages.
        if self.topics[topic].buf.len() > self.config.queue_size {
            // Cancel the candidate search, drop the oldest message of the offending topic.
            for q in &mut self.topics {
                q.past = 0;
            }
            self.topics[topic].buf.pop_front();
            self.stats.dropped_overflow[topic] += 1;
            self.has_dropped[topic] = true;
            if self.pivot.take().is_some() {
                self.process();
            }
        }
        Ok(())
    }

    /// The next completed set, oldest first.
    pub fn pop(&mut self) -> Option<SyncSet<T, N>> {
        self.ready.pop_front()
    }

    /// Counters so far.
    pub fn stats(&self) -> &ApproximateTimeStats<N> {
        &self.stats
    }

    /// Messages held on `topic` (queue and candidate search), not yet emitted or dropped.
    pub fn queued(&self, topic: usize) -> usize {
        self.topics.get(topic).map_or(0, |q| q.buf.len())
    }

    fn check_inter_message_bound(&mut self, i: usize) {
        if self.warned_bound[i] {
            return;
        }
        let q = &self.topics[i];
        let n = q.buf.len();
        // n ≥ 2 here: the previous message is the one before the new last.
        let (Some((prev, _)), Some((last, _))) = (q.buf.get(n.wrapping_sub(2)), q.buf.back()) else { return };
        let bound = self.config.inter_message_lower_bounds[i];
        if *last - *prev < bound {
            self.warned_bound[i] = true;
            tracing::warn!(
                topic = i,
                gap_ns = (*last - *prev).nanos(),
                bound_ns = bound.nanos(),
                "approximate-time: messages closer than the inter-message lower bound (warns once)"
            );
        }
    }

    fn all_live(&self) -> bool {
        self.topics.iter().all(|q| q.live() > 0)
    }

    fn penalised(&self, d_ns: i64) -> i64 {
        // As rclcpp's Duration * double: scaled in f64, truncated to integer ns.
        (d_ns as f64 * (1.0 + self.config.age_penalty)) as i64
    }

    /// The earliest (`end = false`) or latest (`end = true`) of `times`, with ROS's tie rule
    /// (earliest: lowest index wins; latest: highest index wins).
    fn boundary(times: &[i64; N], end: bool) -> (usize, i64) {
        let (mut index, mut time) = (0, times[0]);
        for (i, &t) in times.iter().enumerate() {
            if (t < time) ^ end {
                index = i;
                time = t;
            }
        }
        (index, time)
    }

    fn heads(&self) -> [i64; N] {
        std::array::from_fn(|i| self.topics[i].head().unwrap_or(i64::MAX))
    }

    fn delete_front(&mut self, i: usize) {
        let q = &mut self.topics[i];
        if q.buf.remove(q.past).is_some() {
            self.stats.unused[i] += 1;
        }
    }

    fn move_front_to_past(&mut self, i: usize) {
        let q = &mut self.topics[i];
        if q.live() > 0 {
            q.past += 1;
        }
    }

    fn make_candidate(&mut self, start_ns: i64, end_ns: i64) {
        // Messages in the past precede the new candidate's: they are dropped.
        for (i, q) in self.topics.iter_mut().enumerate() {
            self.stats.unused[i] += q.past as u64;
            q.buf.drain(..q.past);
            q.past = 0;
        }
        self.candidate_start_ns = start_ns;
        self.candidate_end_ns = end_ns;
    }

    fn publish_candidate(&mut self) {
        self.pivot = None;
        // Recovering the past puts each topic's candidate message back at the front.
        for q in &mut self.topics {
            q.past = 0;
        }
        if self.topics.iter().any(|q| q.buf.is_empty()) {
            // Cannot happen: every topic contributed its front to the candidate.
            tracing::error!("approximate-time: candidate lost, set skipped");
            return;
        }
        let set: [Option<(Stamp, T)>; N] = std::array::from_fn(|i| self.topics[i].buf.pop_front());
        let set = set.map(|m| match m {
            Some(m) => m,
            None => unreachable!("every topic was checked non-empty"),
        });
        self.stats.sets += 1;
        self.ready.push_back(set);
    }

    /// Virtual time of topic `i` while a candidate exists: its head, or for an empty queue the
    /// earliest its next message can have (previous + lower bound, at least the pivot time).
    fn virtual_time(&self, i: usize) -> i64 {
        let q = &self.topics[i];
        match q.head() {
            Some(t) => t,
            None => {
                let last = q.buf.back().map_or(self.pivot_ns, |(s, _)| s.nanos());
                last.saturating_add(self.config.inter_message_lower_bounds[i].nanos()).max(self.pivot_ns)
            }
        }
    }

    fn process(&mut self) {
        while self.all_live() {
            let heads = self.heads();
            let (end_index, end_ns) = Self::boundary(&heads, true);
            let (start_index, start_ns) = Self::boundary(&heads, false);
            for (i, dropped) in self.has_dropped.iter_mut().enumerate() {
                if i != end_index {
                    // No dropped message could have been better than the ones we have, so this
                    // topic may serve as pivot again.
                    *dropped = false;
                }
            }
            match self.pivot {
                None => {
                    if end_ns.saturating_sub(start_ns) > self.max_interval_ns || self.has_dropped[end_index] {
                        // Too wide to be a set (or a pivot that lost messages): move on.
                        self.delete_front(start_index);
                        continue;
                    }
                    self.make_candidate(start_ns, end_ns);
                    self.pivot = Some(end_index);
                    self.pivot_ns = end_ns;
                    self.move_front_to_past(start_index);
                }
                Some(_) => {
                    let better = self.penalised(end_ns - self.candidate_end_ns) < start_ns - self.candidate_start_ns;
                    if better {
                        self.make_candidate(start_ns, end_ns);
                    }
                    self.move_front_to_past(start_index);
                }
            }
            let pivot = self.pivot.unwrap_or(end_index);
            let age_check = self.penalised(end_ns - self.candidate_end_ns);
            if start_index == pivot {
                // Every candidate for this pivot has been seen.
                self.publish_candidate();
            } else if age_check >= self.pivot_ns - self.candidate_start_ns {
                // Any later candidate contains [pivot, end]: already too big. Provably optimal.
                self.publish_candidate();
            } else if !self.all_live() {
                self.virtual_search();
            }
        }
    }

    /// Uses the inter-message lower bounds to try to prove the candidate optimal before the
    /// empty topics' next messages arrive; undoes its moves if it cannot.
    fn virtual_search(&mut self) {
        let mut moves = [0usize; N];
        loop {
            let times: [i64; N] = std::array::from_fn(|i| self.virtual_time(i));
            let (_, end_ns) = Self::boundary(&times, true);
            let (start_index, start_ns) = Self::boundary(&times, false);
            let age_check = self.penalised(end_ns - self.candidate_end_ns);
            if age_check >= self.pivot_ns - self.candidate_start_ns {
                self.publish_candidate();
                return;
            }
            if age_check < start_ns - self.candidate_start_ns || self.topics[start_index].live() == 0 {
                // An optimistic future candidate could be better: wait for data.
                for (q, m) in self.topics.iter_mut().zip(moves) {
                    q.past -= m;
                }
                return;
            }
            self.move_front_to_past(start_index);
            moves[start_index] += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync(queue: usize) -> ApproximateTime<u32, 2> {
        let mut c = ApproximateTimeConfig::new(queue);
        c.age_penalty = 0.0;
        ApproximateTime::new(c).unwrap()
    }

    fn stamps(set: &SyncSet<u32, 2>) -> [i64; 2] {
        [set[0].0.nanos(), set[1].0.nanos()]
    }

    #[test]
    fn publishes_once_every_candidate_containing_the_pivot_was_seen() {
        let mut s = sync(10);
        s.add(0, Stamp(10), 0).unwrap();
        s.add(0, Stamp(20), 1).unwrap();
        // 19 is the pivot: the candidates are (10, 19) and (20, 19); the second is tighter.
        s.add(1, Stamp(19), 2).unwrap();
        assert_eq!(s.pop().map(|set| stamps(&set)), Some([20, 19]));
        assert_eq!(s.stats().unused, [1, 0]);
    }

    #[test]
    fn max_interval_discards_messages_that_cannot_match() {
        let mut c = ApproximateTimeConfig::<2>::new(10);
        c.max_interval = Some(Duration(5));
        let mut s: ApproximateTime<u32, 2> = ApproximateTime::new(c).unwrap();
        s.add(0, Stamp(0), 0).unwrap();
        s.add(1, Stamp(100), 1).unwrap();
        s.add(0, Stamp(102), 2).unwrap();
        s.add(1, Stamp(200), 3).unwrap();
        s.add(0, Stamp(300), 4).unwrap();
        assert_eq!(s.pop().map(|set| stamps(&set)), Some([102, 100]));
        assert_eq!(s.stats().unused[0], 1);
    }

    #[test]
    fn full_queue_drops_its_oldest_and_counts_it() {
        let mut s = sync(2);
        for t in [0, 10, 20] {
            s.add(0, Stamp(t), 0).unwrap();
        }
        assert_eq!(s.stats().dropped_overflow, [1, 0]);
        assert_eq!(s.queued(0), 2);
    }

    #[test]
    fn out_of_order_message_is_dropped_and_counted() {
        let mut s = sync(4);
        s.add(0, Stamp(10), 0).unwrap();
        s.add(0, Stamp(5), 1).unwrap();
        assert_eq!(s.stats().dropped_out_of_order, [1, 0]);
        assert_eq!(s.queued(0), 1);
    }

    #[test]
    fn lower_bound_publishes_without_waiting_for_the_slow_topic() {
        let pair = |bound_ns| {
            let mut c = ApproximateTimeConfig::<2>::new(10);
            c.age_penalty = 0.0;
            c.inter_message_lower_bounds = [Duration(bound_ns), Duration(0)];
            let mut s: ApproximateTime<u32, 2> = ApproximateTime::new(c).unwrap();
            s.add(0, Stamp(10), 0).unwrap();
            s.add(1, Stamp(12), 1).unwrap();
            s.pop().map(|set| stamps(&set))
        };
        // Without a bound, topic 0 might still send 12 (a perfect match): wait.
        assert_eq!(pair(0), None);
        // Topic 0 can't send again before 110: (10, 12) is provably the best set.
        assert_eq!(pair(100), Some([10, 12]));
    }

    #[test]
    fn rejects_topic_out_of_range() {
        assert!(matches!(sync(2).add(2, Stamp(0), 0), Err(RuntimeError::TopicOutOfRange { topic: 2, topics: 2 })));
    }
}
