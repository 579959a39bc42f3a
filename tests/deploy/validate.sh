#!/usr/bin/env bash
# Offline validation of the deployment (deploy/, Dockerfile, Dockerfile.cuda).
#   tests/deploy/validate.sh [CHECK...]     (default: every check; ctest runs one each)
# Checks:
#   tools       deploy/validate/install.sh (apt + npm ci; no-op when present)
#   render      kustomize build of base, overlays/gpu, overlays/cpu and the test
#               overlays; when kubectl embeds kustomize v5, its output must be the same
#   seeds       the seed file names of deploy/k8s/base and their kinds
#   k8s-schema  every rendered object against the Kubernetes/KEDA/Traefik/Prometheus
#               schemas, unknown fields rejected
#   k8s-policy  requests/limits, securityContext, probes, GPU scheduling, routing, KEDA...
#   yamllint, shellcheck
#               every YAML file, every shell script of the repository
#   dockerfiles Dockerfile and Dockerfile.cuda (dockerfile-utils lint + policy;
#               in step: same stages, apt packages, COPYs and scripts)
#   compose     deploy/compose/compose.yaml (compose-spec schema + policy)
#   broken      every case under tests/deploy/broken/ must be rejected, for its reason
# Prints "N passed, M failed"; exit status 1 when a check failed.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
validate_dir=$root/deploy/validate
k8s=$root/deploy/k8s
work=$(mktemp -d "${TMPDIR:-/tmp}/fractal-deploy.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Rendered targets: "<name> <kustomization dir> <policy profile>".
targets=(
  "base $k8s/base base"
  "gpu $k8s/overlays/gpu gpu"
  "cpu $k8s/overlays/cpu cpu"
  "gpu-all-components $here/overlays/gpu-all-components gpu"
  "cpu-external-secrets $here/overlays/cpu-external-secrets cpu"
)

node_validate() { node "$validate_dir/validate.mjs" "$@"; }
kustomize() { "$validate_dir/kustomize.sh" "$@"; }

need_node_modules() {
  if [[ ! -d $validate_dir/node_modules/kubernetes-models ]]; then
    echo "deploy/validate/node_modules is missing: run deploy/validate/install.sh" >&2
    return 1
  fi
}

render_all() {  # renders every target into $work/<name>.yaml
  local t name dir status=0
  for t in "${targets[@]}"; do
    read -r name dir _ <<<"$t"
    if ! kustomize build "$dir" >"$work/$name.yaml" 2>"$work/$name.err"; then
      echo "render $name: kustomize build ${dir#"$root"/} failed:"
      cat "$work/$name.err"
      status=1
    fi
  done
  return $status
}

check_tools() {
  bash "$validate_dir/install.sh"
}

check_render() {
  need_node_modules || return 1
  render_all || return 1
  local t name dir status=0 version
  for t in "${targets[@]}"; do
    read -r name dir _ <<<"$t"
    echo "render $name: $(grep -c '^kind:' "$work/$name.yaml") objects"
  done
  # components/external-secrets drops the placeholder: only the stand-in is left.
  if [[ $(grep -c '^kind: Secret$' "$work/cpu-external-secrets.yaml") -ne 1 ]] || ! grep -q 'fractal.test/stand-in' "$work/cpu-external-secrets.yaml"; then
    echo "render cpu-external-secrets: the placeholder Secret was not dropped"
    status=1
  fi
  # The same manifests through kubectl's own kustomize (what `kubectl apply -k` uses).
  if command -v kubectl >/dev/null && version=$(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: v//p') && [[ ${version%%.*} -ge 5 ]]; then
    for t in "${targets[@]}"; do
      read -r name dir _ <<<"$t"
      if ! kubectl kustomize "$dir" >"$work/$name.kubectl.yaml" 2>"$work/$name.kubectl.err"; then
        echo "render $name: kubectl kustomize (v$version) failed:"
        cat "$work/$name.kubectl.err"
        status=1
      elif ! diff -u "$work/$name.yaml" "$work/$name.kubectl.yaml" >"$work/$name.diff"; then
        echo "render $name: kubectl kustomize v$version renders differently:"
        head -50 "$work/$name.diff"
        status=1
      fi
    done
    echo "render: kubectl kustomize v$version agrees"
  else
    echo "render: no kubectl with kustomize v5 here; cross-check skipped"
  fi
  return $status
}

check_seeds() {
  need_node_modules || return 1
  node_validate seeds "$k8s/base"
}

check_k8s() {  # check_k8s --schema-only|--policy-only
  need_node_modules || return 1
  render_all || return 1
  local t name dir profile status=0
  for t in "${targets[@]}"; do
    read -r name dir profile <<<"$t"
    node_validate k8s "$1" --profile "$profile" "$work/$name.yaml" | sed "s|^$work/||" || status=1
  done
  return $status
}

check_k8s_schema() { check_k8s --schema-only; }
check_k8s_policy() { check_k8s --policy-only; }

# Files of the repository, without build outputs and installed packages.
repo_files() {
  find "$root" \( -name .git -o -name node_modules -o -name 'build' -o -name 'build-*' -o -name .stack -o -name out \) -prune -o -type f -print
}

check_yamllint() {
  command -v yamllint >/dev/null || { echo "yamllint is missing: run deploy/validate/install.sh" >&2; return 1; }
  local files=()
  mapfile -t files < <(repo_files | grep -E '\.ya?ml$' | grep -v "^$here/broken/" | sort)
  echo "yamllint: ${#files[@]} files"
  yamllint --strict -c "$validate_dir/yamllint.yaml" "${files[@]}"
}

check_shellcheck() {
  command -v shellcheck >/dev/null || { echo "shellcheck is missing: run deploy/validate/install.sh" >&2; return 1; }
  local files=() f
  while IFS= read -r f; do
    case $f in
      *.sh) files+=("$f") ;;
      *) if head -c 64 "$f" 2>/dev/null | head -1 | grep -qE '^#!.*(/|env )(ba|da|k)?sh\b'; then files+=("$f"); fi ;;
    esac
  done < <(repo_files | grep -E "^$root/(scripts|bench|\.ci|deploy|tests)/" | sort)
  echo "shellcheck: ${#files[@]} scripts"
  shellcheck -x "${files[@]}"
}

