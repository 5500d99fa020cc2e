use thiserror::Error;

/// Errors of the ROS 2 I/O layer.
#[derive(Debug, Error)]
pub enum RosError {
    /// An environment variable holds a value ROS 2 would reject.
    #[error("environment variable {name}={value:?}: {why}")]
    BadEnv {
        /// Variable name.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        why: String,
    },
    /// A type name that is not `pkg/msg/Name`.
    #[error("type name {0:?} is not of the form pkg/msg/Name")]
    BadTypeName(String),
    /// A node or topic name ROS 2 rejects.
    #[error("bad ROS name {name:?}: {why}")]
    BadName {
        /// The name.
        name: String,
        /// What is wrong.
        why: String,
    },
    /// Creating a DDS participant, node, topic, reader or writer failed.
    #[error("DDS: {0}")]
    Dds(String),
    /// Publishing failed (e.g. the writer's history stayed full).
    #[error("publishing on {topic}: {why}")]
    Publish {
        /// ROS topic.
        topic: String,
        /// What DDS said.
        why: String,
    },
    /// Reading a sample failed (e.g. it did not decode as the topic's type).
    #[error("reading {topic}: {why}")]
    Read {
        /// ROS topic.
        topic: String,
        /// What DDS said.
        why: String,
    },
    /// A parameters file problem, naming the key.
    #[error("parameters {path}: {why}")]
    Params {
        /// The file (or `<inline>`).
        path: String,
        /// What is wrong, naming the key.
        why: String,
    },
    /// Reading or writing a recording.
    #[error("recording {path}: {why}")]
    Recording {
        /// The file.
        path: String,
        /// What went wrong.
        why: String,
    },
    /// I/O outside recordings.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

impl RosError {
    pub(crate) fn dds(e: impl std::fmt::Display) -> Self {
        Self::Dds(e.to_string())
    }
}
