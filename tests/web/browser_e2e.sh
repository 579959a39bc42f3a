#!/usr/bin/env bash
# The web client end to end in a real headless Chromium (Debian's chromium,
# driven by playwright-core from web/node_modules) against `scripts/stack up`
# on free ports in a temporary FRACTAL_STACK_DIR. Also checks the static
# serving rules of the web route group with curl.
# Usage: browser_e2e.sh <bin-dir>   (run by ctest). Screenshots: $WEB_SHOT_DIR
# (default: a temporary directory, printed at the end).
# Exit 77 (skipped) only when chromium is missing and cannot be installed, or npm is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export FRACTAL_BIN_DIR=${1:?bin dir}
chromium=${CHROMIUM:-/usr/bin/chromium}

if [[ ! -x $chromium ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "installing Debian's chromium"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } \
      >/dev/null 2>&1 || true
  fi
  [[ -x $chromium ]] || { echo "SKIP: $chromium is missing and could not be installed (apt-get install chromium)"; exit 77; }
fi
command -v npm >/dev/null || { echo "SKIP: npm is not installed (scripts/setup installs nodejs npm)"; exit 77; }
cd "$root/web"
[[ -d node_modules ]] || npm ci --no-audit --no-fund >/dev/null
[[ -f dist/index.html ]] || npm run build >/dev/null

FRACTAL_STACK_DIR=$(mktemp -d /tmp/fractal-web-e2e.XXXXXX)
export FRACTAL_STACK_DIR
export FRACTAL_WEB_DIR=$root/web/dist
shots=${WEB_SHOT_DIR:-$FRACTAL_STACK_DIR/shots}
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12000))
    (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
FRACTAL_PORT=$(free_port); FRACTAL_PG_PORT=$(free_port); FRACTAL_REDIS_PORT=$(free_port)
export FRACTAL_PORT FRACTAL_PG_PORT FRACTAL_REDIS_PORT
cleanup() {
  "$root/scripts/stack" down >/dev/null 2>&1 || true
  if [[ -z ${WEB_SHOT_DIR:-} && ${KEEP_STACK_DIR:-} != 1 ]]; then rm -rf "$FRACTAL_STACK_DIR"; fi
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; tail -n 20 "$FRACTAL_STACK_DIR"/logs/*.log >&2 || true; exit 1; }

url=$("$root/scripts/stack" up | sed -n 's/^FRACTAL_URL=//p')
[[ -n $url ]] || fail "stack up printed no URL"

# Static serving rules (server/web_resource.h).
headers() { curl -sS -o /dev/null -D - "$@" | tr -d '\r'; }
h=$(headers -H 'Accept: text/html' "$url/")
grep -q '^HTTP/1.1 200' <<<"$h" || fail "GET / : $h"
grep -qi '^content-type: text/html' <<<"$h" || fail "GET / content type: $h"
grep -qi '^cache-control: no-cache' <<<"$h" || fail "GET / cache-control: $h"
grep -qi "^content-security-policy: default-src 'self'" <<<"$h" || fail "GET / CSP: $h"
asset=$(curl -sS "$url/" | grep -o '/assets/index-[A-Za-z0-9_-]*\.js' | head -1)
[[ -n $asset ]] || fail "no hashed script in index.html"
h=$(headers "$url$asset")
grep -qi '^content-type: text/javascript' <<<"$h" || fail "$asset content type: $h"
grep -qi '^cache-control: public, max-age=31536000, immutable' <<<"$h" || fail "$asset cache-control: $h"
for bad in /assets/ /../etc/passwd /%2e%2e/etc/passwd /assets/%2e%2e/index.html /assets/..%2f..%2fetc%2fpasswd /.hidden /assets/missing-12345678.js /nope.txt; do
  code=$(curl -sS --path-as-is -o "$FRACTAL_STACK_DIR/body" -w '%{http_code}' -H 'Accept: text/html' "$url$bad")
  [[ $code == 404 ]] || fail "GET $bad answered $code"
  grep -q '"error"' "$FRACTAL_STACK_DIR/body" || fail "GET $bad: not the JSON error"
done
[[ $(curl -sS -o /dev/null -w '%{http_code}' -H 'Accept: text/html' "$url/some/app/path") == 200 ]] || fail "SPA path"
[[ $(curl -sS -o /dev/null -w '%{http_code}' "$url/some/app/path") == 404 ]] || fail "non-HTML client on unknown path"
[[ $(curl -sS -o /dev/null -w '%{http_code}' "$url/tasks") == 401 ]] || fail "API routes must win over the web group"
[[ $(curl -sS -o /dev/null -w '%{http_code}' -X POST "$url/") == 404 ]] || fail "POST / is not the web group"

FRACTAL_URL=$url SHOT_DIR=$shots CHROMIUM=$chromium node "$root/web/tests/e2e.mjs" || fail "browser test"
echo "screenshots: $shots"
