#!/usr/bin/env bash
# Small tasks per second end to end with one fractal-worker, at --batch 1 and
# --batch 32 (only the worker is restarted between runs). Loopback only; stops
# by itself (each run gives up after TIMEOUT seconds).
#
#   bench/service/small_tasks.sh                 # N=300 tasks of 256x256, max_iter 256, PNG
#   N=500 BATCHES="1 8 32" bench/service/small_tasks.sh
#
# Per run: a fresh user; N POST /add are sent through the API as fast as one
# curl with PAR parallel keep-alive transfers can (no worker running, so the
# queue is full when it starts); then a fractal-worker --batch B is started
# and /stats is polled until the user's N tasks are done (or failed). Reported:
#   submit rps          = N / submission time
#   drain tasks/s       = N / (worker start -> last task seen done), includes worker start-up
#   worker tasks/s      = N / (first started_at -> last finished_at), from the task objects
#   e2e tasks/s         = N / (first submit -> last task seen done)
# At the end GET /metrics is dumped (queue wait and render time histograms).
#
# SUBMIT=batch: the N tasks go in as POST /add {"tasks": [...]} requests of up
# to 1,000 each (the time of each is reported), and the same renders and PNG
# encodes are first timed in-process (fractal-bench-kernels --small-tasks N, one
# CPU worker's work without the service) for the e2e ratio.
# Environment (defaults): BIN_DIR (build-ci/bin), N (300), PAR (16), SUBMIT (single), BATCHES
# ("1 32"), BACKEND (auto), TIMEOUT (300), RAW_DIR (none: where to copy the
# /metrics text and the task lists), BENCH_PORT (21281), BENCH_PG_PORT (21232),
# BENCH_REDIS_PORT (21279), KEEP_STACK (0).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bin_dir=${BIN_DIR:-$root/build-ci/bin}
n=${N:-300}
par=${PAR:-16}
batches=${BATCHES:-1 32}
backend=${BACKEND:-auto}
timeout=${TIMEOUT:-300}
raw_dir=${RAW_DIR:-}
port=${BENCH_PORT:-21281}
base=http://127.0.0.1:$port
body='{"width":256,"height":256,"max_iter":256,"format":"png"}'

for b in fractal-server fractal-worker; do
  [[ -x $bin_dir/$b ]] || { echo "small_tasks: $bin_dir/$b missing" >&2; exit 1; }
done

stack_dir=$(mktemp -d /tmp/fractal-bench-small.XXXXXX)
export FRACTAL_STACK_DIR=$stack_dir FRACTAL_BIN_DIR=$bin_dir FRACTAL_PORT=$port
export FRACTAL_PG_PORT=${BENCH_PG_PORT:-21232} FRACTAL_REDIS_PORT=${BENCH_REDIS_PORT:-21279}
export FRACTAL_QUOTA=0
worker_pid=
if [[ -n $raw_dir ]]; then mkdir -p "$raw_dir"; fi

stop_worker() {
  if [[ -n $worker_pid ]] && kill -0 "$worker_pid" 2>/dev/null; then
    kill -TERM "$worker_pid"
    for _ in $(seq 150); do kill -0 "$worker_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$worker_pid" 2>/dev/null || true
  fi
  worker_pid=
}
cleanup() {
  stop_worker
  # The runs' loop is a pipeline (a subshell): its worker pid comes back through a file.
  if [[ -s $stack_dir/bench-worker.pid ]]; then kill -KILL "$(cat "$stack_dir/bench-worker.pid")" 2>/dev/null || true; fi
  "$root/scripts/stack" down >/dev/null 2>&1 || true
  if [[ ${KEEP_STACK:-0} != 1 ]]; then rm -rf "$stack_dir"; else echo "stack kept in $stack_dir"; fi
}
trap cleanup EXIT

"$root/scripts/stack" up >/dev/null
# Replace the stack's worker (default flags) by ours, one at a time.
stack_worker=$(cat "$stack_dir/run/worker.pid")
kill -TERM "$stack_worker"
for _ in $(seq 150); do kill -0 "$stack_worker" 2>/dev/null || break; sleep 0.1; done

# The same environment scripts/stack gives its worker.
export FRACTAL_PG="host=127.0.0.1 port=$FRACTAL_PG_PORT user=postgres dbname=fractal"
export FRACTAL_REDIS=127.0.0.1:$FRACTAL_REDIS_PORT
export FRACTAL_DATA_DIR=$stack_dir/data
export FRACTAL_JWT_SECRET_FILE=$stack_dir/jwt-secret

