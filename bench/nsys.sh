#!/usr/bin/env bash
# Nsight Systems timeline of the kernel benchmark: NVTX ranges "batch",
# "kernel", "copy" and "encode" show how copies overlap compute.
#   bench/nsys.sh [output-dir]        (needs a GPU and nsys)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/results/nsys}
bin=${FRACTAL_BENCH_BIN:-build/bin/fractal-bench-kernels}
nsys=$(command -v nsys || true)
for candidate in /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems/*/bin/nsys; do
  if [[ -z "$nsys" && -x "$candidate" ]]; then nsys=$candidate; fi
done
mkdir -p "$out"
"$nsys" profile --force-overwrite true --trace cuda,nvtx,osrt --output "$out/kernels" \
  "$bin" --backend cuda --workload all --repeat 3 --pipeline
"$nsys" stats --report nvtx_sum,cuda_gpu_kern_sum,cuda_gpu_mem_time_sum "$out/kernels.nsys-rep" | tee "$out/summary.txt"
