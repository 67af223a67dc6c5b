// mica::linalg against double-precision checks: reconstructions (A = Q R, U S Vᵀ, L Lᵀ, L[p] U,
// A V = V Λ), residuals of inverses and solves, closed forms and LU products for det, direct
// formulas for norms and cross, the Moore-Penrose conditions for pinv, MLX 0.32's values on its
// documented examples, batches, strided views, empty arrays, vmap against a loop, bad inputs and
// the eval-time errors (singular, not positive definite, NaN). Gradients: tests/transforms.
#include <cmath>
#include <complex>
#include <limits>
#include <string>

#include "reference/reference.h"

namespace mica::test {
namespace {
namespace la = mica::linalg;

// Row-major double matrices and the loops that check the results.
using Mat = std::vector<double>;
constexpr double kInf = std::numeric_limits<double>::infinity();

int64_t count(const array& a, int trailing = 2) {
  int64_t c = 1;
  for (size_t d = 0; d + trailing < a.ndim(); ++d) c *= a.shape(d);
  return c;
}
// Matrix b (m x n) of a stack's row-major values.
Mat block(const std::vector<double>& v, int64_t b, int m, int n) {
  return Mat(v.begin() + b * m * n, v.begin() + (b + 1) * m * n);
}
Mat mul(const Mat& a, const Mat& b, int m, int k, int n) {
  Mat c(static_cast<size_t>(m) * n, 0.0);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      for (int t = 0; t < k; ++t) c[i * n + j] += a[i * k + t] * b[t * n + j];
    }
  }
  return c;
}
Mat trans(const Mat& a, int m, int n) {
  Mat t(a.size());
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) t[j * m + i] = a[i * n + j];
  }
  return t;
}
Mat ident(int n) {
  Mat e(static_cast<size_t>(n) * n, 0.0);
  for (int i = 0; i < n; ++i) e[i * n + i] = 1.0;
  return e;
}
// x with the lower (upper) triangle kept, the rest zero.
Mat triangle(const Mat& x, int n, bool upper) {
  Mat t = x;
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      if (upper ? j < i : j > i) t[i * n + j] = 0.0;
    }
  }
  return t;
}
// The symmetric matrix whose lower (upper) triangle is x's.
Mat symmetric_from(const Mat& x, int n, bool upper) {
  Mat s = x;
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) s[i * n + j] = (upper ? i <= j : i >= j) ? x[i * n + j] : x[j * n + i];
  }
  return s;
}
bool is_triangular(const Mat& x, int m, int n, bool upper) {
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      if ((upper ? j < i : j > i) && x[i * n + j] != 0.0) return false;
    }
  }
  return true;
}
testing::AssertionResult near(const Mat& got, const Mat& want, double tol) { return all_close(got, want, 0, tol); }

double tol(Dtype d, int n) { return (d == float64 ? 1e-11 : 2e-5) * std::max(n, 4); }

// A random stack plus n on the diagonal: well conditioned.
array well_conditioned(const Shape& shape, Dtype dt, uint32_t seed) {
  int n = shape.back();
  return astype(random_array(shape, float64, -1, 1, seed) + eye(n, float64) * static_cast<double>(n), dt);
}
// Symmetric positive definite: B Bᵀ / n + I.
array spd(const Shape& shape, Dtype dt, uint32_t seed) {
  int n = shape.back();
  array b = random_array(shape, float64, -1, 1, seed);
  return astype(matmul(b, swapaxes(b, -1, -2)) / static_cast<double>(n) + eye(n, float64), dt);
}

// Columns [lo, hi) of a stack of matrices.
array columns(const array& x, int lo, int hi) {
  Shape start(x.ndim(), 0), stop = x.shape();
  start.back() = lo;
  stop.back() = hi;
  return slice(x, start, stop);
}

const std::vector<Shape> kSquareShapes = {{1, 1}, {4, 4}, {3, 5, 5}, {2, 3, 6, 6}, {40, 40}};
const std::vector<Dtype> kFloats = {float32, float64};

// ---------------------------------------------------------------- inverses

TEST(Linalg, InvTimesAIsIdentity) {
  uint32_t seed = 1;
  for (Dtype dt : kFloats) {
    for (const Shape& shape : kSquareShapes) {
      array a = well_conditioned(shape, dt, seed++);
      array y = la::inv(a);
      EXPECT_EQ(y.dtype(), dt);
      EXPECT_EQ(y.shape(), shape);
      int n = shape.back();
      auto av = to_vector(a), yv = to_vector(y);
      for (int64_t b = 0; b < count(a); ++b) {
        Mat am = block(av, b, n, n), ym = block(yv, b, n, n);
        EXPECT_TRUE(near(mul(ym, am, n, n, n), ident(n), tol(dt, n))) << detail::shape_str(shape) << " " << b;
        EXPECT_TRUE(near(mul(am, ym, n, n, n), ident(n), tol(dt, n))) << detail::shape_str(shape) << " " << b;
      }
    }
  }
  // MLX: inv([[4, 1], [1, 3]]) = [[3, -1], [-1, 4]] / 11.
  EXPECT_TRUE(matches(la::inv(array({4.f, 1.f, 1.f, 3.f}, {2, 2})), {2, 2}, {3 / 11., -1 / 11., -1 / 11., 4 / 11.}));
}

TEST(Linalg, InvOfViewsBigMatricesAndManySmallOnes) {
  // A transposed view, a broadcast batch and a strided slice give what their copies give.
  array a = well_conditioned({5, 5}, float64, 3);
  EXPECT_TRUE(all_close(to_vector(la::inv(transpose(a))), to_vector(la::inv(copy(transpose(a)))), 0, 1e-12));
  array bc = broadcast_to(a, {3, 5, 5});
  auto ib = to_vector(la::inv(bc)), ia = to_vector(la::inv(a));
  for (int b = 0; b < 3; ++b) EXPECT_TRUE(near(block(ib, b, 5, 5), ia, 1e-12));
  array big = well_conditioned({12, 12}, float32, 4);
  array strided = slice(big, {0, 0}, {12, 12}, {2, 2});  // (6, 6), every other row and column
  EXPECT_TRUE(all_close(to_vector(la::inv(strided)), to_vector(la::inv(copy(strided))), 0, 1e-6));
  // One big matrix (OpenBLAS's threads) and thousands of small ones (split over mica's threads).
  for (Shape shape : {Shape{300, 300}, Shape{3000, 3, 3}}) {
    int n = shape.back();
    array x = well_conditioned(shape, float64, 5);
    auto xv = to_vector(x), yv = to_vector(la::inv(x));
    for (int64_t b = 0; b < count(x); b += std::max<int64_t>(1, count(x) / 7)) {
      EXPECT_TRUE(near(mul(block(yv, b, n, n), block(xv, b, n, n), n, n, n), ident(n), 1e-10)) << b;
    }
  }
}

