#!/usr/bin/env bash
# Loss weighting on moving latents (issue 28, item 2): the committed demo checkpoint
# fine-tuned jointly for the same steps with loss.motion_weight 0 (the control: just more
# training) and W, each followed by its learned decoder stage, then both evaluated on the
# same held-out scenes (arm PSNR/SSIM, sharpness, the reader, replay success, and the
# held-out phrasings and typos: both arms train with typo variants, instruction_typos).
#
#   bash scripts/motion_weight_experiment.sh DATA [ROOT]
#
# DATA: the demo's training episodes (vag-ros sim-record, seeds 1000-1899; see
# docs/checkpoint_tiny_demo.md). ROOT: default runs/motion_weight. Resumable: a stage is
# done when its folder holds .done with the command that made it (another command is
# refused: delete the folder to redo it); a killed training continues with --resume.
# Env: WEIGHTS (default "0 2"), STEPS (joint fine-tune steps, default 2000), EPISODES (eval,
# default 99), THREADS (1).
set -euo pipefail
DATA=${1:?usage: motion_weight_experiment.sh DATA [ROOT]}
ROOT=${2:-runs/motion_weight}
VAG=${VAG:-.venv/bin/vag-ros}
PY=${PY:-.venv/bin/python}
WEIGHTS=${WEIGHTS:-0 2}
STEPS=${STEPS:-2000}
EPISODES=${EPISODES:-99}
THREADS=${THREADS:-1}
BASE=checkpoints/tiny_demo
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
mkdir -p "$ROOT"
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$ROOT/commands.log"; }
run() { log "$*"; "$@"; }
done_as() {  # done_as DIR COMMAND...: 0 when DIR was made by COMMAND, exit if by another
    local dir=$1; shift
    [ -f "$dir/.done" ] || return 1
    [ "$(cat "$dir/.done")" = "$*" ] && return 0
    log "refused: $dir was made by another command: $(cat "$dir/.done")"; exit 1
}

for w in $WEIGHTS; do
    config="$ROOT/model_motion$w.yaml"   # the demo's model config, its loss.motion_weight = w
    $PY - "$BASE/config.yaml" "$config" "$w" <<'EOF'
import sys, yaml
config = yaml.safe_load(open(sys.argv[1]))
config.setdefault('loss', {})['motion_weight'] = float(sys.argv[3])
open(sys.argv[2], 'w').write(yaml.safe_dump(config, sort_keys=False))
EOF
    tuned="$ROOT/tuned_motion$w"
    train=(train --config "$config" --data "$DATA" --init "$BASE" --out "$tuned"
           --train-config config/train_tiny_finetune.yaml --steps "$STEPS")
    if ! done_as "$tuned" "${train[@]}"; then
        if compgen -G "$tuned/training_state*" > /dev/null; then resume=(--resume)
        else rm -rf "$tuned"; resume=(); fi
        run "$VAG" "${train[@]}" --quiet "${resume[@]}"
        echo "${train[*]}" > "$tuned/.done"
    fi
    vag="$ROOT/vag_motion$w"
    decoder=(train-decoder --checkpoint "$tuned" --data "$DATA" --out "$vag")
    if ! done_as "$vag" "${decoder[@]}"; then
        rm -rf "$vag"
        run "$VAG" "${decoder[@]}" --quiet
        echo "${decoder[*]}" > "$vag/.done"
    fi
    if [ ! -f "$ROOT/eval_motion$w/eval.json" ]; then
        mkdir -p "$ROOT/eval_motion$w"
        run "$VAG" eval --checkpoint "$vag" --no-bridge "$BASE/baselines/no_bridge" \
            --inverse-dynamics "$BASE/baselines/inverse_dynamics" \
            --scene-blind "$BASE/baselines/scene_blind" --episodes "$EPISODES" \
            --json "$ROOT/eval_motion$w/eval.json" --quiet
    fi
done
log "reports: $ROOT/eval_motion*/report.md"
