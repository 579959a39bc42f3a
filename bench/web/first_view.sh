#!/usr/bin/env bash
# The web client's first view: sign-in to every visible tile drawn (1280x800,
# headless Chromium), cold and warm, on a CPU stack from scripts/stack; and the
# JavaScript shipped, gzipped. Targets: <= 1.5 s cold, <= 0.3 s warm, <= 200 KB.
#   bench/web/first_view.sh            (BIN_DIR: build/bin; web/dist must be built: scripts/build)
#   WEB_DIR=/other/dist bench/web/first_view.sh   (another build of the web client, e.g. for an A/B)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export FRACTAL_BIN_DIR=${BIN_DIR:-$root/build/bin}
export FRACTAL_WEB_DIR=${WEB_DIR:-$root/web/dist}
[[ -f $FRACTAL_WEB_DIR/index.html ]] || { echo "first_view: web/dist is not built (scripts/build)" >&2; exit 1; }
FRACTAL_STACK_DIR=$(mktemp -d /tmp/fractal-bench-web.XXXXXX)
export FRACTAL_STACK_DIR FRACTAL_PORT=${BENCH_PORT:-21580} FRACTAL_PG_PORT=${BENCH_PG_PORT:-21532} FRACTAL_REDIS_PORT=${BENCH_REDIS_PORT:-21579}
cleanup() { "$root/scripts/stack" down >/dev/null 2>&1 || true; rm -rf "$FRACTAL_STACK_DIR"; }
trap cleanup EXIT

js=0
for f in "$FRACTAL_WEB_DIR"/assets/*.js; do js=$((js + $(gzip -9c "$f" | wc -c))); done
css=0
for f in "$FRACTAL_WEB_DIR"/assets/*.css; do [[ -f $f ]] && css=$((css + $(gzip -9c "$f" | wc -c))); done
echo "SHIPPED js_gzip_bytes=$js css_gzip_bytes=$css (target js <= 204800)"

url=$("$root/scripts/stack" up | sed -n 's/^FRACTAL_URL=//p')
user=bench_web_$RANDOM$RANDOM
password=bench-password-1
curl -fsS -o /dev/null -XPOST "$url/sign-up" -H 'Content-Type: application/json' -d "{\"username\":\"$user\",\"password\":\"$password\"}"
cd "$root/web"
FRACTAL_URL=$url BENCH_USER=$user BENCH_PASSWORD=$password node tests/first_view.mjs
