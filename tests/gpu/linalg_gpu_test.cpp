// GPU-vs-CPU conformance of the linalg kernels with a GPU path (backend/cuda/linalg.cu): inv
// (cuBLAS batched LU) and cholesky (cuSOLVER potrfBatched), float32 and float64, single matrices
// and batches, sizes 1 to 200, strided inputs; a singular matrix and a matrix that is not
// positive definite give the CPU's errors; no fallback to the CPU for these ops.
#include <gtest/gtest.h>

#include <string>

#include "gpu/gpu_checks.h"
#include "mica/backend/gpu_info.h"
#include "mica/linalg.h"

namespace mica::test {
namespace {

const Device kCpu(Device::cpu), kGpu(Device::gpu);

// Well-conditioned matrices: random entries plus n on the diagonal.
array well_conditioned(const Shape& shape, Dtype d, uint32_t seed) {
  const int n = shape.back();
  array a = add(random_input(shape, d, -1, 1, seed), multiply(eye(n, d, kCpu), array(static_cast<float>(n), d), kCpu), kCpu);
  eval(a);
  return a;
}
// Symmetric positive definite: A Aᵀ + n I.
array spd(const Shape& shape, Dtype d, uint32_t seed) {
  const int n = shape.back();
  array a = random_input(shape, d, -1, 1, seed);
  array s = add(matmul(a, swapaxes(a, -1, -2, kCpu), kCpu), multiply(eye(n, d, kCpu), array(static_cast<float>(n), d), kCpu), kCpu);
  eval(s);
  return s;
}

TEST(LinalgGpu, InverseAndCholeskyMatchCpu) {
  MICA_REQUIRE_GPU();
  size_t fallbacks = gpu::cpu_fallback_count();
  for (Dtype d : {float32, float64}) {
    const double tol = d == float32 ? 2e-4 : 1e-10;
    for (Shape s : {Shape{1, 1}, Shape{3, 3}, Shape{64, 64}, Shape{200, 200}, Shape{5, 8, 8}, Shape{2, 3, 64, 64}}) {
      array a = well_conditioned(s, d, static_cast<uint32_t>(s.back()));
      EXPECT_TRUE(gpu_matches_cpu([](auto& in, StreamOrDevice st) { return linalg::inv(in[0], st); }, {a}, tol, tol))
          << d << " " << s.back();
      array p = spd(s, d, static_cast<uint32_t>(s.back() + 1));
      for (bool upper : {false, true}) {
        EXPECT_TRUE(gpu_matches_cpu([upper](auto& in, StreamOrDevice st) { return linalg::cholesky(in[0], upper, st); },
                                    {p}, tol, tol)) << d << " " << s.back() << " upper " << upper;
      }
    }
    // A transposed (strided) input.
    array t = swapaxes(well_conditioned({4, 16, 16}, d, 3), -1, -2, kCpu);
    EXPECT_TRUE(gpu_matches_cpu([](auto& in, StreamOrDevice st) { return linalg::inv(in[0], st); }, {t}, tol, tol)) << d;
  }
  EXPECT_EQ(gpu::cpu_fallback_count(), fallbacks);
}

TEST(LinalgGpu, FailuresAsOnTheCpu) {
  MICA_REQUIRE_GPU();
  auto message = [](const std::function<array()>& f) {
    try {
      eval(f());
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  // The second matrix of the batch is singular (two equal rows).
  array a = well_conditioned({3, 4, 4}, float32, 9);
  array bad = slice_update(a, reshape(array({1.0f, 2.0f, 3.0f, 4.0f, 1.0f, 2.0f, 3.0f, 4.0f}), {1, 2, 4}, kCpu), {1, 0, 0},
                           {2, 2, 4}, kCpu);
  const std::string cpu = message([&] { return linalg::inv(bad, kCpu); });
  EXPECT_EQ(cpu.rfind("[linalg::inv] expected a non-singular matrix, got a zero U[", 0), 0u) << cpu;
  EXPECT_EQ(message([&] { return linalg::inv(bad, kGpu); }), cpu);
  array not_pd = array({1.0f, 2.0f, 2.0f, 1.0f}, {2, 2});
  const std::string cpu_c = message([&] { return linalg::cholesky(not_pd, false, kCpu); });
  EXPECT_NE(cpu_c, "no error");
  EXPECT_EQ(message([&] { return linalg::cholesky(not_pd, false, kGpu); }), cpu_c);
}

}  // namespace
}  // namespace mica::test