check_dockerfiles() {
  need_node_modules || return 1
  local status=0
  [[ -f $root/.dockerignore ]] || { echo ".dockerignore is missing"; status=1; }
  node_validate dockerfile --expect cuda --root "$root" "$root/Dockerfile.cuda" | sed "s|^$root/||" || status=1
  node_validate dockerfile --expect cpu --root "$root" "$root/Dockerfile" | sed "s|^$root/||" || status=1
  # Same stages, packages, COPYs and scripts: only the CPU image is built and
  # smoke-tested for real (deploy/images/build), so the CUDA one must not drift.
  node_validate dockerfiles-in-step "$root/Dockerfile" "$root/Dockerfile.cuda" | sed "s|$root/||g" || status=1
  return $status
}

check_compose() {
  need_node_modules || return 1
  local status=0
  node_validate compose "$root/deploy/compose/compose.yaml" | sed "s|^$root/||" || status=1
  # With a compose plugin (it needs no engine for `config`), its own validation too.
  if docker compose version >/dev/null 2>&1; then
    POSTGRES_PASSWORD=x docker compose -f "$root/deploy/compose/compose.yaml" --profile gpu --profile cpu config -q || status=1
    echo "compose: docker compose config agrees"
  fi
  return $status
}

# Each case directory holds case.conf (type=k8s|k8s-file|compose|dockerfile|
# dockerfiles-in-step, profile=..., expect=<extended regex the output must match>)
# and its input: a kustomization.yaml, manifest.yaml, compose.yaml, Dockerfile,
# or Dockerfile + Dockerfile.cuda.
check_broken() {
  need_node_modules || return 1
  local dir name type profile expect out rc status=0 n=0
  for dir in "$here"/broken/*/; do
    dir=${dir%/}
    name=$(basename "$dir")
    type='' profile=base expect=''
    # shellcheck source=/dev/null
    source "$dir/case.conf"
    out=$work/broken-$name.out
    case $type in
      k8s)
        if ! kustomize build "$dir" >"$work/broken-$name.yaml" 2>"$out"; then
          echo "FAIL broken/$name: kustomize itself failed (the case must render and be caught by validation):"
          cat "$out"
          status=1
          continue
        fi
        node_validate k8s --profile "$profile" "$work/broken-$name.yaml" >"$out" 2>&1 ;;
      k8s-file) node_validate k8s --profile "$profile" "$dir/manifest.yaml" >"$out" 2>&1 ;;
      compose) node_validate compose "$dir/compose.yaml" >"$out" 2>&1 ;;
      dockerfile) node_validate dockerfile --root "$root" "$dir/Dockerfile" >"$out" 2>&1 ;;
      dockerfiles-in-step) node_validate dockerfiles-in-step "$dir/Dockerfile" "$dir/Dockerfile.cuda" >"$out" 2>&1 ;;
      *) echo "FAIL broken/$name: unknown type '$type' in case.conf"; status=1; continue ;;
    esac
    rc=$?
    n=$((n + 1))
    if [[ $rc -ne 1 ]]; then
      echo "FAIL broken/$name: the validator exited $rc, expected 1 (rejected):"
      cat "$out"
      status=1
    elif ! grep -qE -- "$expect" "$out"; then
      echo "FAIL broken/$name: rejected, but not for the expected reason /$expect/:"
      cat "$out"
      status=1
    else
      echo "ok   broken/$name: rejected: $(grep -E -m1 -- "$expect" "$out")"
    fi
  done
  ((n > 0)) || { echo "no broken cases found"; return 1; }
  return $status
}

all=(tools render seeds k8s-schema k8s-policy yamllint shellcheck dockerfiles compose broken)
checks=("$@")
((${#checks[@]})) || checks=("${all[@]}")
passed=0
failed=0
for check in "${checks[@]}"; do
  fn=check_${check//-/_}
  if ! declare -F "$fn" >/dev/null; then
    echo "unknown check $check (known: ${all[*]})" >&2
    exit 2
  fi
  echo "== $check"
  if "$fn"; then
    passed=$((passed + 1))
    echo "PASS $check"
  else
    failed=$((failed + 1))
    echo "FAIL $check"
  fi
done
echo "$passed passed, $failed failed"
((failed == 0))