TEST(Linalg, TriInvReadsOneTriangle) {
  uint32_t seed = 10;
  for (Dtype dt : kFloats) {
    for (bool upper : {false, true}) {
      for (const Shape& shape : kSquareShapes) {
        array a = well_conditioned(shape, dt, seed++);  // both triangles filled: one is ignored
        array y = la::tri_inv(a, upper);
        int n = shape.back();
        auto av = to_vector(a), yv = to_vector(y);
        for (int64_t b = 0; b < count(a); ++b) {
          Mat t = triangle(block(av, b, n, n), n, upper), ym = block(yv, b, n, n);
          EXPECT_TRUE(is_triangular(ym, n, n, upper));
          EXPECT_TRUE(near(mul(ym, t, n, n, n), ident(n), tol(dt, n))) << upper << detail::shape_str(shape);
        }
      }
    }
  }
  // MLX: tri_inv([[4, 2], [100, 3]], upper) = [[0.25, -1/6], [0, 1/3]].
  EXPECT_TRUE(matches(la::tri_inv(array({4.f, 2.f, 100.f, 3.f}, {2, 2}), true), {2, 2}, {0.25, -1 / 6., 0, 1 / 3.}));
}

TEST(Linalg, CholeskyReconstructs) {
  uint32_t seed = 20;
  for (Dtype dt : kFloats) {
    for (bool upper : {false, true}) {
      for (const Shape& shape : kSquareShapes) {
        int n = shape.back();
        array a = spd(shape, dt, seed++);
        // Garbage in the triangle not read.
        array garbage = random_array(shape, dt, 50, 60, seed++);
        array in = upper ? triu(a) + tril(garbage, -1) : tril(a) + triu(garbage, 1);
        array f = la::cholesky(in, upper);
        EXPECT_EQ(f.dtype(), dt);
        auto av = to_vector(a), fv = to_vector(f);
        for (int64_t b = 0; b < count(a); ++b) {
          Mat fm = block(fv, b, n, n);
          EXPECT_TRUE(is_triangular(fm, n, n, upper));
          Mat prod = upper ? mul(trans(fm, n, n), fm, n, n, n) : mul(fm, trans(fm, n, n), n, n, n);
          EXPECT_TRUE(near(prod, block(av, b, n, n), tol(dt, n))) << upper << detail::shape_str(shape);
        }
        // cholesky_inv from the factor is the inverse of a.
        array ci = la::cholesky_inv(f, upper);
        auto cv = to_vector(ci);
        for (int64_t b = 0; b < count(a); ++b) {
          EXPECT_TRUE(near(mul(block(cv, b, n, n), block(av, b, n, n), n, n, n), ident(n), tol(dt, n) * 10));
        }
      }
    }
  }
  // MLX: cholesky([[4, 1], [1, 3]]) = [[2, 0], [0.5, 1.65831]]; cholesky_inv of it (as L).
  array a = array({4.f, 1.f, 1.f, 3.f}, {2, 2});
  EXPECT_TRUE(matches(la::cholesky(a), {2, 2}, {2, 0, 0.5, std::sqrt(2.75)}));
  EXPECT_TRUE(matches(la::cholesky_inv(a), {2, 2}, {0.0694444, -0.0277778, -0.0277778, 0.111111}, 1e-5, 1e-6));
}

// ---------------------------------------------------------------- QR, SVD, LU

const std::vector<Shape> kRectShapes = {{4, 4}, {6, 3}, {3, 6}, {2, 5, 4}, {2, 2, 3, 5}, {1, 1}, {50, 30}};

TEST(Linalg, QrReconstructs) {
  uint32_t seed = 30;
  for (Dtype dt : kFloats) {
    for (const Shape& shape : kRectShapes) {
      int m = shape[shape.size() - 2], n = shape.back(), k = std::min(m, n);
      array a = random_array(shape, dt, -1, 1, seed++);
      auto [q, r] = la::qr(a);
      Shape qs = shape, rs = shape;
      qs.back() = k;
      rs[rs.size() - 2] = k;
      EXPECT_EQ(q.shape(), qs);
      EXPECT_EQ(r.shape(), rs);
      auto av = to_vector(a), qv = to_vector(q), rv = to_vector(r);
      for (int64_t b = 0; b < count(a); ++b) {
        Mat qm = block(qv, b, m, k), rm = block(rv, b, k, n);
        EXPECT_TRUE(is_triangular(rm, k, n, true));
        EXPECT_TRUE(near(mul(qm, rm, m, k, n), block(av, b, m, n), tol(dt, m))) << detail::shape_str(shape);
        EXPECT_TRUE(near(mul(trans(qm, m, k), qm, k, m, k), ident(k), tol(dt, m))) << detail::shape_str(shape);
      }
    }
  }
  // MLX's example.
  auto [q, r] = la::qr(array({2.f, 3.f, 1.f, 2.f}, {2, 2}));
  EXPECT_TRUE(matches(q, {2, 2}, {-0.894427, -0.447214, -0.447214, 0.894427}, 1e-5, 1e-6));
  EXPECT_TRUE(matches(r, {2, 2}, {-2.23607, -3.57771, 0, 0.447214}, 1e-5, 1e-6));
}

TEST(Linalg, SvdReconstructs) {
  uint32_t seed = 40;
  for (Dtype dt : kFloats) {
    for (const Shape& shape : kRectShapes) {
      int m = shape[shape.size() - 2], n = shape.back(), k = std::min(m, n);
      array a = random_array(shape, dt, -1, 1, seed++);
      auto usv = la::svd(a);
      ASSERT_EQ(usv.size(), 3u);
      auto av = to_vector(a), uv = to_vector(usv[0]), sv = to_vector(usv[1]), vv = to_vector(usv[2]);
      EXPECT_EQ(usv[0].shape().back(), m);
      EXPECT_EQ(usv[1].shape().back(), k);
      EXPECT_EQ(usv[2].shape().back(), n);
      for (int64_t b = 0; b < count(a); ++b) {
        Mat um = block(uv, b, m, m), vt = block(vv, b, n, n), s = block(sv, b, 1, k);
        EXPECT_TRUE(near(mul(trans(um, m, m), um, m, m, m), ident(m), tol(dt, m)));
        EXPECT_TRUE(near(mul(vt, trans(vt, n, n), n, n, n), ident(n), tol(dt, n)));
        for (int i = 0; i < k; ++i) {
          EXPECT_GE(s[i], 0.0);
          if (i > 0) EXPECT_GE(s[i - 1], s[i]);
        }
        Mat us(static_cast<size_t>(m) * n, 0.0);  // U[:, :k] diag(s) Vt[:k]
        for (int i = 0; i < m; ++i) {
          for (int j = 0; j < n; ++j) {
            for (int t = 0; t < k; ++t) us[i * n + j] += um[i * m + t] * s[t] * vt[t * n + j];
          }
        }
        EXPECT_TRUE(near(us, block(av, b, m, n), tol(dt, std::max(m, n)))) << detail::shape_str(shape);
      }
      auto s_only = la::svd(a, false);
      ASSERT_EQ(s_only.size(), 1u);
      EXPECT_TRUE(all_close(to_vector(s_only[0]), sv, 0, tol(dt, m)));
    }
  }
  EXPECT_TRUE(matches(la::svd(array({4.f, 1.f, 1.f, 3.f}, {2, 2}), false)[0], {2}, {4.61803, 2.38197}, 1e-5, 1e-6));
}

