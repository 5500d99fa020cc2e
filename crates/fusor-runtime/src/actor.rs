//! What an actor is: a [`Source`] that produces messages, or a [`Stage`] that handles the
//! messages of its input edges and sends to its output edges. Both are built by a factory so
//! the supervisor can restart them with fresh state.

use crate::clock::Clock;
use crate::edge::EdgeSender;
use crate::msg::Msg;
use fusor_core::Stamp;
use std::fmt;
use std::marker::PhantomData;

/// Produces the messages that enter the graph (a file reader, a sensor driver, a simulator).
///
/// The runtime calls [`Clock::wait_until`] with each message's stamp before sending it, so a
/// source emits as fast as it can and the clock does the pacing.
pub trait Source: Send + 'static {
    /// The payload type of its output port.
    type Out: Clone + Send + 'static;
    /// The next message, or `None` at end of stream.
    fn next(&mut self) -> Option<Msg<Self::Out>>;
}

/// Handles messages from its input edges, one at a time, and sends results to its outputs.
pub trait Stage: Send + 'static {
    /// The payload type of its input port (all its input edges carry this type).
    type In: Send + 'static;
    /// The payload type of its output port (`()` for a sink).
    type Out: Clone + Send + 'static;
    /// Handles one message.
    fn on_msg(&mut self, msg: Msg<Self::In>, out: &mut Outbox<'_, Self::Out>);
    /// Called once every input reached end of stream: flush what is pending.
    fn on_eos(&mut self, _out: &mut Outbox<'_, Self::Out>) {}
}

/// The output port of an actor while it handles a message: sends to every output edge.
pub struct Outbox<'a, T> {
    senders: &'a [EdgeSender<Msg<T>>],
    clock: &'a dyn Clock,
    sent: u64,
}

impl<'a, T: Clone> Outbox<'a, T> {
    pub(crate) fn new(senders: &'a [EdgeSender<Msg<T>>], clock: &'a dyn Clock) -> Self {
        Self { senders, clock, sent: 0 }
    }

    /// Sends `msg` on every output edge (cloned for all but the last), each by its policy.
    pub fn send(&mut self, msg: Msg<T>) {
        self.sent += 1;
        if let Some((last, rest)) = self.senders.split_last() {
            for tx in rest {
                tx.send(msg.clone());
            }
            last.send(msg);
        }
    }

    /// The graph's clock now (e.g. to time out a missing modality in live mode).
    pub fn now(&self) -> Stamp {
        self.clock.now()
    }

    pub(crate) fn sent(&self) -> u64 {
        self.sent
    }
}

impl<T> fmt::Debug for Outbox<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbox").field("edges", &self.senders.len()).field("sent", &self.sent).finish()
    }
}

/// A stage from a closure `(msg, outbox)`; handy for small adapters and tests.
pub struct FnStage<I, O, F> {
    f: F,
    _types: PhantomData<fn(I) -> O>,
}

impl<I, O, F> FnStage<I, O, F>
where
    F: FnMut(Msg<I>, &mut Outbox<'_, O>) + Send + 'static,
{
    /// Wraps `f`.
    pub fn new(f: F) -> Self {
        Self { f, _types: PhantomData }
    }
}

impl<I, O, F> Stage for FnStage<I, O, F>
where
    I: Send + 'static,
    O: Clone + Send + 'static,
    F: FnMut(Msg<I>, &mut Outbox<'_, O>) + Send + 'static,
{
    type In = I;
    type Out = O;
    fn on_msg(&mut self, msg: Msg<I>, out: &mut Outbox<'_, O>) {
        (self.f)(msg, out);
    }
}

impl<I, O, F> fmt::Debug for FnStage<I, O, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnStage")
    }
}

/// A source that emits the items of an iterator.
pub struct IterSource<I> {
    iter: I,
}

impl<I> IterSource<I> {
    /// Emits the messages of `iter` in order.
    pub fn new(iter: I) -> Self {
        Self { iter }
    }
}

impl<T, I> Source for IterSource<I>
where
    T: Clone + Send + 'static,
    I: Iterator<Item = Msg<T>> + Send + 'static,
{
    type Out = T;
    fn next(&mut self) -> Option<Msg<T>> {
        self.iter.next()
    }
}

impl<I> fmt::Debug for IterSource<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IterSource")
    }
}
