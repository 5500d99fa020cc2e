#!/usr/bin/env bash
# Training variance of stage 2 (see train_models.sh): retrains lidar-only (continued) and
# intermediate (warm-started) from the committed models/lidar-pretrain.safetensors with other seeds,
# two at a time, then scores them with the committed seed-6 models on the held-out drives (clean and
# camera blackout). Results: $OUT/ablation.{md,json}. Not part of the committed models.
#
#   scripts/seed_study.sh                 # seeds 7 and 8
#   SEEDS="7 8 9" scripts/seed_study.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FUSOR=${FUSOR:-target/release/fusor}
[ -x "$FUSOR" ] || FUSOR="${CARGO_TARGET_DIR:-target}/release/fusor"
SEEDS=${SEEDS:-"7 8"}
OUT=${OUT:-target/seed-study}
mkdir -p "$OUT"
COMMON=(--drives 60 --duration-s 30 --stride 5 --val-drives 2 --threads 1
    --init models/lidar-pretrain.safetensors --epochs 4 --lr 1e-3 --lidar-thinning 0.5)
weights=(models/lidar.safetensors models/intermediate.safetensors)
for seed in $SEEDS; do
    for mode in lidar intermediate; do
        OMP_NUM_THREADS=1 "$FUSOR" train "${COMMON[@]}" --seed "$seed" --mode "$mode" \
            -o "$OUT/$mode-s$seed.safetensors" > "$OUT/$mode-s$seed.txt" 2>&1 &
        weights+=("$OUT/$mode-s$seed.safetensors")
    done
    wait
done
"$FUSOR" detect-ablation --weights "$(IFS=,; echo "${weights[*]}")" --conditions clean,camera-blackout \
    --drives 16 --bootstrap 0 -o "$OUT/ablation"