TEST(Linalg, LuReconstructs) {
  uint32_t seed = 50;
  for (Dtype dt : kFloats) {
    for (const Shape& shape : kRectShapes) {
      int m = shape[shape.size() - 2], n = shape.back(), k = std::min(m, n);
      array a = random_array(shape, dt, -1, 1, seed++);
      auto plu = la::lu(a);
      ASSERT_EQ(plu.size(), 3u);
      EXPECT_EQ(plu[0].dtype(), uint32);
      EXPECT_EQ(plu[1].shape().back(), k);
      EXPECT_EQ(plu[2].shape()[plu[2].ndim() - 2], k);
      auto av = to_vector(a), pv = to_vector(plu[0]), lv = to_vector(plu[1]), uv = to_vector(plu[2]);
      auto [packed, piv] = la::lu_factor(a);
      auto packv = to_vector(packed), pivv = to_vector(piv);
      for (int64_t b = 0; b < count(a); ++b) {
        Mat l = block(lv, b, m, k), u = block(uv, b, k, n), lu_prod = mul(l, u, m, k, n);
        EXPECT_TRUE(is_triangular(u, k, n, true));
        EXPECT_TRUE(is_triangular(l, m, k, false));
        for (int i = 0; i < k; ++i) EXPECT_EQ(l[i * k + i], 1.0);
        // a = L[p] U.
        Mat want = block(av, b, m, n), got(want.size());
        for (int i = 0; i < m; ++i) {
          for (int j = 0; j < n; ++j) got[i * n + j] = lu_prod[static_cast<int>(pv[b * m + i]) * n + j];
        }
        EXPECT_TRUE(near(got, want, tol(dt, m))) << detail::shape_str(shape);
        // lu_factor packs the same L and U; its pivots replay the row swaps behind p.
        Mat pk = block(packv, b, m, n);
        for (int i = 0; i < m; ++i) {
          for (int j = 0; j < n; ++j) {
            double want_ij = j >= i ? (i < k ? u[i * n + j] : 0.0) : l[i * k + j];
            EXPECT_EQ(pk[i * n + j], want_ij);
          }
        }
        std::vector<int> rows(m);
        for (int i = 0; i < m; ++i) rows[i] = i;
        for (int i = 0; i < k; ++i) std::swap(rows[i], rows[static_cast<int>(pivv[b * k + i])]);
        for (int j = 0; j < m; ++j) EXPECT_EQ(pv[b * m + rows[j]], j);
      }
    }
  }
  // MLX's values.
  array a = array({0.f, 1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f, 9.f}, {3, 3});
  auto plu = la::lu(a);
  EXPECT_TRUE(matches(plu[0], {3}, {1, 2, 0}, 0, 0));
  EXPECT_TRUE(matches(plu[1], {3, 3}, {1, 0, 0, 0, 1, 0, 0.5, 0.5, 1}));
  EXPECT_TRUE(matches(plu[2], {3, 3}, {6, 7, 9, 0, 1, 2, 0, 0, -0.5}));
  auto [packed, piv] = la::lu_factor(a);
  EXPECT_TRUE(matches(packed, {3, 3}, {6, 7, 9, 0, 1, 2, 0.5, 0.5, -0.5}));
  EXPECT_TRUE(matches(piv, {3}, {2, 2, 2}, 0, 0));
  // Singular matrices factor fine: U has a zero pivot.
  auto sing = la::lu(array({1.f, 2.f, 2.f, 4.f}, {2, 2}));
  EXPECT_TRUE(matches(sing[2], {2, 2}, {2, 4, 0, 0}));
}

// ---------------------------------------------------------------- eigenproblems

TEST(Linalg, EigSatisfiesAvEqualsVLambda) {
  uint32_t seed = 60;
  for (Dtype dt : kFloats) {
    for (const Shape& shape : kSquareShapes) {
      int n = shape.back();
      array a = random_array(shape, dt, -1, 1, seed++);  // generally complex eigenvalues
      auto [w, v] = la::eig(a);
      EXPECT_EQ(w.dtype(), complex64);
      EXPECT_EQ(v.dtype(), complex64);
      auto av = to_vector(a), wr = to_vector(w), wi = to_vector_imag(w), vr = to_vector(v), vi = to_vector_imag(v);
      EXPECT_TRUE(all_close(to_vector(la::eigvals(a)), wr, 0, 0));
      for (int64_t b = 0; b < count(a); ++b) {
        for (int j = 0; j < n; ++j) {
          std::complex<double> lam(wr[b * n + j], wi[b * n + j]);
          double norm2 = 0, resid = 0;
          for (int i = 0; i < n; ++i) {
            std::complex<double> avi = 0;
            for (int t = 0; t < n; ++t)
              avi += av[(b * n + i) * n + t] * std::complex<double>(vr[(b * n + t) * n + j], vi[(b * n + t) * n + j]);
            std::complex<double> vij(vr[(b * n + i) * n + j], vi[(b * n + i) * n + j]);
            resid = std::max(resid, std::abs(avi - lam * vij));
            norm2 += std::norm(vij);
          }
          EXPECT_NEAR(norm2, 1.0, 1e-5);
          EXPECT_LT(resid, 2e-5 * std::max(n, 4)) << detail::shape_str(shape) << " " << b << " " << j;
        }
      }
    }
  }
  // MLX's examples: [[1, -2], [-2, 1]] has 3 and -1; a rotation has +-i.
  array a = array({1.f, -2.f, -2.f, 1.f}, {2, 2});
  EXPECT_TRUE(matches(la::eigvals(a), {2}, {3, -1}, 1e-6, 1e-6));
  array rot = array({0.f, -1.f, 1.f, 0.f}, {2, 2});
  auto [w, v] = la::eig(rot);
  EXPECT_EQ(to_vector(w), (std::vector<double>{0, 0}));
  EXPECT_EQ(to_vector_imag(w), (std::vector<double>{1, -1}));
  EXPECT_TRUE(all_close(to_vector_imag(v), {0, 0, -std::sqrt(0.5), std::sqrt(0.5)}, 0, 1e-6));
}

