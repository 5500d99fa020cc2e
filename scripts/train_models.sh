#!/usr/bin/env bash
# Retrains the four committed detector models (models/*.safetensors) and rebuilds the ablation
# table (models/ablation.{md,json,png}). Same data, network and seed for every mode; the drives'
# towns have street clutter (person-sized bins, pay stations, shrubs: DriveSpec::from_seed); two
# trainings run at a time with one libtorch thread each (the machine has 2 cores).
#
# Two stages, so that every mode's lidar path gets the same 13 epochs:
#   1. lidar-only from scratch, 9 epochs          -> models/lidar-pretrain.safetensors
#   2. 4 more epochs from it, per mode, half of the frames with their lidar thinned to a random
#      20–100 % of its points (objects the lidar barely sees stay targets):
#        lidar         continued                  -> models/lidar.safetensors
#        early, intermediate: painted inputs start at zero weight, everything trains; the image
#                      net of intermediate also learns the simulator's pixel classes
#                      (segmentation loss, weight 0.5), PointPainting-style
#        late          the crop net only, 8 epochs, crops from a 640x192 image, on the finished models/lidar.safetensors
#                      (frozen): its boxes are lidar-only's; the pedestrian / cyclist scores of its 64 best cells
#                      per frame are corrected from each cell's image crop (heatmap focal loss on
#                      the corrections, class-balanced crop classification on the crop net's
#                      features), with the camera's calibration jittered ±1°
#
#   3. (not run by default) a longer budget: 8 more epochs at Adam 2e-3 along a cosine from the
#      finished lidar model, half of the frames thinned, 640x192 images, the camera modes'
#      calibration jittered ±1° (models/README.md, "A longer training budget"); every mode's lidar
#      path gets 21 epochs:
#        lidar-long          lidar only, continued    -> models/lidar-long.safetensors
#        early-long, intermediate-long  early / intermediate (pixels), end to end, from models/lidar.safetensors
#        intermediate-crops  intermediate with crops, end to end, from models/lidar.safetensors
#        late-long           late's crop net on the frozen lidar-long (the pipeline's default model)
#
#   fast. (not run by default) the 30-minute recipe: lidar-only from scratch, 14 epochs at Adam
#      2e-3 along one cosine, half of the frames thinned (16.5 minutes on 2 threads), then late's
#      crop net on it, frozen, as late-long (models/README.md, "A 30-minute recipe"; not committed):
#        lidar-fast, late-fast                        -> models/lidar-fast, models/late-fast
#
#   scripts/train_models.sh              # stages 1 and 2, then the ablation
#   STAGES=2 scripts/train_models.sh     # keep the committed lidar-pretrain weights
#   STAGES=3 scripts/train_models.sh     # the longer budget and its ablation (models/ablation-long)
#   STAGES=fast scripts/train_models.sh  # the 30-minute recipe, two threads, one training at a time
set -euo pipefail
cd "$(dirname "$0")/.."
FUSOR=${FUSOR:-target/release/fusor}
[ -x "$FUSOR" ] || FUSOR="${CARGO_TARGET_DIR:-target}/release/fusor"
STAGES=${STAGES:-"1 2"}
DRIVES=${DRIVES:-60}
COMMON=(--drives "$DRIVES" --duration-s 30 --stride 5 --val-drives 2 --threads 1 --seed 6)

# Generate (and cache) the samples once, before the parallel trainings read them.
if [[ " $STAGES " == *" 1 "* || " $STAGES " == *" 2 "* ]]; then
    "$FUSOR" train "${COMMON[@]}" --mode lidar --epochs 0 -o /tmp/fusor-warm-cache.safetensors
fi

train() {
    local name=$1
    shift
    OMP_NUM_THREADS=1 "$FUSOR" train "${COMMON[@]}" "$@" -o "models/$name.safetensors" > "models/$name.train.txt" 2>&1
}

if [[ " $STAGES " == *" 1 "* ]]; then
    train lidar-pretrain --mode lidar --epochs 9
fi
if [[ " $STAGES " == *" 2 "* ]]; then
    base=(--init models/lidar-pretrain.safetensors --epochs 4 --lr 1e-3 --lidar-thinning 0.5)
    train lidar --mode lidar "${base[@]}" &
    train intermediate --mode intermediate "${base[@]}" &
    wait
    train early --mode early "${base[@]}" &
    train late --mode late --init models/lidar.safetensors --freeze-init --camera-jitter-deg 1 --epochs 8 \
        --lr 2e-3 --lidar-thinning 0.5 --image-size 640x192 &
    wait
fi
if [[ " $STAGES " == *" 1 "* || " $STAGES " == *" 2 "* ]]; then
    "$FUSOR" detect-ablation --drives 16 --bootstrap 300 -o models/ablation \
        --weights models/lidar.safetensors,models/early.safetensors,models/intermediate.safetensors,models/late.safetensors
    # The same late model on a surround camera rig (front camera plus two turned 60° left and right).
    "$FUSOR" detect-ablation --drives 16 --bootstrap 300 --cameras surround --conditions clean,camera-blackout,camera-yaw1deg \
        --weights models/lidar.safetensors,models/late.safetensors -o models/ablation-surround
fi
if [[ " $STAGES " == *" 3 "* ]]; then
    long=(--epochs 8 --lr 2e-3 --lidar-thinning 0.5 --image-size 640x192)
    "$FUSOR" train "${COMMON[@]}" --mode lidar --epochs 0 --image-size 640x192 -o /tmp/fusor-warm-cache.safetensors
    # Two lanes of about the same length (38 minutes each on this machine); late-long needs lidar-long.
    (
        train intermediate-long --mode intermediate --init models/lidar.safetensors --camera-jitter-deg 1 "${long[@]}"
        train early-long --mode early --init models/lidar.safetensors --camera-jitter-deg 1 "${long[@]}"
    ) &
    (
        train lidar-long --mode lidar --init models/lidar.safetensors "${long[@]}"
        train late-long --mode late --init models/lidar-long.safetensors --freeze-init --camera-jitter-deg 1 "${long[@]}"
        train intermediate-crops --mode intermediate --image-branch crops --init models/lidar.safetensors \
            --camera-jitter-deg 1 "${long[@]}"
    ) &
    wait
    "$FUSOR" detect-ablation --drives 16 --bootstrap 300   # the longer budget's models -> models/ablation-long
    "$FUSOR" detect-ablation --drives 16 --bootstrap 300 --cameras surround --conditions clean,camera-blackout,camera-yaw1deg \
        --weights models/lidar-long.safetensors,models/intermediate-crops.safetensors,models/late-long.safetensors \
        -o models/ablation-long-surround
fi
if [[ " $STAGES " == *" fast "* ]]; then
    fast=(--drives "$DRIVES" --duration-s 30 --stride 5 --val-drives 2 --threads 2 --seed 6 --lr 2e-3 --lidar-thinning 0.5
        --image-size 640x192)
    OMP_NUM_THREADS=2 "$FUSOR" train "${fast[@]}" --mode lidar --epochs 14 -o models/lidar-fast.safetensors \
        > models/lidar-fast.train.txt 2>&1
    OMP_NUM_THREADS=2 "$FUSOR" train "${fast[@]}" --mode late --epochs 8 --init models/lidar-fast.safetensors --freeze-init \
        --camera-jitter-deg 1 -o models/late-fast.safetensors > models/late-fast.train.txt 2>&1
    "$FUSOR" detect-ablation --drives 16 --bootstrap 300 --conditions clean,camera-blackout \
        --weights models/lidar-fast.safetensors,models/late-fast.safetensors -o models/ablation-fast
fi
