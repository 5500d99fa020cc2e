//! The actor graph: declare sources and stages, connect their typed ports with edges, run it.
//!
//! Each actor runs on its own thread under a supervisor: a panic is logged, counted, and the
//! actor is rebuilt by its factory (fresh state) up to the restart limit, while the rest of the
//! graph keeps running. End of stream propagates: when a source returns `None` its senders are
//! dropped, each downstream stage sees end of stream once all its inputs have, flushes in
//! [`Stage::on_eos`], and drops its own senders. [`Graph::run`] returns when every actor is done.

use crate::actor::{Outbox, Source, Stage};
use crate::clock::Clock;
use crate::edge::{edge, EdgeReceiver, EdgeSender, EdgeSpec, EdgeStats};
use crate::metrics::{ActorKind, ActorReport, EdgeReport, RunSummary};
use crate::msg::Msg;
use crate::{Result, RuntimeError};
use crossbeam_channel::Select;
use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// Restarts allowed per actor when none is configured.
pub const DEFAULT_RESTART_LIMIT: u32 = 3;

type Slot<T> = Arc<Mutex<Vec<T>>>;

fn take<T>(slot: &Slot<T>) -> Vec<T> {
    std::mem::take(&mut *slot.lock().unwrap_or_else(PoisonError::into_inner))
}

/// The output port of a declared actor; connect it with [`GraphBuilder::connect`].
pub struct OutPort<T> {
    node: usize,
    senders: Slot<EdgeSender<Msg<T>>>,
}

/// The input port of a declared stage; connect to it with [`GraphBuilder::connect`].
pub struct InPort<T> {
    node: usize,
    receivers: Slot<EdgeReceiver<Msg<T>>>,
}

/// Both ports of a declared stage.
#[derive(Debug)]
pub struct StagePorts<I, O> {
    /// Where its input edges end.
    pub input: InPort<I>,
    /// Where its output edges start.
    pub output: OutPort<O>,
}

impl<T> fmt::Debug for OutPort<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutPort").field("node", &self.node).finish()
    }
}
impl<T> fmt::Debug for InPort<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InPort").field("node", &self.node).finish()
    }
}

/// Everything an actor thread needs besides its ports.
struct ActorEnv {
    clock: Arc<dyn Clock>,
    stop: Arc<AtomicBool>,
    restart_limit: u32,
    live: Arc<LiveMetrics>,
}

/// How often a running actor publishes its counters into [`LiveMetrics`].
pub const LIVE_PUBLISH_PERIOD: std::time::Duration = std::time::Duration::from_millis(500);

/// The counters of a running graph, readable from another thread (e.g. a `/diagnostics`
/// publisher): each actor publishes a copy of its report at most every [`LIVE_PUBLISH_PERIOD`]
/// and when it finishes; edges are read directly.
#[derive(Debug, Default)]
pub struct LiveMetrics {
    actors: Mutex<Vec<ActorReport>>,
    edges: Mutex<Vec<Arc<EdgeStats>>>,
    started: Mutex<Option<Instant>>,
}

impl LiveMetrics {
    fn publish(&self, report: &ActorReport) {
        let mut actors = self.actors.lock().unwrap_or_else(PoisonError::into_inner);
        match actors.iter_mut().find(|a| a.name == report.name) {
            Some(slot) => slot.clone_from(report),
            None => actors.push(report.clone()),
        }
    }

    /// The counters so far, shaped like the end-of-run summary (actors in the order they first
    /// published; an actor that has not handled a message yet may be missing).
    pub fn snapshot(&self) -> RunSummary {
        let actors = self.actors.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let edges = self
            .edges
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|s| EdgeReport::from_stats(s))
            .collect();
        let started = *self.started.lock().unwrap_or_else(PoisonError::into_inner);
        let wall_ns = started.map_or(0, |t| u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
        RunSummary { wall_ns, actors, edges }
    }
}

/// Publishes `report` into `live` when [`LIVE_PUBLISH_PERIOD`] has passed since `last`.
fn maybe_publish(live: &LiveMetrics, report: &ActorReport, last: &mut Instant) {
    if last.elapsed() >= LIVE_PUBLISH_PERIOD {
        live.publish(report);
        *last = Instant::now();
    }
}

type Spawn = Box<dyn FnOnce(ActorEnv) -> ActorReport + Send>;

struct Node {
    name: String,
    kind: ActorKind,
    spawn: Spawn,
    inputs: usize,
}