TEST(Linalg, EighSatisfiesAvEqualsVLambda) {
  uint32_t seed = 70;
  for (Dtype dt : kFloats) {
    for (bool upper : {false, true}) {
      for (const Shape& shape : kSquareShapes) {
        int n = shape.back();
        array a = random_array(shape, dt, -1, 1, seed++);  // read as symmetric from one triangle
        auto [w, v] = la::eigh(a, upper ? "U" : "L");
        EXPECT_EQ(w.dtype(), dt);
        auto av = to_vector(a), wv = to_vector(w), vv = to_vector(v);
        EXPECT_TRUE(all_close(to_vector(la::eigvalsh(a, upper ? "U" : "L")), wv, 0, tol(dt, n)));
        for (int64_t b = 0; b < count(a); ++b) {
          Mat s = symmetric_from(block(av, b, n, n), n, upper), vm = block(vv, b, n, n);
          Mat vl = vm;
          for (int i = 0; i < n; ++i) {
            for (int j = 0; j < n; ++j) vl[i * n + j] *= wv[b * n + j];
            if (i > 0) EXPECT_LE(wv[b * n + i - 1], wv[b * n + i]);
          }
          EXPECT_TRUE(near(mul(s, vm, n, n, n), vl, tol(dt, n))) << upper << detail::shape_str(shape);
          EXPECT_TRUE(near(mul(trans(vm, n, n), vm, n, n, n), ident(n), tol(dt, n)));
        }
      }
    }
  }
  // MLX's values: the triangle chosen decides the matrix.
  array e = array({2.f, 100.f, 1.f, 3.f}, {2, 2});
  EXPECT_TRUE(matches(la::eigvalsh(e), {2}, {1.381966, 3.618034}, 1e-6, 1e-5));
  EXPECT_TRUE(matches(la::eigvalsh(e, "U"), {2}, {-97.50125, 102.50125}, 1e-6, 1e-4));
}

// ---------------------------------------------------------------- solvers

TEST(Linalg, SolveResiduals) {
  uint32_t seed = 80;
  struct Case {
    Shape a, b, out;
  };
  std::vector<Case> cases = {{{4, 4}, {4}, {4}},
                             {{4, 4}, {4, 3}, {4, 3}},
                             {{3, 4, 4}, {4}, {3, 4}},
                             {{3, 4, 4}, {3, 4, 2}, {3, 4, 2}},
                             {{4, 4}, {5, 4, 2}, {5, 4, 2}},
                             {{1, 3, 4, 4}, {2, 1, 4, 5}, {2, 3, 4, 5}},
                             {{60, 60}, {60, 7}, {60, 7}}};
  for (Dtype dt : kFloats) {
    for (const auto& c : cases) {
      int n = c.a.back();
      array a = well_conditioned(c.a, dt, seed++);
      array b = random_array(c.b, dt, -1, 1, seed++);
      for (bool tri : {false, true}) {
        for (bool upper : {false, true}) {
          if (!tri && upper) continue;
          array x = tri ? la::solve_triangular(a, b, upper) : la::solve(a, b);
          ASSERT_EQ(x.shape(), c.out);
          EXPECT_EQ(x.dtype(), dt);
          // Check every system of the broadcast batch: A x = b.
          Shape ob = c.out;
          int k = c.b.size() == 1 ? 1 : c.b.back();
          Shape batch(ob.begin(), ob.end() - (c.b.size() == 1 ? 1 : 2));
          Shape ab(c.a.begin(), c.a.end() - 2), bb(c.b.begin(), c.b.end() - (c.b.size() == 1 ? 1 : 2));
          auto av = to_vector(a), bv = to_vector(b), xv = to_vector(x);
          int64_t nb = 1;
          for (int d : batch) nb *= d;
          for (int64_t t = 0; t < nb; ++t) {
            size_t ia = ab.empty() ? 0 : broadcast_index(t, batch, ab),
                   ib = bb.empty() ? 0 : broadcast_index(t, batch, bb);
            Mat am = block(av, ia, n, n);
            if (tri) am = triangle(am, n, upper);
            Mat ax = mul(am, block(xv, t, n, k), n, n, k);
            EXPECT_TRUE(near(ax, block(bv, ib, n, k), tol(dt, n))) << tri << upper << detail::shape_str(c.a);
          }
        }
      }
    }
  }
  // MLX: solve([[3, 1], [1, 2]], [9, 8]) = [2, 3]; mixed dtypes promote (int32 with float32).
  EXPECT_TRUE(matches(la::solve(array({3.f, 1.f, 1.f, 2.f}, {2, 2}), array({9.f, 8.f})), {2}, {2, 3}, 1e-6, 1e-6));
  array xi = la::solve(array({3, 1, 1, 2}, {2, 2}, int32), array({9.f, 8.f}));
  EXPECT_EQ(xi.dtype(), float32);
  array xd = la::solve(array({3.f, 1.f, 1.f, 2.f}, {2, 2}, float64), array({1.f, 1.f}));
  EXPECT_EQ(xd.dtype(), float64);
  EXPECT_TRUE(matches(xd, {2}, {0.2, 0.4}, 1e-12, 1e-12));
  EXPECT_TRUE(matches(la::solve_triangular(array({2.f, 5.f, 100.f, 4.f}, {2, 2}), array({2.f, 8.f}), true), {2},
                      {-4, 2}, 1e-6, 1e-6));
}

// ---------------------------------------------------------------- determinants

double det2(const Mat& a) { return a[0] * a[3] - a[1] * a[2]; }
double det3(const Mat& a) {
  return a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) + a[2] * (a[3] * a[7] - a[4] * a[6]);
}

TEST(Linalg, DetAgainstClosedFormsAndLu) {
  uint32_t seed = 90;
  for (Dtype dt : kFloats) {
    for (int n : {2, 3}) {
      array a = random_array({5, n, n}, dt, -2, 2, seed++);
      auto av = to_vector(a), dv = to_vector(la::det(a));
      auto [sg, la_] = la::slogdet(a);
      auto sv = to_vector(sg), lv = to_vector(la_);
      for (int b = 0; b < 5; ++b) {
        Mat m = block(av, b, n, n);
        double want = n == 2 ? det2(m) : det3(m);
        EXPECT_NEAR(dv[b], want, tol(dt, n) * 10);
        EXPECT_NEAR(sv[b] * std::exp(lv[b]), want, tol(dt, n) * 10);
        EXPECT_EQ(sv[b], want > 0 ? 1.0 : -1.0);
      }
    }
    // Larger: the product of U's diagonal, negated for each row swap.
    array a = well_conditioned({3, 7, 7}, dt, seed++);
    auto [packed, piv] = la::lu_factor(a);
    auto pk = to_vector(packed), pv = to_vector(piv), dv = to_vector(la::det(a));
    for (int b = 0; b < 3; ++b) {
      double want = 1;
      for (int i = 0; i < 7; ++i) want *= pk[(b * 7 + i) * 7 + i] * (pv[b * 7 + i] != i ? -1 : 1);
      EXPECT_NEAR(dv[b], want, std::abs(want) * (dt == float64 ? 1e-12 : 1e-5));
    }
  }
  // MLX's values; dtypes; singular and empty matrices.
  EXPECT_TRUE(matches(la::det(array({1.f, 2.f, 3.f, 4.f}, {2, 2})), {}, {-2}, 1e-6, 1e-6));
  auto [s, l] = la::slogdet(array({1.f, 2.f, 3.f, 4.f}, {2, 2}));
  EXPECT_TRUE(matches(s, {}, {-1}, 0, 0));
  EXPECT_TRUE(matches(l, {}, {std::log(2.0)}, 1e-6, 1e-6));
  EXPECT_EQ(la::det(array({4, 1, 1, 3}, {2, 2}, int32)).dtype(), float32);
  EXPECT_TRUE(matches(la::det(array({4, 1, 1, 3}, {2, 2}, int32)), {}, {11}, 1e-6, 1e-6));
  array h = la::det(array({4.f, 1.f, 1.f, 3.f}, {2, 2}, float16));
  EXPECT_EQ(h.dtype(), float16);
  EXPECT_TRUE(matches(h, {}, {11}, 0, 0));
  EXPECT_TRUE(matches(la::det(array({1.f, 2.f, 2.f, 4.f}, {2, 2})), {}, {0}, 0, 0));
  auto [s0, l0] = la::slogdet(array({1.f, 2.f, 2.f, 4.f}, {2, 2}));
  EXPECT_TRUE(matches(s0, {}, {0}, 0, 0));
  EXPECT_TRUE(matches(l0, {}, {-kInf}, 0, 0));
  EXPECT_TRUE(matches(la::det(zeros({2, 0, 0})), {2}, {1, 1}, 0, 0));
}

