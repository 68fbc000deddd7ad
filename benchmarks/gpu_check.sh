#!/usr/bin/env bash
# The GPU check (issue 14): one command, at most ~8 minutes on one GPU, on a machine that has
# this repository and a CUDA torch and nothing of this project installed.
#
#   bash benchmarks/gpu_check.sh              # PYTHON (default python3) is the one with CUDA torch
#   bash benchmarks/gpu_check.sh --dry-run    # print the steps, run nothing
#   bash benchmarks/gpu_check.sh --cpu        # the same steps on a CPU torch, tiny model and
#                                             # quick run: checks this script without a GPU
#   GPU_CHECK_OUT=DIR bash ...                # results and logs to DIR (default benchmarks/results)
#
# 1. A venv that sees the CUDA torch and never replaces it: PYTHON's own venv if it is one,
#    else .venv-gpu made with --system-site-packages. In it, from the package registry only:
#    this project (--no-deps, for its console script), then its dependencies with the dev and
#    distributed extras (pytest, pytest-timeout, Ray) as pyproject.toml pins them, except
#    torch, which a constraints file holds at the installed build (pip fails rather than
#    replace it). torchaudio is never installed (beside torch 2.13 it breaks `import funasr`).
# 2. The full-size synthetic checkpoint (1.95 GB model.pt, real architecture) that run.py
#    measures: benchmarks/.work/full-model, built once.
# 3. `pytest -m gpu`: the tests that need CUDA (float16/bfloat16 against float32 and FunASR,
#    padded batches of 16, peak VRAM, a real out-of-memory, --gpus-per-replica on Ray).
# 4. `benchmarks/run.py --device cuda`: this engine beside FunASR's own path in the same run,
#    the table against issue 14's targets, and the parity checks (exit 1 when broken).
# 5. `benchmarks/live_latency.py --device cuda --seconds 60`: live update latency p50/p95 at a
#    0.5 s hop (issue 17: p95 under 150 ms), tiny and full-size.
# Every step runs even when an earlier test or check fails, so one run gives every number;
# the exit status is non-zero when any step failed.
set -uo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

DRY=0 CPU=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY=1 ;;
    --cpu) CPU=1 ;;
    -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option: $arg (see --help)" >&2; exit 2 ;;
  esac
done
PYTHON=${PYTHON:-python3}
VENV=${GPU_CHECK_VENV:-.venv-gpu}
OUT=${GPU_CHECK_OUT:-benchmarks/results}
WORK=benchmarks/.work
SIZE=full
[ "$CPU" = 1 ] && SIZE=tiny
MODEL=$WORK/$SIZE-model
STAMP=$(date +%Y-%m-%d-%H%M%S)
LOG=$OUT/gpu-check-$STAMP.log
FAILED=()
STARTED=$SECONDS

step() {  # step NAME WHAT COMMAND...: run it (or only say what it does), time it
  local name=$1 what=$2 begun=$SECONDS
  shift 2
  echo
  echo "=== $name: $what"
  [ "$DRY" = 1 ] && return 0
  if "$@" 2>&1 | tee -a "$LOG"; then
    echo "=== $name: done in $((SECONDS - begun)) s"
  else
    echo "=== $name: FAILED (exit ${PIPESTATUS[0]}) after $((SECONDS - begun)) s"
    FAILED+=("$name")
  fi
}

