//! `diagnostic_msgs`: health reports.

use crate::ros_message;
use crate::std_msgs::Header;
use serde::{Deserialize, Serialize};

/// `diagnostic_msgs/KeyValue`: one labelled value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct KeyValue {
    /// Label.
    pub key: String,
    /// Value.
    pub value: String,
}

/// `diagnostic_msgs/DiagnosticStatus`: the state of one component.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct DiagnosticStatus {
    /// One of `OK`, `WARN`, `ERROR`, `STALE`.
    pub level: u8,
    /// Component name.
    pub name: String,
    /// Human-readable status.
    pub message: String,
    /// Hardware identifier.
    pub hardware_id: String,
    /// Extra values.
    pub values: Vec<KeyValue>,
}

impl DiagnosticStatus {
    /// Working.
    pub const OK: u8 = 0;
    /// Degraded.
    pub const WARN: u8 = 1;
    /// Failed.
    pub const ERROR: u8 = 2;
    /// No recent update.
    pub const STALE: u8 = 3;
}

/// `diagnostic_msgs/DiagnosticArray`: several statuses at once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct DiagnosticArray {
    /// Time of the report.
    pub header: Header,
    /// The statuses.
    pub status: Vec<DiagnosticStatus>,
}

ros_message!(KeyValue, "diagnostic_msgs", "KeyValue");
ros_message!(DiagnosticStatus, "diagnostic_msgs", "DiagnosticStatus");
ros_message!(DiagnosticArray, "diagnostic_msgs", "DiagnosticArray");
