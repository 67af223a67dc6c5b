// GPU-vs-CPU conformance of quantized_matmul (backend/cuda/quantized.cu for x @ W.T with few
// rows of x, dequantize + matmul otherwise): every bit width and group size, float32, bfloat16
// and float16, row counts around the kernels' tiles (1, 2, 3 and 5, 8, 13, 32 rows: the SIMT
// and, for half types past 4 rows, the tensor-core path) and past their limit,
// N not a multiple of the rows per warp, batched and broadcast weights, strided and misaligned
// inputs, x @ W, and the gradients with respect to x, scales and biases. No CPU fallback.
#include <gtest/gtest.h>

#include <string>

#include "gpu/gpu_checks.h"
#include "mica/backend/gpu_info.h"
#include "mica/ops/quantized.h"
#include "mica/transforms.h"

namespace mica::test {
namespace {

const Device kCpu(Device::cpu);

struct Packed {
  array w, s, b;
};
// Quantized random weights (rows x cols) on the CPU, scales and biases in dtype d.
Packed packed(const Shape& shape, int gs, int bits, Dtype d, uint32_t seed) {
  auto q = quantize(random_input(shape, float32, -1, 1, seed), gs, bits, "affine", std::nullopt, kCpu);
  Packed p{q[0], astype(q[1], d, kCpu), astype(q[2], d, kCpu)};
  eval(p.w, p.s, p.b);
  return p;
}

// Tolerances: the GPU sums in a different order (per 32-value chunk, then across lanes) than
// the CPU; half types round x and the result. With more than 4 rows of x, half types go through
// tensor cores on weights dequantized to x's dtype (as dequantize + matmul rounds them; the CPU
// kernel keeps them in float): each weight rounded to 8 (bfloat16) or 11 (float16) bits adds up
// to ~0.03 over a few hundred products here (measured on an H100: up to 0.031).
double tol(Dtype d, int rows = 1) {
  if (d == float32) return 2e-4;
  if (rows > 4) return d == bfloat16 ? 6e-2 : 1e-2;
  return d == bfloat16 ? 2e-2 : 4e-3;
}

GpuOp qmm(int gs, int bits, bool transpose = true) {
  return [=](const std::vector<array>& in, StreamOrDevice st) {
    return quantized_matmul(in[0], in[1], in[2], in[3], transpose, gs, bits, "affine", st);
  };
}

TEST(QuantizedGpu, EveryWidthAndGroupSize) {
  MICA_REQUIRE_GPU();
  const size_t fallbacks = gpu::cpu_fallback_count();
  // K of three groups: 3, 6 or 12 chunks of 32 values, so the tensor-core path (bfloat16, more
  // than 4 rows) sees a partial block of 4 chunks.
  for (Dtype d : {float32, bfloat16}) {
    for (int bits : {1, 2, 3, 4, 5, 6, 8}) {
      for (int gs : {32, 64, 128}) {
        const int K = 3 * gs, N = 37;
        Packed p = packed({N, K}, gs, bits, d, static_cast<uint32_t>(bits * 131 + gs));
        for (int m : {1, 3, 8}) {
          array x = random_input({m, K}, d, -1, 1, static_cast<uint32_t>(m + bits));
          EXPECT_TRUE(gpu_matches_cpu(qmm(gs, bits), {x, p.w, p.s, p.b}, tol(d, m), tol(d, m)))
              << d << ", " << bits << " bits, group " << gs << ", " << m << " rows";
        }
      }
    }
  }
  EXPECT_EQ(gpu::cpu_fallback_count(), fallbacks);
}

TEST(QuantizedGpu, RowsDtypesAndLayouts) {
  MICA_REQUIRE_GPU();
  const size_t fallbacks = gpu::cpu_fallback_count();
  for (Dtype d : {float32, bfloat16, float16}) {
    const double t = tol(d, 5);  // the tensor-core bound for half types: most cases here have more than 4 rows
    for (int bits : {4, 8, 3}) {
      const int K = 512, N = 130;
      Packed p = packed({N, K}, 64, bits, d, static_cast<uint32_t>(bits));
      for (int m : {1, 2, 3, 5, 8, 13, 32, 33, 70}) {
        array x = random_input({m, K}, d, -1, 1, static_cast<uint32_t>(m));
        EXPECT_TRUE(gpu_matches_cpu(qmm(64, bits), {x, p.w, p.s, p.b}, t, t)) << d << " " << bits << " bits, " << m << " rows";
      }
      // A vector, leading dims folded into rows, a transposed x, x one element into a buffer.
      array v = random_input({K}, d, -1, 1, 5);
      EXPECT_TRUE(gpu_matches_cpu(qmm(64, bits), {v, p.w, p.s, p.b}, t, t)) << d << " vector";
      array x3 = random_input({2, 3, K}, d, -1, 1, 6);
      EXPECT_TRUE(gpu_matches_cpu(qmm(64, bits), {x3, p.w, p.s, p.b}, t, t)) << d << " 3-d x";
      array xt = transpose(random_input({K, 4}, d, -1, 1, 7), kCpu);
      EXPECT_TRUE(gpu_matches_cpu(qmm(64, bits), {xt, p.w, p.s, p.b}, t, t)) << d << " transposed x";
      array xo = slice(random_input({4 * K + 1}, d, -1, 1, 8), {1}, {4 * K + 1}, kCpu);
      EXPECT_TRUE(gpu_matches_cpu(qmm(64, bits), {reshape(xo, {4, K}, kCpu), p.w, p.s, p.b}, t, t)) << d << " offset x";
      // x @ W (the dequantized product on the GPU).
      Packed pk = packed({K, 96}, 32, bits, d, 9);  // packed along its 96 columns
      array xk = random_input({3, K}, d, -1, 1, 10);
      EXPECT_TRUE(gpu_matches_cpu(qmm(32, bits, false), {xk, pk.w, pk.s, pk.b}, t, t)) << d << " x @ W";
    }
  }
  // Scales in float32 with a bfloat16 x (the result is float32): converted for the kernel.
  Packed p = packed({64, 256}, 64, 4, float32, 11);
  array xb = random_input({2, 256}, bfloat16, -1, 1, 12);
  EXPECT_TRUE(gpu_matches_cpu(qmm(64, 4), {xb, p.w, p.s, p.b}, 1e-3, 1e-3));
  EXPECT_EQ(gpu::cpu_fallback_count(), fallbacks);
}

TEST(QuantizedGpu, BatchedAndBroadcastWeights) {
  MICA_REQUIRE_GPU();
  const int K = 256, N = 40;
  Packed p = packed({3, N, K}, 64, 4, float32, 21);
  array x = random_input({3, 2, K}, float32, -1, 1, 22);
  EXPECT_TRUE(gpu_matches_cpu(qmm(64, 4), {x, p.w, p.s, p.b}, 2e-4, 2e-4)) << "one matrix per batch entry";
  // x's extra batch dim broadcast against the weights' (2, 3, ...), and one x against 3 matrices.
  array x4 = random_input({2, 3, 5, K}, float32, -1, 1, 23);
  EXPECT_TRUE(gpu_matches_cpu(qmm(64, 4), {x4, p.w, p.s, p.b}, 2e-4, 2e-4)) << "broadcast weights";
  array x1 = random_input({1, 4, K}, float32, -1, 1, 24);
  EXPECT_TRUE(gpu_matches_cpu(qmm(64, 4), {x1, p.w, p.s, p.b}, 2e-4, 2e-4)) << "broadcast x";
  // Weights sliced out of a bigger batch (an offset and strides over the batch).
  Packed big = packed({6, N, K}, 64, 4, float32, 25);
  auto every_other = [](const array& a) {
    Shape stop = a.shape();
    return slice(a, Shape(a.ndim(), 0), stop, [&] { Shape st(a.ndim(), 1); st[0] = 2; return st; }(), kCpu);
  };
  EXPECT_TRUE(gpu_matches_cpu(qmm(64, 4), {x, every_other(big.w), every_other(big.s), every_other(big.b)}, 2e-4, 2e-4))
      << "strided batch";
}

TEST(QuantizedGpu, GradientsMatchCpu) {
  MICA_REQUIRE_GPU();
  const int K = 128, N = 24;
  Packed p = packed({N, K}, 32, 4, float32, 31);
  array x = random_input({3, K}, float32, -1, 1, 32);
  for (bool transpose : {true, false}) {
    Packed q = transpose ? p : packed({K, 64}, 32, 4, float32, 33);  // x @ W: W (K, 64) packed along 64
    array xx = transpose ? x : random_input({3, K}, float32, -1, 1, 34);
    auto grads = [&](StreamOrDevice st) {
      auto f = [&](const std::vector<array>& a) {
        return std::vector<array>{sum(square(quantized_matmul(a[0], q.w, a[1], a[2], transpose, 32, 4, "affine", st), st), false, st)};
      };
      return vjp(f, {xx, q.s, q.b}, {array(1.0f)}).second;
    };
    auto g_cpu = grads(kCpu), g_gpu = grads(Device(Device::gpu));
    for (size_t i = 0; i < 3; ++i) {
      eval(g_cpu[i], g_gpu[i]);
      EXPECT_TRUE(same_values(g_gpu[i], g_cpu[i], 1e-3, 1e-3)) << "argument " << i << " transpose " << transpose;
    }
  }
}

}  // namespace
}  // namespace mica::test
