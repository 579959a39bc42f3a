#!/usr/bin/env bash
# End to end through scripts/stack, as a user would: up, sign-up, sign-in, add,
# poll, download, delete; a killed worker comes back with `up`; the README's
# shell examples as written; down, and the status of every stopped process.
# Usage: stack_e2e.sh <bin-dir>   (run by ctest)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export FRACTAL_BIN_DIR=${1:?bin dir}
FRACTAL_STACK_DIR=$(mktemp -d /tmp/fractal-e2e.XXXXXX)
export FRACTAL_STACK_DIR

free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))  # below the ephemeral range (32768+), where clients' ports come from
    (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
FRACTAL_PORT=$(free_port); FRACTAL_PG_PORT=$(free_port); FRACTAL_REDIS_PORT=$(free_port)
export FRACTAL_PORT FRACTAL_PG_PORT FRACTAL_REDIS_PORT
cleanup() { "$root/scripts/stack" down >/dev/null 2>&1 || true; rm -rf "$FRACTAL_STACK_DIR"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; tail -n 20 "$FRACTAL_STACK_DIR"/logs/*.log >&2 || true; exit 1; }

url=$("$root/scripts/stack" up | sed -n 's/^FRACTAL_URL=//p')
[[ $url == "http://127.0.0.1:$FRACTAL_PORT" ]] || fail "up printed '$url'"
"$root/scripts/stack" status >/dev/null || fail "status after up"

json() { curl -sS -H 'Content-Type: application/json' "$@"; }
body='{"username":"e2e_user","password":"long-enough-pw"}'
[[ $(json -o /dev/null -w '%{http_code}' -X POST -d "$body" "$url/sign-up") == 201 ]] || fail sign-up
token=$(json -X POST -d "$body" "$url/sign-in" | jq -r .access_token)
[[ -n $token && $token != null ]] || fail sign-in
auth=(-H "Authorization: Bearer $token")

task=$(json "${auth[@]}" -X POST -d '{"width":320,"height":200,"max_iter":300,"format":"png"}' "$url/add")
id=$(jq -r .id <<<"$task")
[[ $(jq -r .status <<<"$task") == queued ]] || fail "add answered $task"
status=""
for _ in $(seq 300); do
  status=$(curl -sS "${auth[@]}" "$url/tasks/$id" | jq -r .status)
  [[ $status == "done" || $status == "failed" ]] && break
  sleep 0.1
done
[[ $status == "done" ]] || fail "task ended '$status'"
curl -sS "${auth[@]}" -o "$FRACTAL_STACK_DIR/img.png" -w '%{http_code} %{content_type}\n' "$url/download?id=$id" \
  | grep -q '^200 image/png' || fail download
[[ $(head -c 8 "$FRACTAL_STACK_DIR/img.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || fail "not a PNG"
[[ $(curl -sS "${auth[@]}" -X DELETE "$url/tasks/$id" | jq -r .status) == deleted ]] || fail delete
[[ $(curl -sS -o /dev/null -w '%{http_code}' "${auth[@]}" "$url/tasks/$id") == 404 ]] || fail "deleted task still there"

kill -9 "$(cat "$FRACTAL_STACK_DIR/run/worker.pid")"
for _ in $(seq 50); do "$root/scripts/stack" status >/dev/null || break; sleep 0.1; done
set +e; out=$("$root/scripts/stack" status); rc=$?; set -e
if ! grep -q '^worker pid 0 stopped$' <<<"$out" || [[ $rc -ne 3 ]]; then fail "status after kill: rc $rc: $out"; fi
"$root/scripts/stack" up >/dev/null || fail "up after kill"
"$root/scripts/stack" status >/dev/null || fail "worker not restarted"
# Redis restarting with a large append-only file answers LOADING for a while:
# `up` must wait for PONG, and a server started meanwhile must wait too.
rcli() { redis-cli -p "$FRACTAL_REDIS_PORT" "$@"; }
seq 1 500000 | awk '{ printf "*3\r\n$3\r\nSET\r\n$%d\r\nfill:%s\r\n$24\r\nvvvvvvvvvvvvvvvvvvvvvvvv\r\n", length($1) + 5, $1 }' \
  | rcli --pipe >/dev/null || fail "filling redis"
# The local stack rewrites its append-only file long before Redis' default 64 MB.
rewrites=$(rcli info persistence | tr -d '\r' | sed -n 's/^aof_rewrites://p')
[[ ${rewrites:-0} -ge 1 ]] || fail "no AOF rewrite after ~30 MB of writes (aof_rewrites=${rewrites:-?})"
rcli bgrewriteaof >/dev/null; sleep 0.2
for _ in $(seq 100); do
  [[ $(rcli info persistence | tr -d '\r' | sed -n 's/^aof_rewrite_in_progress://p') == 0 ]] && break; sleep 0.1
done
seq 1 100000 | awk '{ printf "*3\r\n$3\r\nSET\r\n$%d\r\ntail:%s\r\n$1\r\nx\r\n", length($1) + 5, $1 }' \
  | rcli --pipe >/dev/null || fail "filling redis"  # commands after the base, replayed one by one
kill -9 "$(cat "$FRACTAL_STACK_DIR/run/redis.pid")" "$(cat "$FRACTAL_STACK_DIR/run/server.pid")"
for _ in $(seq 50); do "$root/scripts/stack" status >/dev/null || break; sleep 0.1; done
"$root/scripts/stack" up >/dev/null || fail "up after killing Redis with a large AOF"
grep -q 'DB loaded from append only file' "$FRACTAL_STACK_DIR/logs/redis.log" || fail "redis did not load its AOF"
[[ $(rcli dbsize) -ge 500000 ]] || fail "redis lost data: dbsize $(rcli dbsize)"
task=$(json "${auth[@]}" -X POST -d '{"width":64,"height":64,"max_iter":100}' "$url/add")
id=$(jq -r .id <<<"$task")
[[ -n $id && $id != null ]] || fail "add after the Redis restart answered $task"
for _ in $(seq 300); do
  status=$(curl -sS "${auth[@]}" "$url/tasks/$id" | jq -r .status)
  [[ $status == "done" ]] && break
  sleep 0.1
done
[[ $status == "done" ]] || fail "task after the Redis restart ended '$status'"
! grep -q 'status=500' "$FRACTAL_STACK_DIR/logs/server.log" || fail "the server answered 500: $(grep 'status=500' "$FRACTAL_STACK_DIR/logs/server.log" | head -3)"

# The README's "From a shell" block runs as written; only its URL line points at this stack.
readme_block=$(awk '/^From a shell:/ {f = 1} f && /^```sh/ {b = 1; next} b && /^```/ {exit} b' "$root/README.md")
# shellcheck disable=SC2016 # the literal text $URL/add, as the README writes it
[[ $readme_block == *'$URL/add'* ]] || fail "README: no shell block after 'From a shell:'"
# shellcheck disable=SC2001 # a multi-line, anchored replacement: sed, not ${var//}
(cd "$FRACTAL_STACK_DIR" && timeout 180 bash -euo pipefail -c "$(sed "s|^URL=.*|URL=$url|" <<<"$readme_block")") \
  >"$FRACTAL_STACK_DIR/readme.out" 2>&1 || fail "the README's shell block: $(tail -5 "$FRACTAL_STACK_DIR/readme.out")"
compgen -G "$FRACTAL_STACK_DIR/*-*-*-*-*.png" >/dev/null || fail "the README's shell block downloaded no image"
[[ $(head -c 8 "$FRACTAL_STACK_DIR/tile.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] ||
  fail "the README's shell block: tile.png is not a PNG"

"$root/scripts/stack" down >/dev/null
set +e; out=$("$root/scripts/stack" status); rc=$?; set -e
[[ $rc -eq 3 ]] || fail "status after down: rc $rc"
# The same shape for every stopped process (Postgres removes its pid file, the others keep theirs).
[[ $out == $'postgres pid 0 stopped\nredis pid 0 stopped\nserver pid 0 stopped\nworker pid 0 stopped' ]] ||
  fail "status after down: $out"
echo "stack e2e: 1 passed, 0 failed"
