//! ApproximateTime against the documented ROS semantics (wiki message_filters/ApproximateTime):
//!
//! - sets do not cross and use each message at most once: on every topic, the messages of
//!   successive sets are strictly increasing;
//! - every set spans at most `max_interval`;
//! - each set is the smallest (with the age penalty) among the sets contiguous to the previous
//!   one: with `P` the pivot (the latest of the topics' first remaining messages), the candidates
//!   are, for each remaining stamp `s ≤ P`, the set of each topic's first message at or after
//!   `s`; a later candidate replaces the best so far only if
//!   `(end' − end) · (1 + age_penalty) < start' − start`;
//! - the output depends only on the stamps, not on how the topics interleave on arrival.
//!
//! The brute force below computes that sequence offline from the whole streams; the port must
//! produce exactly the same sets whatever the arrival interleaving.

// Test helpers panic to report a failure, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fusor_core::{Duration, Stamp};
use fusor_runtime::sync::{ApproximateTime, ApproximateTimeConfig};
use proptest::prelude::*;

/// Far after every real stamp: one per topic, so that every real pivot can be decided.
const SENTINEL: i64 = 1_000_000;

/// Offline reference: the sequence of sets (stamps per topic) the definition prescribes.
/// `age_penalty_halves` is the age penalty in halves (0, 1, 2 → 0.0, 0.5, 1.0), kept exact.
fn brute_force(streams: &[Vec<i64>], max_interval: Option<i64>, age_penalty_halves: i64) -> Vec<Vec<i64>> {
    let n = streams.len();
    let mut first = vec![0usize; n];
    let mut sets = Vec::new();
    loop {
        // Discard messages that belong to no set within max_interval: a first-remaining message
        // further than max_interval before the latest first-remaining message.
        let heads = loop {
            if (0..n).any(|i| first[i] >= streams[i].len()) {
                return sets;
            }
            let heads: Vec<i64> = (0..n).map(|i| streams[i][first[i]]).collect();
            let (lo, hi) = (*heads.iter().min().unwrap(), *heads.iter().max().unwrap());
            match max_interval {
                Some(m) if hi - lo > m => {
                    let i = heads.iter().position(|&h| h == lo).unwrap();
                    first[i] += 1;
                }
                _ => break heads,
            }
        };
        let pivot = *heads.iter().max().unwrap();
        // Decidable only once every topic has a message at or after the pivot.
        if (0..n).any(|i| streams[i][first[i]..].iter().all(|&t| t < pivot)) {
            return sets;
        }
        let mut starts: Vec<i64> =
            (0..n).flat_map(|i| streams[i][first[i]..].iter().copied()).filter(|&t| t <= pivot).collect();
        starts.sort_unstable();
        let mut best: Option<(i64, i64, Vec<usize>)> = None;
        for s in starts {
            let picks: Vec<usize> =
                (0..n).map(|i| first[i] + streams[i][first[i]..].iter().position(|&t| t >= s).unwrap()).collect();
            let end = (0..n).map(|i| streams[i][picks[i]]).max().unwrap();
            let better = match &best {
                None => true,
                Some((best_start, best_end, _)) => (end - best_end) * (2 + age_penalty_halves) < (s - best_start) * 2,
            };
            if better {
                best = Some((s, end, picks));
            }
        }
        let (_, _, picks) = best.unwrap();
        sets.push((0..n).map(|i| streams[i][picks[i]]).collect());
        for i in 0..n {
            first[i] = picks[i] + 1;
        }
    }
}

/// Per-topic increasing stamps, unique across topics (stamp ≡ topic mod n), plus a sentinel.
fn streams(n: usize) -> impl Strategy<Value = Vec<Vec<i64>>> {
    prop::collection::vec(prop::collection::vec(1i64..12, 1..7), n).prop_map(move |gaps| {
        gaps.into_iter()
            .enumerate()
            .map(|(i, gaps)| {
                let mut t = 0;
                let mut stamps: Vec<i64> = gaps
                    .iter()
                    .map(|g| {
                        t += g;
                        t * n as i64 + i as i64
                    })
                    .collect();
                stamps.push(SENTINEL + i as i64);
                stamps
            })
            .collect()
    })
}

/// Feeds the streams in an arrival order picked by `choices`, collects the sets' stamps.
fn run_port<const N: usize>(
    streams: &[Vec<i64>],
    choices: &[usize],
    config: ApproximateTimeConfig<N>,
) -> (Vec<Vec<i64>>, ApproximateTime<(usize, usize), N>) {
    let mut sync = ApproximateTime::<(usize, usize), N>::new(config).unwrap();
    let mut next = vec![0usize; N];
    let mut choices = choices.iter().cycle();
    let mut sets = Vec::new();
    while (0..N).any(|i| next[i] < streams[i].len()) {
        let open: Vec<usize> = (0..N).filter(|&i| next[i] < streams[i].len()).collect();
        let topic = open[choices.next().copied().unwrap_or(0) % open.len()];
        sync.add(topic, Stamp(streams[topic][next[topic]]), (topic, next[topic])).unwrap();
        next[topic] += 1;
        while let Some(set) = sync.pop() {
            // Each message is its own (topic, index): check it sits on the right topic.
            for (i, (stamp, (topic, index))) in set.iter().enumerate() {
                assert_eq!((*topic, streams[i][*index]), (i, stamp.nanos()));
            }
            sets.push(set.iter().map(|(s, _)| s.nanos()).collect());
        }
    }
    (sets, sync)
}

