#!/usr/bin/env bash
# Installs what building mica needs on Debian 12 (run as root, or with sudo available).
set -euo pipefail
pkgs=(g++ cmake ninja-build ccache libgtest-dev libbenchmark-dev libdnnl-dev python3 python3-pip
      pkg-config libzip-dev nlohmann-json3-dev clang-14 libfuzzer-14-dev libclang-rt-14-dev
      fortunes doxygen liblapack-dev libopenblas0-openmp libkissfft-dev libhwy-dev openmpi-bin libopenmpi-dev)
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
# Python tools for the io_crosscheck test (it skips without them); best effort, no network is fine.
if ! python3 -c "import numpy, safetensors, gguf, mlx.core" >/dev/null 2>&1; then
  python3 -m pip install -q --timeout 20 --retries 1 --break-system-packages numpy safetensors gguf "mlx[cpu]" >/dev/null 2>&1 ||
    echo "install_deps: pip could not install numpy/safetensors/gguf/mlx; io_crosscheck will be skipped"
fi
# CUDA builds use cuDNN through its header-only C++ frontend (a Python wheel); best effort.
if [ -x /usr/local/cuda/bin/nvcc ] && [ -d "$(dirname "$0")/../mica" ]; then
  "$(dirname "$0")/fetch_cudnn_frontend.sh" ||
    echo "install_deps: no cuDNN frontend; attention and convolutions will use their CPU kernels on the GPU"
fi