// ---------------------------------------------------------------- norms, cross, pinv

double vnorm(const std::vector<double>& x, double ord) {
  if (ord == kInf || ord == -kInf) {
    double r = std::abs(x[0]);
    for (double v : x) r = ord > 0 ? std::max(r, std::abs(v)) : std::min(r, std::abs(v));
    return r;
  }
  double s = 0;
  for (double v : x) s += ord == 0 ? (v != 0) : std::pow(std::abs(v), ord);
  return ord == 0 ? s : std::pow(s, 1.0 / ord);
}

TEST(Linalg, VectorNorms) {
  array a = random_array({3, 4, 5}, float64, -2, 2, 100);
  array with_zero = slice_update(a, zeros({1, 1, 1}, float64), {0, 0, 0}, {1, 1, 1});
  auto v = to_vector(with_zero);
  for (double ord : {2.0, 1.0, 0.0, kInf, -kInf, 3.0, 0.5, -1.0, -2.5}) {
    for (int axis : {0, 1, 2, -1}) {
      int ax = axis < 0 ? axis + 3 : axis;
      Shape s = {3, 4, 5};
      Shape out = s;
      out.erase(out.begin() + ax);
      std::vector<double> want;
      // Rows along ax in row-major order of the other axes.
      for (int i = 0; i < s[ax == 0 ? 1 : 0]; ++i) {
        for (int j = 0; j < s[ax == 2 ? 1 : 2]; ++j) {
          std::vector<double> row;
          for (int t = 0; t < s[ax]; ++t) {
            int idx[3];
            idx[ax] = t;
            idx[ax == 0 ? 1 : 0] = i;
            idx[ax == 2 ? 1 : 2] = j;
            row.push_back(v[(idx[0] * 4 + idx[1]) * 5 + idx[2]]);
          }
          want.push_back(vnorm(row, ord));
        }
      }
      EXPECT_TRUE(matches(la::norm(with_zero, ord, axis), out, want, 1e-12, 1e-12)) << ord << " axis " << axis;
      out.insert(out.begin() + ax, 1);
      EXPECT_EQ(la::norm(with_zero, ord, axis, true).shape(), out);
    }
  }
  // 2-norms without an order: over an axis, or of the flattened array.
  double all = 0;
  for (double x : v) all += x * x;
  EXPECT_TRUE(matches(la::norm(with_zero), {}, {std::sqrt(all)}, 1e-12, 0));
  EXPECT_EQ(la::norm(with_zero, std::nullopt, true).shape(), (Shape{1, 1, 1}));
  EXPECT_TRUE(all_close(to_vector(la::norm(with_zero, 1)), to_vector(la::norm(with_zero, 2.0, 1)), 0, 0));
  // MLX's documented examples (integer inputs give float32).
  array b = arange(9) - 4;
  EXPECT_EQ(la::norm(b).dtype(), float32);
  EXPECT_TRUE(matches(la::norm(b), {}, {7.74597}, 1e-5, 0));
  EXPECT_TRUE(matches(la::norm(b, kInf), {}, {4}, 0, 0));
  EXPECT_TRUE(matches(la::norm(b, -kInf), {}, {0}, 0, 0));
  EXPECT_TRUE(matches(la::norm(b, 1.0), {}, {20}, 0, 0));
  EXPECT_TRUE(matches(la::norm(b, -1.0), {}, {0}, 0, 0));
  EXPECT_TRUE(matches(la::norm(b, 3.0), {}, {5.84804}, 1e-5, 0));
  EXPECT_TRUE(matches(la::norm(b, -3.0), {}, {0}, 0, 0));
  EXPECT_TRUE(matches(la::norm(array({1, 0, 3}, int32), 0.0), {}, {2}, 0, 0));
  array c = array({1, 2, 3, -1, 1, 4}, {2, 3}, int32);
  EXPECT_TRUE(matches(la::norm(c, 0), {3}, {std::sqrt(2.0), std::sqrt(5.0), 5}, 1e-6, 0));
  EXPECT_TRUE(matches(la::norm(c, 1.0, 1), {2}, {6, 6}, 0, 0));
  EXPECT_EQ(la::norm(array({1.f, 2.f}, float16), 3.0).dtype(), float16);
  EXPECT_TRUE(matches(la::norm(array({complex64_t(3, 4), complex64_t(0, 1)})), {}, {std::sqrt(26.0)}, 1e-6, 0));
}

