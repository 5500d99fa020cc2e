//! fusor planning: road map, global route and local path.
//!
//! - [`map`]: a Lanelet2 OSM XML map loaded into lanelets, drivable [`Lane`]s and their routing
//!   graph (successors from shared bound end points, lane-change neighbours), in `map` (ENU at a
//!   configured WGS84 origin).
//! - [`route`]: lane-level A* with travel-time cost from the ego pose to a goal (map or WGS84),
//!   the route as a centreline path with speed limits, and a [`GlobalPlanner`] that replans when
//!   the ego leaves the route or the goal moves.
//! - [`local`]: a Frenet lattice over the next ~50 m that follows the route around tracked
//!   obstacles (constant-velocity prediction), yields to crossers and stops when blocked.
//! - [`path`]: outputs shaped like `nav_msgs/Path` (stamped poses in `map`).
//!
//! Everything is in the `map` frame and planar; `base_link` is the rear axle centre. The crate
//! is a plain library: the ROS node and the Rerun logger wire it in elsewhere.

pub mod error;
pub mod geometry;
pub mod local;
pub mod map;
pub mod path;
pub mod route;

pub use error::{Element, PlanningError, Result};
pub use local::{Decision, LocalConfig, LocalPath, LocalPlanner, StopReason, VehicleShape};
pub use map::{Lane, LaneMatch, Lanelet, LaneletId, LaneletMap, MapConfig, NodeCoordinates, SpeedDefaults};
pub use path::{PathPose, PlannedPath};
pub use route::{
    plan_route, EgoState, GlobalPlanner, Goal, ReplanReason, Route, RouteConfig, RoutePoint, RouteStep, Transition,
};
