#!/usr/bin/env bash
# Builds the local control plane's binaries (etcd, kube-apiserver, kube-scheduler,
# kube-controller-manager, kwok) from the Go modules pinned under hack/tools/, once; with
# --with-node also the kubelet, kube-proxy and CoreDNS of the real node (hack/real-node builds them
# when a real node can start, so a host that cannot run one never builds them). Before building,
# it says how long the build will take on this machine.
#
# Finished binaries go to a version-keyed directory outside the repository so later
# runs (and CI on the same machine) skip the build:
#   ${PODGROUP_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/podgroup-controller/bin/<key>}
# The key names every pinned version plus a hash of the go.sum files.
#
# Usage: hack/build-binaries.sh [--with-node]   build what is missing; progress on stderr, the bin dir on stdout
#        hack/build-binaries.sh --dir           only print the bin dir
set -euo pipefail

HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOLS_DIR="${HACK_DIR}/tools"

KUBE_VERSION="v1.34.4"
ETCD_VERSION="v3.6.16"
KWOK_VERSION="v0.8.0"
COREDNS_VERSION="v1.12.4"

fail() {
  echo "build-binaries: $*" >&2
  exit 1
}

# The control plane's modules only: the GitOps checkers (hack/build-gitops-tools.sh) have their own key.
CONTROL_PLANE_TOOLS=(coredns etcd kubernetes kwok)