TEST(Linalg, MatrixNorms) {
  array a = random_array({2, 3, 4}, float64, -2, 2, 110);
  auto v = to_vector(a);
  for (std::vector<int> axes : {std::vector<int>{1, 2}, {2, 1}, {0, 2}, {-1, 0}}) {
    int r = axes[0] < 0 ? axes[0] + 3 : axes[0], c = axes[1] < 0 ? axes[1] + 3 : axes[1];
    int other = 3 - r - c;
    Shape s = {2, 3, 4};
    int m = s[r], n = s[c];
    // Each matrix (r as rows, c as columns) in order of the remaining axis.
    std::vector<Mat> mats;
    for (int o = 0; o < s[other]; ++o) {
      Mat x(static_cast<size_t>(m) * n);
      for (int i = 0; i < m; ++i) {
        for (int j = 0; j < n; ++j) {
          int idx[3];
          idx[r] = i, idx[c] = j, idx[other] = o;
          x[i * n + j] = v[(idx[0] * 3 + idx[1]) * 4 + idx[2]];
        }
      }
      mats.push_back(x);
    }
    auto sums = [&](const Mat& x, bool rows) {  // row sums (over columns) or column sums of |x|
      std::vector<double> out(rows ? m : n, 0.0);
      for (int i = 0; i < m; ++i) {
        for (int j = 0; j < n; ++j) out[rows ? i : j] += std::abs(x[i * n + j]);
      }
      return out;
    };
    std::vector<double> fro, ninf, nninf, n1, nn1, n2, nn2, nuc;
    for (const Mat& x : mats) {
      double f = 0;
      for (double e : x) f += e * e;
      fro.push_back(std::sqrt(f));
      auto rs = sums(x, true), cs = sums(x, false);
      ninf.push_back(*std::max_element(rs.begin(), rs.end()));
      nninf.push_back(*std::min_element(rs.begin(), rs.end()));
      n1.push_back(*std::max_element(cs.begin(), cs.end()));
      nn1.push_back(*std::min_element(cs.begin(), cs.end()));
      auto sv = to_vector(la::svd(array(x.begin(), {m, n}, float64), false)[0]);
      n2.push_back(sv.front());
      nn2.push_back(sv.back());
      double total = 0;
      for (double e : sv) total += e;
      nuc.push_back(total);
    }
    Shape out = {s[other]};
    EXPECT_TRUE(matches(la::norm(a, "fro", axes), out, fro, 1e-12, 0));
    EXPECT_TRUE(matches(la::norm(a, axes), out, fro, 1e-12, 0));
    EXPECT_TRUE(matches(la::norm(a, "nuc", axes), out, nuc, 1e-12, 0));
    EXPECT_TRUE(matches(la::norm(a, kInf, axes), out, ninf, 1e-12, 0));
    EXPECT_TRUE(matches(la::norm(a, -kInf, axes), out, nninf, 1e-12, 0));
    EXPECT_TRUE(matches(la::norm(a, 1.0, axes), out, n1, 1e-12, 0));
    EXPECT_TRUE(matches(la::norm(a, -1.0, axes), out, nn1, 1e-12, 0));
    EXPECT_TRUE(matches(la::norm(a, 2.0, axes), out, n2, 1e-12, 0));
    EXPECT_TRUE(matches(la::norm(a, -2.0, axes), out, nn2, 1e-12, 0));
    Shape kept = {2, 3, 4};
    kept[r] = 1, kept[c] = 1;
    for (double ord : {1.0, kInf, 2.0}) EXPECT_EQ(la::norm(a, ord, axes, true).shape(), kept);
    EXPECT_EQ(la::norm(a, "nuc", axes, true).shape(), kept);
    EXPECT_TRUE(matches(la::norm(a, "nuc", axes, true), kept, nuc, 1e-12, 0));
  }
  // MLX's documented examples.
  array b = reshape(arange(9) - 4, {3, 3});
  EXPECT_TRUE(matches(la::norm(b), {}, {7.74597}, 1e-5, 0));
  EXPECT_TRUE(matches(la::norm(b, "fro"), {}, {7.74597}, 1e-5, 0));
  EXPECT_TRUE(matches(la::norm(b, kInf), {}, {9}, 0, 0));
  EXPECT_TRUE(matches(la::norm(b, -kInf), {}, {2}, 0, 0));
  EXPECT_TRUE(matches(la::norm(b, 1.0), {}, {7}, 0, 0));
  EXPECT_TRUE(matches(la::norm(b, -1.0), {}, {6}, 0, 0));
  array m = reshape(arange(8), {2, 2, 2});
  EXPECT_TRUE(matches(la::norm(m, std::vector<int>{1, 2}), {2}, {3.74166, 11.225}, 1e-5, 0));
  EXPECT_EQ(la::norm(ones({2, 3}), std::nullopt, true).shape(), (Shape{1, 1}));
  // MLX 0.32 on [[1, -2, 3], [0, 5, -6]]: 2-norm and nuclear norm.
  array f = array({1.f, -2.f, 3.f, 0.f, 5.f, -6.f}, {2, 3});
  EXPECT_TRUE(matches(la::norm(f, 2.0), {}, {8.605507}, 1e-5, 0));
  EXPECT_TRUE(matches(la::norm(f, -2.0), {}, {0.9722379}, 1e-5, 0));
  EXPECT_TRUE(matches(la::norm(f, "nuc"), {}, {9.577745}, 1e-5, 0));
  EXPECT_TRUE(matches(la::norm(f, 1.0, std::vector<int>{1, 0}), {}, {11}, 0, 0));
}

TEST(Linalg, Cross) {
  array a = random_array({4, 3}, float32, -2, 2, 120), b = random_array({4, 3}, float32, -2, 2, 121);
  auto av = to_vector(a), bv = to_vector(b);
  std::vector<double> want;
  for (int i = 0; i < 4; ++i) {
    const double* x = &av[i * 3];
    const double* y = &bv[i * 3];
    want.insert(want.end(), {x[1] * y[2] - x[2] * y[1], x[2] * y[0] - x[0] * y[2], x[0] * y[1] - x[1] * y[0]});
  }
  EXPECT_TRUE(matches(la::cross(a, b), {4, 3}, want, 1e-6, 1e-6));
  // Along axis 0 of the transposed inputs.
  EXPECT_TRUE(
      matches(la::cross(transpose(a), transpose(b), 0), {3, 4}, to_vector(transpose(la::cross(a, b))), 1e-6, 1e-6));
  // MLX's values: integers stay integers; a 2-vector's third component is zero.
  array ci = la::cross(array({1, 2, 3}, int32), array({4, 5, 6}, int32));
  EXPECT_EQ(ci.dtype(), int32);
  EXPECT_TRUE(matches(ci, {3}, {-3, 6, -3}, 0, 0));
  EXPECT_TRUE(matches(la::cross(array({1.f, 2.f}), array({4.f, 5.f})), {3}, {0, 0, -3}, 0, 0));
  EXPECT_TRUE(matches(la::cross(array({1.f, 2.f}), array({4.f, 5.f, 6.f})), {3}, {12, -6, -3}, 0, 0));
  // Broadcasting over the other axes.
  EXPECT_EQ(la::cross(ones({4, 1, 3}), ones({5, 3})).shape(), (Shape{4, 5, 3}));
  EXPECT_EQ(la::cross(ones({3, 1}), ones({3, 5}), 0).shape(), (Shape{3, 5}));
  array bc = la::cross(broadcast_to(a, {2, 4, 3}), b);
  EXPECT_TRUE(matches(
      bc, {2, 4, 3},
      [&] {
        auto w = want;
        w.insert(w.end(), want.begin(), want.end());
        return w;
      }(),
      1e-6, 1e-6));
}

