//! The DDS participant and ROS 2 node fusor runs as, built from ROS 2's environment.

use crate::{Result, RosError};
use ros2_client::dds::rustdds::DomainParticipantBuilder;
use ros2_client::{Context, Node, NodeName, NodeOptions};
use std::net::Ipv4Addr;

/// `tracing`/`log` filter directives for RustDDS: its per-datagram warning (one line for every
/// datagram over 1500 B, i.e. for every fragment of a point cloud, target
/// `rustdds::network::udp_sender`) and its per-entity info/warn chatter are silenced; RustDDS
/// errors still show. fusor does its own receive-buffer check ([`check_rmem_max`]).
pub const QUIET_LOG_DIRECTIVES: &[&str] = &["rustdds=error", "rustdds::network::udp_sender=error"];

/// `net.core.rmem_max` in bytes below which large messages (over ~1 MB) get lost: RustDDS asks
/// for an 8 MiB receive buffer and Linux grants `min(request, rmem_max)` doubled.
pub const RUSTDDS_RECOMMENDED_RMEM_MAX: u64 = 4 * 1024 * 1024;

/// Which interfaces DDS discovery and data use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkScope {
    /// 127.0.0.1 only: nothing leaves the machine.
    Loopback,
    /// Every interface (RustDDS's default): needed to reach other computers on the vehicle.
    AllInterfaces,
}

impl NetworkScope {
    /// The scope ROS 2's environment asks for: loopback when `ROS_LOCALHOST_ONLY=1` or
    /// `ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`; all interfaces only when one of them explicitly
    /// opens it (`ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET`, or `ROS_LOCALHOST_ONLY=0` without a
    /// range); loopback otherwise (see the crate docs for why fusor's default differs from ROS 2's).
    pub fn from_env() -> Result<Self> {
        Self::from_values(
            std::env::var("ROS_LOCALHOST_ONLY").ok().as_deref(),
            std::env::var("ROS_AUTOMATIC_DISCOVERY_RANGE").ok().as_deref(),
        )
    }

    /// [`NetworkScope::from_env`] over given values (testable without touching the process env).
    pub fn from_values(localhost_only: Option<&str>, discovery_range: Option<&str>) -> Result<Self> {
        let localhost = match localhost_only.map(str::trim) {
            None | Some("") => None,
            Some("1") => Some(true),
            Some("0") => Some(false),
            Some(other) => {
                return Err(RosError::BadEnv {
                    name: "ROS_LOCALHOST_ONLY",
                    value: other.to_owned(),
                    why: "expected 0 or 1".into(),
                })
            }
        };
        let range = match discovery_range.map(str::trim) {
            None | Some("") => None,
            Some(r) if r.eq_ignore_ascii_case("LOCALHOST") || r.eq_ignore_ascii_case("OFF") => Some(true),
            Some(r) if r.eq_ignore_ascii_case("SUBNET") || r.eq_ignore_ascii_case("SYSTEM_DEFAULT") => Some(false),
            Some(other) => {
                return Err(RosError::BadEnv {
                    name: "ROS_AUTOMATIC_DISCOVERY_RANGE",
                    value: other.to_owned(),
                    why: "expected LOCALHOST, SUBNET, OFF or SYSTEM_DEFAULT".into(),
                })
            }
        };
        // Either switch asking for localhost wins; opening up needs an explicit word.
        Ok(match (localhost, range) {
            (Some(true), _) | (_, Some(true)) => Self::Loopback,
            (_, Some(false)) | (Some(false), None) => Self::AllInterfaces,
            (None, None) => Self::Loopback,
        })
    }
}

/// Reads `ROS_DOMAIN_ID` (0 when unset); values over 232 are rejected as ROS 2 does.
pub fn domain_id_from_env() -> Result<u16> {
    match std::env::var("ROS_DOMAIN_ID") {
        Err(_) => Ok(0),
        Ok(v) if v.trim().is_empty() => Ok(0),
        Ok(v) => match v.trim().parse::<u16>() {
            Ok(id) if id <= 232 => Ok(id),
            _ => Err(RosError::BadEnv { name: "ROS_DOMAIN_ID", value: v, why: "expected an integer 0..=232".into() }),
        },
    }
}

/// The outcome of the receive-buffer check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RmemCheck {
    /// `net.core.rmem_max` in bytes is large enough for multi-megabyte messages.
    Ok(u64),
    /// Too small: messages over roughly a megabyte will be lost (the value in bytes).
    TooSmall(u64),
    /// Not readable (not Linux, or no /proc).
    Unknown,
}