now() { date +%s.%N; }
# A curl config that POSTs the body N times, up to PAR at once, on keep-alive
# connections (Pistache closes them unless asked); prints one status code a line.
submit_config() {  # submit_config <token>
  local i
  printf 'parallel\nparallel-max = %d\n' "$par"
  for i in $(seq "$n"); do
    if ((i > 1)); then printf 'next\n'; fi
    printf 'url = "%s"\nrequest = "POST"\nheader = "Content-Type: application/json"\n' "$base/add"
    printf 'header = "Authorization: Bearer %s"\nheader = "Connection: keep-alive"\n' "$1"
    printf 'data = "%s"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\nsilent\n' "${body//\"/\\\"}"
  done
}
echo "# stack at $base, stack dir $stack_dir, nproc $(nproc), N=$n tasks of $body, $par parallel curls"
submit_mode=${SUBMIT:-single}
reference_rate=
if [[ $submit_mode == batch ]]; then
  ref_line=$("$bin_dir/fractal-bench-kernels" --backend "${backend/auto/cpu}" --workload none --small-tasks "$n" | grep '^small_tasks ')
  echo "REFERENCE $ref_line"
  reference_rate=$(sed -n 's/.* tasks_per_s=\([^ ]*\).*/\1/p' <<<"$ref_line")
fi
# POST /add {"tasks": [...]} of up to 1,000 bodies each; prints one status code a line per request.
submit_batches() {  # submit_batches <token>
  local left=$n k chunk json t_a t_b
  while ((left > 0)); do
    chunk=$((left < 1000 ? left : 1000))
    json='{"tasks":['
    for ((k = 0; k < chunk; k++)); do json+="${body}"; ((k + 1 < chunk)) && json+=','; done
    json+=']}'
    t_a=$(now)
    code=$(curl -sS -o /dev/null -w '%{http_code}' -XPOST "$base/add" -H 'Content-Type: application/json' \
      -H "Authorization: Bearer $1" --data-binary "$json")
    t_b=$(now)
    awk -v c="$chunk" -v a="$t_a" -v b="$t_b" -v code="$code" 'BEGIN {printf "BATCH_SUBMIT tasks=%d status=%s seconds=%.3f\n", c, code, b - a}' >&2
    for ((k = 0; k < chunk; k++)); do echo "$code"; done
    left=$((left - chunk))
  done
}

