#!/usr/bin/env bash
# Prints the Debian/Ubuntu packages that hold the shared libraries the given
# binaries link directly (their DT_NEEDED entries), one name a line, sorted.
# Used in the builder stage of Dockerfile and Dockerfile.cuda so that the
# runtime stage installs exactly the runtime libraries (never a -dev package),
# whatever the distribution calls them (Debian 12 libpqxx-6.4, Ubuntu 24.04
# libpqxx-7.8t64, ...). apt pulls in their own dependencies.
#   deploy/docker/runtime-packages.sh build/bin/fractal-server build/bin/fractal-worker ...
# Libraries that no package owns (e.g. a CUDA library shipped by the base image
# outside dpkg) are reported on stderr and skipped; a library that cannot be
# resolved at all is an error.
set -euo pipefail

if (($# == 0)); then
  echo "usage: $0 BINARY..." >&2
  exit 2
fi

owner() {  # owner <path>: the package owning path, trying the /usr-merged aliases too
  local path=$1 candidate pkg
  for candidate in "$path" "$(realpath "$path")" "/usr${path}" "${path#/usr}"; do
    [[ -n $candidate ]] || continue
    if pkg=$(dpkg-query -S "$candidate" 2>/dev/null | head -1); then
      echo "${pkg%%:*}"
      return 0
    fi
  done
  return 1
}

declare -A packages=()
status=0
for bin in "$@"; do
  mapfile -t needed < <(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  declare -A where=()
  while read -r name arrow path _; do
    if [[ $arrow == "=>" && $path == /* ]]; then where[$name]=$path; fi
  done < <(ldd "$bin")
  for lib in "${needed[@]}"; do
    [[ $lib == ld-linux* || $lib == ld64.so* ]] && continue  # the dynamic loader (libc6)
    path=${where[$lib]:-}
    if [[ -z $path ]]; then
      echo "runtime-packages: $bin: $lib not found by ldd" >&2
      status=1
      continue
    fi
    if pkg=$(owner "$path"); then
      packages[$pkg]=1
    else
      echo "runtime-packages: $bin: $lib ($path) belongs to no package; skipped" >&2
    fi
  done
  unset where
done

# Base images have these; listing them is harmless but noisy.
for base in libc6 libgcc-s1 libstdc++6; do unset "packages[$base]"; done
if ((${#packages[@]} > 0)); then printf '%s\n' "${!packages[@]}" | sort; fi
exit "$status"
