#!/usr/bin/env bash
# POST /add throughput and latency of fractal-server against a trivial Pistache
# server (fractal-bench-trivial-http) under the same wrk settings, alternating
# A/B runs so the ratio holds on a noisy machine. Loopback only; stops by itself.
#
#   bench/service/http_add.sh                # 3 pairs x 10 s, keep-alive and close modes
#   PAIRS=5 DURATION=15s CONNS=64 bench/service/http_add.sh
#
# Environment (defaults): BIN_DIR (build-ci/bin), PAIRS (3), DURATION (10s),
# CONNS (32), WRK_THREADS (1), SERVER_THREADS (2, both servers), MODES
# ("keepalive close"), USERS (1: one user, one token; N > 1: N users, their
# tokens used round-robin per request, see add.lua), RAW_DIR (none: where to copy each wrk output),
# BENCH_PORT (21180), TRIVIAL_PORT (21190), BENCH_PG_PORT (21132),
# BENCH_REDIS_PORT (21179), KEEP_STACK (0: remove the temporary stack dir),
# QUOTA (1000000000: on, never reached), PGBENCH (1: also time pgbench doing a
# plain durable INSERT of the same task row with CONNS clients against the
# stack's own Postgres, one run per pair, and print server rps / pgbench tps).
#
# The stack (Postgres, Redis, fractal-server) runs under a fresh temporary dir
# through scripts/stack; its worker is stopped right after start so rendering
# does not take CPU from the HTTP path (the queued tasks just pile up). The
# user's quota is on but far away (QUOTA) so no 429 enters the figures.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/bench/service
bin_dir=${BIN_DIR:-$root/build-ci/bin}
pairs=${PAIRS:-3}
duration=${DURATION:-10s}
conns=${CONNS:-32}
wrk_threads=${WRK_THREADS:-1}
server_threads=${SERVER_THREADS:-2}
modes=${MODES:-keepalive close}
raw_dir=${RAW_DIR:-}
port=${BENCH_PORT:-21180}
trivial_port=${TRIVIAL_PORT:-21190}
base=http://127.0.0.1:$port

for b in fractal-server fractal-worker fractal-bench-trivial-http; do
  [[ -x $bin_dir/$b ]] || { echo "http_add: $bin_dir/$b missing (cmake --build build-ci --target $b)" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "http_add: wrk not installed" >&2; exit 1; }

stack_dir=$(mktemp -d /tmp/fractal-bench-add.XXXXXX)
export FRACTAL_STACK_DIR=$stack_dir FRACTAL_BIN_DIR=$bin_dir FRACTAL_PORT=$port
export FRACTAL_PG_PORT=${BENCH_PG_PORT:-21132} FRACTAL_REDIS_PORT=${BENCH_REDIS_PORT:-21179}
export FRACTAL_QUOTA=${QUOTA:-1000000000}
# fractal-server reads its HTTP thread count from FRACTAL_THREADS; scripts/stack
# passes the environment on (the worker reads the same variable, but it is stopped).
export FRACTAL_THREADS=$server_threads
trivial_pid=

cleanup() {
  if [[ -n $trivial_pid ]]; then kill "$trivial_pid" 2>/dev/null || true; wait "$trivial_pid" 2>/dev/null || true; fi
  "$root/scripts/stack" down >/dev/null 2>&1 || true
  if [[ ${KEEP_STACK:-0} != 1 ]]; then rm -rf "$stack_dir"; else echo "stack kept in $stack_dir"; fi
}
trap cleanup EXIT

"$root/scripts/stack" up >/dev/null
worker_pid=$(cat "$stack_dir/run/worker.pid")
kill -TERM "$worker_pid"
for _ in $(seq 100); do kill -0 "$worker_pid" 2>/dev/null || break; sleep 0.1; done
echo "# stack up at $base (worker stopped: no rendering during the run), stack dir $stack_dir"

