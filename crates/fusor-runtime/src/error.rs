//! The one error type of `fusor-runtime`.

use std::path::PathBuf;

/// Everything that can go wrong building or running a graph, reading a pipeline config, or
/// feeding a synchroniser. Config errors name the offending key (`edge[2].capacity`).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The pipeline file could not be read.
    #[error("reading pipeline config {path}: {source}")]
    Io {
        /// The file that could not be read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The pipeline file is not valid TOML or does not match the schema.
    #[error("pipeline config {origin}: {source}")]
    ConfigParse {
        /// Where the text came from (a path or `<string>`).
        origin: String,
        /// The parser's error (it names line and key).
        #[source]
        source: toml::de::Error,
    },

    /// An edge or lookup names a stage that is not declared.
    #[error("{key}: unknown stage `{name}`")]
    UnknownStage {
        /// The offending key, e.g. `edge[1].to`.
        key: String,
        /// The name that was not found.
        name: String,
    },

    /// A stage's `kind` is not one the host knows how to build.
    #[error("{key}: unknown stage kind `{kind}`")]
    UnknownStageKind {
        /// The offending key, e.g. `stage[3].kind`.
        key: String,
        /// The kind that was not recognised.
        kind: String,
    },

    /// Two stages (or two graph nodes) share a name.
    #[error("{key}: duplicate stage name `{name}`")]
    DuplicateStage {
        /// The offending key, e.g. `stage[2].name`.
        key: String,
        /// The repeated name.
        name: String,
    },

    /// An edge was declared with capacity 0 (a rendezvous channel would couple stage timing).
    #[error("{key}: capacity must be at least 1")]
    ZeroCapacity {
        /// The offending key, e.g. `edge[0].capacity`.
        key: String,
    },

    /// The edges form a cycle; end of stream could never propagate.
    #[error("{key}: edge closes a cycle {}", stages.join(" -> "))]
    Cycle {
        /// The edge that closes the cycle, e.g. `edge[4]`.
        key: String,
        /// The stages on the cycle, first repeated at the end.
        stages: Vec<String>,
    },

    /// A stage has no input edge, so it would see end of stream immediately.
    #[error("stage `{stage}` has no input edge")]
    UnconnectedInput {
        /// The stage name.
        stage: String,
    },

    /// A value is out of its allowed range.
    #[error("{key}: {why}")]
    InvalidValue {
        /// The offending key, e.g. `runtime.rate` or `stage[1].params.timeout_ms`.
        key: String,
        /// What is wrong with it.
        why: String,
    },

    /// A synchroniser was fed a topic index it does not have.
    #[error("topic {topic} out of range: the synchroniser has {topics} topics")]
    TopicOutOfRange {
        /// The index given.
        topic: usize,
        /// How many topics there are.
        topics: usize,
    },

    /// An actor thread could not be spawned.
    #[error("spawning actor thread `{name}`: {source}")]
    Spawn {
        /// The actor name.
        name: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// Metrics could not be serialised.
    #[error("metrics json: {0}")]
    Json(#[from] serde_json::Error),
}

/// Result with [`RuntimeError`].
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

impl RuntimeError {
    pub(crate) fn invalid(key: impl Into<String>, why: impl Into<String>) -> Self {
        Self::InvalidValue { key: key.into(), why: why.into() }
    }
}
