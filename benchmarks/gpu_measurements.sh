#!/usr/bin/env bash
# The GPU figures of BENCHMARKS.md in one go, about 9 minutes on one H200:
#   1. MELD's model and model + actor-critic steps/s at every simulated env's preset shapes, eager and CUDA graphs
#      (`reduce-overhead`), with the GPU's busy share and kernels per step (agent_throughput.py --env-presets);
#   2. the projected wall time of a pixels-100k protocol run of MELD on Reacher (protocol_cost.py).
# Each writes its table into $OUT as it goes, so a run stopped by its time limit still leaves the rows it measured.
#
#   OUT=gpu_out bash benchmarks/gpu_measurements.sh
#
# On a machine without network that has torch with CUDA but not the other dependencies, bring their wheels along
# (.gpu/whl: gymnasium, farama-notifications, mujoco==3.3.0, metaworld, fast-simplification, glfw, pyopengl for
# its Python) and set GPU_WHEELS=.gpu/whl: they are installed into a folder on PYTHONPATH first.
set -uo pipefail
OUT=${OUT:-gpu_out}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
if [ -n "${GPU_WHEELS:-}" ]; then
  site=$(mktemp -d)
  "$PY" -m pip install -q --no-index --no-deps --target "$site" "$GPU_WHEELS"/*.whl || exit 1
  export PYTHONPATH="$site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  "$PY" -c "import torch, platform; print('python', platform.python_version(), 'torch', torch.__version__, 'cuda', torch.version.cuda)"
  git rev-parse HEAD 2>/dev/null; } > "$OUT/machine.txt" 2>&1
status=0
timeout 330 "$PY" benchmarks/agent_throughput.py --env-presets --device cuda --compile none,reduce-overhead --quick \
  --budget-s 240 --markdown-out "$OUT/agent_throughput_cuda.md" > "$OUT/agent_throughput.log" 2>&1 || status=1
timeout 200 "$PY" benchmarks/protocol_cost.py --agents meld --envs meld/Reacher-v0 --preset pixels-100k --chunk 1000 \
  --budget-s 150 --markdown-out "$OUT/protocol_cost_cuda.md" > "$OUT/protocol_cost.log" 2>&1 || status=1
tail -n 30 "$OUT"/*.md
exit $status