TEST(Linalg, PinvMoorePenrose) {
  uint32_t seed = 130;
  for (Dtype dt : kFloats) {
    for (Shape shape : std::vector<Shape>{{4, 4}, {5, 3}, {3, 5}, {2, 4, 6}}) {
      int m = shape[shape.size() - 2], n = shape.back();
      array a = random_array(shape, dt, -1, 1, seed++);
      // Also rank-deficient: the last column repeats the first.
      array ranked = concatenate({columns(a, 0, n - 1), columns(a, 0, 1)}, -1);
      for (const array& x : {a, ranked}) {
        array p = la::pinv(x);
        Shape ps = shape;
        std::swap(ps[ps.size() - 1], ps[ps.size() - 2]);
        EXPECT_EQ(p.shape(), ps);
        auto xv = to_vector(x), pv = to_vector(p);
        double t = tol(dt, std::max(m, n)) * 20;
        for (int64_t b = 0; b < count(x); ++b) {
          Mat xm = block(xv, b, m, n), pm = block(pv, b, n, m);
          Mat xp = mul(xm, pm, m, n, m), px = mul(pm, xm, n, m, n);
          EXPECT_TRUE(near(mul(xp, xm, m, m, n), xm, t));
          EXPECT_TRUE(near(mul(px, pm, n, n, m), pm, t));
          EXPECT_TRUE(near(trans(xp, m, m), xp, t));
          EXPECT_TRUE(near(trans(px, n, n), px, t));
        }
      }
    }
  }
  // MLX's cutoff (10 max(M, N) eps times the largest singular value) in float32 and float64.
  array d = array({1.0, 0.0, 0.0, 1e-6}, {2, 2}, float32);
  EXPECT_TRUE(matches(la::pinv(d), {2, 2}, {1, 0, 0, 0}, 0, 0));
  EXPECT_TRUE(matches(la::pinv(array({1.0, 0.0, 0.0, 1e-5}, {2, 2}, float32)), {2, 2}, {1, 0, 0, 1e5}, 1e-5, 0));
  EXPECT_TRUE(matches(la::pinv(astype(d, float64)), {2, 2}, {1, 0, 0, 1e6}, 1e-6, 0));
  EXPECT_TRUE(matches(la::pinv(zeros({2, 3})), {3, 2}, std::vector<double>(6, 0.0), 0, 0));
}

// ---------------------------------------------------------------- vmap, empty arrays, GPU streams

TEST(Linalg, VmapMatchesLoop) {
  array a = random_array({3, 4, 4}, float32, -1, 1, 140);
  // eig (complex outputs) and lu (integer outputs) over axis 0 and over a trailing axis.
  for (int in_axis : {0, 2}) {
    array batched = in_axis == 0 ? a : moveaxis(a, 0, 2);
    auto fn = [](const std::vector<array>& x) {
      auto [w, v] = la::eig(x[0]);
      auto plu = la::lu(x[0]);
      return std::vector<array>{w, v, la::eigvals(x[0]), plu[0], plu[1], plu[2]};
    };
    auto got = vmap(fn, {in_axis}, {0, 0, 0, 0, 0, 0})({batched});
    for (int b = 0; b < 3; ++b) {
      auto want = fn({take(a, b, 0)});
      for (size_t k = 0; k < want.size(); ++k) {
        array g = take(got[k], b, 0);
        EXPECT_TRUE(all_close(to_vector(g), to_vector(want[k]), 0, 1e-6)) << in_axis << " output " << k;
        if (g.dtype() == complex64) EXPECT_TRUE(all_close(to_vector_imag(g), to_vector_imag(want[k]), 0, 1e-6));
      }
    }
  }
}

TEST(Linalg, EmptyArrays) {
  EXPECT_EQ(la::inv(zeros({0, 3, 3})).shape(), (Shape{0, 3, 3}));
  EXPECT_EQ(to_vector(la::inv(zeros({0, 0}))).size(), 0u);
  EXPECT_EQ(la::cholesky(zeros({2, 0, 0})).shape(), (Shape{2, 0, 0}));
  auto [q, r] = la::qr(zeros({3, 0}));
  EXPECT_EQ(q.shape(), (Shape{3, 0}));
  EXPECT_EQ(to_vector(r).size(), 0u);
  auto usv = la::svd(zeros({2, 0}));
  EXPECT_TRUE(matches(usv[0], {2, 2}, {1, 0, 0, 1}, 0, 0));
  EXPECT_EQ(usv[1].shape(), (Shape{0}));
  auto plu = la::lu(zeros({3, 0}));
  EXPECT_TRUE(matches(plu[0], {3}, {0, 1, 2}, 0, 0));
  EXPECT_EQ(la::eigvalsh(zeros({0, 0})).shape(), (Shape{0}));
  EXPECT_EQ(la::eigvals(zeros({4, 0, 0})).shape(), (Shape{4, 0}));
  EXPECT_EQ(la::solve(zeros({0, 0}), zeros({0})).shape(), (Shape{0}));
  EXPECT_EQ(la::solve_triangular(eye(3), zeros({3, 0})).shape(), (Shape{3, 0}));
}

TEST(Linalg, GpuStreamsFallBackToTheCpuKernel) {
  if (!is_available(Device::gpu)) GTEST_SKIP() << "no GPU here";
  array a = well_conditioned({3, 3}, float32, 150);
  EXPECT_TRUE(
      all_close(to_vector(la::inv(a, Device(Device::gpu))), to_vector(la::inv(a, Device(Device::cpu))), 0, 1e-6));
}

// ---------------------------------------------------------------- errors

