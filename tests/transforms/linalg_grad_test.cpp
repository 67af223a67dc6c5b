// Transform rules of the linalg family (Inverse, Cholesky, SolveTriangular, LUF, QRF, SVD, Eigh;
// Eig has vmap only): vjp vs finite differences, jvp/vjp adjoint and vmap vs loop for every op
// built on them, on well-conditioned float64 inputs. Spectral and QR outputs are checked through
// functions that do not depend on the sign (gauge) LAPACK picks for a vector. Direct checks: the
// gradients of the triangle-reading ops vanish in the other triangle, det's gradient is
// det A^-T, and gradients that cannot be taken say so.
#include <gtest/gtest.h>

#include "reference/reference.h"
#include "reference/transform_checks.h"

using namespace mica;
using mica::test::GradCase;
using mica::test::matches;
namespace la = mica::linalg;

namespace {
using Fn = std::function<array(const std::vector<array>&)>;

// x + c I: the random inputs (entries in [-1, 1]) made well conditioned.
array shifted(const array& x, double c) { return x + eye(x.shape(-1), float64) * c; }
array cols(const array& x, int lo, int hi) {
  Shape start(x.ndim(), 0), stop = x.shape();
  start.back() = lo;
  stop.back() = hi;
  return slice(x, start, stop);
}
array rows(const array& x, int lo, int hi) { return swapaxes(cols(swapaxes(x, -1, -2), lo, hi), -1, -2); }
// U[:, :k] diag(w) Vt[:k] for fixed weights w = 1, 2, ...: a function of the singular vectors
// that does not depend on their signs.
array weighted_usv(const array& x) {
  int k = std::min(x.shape(-2), x.shape(-1));
  auto usv = la::svd(x);
  return matmul(cols(usv[0], 0, k) * arange(1.0, k + 1.0, float64), rows(usv[2], 0, k));
}

std::vector<GradCase> cases() {
  std::vector<GradCase> c;
  auto push = [&](std::string name, Fn fn, std::vector<Shape> shapes, double rtol = 1e-5, double atol = 1e-6) {
    GradCase g{std::move(name), std::move(fn), std::move(shapes)};
    g.lo = -1.0, g.hi = 1.0, g.rtol = rtol, g.atol = atol;
    c.push_back(g);
  };
  push("inv", [](const std::vector<array>& x) { return la::inv(shifted(x[0], 4)); }, {{3, 3}});
  push("inv_batched", [](const std::vector<array>& x) { return la::inv(shifted(x[0], 4)); }, {{2, 3, 3}});
  push("tri_inv_lower", [](const std::vector<array>& x) { return la::tri_inv(shifted(x[0], 4)); }, {{3, 3}});
  push("tri_inv_upper", [](const std::vector<array>& x) { return la::tri_inv(shifted(x[0], 4), true); }, {{3, 3}});
  push("cholesky_lower", [](const std::vector<array>& x) { return la::cholesky(shifted(x[0], 6)); }, {{3, 3}});
  push("cholesky_upper", [](const std::vector<array>& x) { return la::cholesky(shifted(x[0], 6), true); }, {{2, 3, 3}});
  push("cholesky_inv", [](const std::vector<array>& x) { return la::cholesky_inv(shifted(x[0], 4)); }, {{3, 3}});
  push("cholesky_inv_upper", [](const std::vector<array>& x) { return la::cholesky_inv(shifted(x[0], 4), true); },
       {{3, 3}});
  push("solve_matrix", [](const std::vector<array>& x) { return la::solve(shifted(x[0], 4), x[1]); }, {{3, 3}, {3, 2}});
  push("solve_vector", [](const std::vector<array>& x) { return la::solve(shifted(x[0], 4), x[1]); }, {{3, 3}, {3}});
  push("solve_batched", [](const std::vector<array>& x) { return la::solve(shifted(x[0], 4), x[1]); },
       {{2, 3, 3}, {2, 3, 1}});
  push("solve_triangular_lower",
       [](const std::vector<array>& x) { return la::solve_triangular(shifted(x[0], 4), x[1]); }, {{3, 3}, {3, 2}});
  push("solve_triangular_upper",
       [](const std::vector<array>& x) { return la::solve_triangular(shifted(x[0], 4), x[1], true); }, {{3, 3}, {3}});
  push("det", [](const std::vector<array>& x) { return la::det(shifted(x[0], 3)); }, {{3, 3}});
  push("det_batched", [](const std::vector<array>& x) { return la::det(shifted(x[0], 3)); }, {{2, 4, 4}});
  push("slogdet", [](const std::vector<array>& x) { return la::slogdet(shifted(x[0], 3)).second; }, {{4, 4}});
  push("lu_factor", [](const std::vector<array>& x) { return la::lu_factor(x[0]).first; }, {{3, 3}});
  push("lu_product",
       [](const std::vector<array>& x) {
         auto plu = la::lu(x[0]);
         return matmul(plu[1], plu[2]);
       },
       {{2, 4, 4}});
  push("qr_square_q", [](const std::vector<array>& x) { return la::qr(x[0]).first; }, {{3, 3}});
  push("qr_square_r", [](const std::vector<array>& x) { return la::qr(x[0]).second; }, {{3, 3}});
  push("qr_tall",
       [](const std::vector<array>& x) {
         auto [q, r] = la::qr(x[0]);
         return concatenate({flatten(q), flatten(r)});
       },
       {{4, 2}});
  push("qr_wide",
       [](const std::vector<array>& x) {
         auto [q, r] = la::qr(x[0]);
         return concatenate({flatten(q), flatten(r)});
       },
       {{2, 4}});
  push("svd_values_square", [](const std::vector<array>& x) { return la::svd(x[0], false)[0]; }, {{3, 3}});
  push("svd_values_tall", [](const std::vector<array>& x) { return la::svd(x[0], false)[0]; }, {{2, 4, 2}});
  push("svd_values_from_full", [](const std::vector<array>& x) { return la::svd(x[0])[1]; }, {{2, 3}});
  push("svd_vectors_square", [](const std::vector<array>& x) { return weighted_usv(x[0]); }, {{3, 3}});
  push("svd_vectors_tall", [](const std::vector<array>& x) { return weighted_usv(x[0]); }, {{4, 2}});
  push("svd_vectors_wide", [](const std::vector<array>& x) { return weighted_usv(x[0]); }, {{2, 4}});
  push("svd_u_squared", [](const std::vector<array>& x) { return square(cols(la::svd(x[0])[0], 0, 2)); }, {{3, 2}});
  push("pinv_wide", [](const std::vector<array>& x) { return la::pinv(x[0]); }, {{2, 3}});
  push(
      "pinv_tall", [](const std::vector<array>& x) { return la::pinv(x[0]); }, {{3, 2}}, 1e-5, 1e-5);
  push("eigvalsh_lower", [](const std::vector<array>& x) { return la::eigvalsh(x[0]); }, {{3, 3}});
  push("eigvalsh_upper", [](const std::vector<array>& x) { return la::eigvalsh(x[0], "U"); }, {{2, 3, 3}});
  push("eigh_values", [](const std::vector<array>& x) { return la::eigh(x[0]).first; }, {{3, 3}});
  push("eigh_vectors",
       [](const std::vector<array>& x) {
         auto [w, v] = la::eigh(x[0], "U");
         return matmul(v * arange(1.0, 4.0, float64), swapaxes(v, -1, -2));
       },
       {{3, 3}});
  push("eigh_vectors_squared", [](const std::vector<array>& x) { return square(la::eigh(x[0]).second); }, {{3, 3}});
  push("norm_2", [](const std::vector<array>& x) { return la::norm(x[0], 2.0); }, {{3, 2}});
  push("norm_nuc",
       [](const std::vector<array>& x) {
         return la::norm(x[0], "nuc", std::vector<int>{0, 2});
       },
       {{2, 2, 3}});
  push("norm_fro_keepdims", [](const std::vector<array>& x) { return la::norm(x[0], "fro", std::nullopt, true); },
       {{2, 3}});
  push("norm_vector_3", [](const std::vector<array>& x) { return la::norm(x[0], 3.0, -1); }, {{2, 4}});
  push("norm_matrix_1", [](const std::vector<array>& x) { return la::norm(x[0], 1.0); }, {{3, 3}});
  push("cross", [](const std::vector<array>& x) { return la::cross(x[0], x[1]); }, {{2, 3}, {2, 3}});
  push("cross_axis0_2d", [](const std::vector<array>& x) { return la::cross(x[0], x[1], 0); }, {{2, 4}, {3, 4}});
  return c;
}
const std::vector<GradCase> kLinalg = cases();
}  // namespace

