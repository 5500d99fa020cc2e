#!/usr/bin/env bash
# One-time (idempotent) project set-up: a git-ignored Python venv holding the PyPI torch 2.13.0
# wheel (it carries libtorch for tch 0.26.0, and serves the Python-side checks), the `.libtorch`
# link that `.cargo/config.toml` points LIBTORCH at, and the Python packages the interop tests use.
# Quick when everything is already there.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
python="${FUSOR_PYTHON:-python3}"
torch_version="2.13.0"

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

if [[ ! -x "$venv/bin/python" ]]; then
    log "creating venv $venv"
    "$python" -m venv "$venv"
fi

site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

# Free space (GiB) on the file system holding `$1`.
free_gib() { df -Pk "$1" | awk 'NR == 2 { print int($4 / 1048576) }'; }

if [[ ! -d "$site/torch-${torch_version}.dist-info" || ! -e "$site/torch/lib/libtorch_cpu.so" ]]; then
    # The wheel and its CUDA libraries unpack to ~5 GB beside a ~2.7 GB download: refuse up front
    # with the reason rather than let pip die half-way with "No space left on device".
    need_gib=8
    have_gib="$(free_gib "$venv")"
    if (( have_gib < need_gib )); then
        log "error: installing torch needs ~${need_gib} GiB free beside $venv, and ${have_gib} GiB is free" >&2
        log "make room (recordings/cache, an old CARGO_TARGET_DIR) and run again" >&2
        exit 1
    fi
    log "installing torch==${torch_version} (libtorch for tch; ~2.7 GB download, ~80 s)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
        "torch==${torch_version}"
fi

# Python packages for the independent checks: MCAP read-back, a DDS peer (Cyclone) for the ROS 2
# interop tests, the Rerun SDK that reads back .rrd files, safetensors for the TorchScript timing
# script's example frame. Installed here, once, rather than by the
# tests: tests of one binary run in parallel, and two pip installs racing into one venv left a test
# importing a half-installed package.
if ! "$venv/bin/python" -c '
import sys, mcap, mcap_ros2, cyclonedds.domain, rerun, safetensors
sys.exit(rerun.__version__ != "0.36.3")' 2>/dev/null; then
    log "installing mcap, mcap-ros2-support, cyclonedds, rerun-sdk, safetensors (independent checks in the tests)"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir \
        mcap mcap-ros2-support "cyclonedds==11.0.1" "rerun-sdk==0.36.3" "safetensors==0.8.0"
fi

link="$root/.libtorch"
target="$site/torch"
if [[ "$(readlink "$link" 2>/dev/null || true)" != "$target" ]]; then
    log "linking .libtorch -> $target"
    ln -sfn "$target" "$link"
fi

log "ready: libtorch $(cat "$site/torch/version.py" 2>/dev/null | sed -n "s/^__version__ = '\(.*\)'.*/\1/p") at $target"
