#!/usr/bin/env bash
# Mixed load under restarts: clients submit and read tasks through the API while
# the worker, Redis, Postgres and the server are killed (SIGKILL, Postgres
# stopped "immediate") and brought back with `scripts/stack up`, ROUNDS times.
# Afterwards every task that was answered 202 must end `done`.
#
#   bench/service/chaos.sh                      # 4 clients, 3 rounds
#   CLIENTS=8 ROUNDS=5 bench/service/chaos.sh
#
# Reported: requests by status (000 = connection refused: the server itself was
# down), the 500 count (must be 0), tasks accepted and tasks lost (must be 0).
# Exit status 1 when a 500 was answered or a task was lost.
# Environment (defaults): BIN_DIR (build/bin), CLIENTS (4), ROUNDS (3),
# CHAOS_PORT (21381), CHAOS_PG_PORT (21332), CHAOS_REDIS_PORT (21379), DRAIN (180 s).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
export FRACTAL_BIN_DIR=${BIN_DIR:-$root/build/bin}
clients=${CLIENTS:-4}
rounds=${ROUNDS:-3}
drain=${DRAIN:-180}
export FRACTAL_PORT=${CHAOS_PORT:-21381} FRACTAL_PG_PORT=${CHAOS_PG_PORT:-21332} FRACTAL_REDIS_PORT=${CHAOS_REDIS_PORT:-21379}
FRACTAL_STACK_DIR=$(mktemp -d /tmp/fractal-chaos.XXXXXX)
export FRACTAL_STACK_DIR
work=$FRACTAL_STACK_DIR/chaos
mkdir -p "$work"
stack() { "$root/scripts/stack" "$@"; }
cleanup() {
  touch "$work/stop"
  wait 2>/dev/null || true
  stack down >/dev/null 2>&1 || true
  [[ ${KEEP_STACK:-0} == 1 ]] || rm -rf "$FRACTAL_STACK_DIR"
}
trap cleanup EXIT

url=$(stack up | sed -n 's/^FRACTAL_URL=//p')
user="chaos_$RANDOM"
body="{\"username\":\"$user\",\"password\":\"chaos-password\"}"
curl -sS -o /dev/null -H 'Content-Type: application/json' -d "$body" "$url/sign-up"
token=$(curl -sS -H 'Content-Type: application/json' -d "$body" "$url/sign-in" | jq -r .access_token)
[[ -n $token && $token != null ]] || { echo "chaos: sign-in failed" >&2; exit 1; }

client() {  # client <n>: alternates POST /add and GET /tasks until $work/stop exists
  local n=$1 i=0 code out
  while [[ ! -e $work/stop ]]; do
    if ((i % 2 == 0)); then
      out=$(curl -sS -m 20 -w '\n%{http_code}' -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d '{"width":48,"height":48,"max_iter":64}' "$url/add" 2>/dev/null) || true
      code=${out##*$'\n'}
      if [[ $code == 202 ]]; then jq -r .id <<<"${out%$'\n'*}" >>"$work/ids.$n"; fi
    else
      out=$(curl -sS -m 20 -w '\n%{http_code}' -H "Authorization: Bearer $token" "$url/tasks?limit=1" 2>/dev/null) || true
      code=${out##*$'\n'}
    fi
    [[ -n $code ]] || code=000
    echo "$code" >>"$work/codes.$n"
    if [[ $code == 500 ]]; then echo "${out%$'\n'*}" >>"$work/500-bodies"; fi
    i=$((i + 1))
  done
}

for c in $(seq "$clients"); do client "$c" & done
pid_file() { echo "$FRACTAL_STACK_DIR/run/$1.pid"; }
restart() {  # restart <name>: kill it, give the clients a moment to notice, bring it back
  local name=$1
  case $name in
    postgres) runas=(); [[ $(id -u) -eq 0 ]] && runas=(runuser -u postgres --)
              for d in /usr/lib/postgresql/*/bin; do [[ -x $d/pg_ctl ]] && pg_bin=$d; done
              "${runas[@]}" "$pg_bin/pg_ctl" -D "$FRACTAL_STACK_DIR/pg/data" -m immediate stop >/dev/null ;;
    *) kill -9 "$(cat "$(pid_file "$name")")" ;;
  esac
  sleep 1
  stack up >/dev/null
  echo "chaos: $name restarted" >&2
  sleep 2
}
sleep 2
for r in $(seq "$rounds"); do
  for name in worker redis postgres server; do restart "$name"; done
  echo "chaos: round $r done" >&2
done
sleep 2
touch "$work/stop"
wait

cat "$work"/ids.* 2>/dev/null | sort -u >"$work/ids" || true
accepted=$(wc -l <"$work/ids")
deadline=$((SECONDS + drain))
pending=$accepted
while ((SECONDS < deadline)); do
  pending=0
  lost_list=()
  while read -r id; do
    s=$(curl -sS -H "Authorization: Bearer $token" "$url/tasks/$id" | jq -r .status 2>/dev/null || echo "?")
    if [[ $s != "done" ]]; then pending=$((pending + 1)); lost_list+=("$id:$s"); fi
  done <"$work/ids"
  ((pending == 0)) && break
  sleep 3
done

requests=$(cat "$work"/codes.* | wc -l)
echo "requests: $requests"
echo "by status:"; cat "$work"/codes.* | sort | uniq -c | sed 's/^/  /'
n500=$(cat "$work"/codes.* | grep -c '^500$' || true)
echo "500s: $n500"
echo "tasks accepted (202): $accepted"
echo "tasks lost (not done after ${drain}s drain): $pending"
if ((pending > 0)); then printf '  %s\n' "${lost_list[@]:0:10}"; fi
if ((n500 > 0)); then echo "500 bodies:"; head -5 "$work/500-bodies"; fi
((n500 == 0 && pending == 0))
