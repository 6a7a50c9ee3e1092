#!/usr/bin/env bash
# One call on a lent GPU machine (the `device` tool) for the ranking engine: build with
# CUDA, run the engine's GPU tests (CUDA forward vs CPU on random models; gpu_sanitize.sh
# memchecks them), check CUDA against the CPU engine and TensorFlow on a real model, then
# time the native engine on CPU and GPU. ARTIFACTS_DIR: what benchmarks/gpu_fixture.py wrote (an export plus
# TensorFlow's scores of stored requests; carry it: run(..., carry=["gpu_fixture"])).
#   usage: benchmarks/gpu_ranker_check.sh OUT_DIR ARTIFACTS_DIR
set -uo pipefail
out=${1:?output folder}; artifacts=${2:?artifact folder (benchmarks/gpu_fixture.py --out)}
mkdir -p "$out"
export PATH=/usr/local/cuda/bin:$PATH PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version --format=csv | tee "$out/gpu.txt"

echo "== build" && python3 -m pip install -q --no-build-isolation --no-deps . \
  -Cbuild-dir=/tmp/shoprank-build -Ccmake.define.SHOPRANK_CUDA=ON \
  -Ccmake.define.CMAKE_CUDA_ARCHITECTURES=90 >"$out/build.log" 2>&1 \
  || { tail -40 "$out/build.log"; exit 1; }
python3 -c "import shoprank, json; print(json.dumps(shoprank.build_info()))"

echo "== tests" && python3 -m pytest tests/ranker/test_engine_synthetic.py -q -p no:cacheprovider \
  -o addopts="" 2>&1 | tee "$out/tests.log" | tail -15

echo "== parity" && python3 benchmarks/gpu_ranker_parity.py "$artifacts" 2>&1 \
  | tee "$out/parity.log"
echo "parity exit ${PIPESTATUS[0]}"

echo "== bench" && python3 benchmarks/bench_ranker.py --artifacts "$artifacts" --device cpu cuda \
  --threads 1 8 --candidates 1000 10000 --seconds 3 --out "$out" 2>&1 | tail -14
