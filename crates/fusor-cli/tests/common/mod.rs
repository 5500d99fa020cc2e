//! Helpers shared by the end-to-end tests: the project root, a private DDS domain, the `fusor`
//! binary restricted to loopback, and the venv's Python with the Rerun SDK.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A scratch folder for the files a test binary writes, `name` under cargo's per-target temporary
/// folder, emptied when first asked for. A `tempfile::TempDir` kept in a `static` is never dropped
/// (statics do not run destructors at exit), so every run of the suite left its drives behind in
/// `/tmp`; this folder is reused instead, one per test binary.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
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

/// `fusor simulate --scenario <scenario> --duration <duration_s> -o <out>` from the project root
/// (`scenario` relative to it); panics with simulate's stderr when it fails.
pub fn simulate(scenario: &str, duration_s: &str, out: &Path) {
    let result =
        fusor(0).args(["simulate", "--scenario", scenario, "--duration", duration_s, "-o"]).arg(out).output().unwrap();
    assert!(result.status.success(), "simulate {scenario} failed: {}", String::from_utf8_lossy(&result.stderr));
}

/// The project venv's Python with `rerun-sdk==0.36.3` (`make setup` installs it; installed here
/// once per test binary when missing, the other tests waiting for that one install).
pub fn rerun_python() -> PathBuf {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON.get_or_init(install_rerun).clone()
}

fn install_rerun() -> PathBuf {
    let python = project_root().join(".venv/bin/python");
    assert!(python.exists(), "{} is missing: run `make setup` first", python.display());
    let has = Command::new(&python)
        .args(["-c", "import rerun, sys; sys.exit(rerun.__version__ != '0.36.3')"])
        .status()
        .unwrap();
    if !has.success() {
        let status = Command::new(&python).args(["-m", "pip", "install", "-q", "rerun-sdk==0.36.3"]).status().unwrap();
        assert!(status.success(), "pip install rerun-sdk==0.36.3 failed (run `make setup`)");
    }
    let rerun = python.with_file_name("rerun");
    // The CLI phones home by default.
    Command::new(&rerun).args(["analytics", "disable"]).output().unwrap();
    python
}

/// Python (Rerun SDK) printing `{"rows": {entity: rows}, "points": lidar points}` of the `.rrd`
/// given as its argument.
pub const ENTITY_ROWS: &str = r#"
import sys, json
from rerun.experimental import RrdReader
rows, points = {}, 0
for chunk in RrdReader(sys.argv[1]).stream():
    path = str(chunk.entity_path)
    rows[path] = rows.get(path, 0) + chunk.num_rows
    if path == "/map/base_link/lidar":
        batch = chunk.to_record_batch()
        for name in batch.schema.names:
            if name.endswith("Points3D:positions"):
                points += sum(len(v) for v in batch.column(name).to_pylist() if v is not None)
print(json.dumps({"rows": rows, "points": points}))
"#;
