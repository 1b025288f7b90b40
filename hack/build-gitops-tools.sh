#!/usr/bin/env bash
# Builds the small Go checkers the GitOps tests run, from the modules pinned under hack/tools/:
#   kstatus     sigs.k8s.io/cli-utils' kstatus (what Flux, kpt, Helm 4 --wait read)
#   argocd-lua  Argo CD's health-script evaluation on gopher-lua
#   kube-state-metrics  only with --with-kube-state-metrics (a few minutes cold; outside npm test)
# Cached like the control-plane binaries (hack/build-binaries.sh), in a directory keyed by a hash
# of their go.mod, go.sum and sources:
#   ${PODGROUP_GITOPS_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/podgroup-controller/bin/gitops-<hash>}
# A cold build takes about 40 s on 2 cores (mostly kstatus: apimachinery); a warm one nothing.
#
# Usage: hack/build-gitops-tools.sh [--with-kube-state-metrics]   build what is missing; the bin dir on stdout
#        hack/build-gitops-tools.sh --dir                         only print the bin dir
set -euo pipefail

TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/tools"
GITOPS_TOOLS=(kstatus argocd-lua)
ALL_TOOLS=(kstatus argocd-lua kube-state-metrics)

key() {
  local tool
  shopt -s nullglob
  for tool in "${ALL_TOOLS[@]}"; do
    cat "${TOOLS_DIR}/${tool}/go.mod" "${TOOLS_DIR}/${tool}/go.sum" "${TOOLS_DIR}/${tool}"/*.go
  done | sha256sum | cut -c1-12
}

BIN_DIR="${PODGROUP_GITOPS_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/podgroup-controller/bin/gitops-$(key)}"
case "${1:-}" in
  --dir)
    echo "${BIN_DIR}"
    exit 0
    ;;
  --with-kube-state-metrics) GITOPS_TOOLS+=(kube-state-metrics) ;;
  "") ;;
  *)
    echo "build-gitops-tools: unknown argument ${1}; usage: hack/build-gitops-tools.sh [--with-kube-state-metrics | --dir]" >&2
    exit 1
    ;;
esac

command -v go >/dev/null 2>&1 || {
  echo "build-gitops-tools: the Go toolchain is not on PATH; install Go >= 1.26 and retry" >&2
  exit 1
}
export GOTOOLCHAIN=local CGO_ENABLED=0
mkdir -p "${BIN_DIR}"
for tool in "${GITOPS_TOOLS[@]}"; do
  if [[ -x "${BIN_DIR}/${tool}" ]]; then
    continue
  fi
  start=$SECONDS
  log="${BIN_DIR}/.build-${tool}.log"
  echo "build-gitops-tools: building ${tool} (log: ${log})" >&2
  # Built to a temporary name first: a build cut short never leaves a binary that looks finished.
  # kube-state-metrics is upstream's main package (a tool of its module); the others are ours.
  pkg=.
  [[ "${tool}" != kube-state-metrics ]] || pkg=k8s.io/kube-state-metrics/v2
  if ! (cd "${TOOLS_DIR}/${tool}" && go build -trimpath -ldflags "-s -w" -o "${BIN_DIR}/.${tool}.partial" "${pkg}") >"${log}" 2>&1; then
    echo "build-gitops-tools: building ${tool} failed; last lines of ${log}:" >&2
    tail -n 30 "${log}" >&2
    exit 1
  fi
  mv "${BIN_DIR}/.${tool}.partial" "${BIN_DIR}/${tool}"
  echo "build-gitops-tools: built ${tool} in $((SECONDS - start))s" >&2
done
echo "${BIN_DIR}"
