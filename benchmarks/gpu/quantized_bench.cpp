// GPU benchmarks of quantized_matmul (backend/cuda/quantized.cu): a 4-bit (group 64, bfloat16
// scales and biases) 8192 x 28672 weight matrix, the MLP up-projection of a 70B-class model,
// against one row of x (decoding) and 16 rows (a small batch), beside the bfloat16 matmul of
// the same shapes. Floor: the bytes it must read (packed weights 117.4 MB, scales and biases
// 14.7 MB, x and out) over the copy bandwidth; core's copy_bf16 gives the fraction.
#include "benchmarks/gpu/bench.h"

namespace mx = mica;
using mica_bench::median_seconds_n;
using mica_bench::report;

MICA_GPU_BENCH(quantized) {
  const int K = 8192, N = 28672, gs = 64, bits = 4;
  mx::array w = mx::astype(mx::random::normal({N, K}), mx::bfloat16);
  auto q = mx::quantize(w, gs, bits);
  mx::eval(q[0], q[1], q[2]);
  const double packed = double(N) * K * bits / 8 + 2.0 * N * (K / gs) * 2;
  for (int m : {1, 16}) {
    mx::array x = mx::astype(mx::random::normal({m, K}), mx::bfloat16);
    mx::eval(x);
    const double xo = 2.0 * m * (K + N), flops = 2.0 * m * K * N;
    const std::string shape = std::to_string(m) + "x8192x28672";
    report("qmm_4bit_" + shape + "_bf16",
           median_seconds_n([&] { return mx::quantized_matmul(x, q[0], q[1], q[2], true, gs, bits); }, 10),
           packed + xo, flops);
    report("matmul_" + shape + "_bf16", median_seconds_n([&] { return mx::matmul(x, mx::transpose(w)); }, 10),
           2.0 * N * K + xo, flops);
  }
}
