#!/usr/bin/env bash
# Prepares deploy/compose for `docker compose up`: writes .env (a random
# Postgres password, the compose profile and image for this machine) and
# secrets/jwt_secret (a random 48-byte JWT signing key). Keeps what exists:
# safe to run again. Both files are git-ignored.
#   deploy/compose/init-env.sh [gpu|cpu]      (default: gpu when nvidia-smi sees a GPU)
set -euo pipefail
cd "$(dirname "$0")"

mode=${1:-}
if [[ -z $mode ]]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then mode=gpu; else mode=cpu; fi
fi
case $mode in
  gpu) dockerfile=Dockerfile.cuda image=fractal-render:local-cuda ;;
  cpu) dockerfile=Dockerfile image=fractal-render:local-cpu ;;
  *) echo "usage: $0 [gpu|cpu]" >&2; exit 2 ;;
esac

random() { head -c "$1" /dev/urandom | base64 | tr -d '/+=\n'; }

umask 077
mkdir -p secrets
if [[ ! -s secrets/jwt_secret ]]; then
  random 48 >secrets/jwt_secret
  echo "init-env: wrote secrets/jwt_secret"
fi
# The containers run as uid 10001; a compose file secret is a bind mount, so
# the file must be readable by that uid.
chmod 0644 secrets/jwt_secret

if [[ ! -s .env ]]; then
  {
    echo "# Written by init-env.sh; read by docker compose (never commit it)."
    echo "POSTGRES_PASSWORD=$(random 24)"
  } >.env
  echo "init-env: wrote .env"
fi
set_var() {  # set_var NAME VALUE: replace or append NAME=VALUE in .env
  local tmp
  tmp=$(mktemp .env.XXXXXX)
  grep -v "^$1=" .env >"$tmp" || true
  echo "$1=$2" >>"$tmp"
  mv "$tmp" .env
}
set_var COMPOSE_PROFILES "$mode"
set_var FRACTAL_DOCKERFILE "$dockerfile"
set_var FRACTAL_IMAGE "$image"
echo "init-env: profile $mode ($dockerfile); start with: docker compose -f deploy/compose/compose.yaml up -d --build"
