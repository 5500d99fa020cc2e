//! fusor's simulator: labelled drives through a procedural town.
//!
//! A seed makes a [`world::World`] (a town grid with buildings, trees, poles, bollards, parked and
//! moving cars, cyclists and pedestrians), an [`ego::EgoTrajectory`] through it, and sensor models
//! that ray cast the same world: a spinning [`lidar`], a pinhole [`camera`], [`gnss`] and [`imu`].
//! A [`scenario::Scenario`] (TOML) sets everything up, with fault injection, and
//! [`drive::Drive`] streams the timestamped [`drive::SimEvent`]s of a drive in stamp order,
//! ground truth included. Same scenario, same events, bit for bit. For closed loops, a
//! [`controlled::ControlledEgo`] is a kinematic bicycle driven by a planner's commands instead.
//!
//! Frames: `map` is ENU at the scenario's WGS84 origin; `base_link` is x forward, y left, z up on
//! the ground under the rear axle; sensors hang off it through [`rig::SimRig`].

pub mod camera;
pub mod controlled;
pub mod drive;
pub mod ego;
pub mod error;
pub mod geometry;
pub mod gnss;
pub mod imu;
pub mod lanelet2;
pub mod lidar;
pub mod path;
pub mod record;
pub mod rig;
pub mod rng;
pub mod road;
pub mod scenario;
pub mod scene;
pub mod world;

pub use controlled::{ControlledEgo, EgoCommand, VehicleConfig};
pub use drive::{Drive, GroundTruth, GtRecord, SimEvent};
pub use error::{Result, SimError};
pub use scenario::Scenario;
pub use world::{World, WorldConfig};