"$bin_dir/fractal-bench-trivial-http" --port "$trivial_port" --threads "$server_threads" >/dev/null &
trivial_pid=$!
for _ in $(seq 50); do
  curl -s -o /dev/null -XPOST -H 'Content-Type: application/json' -d '{}' "http://127.0.0.1:$trivial_port/add" && break
  sleep 0.1
done

new_token() {  # sign up a fresh user, sign in, print the access token
  local user=bench_$RANDOM$RANDOM pass=bench-password-1
  curl -fsS -o /dev/null -XPOST "$base/sign-up" -H 'Content-Type: application/json' \
    -d "{\"username\":\"$user\",\"password\":\"$pass\"}"
  curl -fsS -XPOST "$base/sign-in" -H 'Content-Type: application/json' \
    -d "{\"username\":\"$user\",\"password\":\"$pass\"}" | jq -r .access_token
}
BENCH_TOKEN=$(new_token)
export BENCH_TOKEN
users=${USERS:-1}
if ((users > 1)); then
  BENCH_TOKENS=$BENCH_TOKEN
  for _ in $(seq 2 "$users"); do BENCH_TOKENS="$BENCH_TOKENS $(new_token)"; done
  export BENCH_TOKENS
fi
export BENCH_BODY='{"width":256,"height":256,"max_iter":256,"format":"png"}'

# Keep-alive: does a second request on the same connection reuse it?
probe() {  # probe <url> <extra curl args...>: prints "reused" or "closed" and the Connection header
  local url=$1 out
  shift
  out=$(curl -sv -o /dev/null -XPOST "$url" -H 'Content-Type: application/json' -H "Authorization: Bearer $BENCH_TOKEN" "$@" -d "$BENCH_BODY" \
    --next -o /dev/null -XPOST "$url" -H 'Content-Type: application/json' -H "Authorization: Bearer $BENCH_TOKEN" "$@" -d "$BENCH_BODY" 2>&1)
  local hdr
  hdr=$(grep -i '^< connection:' <<<"$out" | head -1 | tr -d '\r' | sed 's/^< //')
  if grep -q 'Re-using existing connection' <<<"$out"; then echo "reused ($hdr)"; else echo "closed ($hdr)"; fi
}
echo "# keep-alive probe, plain HTTP/1.1 request: server $(probe "$base/add"), trivial $(probe "http://127.0.0.1:$trivial_port/add")"
echo "# keep-alive probe, with 'Connection: keep-alive': server $(probe "$base/add" -H 'Connection: keep-alive'), trivial $(probe "http://127.0.0.1:$trivial_port/add" -H 'Connection: keep-alive')"
echo "# wrk -t$wrk_threads -c$conns -d$duration --latency, $pairs A/B pairs per mode, server threads $server_threads, users $users, nproc $(nproc), load average $(cut -d' ' -f1-3 /proc/loadavg)"

run_wrk() {  # run_wrk <label> <url> <mode> <pair>: prints the RESULT line, tagged
  local label=$1 url=$2 mode=$3 pair=$4 out
  local ka=0
  [[ $mode == keepalive ]] && ka=1
  out=$(BENCH_KEEPALIVE=$ka wrk -t"$wrk_threads" -c"$conns" -d"$duration" --latency -s "$here/add.lua" "$url")
  if [[ -n $raw_dir ]]; then
    mkdir -p "$raw_dir"
    printf '%s\n' "$out" >"$raw_dir/wrk-$mode-$pair-$label.txt"
  fi
  echo "$mode pair=$pair $label $(grep '^RESULT' <<<"$out" | sed 's/^RESULT //')"
}

