#!/usr/bin/env bash
# Installs, with apt-get, whatever of syncblock's build and test dependencies is
# missing on a Debian 12 machine. Does nothing when all are there.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  nlohmann-json3-dev libcpp-httplib-dev libspdlog-dev libgtest-dev libgmock-dev
  liburing-dev libfuse3-dev fuse3 libnbd-dev
  qemu-utils libnbd-bin nbdkit fio
  e2fsprogs xfsprogs util-linux mount procps psmisc python3 python3-yaml clang iptables
  tmux zsh podman runc debootstrap openssl
)
# Node.js and npm (the chart's schema check): Debian's, unless already on PATH.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
