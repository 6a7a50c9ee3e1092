#!/usr/bin/env bash
# One call on a lent GPU machine (the `device` tool): build the engine with CUDA, run the
# whole host+GPU test suite for the kernels, memcheck the CUDA kernels, then benchmark.
#   usage: benchmarks/gpu_check.sh OUT_DIR [bench args...]
set -uo pipefail
out=${1:?output folder}; shift
mkdir -p "$out"
export PATH=/usr/local/cuda/bin:$PATH PYTHONUNBUFFERED=1
# numba-cuda (0.30.4 and older) still registers np.row_stack, which NumPy 2.4 removed: on
# such an image, alias it before numba.cuda loads (the pinned Merlin stack is unaffected).
shim=$(mktemp -d) && printf 'import numpy\nif not hasattr(numpy, "row_stack"):\n    numpy.row_stack = numpy.vstack\n' >"$shim/sitecustomize.py"
export PYTHONPATH=$shim${PYTHONPATH:+:$PYTHONPATH}
python3 -m pip list 2>/dev/null | grep -iE "^(numpy|numba|numba-cuda|cupy|pybind11|torch|scikit-build-core) "
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv | tee "$out/gpu.txt"

echo "== build" && python3 -m pip install -q --no-build-isolation --no-deps . \
  -Cbuild-dir=/tmp/shoprank-build -Ccmake.define.SHOPRANK_CUDA=ON \
  -Ccmake.define.CMAKE_CUDA_ARCHITECTURES=90 >"$out/build.log" 2>&1 \
  || { tail -40 "$out/build.log"; exit 1; }
python3 -c "import shoprank, json; print(json.dumps(shoprank.build_info()))"

echo "== tests" && python3 -m pytest tests/selection -q -p no:cacheprovider \
  -o addopts="" 2>&1 | tee "$out/tests.log" | tail -25

echo "== racecheck" && compute-sanitizer --tool racecheck --error-exitcode 9 python3 -m pytest \
  tests/selection/test_topk_gpu.py -q -p no:cacheprovider -o addopts="" -k "fused and 70-1000 and not numba" \
  >"$out/racecheck.log" 2>&1; echo "racecheck exit $?"; grep -E "RACECHECK SUMMARY|ERROR SUMMARY|passed|failed" "$out/racecheck.log" | tail -3

echo "== memcheck" && compute-sanitizer --tool memcheck --error-exitcode 9 python3 -m pytest \
  tests/selection/test_topk_gpu.py -q -p no:cacheprovider -o addopts="" -k "not numba_cuda" \
  >"$out/memcheck.log" 2>&1; echo "memcheck exit $?"; grep -E "ERROR SUMMARY|passed|failed" "$out/memcheck.log" | tail -3

echo "== bench" && python3 benchmarks/bench_topk.py --device gpu --out "$out" "$@" 2>&1 \
  | grep -v "configs:" | tail -60
