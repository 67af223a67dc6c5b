// GPU benchmarks of the sort family (backend/cuda/sort.cu): one long row (2^24 float32 and
// bfloat16 values, argsort of 2^24 float32), many short rows (4096 x 1024), a few long rows
// (8 x 2^20), the long-row strategy boundary (64 x 65536: row by row vs segmented), a sort
// along the first axis, and topk. bytes: the input read once and the output written once.
#include "benchmarks/gpu/bench.h"

namespace mx = mica;
using mica_bench::median_seconds;
using mica_bench::report;

MICA_GPU_BENCH(sort) {
  const int n = 1 << 24;
  auto x = mx::random::uniform({n}, mx::float32);
  auto xb = mx::astype(x, mx::bfloat16);
  mx::eval(x, xb);
  report("sort_f32_2p24", median_seconds([&] { return mx::sort(x, 0); }), 8.0 * n);
  report("argsort_f32_2p24", median_seconds([&] { return mx::argsort(x, 0); }), 8.0 * n);
  report("sort_bf16_2p24", median_seconds([&] { return mx::sort(xb, 0); }), 4.0 * n);
  auto m = mx::random::uniform({4096, 1024}, mx::float32);
  mx::eval(m);
  report("sort_f32_4096x1024", median_seconds([&] { return mx::sort(m, -1); }), 8.0 * 4096 * 1024);
  report("argsort_f32_4096x1024", median_seconds([&] { return mx::argsort(m, -1); }), 8.0 * 4096 * 1024);
  report("sort_f32_axis0_1024x4096", median_seconds([&] { return mx::sort(mx::reshape(m, {1024, 4096}), 0); }),
         8.0 * 4096 * 1024);
  auto r = mx::random::uniform({8, 1 << 20}, mx::float32);
  mx::eval(r);
  report("sort_f32_8x2p20", median_seconds([&] { return mx::sort(r, -1); }), 8.0 * 8 * (1 << 20));
  report("argsort_f32_8x2p20", median_seconds([&] { return mx::argsort(r, -1); }), 8.0 * 8 * (1 << 20));
  auto w = mx::reshape(r, {64, 1 << 17});
  auto w2 = mx::reshape(r, {128, 1 << 16});
  mx::eval(w, w2);
  report("sort_f32_64x2p17", median_seconds([&] { return mx::sort(w, -1); }), 8.0 * 8 * (1 << 20));
  report("sort_f32_128x2p16", median_seconds([&] { return mx::sort(w2, -1); }), 8.0 * 8 * (1 << 20));
  report("topk_f32_4096x1024_k8", median_seconds([&] { return mx::topk(m, 8, -1); }), 4.0 * 4096 * 1024);
}
