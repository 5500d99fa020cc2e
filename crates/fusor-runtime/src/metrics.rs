//! Per-actor and per-edge metrics, the run summary table and its JSON form.

use crate::edge::{EdgePolicy, EdgeStats};
use crate::Result;
use hdrhistogram::Histogram;
use serde::{Serialize, Serializer};
use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Duration as StdDuration;

/// Highest latency tracked exactly: one hour in ns. Larger values saturate.
const HIGHEST_TRACKABLE_NS: u64 = 3_600_000_000_000;

/// A latency distribution in nanoseconds (HDR histogram, 3 significant figures).
#[derive(Clone)]
pub struct LatencyHistogram {
    hist: Histogram<u64>,
    /// Samples that were negative (e.g. a sensor stamp ahead of the clock), recorded as 0.
    negative: u64,
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        // Constant, valid bounds: construction cannot fail.
        #[allow(clippy::expect_used)]
        let hist = Histogram::new_with_bounds(1, HIGHEST_TRACKABLE_NS, 3).expect("constant histogram bounds are valid");
        Self { hist, negative: 0 }
    }

    /// Records one latency in ns; negative values count as 0 and are tallied in
    /// [`LatencyHistogram::negative`].
    pub fn record_ns(&mut self, latency_ns: i64) {
        if latency_ns < 0 {
            self.negative += 1;
        }
        self.hist.saturating_record(latency_ns.max(0).unsigned_abs());
    }

    /// Records one latency.
    pub fn record(&mut self, latency: StdDuration) {
        self.hist.saturating_record(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Number of samples.
    pub fn len(&self) -> u64 {
        self.hist.len()
    }

    /// Whether no sample was recorded.
    pub fn is_empty(&self) -> bool {
        self.hist.is_empty()
    }

    /// Samples that were negative.
    pub fn negative(&self) -> u64 {
        self.negative
    }

    /// The value at `quantile` (0..=1) in ns.
    pub fn quantile_ns(&self, quantile: f64) -> u64 {
        self.hist.value_at_quantile(quantile)
    }

    /// The largest sample in ns.
    pub fn max_ns(&self) -> u64 {
        self.hist.max()
    }

    /// The HDR histogram itself (ns), e.g. to merge or plot.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.hist
    }

    /// Quantiles in milliseconds.
    pub fn summary(&self) -> LatencySummary {
        let ms = |ns: u64| ns as f64 * 1e-6;
        LatencySummary {
            count: self.hist.len(),
            p50_ms: ms(self.quantile_ns(0.5)),
            p90_ms: ms(self.quantile_ns(0.9)),
            p99_ms: ms(self.quantile_ns(0.99)),
            max_ms: ms(self.max_ns()),
            mean_ms: self.hist.mean() * 1e-6,
            negative: self.negative,
        }
    }
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.summary(), f)
    }
}

impl Serialize for LatencyHistogram {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.summary().serialize(serializer)
    }
}

/// Quantiles of a latency distribution, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: u64,
    /// Median in ms.
    pub p50_ms: f64,
    /// 90th percentile in ms.
    pub p90_ms: f64,
    /// 99th percentile in ms.
    pub p99_ms: f64,
    /// Maximum in ms.
    pub max_ms: f64,
    /// Mean in ms.
    pub mean_ms: f64,
    /// Samples that were negative and recorded as 0.
    pub negative: u64,
}

/// Whether an actor produces messages from outside or processes its inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActorKind {
    /// Reads from outside the graph (a file, a sensor).
    Source,
    /// Processes input edges into output edges (a sink is a stage without outputs).
    Stage,
}

/// What one actor did during a run.
#[derive(Debug, Clone, Serialize)]
pub struct ActorReport {
    /// The actor's name in the graph.
    pub name: String,
    /// Source or stage.
    pub kind: ActorKind,
    /// Messages taken from input edges.
    pub msgs_in: u64,
    /// Messages handed to the outbox (each counted once, whatever the fan-out).
    pub msgs_out: u64,
    /// Panics caught by the supervisor.
    pub panics: u64,
    /// Restarts with fresh state after a panic.
    pub restarts: u64,
    /// True when the actor panicked past its restart limit and was abandoned.
    pub failed: bool,
    /// Time spent handling one message (stage) or producing one (source), in ns.
    pub processing: LatencyHistogram,
    /// `clock.now() - sensor stamp` when a message was handled (stage) or emitted (source), in ns.
    pub end_to_end: LatencyHistogram,
}

impl ActorReport {
    pub(crate) fn new(name: &str, kind: ActorKind) -> Self {
        Self {
            name: name.to_owned(),
            kind,
            msgs_in: 0,
            msgs_out: 0,
            panics: 0,
            restarts: 0,
            failed: false,
            processing: LatencyHistogram::new(),
            end_to_end: LatencyHistogram::new(),
        }
    }
}

