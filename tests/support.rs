//! Shared helpers for the end-to-end tests in this folder.

use std::path::PathBuf;

/// The project root (the folder holding the workspace `Cargo.toml`).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `../shared/data` relative to the project root, or `FUSOR_DATA` when set.
pub fn shared_data() -> PathBuf {
    std::env::var_os("FUSOR_DATA").map(PathBuf::from).unwrap_or_else(|| project_root().join("../shared/data"))
}