pg_bin=
for d in /usr/lib/postgresql/*/bin; do [[ -x $d/pgbench ]] && pg_bin=$d; done
pg_user=(); [[ $(id -u) -eq 0 ]] && pg_user=(runuser -u postgres --)
run_pgbench() {  # run_pgbench <pair>: plain durable INSERT of a task row, CONNS clients
  local pair=$1 owner script out tps
  owner=$("${pg_user[@]}" "$pg_bin/psql" -h 127.0.0.1 -p "$FRACTAL_PG_PORT" -U postgres -d fractal -Atc "select id from users limit 1")
  script=$stack_dir/insert.sql
  printf "INSERT INTO tasks (owner, params) VALUES ('%s', '%s');\n" "$owner" \
    '{"fractal":"mandelbrot","width":256,"height":256,"center":[-0.5,0],"scale":3.0,"max_iter":256,"format":"png","output":"image","palette":"classic","coloring":"smooth","supersample":1,"precision":"auto","julia_c":null}' >"$script"
  chmod 644 "$script"
  out=$("${pg_user[@]}" "$pg_bin/pgbench" -n -h 127.0.0.1 -p "$FRACTAL_PG_PORT" -U postgres -c "$conns" -j 1 \
    -T "${duration%s}" -f "$script" fractal 2>&1)
  if [[ -n $raw_dir ]]; then mkdir -p "$raw_dir"; printf "%s\n" "$out" >"$raw_dir/pgbench-$pair.txt"; fi
  tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out" | head -1)
  echo "pgbench pair=$pair tps=$tps"
}

results=$(mktemp)
for mode in $modes; do
  for pair in $(seq "$pairs"); do
    if [[ ${PGBENCH:-1} == 1 && $mode == "${modes%% *}" ]]; then run_pgbench "$pair" | tee -a "$results"; fi
    # Alternate which side goes first, so a drift in machine load hits both.
    if ((pair % 2)); then order=(server trivial); else order=(trivial server); fi
    for side in "${order[@]}"; do
      if [[ $side == server ]]; then url=$base/add; else url=http://127.0.0.1:$trivial_port/add; fi
      run_wrk "$side" "$url" "$mode" "$pair" | tee -a "$results"
    done
  done
done

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
echo "# summary (median over pairs; ratio = server rps / trivial rps per pair)"
for mode in $modes; do
  s_rps=$(grep "^$mode .* server " "$results" | field rps | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  t_rps=$(grep "^$mode .* trivial " "$results" | field rps | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  s_p50=$(grep "^$mode .* server " "$results" | field p50_ms | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  s_p99=$(grep "^$mode .* server " "$results" | field p99_ms | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  t_p50=$(grep "^$mode .* trivial " "$results" | field p50_ms | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  t_p99=$(grep "^$mode .* trivial " "$results" | field p99_ms | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  ratios=$(for pair in $(seq "$pairs"); do
    s=$(grep "^$mode pair=$pair server " "$results" | field rps)
    t=$(grep "^$mode pair=$pair trivial " "$results" | field rps)
    awk -v s="$s" -v t="$t" 'BEGIN {printf "%.3f ", s / t}'
  done)
  echo "SUMMARY mode=$mode server_rps=$s_rps server_p50_ms=$s_p50 server_p99_ms=$s_p99 trivial_rps=$t_rps trivial_p50_ms=$t_p50 trivial_p99_ms=$t_p99 ratio_per_pair=[${ratios% }] target_ratio=0.5"
done
tasks=$(curl -fsS "$base/stats" -H "Authorization: Bearer $BENCH_TOKEN" | jq -c '.' 2>/dev/null || true)
echo "# /stats of the first user after the run: $tasks; load average $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ ${PGBENCH:-1} == 1 ]]; then
  mode=${modes%% *}
  ratios=$(for pair in $(seq "$pairs"); do
    s=$(grep "^$mode pair=$pair server " "$results" | field rps)
    t=$(grep "^pgbench pair=$pair " "$results" | field tps)
    awk -v s="$s" -v t="$t" 'BEGIN {printf "%.3f ", s / t}'
  done)
  p_tps=$(grep "^pgbench " "$results" | field tps | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "SUMMARY pgbench_insert_tps=$p_tps mode=$mode server_vs_pgbench_per_pair=[${ratios% }] target_ratio=0.7"
fi
rm -f "$results"
