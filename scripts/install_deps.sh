#!/usr/bin/env bash
# Installs what building mica needs on Debian 12 (run as root, or with sudo available).
set -euo pipefail
pkgs=(g++ cmake ninja-build ccache libgtest-dev libbenchmark-dev libdnnl-dev python3 python3-pip)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
