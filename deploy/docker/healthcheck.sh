#!/usr/bin/env bash
# Container HEALTHCHECK for fractal-server: GET /livez on the local port and
# succeed on HTTP 200. Pure bash (/dev/tcp): no curl in the image, nothing
# written to disk, works on a read-only root filesystem.
#   fractal-healthcheck [path]        (default /livez; port from FRACTAL_PORT, default 8080)
set -uo pipefail
path=${1:-/livez}
port=${FRACTAL_PORT:-8080}
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET %s HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$path" >&3
status_line=
IFS= read -r -t 5 status_line <&3 || exit 1
exec 3<&-
[[ $status_line =~ ^HTTP/1\.[01]\ 200 ]]