# The interpreter with the CUDA torch, and what it has.
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "$PYTHON: Python >= 3.10 needed (set PYTHON=/path/to/python3)" >&2; exit 2
fi
read -r TORCH_VERSION TORCH_CUDA IN_VENV < <("$PYTHON" -c '
import sys
try:
    import torch
except ImportError:
    print("none 0", int(sys.prefix != sys.base_prefix)); sys.exit()
print(torch.__version__, int(torch.cuda.is_available()), int(sys.prefix != sys.base_prefix))')
if [ -z "${TORCH_VERSION:-}" ] || [ "$TORCH_VERSION" = none ]; then
  echo "$PYTHON has no torch: this check uses the machine's CUDA torch (set PYTHON)" >&2; exit 2
fi
if [ "$TORCH_CUDA" != 1 ] && [ "$CPU" != 1 ]; then
  echo "$PYTHON's torch $TORCH_VERSION sees no CUDA GPU (--cpu checks the script on a CPU)" >&2
  exit 2
fi
if [ "$IN_VENV" = 1 ]; then
  VPY=$("$PYTHON" -c 'import sys; print(sys.executable)')
else
  VPY=$VENV/bin/python
fi
[ "$DRY" = 1 ] || mkdir -p "$OUT" "$WORK"
echo "torch $TORCH_VERSION (CUDA: $TORCH_CUDA) from $PYTHON; venv python: $VPY; log: $LOG"

make_venv() {
  [ -x "$VPY" ] || "$PYTHON" -m venv --system-site-packages "$VENV"
}

install() {
  local constraints=$WORK/gpu-check-constraints.txt requirements=$WORK/gpu-check-requirements.txt
  echo "torch==$TORCH_VERSION" > "$constraints"
  "$VPY" -m pip install -q --no-deps -c "$constraints" -e . || return 1
  # The project's own pins (pyproject.toml, through the installed metadata), less torch.
  "$VPY" - > "$requirements" <<'EOF' || return 1
import re
from importlib.metadata import requires

for requirement in requires("emotion2vec-app"):
    spec, _, marker = (part.strip() for part in requirement.partition(";"))
    name = re.match(r"[A-Za-z0-9_.-]+", spec)[0].lower().replace("_", "-")
    extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)", marker)
    if name not in ("torch", "torchaudio") and (not extra or extra[1] in ("dev", "distributed")):
        print(spec)
EOF
  "$VPY" -m pip install -q -c "$constraints" -r "$requirements" || return 1
  # The torch that answers is still the machine's own, and no torchaudio came with the rest.
  "$VPY" - "$TORCH_VERSION" "$TORCH_CUDA" <<'EOF'
import importlib.util
import sys

import torch

version, cuda = sys.argv[1], sys.argv[2] == "1"
assert torch.__version__ == version, f"torch {torch.__version__} replaced {version}"
assert torch.cuda.is_available() == cuda, "torch no longer sees the GPU"
spec = importlib.util.find_spec("torchaudio")
assert spec is None or not spec.origin.startswith(sys.prefix), f"torchaudio installed: {spec}"
print(f"torch {torch.__version__} kept ({torch.__file__})")
EOF
}

build_model() {  # where benchmarks/run.py looks for it, with the same seed
  if [ -f "$MODEL/model.pt" ]; then
    echo "$MODEL is there"
  else
    "$VPY" -m emotion2vec_app.model.synthetic "$MODEL" --size "$SIZE" --seed 0
  fi
}

gpu_tests() {
  "$VPY" -m pytest -m gpu -q -rs -p no:cacheprovider --junitxml "$OUT/gpu-tests-$STAMP.xml"
}

benchmark() {
  if [ "$CPU" = 1 ]; then
    "$VPY" benchmarks/run.py --quick --device cpu --work "$WORK" --out "$OUT"
  else
    "$VPY" benchmarks/run.py --device cuda --work "$WORK" --out "$OUT"
  fi
}

live_latency() {  # a minute of microphone-paced speech per model (issue 17's GPU target)
  if [ "$CPU" = 1 ]; then
    "$VPY" benchmarks/live_latency.py --quick --work "$WORK" --out "$OUT"
  else
    "$VPY" benchmarks/live_latency.py --device cuda --seconds 60 --work "$WORK" --out "$OUT"
  fi
}

if [ "$DRY" = 1 ]; then
  echo "(dry run: the steps below are printed, not run)"
else
  "$PYTHON" -c 'import torch; print(torch.cuda.get_device_name(0))' 2>/dev/null || true
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || true
fi
step venv "$VPY (made with --system-site-packages if missing)" make_venv
step install "pip install --no-deps -e . and the pinned dependencies, torch==$TORCH_VERSION" \
  install
step checkpoint "the $SIZE-size synthetic checkpoint in $MODEL" build_model
step "gpu tests" "$VPY -m pytest -m gpu" gpu_tests
step benchmark "benchmarks/run.py$([ "$CPU" = 1 ] && echo " --quick --device cpu" \
  || echo " --device cuda") --out $OUT" benchmark
step live "benchmarks/live_latency.py$([ "$CPU" = 1 ] && echo " --quick" \
  || echo " --device cuda --seconds 60"): update latency p50/p95 at a 0.5 s hop" live_latency

total=$((SECONDS - STARTED))
echo
echo "gpu_check: ${total} s in all$([ "$total" -gt 480 ] && echo ", over the 8-minute budget")"
if [ ${#FAILED[@]} -gt 0 ]; then
  echo "gpu_check: FAILED: ${FAILED[*]} (log: $LOG)"
  exit 1
fi
echo "gpu_check: every step passed"
