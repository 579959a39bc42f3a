#!/usr/bin/env bash
# ServerLinksNoRenderBackend: fractal-server links kernels' fractal_spec (TaskSpec,
# palettes, tile views) and no render backend (docs/architecture.md, "Build targets").
# Fails when
#   0. the link closure CMake computed for fractal-server (tests/server/CMakeLists.txt:
#      every target and library on its link line) names a render library or
#      backend. The binary alone cannot show this: a static fractal_core whose
#      members go unused and --as-needed shared libraries leave no trace in it;
# or when the binary
#   1. loads Highway, MPFR, OpenImageIO or a CUDA library (ldd: the whole closure,
#      so a backend that comes back through another library is caught too), or
#   2. defines a symbol of Highway, MPFR, OpenImageIO or the CUDA runtime (static
#      archives do not show in ldd: cudart is linked statically), or
#   3. defines any global symbol that a render library defines (fractal_core,
#      fractal_cuda, fractal_image: their archives are given as arguments, so the
#      list follows the code without being kept by hand).
# Usage: links_no_render_backend.sh <fractal-server> <link closure file> <render library archive>...
set -uo pipefail

if [[ $# -lt 3 ]]; then
  echo "usage: $0 <fractal-server> <link closure file> <render library archive>..." >&2
  exit 2
fi
binary=$1
closure_file=$2
shift 2
for tool in ldd nm; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not found"; exit 1; }
done
[[ -x $binary ]] || { echo "FAIL: $binary is not an executable"; exit 1; }

failed=0

# 0. The link line as CMake sees it.
[[ -s $closure_file ]] || { echo "FAIL: link closure $closure_file missing or empty"; exit 1; }
if ! grep -qx 'fractal_spec' "$closure_file"; then
  echo "FAIL: fractal_spec not in $closure_file: the link closure reads the wrong thing"
  exit 1
fi
backend_targets=$(grep -Ei '^(fractal_core|fractal_image|fractal_cuda)$|hwy|mpfr|openimageio|oiio|cuda|nvtx|nvrtc' "$closure_file")
if [[ -n $backend_targets ]]; then
  echo "FAIL: fractal-server's link line names render libraries or backends:"
  echo "$backend_targets"
  failed=1
fi

# 1. Shared libraries, the full closure.
ldd_out=$(ldd "$binary") || { echo "FAIL: ldd $binary failed"; exit 1; }
backend_libs=$(grep -Ei '^\s*lib(hwy|mpfr|OpenImageIO|cuda|cudart|nvrtc|nvToolsExt|nvidia)' <<<"$ldd_out")
if [[ -n $backend_libs ]]; then
  echo "FAIL: $binary loads render backend libraries:"
  echo "$backend_libs"
  failed=1
fi

# Defined symbols of the binary (demangled); a stripped binary cannot be checked.
defined=$(nm -C --defined-only "$binary" 2>/dev/null)
if [[ -z $defined ]]; then
  echo "FAIL: $binary has no symbol table (stripped?): cannot check it"
  exit 1
fi
# The check must see the binary's own code: the TaskSpec parser is linked on purpose.
if ! grep -q 'fractal::parse_task_spec' <<<"$defined"; then
  echo "FAIL: fractal::parse_task_spec not found in $binary: the symbol check reads the wrong thing"
  exit 1
fi

# 2. Backend libraries linked statically.
backend_syms=$(grep -E ' (hwy::|mpfr_|__gmpfr|OpenImageIO|OIIO|cuda[A-Z_]|__cuda|nvtx)' <<<"$defined" | head -20)
if [[ -n $backend_syms ]]; then
  echo "FAIL: $binary defines symbols of a render backend library (first 20):"
  echo "$backend_syms"
  failed=1
fi

# 3. Strong global symbols defined by the render libraries (T/D/B/R; weak and
# inline symbols, such as header templates both sides may instantiate, are left out).
render_syms=$(for archive in "$@"; do
  [[ -f $archive ]] || { echo "FAIL: render library $archive not found" >&2; exit 1; }
  nm --defined-only --extern-only "$archive" 2>/dev/null | awk '$2 ~ /^[TDBR]$/ {print $3}'
done | sort -u) || exit 1
if [[ -z $render_syms ]]; then
  echo "FAIL: no global symbols read from $*: the symbol check reads the wrong thing"
  exit 1
fi
server_syms=$(nm --defined-only --extern-only "$binary" | awk '$2 ~ /^[TDBR]$/ {print $3}' | sort -u)
shared=$(comm -12 <(echo "$render_syms") <(echo "$server_syms"))
if [[ -n $shared ]]; then
  echo "FAIL: $binary defines symbols of the render libraries (first 20):"
  head -20 <<<"$shared" | c++filt
  failed=1
fi

if [[ $failed -ne 0 ]]; then
  echo "fractal-server must link fractal_spec only (server/CMakeLists.txt, docs/architecture.md)."
  exit 1
fi
echo "OK: fractal-server's link line names no render library or backend" \
  "($(wc -l <"$closure_file") entries); the binary loads no Highway/MPFR/OpenImageIO/CUDA library and defines none of" \
  "$(wc -l <<<"$render_syms") render-library symbols"
