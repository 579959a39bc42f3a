#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang (address + undefined-behaviour
# sanitizers) and runs each for RUNS executions (default 1,000,000) or SECONDS
# (when set, e.g. SECONDS_EACH=20 in CI). Prints executions, exec/s, coverage
# and crashes per harness; exit 1 when a harness crashed (its input is kept in
# the work dir and should become a regression test).
#
#   bench/fuzz/run.sh                    # 10^6 executions each
#   SECONDS_EACH=15 bench/fuzz/run.sh    # bounded time each (.ci/run)
#   HARNESSES="basic_auth_fuzz" bench/fuzz/run.sh   # some of them
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${FUZZ_DIR:-$root/build/fuzz}
runs=${RUNS:-1000000}
mkdir -p "$work"
command -v clang++ >/dev/null || { echo "fuzz: clang++ missing (apt-get install clang)" >&2; exit 1; }
flags=(-std=c++20 -O1 -g "-fsanitize=fuzzer,address,undefined" -fno-sanitize-recover=undefined -I"$root")

read -r -a harnesses <<<"${HARNESSES:-task_spec_fuzz jwt_fuzz tile_query_fuzz http_guard_fuzz basic_auth_fuzz}"

build() {  # build <name> <sources...> -- <link flags...>
  local name=$1
  [[ " ${harnesses[*]} " == *" $name "* ]] || return 0
  shift
  local sources=() links=()
  while (($#)) && [[ $1 != -- ]]; do sources+=("$1"); shift; done
  (($#)) && shift
  links=("$@")
  clang++ "${flags[@]}" "${sources[@]}" -o "$work/$name" "${links[@]}"
}

build task_spec_fuzz "$root/bench/fuzz/task_spec_fuzz.cpp" "$root/kernels/task_spec.cpp" "$root/kernels/color/palettes.cpp"
read -r -a sodium_libs <<<"$(pkg-config --libs libsodium)"
build jwt_fuzz "$root/bench/fuzz/jwt_fuzz.cpp" "$root/auth/jwt.cpp" "$root/auth/secret.cpp" "$root/auth/sodium_init.cpp" -- "${sodium_libs[@]}"
build tile_query_fuzz "$root/bench/fuzz/tile_query_fuzz.cpp" "$root/server/tile_query.cpp" "$root/server/api_error.cpp" \
  "$root/kernels/task_spec.cpp" "$root/kernels/color/palettes.cpp" "$root/kernels/tile_view.cpp" "$root/auth/jwt.cpp" \
  "$root/auth/secret.cpp" "$root/auth/sodium_init.cpp" -- "${sodium_libs[@]}" -lgmp
read -r -a guard_libs <<<"$(pkg-config --libs libpistache spdlog)"
logging_src=$root/runtime/logging.cpp  # the one logging module (server/logging.cpp before runtime/ existed)
[[ -f $logging_src ]] || logging_src=$root/server/logging.cpp
build http_guard_fuzz "$root/bench/fuzz/http_guard_fuzz.cpp" "$root/server/pistache_handler.cpp" "$root/server/api_error.cpp" \
  "$logging_src" -- "${guard_libs[@]}"
build basic_auth_fuzz "$root/bench/fuzz/basic_auth_fuzz.cpp" "$root/server/basic_auth.cpp"

status=0
for name in "${harnesses[@]}"; do
  corpus=$work/$name-corpus
  mkdir -p "$corpus"
  if [[ $name == task_spec_fuzz && -z $(ls -A "$corpus") ]]; then  # seeds: real bodies
    echo '{}' >"$corpus/empty"
    echo '{"fractal":"julia","julia_c":[-0.8,"0.156"],"width":64,"height":48,"palette":["#000000","#ffffff"]}' >"$corpus/julia"
    echo '{"center":["-1.7490484999999999999999999999","0"],"scale":"1.5e-1200","max_iter":5000}' >"$corpus/deep"
    echo '{"output":"iterations","format":"exr","precision":"double","supersample":1}' >"$corpus/iters"
  fi
  if [[ $name == tile_query_fuzz && -z $(ls -A "$corpus") ]]; then  # z, x, <y>.png, then name=value lines
    printf '3\n4\n3.png\npalette=ocean' >"$corpus/plain"
    printf '2\n1\n2.png\nfractal=julia\njulia_c=-0.8,%%200.156\nmax_iter=300\ncoloring=bands' >"$corpus/julia"
    printf '60\n576460752303423487\n0576460752303423488.png\nprecision=auto\npalette=%%23000000,%%23ffffff' >"$corpus/deep"
  fi
  if [[ $name == http_guard_fuzz && -z $(ls -A "$corpus") ]]; then
    printf 'POST /add HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}' >"$corpus/post"
    printf 'GET /tasks?limit=5 HTTP/1.0\r\nAuthorization: Bearer a.b.c\r\nAccept: */*\r\nIf-None-Match: W/"x"\r\n\r\n' >"$corpus/get"
    printf 'PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\nHost: h:1\r\n\r\n' >"$corpus/chunked"
  fi
  if [[ $name == basic_auth_fuzz && -z $(ls -A "$corpus") ]]; then
    printf '\0Basic YWRhOmEtbG9uZy1zZWNyZXQ=' >"$corpus/raw"
    printf '\1ada\0a-long-secret' >"$corpus/pair"
  fi
  args=(-print_final_stats=1 -max_len=4096 -artifact_prefix="$work/$name-crash-")
  if [[ -n ${SECONDS_EACH:-} ]]; then args+=(-max_total_time="$SECONDS_EACH"); else args+=(-runs="$runs"); fi
  log=$work/$name.log
  if (cd "$work" && "./$name" "${args[@]}" "$corpus" >"$log" 2>&1); then result=ok; else result=CRASH; status=1; fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  echo "$name: $result executions=${execs:-?} exec/s=${speed:-?} coverage_edges=${cov:-?} log=$log"
  if [[ $result != ok ]]; then grep -m5 -E 'ERROR|runtime error|SUMMARY' "$log" || true; fi
done
exit $status
