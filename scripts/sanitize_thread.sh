#!/usr/bin/env bash
# `make sanitize-thread`: the library and tests built with ThreadSanitizer, then the tests that
# evaluate from several threads (array_test: eval and async_eval from many threads at once;
# tree_test, random_test: models and keys used across threads) and op tests whose kernels run on
# the thread pool (parallel_for in every elementwise, reduction and matmul kernel). CPU only.
# Reports halt the run; scripts/tsan.supp lists the third-party code TSan cannot see into.
# Usage: scripts/sanitize_thread.sh [BUILD_DIR]   (default build-tsan)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-tsan}
flags="-O1 -g1 -fsanitize=thread -fno-omit-frame-pointer"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=None -DMICA_CUDA=OFF -DMICA_BUILD_BENCHMARKS=OFF \
  -DMICA_BUILD_EXAMPLES=OFF -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" > /dev/null
tests=(array_test tree_test random_test binary_test unary_test reduce_test matmul_test transforms_test optimizers_test)
cmake --build "$build" -j "$(nproc)" --target "${tests[@]}"
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/scripts/tsan.supp"
regex=$(IFS='|'; echo "^(${tests[*]})\$")
(cd "$build" && ctest --output-on-failure -R "$regex" --timeout 1800)
echo "sanitize-thread: clean"
