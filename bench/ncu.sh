#!/usr/bin/env bash
# Nsight Compute profile of the CUDA escape kernel on workload B (float and double).
# Prints the metrics that matter: SM throughput, FMA/FP64 pipe use, warp
# divergence (active threads per executed instruction) and achieved occupancy.
#   bench/ncu.sh [output-dir]         (needs a GPU and ncu on PATH or in /usr/local/cuda/bin)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/results/ncu}
bin=${FRACTAL_BENCH_BIN:-build/bin/fractal-bench-kernels}
ncu=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
mkdir -p "$out"
metrics=(
  sm__throughput.avg.pct_of_peak_sustained_elapsed
  sm__pipe_fma_cycles_active.avg.pct_of_peak_sustained_active
  sm__pipe_fp64_cycles_active.avg.pct_of_peak_sustained_active
  smsp__thread_inst_executed_per_inst_executed.ratio
  sm__warps_active.avg.pct_of_peak_sustained_active
  launch__registers_per_thread
  gpu__time_duration.sum
)
metric_list=$(IFS=,; echo "${metrics[*]}")
for precision in float double; do
  "$ncu" --target-processes all --kernel-name regex:escape --launch-skip 1 --launch-count 1 \
    --metrics "$metric_list" --csv \
    "$bin" --backend cuda --workload B --precision "$precision" --repeat 2 \
    >"$out/ncu-B-$precision.csv"
  echo "== workload B, $precision"
  grep -E '"(sm__|smsp__|launch__|gpu__)' "$out/ncu-B-$precision.csv" | awk -F'","' '{print $(NF-2) " = " $NF}' | tr -d '"'
done
