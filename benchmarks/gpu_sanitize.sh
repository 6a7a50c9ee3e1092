#!/usr/bin/env bash
# compute-sanitizer over the CUDA code on a lent GPU machine, after gpu_check.sh built the
# engine: racecheck of the fused top-k (both arithmetics), memcheck of the top-k and of the
# engine's CUDA forward. Each run is bounded (sanitized programs run 10-100x slower). Failed
# driver calls are not reported: numba-cuda's bindings probe for entry points that this
# driver lacks (cuGetProcAddress), which memcheck would count as errors.
#   usage: benchmarks/gpu_sanitize.sh OUT_DIR
set -uo pipefail
out=${1:?output folder}
mkdir -p "$out"
export PATH=/usr/local/cuda/bin:$PATH PYTHONUNBUFFERED=1
sanitize() {  # name tool seconds pytest-args...
  local name=$1 tool=$2 seconds=$3; shift 3
  timeout "$seconds" compute-sanitizer --tool "$tool" --error-exitcode 9 --report-api-errors no \
    python3 -m pytest -q -p no:cacheprovider -o addopts="" "$@" >"$out/$name.log" 2>&1
  echo "$name: exit $? (9: errors found; 124: stopped at ${seconds} s)"
  grep -E "RACECHECK SUMMARY|ERROR SUMMARY|passed|failed" "$out/$name.log" | tail -3
}
sanitize racecheck-topk racecheck 90 tests/selection/test_topk_gpu.py \
  -k "fused and (70-1000 or 17-3000 or 16-5000) and not numba"
sanitize memcheck-topk memcheck 100 tests/selection/test_topk_gpu.py \
  -k "not numba_cuda and not 2000-16500 and not real_valued and not 100000"
sanitize memcheck-forward memcheck 80 tests/ranker/test_engine_synthetic.py -k "cuda and not 100000"