/// Declares a graph. Nodes are named; an edge is named `from->to`.
pub struct GraphBuilder {
    clock: Arc<dyn Clock>,
    restart_limit: u32,
    nodes: Vec<Node>,
    /// (from node, to node, stats of the edge).
    edges: Vec<(usize, usize, Arc<EdgeStats>)>,
}

impl GraphBuilder {
    /// An empty graph on `clock`, with [`DEFAULT_RESTART_LIMIT`].
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, restart_limit: DEFAULT_RESTART_LIMIT, nodes: Vec::new(), edges: Vec::new() }
    }

    /// How many times each actor may be restarted after a panic before it is abandoned.
    pub fn restart_limit(mut self, restarts: u32) -> Self {
        self.restart_limit = restarts;
        self
    }

    fn check_name(&self, name: &str) -> Result<()> {
        if self.nodes.iter().any(|n| n.name == name) {
            return Err(RuntimeError::DuplicateStage { key: format!("graph node `{name}`"), name: name.to_owned() });
        }
        Ok(())
    }

    /// Declares a source built by `factory` (called again after each panic).
    pub fn source<S, F>(&mut self, name: &str, factory: F) -> Result<OutPort<S::Out>>
    where
        S: Source,
        F: FnMut() -> S + Send + 'static,
    {
        self.check_name(name)?;
        let senders: Slot<EdgeSender<Msg<S::Out>>> = Arc::default();
        let slot = Arc::clone(&senders);
        let actor_name = name.to_owned();
        let spawn: Spawn = Box::new(move |env| run_source(&actor_name, factory, take(&slot), env));
        self.nodes.push(Node { name: name.to_owned(), kind: ActorKind::Source, spawn, inputs: 0 });
        Ok(OutPort { node: self.nodes.len() - 1, senders })
    }

    /// Declares a stage built by `factory` (called again after each panic).
    pub fn stage<S, F>(&mut self, name: &str, factory: F) -> Result<StagePorts<S::In, S::Out>>
    where
        S: Stage,
        F: FnMut() -> S + Send + 'static,
    {
        self.check_name(name)?;
        let senders: Slot<EdgeSender<Msg<S::Out>>> = Arc::default();
        let receivers: Slot<EdgeReceiver<Msg<S::In>>> = Arc::default();
        let (out_slot, in_slot) = (Arc::clone(&senders), Arc::clone(&receivers));
        let actor_name = name.to_owned();
        let spawn: Spawn = Box::new(move |env| run_stage(&actor_name, factory, take(&in_slot), take(&out_slot), env));
        self.nodes.push(Node { name: name.to_owned(), kind: ActorKind::Stage, spawn, inputs: 0 });
        let node = self.nodes.len() - 1;
        Ok(StagePorts { input: InPort { node, receivers }, output: OutPort { node, senders } })
    }

    /// Joins `from` to `to` with a new edge named `from->to`.
    pub fn connect<T: Send + 'static>(&mut self, from: &OutPort<T>, to: &InPort<T>, spec: EdgeSpec) -> Result<()> {
        let name = format!("{}->{}", self.nodes[from.node].name, self.nodes[to.node].name);
        let (tx, rx) = edge::<Msg<T>>(name, spec)?;
        // Only the stats are kept here: a sender clone would keep the edge open past EOS.
        self.edges.push((from.node, to.node, Arc::clone(tx.stats())));
        from.senders.lock().unwrap_or_else(PoisonError::into_inner).push(tx);
        to.receivers.lock().unwrap_or_else(PoisonError::into_inner).push(rx);
        self.nodes[to.node].inputs += 1;
        Ok(())
    }

    /// Checks the graph (every stage has an input, no cycle) and freezes it.
    pub fn build(self) -> Result<Graph> {
        for node in &self.nodes {
            if node.kind == ActorKind::Stage && node.inputs == 0 {
                return Err(RuntimeError::UnconnectedInput { stage: node.name.clone() });
            }
        }
        let names: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
        let edges: Vec<(usize, usize)> = self.edges.iter().map(|(a, b, _)| (*a, *b)).collect();
        if let Some((edge_index, cycle)) = find_cycle(names.len(), &edges) {
            return Err(RuntimeError::Cycle {
                key: format!("edge `{}`", self.edges[edge_index].2.name),
                stages: cycle.into_iter().map(|i| names[i].to_owned()).collect(),
            });
        }
        let edges: Vec<Arc<EdgeStats>> = self.edges.into_iter().map(|(_, _, s)| s).collect();
        let live = Arc::new(LiveMetrics { edges: Mutex::new(edges.clone()), ..LiveMetrics::default() });
        Ok(Graph {
            clock: self.clock,
            restart_limit: self.restart_limit,
            nodes: self.nodes,
            edges,
            stop: Arc::new(AtomicBool::new(false)),
            live,
        })
    }
}

