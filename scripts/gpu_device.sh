#!/usr/bin/env bash
# The one script for the GPU machine: builds mica for sm_90a with the carried Debian packages
# (.devdeps/*.deb, unpacked outside /), runs the GPU tests and the CPU suite, then the GPU
# benchmarks beside PyTorch. Logs go to $OUT when set.
# Usage: scripts/gpu_device.sh [all|tests|bench|gpu|sanitize]   (gpu: only the GPU targets, tests,
#        bench; sanitize: the GPU tests under compute-sanitizer, SAN_TOOLS (memcheck synccheck
#        racecheck initcheck) over GPU_TESTS, SAN_TIMEOUT seconds each, SAN_FILTER a gtest filter
#        (racecheck needs minutes on the larger tests), logs in $OUT/san/)
#        env: GPU_TESTS (test binaries), BENCH (benchmark families), SKIP_CPU=1 (no CPU suite),
#             GPT2=1 (the GPT-2 training comparison, GPT2_ARGS its flags, GPT2_ARGS2 a second one;
#             GPT2_PROFILE=1 a profile)
#        scripts/gpu_device.sh fetch   (on the Debian machine first: downloads the .debs to carry;
#                                       keep .devdeps/ out of git with .git/info/exclude)
set -uo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
if [ "$what" = fetch ]; then
  mkdir -p .devdeps && cd .devdeps &&
    apt-get download libdnnl-dev libdnnl2 libzip-dev libzip4 nlohmann-json3-dev libgtest-dev libbenchmark-dev \
      libbenchmark1debian liblapack-dev liblapack3 libblas3 libgfortran5 libquadmath0 libkissfft-dev \
      libkissfft-float131 libhwy-dev libhwy1
  cd .. && scripts/fetch_cudnn_frontend.sh .devdeps/cudnn_frontend
  exit
fi
OUT=${OUT:-/tmp/mica-out}
mkdir -p "$OUT"
deps=/tmp/mica-deps
if [ ! -d "$deps/usr" ]; then
  for f in .devdeps/*.deb; do dpkg -x "$f" "$deps"; done
fi
export CMAKE_PREFIX_PATH=$deps/usr
# Reference LAPACK and BLAS (unpacked, so without Debian's alternatives links) sit in lapack/ and blas/.
export LD_LIBRARY_PATH=$deps/usr/lib/x86_64-linux-gnu:$deps/usr/lib/x86_64-linux-gnu/lapack:$deps/usr/lib/x86_64-linux-gnu/blas:${LD_LIBRARY_PATH:-}
# cuDNN from PyTorch's nvidia-cudnn wheel (its sub-libraries load from the library path).
cudnn_dir=$(python3 -c "import nvidia.cudnn as c; print(list(c.__path__)[0])" 2>/dev/null) &&
  export LD_LIBRARY_PATH=$cudnn_dir/lib:$LD_LIBRARY_PATH
# NCCL from PyTorch's nvidia-nccl wheel.
nccl_dir=$(python3 -c "import nvidia.nccl as c; print(list(c.__path__)[0])" 2>/dev/null) &&
  export LD_LIBRARY_PATH=$nccl_dir/lib:$LD_LIBRARY_PATH
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
build=build-gpu
cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=Release -DMICA_BUILD_EXAMPLES=OFF \
  -DMICA_CUDA_ARCHITECTURES=90a -DMICA_CUDNN_FRONTEND_INCLUDE=$PWD/.devdeps/cudnn_frontend/include > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
grep "mica:" "$OUT/configure.log"
python3 -c "import torch; print('torch', torch.__version__, 'cuDNN', torch.backends.cudnn.version())"
t0=$(date +%s)
targets=()
gpu_tests=${GPU_TESTS:-$(cd tests/gpu && ls *_gpu_test.cpp | sed "s/\.cpp$//")}
[ "$what" = gpu ] && targets=(--target $gpu_tests gpu_bench coverage_check)
[ "$what" = sanitize ] && targets=(--target $gpu_tests)
cmake --build $build -j 16 "${targets[@]}" > "$OUT/build.log" 2>&1 || { grep -E "error|Error" -A3 "$OUT/build.log" | head -60; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
if [ "$what" = gpu ]; then
  for t in $gpu_tests; do
    MICA_GPU_TEST=1 MICA_COVERAGE_DIR=$build/tests/coverage timeout 240 $build/tests/$t > "$OUT/$t.log" 2>&1
    echo "$t: exit $?"; grep -E "^\[  (FAILED|PASSED) |Failure|Expected|Which is|actual|error" "$OUT/$t.log" | head -40
  done
  $build/tests/coverage_check $build/tests/coverage | grep -E "no GPU test|fall back"
fi
if [ "$what" = sanitize ]; then
  # Findings in mica's kernels fail; NCCL probing its own kernel images (errors it handles) is
  # counted apart, by the library of the first host frame of each report.
  mkdir -p "$OUT/san"
  for tool in ${SAN_TOOLS:-memcheck synccheck racecheck initcheck}; do
    for t in $gpu_tests; do
      log="$OUT/san/$tool.$t.log"
      MICA_GPU_TEST=1 timeout ${SAN_TIMEOUT:-60} compute-sanitizer --tool $tool --leak-check no \
        --print-limit 20 $build/tests/$t ${SAN_FILTER:+--gtest_filter=$SAN_FILTER} > "$log" 2>&1
      rc=$?
      nccl=$(awk '/Program hit/{f=1} f&&/libnccl/{c++;f=0} /^========= $/{f=0} END{print c+0}' "$log")
      echo "$tool $t: exit $rc; $(grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "$log" | tail -1 | sed 's/=* *//'); in NCCL: $nccl"
    done
  done
  exit 0
