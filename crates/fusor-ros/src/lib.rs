//! ROS 2 node I/O for fusor without a ROS installation: [ros2-client] (pure-Rust DDS via RustDDS)
//! participants restricted to loopback unless asked otherwise, the QoS profiles fusor uses,
//! typed publishers and subscriptions over `fusor-msgs` structs, raw CDR pass-through for
//! `play`/`record`, and a crash-safe streaming MCAP recorder.
//!
//! Layering: this crate knows DDS and MCAP but no pipeline stage; `fusor-cli` wires it into the
//! runtime graph.
//!
//! # Network scope
//! fusor follows ROS 2's localhost switches (`ROS_LOCALHOST_ONLY=1`,
//! `ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`), and **defaults to loopback** when neither variable
//! says otherwise: reaching other machines needs an explicit `ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET`
//! (or `ROS_LOCALHOST_ONLY=0`). A sensor-fusion node that leaks its traffic onto every interface of
//! a development machine by default is a worse failure than one that must be told to talk to the
//! vehicle network.
//!
//! [ros2-client]: https://crates.io/crates/ros2-client

mod context;
mod error;
pub mod node;
pub mod params;
pub mod play;
pub mod qos;
pub mod raw;
pub mod record;
mod typed;

pub use context::{
    check_rmem_max, NetworkScope, RmemCheck, RosContext, RosContextBuilder, QUIET_LOG_DIRECTIVES,
    RUSTDDS_RECOMMENDED_RMEM_MAX,
};
pub use error::RosError;
pub use typed::{TypedPublisher, TypedSubscription};

/// Re-export of the ROS 2 client library at the pinned version, for callers that need a type
/// this crate does not wrap.
pub use ros2_client;

/// Result alias of this crate.
pub type Result<T, E = RosError> = std::result::Result<T, E>;

/// Splits `pkg/msg/Name` (a [`fusor_msgs::RosMessage::TYPE_NAME`] or an MCAP schema name) into
/// the DDS type name ROS 2 uses on the wire, e.g. `sensor_msgs::msg::dds_::PointCloud2_`.
pub fn message_type_name(type_name: &str) -> Result<ros2_client::MessageTypeName> {
    let mut parts = type_name.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(pkg), Some("msg"), Some(name), None) if !pkg.is_empty() && !name.is_empty() => {
            Ok(ros2_client::MessageTypeName::new(pkg, name))
        }
        _ => Err(RosError::BadTypeName(type_name.to_owned())),
    }
}

/// The ROS 2 type name (`pkg/msg/Name`) of a DDS type name (`pkg::msg::dds_::Name_`), `None`
/// when the name does not follow the ROS 2 convention.
pub fn ros_type_from_dds(dds_type: &str) -> Option<String> {
    let (pkg, rest) = dds_type.split_once("::msg::dds_::")?;
    let name = rest.strip_suffix('_')?;
    (!pkg.is_empty() && !name.is_empty() && !name.contains("::")).then(|| format!("{pkg}/msg/{name}"))
}

/// The DDS topic of a ROS 2 topic: `/a/b` → `rt/a/b`.
pub fn dds_topic_name(ros_topic: &str) -> String {
    format!("rt/{}", ros_topic.trim_start_matches('/'))
}
