// GPU-vs-CPU conformance of the linalg kernels (backend/cuda/linalg.cu), float32 and float64,
// single matrices and batches, strided inputs: inv (cuBLAS batched LU), cholesky (potrfBatched),
// solve_triangular, solve and tri_inv (trsmBatched), lu and lu_factor (getrf), qr (geqrf +
// orgqr), svd (gesvd; tall, square and wide) and eigh (syevBatched) with their vectors compared
// up to sign, eig (geev: the eigenvalues as sets, A v = w v); singular, not positive definite,
// zero-diagonal and non-finite inputs give the CPU's errors; no fallback to the CPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <utility>

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

using Outs = std::function<std::vector<array>(const array&, StreamOrDevice)>;
// Each output of f on the GPU against the CPU's.
testing::AssertionResult all_match(const Outs& f, const array& a, double tol) {
  auto c = f(a, kCpu), g = f(a, kGpu);
  eval(c);
  eval(g);
  for (size_t i = 0; i < c.size(); ++i) {
    auto r = same_values(g[i], c[i], tol, tol);
    if (!r) return r << " (output " << i << ")";
  }
  return testing::AssertionSuccess();
}
// Columns of x (..., r, c) against y's up to the sign of each column: |xᵀ y| is the identity
// over the first k columns.
testing::AssertionResult same_columns_up_to_sign(const array& x, const array& y, int k, double tol) {
  Shape start(x.ndim(), 0), stop = x.shape();
  stop.back() = k;
  array xs = slice(x, start, stop, kCpu), ys = slice(y, start, stop, kCpu);
  array p = abs(matmul(swapaxes(xs, -1, -2, kCpu), ys, kCpu), kCpu);
  array eye_k = broadcast_to(eye(k, p.dtype(), kCpu), p.shape(), kCpu);
  return same_values(p, eye_k, tol, tol);
}

TEST(LinalgGpu, TriangularSolvesAndLu) {
  MICA_REQUIRE_GPU();
  size_t fallbacks = gpu::cpu_fallback_count();
  for (Dtype d : {float32, float64}) {
    const double tol = d == float32 ? 2e-4 : 1e-10;
    for (auto [n, k] : {std::pair{1, 1}, {5, 3}, {64, 64}, {130, 7}}) {
      array a = well_conditioned({3, n, n}, d, static_cast<uint32_t>(n));
      array b = random_input({3, n, k}, d, -1, 1, static_cast<uint32_t>(k));
      for (bool upper : {false, true}) {
        EXPECT_TRUE(gpu_matches_cpu([upper](auto& in, StreamOrDevice st) { return linalg::solve_triangular(in[0], in[1], upper, st); },
                                    {a, b}, tol, tol)) << d << " " << n << " upper " << upper;
      }
      EXPECT_TRUE(gpu_matches_cpu([](auto& in, StreamOrDevice st) { return linalg::solve(in[0], in[1], st); }, {a, b}, tol, tol))
          << d << " solve " << n;
      for (bool upper : {false, true}) {
        EXPECT_TRUE(gpu_matches_cpu([upper](auto& in, StreamOrDevice st) { return linalg::tri_inv(in[0], upper, st); }, {a},
                                    tol, tol)) << d << " tri_inv " << n << " upper " << upper;
      }
      // A transposed right-hand side and a batch of one matrix broadcast against three.
      array bt = swapaxes(random_input({3, k, n}, d, -1, 1, 4), -1, -2, kCpu);
      EXPECT_TRUE(gpu_matches_cpu([](auto& in, StreamOrDevice st) { return linalg::solve_triangular(in[0], in[1], false, st); },
                                  {slice(a, {0, 0, 0}, {1, n, n}, kCpu), bt}, tol, tol)) << d << " broadcast " << n;
    }
    for (Shape s : {Shape{1, 1}, Shape{6, 6}, Shape{2, 9, 5}, Shape{2, 5, 9}, Shape{100, 100}}) {
      array a = random_input(s, d, -1, 1, static_cast<uint32_t>(s.back() * 3));
      EXPECT_TRUE(all_match([](const array& x, StreamOrDevice st) { return linalg::lu(x, st); }, a, tol)) << d << " lu";
      EXPECT_TRUE(all_match([](const array& x, StreamOrDevice st) {
        auto [lu, piv] = linalg::lu_factor(x, st);
        return std::vector<array>{lu, piv};
      }, a, tol)) << d << " lu_factor";
    }
  }
  EXPECT_EQ(gpu::cpu_fallback_count(), fallbacks);
}

