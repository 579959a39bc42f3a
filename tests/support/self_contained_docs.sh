#!/usr/bin/env bash
# The product stands alone: no file of the repository (docs, README, code
# comments, tests) points at documents outside it, such as the contract the
# project started from (API.md, DESIGN.md, STACK-NOTES.md, STYLE.md, ../shared).
# docs/api.md is the reference. Exit 1 listing the offending lines.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
pattern='(^|[^a-z/])(API|DESIGN|STYLE)\.md|STACK-NOTES|\.\./shared|(^|[^A-Za-z_./-])shared/[A-Z]'
hits=$(grep -rnIE "$pattern" "$root" \
  --exclude-dir=.git --exclude-dir='build*' --exclude-dir=node_modules --exclude-dir=.stack \
  --exclude-dir=dist --exclude-dir=out --exclude=self_contained_docs.sh || true)
if [[ -n $hits ]]; then
  echo "references to documents outside the repository (point at docs/api.md or say it here):"
  echo "${hits//$root\//}"
  exit 1
fi
echo "no references outside the repository"