fn real_prefix(sets: &[Vec<i64>]) -> Vec<Vec<i64>> {
    sets.iter().take_while(|s| s.iter().all(|&t| t < SENTINEL)).cloned().collect()
}

fn config<const N: usize>(
    max_interval: Option<i64>,
    age_penalty_halves: i64,
    lower_bounds: [i64; N],
) -> ApproximateTimeConfig<N> {
    ApproximateTimeConfig {
        queue_size: 1_000,
        max_interval: max_interval.map(Duration),
        age_penalty: age_penalty_halves as f64 * 0.5,
        inter_message_lower_bounds: lower_bounds.map(Duration),
    }
}

/// The smallest gap between consecutive real messages of each topic: a valid lower bound.
fn min_gaps<const N: usize>(streams: &[Vec<i64>], use_bounds: bool) -> [i64; N] {
    std::array::from_fn(|i| {
        let real: Vec<i64> = streams[i].iter().copied().filter(|&t| t < SENTINEL).collect();
        let gap = real.windows(2).map(|w| w[1] - w[0]).min().unwrap_or(0);
        if use_bounds {
            gap
        } else {
            0
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn two_topics_match_the_brute_force_optimum(
        streams in streams(2),
        choices in prop::collection::vec(0usize..2, 1..30),
        max_interval in prop::option::of(0i64..30),
        age_penalty_halves in 0i64..3,
        use_bounds in any::<bool>(),
    ) {
        let expected = real_prefix(&brute_force(&streams, max_interval, age_penalty_halves));
        let bounds = min_gaps::<2>(&streams, use_bounds);
        let (sets, _) = run_port(&streams, &choices, config(max_interval, age_penalty_halves, bounds));
        prop_assert_eq!(real_prefix(&sets), expected);
    }

    #[test]
    fn three_topics_match_the_brute_force_optimum(
        streams in streams(3),
        choices in prop::collection::vec(0usize..3, 1..30),
        max_interval in prop::option::of(0i64..40),
        age_penalty_halves in 0i64..3,
        use_bounds in any::<bool>(),
    ) {
        let expected = real_prefix(&brute_force(&streams, max_interval, age_penalty_halves));
        let bounds = min_gaps::<3>(&streams, use_bounds);
        let (sets, _) = run_port(&streams, &choices, config(max_interval, age_penalty_halves, bounds));
        prop_assert_eq!(real_prefix(&sets), expected);
    }

    /// With small queues (overflow), ties across topics and any parameters, the guarantees that
    /// do not depend on optimality still hold, and every message is accounted for.
    #[test]
    fn sets_never_cross_use_each_message_once_and_respect_max_interval(
        raw in prop::collection::vec(prop::collection::vec(0i64..6, 0..12), 3),
        choices in prop::collection::vec(0usize..3, 1..30),
        queue_size in 1usize..5,
        max_interval in prop::option::of(0i64..10),
        age_penalty_halves in 0i64..3,
    ) {
        // Non-decreasing stamps per topic (ties allowed), equal stamps across topics likely.
        let streams: Vec<Vec<i64>> = raw.iter().map(|gaps| {
            let mut t = 0;
            gaps.iter().map(|g| { t += g; t }).collect()
        }).collect();
        let mut c = config::<3>(max_interval, age_penalty_halves, [0; 3]);
        c.queue_size = queue_size;
        let mut sync = ApproximateTime::<(usize, usize), 3>::new(c).unwrap();
        let mut next = [0usize; 3];
        let mut choices = choices.iter().cycle();
        let mut last_used: [Option<usize>; 3] = [None; 3];
        let mut used = 0u64;
        while (0..3).any(|i| next[i] < streams[i].len()) {
            let open: Vec<usize> = (0..3).filter(|&i| next[i] < streams[i].len()).collect();
            let topic = open[choices.next().copied().unwrap_or(0) % open.len()];
            sync.add(topic, Stamp(streams[topic][next[topic]]), (topic, next[topic])).unwrap();
            next[topic] += 1;
            while let Some(set) = sync.pop() {
                used += 3;
                let stamps: Vec<i64> = set.iter().map(|(s, _)| s.nanos()).collect();
                if let Some(m) = max_interval {
                    prop_assert!(stamps.iter().max().unwrap() - stamps.iter().min().unwrap() <= m, "{:?}", stamps);
                }
                for (i, (_, (topic, index))) in set.iter().enumerate() {
                    prop_assert_eq!(*topic, i);
                    // Strictly after the previous set's message on this topic: no reuse, no crossing.
                    prop_assert!(last_used[i].is_none_or(|prev| *index > prev), "topic {} reused or crossed", i);
                    last_used[i] = Some(*index);
                }
            }
        }
        let stats = sync.stats();
        let received: u64 = stats.received.iter().sum();
        let dropped: u64 = stats.dropped_overflow.iter().chain(&stats.dropped_out_of_order).chain(&stats.unused).sum();
        let queued: u64 = (0..3).map(|i| sync.queued(i) as u64).sum();
        prop_assert_eq!(received, used + dropped + queued);
        prop_assert_eq!(stats.sets * 3, used);
    }
}

#[test]
fn brute_force_reference_picks_the_tightest_pair_for_the_pivot() {
    // Topic 0: 10, 20; topic 1: 19 → pivot 19, candidates (10,19) size 9 and (20,19) size 1.
    let streams = vec![vec![10, 20, SENTINEL], vec![19, SENTINEL + 1]];
    assert_eq!(real_prefix(&brute_force(&streams, None, 0)), vec![vec![20, 19]]);
}