TEST(Linalg, BadInputs) {
  array sq = ones({3, 3}), rect = ones({2, 3}), vec = ones({3}), i32 = ones({3, 3}, int32);
  using Fn = std::function<void(const array&)>;
  const std::vector<std::pair<const char*, Fn>> square_ops = {
      {"linalg::inv", [](const array& x) { la::inv(x); }},
      {"linalg::tri_inv", [](const array& x) { la::tri_inv(x); }},
      {"linalg::cholesky", [](const array& x) { la::cholesky(x); }},
      {"linalg::cholesky_inv", [](const array& x) { la::cholesky_inv(x); }},
      {"linalg::eig", [](const array& x) { la::eig(x); }},
      {"linalg::eigvals", [](const array& x) { la::eigvals(x); }},
      {"linalg::eigh", [](const array& x) { la::eigh(x); }},
      {"linalg::eigvalsh", [](const array& x) { la::eigvalsh(x); }},
  };
  for (const auto& [op, f] : square_ops) {
    EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { f(rect); }));
    EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { f(vec); }));
    EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { f(i32); }));
    EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { f(astype(sq, float16)); }));
    EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { f(astype(sq, complex64)); }));
  }
  const std::vector<std::pair<const char*, Fn>> matrix_ops = {
      {"linalg::qr", [](const array& x) { la::qr(x); }},
      {"linalg::svd", [](const array& x) { la::svd(x); }},
      {"linalg::pinv", [](const array& x) { la::pinv(x); }},
      {"linalg::lu", [](const array& x) { la::lu(x); }},
      {"linalg::lu_factor", [](const array& x) { la::lu_factor(x); }},
  };
  for (const auto& [op, f] : matrix_ops) {
    EXPECT_NO_THROW(f(rect));
    EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { f(vec); }));
    EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { f(array(1.0f)); }));
    EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { f(i32); }));
    EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { f(astype(sq, bfloat16)); }));
  }
  EXPECT_TRUE(throws_op<std::invalid_argument>("linalg::eigh", [&] { la::eigh(sq, "X"); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("linalg::eigvalsh", [&] { la::eigvalsh(sq, "l"); }));
  // det and slogdet take any real dtype but need square matrices.
  for (const char* op : {"linalg::det", "linalg::slogdet"}) {
    Fn f = std::string(op) == "linalg::det" ? Fn([](const array& x) { la::det(x); })
                                            : Fn([](const array& x) { la::slogdet(x); });
    EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { f(rect); }));
    EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { f(vec); }));
    EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { f(astype(sq, complex64)); }));
  }
  // Solvers: shapes and dtypes.
  for (const char* op : {"linalg::solve", "linalg::solve_triangular"}) {
    auto f = [op](const array& a, const array& b) {
      return std::string(op) == "linalg::solve" ? la::solve(a, b) : la::solve_triangular(a, b);
    };
    EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { f(rect, ones({2})); }));
    EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { f(vec, vec); }));
    EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { f(sq, array(1.0f)); }));
    EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { f(sq, ones({4})); }));
    EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { f(sq, ones({2, 3})); }));
    EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { f(ones({2, 3, 3}), ones({4, 3, 1})); }));
    EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { f(i32, ones({3}, int32)); }));
    EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { f(astype(sq, float16), ones({3}, float16)); }));
  }
  // Norms.
  EXPECT_TRUE(throws_op<std::invalid_argument>("linalg::norm", [&] { la::norm(ones({2, 2, 2}), 2.0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("linalg::norm", [&] { la::norm(array(3.0f), 2.0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("linalg::norm", [&] { la::norm(sq, 3.0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("linalg::norm", [&] { la::norm(sq, 0.0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("linalg::norm", [&] { la::norm(sq, "abc"); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("linalg::norm", [&] { la::norm(vec, "fro"); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("linalg::norm", [&] { la::norm(sq, "nuc", 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("linalg::norm", [&] {
    la::norm(ones({2, 2, 2}), std::vector<int>{0, 1, 2});
  }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("linalg::norm", [&] {
    la::norm(ones({2, 2, 2}), 2.0, std::vector<int>{1, 1});
  }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("linalg::norm", [&] { la::norm(i32, 2.0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("linalg::norm", [&] { la::norm(i32, "nuc"); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("linalg::norm", [&] { la::norm(sq, 2.0, 2); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("linalg::norm", [&] { la::norm(sq, 2.0, std::vector<int>{0, 5}); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("linalg::norm", [&] { la::norm(sq, 3); }));
  // Cross.
  EXPECT_TRUE(throws_op<std::invalid_argument>("linalg::cross", [&] { la::cross(ones({4}), ones({4})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("linalg::cross", [&] { la::cross(ones({3, 2}), ones({3, 1})); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("linalg::cross", [&] { la::cross(vec, vec, 1); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("linalg::cross", [&] { la::cross(vec, ones({2, 3}), -2); }));
}

// Values a factorization cannot handle throw when evaluated, naming the op and the matrix.
template <typename F>
testing::AssertionResult eval_fails(const char* op, const char* fragment, F&& f) {
  try {
    auto out = f();
    eval(out);
  } catch (const std::runtime_error& e) {
    std::string msg = e.what();
    if (msg.rfind(std::string("[") + op + "]", 0) != 0 || msg.find(fragment) == std::string::npos) {
      return testing::AssertionFailure() << "message: " << msg;
    }
    return testing::AssertionSuccess();
  }
  return testing::AssertionFailure() << "did not throw";
}

TEST(Linalg, SingularAndNotPositiveDefinite) {
  array singular = array({1.f, 2.f, 2.f, 4.f}, {2, 2});
  array good = array({4.f, 1.f, 1.f, 3.f}, {2, 2});
  array batch = stack({good, singular, good});
  auto one = [](array a) { return std::vector<array>{a}; };
  EXPECT_TRUE(eval_fails("linalg::inv", "non-singular", [&] { return one(la::inv(singular)); }));
  EXPECT_TRUE(eval_fails("linalg::inv", "matrix 1 of the batch", [&] { return one(la::inv(batch)); }));
  EXPECT_TRUE(eval_fails("linalg::solve", "non-singular", [&] { return one(la::solve(singular, ones({2}))); }));
  EXPECT_TRUE(eval_fails("linalg::solve", "matrix 1 of the batch", [&] { return one(la::solve(batch, ones({2}))); }));
  array zero_diag = array({0.f, 0.f, 1.f, 3.f}, {2, 2});
  EXPECT_TRUE(eval_fails("linalg::tri_inv", "zero A[0][0]", [&] { return one(la::tri_inv(zero_diag)); }));
  EXPECT_TRUE(eval_fails("linalg::solve_triangular", "zero A[0][0]",
                         [&] { return one(la::solve_triangular(zero_diag, ones({2}))); }));
  EXPECT_TRUE(eval_fails("linalg::cholesky_inv", "zero A[0][0]", [&] { return one(la::cholesky_inv(zero_diag)); }));
  array not_pd = array({1.f, 2.f, 2.f, 1.f}, {2, 2});
  EXPECT_TRUE(eval_fails("linalg::cholesky", "leading minor of order 2", [&] { return one(la::cholesky(not_pd)); }));
  EXPECT_TRUE(eval_fails("linalg::cholesky", "positive definite", [&] {
    return one(la::cholesky(array({-1.f, 0.f, 0.f, 1.f}, {2, 2}), true));
  }));
  // Iterative routines refuse NaN and inf before LAPACK sees them.
  array nan = array({1.f, NAN, 2.f, 3.f}, {2, 2});
  EXPECT_TRUE(eval_fails("linalg::svd", "NaN or inf", [&] { return la::svd(nan); }));
  EXPECT_TRUE(eval_fails("linalg::eig", "NaN or inf", [&] { return one(la::eig(nan).first); }));
  EXPECT_TRUE(eval_fails("linalg::eigvalsh", "NaN or inf", [&] { return one(la::eigvalsh(nan, "U")); }));
  EXPECT_TRUE(eval_fails("linalg::norm", "NaN or inf", [&] { return one(la::norm(nan, 2.0)); }));
  // ... but eigh reads one triangle: NaN in the other is never seen.
  EXPECT_TRUE(
      all_close(to_vector(la::eigvalsh(nan)), to_vector(la::eigvalsh(array({1.f, 2.f, 2.f, 3.f}, {2, 2}))), 0, 0));
  // Singular matrices are fine for lu, det and pinv; a failed evaluation leaves later ones working.
  EXPECT_NO_THROW(eval(la::lu(singular)));
  EXPECT_TRUE(matches(la::inv(good), {2, 2}, {3 / 11., -1 / 11., -1 / 11., 4 / 11.}));
}

}  // namespace
}  // namespace mica::test
