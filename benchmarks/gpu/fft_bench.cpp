// GPU benchmarks of the fft family (backend/cuda/fft.cu, cuFFT): a 1-d complex64 transform of
// 2^24 points, rfft along the rows of a 4096 x 4096 float32 matrix, and a 2-d complex64 transform
// of 4096 x 4096 (two passes). Bytes: one read and one write of the input and output (the floor
// of a single pass; cuFFT's large transforms take more than one).
#include "benchmarks/gpu/bench.h"

namespace mx = mica;
using mica_bench::median_seconds;
using mica_bench::report;

MICA_GPU_BENCH(fft) {
  auto cplx = [](const mx::Shape& shape) {
    return mx::add(mx::astype(mx::random::uniform(shape), mx::complex64),
                   mx::multiply(mx::astype(mx::random::uniform(shape), mx::complex64), mx::array(mx::complex64_t(0, 1))));
  };
  const int n = 1 << 24;
  mx::array x = cplx({n});
  mx::eval(x);
  report("fft_1d_2p24", median_seconds([&] { return mx::fft::fft(x); }), 16.0 * n);
  mx::array r = mx::random::uniform({4096, 4096});
  mx::eval(r);
  report("rfft_rows_4096", median_seconds([&] { return mx::fft::rfft(r); }), 4096.0 * (4096 * 4 + 2049 * 8));
  mx::array m = cplx({4096, 4096});
  mx::eval(m);
  report("fft2_4096", median_seconds([&] { return mx::fft::fft2(m); }), 16.0 * 4096 * 4096);
}
