// Times mica's float32 matmul (2048^3 first, then other sizes and layouts), float64 matmul and a
// conv2d, printing GFLOP/s beside a direct dnnl_sgemm call on the same buffers (the floor mica's
// float32 path can reach). NumPy's numbers: benchmarks/compare/cpu_vs_numpy.py.
// Usage: matmul_bench [reps]
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

#include "mica/backend/cpu/parallel.h"
#include "mica/mica.h"
#include "bench.h"

namespace mx = mica;

namespace {
mx::array uniform(const mx::Shape& shape, mx::Dtype dtype, uint32_t seed) {
  size_t n = 1;
  for (int d : shape) n *= d;
  std::vector<float> v(n);
  uint32_t s = seed * 2654435761u + 1;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>(s >> 8) / static_cast<float>(1 << 24) - 0.5f;
  }
  mx::array a(v.begin(), shape, mx::float32);
  if (dtype != mx::float32) a = mx::astype(a, dtype);
  a.eval();
  return a;
}

void row(const char* name, double flops, double t_mica, double t_peer) {
  if (t_peer > 0) {
    std::printf("%-34s %9.1f GFLOP/s   dnnl_sgemm %9.1f GFLOP/s   ratio %.2f\n", name, flops / t_mica * 1e-9,
                flops / t_peer * 1e-9, t_peer / t_mica);
  } else {
    std::printf("%-34s %9.1f GFLOP/s\n", name, flops / t_mica * 1e-9);
  }
}

void square(int n, int reps, bool transpose_b) {
  mx::array a = uniform({n, n}, mx::float32, 1), b = uniform({n, n}, mx::float32, 2);
  mx::array bv = transpose_b ? mx::transpose(b) : b;
  double flops = 2.0 * n * n * n;
  double t = best_time(reps, [&] { mx::matmul(a, bv).eval(); });
  std::vector<float> c(static_cast<size_t>(n) * n);
  double tp = best_time(reps, [&] {
    dnnl_sgemm('N', transpose_b ? 'T' : 'N', n, n, n, 1.0f, a.data<float>(), n, b.data<float>(), n, 0.0f, c.data(), n);
  });
  char name[64];
  std::snprintf(name, sizeof name, "float32 %d^3%s", n, transpose_b ? " (b transposed)" : "");
  row(name, flops, t, tp);
  if (n == 2048 && !transpose_b) report("matmul_2048", t);
}
}  // namespace

int main(int argc, char** argv) {
  int reps = argc > 1 ? std::atoi(argv[1]) : 5;
  std::printf("matmul_bench: best of %d runs, %d pool threads\n", reps, mx::cpu::num_threads());
  square(2048, reps, false);
  square(2048, reps, true);
  for (int n : {256, 512, 1024}) square(n, reps * 4, false);

  {  // Batched: 64 x (128 x 128) @ (128 x 128).
    mx::array a = uniform({64, 128, 128}, mx::float32, 3), b = uniform({64, 128, 128}, mx::float32, 4);
    double t = best_time(reps * 4, [&] { mx::matmul(a, b).eval(); });
    row("float32 64 x 128^3 batched", 2.0 * 64 * 128 * 128 * 128, t, 0);
  }
  for (auto d : {mx::float16, mx::bfloat16}) {
    mx::array a = uniform({1024, 1024}, d, 5), b = uniform({1024, 1024}, d, 6);
    double t = best_time(reps, [&] { mx::matmul(a, b).eval(); });
    row(d == mx::float16 ? "float16 1024^3" : "bfloat16 1024^3", 2.0 * 1024 * 1024 * 1024, t, 0);
  }
  {
    mx::array a = uniform({1024, 1024}, mx::float64, 7), b = uniform({1024, 1024}, mx::float64, 8);
    double t = best_time(reps, [&] { mx::matmul(a, b).eval(); });
    row("float64 1024^3 (blocked loops)", 2.0 * 1024 * 1024 * 1024, t, 0);
  }
  {  // conv2d: N=8, 56x56, 64 -> 64 channels, 3x3, padding 1 (a ResNet stage).
    mx::array x = uniform({8, 56, 56, 64}, mx::float32, 9), w = uniform({64, 3, 3, 64}, mx::float32, 10);
    double t = best_time(reps, [&] { mx::conv2d(x, w, {1, 1}, {1, 1}).eval(); });
    row("conv2d 8x56x56x64, 3x3x64->64", 2.0 * 8 * 56 * 56 * 64 * 9 * 64, t, 0);
  }
  return 0;
}
