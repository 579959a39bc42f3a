#!/usr/bin/env bash
# Unit tests of web/src (vitest). Exit 77 (skipped) without node/npm.
set -euo pipefail
web=$(cd "$(dirname "$0")/../../web" && pwd)
command -v npm >/dev/null || { echo "SKIP: npm is not installed (scripts/setup installs nodejs npm)"; exit 77; }
cd "$web"
if [[ ! -d node_modules ]]; then npm ci --no-audit --no-fund >/dev/null || { echo "SKIP: npm ci failed (offline without a cache?)"; exit 77; }; fi
exec npx vitest run