impl fmt::Debug for GraphBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphBuilder")
            .field("nodes", &self.nodes.iter().map(|n| &n.name).collect::<Vec<_>>())
            .field("edges", &self.edges.iter().map(|e| &e.2.name).collect::<Vec<_>>())
            .finish()
    }
}

/// Finds a cycle in a directed graph of `n` nodes; returns the index of the edge that closes
/// it and the nodes on it (first node repeated at the end).
pub(crate) fn find_cycle(n: usize, edges: &[(usize, usize)]) -> Option<(usize, Vec<usize>)> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut marks = vec![Mark::New; n];
    for root in 0..n {
        if marks[root] != Mark::New {
            continue;
        }
        // Iterative DFS: stack of (node, next edge index to try); path holds open nodes.
        let mut stack = vec![(root, 0usize)];
        marks[root] = Mark::Open;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(offset) = edges[*next..].iter().position(|&(a, _)| a == node) {
                let edge_index = *next + offset;
                *next = edge_index + 1;
                let to = edges[edge_index].1;
                match marks[to] {
                    Mark::New => {
                        marks[to] = Mark::Open;
                        stack.push((to, 0));
                    }
                    Mark::Open => {
                        let start = stack.iter().position(|&(v, _)| v == to).unwrap_or(0);
                        let mut cycle: Vec<usize> = stack[start..].iter().map(|&(v, _)| v).collect();
                        cycle.push(to);
                        return Some((edge_index, cycle));
                    }
                    Mark::Done => {}
                }
            } else {
                marks[node] = Mark::Done;
                stack.pop();
            }
        }
    }
    None
}

/// Asks the sources of a running graph to stop; end of stream then shuts the graph down.
#[derive(Debug, Clone)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    /// Sources stop after their current message.
    pub fn stop(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// A checked graph, ready to run.
pub struct Graph {
    clock: Arc<dyn Clock>,
    restart_limit: u32,
    nodes: Vec<Node>,
    edges: Vec<Arc<EdgeStats>>,
    stop: Arc<AtomicBool>,
    live: Arc<LiveMetrics>,
}

impl fmt::Debug for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Graph")
            .field("nodes", &self.nodes.iter().map(|n| &n.name).collect::<Vec<_>>())
            .field("edges", &self.edges.iter().map(|e| &e.name).collect::<Vec<_>>())
            .finish()
    }
}

impl Graph {
    /// A handle to stop the sources from another thread (e.g. on Ctrl-C).
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(Arc::clone(&self.stop))
    }

    /// A handle on the counters while the graph runs (see [`LiveMetrics`]).
    pub fn live_metrics(&self) -> Arc<LiveMetrics> {
        Arc::clone(&self.live)
    }

    /// Runs every actor on its own thread and returns when all have finished.
    ///
    /// Fails only if a thread cannot be spawned; actors that panicked past their restart limit
    /// are reported in the summary ([`RunSummary::failed_actors`]).
    pub fn run(self) -> Result<RunSummary> {
        let started = Instant::now();
        *self.live.started.lock().unwrap_or_else(PoisonError::into_inner) = Some(started);
        let mut handles = Vec::with_capacity(self.nodes.len());
        let mut spawn_error = None;
        for node in self.nodes {
            let env = ActorEnv {
                clock: Arc::clone(&self.clock),
                stop: Arc::clone(&self.stop),
                restart_limit: self.restart_limit,
                live: Arc::clone(&self.live),
            };
            let spawn = node.spawn;
            match std::thread::Builder::new().name(node.name.clone()).spawn(move || spawn(env)) {
                Ok(handle) => handles.push((node.name, node.kind, handle)),
                Err(source) => {
                    // Stop what already runs; the unspawned actors' ports drop with their
                    // closures, so end of stream reaches everything that started.
                    self.stop.store(true, Ordering::Release);
                    spawn_error = Some(RuntimeError::Spawn { name: node.name, source });
                    break;
                }
            }
        }
        let mut actors = Vec::with_capacity(handles.len());
        for (name, kind, handle) in handles {
            actors.push(handle.join().unwrap_or_else(|_| {
                // The supervisor catches actor panics; this is a panic in the supervisor itself.
                tracing::error!(actor = %name, "actor thread died outside its supervisor");
                let mut report = ActorReport::new(&name, kind);
                report.failed = true;
                report
            }));
        }
        if let Some(e) = spawn_error {
            return Err(e);
        }
        let edges = self.edges.iter().map(|s| EdgeReport::from_stats(s)).collect();
        Ok(RunSummary { wall_ns: u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX), actors, edges })
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload")
}