/// Checks `net.core.rmem_max` and warns (once per call) with the command that raises it.
pub fn check_rmem_max() -> RmemCheck {
    let value = std::fs::read_to_string("/proc/sys/net/core/rmem_max").ok().and_then(|s| s.trim().parse::<u64>().ok());
    match value {
        Some(v) if v >= RUSTDDS_RECOMMENDED_RMEM_MAX => RmemCheck::Ok(v),
        Some(v) => {
            tracing::warn!(
                rmem_max = v,
                "net.core.rmem_max is {v} bytes: DDS messages over ~1 MB (point clouds, images) will be lost. \
                 Raise it with `sudo sysctl -w net.core.rmem_max=8388608` (persist in /etc/sysctl.d/)"
            );
            RmemCheck::TooSmall(v)
        }
        None => RmemCheck::Unknown,
    }
}

/// Builds a [`RosContext`]: a DDS participant plus one ROS 2 node.
#[derive(Debug, Clone)]
pub struct RosContextBuilder {
    node_name: String,
    namespace: String,
    domain_id: Option<u16>,
    scope: Option<NetworkScope>,
}

impl RosContextBuilder {
    /// A node called `node_name` in namespace `/`; domain and network scope come from the
    /// environment unless set.
    pub fn new(node_name: &str) -> Self {
        Self { node_name: node_name.to_owned(), namespace: "/".into(), domain_id: None, scope: None }
    }

    /// The node's namespace (`/` by default; `/vehicle` puts relative topics under it).
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace.to_owned();
        self
    }

    /// Overrides `ROS_DOMAIN_ID`.
    pub fn domain_id(mut self, domain_id: u16) -> Self {
        self.domain_id = Some(domain_id);
        self
    }

    /// Overrides the network scope from the environment.
    pub fn scope(mut self, scope: NetworkScope) -> Self {
        self.scope = Some(scope);
        self
    }

    /// Creates the participant (loopback-only when so scoped), the ROS 2 context and the node,
    /// after checking `net.core.rmem_max`.
    pub fn build(self) -> Result<RosContext> {
        let domain_id = match self.domain_id {
            Some(d) => d,
            None => domain_id_from_env()?,
        };
        let scope = match self.scope {
            Some(s) => s,
            None => NetworkScope::from_env()?,
        };
        let rmem = check_rmem_max();
        let mut builder = DomainParticipantBuilder::new(domain_id);
        if scope == NetworkScope::Loopback {
            builder = builder.with_only_networks([Ipv4Addr::LOCALHOST]);
        }
        let participant = builder.build().map_err(RosError::dds)?;
        let context = Context::from_domain_participant(participant).map_err(RosError::dds)?;
        let node_name = NodeName::new(&self.namespace, &self.node_name).map_err(|e| RosError::BadName {
            name: format!("{}/{}", self.namespace, self.node_name),
            why: format!("{e:?}"),
        })?;
        let node = context.new_node(node_name, NodeOptions::new().enable_rosout(false)).map_err(RosError::dds)?;
        tracing::info!(domain_id, ?scope, node = %node.fully_qualified_name(), "ROS 2 node up");
        Ok(RosContext { context, node, domain_id, scope, rmem })
    }
}

/// A running ROS 2 participant with one node: create publishers and subscriptions from it.
pub struct RosContext {
    pub(crate) context: Context,
    pub(crate) node: Node,
    domain_id: u16,
    scope: NetworkScope,
    rmem: RmemCheck,
}

impl std::fmt::Debug for RosContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RosContext")
            .field("node", &self.node.fully_qualified_name())
            .field("domain_id", &self.domain_id)
            .field("scope", &self.scope)
            .field("rmem", &self.rmem)
            .finish()
    }
}

impl RosContext {
    /// The DDS domain in use.
    pub fn domain_id(&self) -> u16 {
        self.domain_id
    }

    /// The network scope in use.
    pub fn scope(&self) -> NetworkScope {
        self.scope
    }

    /// The receive-buffer check made at start.
    pub fn rmem_check(&self) -> RmemCheck {
        self.rmem
    }

    /// The node's fully qualified name, e.g. `/fusor`.
    pub fn node_name(&self) -> String {
        self.node.fully_qualified_name()
    }

    /// The underlying ros2-client context (escape hatch).
    pub fn ros2_context(&self) -> &Context {
        &self.context
    }

    /// The underlying ros2-client node (escape hatch).
    pub fn ros2_node(&mut self) -> &mut Node {
        &mut self.node
    }

    /// Topics seen by discovery so far, as `(ros topic, ros type)`; only ROS 2 (`rt/`) topics with
    /// ROS 2 type names are listed.
    pub fn discovered_ros_topics(&self) -> Vec<(String, String)> {
        let mut topics: Vec<(String, String)> = self
            .context
            .discovered_topics()
            .into_iter()
            .filter_map(|t| {
                let topic = t.name.strip_prefix("rt/")?;
                let ty = crate::ros_type_from_dds(&t.type_name)?;
                Some((format!("/{topic}"), ty))
            })
            .collect();
        topics.sort();
        topics.dedup();
        topics
    }
}
