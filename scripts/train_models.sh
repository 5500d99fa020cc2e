#!/usr/bin/env bash
# Retrains the four committed detector models (models/*.safetensors) and rebuilds the ablation
# table (models/ablation.{md,json,png}). Same data, network, budget and seed for every mode.
# Two trainings run at a time with one libtorch thread each (the machine has 2 cores).
#
#   scripts/train_models.sh            # all four modes, then the ablation
#   MODES="lidar intermediate" scripts/train_models.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FUSOR=${FUSOR:-target/release/fusor}
[ -x "$FUSOR" ] || FUSOR="${CARGO_TARGET_DIR:-target}/release/fusor"
MODES=${MODES:-"lidar early intermediate late"}
DRIVES=${DRIVES:-60}
EPOCHS=${EPOCHS:-9}
# Every mode gets the same epochs (9: what lidar-only gets in 30 minutes on one core).
COMMON=(--drives "$DRIVES" --duration-s 30 --stride 5 --val-drives 2 --epochs "$EPOCHS" --threads 1 --seed 6)

# Generate (and cache) the samples once, before the parallel trainings read them.
"$FUSOR" train "${COMMON[@]}" --mode lidar --epochs 0 -o /tmp/fusor-warm-cache.safetensors

run() {
    local mode=$1
    OMP_NUM_THREADS=1 "$FUSOR" train "${COMMON[@]}" --mode "$mode" -o "models/$mode.safetensors" \
        > "models/$mode.train.txt" 2>&1
}
set -- $MODES
while [ $# -gt 0 ]; do
    run "$1" &
    if [ $# -gt 1 ]; then run "$2" & shift; fi
    shift
    wait
done
"$FUSOR" detect-ablation --drives 16 --bootstrap 300 -o models/ablation
