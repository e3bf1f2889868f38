#!/usr/bin/env bash
# GPU readiness in one run (under 8 minutes on one data-centre GPU): on a machine with an
# NVIDIA GPU and PyTorch with CUDA, no network and no TensorRT needed. Writes JSON into
# ${OUT:-runs/gpu_check}: env.json (GPU, driver, torch, CUDA; which of TensorRT, onnxruntime's
# CUDA provider and CUDA graphs can run), then `vag-ros bench generation` reports:
#   paper_cfg.json    paper preset (Cosmos-Predict2-2B dims, 93 frames, 432x768), random
#                     weights, bf16, guidance 8 (the guidance pair): torch eager vs torch.compile
#   paper_nocfg.json  the same with guidance 1 (one DiT pass per step)
#   tiny.json         the tiny preset, bf16, torch eager vs torch.compile
# Each report has the DiT step time, the action branch + bridge share of a step, a whole
# 35-step episode (encoder, 35 steps, decoder) and the peak GPU memory.
# Usage: bash scripts/gpu_check.sh          (DEVICE=cpu PRESETS=tiny: a smoke run without GPU;
#                                           PRESETS= : env.json alone)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu_check}
DEVICE=${DEVICE:-cuda}
PRESETS=${PRESETS-paper tiny}   # empty: the environment report only
VAG=${VAG:-.venv/bin/vag-ros}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

"$PY" - "$OUT/env.json" "$DEVICE" <<'PYEOF'
import json, platform, sys, time
import torch
out, device = sys.argv[1], sys.argv[2]
env = {'time': time.strftime('%Y-%m-%dT%H:%M:%S'), 'python': platform.python_version(),
       'torch': torch.__version__, 'cuda_available': torch.cuda.is_available(),
       'torch_cuda': torch.version.cuda, 'device': device}
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    env.update(gpu=p.name, gpu_memory_gb=round(p.total_memory / 2**30, 1),
               capability=f'{p.major}.{p.minor}', gpus=torch.cuda.device_count())
    try:  # CUDA graphs: capture and replay one small kernel
        x = torch.ones(1024, device='cuda')
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            y = x * 2
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            y = x * 2
        g.replay()
        torch.cuda.synchronize()
        env['cuda_graphs'] = bool(y.sum().item() == 2048)
    except Exception as exc:  # noqa: BLE001 - the check reports why
        env['cuda_graphs'] = f'failed: {type(exc).__name__}: {exc}'
try:
    import tensorrt
    env['tensorrt'] = tensorrt.__version__
except Exception as exc:  # noqa: BLE001
    env['tensorrt'] = f'not available: {type(exc).__name__}: {exc}'
try:
    import onnxruntime
    env['onnxruntime'] = onnxruntime.__version__
    env['onnxruntime_cuda'] = 'CUDAExecutionProvider' in onnxruntime.get_available_providers()
except Exception as exc:  # noqa: BLE001
    env['onnxruntime'] = f'not available: {type(exc).__name__}: {exc}'
json.dump(env, open(out, 'w'), indent=2)
print(json.dumps(env, indent=2))
if device.startswith('cuda') and not torch.cuda.is_available():
    sys.exit('gpu_check: no CUDA device visible to torch; DEVICE=cpu PRESETS=tiny for a smoke run')
PYEOF
[ $? -eq 0 ] || exit 1

status=0
bench() {  # name, timeout s, args...
  local name=$1 limit=$2; shift 2
  echo "== $name"
  timeout "$limit" "$VAG" bench generation --device "$DEVICE" --json "$OUT/$name.json" "$@" \
    || { echo "gpu_check: $name failed or timed out (exit $?)"; status=1; }
}
DTYPE=bfloat16; [ "$DEVICE" = cpu ] && DTYPE=float32
for preset in $PRESETS; do
  case $preset in
    paper)
      bench paper_cfg 200 --preset paper --dtype $DTYPE --backend torch,torch-compile \
        --rounds 2 --warmup 1 --step-calls 5
      bench paper_nocfg 120 --preset paper --dtype $DTYPE --backend torch,torch-compile \
        --guidance-scale 1 --rounds 2 --warmup 1 --step-calls 5 ;;
    tiny)
      bench tiny 90 --preset tiny --dtype $DTYPE --backend torch,torch-compile --rounds 3 ;;
  esac
done
echo "gpu_check: reports in $OUT"
exit $status
