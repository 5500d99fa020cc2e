//! The fusor actor runtime.
//!
//! Every stage of the product runs as an actor: a thread with typed ports, joined to others by
//! bounded edges that either block (replay: lossless, deterministic) or drop the oldest message
//! (live: a slow stage never holds back the sensors). Messages carry their sensor stamp end to
//! end ([`Msg`]), so each actor measures processing and end-to-end latency against the graph's
//! [`Clock`] (wall, replay at a rate, or virtual as-fast-as-possible). A supervisor restarts a
//! panicking actor with fresh state; end of stream shuts the graph down and [`Graph::run`]
//! returns a [`RunSummary`]. The graph's shape lives in a TOML [`PipelineConfig`].
//!
//! The [`sync`] module holds the synchronisers: ROS-compatible ApproximateTime and the
//! pipeline's lidar-pivot policy.

pub mod actor;
pub mod clock;
pub mod config;
pub mod edge;
pub mod error;
pub mod graph;
pub mod metrics;
pub mod msg;
pub mod sync;

pub use actor::{FnStage, IterSource, Outbox, Source, Stage};
pub use clock::{Clock, ClockMode, ReplayClock, VirtualClock, WallClock};
pub use config::{ClockKind, EdgeConfig, PipelineConfig, RuntimeConfig, StageConfig, DEFAULT_PIPELINE_TOML};
pub use edge::{edge, EdgePolicy, EdgeReceiver, EdgeSender, EdgeSpec, SendOutcome};
pub use error::{Result, RuntimeError};
pub use graph::{
    Graph, GraphBuilder, InPort, LiveMetrics, OutPort, StagePorts, StopHandle, DEFAULT_RESTART_LIMIT,
    LIVE_PUBLISH_PERIOD,
};
pub use metrics::{ActorKind, ActorReport, EdgeReport, LatencyHistogram, LatencySummary, RunSummary};
pub use msg::Msg;
