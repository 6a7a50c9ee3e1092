#!/usr/bin/env bash
# Everything issue 22 checks, in one call on a lent GPU machine: the top-k kernels
# (gpu_check.sh), the ranking engine on the model that benchmarks/gpu_fixture.py exported
# here (gpu_ranker_check.sh), then the sanitizers (gpu_sanitize.sh). Every log is packed into
# OUT/logs.tgz after each part (the device tool brings back at most 8 files).
#   usage: benchmarks/gpu_session.sh OUT [bench_topk args...]
#   device: run(command="bash benchmarks/gpu_session.sh $OUT", carry=["gpu_fixture"])
set -uo pipefail
out=${1:?output folder}; shift
work=$(mktemp -d)
pack() { tar czf "$out/logs.tgz" -C "$work" . ; }
bash benchmarks/gpu_check.sh "$work/topk" "$@"; pack
bash benchmarks/gpu_ranker_check.sh "$work/ranker" gpu_fixture; pack
bash benchmarks/gpu_sanitize.sh "$work/sanitize"; pack
