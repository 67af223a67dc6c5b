// The matmul family on the GPU (cuBLASLt) against the CPU: Matmul and AddMM in every dtype they
// take, odd and large sizes, batched and broadcast batches, transposed, sliced and misaligned
// operands, bias rows and full c, alpha/beta, K = 0 and empty outputs, gradients, TF32 opt-in.
#include <gtest/gtest.h>

#include "gpu/gpu_checks.h"
#include "mica/backend/gpu_info.h"
#include "mica/mica.h"

namespace mica::test {
namespace {

Device kCpu(Device::cpu);

const std::vector<Dtype> kTypes = {float32, float16, bfloat16, float64, complex64};

double tol(Dtype d) { return d == float64 ? 1e-10 : d == float32 || d == complex64 ? 1e-4 : 2e-2; }

testing::AssertionResult check_matmul(const array& a, const array& b) {
  Dtype d = a.dtype();
  return gpu_matches_cpu([](const std::vector<array>& x, StreamOrDevice s) { return matmul(x[0], x[1], s); }, {a, b},
                         tol(d), tol(d));
}

TEST(MatmulGpu, ShapesEveryDtype) {
  MICA_REQUIRE_GPU();
  const std::vector<std::array<int, 3>> sizes = {{1, 1, 1},   {1, 7, 1},   {7, 13, 5},   {64, 64, 64},
                                                 {33, 17, 65}, {1, 300, 1}, {128, 384, 256}, {5, 1, 9}};
  for (Dtype d : kTypes) {
    for (auto [m, k, n] : sizes) {
      array a = random_input({m, k}, d, -1, 1, 3);
      array b = random_input({k, n}, d, -1, 1, 4);
      EXPECT_TRUE(check_matmul(a, b)) << d << " " << m << "x" << k << "x" << n;
    }
  }
}

TEST(MatmulGpu, OperandLayouts) {
  MICA_REQUIRE_GPU();
  for (Dtype d : {float32, bfloat16, float64}) {
    // Every layout of a (24 x 40) left operand and of a (40 x 24) right operand.
    auto as = layouts(d, 24, 40, -1, 1, 11);
    auto bs = layouts(d, 40, 24, -1, 1, 12);
    for (auto& [na, a] : as) {
      for (auto& [nb, b] : bs) {
        if (a.shape(1) != b.shape(0)) continue;  // the empty layouts have 0 rows
        EXPECT_TRUE(check_matmul(a, b)) << d << " a " << na << " b " << nb;
      }
    }
    // Empty left operand: (0 x 40) @ (40 x 24).
    EXPECT_TRUE(check_matmul(random_input({0, 40}, d), random_input({40, 24}, d))) << d;
  }
}

TEST(MatmulGpu, BatchesAndBroadcast) {
  MICA_REQUIRE_GPU();
  for (Dtype d : {float32, float16, complex64}) {
    array a = random_input({3, 4, 9, 17}, d, -1, 1, 21);
    array b = random_input({3, 4, 17, 6}, d, -1, 1, 22);
    EXPECT_TRUE(check_matmul(a, b)) << d << " batched";
    // One matrix against a batch on either side, and broadcasts inside the batch.
    EXPECT_TRUE(check_matmul(random_input({9, 17}, d, -1, 1, 23), b)) << d;
    EXPECT_TRUE(check_matmul(a, random_input({17, 6}, d, -1, 1, 24))) << d;
    EXPECT_TRUE(check_matmul(random_input({3, 1, 9, 17}, d, -1, 1, 25), random_input({1, 4, 17, 6}, d, -1, 1, 26)))
        << d;
    // Transposed batch dims (strides that do not merge) and transposed matrices.
    array at = transpose(random_input({4, 3, 17, 9}, d, -1, 1, 27), {1, 0, 3, 2}, kCpu);
    EXPECT_TRUE(check_matmul(at, b)) << d << " transposed batch";
    // Vectors: (k) @ (k, n) and (m, k) @ (k).
    EXPECT_TRUE(check_matmul(random_input({17}, d, -1, 1, 28), random_input({17, 6}, d, -1, 1, 29))) << d;
    EXPECT_TRUE(check_matmul(random_input({9, 17}, d, -1, 1, 30), random_input({17}, d, -1, 1, 31))) << d;
  }
}

TEST(MatmulGpu, EmptyInnerDimension) {
  MICA_REQUIRE_GPU();
  for (Dtype d : {float32, bfloat16, complex64}) {
    EXPECT_TRUE(check_matmul(random_input({5, 0}, d), random_input({0, 3}, d))) << d;
    auto f = [](const std::vector<array>& x, StreamOrDevice s) { return addmm(x[0], x[1], x[2], 2.0f, 0.5f, s); };
    EXPECT_TRUE(gpu_matches_cpu(f, {random_input({5, 3}, d), random_input({5, 0}, d), random_input({0, 3}, d)},
                                tol(d), tol(d)))
        << d;
  }
}

TEST(MatmulGpu, AddMM) {
  MICA_REQUIRE_GPU();
  for (Dtype d : kTypes) {
    array a = random_input({2, 33, 40}, d, -1, 1, 41);
    array b = random_input({2, 40, 24}, d, -1, 1, 42);
    const std::vector<std::pair<std::string, array>> cs = {
        {"bias row", random_input({24}, d, -1, 1, 43)},
        {"full c", random_input({2, 33, 24}, d, -1, 1, 44)},
        {"column", random_input({33, 1}, d, -1, 1, 45)},
        {"scalar", random_input({}, d, -1, 1, 46)},
        {"transposed c", transpose(random_input({24, 33}, d, -1, 1, 47), kCpu)},
    };
    for (auto& [name, c] : cs) {
      for (auto [alpha, beta] : {std::pair{1.0f, 1.0f}, {0.5f, 2.0f}, {1.0f, 0.0f}, {-1.5f, 1.0f}}) {
        auto f = [alpha = alpha, beta = beta](const std::vector<array>& x, StreamOrDevice s) {
          return addmm(x[0], x[1], x[2], alpha, beta, s);
        };
        EXPECT_TRUE(gpu_matches_cpu(f, {c, a, b}, tol(d), tol(d)))
            << d << " " << name << " alpha " << alpha << " beta " << beta;
      }
    }
  }
}

TEST(MatmulGpu, LargeBf16AndTf32OptIn) {
  MICA_REQUIRE_GPU();
  array a = random_input({1024, 768}, float32, -1, 1, 51);
  array b = random_input({768, 2304}, float32, -1, 1, 52);
  EXPECT_TRUE(check_matmul(a, b));
  EXPECT_TRUE(check_matmul(astype(a, bfloat16, kCpu), astype(b, bfloat16, kCpu)));
  ASSERT_FALSE(gpu::allow_tf32());
  gpu::set_allow_tf32(true);
  // TF32 keeps 10 mantissa bits: products of values in [-1, 1] summed over 768 terms stay within
  // a few 1e-3 of float32.
  auto r = gpu_matches_cpu([](const std::vector<array>& x, StreamOrDevice s) { return matmul(x[0], x[1], s); }, {a, b},
                           2e-2, 2e-2);
  gpu::set_allow_tf32(false);
  EXPECT_TRUE(r);
}

TEST(MatmulGpu, Gradients) {
  MICA_REQUIRE_GPU();
  array a = random_input({2, 16, 24}, float32, -1, 1, 61);
  array b = random_input({24, 8}, float32, -1, 1, 62);
  array c = random_input({8}, float32, -1, 1, 63);
  auto grads_on = [&](Device dev) {
    std::function<array(const std::vector<array>&)> f = [dev](const std::vector<array>& x) {
      return sum(square(addmm(x[2], x[0], x[1], 1.0f, 1.0f, dev), dev), false, dev);
    };
    auto [val, gs] = value_and_grad(f, std::vector<int>{0, 1, 2})({a, b, c});
    std::vector<array> out = gs;
    out.push_back(val);
    eval(out);
    return out;
  };
  auto g_gpu = grads_on(Device(Device::gpu));
  auto g_cpu = grads_on(kCpu);
  ASSERT_EQ(g_gpu.size(), g_cpu.size());
  for (size_t i = 0; i < g_gpu.size(); ++i) EXPECT_TRUE(same_values(g_gpu[i], g_cpu[i], 1e-4, 1e-4)) << i;
}

TEST(MatmulGpu, RunsOnTheGpu) {
  MICA_REQUIRE_GPU();
  size_t before = gpu::cpu_fallback_count();
  array a = random_input({64, 64}, float32);
  array out = addmm(random_input({64}, float32), a, a, 1.0f, 1.0f, Device(Device::gpu));
  eval(out);
  eval(matmul(a, a, Device(Device::gpu)));
  EXPECT_EQ(gpu::cpu_fallback_count(), before);
}

}  // namespace
}  // namespace mica::test