/// Runs `body` under supervision: on a panic, logs and counts it and runs `body` again (the
/// body builds a fresh actor), until it returns or the restart limit is spent.
fn supervise(report: &mut ActorReport, restart_limit: u32, mut body: impl FnMut(&mut ActorReport)) {
    loop {
        match catch_unwind(AssertUnwindSafe(|| body(report))) {
            Ok(()) => return,
            Err(payload) => {
                report.panics += 1;
                let why = panic_message(payload.as_ref());
                if report.restarts >= u64::from(restart_limit) {
                    tracing::error!(actor = %report.name, panics = report.panics, "actor panicked ({why}); restart limit {restart_limit} reached, abandoning it");
                    report.failed = true;
                    return;
                }
                report.restarts += 1;
                tracing::error!(actor = %report.name, restart = report.restarts, "actor panicked ({why}); restarting with fresh state");
            }
        }
    }
}

fn run_source<S, F>(name: &str, mut factory: F, senders: Vec<EdgeSender<Msg<S::Out>>>, env: ActorEnv) -> ActorReport
where
    S: Source,
    F: FnMut() -> S,
{
    let mut report = ActorReport::new(name, ActorKind::Source);
    let clock = &*env.clock;
    let mut last_publish = Instant::now();
    supervise(&mut report, env.restart_limit, |report| {
        let mut source = factory();
        while !env.stop.load(Ordering::Acquire) {
            let t0 = Instant::now();
            let Some(msg) = source.next() else { break };
            report.processing.record(t0.elapsed());
            clock.wait_until(msg.stamp);
            report.end_to_end.record_ns((clock.now() - msg.stamp).nanos());
            let mut out = Outbox::new(&senders, clock);
            out.send(msg);
            report.msgs_out += out.sent();
            maybe_publish(&env.live, report, &mut last_publish);
        }
    });
    // Dropping the senders here is the end of stream for downstream.
    drop(senders);
    env.live.publish(&report);
    report
}

fn run_stage<S, F>(
    name: &str,
    mut factory: F,
    receivers: Vec<EdgeReceiver<Msg<S::In>>>,
    senders: Vec<EdgeSender<Msg<S::Out>>>,
    env: ActorEnv,
) -> ActorReport
where
    S: Stage,
    F: FnMut() -> S,
{
    let mut report = ActorReport::new(name, ActorKind::Stage);
    let clock = &*env.clock;
    let live = &*env.live;
    let mut last_publish = Instant::now();
    supervise(&mut report, env.restart_limit, |report| {
        let mut stage = factory();
        let mut handle = |msg: Msg<S::In>, report: &mut ActorReport| {
            report.msgs_in += 1;
            let stamp = msg.stamp;
            let mut out = Outbox::new(&senders, clock);
            let t0 = Instant::now();
            stage.on_msg(msg, &mut out);
            report.processing.record(t0.elapsed());
            report.end_to_end.record_ns((clock.now() - stamp).nanos());
            report.msgs_out += out.sent();
            maybe_publish(live, report, &mut last_publish);
        };
        if let [rx] = receivers.as_slice() {
            while let Some(msg) = rx.recv() {
                handle(msg, report);
            }
        } else {
            let mut select = Select::new();
            for rx in &receivers {
                select.recv(rx.raw());
            }
            let mut open = receivers.len();
            while open > 0 {
                let op = select.select();
                let index = op.index();
                match op.recv(receivers[index].raw()) {
                    Ok(msg) => {
                        receivers[index].count_received();
                        handle(msg, report);
                    }
                    Err(_) => {
                        select.remove(index);
                        open -= 1;
                    }
                }
            }
        }
        let mut out = Outbox::new(&senders, clock);
        stage.on_eos(&mut out);
        report.msgs_out += out.sent();
    });
    drop(senders);
    drop(receivers);
    live.publish(&report);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_cycle_and_names_the_closing_edge() {
        // 0 -> 1 -> 2 -> 1
        let (edge, cycle) = find_cycle(3, &[(0, 1), (1, 2), (2, 1)]).unwrap();
        assert_eq!(edge, 2);
        assert_eq!(cycle, vec![1, 2, 1]);
    }

    #[test]
    fn a_diamond_is_not_a_cycle() {
        assert_eq!(find_cycle(4, &[(0, 1), (0, 2), (1, 3), (2, 3)]), None);
    }
}
