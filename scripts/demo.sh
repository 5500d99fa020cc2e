#!/usr/bin/env bash
# `make demo`: the furthest working part of the pipeline, end to end.
# Today: check the machine (libtorch, CUDA), simulate the built-in default drive (no external data
# needed) into a ROS 2 MCAP with ground truth and summarise it; when the KITTI sample is present,
# import it too; replay the simulated drive through the pipeline graph (sync → align → perceive →
# track → plan) into a Rerun recording (.rrd) and print the run summary.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
fusor="${CARGO_TARGET_DIR:-$root/target}/debug/fusor"
out="$root/recordings/out"
mkdir -p "$out"

echo "== fusor doctor"
"$fusor" doctor

drive_s="${FUSOR_DEMO_SECONDS:-10}"
drive_mcap="$out/town-day.mcap"
stamp="$out/town-day.seconds"
echo
if [[ -f "$drive_mcap" && "$drive_mcap" -nt recordings/town-day.toml && "$(cat "$stamp" 2>/dev/null)" == "$drive_s" ]]; then
    echo "== using the simulated drive $drive_mcap (delete it to simulate again)"
else
    echo "== fusor simulate (recordings/town-day.toml, first ${drive_s} s)"
    "$fusor" simulate --scenario recordings/town-day.toml --duration "$drive_s" -o "$drive_mcap"
    echo "$drive_s" > "$stamp"
fi
echo
echo "== fusor info"
"$fusor" info "$out/town-day.mcap"
echo
echo "== fusor replay --max --rerun save (pipeline: launch/pipeline.toml)"
"$fusor" replay --max --rerun save "$out/town-day.rrd" "$out/town-day.mcap"
echo "open it with: rerun $out/town-day.rrd   (pip install rerun-sdk==0.36.3)"

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
