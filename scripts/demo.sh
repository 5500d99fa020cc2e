#!/usr/bin/env bash
# `make demo`: the furthest working part of the pipeline, end to end.
# Today: check the machine (libtorch, CUDA), import the KITTI raw sample drive into a ROS 2 MCAP
# and summarise it. The simulator's default drive replaces the KITTI sample as soon as
# `fusor simulate` lands (it needs no external data); `fusor replay` then runs the whole graph.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
fusor="${CARGO_TARGET_DIR:-$root/target}/debug/fusor"
out="$root/recordings/out"
mkdir -p "$out"

echo "== fusor doctor"
"$fusor" doctor

data="${FUSOR_DATA:-$root/../shared/data}"
drive="$data/kitti_raw/2011_09_26/2011_09_26_drive_0002_sync"
if [[ -d "$drive" ]]; then
    echo
    echo "== fusor import kitti-raw (KITTI raw 2011_09_26 drive 0002 sample)"
    "$fusor" import kitti-raw "$drive" --compressed -o "$out/kitti-0002.mcap"
    echo
    echo "== fusor info"
    "$fusor" info "$out/kitti-0002.mcap"
else
    echo "KITTI sample not found at $drive (set FUSOR_DATA); skipping the import step"
fi