for batch in $batches; do
  user=small_${batch}_$RANDOM$RANDOM
  pass=bench-password-1
  curl -fsS -o /dev/null -XPOST "$base/sign-up" -H 'Content-Type: application/json' \
    -d "{\"username\":\"$user\",\"password\":\"$pass\"}"
  token=$(curl -fsS -XPOST "$base/sign-in" -H 'Content-Type: application/json' \
    -d "{\"username\":\"$user\",\"password\":\"$pass\"}" | jq -r .access_token)

  # 1. Submit all N through the API with no worker running (so the submission
  # does not share the 2 cores with rendering and the worker starts on a full queue).
  t0=$(now)
  if [[ $submit_mode == batch ]]; then
    codes=$(submit_batches "$token")
  else
    codes=$(submit_config "$token" | curl --silent --config - 2>/dev/null)
  fi
  t_submit=$(now)
  accepted=$(grep -c '^202$' <<<"$codes" || true)

  # 2. Start the worker and poll /stats until the user's tasks are all done (or failed).
  log=$stack_dir/logs/worker-batch$batch.log
  t_worker=$(now)
  setsid "$bin_dir/fractal-worker" --name "bench-worker-batch$batch" --batch "$batch" --backend "$backend" \
    >"$log" 2>&1 </dev/null &
  worker_pid=$!
  echo "$worker_pid" >"$stack_dir/bench-worker.pid"
  finished=0
  deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    stats=$(curl -fsS "$base/stats" -H "Authorization: Bearer $token")
    finished=$(jq -r '.tasks.done + .tasks.failed' <<<"$stats")
    ((finished >= accepted)) && break
    sleep 0.05
  done
  t_end=$(now)

  # Every task object of the user (GET /tasks pages of 500).
  pages=$stack_dir/pages-$batch
  mkdir -p "$pages"
  before=
  for ((page = 0; ; page++)); do
    curl -fsS "$base/tasks?limit=500${before:+&before=$before}" -H "Authorization: Bearer $token" >"$pages/$page.json"
    (($(jq '.tasks | length' "$pages/$page.json") == 500)) || break
    before=$(jq -r '.tasks[-1].id' "$pages/$page.json")
  done
  tasks=$(jq -s -c '{tasks: (map(.tasks) | add)}' "$pages"/*.json)
  if [[ -n $raw_dir ]]; then
    mkdir -p "$raw_dir"
    jq -r '["id", "status", "created_at", "started_at", "finished_at", "render_ms", "backend"],
      (.tasks[] | [.id, .status, .created_at, .started_at, .finished_at, .render_ms, .backend]) | @tsv' \
      <<<"$tasks" >"$raw_dir/small-tasks-batch$batch-tasks.tsv"
    { head -n 15 "$log"; echo "[... $(wc -l <"$log") lines in all ...]"; tail -n 15 "$log"; } \
      >"$raw_dir/small-tasks-batch$batch-worker-log.txt"
  fi
  # Worker-side span, from the task objects: first started_at to last finished_at.
  span=$(jq -r '[.tasks[] | select(.status == "done")] as $d
    | def secs: sub("Z$"; "") | capture("^(?<s>[^.]*)(?<f>\\.[0-9]*)?$") | ((.s + "Z" | fromdateiso8601) + ((.f // ".0") | tonumber));
    [($d | map(.started_at | secs) | min), ($d | map(.finished_at | secs) | max),
     ($d | map(.render_ms) | add / length), ($d | length), (.tasks | map(.backend) | unique | join(","))] | @tsv' <<<"$tasks")
  read -r first_start last_finish mean_render_ms done_count backends <<<"$span"
  failed=$(jq -r '.tasks.failed' <<<"$stats")
  awk -v b="$batch" -v n="$n" -v acc="$accepted" -v dc="$done_count" -v f="$failed" \
    -v t0="$t0" -v ts="$t_submit" -v tw="$t_worker" -v te="$t_end" -v s0="$first_start" -v s1="$last_finish" -v mr="$mean_render_ms" -v be="$backends" \
    'BEGIN {
      printf "RESULT batch=%d submitted=%d accepted=%d done=%d failed=%d submit_s=%.2f submit_rps=%.1f drain_s=%.2f drain_tasks_per_s=%.1f worker_span_s=%.2f worker_tasks_per_s=%.1f e2e_s=%.2f e2e_tasks_per_s=%.1f mean_render_ms=%.2f backend=%s\n",
        b, n, acc, dc, f, ts - t0, acc / (ts - t0), te - tw, dc / (te - tw), s1 - s0, dc / (s1 - s0), te - t0, dc / (te - t0), mr, be
    }'
  stop_worker
done | tee "${raw_dir:-$stack_dir}/small-tasks-results.txt"

results=${raw_dir:-$stack_dir}/small-tasks-results.txt
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
first=$(head -1 "$results")
last=$(tail -1 "$results")
awk -v a="$(field e2e_tasks_per_s <<<"$first")" -v b="$(field e2e_tasks_per_s <<<"$last")" \
  -v c="$(field worker_tasks_per_s <<<"$first")" -v d="$(field worker_tasks_per_s <<<"$last")" \
  -v x="$(field batch <<<"$first")" -v y="$(field batch <<<"$last")" \
  'BEGIN {printf "SUMMARY batch%s/batch%s e2e_ratio=%.2f worker_ratio=%.2f (GPU target >= 3x)\n", y, x, b / a, d / c}'
if [[ -n $reference_rate ]]; then
  awk -v r="$reference_rate" -v e="$(field e2e_tasks_per_s <<<"$last")" -v w="$(field worker_tasks_per_s <<<"$last")" \
    -v y="$(field batch <<<"$last")" \
    'BEGIN {printf "SUMMARY in_process_tasks_per_s=%.1f batch%s e2e_vs_in_process=%.2f worker_vs_in_process=%.2f (target >= 0.8)\n", r, y, e / r, w / r}'
fi

echo "# GET /metrics after the runs (histograms and batch sizes):"
metrics=$(curl -fsS "$base/metrics")
if [[ -n $raw_dir ]]; then printf '%s\n' "$metrics" >"$raw_dir/small-tasks-metrics.txt"; fi
grep -E '^fractal_(queue_wait_seconds|render_seconds|batch_size)' <<<"$metrics" || \
  echo "(no queue wait / render time / batch size histogram in /metrics)"