sums_hash() {
  local d files=()
  shopt -s nullglob
  for d in "${CONTROL_PLANE_TOOLS[@]}"; do files+=("${TOOLS_DIR}/${d}/go.mod"); done
  for d in "${CONTROL_PLANE_TOOLS[@]}"; do files+=("${TOOLS_DIR}/${d}/go.sum"); done
  for d in "${CONTROL_PLANE_TOOLS[@]}"; do files+=("${TOOLS_DIR}/${d}"/*.go); done
  shopt -u nullglob
  cat "${files[@]}" | sha256sum | cut -c1-12
}

KEY="k8s-${KUBE_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_coredns-${COREDNS_VERSION}_$(sums_hash)"
BIN_DIR="${PODGROUP_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/podgroup-controller/bin/${KEY}}"

WITH_NODE=0
case "${1:-}" in
  --dir)
    echo "${BIN_DIR}"
    exit 0
    ;;
  --with-node) WITH_NODE=1 ;;
  "") ;;
  *) fail "unknown argument ${1}; usage: hack/build-binaries.sh [--with-node | --dir]" ;;
esac

command -v go >/dev/null 2>&1 ||
  fail "the Go toolchain is not on PATH; install Go >= 1.26 (https://go.dev/doc/install) and retry"

# A go.mod asking for a newer Go must fail here rather than try to download a toolchain.
export GOTOOLCHAIN=local
export CGO_ENABLED=0
GO_VERSION="$(go env GOVERSION)"
case "${GO_VERSION}" in
  go1.2[6-9]* | go1.[3-9]*) ;;
  *) fail "Go ${GO_VERSION} is too old: the pinned modules need Go >= 1.26" ;;
esac

mkdir -p "${BIN_DIR}"
BUILD_START=$SECONDS

# Prints a line every 30 s while a long step runs so a user sees the build is alive.
with_progress() {
  local label="$1"
  shift
  local log="${BIN_DIR}/.build-${label%% *}.log"
  local start=$SECONDS
  echo "build-binaries: building ${label} (log: ${log})" >&2
  "$@" >"${log}" 2>&1 &
  local pid=$! next=30
  while kill -0 "${pid}" 2>/dev/null; do
    sleep 1 &
    wait $! || true
    if kill -0 "${pid}" 2>/dev/null && ((SECONDS - start >= next)); then
      echo "build-binaries:   ${label}: still building, $((SECONDS - start))s elapsed" >&2
      next=$((next + 30))
    fi
  done
  if ! wait "${pid}"; then
    echo "build-binaries: building ${label} failed after $((SECONDS - start))s; last lines of ${log}:" >&2
    tail -n 30 "${log}" >&2
    if grep -qE 'dial tcp|proxy|i/o timeout|no such host|reading .*: 4[0-9][0-9]' "${log}"; then
      echo "build-binaries: this looks like a failed Go module download: check access to the Go module proxy (GOPROXY=$(go env GOPROXY))" >&2
    fi
    exit 1
  fi
  echo "build-binaries: built ${label} in $((SECONDS - start))s" >&2
}

LDFLAGS_COMMON="-s -w"

version_ldflags() {
  local version="$1" major minor
  major="$(echo "${version#v}" | cut -d. -f1)"
  minor="$(echo "${version#v}" | cut -d. -f2)"
  local flags="" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X ${pkg}.gitVersion=${version} -X ${pkg}.gitMajor=${major} -X ${pkg}.gitMinor=${minor}"
    flags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
  done
  echo "${flags}"
}

# Builds the named k8s.io/kubernetes/cmd/... binaries in one go build (they share most packages).
build_kubernetes() {
  local cmds=() name
  for name in "$@"; do cmds+=("k8s.io/kubernetes/cmd/${name}"); done
  (cd "${TOOLS_DIR}/kubernetes" &&
    go build -trimpath -tags=selinux,notest \
      -ldflags "${LDFLAGS_COMMON}$(version_ldflags "${KUBE_VERSION}")" \
      -o "${BIN_DIR}/" "${cmds[@]}")
}

# CoreDNS (cluster DNS for the real node's pods) from hack/tools/coredns/main.go: upstream's
# server with only the plugins the local Corefile uses.
build_coredns() {
  local pkg=github.com/coredns/coredns/coremain
  (cd "${TOOLS_DIR}/coredns" &&
    go build -trimpath -ldflags "${LDFLAGS_COMMON} -X ${pkg}.GitCommit=${COREDNS_VERSION}" -o "${BIN_DIR}/coredns" .)
}

build_etcd() {
  (cd "${TOOLS_DIR}/etcd" &&
    go build -trimpath -ldflags "${LDFLAGS_COMMON}" -o "${BIN_DIR}/etcd" go.etcd.io/etcd/server/v3)
}

build_kwok() {
  (cd "${TOOLS_DIR}/kwok" &&
    go build -trimpath \
      -ldflags "${LDFLAGS_COMMON} -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION}" \
      -o "${BIN_DIR}/kwok" sigs.k8s.io/kwok/cmd/kwok)
}

# kwok v0.8.0 ships no built-in stages; the module's "fast" stage set (the files its
# kustomize/stage/fast kustomization lists) is copied next to
# the binary so the cluster script finds it without a module cache.
copy_kwok_stages() {
  local mod_dir
  mod_dir="$(cd "${TOOLS_DIR}/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
  local stages="${mod_dir}/kustomize/stage" dest="${BIN_DIR}/kwok-stages"
  rm -rf "${dest}"
  mkdir -p "${dest}"
  cp "${stages}/node/fast/node-initialize.yaml" \
    "${stages}/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" \
    "${stages}"/pod/fast/pod-*.yaml "${dest}/" ||
    fail "kwok module ${mod_dir} lacks the expected kustomize/stage files"
  chmod -R u+w "${dest}"
}

# Cold build times on 2 cores (empty Go build and module caches, downloads included), what the
# estimate below scales by the cores here: etcd, kwok and the five Kubernetes binaries measured
# together (255 s), split by the packages each set adds (the kubelet and kube-proxy add 128 to the
# control plane's 2,335, and two links); CoreDNS measured after Kubernetes. docs/development.md.
declare -A COLD_SECONDS_2_CORES=([etcd]=45 [kwok]=80 [control-plane]=225 [node]=40 [coredns]=75)

missing=()
[[ -x "${BIN_DIR}/etcd" ]] || missing+=(etcd)
[[ -x "${BIN_DIR}/kwok" && -d "${BIN_DIR}/kwok-stages" ]] || missing+=(kwok)
[[ -x "${BIN_DIR}/kube-apiserver" && -x "${BIN_DIR}/kube-controller-manager" && -x "${BIN_DIR}/kube-scheduler" ]] || missing+=(control-plane)
if ((WITH_NODE)); then
  [[ -x "${BIN_DIR}/kubelet" && -x "${BIN_DIR}/kube-proxy" ]] || missing+=(node)
  [[ -x "${BIN_DIR}/coredns" ]] || missing+=(coredns)
fi

if ((${#missing[@]} > 0)); then
  cores="$(nproc 2>/dev/null || echo 2)"
  total=0
  for part in "${missing[@]}"; do total=$((total + COLD_SECONDS_2_CORES[${part}])); done
  # Compiling spreads over the cores; downloads and linking do not: no better than a third.
  estimate=$((cores > 2 ? total * 2 / cores : total))
  ((estimate >= total / 3)) || estimate=$((total / 3))
  echo "build-binaries: building ${missing[*]} once (then cached in ${BIN_DIR}):" \
    "about $(((estimate + 30) / 60)) min on this machine's ${cores} cores with empty Go caches," \
    "less with warm ones ($((total / 60)) min $((total % 60)) s on 2 cores; docs/development.md)" >&2
fi

for part in "${missing[@]}"; do
  case "${part}" in
    etcd) with_progress "etcd ${ETCD_VERSION}" build_etcd ;;
    kwok)
      with_progress "kwok ${KWOK_VERSION}" build_kwok
      copy_kwok_stages
      ;;
    control-plane) with_progress "kubernetes ${KUBE_VERSION} (kube-apiserver, kube-controller-manager, kube-scheduler)" build_kubernetes kube-apiserver kube-controller-manager kube-scheduler ;;
    node) with_progress "kubernetes ${KUBE_VERSION} node (kubelet, kube-proxy)" build_kubernetes kubelet kube-proxy ;;
    coredns) with_progress "coredns ${COREDNS_VERSION}" build_coredns ;;
  esac
done

if ((SECONDS - BUILD_START > 1)); then
  echo "build-binaries: all binaries ready in $((SECONDS - BUILD_START))s" >&2
fi
echo "${BIN_DIR}"