/// What one edge carried during a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EdgeReport {
    /// `from->to`.
    pub name: String,
    /// Block or drop-oldest.
    pub policy: EdgePolicy,
    /// Queue capacity in messages.
    pub capacity: usize,
    /// Messages queued.
    pub sent: u64,
    /// Messages taken by the consumer.
    pub received: u64,
    /// Messages discarded by drop-oldest.
    pub dropped: u64,
    /// Messages discarded because the consumer was gone.
    pub dropped_disconnected: u64,
    /// Highest queue depth observed right after a send.
    pub depth_max: usize,
    /// Messages still queued when the report was taken (sent − received − dropped).
    pub depth_now: u64,
}

impl EdgeReport {
    pub(crate) fn from_stats(stats: &EdgeStats) -> Self {
        let sent = stats.sent.load(Ordering::Relaxed);
        let received = stats.received.load(Ordering::Relaxed);
        let dropped = stats.dropped_oldest.load(Ordering::Relaxed);
        Self {
            name: stats.name.clone(),
            policy: stats.spec.policy,
            capacity: stats.spec.capacity,
            sent,
            received,
            dropped,
            dropped_disconnected: stats.dropped_disconnected.load(Ordering::Relaxed),
            depth_max: stats.depth_max.load(Ordering::Relaxed),
            depth_now: sent.saturating_sub(received).saturating_sub(dropped),
        }
    }
}

/// The result of [`crate::Graph::run`]: every actor's and edge's metrics.
///
/// `Display` prints the summary table; [`RunSummary::to_json`] gives the `--metrics-json` file.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// Wall time of the whole run in ns.
    pub wall_ns: u64,
    /// One report per actor, in declaration order.
    pub actors: Vec<ActorReport>,
    /// One report per edge, in declaration order.
    pub edges: Vec<EdgeReport>,
}

impl RunSummary {
    /// The report of actor `name`.
    pub fn actor(&self, name: &str) -> Option<&ActorReport> {
        self.actors.iter().find(|a| a.name == name)
    }

    /// The report of edge `from->to`.
    pub fn edge(&self, from: &str, to: &str) -> Option<&EdgeReport> {
        let name = format!("{from}->{to}");
        self.edges.iter().find(|e| e.name == name)
    }

    /// Actors abandoned after too many panics.
    pub fn failed_actors(&self) -> impl Iterator<Item = &ActorReport> {
        self.actors.iter().filter(|a| a.failed)
    }

    /// Messages discarded on all edges (drop-oldest and disconnected).
    pub fn total_dropped(&self) -> u64 {
        self.edges.iter().map(|e| e.dropped + e.dropped_disconnected).sum()
    }

    /// Pretty JSON, as written by `--metrics-json`.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name_w = self.actors.iter().map(|a| a.name.len()).chain(self.edges.iter().map(|e| e.name.len())).max();
        let w = name_w.unwrap_or(5).max(5);
        writeln!(f, "run took {:.3} s", self.wall_ns as f64 * 1e-9)?;
        writeln!(
            f,
            "{:<w$}  {:>9} {:>9} {:>4} | {:^35} | {:^35}",
            "actor", "in", "out", "rst", "processing ms p50/p90/p99/max", "end-to-end ms p50/p90/p99/max"
        )?;
        for a in &self.actors {
            let p = a.processing.summary();
            let e = a.end_to_end.summary();
            writeln!(
                f,
                "{:<w$}  {:>9} {:>9} {:>4} | {:>8.3} {:>8.3} {:>8.3} {:>8.3} | {:>8.3} {:>8.3} {:>8.3} {:>8.3}{}",
                a.name,
                a.msgs_in,
                a.msgs_out,
                a.restarts,
                p.p50_ms,
                p.p90_ms,
                p.p99_ms,
                p.max_ms,
                e.p50_ms,
                e.p90_ms,
                e.p99_ms,
                e.max_ms,
                if a.failed { "  FAILED" } else { "" },
            )?;
        }
        writeln!(
            f,
            "{:<w$}  {:<11} {:>5} {:>9} {:>9} {:>9} {:>9} {:>6} {:>6}",
            "edge", "policy", "cap", "sent", "received", "dropped", "orphaned", "depth", "max"
        )?;
        for e in &self.edges {
            writeln!(
                f,
                "{:<w$}  {:<11} {:>5} {:>9} {:>9} {:>9} {:>9} {:>6} {:>6}",
                e.name,
                e.policy.to_string(),
                e.capacity,
                e.sent,
                e.received,
                e.dropped,
                e.dropped_disconnected,
                e.depth_now,
                e.depth_max
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_quantiles_are_reported_in_milliseconds() {
        let mut h = LatencyHistogram::new();
        for ms in 1..=100 {
            h.record_ns(ms * 1_000_000);
        }
        let s = h.summary();
        assert_eq!(s.count, 100);
        assert!((s.p50_ms - 50.0).abs() < 0.1, "{s:?}");
        assert!((s.max_ms - 100.0).abs() < 0.1, "{s:?}");
    }

    #[test]
    fn negative_latency_is_clamped_and_tallied() {
        let mut h = LatencyHistogram::new();
        h.record_ns(-5);
        assert_eq!(h.negative(), 1);
        assert_eq!(h.max_ns(), 0);
    }
}
