#!/usr/bin/env bash
# install-deps.sh: installs, from Debian's packages, what building and testing
# bitnet needs and a fresh Debian 12 machine lacks. Installs only what is
# missing; runs apt-get through sudo when not root.
#   tools/install-deps.sh            build + run (compiler, cmake, OpenMP,
#                                    libmicrohttpd for bitnet-server)
#   tools/install-deps.sh --test     also Criterion, clang + libFuzzer runtime,
#                                    the aarch64 cross compiler and qemu,
#                                    python3-venv (the Python package's tests, the
#                                    openai SDK check), nginx-light and curl (the
#                                    failover script)
set -euo pipefail

packages=(cmake make gcc libc6-dev libgomp1 libmicrohttpd-dev pkg-config)
if [ "${1:-}" = "--test" ]; then
  packages+=(libcriterion-dev pkg-config clang libclang-rt-14-dev
             gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user python3
             python3-venv nginx-light curl)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
