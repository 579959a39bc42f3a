#!/usr/bin/env bash
# ctest driver of the OpenAPI checks (tests/openapi/CMakeLists.txt):
#   run.sh PRINT_OPENAPI                 the document is valid OpenAPI 3.1
#   run.sh PRINT_OPENAPI RESPONSES_DIR   and the recorded answers match it
# Installs the pinned validators (package-lock.json) with `npm ci` when
# node_modules is missing or stale. Exit 77 (ctest: skipped, with the reason)
# when node/npm are missing or the install cannot reach the registry.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
print_openapi=$1
responses=${2:-}
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIP: node/npm are not installed (scripts/setup installs nodejs npm)"
  exit 77
fi
(
  flock 9
  stamp=$here/node_modules/.fractal-install-stamp
  want=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
  if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) ||
      { echo "SKIP: npm ci in tests/openapi failed (offline without a cache?)"; exit 77; }
    echo "$want" >"$stamp"
  fi
) 9>"${TMPDIR:-/tmp}/fractal-openapi-npm.lock"
doc=$(mktemp --suffix=.json)
trap 'rm -f "$doc"' EXIT
"$print_openapi" >"$doc"
if [[ -n $responses ]]; then
  mkdir -p "$responses"
  exec node "$here/check.mjs" "$doc" "$responses"
fi
exec node "$here/check.mjs" "$doc"