TEST(LinalgGpu, QrSvdAndEigh) {
  MICA_REQUIRE_GPU();
  size_t fallbacks = gpu::cpu_fallback_count();
  for (Dtype d : {float32, float64}) {
    const double tol = d == float32 ? 5e-4 : 1e-9;
    for (Shape s : {Shape{1, 1}, Shape{7, 7}, Shape{3, 12, 5}, Shape{3, 5, 12}, Shape{64, 64}}) {
      const int m = s[s.size() - 2], n = s.back(), k = std::min(m, n);
      array a = random_input(s, d, -1, 1, static_cast<uint32_t>(m * 31 + n));
      // QR: the same Householder reflections as LAPACK, so the same signs.
      EXPECT_TRUE(all_match([](const array& x, StreamOrDevice st) {
        auto [q, r] = linalg::qr(x, st);
        return std::vector<array>{q, r};
      }, a, tol)) << d << " qr " << m << "x" << n;
      // SVD: the values; the first k singular vectors up to sign; U S Vt = A; U and Vt orthogonal.
      auto c = linalg::svd(a, true, kCpu), g = linalg::svd(a, true, kGpu);
      eval(c);
      eval(g);
      EXPECT_TRUE(same_values(g[1], c[1], tol, tol)) << d << " singular values " << m << "x" << n;
      array gu = copy(g[0], kCpu), gs = copy(g[1], kCpu), gv = copy(g[2], kCpu);
      EXPECT_TRUE(same_columns_up_to_sign(gu, c[0], k, 10 * tol)) << d << " U " << m << "x" << n;
      EXPECT_TRUE(same_columns_up_to_sign(swapaxes(gv, -1, -2, kCpu), swapaxes(c[2], -1, -2, kCpu), k, 10 * tol))
          << d << " Vt " << m << "x" << n;
      Shape us = gu.shape(), vs = gv.shape();
      Shape u0(us.size(), 0), v0(vs.size(), 0);
      us.back() = k;
      vs[vs.size() - 2] = k;
      array rebuilt = matmul(multiply(slice(gu, u0, us, kCpu), expand_dims(gs, -2, kCpu), kCpu), slice(gv, v0, vs, kCpu), kCpu);
      EXPECT_TRUE(same_values(rebuilt, a, 10 * tol, 10 * tol)) << d << " U S Vt " << m << "x" << n;
      array utu = matmul(swapaxes(gu, -1, -2, kCpu), gu, kCpu);
      EXPECT_TRUE(same_values(utu, broadcast_to(eye(m, d, kCpu), utu.shape(), kCpu), 10 * tol, 10 * tol)) << d << " UᵀU";
      array s_only = linalg::svd(a, false, kGpu)[0];
      EXPECT_TRUE(same_values(s_only, c[1], tol, tol)) << d << " values only";
    }
    for (Shape s : {Shape{1, 1}, Shape{8, 8}, Shape{4, 33, 33}, Shape{100, 100}}) {
      const int n = s.back();
      array p = spd(s, d, static_cast<uint32_t>(n + 5));
      for (std::string uplo : {"L", "U"}) {
        // Only the triangle read matters: the other one is garbage.
        array t = uplo == "L" ? tril(p, 0, kCpu) : triu(p, 0, kCpu);
        auto [cw, cv] = linalg::eigh(t, uplo, kCpu);
        auto [gw, gv] = linalg::eigh(t, uplo, kGpu);
        eval(cw, cv, gw, gv);
        EXPECT_TRUE(same_values(gw, cw, tol * n, tol * n)) << d << " eigenvalues " << n << " " << uplo;
        EXPECT_TRUE(same_columns_up_to_sign(copy(gv, kCpu), cv, n, 100 * tol)) << d << " eigenvectors " << n << " " << uplo;
        EXPECT_TRUE(same_values(linalg::eigvalsh(t, uplo, kGpu), cw, tol * n, tol * n)) << d << " eigvalsh";
      }
    }
  }
  EXPECT_EQ(gpu::cpu_fallback_count(), fallbacks);
}

// Eigenvalues of each matrix of a (count, n) complex64 array as sorted (re, im) pairs.
std::vector<std::vector<std::pair<double, double>>> sorted_eigenvalues(const array& w) {
  std::vector<double> re = to_vector(w), im = to_vector_imag(w);
  const size_t n = w.shape().back(), count = n ? re.size() / n : 0;
  std::vector<std::vector<std::pair<double, double>>> out(count);
  for (size_t b = 0; b < count; ++b) {
    for (size_t j = 0; j < n; ++j) out[b].emplace_back(re[b * n + j], im[b * n + j]);
    std::sort(out[b].begin(), out[b].end());
  }
  return out;
}

