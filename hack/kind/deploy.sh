#!/usr/bin/env bash
# Everything after the cluster exists, shared by hack/kind/kind-up (a kind cluster) and the local
# real node (hack/real-node): build the image, load it onto the node, install the CRD and a
# kustomize overlay, wait for the rollouts, apply a sample.
#
#   hack/kind/deploy.sh build                 build podgroup-controller:dev from the Dockerfile
#   hack/kind/deploy.sh load                  put it into the node's containerd
#   hack/kind/deploy.sh crds                  apply config/crd and wait until the API serves it
#   hack/kind/deploy.sh apply OVERLAY         kubectl apply --server-side -k OVERLAY
#   hack/kind/deploy.sh wait                  rollouts of the manager and the podgroup-scheduler
#   hack/kind/deploy.sh sample                apply the web sample and wait until it is Available
#   hack/kind/deploy.sh all OVERLAY           all of the above, in that order
#
# NODE_RUNTIME selects how the image is built and loaded:
#   kind        docker build; kind load docker-image --name ${KIND_CLUSTER_NAME:-podgroup}
#   containerd  hack/images/manager-image.sh (buildah, no Docker engine); ctr images import into
#               the containerd at CONTAINERD_ADDRESS (the real node's socket)
# kubectl uses KUBECONFIG / the current context as usual.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
IMAGE="podgroup-controller:dev"
NODE_RUNTIME="${NODE_RUNTIME:-kind}"
NAMESPACE=podgroup-system
CRD=podgroups.podgroup.dev

log() { echo "deploy: $*" >&2; }
die() { log "$*"; exit 1; }

need() {
  local tool
  for tool in "$@"; do
    command -v "${tool}" >/dev/null 2>&1 || die "${tool} is not installed"
  done
}

build() {
  case "${NODE_RUNTIME}" in
    kind) need docker; docker build -t "${IMAGE}" . ;;
    containerd) IMAGE="${IMAGE}" hack/images/manager-image.sh build ;;
    *) die "NODE_RUNTIME must be kind or containerd, not ${NODE_RUNTIME}" ;;
  esac
}

load() {
  case "${NODE_RUNTIME}" in
    kind) need kind; kind load docker-image "${IMAGE}" --name "${KIND_CLUSTER_NAME:-podgroup}" ;;
    containerd)
      need ctr
      [[ -S "${CONTAINERD_ADDRESS:-}" ]] || die "CONTAINERD_ADDRESS must be the node's containerd socket"
      local archive
      archive="$(mktemp --suffix=.tar)"
      # shellcheck disable=SC2064
      trap "rm -f '${archive}'" RETURN
      IMAGE="${IMAGE}" hack/images/manager-image.sh archive "${archive}"
      # The kubelet's namespace; stored as docker.io/library/${IMAGE}, as kind load does.
      ctr -a "${CONTAINERD_ADDRESS}" -n k8s.io images import "${archive}" >/dev/null
      ctr -a "${CONTAINERD_ADDRESS}" -n k8s.io images ls -q | grep -qx "docker.io/library/${IMAGE}" ||
        die "docker.io/library/${IMAGE} is not in the node's containerd after the import"
      log "loaded docker.io/library/${IMAGE}"
      ;;
    *) die "NODE_RUNTIME must be kind or containerd, not ${NODE_RUNTIME}" ;;
  esac
}

# `kubectl wait --for=condition=Established` right after the CRD is created can fail at once
# (kubectl 1.33: ".status.conditions accessor error: <nil>") while the CRD has no status yet: poll
# the condition instead, with a deadline.
crds() {
  need kubectl
  kubectl apply --server-side -k config/crd
  local deadline=$((SECONDS + 60)) status=""
  while ((SECONDS < deadline)); do
    status="$(kubectl get crd "${CRD}" -o jsonpath='{.status.conditions[?(@.type=="Established")].status}' 2>/dev/null || true)"
    if [[ "${status}" == True ]]; then
      log "crd/${CRD} established"
      return 0
    fi
    sleep 1
  done
  die "crd/${CRD} not Established after 60s (status '${status}')"
}

apply() {
  [[ -n "${1:-}" && -d "$1" ]] || die "usage: $0 apply OVERLAY_DIR"
  need kubectl
  # Server-side: the CRD is too large for client-side apply's last-applied annotation.
  kubectl apply --server-side -k "$1"
}

wait_rollouts() {
  need kubectl
  kubectl -n "${NAMESPACE}" rollout status deployment/podgroup-controller --timeout=180s
  kubectl -n "${NAMESPACE}" rollout status deployment/podgroup-scheduler --timeout=180s
}

sample() {
  need kubectl
  kubectl apply -f config/samples/podgroup-web.yaml
  kubectl wait --for=condition=Available podgroup/web --timeout=120s
  kubectl get podgroups,pods -o wide
}

case "${1:-}" in
  build) build ;;
  load) load ;;
  crds) crds ;;
  apply) apply "${2:-}" ;;
  wait) wait_rollouts ;;
  sample) sample ;;
  all)
    [[ -n "${2:-}" ]] || die "usage: $0 all OVERLAY_DIR"
    build
    load
    crds
    apply "$2"
    wait_rollouts
    sample
    ;;
  *) die "usage: $0 build|load|crds|apply OVERLAY|wait|sample|all OVERLAY" ;;
esac
