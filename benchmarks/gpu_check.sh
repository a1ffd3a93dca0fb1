#!/usr/bin/env bash
# The GPU check: everything that needs a CUDA device, in one run of under 8 minutes on one GPU,
# without network access (CuPy, NumPy, torch with cuDNN, pytest and Hypothesis must already be
# installed; `pip install -e ".[dev,gpu-cuda13]"` where they are not).
#
#   benchmarks/gpu_check.sh                 # from anywhere; OUT=/some/dir to keep the logs there
#
# Runs, each under its own time limit:
#   1. every cuda-parametrised test (pytest -k cuda), torch required;
#   2. every example with --quick --device cuda;
#   3. `python -m tinygrad_rnn train --device cuda --steps 200`, then an exact-resume check
#      (100 + 100 steps with dropout must equal 200 straight), sample and eval on cuda;
#   4. benchmarks/bench_rnn.py --device cuda against torch's cuDNN, when it has that option.
# Each check has its own time limit, all within GPU_CHECK_BUDGET (450 s by default).
# Writes one PASS/FAIL/SKIP line per step (and the bench table) to ${OUT:-/tmp}/gpu_summary.txt
# and each step's full output next to it; exits non-zero when anything failed.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
OUT_DIR="${OUT:-/tmp}"
mkdir -p "$OUT_DIR/gpu_check"
LOGS="$OUT_DIR/gpu_check"
SUMMARY="$OUT_DIR/gpu_summary.txt"
PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-dev}"
export TINYGRAD_RNN_REQUIRE_TORCH=1
BUDGET="${GPU_CHECK_BUDGET:-450}"     # seconds; a check that would start later is skipped (8-minute slot)
failures=0
started=$(date +%s)

note() {
    printf '%s\n' "$*" | tee -a "$SUMMARY"
}

# check NAME SECONDS COMMAND...: run COMMAND with a time limit, log its output, record the result
check() {
    local name=$1 limit=$2
    shift 2
    local t0 rc
    t0=$(date +%s)
    if [ $((t0 - started)) -ge "$BUDGET" ]; then
        failures=$((failures + 1))
        note "SKIP  $name (over the ${BUDGET} s budget: counted as a failure)"
        return
    fi
    if [ $((t0 - started + limit)) -gt "$BUDGET" ]; then
        limit=$((BUDGET - (t0 - started)))
    fi
    timeout --kill-after=10 "$limit" "$@" >"$LOGS/$name.log" 2>&1
    rc=$?
    if [ "$rc" -eq 0 ]; then
        note "PASS  $name ($(($(date +%s) - t0)) s)"
    else
        failures=$((failures + 1))
        [ "$rc" -eq 124 ] && rc="timeout after ${limit} s"
        note "FAIL  $name (exit $rc, $(($(date +%s) - t0)) s; last lines of $LOGS/$name.log:)"
        tail -n 15 "$LOGS/$name.log" | sed 's/^/      /' | tee -a "$SUMMARY"
    fi
}

: >"$SUMMARY"
note "tinygrad_rnn GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if ! "$PY" - >>"$SUMMARY" 2>&1 <<'EOF'
import cupy, numpy
import tinygrad_rnn as tg
props = cupy.cuda.runtime.getDeviceProperties(0)
print(f"device: {props['name'].decode()}, CuPy {cupy.__version__}, NumPy {numpy.__version__}, "
      f"CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}")
assert tg.cuda_available(), "tinygrad_rnn does not see the GPU"
EOF
then
    note "FAIL  no usable CUDA device or CuPy here: nothing else can run"
    exit 1
fi
tail -n 1 "$SUMMARY"

# 1. tests: every test parametrised over devices has a [cuda] case; -k cuda also picks the
#    tests about CUDA by name. Torch is installed there, so its parity tests must not skip.
check tests-cuda 270 "$PY" -m pytest -q -p no:cacheprovider -x -k cuda -rs tests/

# 2. examples, quick mode, on the GPU (figures into the log directory)
for example in examples/*.py; do
    name=$(basename "$example" .py)
    case "$name" in _*) continue ;; esac
    check "example-$name" 60 "$PY" "$example" --quick --device cuda --out "$LOGS/runs/$name"
done

# 3. the main job: 200 steps on cuda, exact resume with dropout, sample and eval
RUN="$LOGS/charlm"
rm -rf "$RUN" "$RUN-straight" "$RUN-split"
check train-cuda-200 150 "$PY" -m tinygrad_rnn train --device cuda --steps 200 --eval-every 100 \
    --hidden 128 --no-progress --out "$RUN"
check sample-cuda 30 "$PY" -m tinygrad_rnn sample "$RUN" --device cuda --length 200 --seed 0
check eval-cuda 60 "$PY" -m tinygrad_rnn eval "$RUN" --device cuda
SMALL=(--device cuda --hidden 64 --layers 2 --dropout 0.3 --eval-every 20 --eval-chars 2000
       --sample-length 0 --no-progress)
cat >"$LOGS/same_weights.py" <<'EOF'
import sys
import numpy as np
from tinygrad_rnn.checkpoint import load_checkpoint
a, b = load_checkpoint(sys.argv[1])[0], load_checkpoint(sys.argv[2])[0]
bad = [k for k in a if not k.startswith("history.") and not np.array_equal(a[k], b[k])]
print("bit-identical" if not bad else f"differ: {bad}")
sys.exit(1 if bad else 0)
EOF
# shellcheck disable=SC2016  # the inner bash expands them
check resume-exact-cuda 120 bash -c '
    set -e
    py=$1 straight=$2 split=$3 compare=$4
    shift 4
    "$py" -m tinygrad_rnn train "$@" --steps 40 --out "$straight"
    "$py" -m tinygrad_rnn train "$@" --steps 20 --out "$split"
    "$py" -m tinygrad_rnn train --resume "$split" --steps 40 --device cuda --no-progress
    "$py" "$compare" "$straight" "$split"' _ "$PY" "$RUN-straight" "$RUN-split" "$LOGS/same_weights.py" "${SMALL[@]}"

# 4. the layer benchmark against torch (cuDNN), if bench_rnn.py knows --device
if "$PY" benchmarks/bench_rnn.py --help 2>/dev/null | grep -q -- "--device"; then
    bench=(--device cuda)
    if "$PY" benchmarks/bench_rnn.py --help 2>/dev/null | grep -q -- "--repeat"; then
        bench+=(--repeat 3)
    fi
    check bench-rnn-cuda 150 "$PY" benchmarks/bench_rnn.py "${bench[@]}"
    if [ -s "$LOGS/bench-rnn-cuda.log" ]; then
        note "bench_rnn.py ${bench[*]}:"
        sed 's/^/      /' "$LOGS/bench-rnn-cuda.log" >>"$SUMMARY"
    fi
else
    note "SKIP  bench-rnn-cuda (benchmarks/bench_rnn.py has no --device option)"
fi

note "$failures failure(s), $(($(date +%s) - started)) s in all; logs in $LOGS"
[ "$failures" -eq 0 ]