class LinalgRules : public mica::test::GradRules {};
MICA_GRAD_RULE_TESTS(LinalgRules, kLinalg);

TEST(LinalgRulesDirect, TriangleReadersHaveNoGradientInTheOtherTriangle) {
  array a = test::random_array({3, 3}, float64, -1, 1, 5) + eye(3, float64) * 6.0;
  for (bool upper : {false, true}) {
    for (auto f : std::vector<std::function<array(const array&)>>{
             [&](const array& x) { return sum(la::cholesky(x, upper)); },
             [&](const array& x) { return sum(la::tri_inv(x, upper)); },
             [&](const array& x) { return sum(la::eigvalsh(x, upper ? "U" : "L") * arange(1.0, 4.0, float64)); },
             [&](const array& x) { return sum(la::solve_triangular(x, ones({3}, float64), upper)); }}) {
      auto g = test::to_vector(grad(f)(a));
      for (int i = 0; i < 3; ++i) {
        for (int j = 0; j < 3; ++j) {
          if (upper ? j < i : j > i) EXPECT_EQ(g[i * 3 + j], 0.0) << upper << " " << i << j;
        }
      }
    }
  }
}

TEST(LinalgRulesDirect, DetGradientIsDetTimesInverseTranspose) {
  array a = test::random_array({4, 4}, float64, -1, 1, 6) + eye(4, float64) * 2.0;
  array g = grad([](const array& x) { return la::det(x); })(a);
  array want = la::det(a) * swapaxes(la::inv(a), -1, -2);
  EXPECT_TRUE(test::all_close(test::to_vector(g), test::to_vector(want), 1e-10, 1e-12));
  // The same through slogdet: A^-T.
  array gl = grad([](const array& x) { return la::slogdet(x).second; })(a);
  EXPECT_TRUE(test::all_close(test::to_vector(gl), test::to_vector(swapaxes(la::inv(a), -1, -2)), 1e-10, 1e-12));
  // MLX 0.32's float32 gradient of det on its 3 x 3 example.
  array m = array({4.f, 1.f, 0.5f, 1.f, 3.f, 0.2f, 0.5f, 0.2f, 2.f}, {3, 3});
  EXPECT_TRUE(matches(grad([](const array& x) { return la::det(x); })(m), {3, 3},
                      {5.96, -1.9, -1.3, -1.9, 7.75, -0.3, -1.3, -0.3, 11.0}, 1e-5, 1e-5));
}

TEST(LinalgRulesDirect, GradientsThatDoNotExistSaySo) {
  array a = test::random_array({3, 3}, float64, -1, 1, 7);
  EXPECT_TRUE(test::throws_op<std::invalid_argument>(
      "vjp", [&] { grad([](const array& x) { return sum(real(la::eigvals(x))); })(a); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>(
      "jvp", [&] { jvp([](const array& x) { return real(la::eig(x).first); }, a, a); }));
  // LU of a rectangular matrix: its rules need a square one.
  array r = test::random_array({3, 2}, float64, -1, 1, 8);
  EXPECT_TRUE(test::throws_op<std::invalid_argument>(
      "linalg::lu_factor", [&] { grad([](const array& x) { return sum(la::lu_factor(x).first); })(r); }));
}
