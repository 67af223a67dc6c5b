#!/usr/bin/env bash
# Downloads the cuDNN C++ frontend (header-only; its headers ship in the nvidia-cudnn-frontend
# Python wheel) into DEST (default third_party/cudnn_frontend), where CMake finds it. Only CUDA
# builds use it; without it the cuDNN primitives (attention, convolutions) use their CPU kernels.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-third_party/cudnn_frontend}
version=1.32.0
[ -f "$dest/include/cudnn_frontend.h" ] && exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --no-deps --timeout 30 -d "$tmp" "nvidia-cudnn-frontend==$version"
mkdir -p "$dest"
python3 - "$tmp" "$dest" <<'PY'
import os, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
whl = next(f for f in os.listdir(tmp) if f.endswith(".whl"))
with zipfile.ZipFile(os.path.join(tmp, whl)) as z:
    for i in z.infolist():
        if i.filename.startswith("include/"):
            z.extract(i, dest)
PY
echo "cuDNN frontend $version headers in $dest/include"
