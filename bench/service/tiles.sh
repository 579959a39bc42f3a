#!/usr/bin/env bash
# Tiles as a map view asks for them: per level, a burst of 48 distinct tiles
# (the 8 x 6 block around the centre) from one user over up to 32 parallel
# keep-alive connections, cold (misses) then warm (cache hits); then the next
# level. One worker, CPU backend. Loopback only; stops by itself.
#
#   bench/service/tiles.sh                   # levels 3 4 5
#   LEVELS="4 5 6" bench/service/tiles.sh
#
# Reported per burst: p50/p99 of the per-tile times and the time to the whole
# burst. Then, in the same run:
#   misses tiles/s  = tiles / sum of cold-burst times, against the same tiles
#                     rendered and PNG-encoded in-process (fractal-bench-kernels --tiles): target >= 0.7x
#   hits rps        = wrk on one cached tile, against the trivial Pistache
#                     endpoint (fractal-bench-trivial-http) with the same wrk settings: target >= 0.5x
# Environment (defaults): BIN_DIR (build/bin), LEVELS ("3 4 5"), PAR (32),
# DURATION (5s), BENCH_PORT (21480), BENCH_PG_PORT (21432), BENCH_REDIS_PORT (21479),
# TRIVIAL_PORT (21490), KEEP_STACK (0).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bin_dir=${BIN_DIR:-$root/build/bin}
levels=${LEVELS:-3 4 5}
par=${PAR:-32}
duration=${DURATION:-5s}
port=${BENCH_PORT:-21480}
trivial_port=${TRIVIAL_PORT:-21490}
base=http://127.0.0.1:$port
for b in fractal-server fractal-worker fractal-bench-kernels fractal-bench-trivial-http; do
  [[ -x $bin_dir/$b ]] || { echo "tiles: $bin_dir/$b missing" >&2; exit 1; }
done

stack_dir=$(mktemp -d /tmp/fractal-bench-tiles.XXXXXX)
export FRACTAL_STACK_DIR=$stack_dir FRACTAL_BIN_DIR=$bin_dir FRACTAL_PORT=$port
export FRACTAL_PG_PORT=${BENCH_PG_PORT:-21432} FRACTAL_REDIS_PORT=${BENCH_REDIS_PORT:-21479}
trivial_pid=
cleanup() {
  if [[ -n $trivial_pid ]]; then kill "$trivial_pid" 2>/dev/null || true; fi
  "$root/scripts/stack" down >/dev/null 2>&1 || true
  if [[ ${KEEP_STACK:-0} != 1 ]]; then rm -rf "$stack_dir"; fi
}
trap cleanup EXIT

# In-process reference first, on an idle machine.
levels_csv=${levels// /,}
ref=$("$bin_dir/fractal-bench-kernels" --backend cpu --workload none --tiles "$levels_csv")
printf '%s\n' "$ref"
ref_rate=$(grep 'levels=' <<<"$ref" | sed -n 's/.* tiles_per_s=\([^ ]*\).*/\1/p')

"$root/scripts/stack" up >/dev/null
user=tiles_$RANDOM$RANDOM
pass=bench-password-1
curl -fsS -o /dev/null -XPOST "$base/sign-up" -H 'Content-Type: application/json' -d "{\"username\":\"$user\",\"password\":\"$pass\"}"
token=$(curl -fsS -XPOST "$base/sign-in" -H 'Content-Type: application/json' -d "{\"username\":\"$user\",\"password\":\"$pass\"}" | jq -r .access_token)

burst() {  # burst <z>: prints one "<http code> <x-cache> <seconds>" line per tile, then "WALL <seconds>"
  local z=$1 side x0 y0 x y t0 t1
  side=$((1 << z))
  x0=$((side / 2 - 4)); ((x0 < 0)) && x0=0
  y0=$((side / 2 - 3)); ((y0 < 0)) && y0=0
  {
    printf 'parallel\nparallel-max = %d\n' "$par"
    local first=1
    for ((y = y0; y < y0 + 6 && y < side; y++)); do
      for ((x = x0; x < x0 + 8 && x < side; x++)); do
        ((first)) || printf 'next\n'
        first=0
        printf 'url = "%s/tiles/%d/%d/%d.png"\nheader = "Authorization: Bearer %s"\nheader = "Connection: keep-alive"\n' \
          "$base" "$z" "$x" "$y" "$token"
        printf 'output = "/dev/null"\nwrite-out = "%%{http_code} %%header{x-cache} %%{time_total}\\n"\nsilent\n'
      done
    done
  } >"$stack_dir/burst.cfg"
  t0=$(date +%s.%N)
  curl --silent --config "$stack_dir/burst.cfg"
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN {printf "WALL %.3f\n", b - a}'
}

summarise() {  # summarise <label> <z> <burst output>
  local wall stats pct
  wall=$(sed -n 's/^WALL //p' <<<"$3")
  stats=$(grep -v '^WALL' <<<"$3" | awk '{n++; if ($1 != 200) bad++; if ($2 == "hit") hit++} END {printf "%d %d %d", n, bad + 0, hit + 0}')
  pct=$(grep -v '^WALL' <<<"$3" | awk '{print $3}' | sort -n | awk '{t[NR] = $1} END {printf "%.1f %.1f", 1000 * t[int((NR + 1) / 2)], 1000 * t[int(NR * 0.99 + 0.999)]}')
  read -r n bad hit <<<"$stats"
  read -r p50 p99 <<<"$pct"
  awk -v l="$1" -v z="$2" -v n="$n" -v b="$bad" -v h="$hit" -v p50="$p50" -v p99="$p99" -v w="$wall" \
    'BEGIN {printf "BURST %s z=%d tiles=%d non200=%d hits=%d p50_ms=%s p99_ms=%s burst_ms=%.1f\n", l, z, n, b, h, p50, p99, 1000 * w}'
}

cold_tiles=0
cold_seconds=0
for z in $levels; do
  out=$(burst "$z")
  summarise cold "$z" "$out"
  cold_tiles=$((cold_tiles + $(grep -c '^200 ' <<<"$out" || true)))
  cold_seconds=$(awk -v s="$cold_seconds" -v w="$(sed -n 's/^WALL //p' <<<"$out")" 'BEGIN {print s + w}')
  summarise warm "$z" "$(burst "$z")"
done

# Cache hits at full speed: one tile, wrk, against the trivial endpoint.
"$bin_dir/fractal-bench-trivial-http" --port "$trivial_port" --threads 2 >/dev/null &
trivial_pid=$!
sleep 0.5
hit_url="$base/tiles/3/4/3.png"
cat >"$stack_dir/get.lua" <<EOF
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer $token"
wrk.headers["Connection"] = "keep-alive"
EOF
hit_rps=$(wrk -t1 -c32 -d"$duration" -s "$stack_dir/get.lua" "$hit_url" | sed -n 's/^Requests\/sec: *//p')
trivial=$(BENCH_KEEPALIVE=1 wrk -t1 -c32 -d"$duration" -s "$root/bench/service/add.lua" "http://127.0.0.1:$trivial_port/add" | sed -n 's/^Requests\/sec: *//p')
awk -v t="$cold_tiles" -v s="$cold_seconds" -v r="$ref_rate" -v h="$hit_rps" -v tr="$trivial" 'BEGIN {
  printf "SUMMARY misses_tiles_per_s=%.1f in_process_tiles_per_s=%.1f ratio=%.2f (target >= 0.7)\n", t / s, r, t / s / r
  printf "SUMMARY hits_rps=%.0f trivial_rps=%.0f ratio=%.2f (target >= 0.5)\n", h, tr, h / tr
}'
