//! Helpers shared by the ROS 2 end-to-end tests: the project root, a private DDS domain, and the
//! `fusor` binary restricted to loopback.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A domain in 1..=100 private to this process and `slot`.
pub fn test_domain(slot: u16) -> u16 {
    1 + ((std::process::id() as u16 % 10) * 10 + slot % 10) % 100
}

/// `fusor` on loopback only, on `domain`, from the project root.
pub fn fusor(domain: u16) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fusor"));
    c.current_dir(project_root())
        .env("ROS_LOCALHOST_ONLY", "1")
        .env("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        .env("ROS_DOMAIN_ID", domain.to_string());
    c
}
