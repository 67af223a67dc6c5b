// GPU benchmarks of the linalg kernels with a GPU path: inverse and Cholesky of 4096 float32
// matrices of 64 x 64 (the batched sizes training code inverts: preconditioners, small
// covariances). Floor: 4096 * (2 * 64^3) flops for the inverse, a third of that for Cholesky, a
// few microseconds of the GPU's arithmetic; these calls are latency-bound (the infos are read
// back), as in PyTorch, which also checks them.
#include "benchmarks/gpu/bench.h"

namespace mx = mica;
using mica_bench::median_seconds;
using mica_bench::report;

MICA_GPU_BENCH(linalg) {
  const int b = 4096, n = 64;
  mx::array eye = mx::multiply(mx::eye(n), mx::array(static_cast<float>(n)));
  mx::array a = mx::add(mx::random::uniform({b, n, n}), eye);
  mx::array p = mx::add(mx::matmul(a, mx::swapaxes(a, -1, -2)), eye);
  mx::eval(a, p);
  const double bytes = 2.0 * b * n * n * 4;
  report("inv_4096x64x64", median_seconds([&] { return mx::linalg::inv(a); }), bytes, 2.0 * b * n * n * n);
  report("cholesky_4096x64x64", median_seconds([&] { return mx::linalg::cholesky(p); }), bytes, b * n * n * n / 3.0);
}
