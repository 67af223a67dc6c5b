// mica::linalg: validation, then a node of a linalg primitive (primitives/linalg.h) or a
// composition: det and slogdet from the LU factors, solve from LU and two triangular solves,
// pinv from the SVD, cholesky_inv from a triangular inverse, norms and cross from plain ops.
#include "mica/linalg.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>

#include "mica/ops.h"
#include "mica/primitives/linalg.h"

namespace mica::linalg {

namespace {
using detail::fail;

array mT(const array& x, StreamOrDevice s) { return swapaxes(x, -1, -2, s); }

// Columns [lo, hi) (rows, for take_rows) of a stack of matrices.
array take_cols(const array& x, int lo, int hi, StreamOrDevice s) {
  Shape start(x.ndim(), 0), stop = x.shape();
  start.back() = lo;
  stop.back() = hi;
  return slice(x, std::move(start), std::move(stop), s);
}
array take_rows(const array& x, int lo, int hi, StreamOrDevice s) {
  Shape start(x.ndim(), 0), stop = x.shape();
  start[x.ndim() - 2] = lo;
  stop[x.ndim() - 2] = hi;
  return slice(x, std::move(start), std::move(stop), s);
}

Shape batch_of(const array& a) { return Shape(a.shape().begin(), a.shape().end() - 2); }
Shape with_tail(Shape s, std::initializer_list<int> tail) {
  s.insert(s.end(), tail.begin(), tail.end());
  return s;
}

// LAPACK takes float32 and float64 (MLX rejects the rest rather than casting).
void check_float(const char* op, const array& a) {
  if (a.dtype() != float32 && a.dtype() != float64) {
    fail(op, "expected an array of type float32 or float64, got " + dtype_to_string(a.dtype()) + ".");
  }
}
void check_matrix(const char* op, const array& a) {
  if (a.ndim() < 2) {
    fail(op, "expected an array with at least 2 dimensions (matrices in the last two), got " +
                 std::to_string(a.ndim()) + " (shape " + detail::shape_str(a.shape()) + ").");
  }
}
void check_square(const char* op, const array& a) {
  check_matrix(op, a);
  if (a.shape(-1) != a.shape(-2)) {
    fail(op, "expected square matrices in the last two axes, got shape " + detail::shape_str(a.shape()) + ".");
  }
}
// A real float array for a factorization: float32 or float64, matrices, square when asked.
void check_factor_input(const char* op, const array& a, bool square) {
  check_float(op, a);
  square ? check_square(op, a) : check_matrix(op, a);
}

bool upper_from_uplo(const char* op, const std::string& uplo) {
  if (uplo != "L" && uplo != "U") fail(op, "expected UPLO \"L\" or \"U\", got \"" + uplo + "\".");
  return uplo == "U";
}

// Validates a x = b (square a; b (N,) or (..., N, K) with batch axes broadcasting against a's).
// Returns a and b in their common float dtype, b as (batch..., N, K) over the broadcast batch
// axes (a keeps its own); `vector` says b was (N,).
struct System {
  array a, b;
  Shape batch;
  bool vector;
};
System check_system(const char* op, const array& a_in, const array& b_in, StreamOrDevice s) {
  check_square(op, a_in);
  if (b_in.ndim() == 0) fail(op, "expected b with at least 1 dimension, got a 0-d array.");
  bool vector = b_in.ndim() == 1;
  int n = a_in.shape(-1);
  int rows = vector ? b_in.shape(0) : b_in.shape(-2);
  if (rows != n) {
    fail(op, "expected b with " + std::to_string(n) + " rows to match a of shape " + detail::shape_str(a_in.shape()) +
                 ", got shape " + detail::shape_str(b_in.shape()) + ".");
  }
  Dtype d = result_type(a_in, b_in);
  if (d != float32 && d != float64) {
    fail(op, "expected inputs that promote to float32 or float64, got " + dtype_to_string(a_in.dtype()) + " and " +
                 dtype_to_string(b_in.dtype()) + ".");
  }
  array b = vector ? expand_dims(b_in, -1, s) : b_in;
  Shape batch;
  try {
    batch = broadcast_shapes(batch_of(a_in), batch_of(b));
  } catch (const std::invalid_argument&) {
    fail(op, "expected batch shapes that broadcast, got a of shape " + detail::shape_str(a_in.shape()) +
                 " and b of shape " + detail::shape_str(b_in.shape()) + ".");
  }
  return {astype(a_in, d, s), broadcast_to(astype(b, d, s), with_tail(batch, {n, b.shape(-1)}), s), batch, vector};
}

// Integer and boolean inputs are measured in float32; complex ones by their magnitudes.
Dtype real_float(Dtype d) {
  if (d == complex64 || !issubdtype(d, inexact)) return float32;
  return d;
}
array magnitudes(const array& a, Dtype d, StreamOrDevice s) { return astype(abs(a, s), d, s); }

// Singular values of the matrices in axes (r, c), reduced by `reduce` over the last axis and
// put back in place of (r, c) (kept as size 1 when keepdims).
template <typename Reduce>
array singular_value_norm(const array& a, int r, int c, bool keepdims, Reduce reduce, StreamOrDevice s) {
  if (a.dtype() != float32 && a.dtype() != float64) {
    fail("linalg::norm", "expected an array of type float32 or float64 for a norm of singular values, got " +
                             dtype_to_string(a.dtype()) + ".");
  }
  std::vector<int> order;
  for (int d = 0; d < static_cast<int>(a.ndim()); ++d) {
    if (d != r && d != c) order.push_back(d);
  }
  order.push_back(r);
  order.push_back(c);
  array sv = detail::svd_node(transpose(a, order, s), false, "linalg::norm", to_stream(s))[0];
  array out = reduce(sv);
  return keepdims ? expand_dims(out, {std::min(r, c), std::max(r, c)}, s) : out;
}

array vector_norm(const array& a, double ord, int axis_in, bool keepdims, StreamOrDevice s) {
  int axis = detail::normalize_axis(axis_in, static_cast<int>(a.ndim()), "linalg::norm");
  Dtype d = real_float(a.dtype());
  if (ord == 0) return astype(sum(not_equal(a, detail::zeros_like_view(a, s), s), axis, keepdims, s), d, s);
  array v = magnitudes(a, d, s);
  if (ord == INFINITY) return max(v, axis, keepdims, s);
  if (ord == -INFINITY) return min(v, axis, keepdims, s);
  if (ord == 1) return sum(v, axis, keepdims, s);
  if (ord == 2) return sqrt(sum(square(v, s), axis, keepdims, s), s);
  return power(sum(power(v, array(ord, d), s), axis, keepdims, s), array(1.0 / ord, d), s);
}

std::pair<int, int> matrix_axes(const array& a, const std::vector<int>& axes) {
  int r = detail::normalize_axis(axes[0], static_cast<int>(a.ndim()), "linalg::norm");
  int c = detail::normalize_axis(axes[1], static_cast<int>(a.ndim()), "linalg::norm");
  if (r == c) {
    fail("linalg::norm", "expected two different axes for a matrix norm, got " + std::to_string(axes[0]) + " and " +
                             std::to_string(axes[1]) + ".");
  }
  return {r, c};
}

array frobenius(const array& a, int r, int c, bool keepdims, StreamOrDevice s) {
  return sqrt(sum(square(magnitudes(a, real_float(a.dtype()), s), s), {r, c}, keepdims, s), s);
}

// NumPy's matrix norms over rows r and columns c.
array matrix_norm(const array& a, double ord, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  auto [r, c] = matrix_axes(a, axes);
  if (ord == 2 || ord == -2) {
    return singular_value_norm(
        a, r, c, keepdims, [&](const array& sv) { return ord == 2 ? max(sv, -1, false, s) : min(sv, -1, false, s); },
        s);
  }
  // inf: the largest row sum (sum over columns, then max over rows); 1: the largest column sum.
  int inner, outer;
  if (ord == INFINITY || ord == -INFINITY) {
    inner = c, outer = r;
  } else if (ord == 1 || ord == -1) {
    inner = r, outer = c;
  } else {
    std::ostringstream o;
    o << ord;
    fail("linalg::norm",
         "expected a matrix norm order of inf, -inf, 1, -1, 2, -2, \"fro\" or \"nuc\", got " + o.str() + ".");
  }
  array sums = sum(magnitudes(a, real_float(a.dtype()), s), inner, true, s);
  array out = ord > 0 ? max(sums, outer, true, s) : min(sums, outer, true, s);
  return keepdims ? out : squeeze(out, {r, c}, s);
}

array matrix_norm(const array& a, const std::string& ord, const std::vector<int>& axes, bool keepdims,
                  StreamOrDevice s) {
  if (axes.size() != 2) {
    fail("linalg::norm",
         "expected two axes (a matrix) for the norm \"" + ord + "\", got " + std::to_string(axes.size()) + ".");
  }
  auto [r, c] = matrix_axes(a, axes);
  if (ord == "fro" || ord == "f") return frobenius(a, r, c, keepdims, s);
  if (ord == "nuc") {
    return singular_value_norm(a, r, c, keepdims, [&](const array& sv) { return sum(sv, -1, false, s); }, s);
  }
  fail("linalg::norm", "expected a matrix norm order of \"fro\" or \"nuc\", got \"" + ord + "\".");
}

// The axes of a norm given an order but no axis: a vector (1-D) or a matrix (2-D).
std::vector<int> default_axes(const array& a) {
  if (a.ndim() == 1) return {0};
  if (a.ndim() == 2) return {0, 1};
  fail("linalg::norm", "expected a 1-D or 2-D array for a norm with an order and no axis, got shape " +
                           detail::shape_str(a.shape()) + ".");
}
}  // namespace

// ---------------------------------------------------------------- norms

array norm(const array& a, double ord, const std::optional<std::vector<int>>& axis, bool keepdims, StreamOrDevice s) {
  std::vector<int> axes = axis ? *axis : default_axes(a);
  if (axes.size() == 1) return vector_norm(a, ord, axes[0], keepdims, s);
  if (axes.size() == 2) return matrix_norm(a, ord, axes, keepdims, s);
  fail("linalg::norm",
       "expected one axis (vector norm) or two (matrix norm), got " + std::to_string(axes.size()) + ".");
}
array norm(const array& a, double ord, int axis, bool keepdims, StreamOrDevice s) {
  return norm(a, ord, std::vector<int>{axis}, keepdims, s);
}
array norm(const array& a, const std::string& ord, const std::optional<std::vector<int>>& axis, bool keepdims,
           StreamOrDevice s) {
  std::vector<int> axes = axis ? *axis : default_axes(a);
  return matrix_norm(a, ord, axes, keepdims, s);
}
array norm(const array& a, const std::string& ord, int axis, bool keepdims, StreamOrDevice s) {
  return norm(a, ord, std::vector<int>{axis}, keepdims, s);
}
array norm(const array& a, const std::optional<std::vector<int>>& axis, bool keepdims, StreamOrDevice s) {
  if (!axis) {
    // The 2-norm of the flattened array; keepdims keeps every axis as size 1.
    std::vector<int> all(a.ndim());
    std::iota(all.begin(), all.end(), 0);
    return sqrt(sum(square(magnitudes(a, real_float(a.dtype()), s), s), all, keepdims, s), s);
  }
  if (axis->size() == 1) return vector_norm(a, 2.0, (*axis)[0], keepdims, s);
  if (axis->size() == 2) {
    auto [r, c] = matrix_axes(a, *axis);
    return frobenius(a, r, c, keepdims, s);
  }
  fail("linalg::norm", "expected one or two axes, got " + std::to_string(axis->size()) + ".");
}
array norm(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return norm(a, std::vector<int>{axis}, keepdims, s);
}

// ---------------------------------------------------------------- factorizations

std::pair<array, array> qr(const array& a, StreamOrDevice s) {
  check_factor_input("linalg::qr", a, false);
  auto out = detail::qrf_node(a, "linalg::qr", to_stream(s));
  return {out[0], out[1]};
}

std::vector<array> svd(const array& a, bool compute_uv, StreamOrDevice s) {
  check_factor_input("linalg::svd", a, false);
  return detail::svd_node(a, compute_uv, "linalg::svd", to_stream(s));
}
std::vector<array> svd(const array& a, StreamOrDevice s) { return svd(a, true, s); }

array inv(const array& a, StreamOrDevice s) {
  check_factor_input("linalg::inv", a, true);
  return detail::inverse_node(a, false, false, "linalg::inv", to_stream(s));
}

array tri_inv(const array& a, bool upper, StreamOrDevice s) {
  check_factor_input("linalg::tri_inv", a, true);
  return detail::inverse_node(a, true, upper, "linalg::tri_inv", to_stream(s));
}

array cholesky(const array& a, bool upper, StreamOrDevice s) {
  check_factor_input("linalg::cholesky", a, true);
  return detail::cholesky_node(a, upper, "linalg::cholesky", to_stream(s));
}

array cholesky_inv(const array& a, bool upper, StreamOrDevice s) {
  check_factor_input("linalg::cholesky_inv", a, true);
  // (L Lᵀ)^-1 = L^-T L^-1 and (Uᵀ U)^-1 = U^-1 U^-T.
  array t = detail::inverse_node(a, true, upper, "linalg::cholesky_inv", to_stream(s));
  return upper ? matmul(t, mT(t, s), s) : matmul(mT(t, s), t, s);
}

array pinv(const array& a, StreamOrDevice s) {
  check_factor_input("linalg::pinv", a, false);
  int m = a.shape(-2), n = a.shape(-1), k = std::min(m, n);
  if (k == 0) return zeros(with_tail(batch_of(a), {n, m}), a.dtype(), s);
  auto usv = detail::svd_node(a, true, "linalg::pinv", to_stream(s));
  array u1 = take_cols(usv[0], 0, k, s);
  array v1 = mT(take_rows(usv[2], 0, k, s), s);
  const array& sv = usv[1];
  // As MLX: singular values up to 10 max(M, N) eps times the largest count as zero.
  double eps = a.dtype() == float64 ? std::numeric_limits<double>::epsilon() : std::numeric_limits<float>::epsilon();
  array cutoff = multiply(max(sv, -1, true, s), array(10.0 * std::max(m, n) * eps, a.dtype()), s);
  array keep = greater(sv, cutoff, s);
  // 1/s only where kept: the unused branch must not be inf (its gradient would be NaN).
  array sinv = where(keep, reciprocal(where(keep, sv, detail::ones_like_view(sv, s), s), s), detail::zeros_like_view(sv, s), s);
  return matmul(multiply(v1, expand_dims(sinv, -2, s), s), mT(u1, s), s);
}

std::vector<array> lu(const array& a, StreamOrDevice s) {
  check_factor_input("linalg::lu", a, false);
  auto out = detail::luf_node(a, "linalg::lu", to_stream(s));
  int m = a.shape(-2), n = a.shape(-1), k = std::min(m, n);
  array l = add(tril(take_cols(out[0], 0, k, s), -1, s), eye(m, k, 0, a.dtype(), s), s);
  array u = triu(take_rows(out[0], 0, k, s), 0, s);
  return {out[2], l, u};
}

std::pair<array, array> lu_factor(const array& a, StreamOrDevice s) {
  check_factor_input("linalg::lu_factor", a, false);
  auto out = detail::luf_node(a, "linalg::lu_factor", to_stream(s));
  return {out[0], out[1]};
}

// ---------------------------------------------------------------- solvers

array solve(const array& a, const array& b, StreamOrDevice s) {
  auto sys = check_system("linalg::solve", a, b, s);
  Stream st = to_stream(s);
  // a = L[perm] U, so a x = b is L U x = b[rows] with rows = argsort(perm). The factorization
  // runs on a's own batch, the triangular solves on the broadcast one.
  auto luf = detail::luf_node(sys.a, "linalg::solve", st);
  int n = a.shape(-1);
  array rows = broadcast_to(expand_dims(argsort(luf[2], -1, s), -1, s), with_tail(sys.batch, {n, 1}), s);
  array lu_b = broadcast_to(luf[0], with_tail(sys.batch, {n, n}), s);
  array y = detail::solve_triangular_node(lu_b, take_along_axis(sys.b, rows, -2, s), false, true, "linalg::solve", st);
  array x = detail::solve_triangular_node(lu_b, y, true, false, "linalg::solve", st);
  return sys.vector ? squeeze(x, -1, s) : x;
}

array solve_triangular(const array& a, const array& b, bool upper, StreamOrDevice s) {
  auto sys = check_system("linalg::solve_triangular", a, b, s);
  int n = a.shape(-1);
  array a_b = broadcast_to(sys.a, with_tail(sys.batch, {n, n}), s);
  array x = detail::solve_triangular_node(a_b, sys.b, upper, false, "linalg::solve_triangular", to_stream(s));
  return sys.vector ? squeeze(x, -1, s) : x;
}

// ---------------------------------------------------------------- cross

array cross(const array& a, const array& b, int axis, StreamOrDevice s) {
  int ax_a = detail::normalize_axis(axis, static_cast<int>(a.ndim()), "linalg::cross");
  int ax_b = detail::normalize_axis(axis, static_cast<int>(b.ndim()), "linalg::cross");
  for (const array* x : {&a, &b}) {
    int size = x->shape(x == &a ? ax_a : ax_b);
    if (size != 2 && size != 3) {
      fail("linalg::cross", "expected size 2 or 3 along axis " + std::to_string(axis) + ", got shape " +
                                detail::shape_str(x->shape()) + ".");
    }
  }
  Dtype d = result_type(a, b);
  // Components along the last axis; a 2-vector's third is zero.
  auto components = [&](const array& x, int ax) {
    array v = moveaxis(astype(x, d, s), ax, -1, s);
    array c0 = take(v, 0, -1, s), c1 = take(v, 1, -1, s);
    return std::vector<array>{c0, c1, v.shape(-1) == 3 ? take(v, 2, -1, s) : zeros_like(c0, s)};
  };
  auto u = components(a, ax_a), v = components(b, ax_b);
  array out = stack({subtract(multiply(u[1], v[2], s), multiply(u[2], v[1], s), s),
                     subtract(multiply(u[2], v[0], s), multiply(u[0], v[2], s), s),
                     subtract(multiply(u[0], v[1], s), multiply(u[1], v[0], s), s)},
                    -1, s);
  return moveaxis(out, -1, detail::normalize_axis(axis, static_cast<int>(out.ndim()), "linalg::cross"), s);
}

// ---------------------------------------------------------------- eigenproblems

std::pair<array, array> eig(const array& a, StreamOrDevice s) {
  check_factor_input("linalg::eig", a, true);
  auto out = detail::eig_node(a, true, "linalg::eig", to_stream(s));
  return {out[0], out[1]};
}

array eigvals(const array& a, StreamOrDevice s) {
  check_factor_input("linalg::eigvals", a, true);
  return detail::eig_node(a, false, "linalg::eigvals", to_stream(s))[0];
}

array eigvalsh(const array& a, std::string UPLO, StreamOrDevice s) {
  check_factor_input("linalg::eigvalsh", a, true);
  bool upper = upper_from_uplo("linalg::eigvalsh", UPLO);
  return detail::eigh_node(a, upper, false, "linalg::eigvalsh", to_stream(s))[0];
}

std::pair<array, array> eigh(const array& a, std::string UPLO, StreamOrDevice s) {
  check_factor_input("linalg::eigh", a, true);
  bool upper = upper_from_uplo("linalg::eigh", UPLO);
  auto out = detail::eigh_node(a, upper, true, "linalg::eigh", to_stream(s));
  return {out[0], out[1]};
}

// ---------------------------------------------------------------- determinants

namespace {
// LU factors of a square real array in its computing dtype (float64 stays, everything else
// float32), with the dtype of the result (half types keep theirs, integers get float32).
struct DetParts {
  array diag, perm_sign;
  Dtype out;
};
DetParts det_parts(const char* op, const array& a, StreamOrDevice s) {
  if (a.dtype() == complex64) fail(op, "expected a real array, got complex64.");
  check_square(op, a);
  Dtype out = real_float(a.dtype());
  Dtype d = out == float64 ? float64 : float32;
  auto luf = detail::luf_node(astype(a, d, s), std::string(op), to_stream(s));
  int n = a.shape(-1);
  // Each pivot that moved a row flips the sign.
  array swapped = not_equal(luf[1], arange(0.0, static_cast<double>(n), uint32, s), s);
  array perm_sign = prod(where(swapped, array(-1.0, d), array(1.0, d), s), -1, false, s);
  return {diagonal(luf[0], 0, -2, -1, s), perm_sign, out};
}
}  // namespace

array det(const array& a, StreamOrDevice s) {
  auto p = det_parts("linalg::det", a, s);
  return astype(multiply(p.perm_sign, prod(p.diag, -1, false, s), s), p.out, s);
}

std::pair<array, array> slogdet(const array& a, StreamOrDevice s) {
  auto p = det_parts("linalg::slogdet", a, s);
  array sgn = multiply(p.perm_sign, prod(sign(p.diag, s), -1, false, s), s);
  array logabs = sum(log(abs(p.diag, s), s), -1, false, s);
  return {astype(sgn, p.out, s), astype(logabs, p.out, s)};
}

}  // namespace mica::linalg