fi
if [ "$what" = tests ] || [ "$what" = all ]; then
  (cd $build && ctest -R "_gpu_test" --output-on-failure -j 4 --timeout 600) > "$OUT/gpu_tests.log" 2>&1
  grep -E "tests passed|Failed|FAILED|\*\*\*|skipped|Passed|Not Run" "$OUT/gpu_tests.log" | tail -40
  [ "${SKIP_CPU:-0}" = 1 ] || (cd $build && ctest -E "_gpu_test|install_consumer" -j 16 --timeout 600 --output-on-failure) > "$OUT/cpu_tests.log" 2>&1
  grep -E "tests passed|Failed|\*\*\*" "$OUT/cpu_tests.log" | tail -15
  # The CPU suite again with the GPU as the default device (part-2 primitives fall back).
  (cd $build && MICA_TEST_DEVICE=gpu ctest -E "_gpu_test|install_consumer|registry_coverage" -j 8 --timeout 300 --output-on-failure) \
    > "$OUT/suite_on_gpu.log" 2>&1
  echo "suite on the GPU:"; grep -E "tests passed|Failed|\*\*\*" "$OUT/suite_on_gpu.log" | tail -25
fi
# GPT2=1: GPT-2 124M training, mica-train beside PyTorch (benchmarks/compare/gpt2_gpu.py).
if [ "${GPT2:-0}" = 1 ]; then
  cmake -S . -B $build -DMICA_BUILD_EXAMPLES=ON > /dev/null &&
    cmake --build $build -j 16 --target mica-train > "$OUT/build_train.log" 2>&1 || tail -30 "$OUT/build_train.log"
  PYTHONUNBUFFERED=1 python3 benchmarks/compare/gpt2_gpu.py $build ${GPT2_ARGS:-} 2>&1 | tee "$OUT/gpt2.log"
  # GPT2_ARGS2: a second comparison in the same run (e.g. --mica-flags=--no-compile).
  [ -z "${GPT2_ARGS2:-}" ] || PYTHONUNBUFFERED=1 python3 benchmarks/compare/gpt2_gpu.py $build $GPT2_ARGS2 2>&1 | tee "$OUT/gpt2b.log"
fi
# GPT2_PROFILE=1: time per primitive of a few GPT-2 steps (MICA_PROFILE: each kernel waited for).
if [ "${GPT2_PROFILE:-0}" = 1 ]; then
  python3 -c "import numpy as n; n.save('/tmp/gpt2_ids.npy', n.random.default_rng(0).integers(0, 50257, 1 << 21).astype(n.int32))"
  MICA_PROFILE=1 $build/examples/mica-train --preset gpt2-124m --device gpu --data /tmp/gpt2_ids.npy --batch 8 \
    --steps 8 --eval-every 0 --save-every 1000 --out /tmp/gpt2_profile 2>&1 | tail -40 | tee "$OUT/gpt2_profile.log"
fi
if [ "$what" = bench ] || [ "$what" = all ] || [ "$what" = gpu ]; then
  PYTHONUNBUFFERED=1 python3 benchmarks/compare/gpu_vs_torch.py $build ${BENCH:-} 2>&1 | tee "$OUT/bench.log"
fi
