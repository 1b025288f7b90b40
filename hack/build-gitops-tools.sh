#!/usr/bin/env bash
# Builds the small Go checkers the GitOps tests run, from the modules pinned under hack/tools/:
#   kstatus     sigs.k8s.io/cli-utils' kstatus (what Flux, kpt, Helm 4 --wait read)
#   argocd-lua  Argo CD's health-script evaluation on gopher-lua
# Cached like the control-plane binaries (hack/build-binaries.sh), in a directory keyed by a hash
# of their go.mod, go.sum and sources:
#   ${PODGROUP_GITOPS_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/podgroup-controller/bin/gitops-<hash>}
# A cold build takes about 40 s on 2 cores (mostly kstatus: apimachinery); a warm one nothing.
#
# Usage: hack/build-gitops-tools.sh          build what is missing; the bin dir on stdout
#        hack/build-gitops-tools.sh --dir    only print the bin dir
set -euo pipefail

TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/tools"
GITOPS_TOOLS=(kstatus argocd-lua)

key() {
  local tool
  for tool in "${GITOPS_TOOLS[@]}"; do
    cat "${TOOLS_DIR}/${tool}/go.mod" "${TOOLS_DIR}/${tool}/go.sum" "${TOOLS_DIR}/${tool}"/*.go
  done | sha256sum | cut -c1-12
}

BIN_DIR="${PODGROUP_GITOPS_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/podgroup-controller/bin/gitops-$(key)}"
if [[ "${1:-}" == "--dir" ]]; then
  echo "${BIN_DIR}"
  exit 0
fi

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
  if ! (cd "${TOOLS_DIR}/${tool}" && go build -trimpath -ldflags "-s -w" -o "${BIN_DIR}/.${tool}.partial" .) >"${log}" 2>&1; then
    echo "build-gitops-tools: building ${tool} failed; last lines of ${log}:" >&2
    tail -n 30 "${log}" >&2
    exit 1
  fi
  mv "${BIN_DIR}/.${tool}.partial" "${BIN_DIR}/${tool}"
  echo "build-gitops-tools: built ${tool} in $((SECONDS - start))s" >&2
done
echo "${BIN_DIR}"
