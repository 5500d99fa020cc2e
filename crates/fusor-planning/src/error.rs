//! The one error type of fusor-planning.

use std::fmt;
use std::path::PathBuf;

/// An OSM element, named in map errors so that the offending line of a map can be found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Element {
    /// `<node id=…>`: a point.
    Node(i64),
    /// `<way id=…>`: a line string (lanelet bound).
    Way(i64),
    /// `<relation id=…>`: a lanelet or regulatory element.
    Relation(i64),
}

impl fmt::Display for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Node(id) => write!(f, "node {id}"),
            Self::Way(id) => write!(f, "way {id}"),
            Self::Relation(id) => write!(f, "relation {id}"),
        }
    }
}

/// Everything that can go wrong in loading a map or planning on it.
#[derive(Debug, thiserror::Error)]
pub enum PlanningError {
    /// The map file could not be read.
    #[error("cannot read map {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The map is not well-formed XML (the message carries line and column).
    #[error("map is not well-formed XML: {0}")]
    Xml(String),
    /// One map element is malformed: a dangling reference, a missing tag, a bad coordinate, a
    /// self-intersecting bound.
    #[error("map {element}: {message}")]
    Map {
        /// The offending element.
        element: Element,
        /// What is wrong with it.
        message: String,
    },
    /// The map holds no lanelet a vehicle may drive on.
    #[error("map has no routable lanelet (of {lanelets} lanelet relations)")]
    NoRoutableLanelet {
        /// Lanelet relations found.
        lanelets: usize,
    },
    /// A position is not on (or near enough to) a routable lanelet.
    #[error("{what} at ({x_m:.2}, {y_m:.2}) m in map is {distance_m:.1} m from the nearest routable lanelet (limit {limit_m:.1} m)")]
    OffMap {
        /// Which position: "start" or "goal".
        what: &'static str,
        /// East in metres in `map`.
        x_m: f64,
        /// North in metres in `map`.
        y_m: f64,
        /// Distance to the nearest routable centreline in metres (infinite on an empty map).
        distance_m: f64,
        /// The largest distance accepted, in metres.
        limit_m: f64,
    },
    /// No sequence of lanelets leads from the start to the goal.
    #[error("no route from lanelet {start} to lanelet {goal}")]
    NoRoute {
        /// Lanelet id the ego is on.
        start: i64,
        /// Lanelet id of the goal.
        goal: i64,
    },
    /// An input (pose, track, parameter) is out of its domain.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// Which input (a parameter key where the input is a parameter).
        what: String,
        /// Why.
        message: String,
    },
    /// A geodetic conversion failed (origin or goal latitude/longitude).
    #[error(transparent)]
    Geodesy(#[from] fusor_core::CoreError),
}

impl PlanningError {
    pub(crate) fn map(element: Element, message: impl Into<String>) -> Self {
        Self::Map { element, message: message.into() }
    }

    pub(crate) fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid { what: what.into(), message: message.into() }
    }
}

/// `Result` with [`PlanningError`].
pub type Result<T, E = PlanningError> = std::result::Result<T, E>;