TEST(LinalgGpu, EigMatchesCpu) {
  MICA_REQUIRE_GPU();
  size_t fallbacks = gpu::cpu_fallback_count();
  for (Dtype d : {float32, float64}) {
    for (Shape s : {Shape{1, 1}, Shape{6, 6}, Shape{3, 10, 10}, Shape{50, 50}}) {
      const int n = s.back();
      const double tol = 2e-4 * n;  // complex64 results whatever the input
      array a = random_input(s, d, -1, 1, static_cast<uint32_t>(n + 77));
      auto [cw, cv] = linalg::eig(a, kCpu);
      auto [gw, gv] = linalg::eig(a, kGpu);
      eval(cw, cv, gw, gv);
      // The same eigenvalues (as sets: the order is the QR algorithm's, not a promise).
      auto ce = sorted_eigenvalues(cw), ge = sorted_eigenvalues(gw);
      ASSERT_EQ(ce.size(), ge.size());
      for (size_t b = 0; b < ce.size(); ++b) {
        for (size_t j = 0; j < ce[b].size(); ++j) {
          EXPECT_NEAR(ge[b][j].first, ce[b][j].first, tol) << d << " " << n;
          EXPECT_NEAR(ge[b][j].second, ce[b][j].second, tol) << d << " " << n;
        }
      }
      // The GPU's vectors: A v = w v, unit columns.
      array v = copy(gv, kCpu), w = copy(gw, kCpu);
      array av = matmul(astype(a, complex64, kCpu), v, kCpu), vw = multiply(v, expand_dims(w, -2, kCpu), kCpu);
      EXPECT_TRUE(same_values(av, vw, tol, tol)) << d << " A v = w v, " << n;
      array norms = sum(real(multiply(v, conjugate(v, kCpu), kCpu), kCpu), -2, false, kCpu);
      EXPECT_TRUE(same_values(norms, ones_like(norms, kCpu), tol, tol)) << d << " unit vectors, " << n;
      EXPECT_TRUE(same_values(linalg::eigvals(a, kGpu), gw, 0, 0)) << d << " eigvals";
    }
  }
  EXPECT_EQ(gpu::cpu_fallback_count(), fallbacks);
}

TEST(LinalgGpu, FactorizationFailuresAsOnTheCpu) {
  MICA_REQUIRE_GPU();
  auto message = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  // A zero on the diagonal of the second triangular matrix.
  array t = well_conditioned({2, 4, 4}, float32, 41);
  t = slice_update(t, reshape(array(0.0f), {1, 1, 1}, kCpu), {1, 2, 2}, {2, 3, 3}, kCpu);
  array b = random_input({2, 4, 2}, float32, -1, 1, 42);
  const std::string cpu = message([&] { eval(linalg::solve_triangular(t, b, false, kCpu)); });
  EXPECT_NE(cpu, "no error");
  EXPECT_EQ(message([&] { eval(linalg::solve_triangular(t, b, false, kGpu)); }), cpu);
  const std::string cpu_inv = message([&] { eval(linalg::tri_inv(t, false, kCpu)); });
  EXPECT_NE(cpu_inv, "no error");
  EXPECT_EQ(message([&] { eval(linalg::tri_inv(t, false, kGpu)); }), cpu_inv);
  // NaN entries: svd and eigh refuse them with the CPU's message.
  array nan_m = slice_update(random_input({3, 3}, float32, -1, 1, 43), reshape(array(NAN), {1, 1}, kCpu), {1, 1}, {2, 2}, kCpu);
  const std::string cpu_svd = message([&] { eval(linalg::svd(nan_m, true, kCpu)); });
  EXPECT_NE(cpu_svd, "no error");
  EXPECT_EQ(message([&] { eval(linalg::svd(nan_m, true, kGpu)); }), cpu_svd);
  const std::string cpu_eigh = message([&] { auto r = linalg::eigh(nan_m, "L", kCpu); eval(r.first, r.second); });
  EXPECT_NE(cpu_eigh, "no error");
  EXPECT_EQ(message([&] { auto r = linalg::eigh(nan_m, "L", kGpu); eval(r.first, r.second); }), cpu_eigh);
}

}  // namespace
}  // namespace mica::test
