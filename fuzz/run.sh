#!/usr/bin/env bash
# Builds the fuzz targets (clang-14, libFuzzer + ASan + UBSan) against the libmica.so of a
# regular build and runs each for a bounded time, the file formats seeded from tests/io/fixtures,
# the op layer (fuzz_ops) from random programs. Fails on any
# crash, sanitizer report, leak, timeout or out-of-memory.
#   fuzz/run.sh [build-dir]      (default: build; FUZZ_SECONDS per target, default 30)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
[[ $BUILD = /* ]] || BUILD=$ROOT/$BUILD
SECONDS_EACH=${FUZZ_SECONDS:-30}
OUT=$BUILD/fuzz
if [ ! -f "$BUILD/libmica.so" ]; then
  echo "fuzz/run.sh: $BUILD/libmica.so not found: build mica first" >&2
  exit 1
fi
cmake -S "$ROOT/fuzz" -B "$OUT" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++-14 -DMICA_LIB="$BUILD/libmica.so" >/dev/null
cmake --build "$OUT" -j "${FUZZ_JOBS:-$(nproc)}"

start=$(date +%s)
declare -A pids
targets="npy npz safetensors gguf export ops"
for fmt in $targets; do
  corpus=$OUT/corpus/$fmt
  rm -rf "$corpus" "$OUT/artifacts/$fmt"
  mkdir -p "$corpus" "$OUT/artifacts/$fmt"
  ext=$fmt
  [ "$fmt" = export ] && ext=micafn  # exported functions (import_function)
  find "$ROOT/tests/io/fixtures" -name "*.$ext" -exec cp {} "$corpus/" \;
  # The op programs (fuzz/ops_program.h) need no seeds or dictionary and stay short.
  opts=(-dict="$ROOT/fuzz/$fmt.dict" -max_len=16384)
  # Seeded, with a bounded number of runs, so that CI repeats the same programs every time.
  [ "$fmt" = ops ] && opts=(-max_len=512 -seed=1 -runs=$((SECONDS_EACH * 5000)))
  # All run at once; each gets the same wall-clock budget.
  "$OUT/fuzz_$fmt" "$corpus" "${opts[@]}" -max_total_time="$SECONDS_EACH" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$fmt/" \
    >"$OUT/$fmt.log" 2>&1 &
  pids[$fmt]=$!
done
status=0
for fmt in $targets; do
  if wait "${pids[$fmt]}"; then
    runs=$(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$OUT/$fmt.log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz_$fmt: ok ($runs inputs)"
  else
    status=1
    echo "fuzz_$fmt: FAILED; log $OUT/$fmt.log, inputs in $OUT/artifacts/$fmt/" >&2
    tail -n 40 "$OUT/$fmt.log" >&2
  fi
done
echo "fuzzing took $(( $(date +%s) - start )) s"
exit $status
