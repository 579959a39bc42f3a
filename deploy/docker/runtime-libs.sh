#!/usr/bin/env bash
# The shared libraries the binaries really load, for a small runtime image.
# Used by Dockerfile and Dockerfile.cuda instead of installing the libraries'
# packages: Debian's libopenimageio2.4 alone pulls 337 packages (LLVM, Mesa,
# GDAL, ...) of which the binaries load a fraction.
#
#   runtime-libs.sh collect DIR BINARY...   (build stage) copies every library of
#       the binaries' load closure (ldd: DT_NEEDED, recursively, as the dynamic
#       loader resolves them) into DIR/lib under the name the loader looks for,
#       writes DIR/runtime-libs.txt ("soname package version", one a line) and
#       the packages' copyright files under DIR/copyright/PACKAGE. Fails if a
#       library cannot be resolved.
#   runtime-libs.sh prune DIR               (a stage FROM the runtime base) removes
#       from DIR/lib every library the base image already provides (its
#       ldconfig cache knows the name), so nothing is shipped twice.
set -euo pipefail

usage() {
  echo "usage: $0 collect DIR BINARY... | prune DIR" >&2
  exit 2
}

declare -A owners=()
find_owners() {  # find_owners PATH...: fills owners[path]="package" with one dpkg-query (/usr-merge aliases too)
  local path candidates=() pkg file
  for path in "$@"; do candidates+=("$path" "$(realpath "$path")" "/usr${path}" "${path#/usr}"); done
  while IFS= read -r line; do
    pkg=${line%%: *}
    file=${line#*: }
    [[ $pkg == *", "* ]] && pkg=${pkg%%, *}  # diversions: the first owner
    owners[$file]=${pkg%%:*}
  done < <(dpkg-query -S "${candidates[@]}" 2>/dev/null || true)
}

owner() {  # owner PATH: "package version", or "- -" when no package owns it
  local path=$1 candidate pkg
  for candidate in "$path" "$(realpath "$path")" "/usr${path}" "${path#/usr}"; do
    pkg=${owners[$candidate]:-}
    if [[ -n $pkg ]]; then
      echo "$pkg $(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null | head -1)"
      return 0
    fi
  done
  echo "- -"
}

collect() {
  local dir=$1
  shift
  (($# > 0)) || usage
  mkdir -p "$dir/lib" "$dir/copyright"
  declare -A where=()
  local bin name arrow path rest status=0
  for bin in "$@"; do
    while read -r name arrow path rest; do
      case $name in
        linux-vdso.so.* | ld-linux* | /*ld-linux* | ld64.so*) continue ;;  # the kernel's and the loader itself
      esac
      if [[ $arrow == "=>" && $path == not ]]; then
        echo "runtime-libs: $bin: $name not found" >&2
        status=1
      elif [[ $arrow == "=>" && $path == /* ]]; then
        where[$name]=$path
      fi
    done < <(ldd "$bin")
  done
  ((status == 0)) || return 1
  : >"$dir/runtime-libs.txt"
  local pkg version
  find_owners "${where[@]}"
  for name in $(printf '%s\n' "${!where[@]}" | sort); do
    path=${where[$name]}
    cp -L "$path" "$dir/lib/$name"
    read -r pkg version < <(owner "$path")
    echo "$name $pkg $version" >>"$dir/runtime-libs.txt"
    if [[ $pkg != - && -f /usr/share/doc/$pkg/copyright && ! -f $dir/copyright/$pkg ]]; then
      cp "/usr/share/doc/$pkg/copyright" "$dir/copyright/$pkg"
    fi
  done
  echo "runtime-libs: ${#where[@]} libraries, $(du -sm "$dir/lib" | cut -f1) MB, from $(awk '{print $2}' "$dir/runtime-libs.txt" | sort -u | wc -l) packages" >&2
}

prune() {
  local dir=$1 lib name kept=0 pruned=0
  [[ -d $dir/lib ]] || usage
  local known
  known=$(ldconfig -p | awk 'NR > 1 {print $1}' | sort -u)
  for lib in "$dir"/lib/*; do
    name=${lib##*/}
    if grep -qxF "$name" <<<"$known"; then
      rm -f "$lib"
      pruned=$((pruned + 1))
    else
      kept=$((kept + 1))
    fi
  done
  echo "runtime-libs: $pruned libraries already in the base image, $kept kept ($(du -sm "$dir/lib" | cut -f1) MB)" >&2
}

case ${1:-} in
  collect) shift; (($# >= 2)) || usage; collect "$@" ;;
  prune) (($# == 2)) || usage; prune "$2" ;;
  *) usage ;;
esac
