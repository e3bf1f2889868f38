#!/usr/bin/env bash
# One GPU lease for training: on a machine with an NVIDIA GPU and PyTorch with CUDA, no
# network, no ROS. Needs the training pack (scripts/gpu_train.py pack) in $PACK and, where the
# machine lacks them, wheels of diffusers and rosbags (with their needs) in .whl/.
#   1. installs .whl/*.whl into /tmp/site; gpu_check.sh's environment report (env.json);
#   2. a preflight: 2 steps of each stage of each preset (fails in seconds, not minutes);
#   3. scripts/gpu_train.py train for every preset in $PRESETS at once (the GPU shared), stage 1
#      given $STAGE1_SECONDS;
#   4. each checkpoint (runs/gpu/<preset>/final, its report.json inside) as <preset>.tar in
#      $OUT, split into parts of 15 MiB; each run's log (at most 8 files in $OUT in all: the
#      device tool brings back no more: more is an error). Back here, put a checkpoint
#      together with: cat <preset>.tar.part* | tar -x -C runs/gpu/<preset>
#   5. with $BENCH_SECONDS > 0: vag-ros bench generation of the paper preset without guidance, cut to end
#      by $DEADLINE seconds after the start (the lease's command limit, less the transfers).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu/out}
PY=${PY:-python3}
PACK=${PACK:-.gpu/train_pack.safetensors.xz}
PRESETS=${PRESETS:-small tiny}
STAGE1_SECONDS=${STAGE1_SECONDS:-210}
BENCH_SECONDS=${BENCH_SECONDS:-0}
DEADLINE=${DEADLINE:-480}
DEVICE=${DEVICE:-cuda}
MAX_STEPS=${MAX_STEPS:-0}   # > 0: a smoke run (DEVICE=cpu MAX_STEPS=20 on a small pack)
RUNS=${RUNS:-runs/gpu}
mkdir -p "$OUT" "$RUNS"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 OMP_NUM_THREADS=4
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
WHEELS=${WHEELS:-.whl}   # none: use the packages this Python has
if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$WHEELS"/*.whl || exit 1
  export PYTHONPATH=$PYTHONPATH:/tmp/site
fi
PY="$PY" PRESETS= DEVICE="$DEVICE" OUT="$OUT" bash scripts/gpu_check.sh >/dev/null || exit 1

echo "== preflight"
for preset in $PRESETS; do
  rm -rf "/tmp/preflight_$preset"
  log=/tmp/preflight_$preset.log
  timeout 120 "$PY" scripts/gpu_train.py train --pack "$PACK" --preset "$preset" \
    --out "/tmp/preflight_$preset" --device "$DEVICE" --max-steps 2 >"$log" 2>&1 \
    || { cp "$log" "$OUT/"; tail -30 "$log"; echo "gpu_train: preflight of $preset failed"
         exit 1; }
done

echo "== training: $PRESETS, stage 1 for ${STAGE1_SECONDS} s each"
pids=()
for preset in $PRESETS; do
  rm -rf "${RUNS:?}/$preset"
  "$PY" scripts/gpu_train.py train --pack "$PACK" --preset "$preset" --out "$RUNS/$preset" \
    --device "$DEVICE" --stage1-seconds "$STAGE1_SECONDS" --max-steps "$MAX_STEPS" \
    >"$OUT/train_$preset.log" 2>&1 &
  pids+=($!)
done
status=0
for pid in ${pids[@]+"${pids[@]}"}; do wait "$pid" || status=1; done
for preset in $PRESETS; do
  grep -v '^Loading' "$OUT/train_$preset.log" | tail -8
  [ -f "$RUNS/$preset/final/model.safetensors" ] || { status=1; continue; }
  cp "$RUNS/$preset/report.json" "$RUNS/$preset/final/"
  tar -C "$RUNS/$preset" -cf "/tmp/$preset.tar" final \
    && split -b 15M -d "/tmp/$preset.tar" "$OUT/$preset.tar.part" || status=1
done
ls -la "$OUT"

left=$((DEADLINE - SECONDS)); [ "$left" -lt "$BENCH_SECONDS" ] && BENCH_SECONDS=$left
echo "== ${SECONDS} s so far"
if [ "$BENCH_SECONDS" -gt 30 ]; then
  echo "== bench: paper preset, guidance 1 (${BENCH_SECONDS} s at most)"
  timeout "$BENCH_SECONDS" "$PY" -m vag_ros.cli bench generation --device "$DEVICE" --preset paper \
    --dtype bfloat16 --backend torch --guidance-scale 1 --rounds 2 --warmup 1 --step-calls 5 \
    --json "$OUT/paper_nocfg.json" 2>&1 | tail -15 || echo "bench failed or timed out"
fi
files=$(find "$OUT" -type f | wc -l)
[ "$files" -le 8 ] || { echo "gpu_train: $files files in $OUT, the device tool brings back 8"
                        status=1; }
exit $status
