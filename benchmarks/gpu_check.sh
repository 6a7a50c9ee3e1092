#!/usr/bin/env bash
# One call on a lent GPU machine (the `device` tool) for the top-k kernels: build the engine
# with CUDA, run the GPU tests, benchmark, time each kernel of one call (Nsight Compute),
# count the tensor-core instructions (gpu_sanitize.sh runs the sanitizers).
#   usage: benchmarks/gpu_check.sh OUT_DIR [bench_topk args...]
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

echo "== tests" && python3 -m pytest tests/selection/test_topk_gpu.py tests/selection/test_topk_errors.py \
  -q -p no:cacheprovider -o addopts="" 2>&1 | tee "$out/tests.log" | tail -25

echo "== bench" && python3 benchmarks/bench_topk.py --device gpu --out "$out" "$@" 2>&1 \
  | grep -v "configs:" | tail -60

echo "== tensor-core instructions per kernel (SASS)"
so=$(python3 -c "import shoprank._engine as e; print(e.__file__)")
cuobjdump --dump-sass "$so" | awk '/Function :/ {f = $3} /HMMA/ {n[f]++} END {for (k in n) print n[k], k}'

echo "== kernel times of one call (ncu)"
for cell in "1024 tf32x3" "1024 fma" "64 tf32x3" "1 tf32x3"; do
  read -r batch math <<<"$cell"
  SHOPRANK_CUDA_TOPK_MATH=$math timeout 120 ncu --csv --clock-control none --profile-from-start off \
    --metrics gpu__time_duration.sum python3 benchmarks/topk_kernel_times.py run --batch "$batch" \
    >"$out/ncu-$batch-$math.csv" 2>"$out/ncu-$batch-$math.err"
  echo "B=$batch N=1e6 d=64 k=100, $math:"
  python3 benchmarks/topk_kernel_times.py summarize "$out/ncu-$batch-$math.csv" || tail -5 "$out/ncu-$batch-$math.err"
done

echo "== where the wide tensor-core tiles spend their cycles (ncu sections, one launch)"
timeout 90 ncu --clock-control none --profile-from-start off --kernel-name regex:tf32x3 \
  --launch-skip 8 --launch-count 1 --section SpeedOfLight --section WarpStateStats \
  --section Occupancy --section ComputeWorkloadAnalysis \
  python3 benchmarks/topk_kernel_times.py run --batch 1024 >"$out/ncu-detail.txt" 2>&1
grep -E "Duration|Throughput|Pipe|Occupancy|Warp Cycles|Issue Slots|stall|Stall" "$out/ncu-detail.txt" | head -30
