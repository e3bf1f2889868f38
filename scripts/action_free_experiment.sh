#!/usr/bin/env bash
# The action-free regime (issue 27, item 3): VAG's video branch trains on 900 expert videos
# whose actions are withheld except for 50, both branches on those 50; the no-bridge
# (action-only) model trains on the same 50 labelled episodes. One eval scores both on the
# same held-out scenes (seeds from 100000).
#
#   bash scripts/action_free_experiment.sh [ROOT]      # default runs/action_free
#
# Resumable: a stage is done when its folder holds .done with the command that made it;
# a stage whose command changed is refused (delete its folder to redo it); a killed training
# continues with --resume. Threads: THREADS (default 1 per process; the VAG chain and the
# no-bridge run side by side). Scale: STAGE1_STEPS (default 6000 joint steps x 8),
# LABELLED (default 50), VIDEOS (default 900). The eval's two-stage reader and scene-blind
# rows are tiny_demo's baselines (trained on 900 labelled episodes): read only VAG against
# the no-bridge here.
set -euo pipefail
ROOT=${1:-runs/action_free}
VAG=${VAG:-.venv/bin/vag-ros}
THREADS=${THREADS:-1}
LABELLED=${LABELLED:-50}
VIDEOS=${VIDEOS:-900}
STAGE1_STEPS=${STAGE1_STEPS:-6000}
EPISODES=${EPISODES:-99}
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
mkdir -p "$ROOT"
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT   # no orphan keeps writing a stage
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$ROOT/commands.log"; }
run() { log "$*"; "$@"; }

# 1. Data: VIDEOS expert episodes (seeds 1000..), two recorders at once.
if [ ! -f "$ROOT/data/.done" ]; then
    rm -rf "$ROOT/data"
    half=$((VIDEOS / 2))
    run "$VAG" sim-record --episodes "$half" --out "$ROOT/data/all" --seed 1000 --quiet &
    recorder=$!
    run "$VAG" sim-record --episodes $((VIDEOS - half)) --out "$ROOT/data/all" \
        --seed $((1000 + half)) --quiet
    wait "$recorder"
    # The labelled ones: the first LABELLED seeds (the families cycle, so about a third each).
    mkdir -p "$ROOT/data/labelled"
    ls "$ROOT/data/all" | awk -F_seed '{print $2, $0}' | sort > "$ROOT/data/by_seed.txt"
    awk -v n="$LABELLED" 'NR <= n {print $2}' "$ROOT/data/by_seed.txt" \
        > "$ROOT/data/labelled.txt"
    while read -r name; do cp -al "$ROOT/data/all/$name" "$ROOT/data/labelled/$name"; done \
        < "$ROOT/data/labelled.txt"
    run "$VAG" withhold-actions --episodes "$ROOT/data/all" --keep "$ROOT/data/labelled.txt" \
        --out "$ROOT/data/mixed"
    touch "$ROOT/data/.done"
fi

train() {  # train OUT ARGS...: fresh, resumed, or skipped when done with the same command
    local out=$1; shift
    local command="train $*"
    if [ -f "$out/.done" ]; then
        if [ "$(cat "$out/.done")" != "$command" ]; then
            log "refused: $out was made by another command: $(cat "$out/.done")"; exit 1
        fi
        log "done already: $out"; return
    fi
    if compgen -G "$out/training_state*" > /dev/null; then
        run "$VAG" train "$@" --out "$out" --resume --quiet
    else rm -rf "$out"; run "$VAG" train "$@" --out "$out" --quiet; fi
    echo "$command" > "$out/.done"
}

M="--config config/model_tiny_token.yaml"
vag_chain() {
    # stage 0: the pixel encoder alone (waypoint loss): it reads the labelled episodes only
    # (on the mixed folder 94% of its batches would be windows without actions)
    train "$ROOT/vag0" $M --data "$ROOT/data/labelled" \
        --train-config config/train_tiny_encoder.yaml --seed 2
    # stage 1: both branches; the video loss on all 900, the action loss on the 50
    train "$ROOT/vag1" $M --data "$ROOT/data/mixed" --init "$ROOT/vag0" --steps "$STAGE1_STEPS"
    # stage 2: the action branch on the labelled episodes, video branch and encoder frozen
    train "$ROOT/vag" $M --data "$ROOT/data/labelled" --init "$ROOT/vag1" \
        --train-config config/train_tiny_token_action.yaml
}
no_bridge() {
    train "$ROOT/no_bridge" $M --data "$ROOT/data/labelled" --mode action_no_bridge \
        --train-config config/train_tiny_no_bridge.yaml
}
vag_chain > "$ROOT/vag_chain.log" 2>&1 &
chain=$!
no_bridge > "$ROOT/no_bridge.log" 2>&1
wait "$chain"

# 3. One eval: VAG (50 labelled + 900 videos) and the no-bridge (50 labelled), same scenes.
if [ ! -f "$ROOT/eval/eval.json" ]; then
    mkdir -p "$ROOT/eval"
    OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 run "$VAG" eval --checkpoint "$ROOT/vag" \
        --no-bridge "$ROOT/no_bridge" \
        --inverse-dynamics checkpoints/tiny_demo/baselines/inverse_dynamics \
        --scene-blind checkpoints/tiny_demo/baselines/scene_blind --no-phrasings \
        --no-template-pairs --episodes "$EPISODES" --json "$ROOT/eval/eval.json" --quiet
fi
log "report: $ROOT/eval/report.md"
