#!/usr/bin/env bash
# Installs the Debian packages the real node needs (as root): containerd + runc (the container
# runtime), the CNI plugins (bridge, host-local), iptables (used by the kubelet and the bridge
# plugin), busybox-static (the shell of the locally built images) and git (git-sync's image and
# the node's Git server). Idempotent: installs only what is missing.
set -euo pipefail

PACKAGES=(containerd runc containernetworking-plugins iptables busybox-static git)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-packages: missing Debian packages: ${missing[*]}; run as root (apt-get install)" >&2
  exit 1
fi
echo "install-packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d keeps the packages' services from starting: the real node runs its own containerd.
POLICY=/usr/sbin/policy-rc.d
CREATED_POLICY=0
if [[ ! -e ${POLICY} ]]; then
  printf '#!/bin/sh\nexit 101\n' >"${POLICY}"
  chmod 755 "${POLICY}"
  CREATED_POLICY=1
fi
trap '[[ ${CREATED_POLICY} == 1 ]] && rm -f "${POLICY}"' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
