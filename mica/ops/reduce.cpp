#include "mica/ops/reduce.h"

#include <algorithm>
#include <climits>
#include <numeric>

#include "mica/compile.h"
#include "mica/ops/binary.h"
#include "mica/ops/creation.h"
#include "mica/ops/movement.h"
#include "mica/ops/sort.h"
#include "mica/ops/unary.h"
#include "mica/ops/utils.h"
#include "mica/primitives/reduce.h"

namespace mica {

namespace {
std::vector<int> all_axes(const array& a) {
  std::vector<int> ax(a.ndim());
  std::iota(ax.begin(), ax.end(), 0);
  return ax;
}
// `shape` with the (normalized) axes set to 1, or removed.
Shape keep_shape(Shape shape, const std::vector<int>& ax) {
  for (int d : ax) shape[d] = 1;
  return shape;
}
Shape drop_shape(const Shape& shape, const std::vector<int>& ax) {
  Shape out;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (!std::binary_search(ax.begin(), ax.end(), static_cast<int>(d))) out.push_back(shape[d]);
  }
  return out;
}
// r has the keepdims shape; squeeze the reduced axes unless keepdims (a Squeeze node: its
// shape follows from r's, for shapeless compile).
array finish(const array& r, const std::vector<int>& ax, bool keepdims, StreamOrDevice s) {
  return keepdims ? r : squeeze(r, ax, s);
}
// r: a fused row kernel's (rows..., 1) result for reduced axes `ax` of in_shape; the keepdims
// or dropped shape, through finish when r already has the keepdims shape.
array finish_rows(const array& r, const Shape& in_shape, const std::vector<int>& ax, bool keepdims, StreamOrDevice s) {
  if (r.shape() == keep_shape(in_shape, ax)) return finish(r, ax, keepdims, s);
  return reshape(r, keepdims ? keep_shape(in_shape, ax) : drop_shape(in_shape, ax), s);
}
int64_t count(const Shape& shape, const std::vector<int>& ax) {
  int64_t n = 1;
  for (int d : ax) n *= shape[d];
  return n;
}
// True when the sorted axes are the last ax.size() axes.
bool trailing(const std::vector<int>& ax, int ndim) {
  for (size_t i = 0; i < ax.size(); ++i) {
    if (ax[i] != ndim - static_cast<int>(ax.size()) + static_cast<int>(i)) return false;
  }
  return !ax.empty();
}
// True if the trailing k dims of x fold into one 32-bit dimension (the fused row kernels' form);
// larger products take the compositions, which reduce axis by axis.
bool foldable(const array& x, size_t k) {
  int64_t n = 1;
  for (size_t d = x.ndim() - k; d < x.ndim(); ++d) n *= x.shape()[d];
  return n <= INT32_MAX;
}
// x reshaped to (leading dims..., product of the trailing k dims).
array rows_of(const array& x, size_t k, StreamOrDevice s) {
  if (k == 1) return x;
  Shape sh(x.shape().begin(), x.shape().end() - k);
  int64_t n = 1;
  for (size_t d = x.ndim() - k; d < x.ndim(); ++d) n *= x.shape()[d];
  sh.push_back(detail::checked_dim(n, "reduce"));
  return reshape(x, sh, s);
}
array flat(const array& a, StreamOrDevice s) {
  return reshape(a, {detail::checked_dim(static_cast<int64_t>(a.size()), "flatten")}, s);
}
Shape last_to_one(Shape shape) {
  shape.back() = 1;
  return shape;
}

Dtype sum_type(Dtype d) {
  if (d == bool_ || d == int8 || d == int16) return int32;
  if (d == uint8 || d == uint16) return uint32;
  return d;
}

array reduce_node(const char* name, const array& a, Reduce::ReduceType t, const std::vector<int>& axes, bool keepdims,
                  Dtype out, StreamOrDevice s) {
  auto ax = detail::normalize_axes(axes, static_cast<int>(a.ndim()), name);
  array r(keep_shape(a.shape(), ax), out, std::make_shared<Reduce>(to_stream(s), t, ax), {a});
  return finish(r, ax, keepdims, s);
}

array min_max(const char* name, const array& a, Reduce::ReduceType t, const std::vector<int>& axes, bool keepdims,
              StreamOrDevice s) {
  auto ax = detail::normalize_axes(axes, static_cast<int>(a.ndim()), name);
  if (ax.empty()) return a;
  for (int d : ax) {
    if (a.shape()[d] == 0) {
      detail::fail(name, "expected non-empty axes to reduce, got axis " + std::to_string(d) + " of size 0 in shape " +
                             detail::shape_str(a.shape()) + ".");
    }
  }
  return reduce_node(name, a, t, ax, keepdims, a.dtype(), s);
}

void reject_complex(const char* name, const array& a) {
  if (a.dtype() == complex64) detail::fail(name, "expected a real input, got complex64.");
}

array arg_reduce(const char* name, const array& a, ArgReduce::ReduceType t, int axis, bool keepdims, StreamOrDevice s) {
  int ax = detail::normalize_axis(axis, static_cast<int>(a.ndim()), name);
  if (a.size() == 0) {
    detail::fail(name, "expected a non-empty array, got shape " + detail::shape_str(a.shape()) + ".");
  }
  array r(keep_shape(a.shape(), {ax}), uint32, std::make_shared<ArgReduce>(to_stream(s), t, ax), {a});
  return finish(r, {ax}, keepdims, s);
}

array arg_reduce_all(const char* name, const array& a, ArgReduce::ReduceType t, bool keepdims, StreamOrDevice s) {
  if (a.size() == 0) {
    detail::fail(name, "expected a non-empty array, got shape " + detail::shape_str(a.shape()) + ".");
  }
  array r = arg_reduce(name, flat(a, s), t, 0, true, s);
  return reshape(r, keepdims ? Shape(a.ndim(), 1) : Shape{}, s);
}

array scan(const char* name, const array& a, int axis, bool reverse, bool inclusive, Scan::ReduceType t,
           StreamOrDevice s) {
  int ax = detail::normalize_axis(axis, static_cast<int>(a.ndim()), name);
  Dtype out = a.dtype();
  array x = a;
  if (t == Scan::Sum && a.dtype() == bool_) out = int32;
  if (t == Scan::LogAddExp) {
    reject_complex(name, a);
    out = detail::to_float_type(a.dtype());
    x = astype(a, out, s);
  }
  return array(a.shape(), out, std::make_shared<Scan>(to_stream(s), t, ax, reverse, inclusive), {x});
}
}  // namespace

// ---- all / any ----
array all(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  if (axes.empty()) return astype(a, bool_, s);
  return reduce_node("all", a, Reduce::And, axes, keepdims, bool_, s);
}
array all(const array& a, bool keepdims, StreamOrDevice s) { return all(a, all_axes(a), keepdims, s); }
array all(const array& a, StreamOrDevice s) { return all(a, false, s); }
array all(const array& a, int axis, bool keepdims, StreamOrDevice s) { return all(a, std::vector<int>{axis}, keepdims, s); }

array any(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  if (axes.empty()) return astype(a, bool_, s);
  return reduce_node("any", a, Reduce::Or, axes, keepdims, bool_, s);
}
array any(const array& a, bool keepdims, StreamOrDevice s) { return any(a, all_axes(a), keepdims, s); }
array any(const array& a, StreamOrDevice s) { return any(a, false, s); }
array any(const array& a, int axis, bool keepdims, StreamOrDevice s) { return any(a, std::vector<int>{axis}, keepdims, s); }

// ---- sum / prod ----
array sum(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  if (axes.empty()) return a;
  return reduce_node("sum", a, Reduce::Sum, axes, keepdims, sum_type(a.dtype()), s);
}
array sum(const array& a, bool keepdims, StreamOrDevice s) { return sum(a, all_axes(a), keepdims, s); }
array sum(const array& a, StreamOrDevice s) { return sum(a, false, s); }
array sum(const array& a, int axis, bool keepdims, StreamOrDevice s) { return sum(a, std::vector<int>{axis}, keepdims, s); }

array prod(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  if (axes.empty()) return a;
  return reduce_node("prod", a, Reduce::Prod, axes, keepdims, sum_type(a.dtype()), s);
}
array prod(const array& a, bool keepdims, StreamOrDevice s) { return prod(a, all_axes(a), keepdims, s); }
array prod(const array& a, StreamOrDevice s) { return prod(a, false, s); }
array prod(const array& a, int axis, bool keepdims, StreamOrDevice s) { return prod(a, std::vector<int>{axis}, keepdims, s); }

// ---- max / min ----
array max(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  return min_max("max", a, Reduce::Max, axes, keepdims, s);
}
array max(const array& a, bool keepdims, StreamOrDevice s) { return max(a, all_axes(a), keepdims, s); }
array max(const array& a, StreamOrDevice s) { return max(a, false, s); }
array max(const array& a, int axis, bool keepdims, StreamOrDevice s) { return max(a, std::vector<int>{axis}, keepdims, s); }

array min(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  return min_max("min", a, Reduce::Min, axes, keepdims, s);
}
array min(const array& a, bool keepdims, StreamOrDevice s) { return min(a, all_axes(a), keepdims, s); }
array min(const array& a, StreamOrDevice s) { return min(a, false, s); }
array min(const array& a, int axis, bool keepdims, StreamOrDevice s) { return min(a, std::vector<int>{axis}, keepdims, s); }

// ---- mean / var / std ----
namespace {
// 1 / max(n - ddof, 0) for the n elements of `a` along `ax`: a constant, or, while tracing for
// shapeless compile (ddof 0), a node that reads the shape the function is replayed on.
array reciprocal_count(const array& a, const std::vector<int>& ax, Dtype dt, int ddof, StreamOrDevice s) {
  if (ddof == 0 && detail::in_shapeless_trace()) {
    return array({}, dt, std::make_shared<NumberOfElements>(to_stream(s), ax, true, dt), {a});
  }
  const int64_t n = count(a.shape(), ax);
  return array(1.0 / static_cast<double>(std::max<int64_t>(n - ddof, 0)), dt);
}
}  // namespace

array number_of_elements(const array& a, std::vector<int> axes, bool inverted, Dtype dtype, StreamOrDevice s) {
  const int nd = static_cast<int>(a.ndim());
  std::vector<int> seen;
  for (int& ax : axes) {
    if (ax < -nd || ax >= nd) {
      detail::fail("number_of_elements", "expected axes within an array of " + std::to_string(nd) +
                                             " dimensions, got axis " + std::to_string(ax) + ".");
    }
    if (ax < 0) ax += nd;
    if (std::find(seen.begin(), seen.end(), ax) != seen.end()) {
      detail::fail("number_of_elements", "expected distinct axes, got axis " + std::to_string(ax) + " twice.");
    }
    seen.push_back(ax);
  }
  return array({}, dtype, std::make_shared<NumberOfElements>(to_stream(s), std::move(axes), inverted, dtype), {a});
}

array mean(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  Dtype dt = detail::to_float_type(a.dtype());
  auto ax = detail::normalize_axes(axes, static_cast<int>(a.ndim()), "mean");
  array x = astype(a, dt, s);
  if (ax.empty()) return x;
  return multiply(sum(x, ax, keepdims, s), reciprocal_count(a, ax, dt == complex64 ? float32 : dt, 0, s), s);
}
array mean(const array& a, bool keepdims, StreamOrDevice s) { return mean(a, all_axes(a), keepdims, s); }
array mean(const array& a, StreamOrDevice s) { return mean(a, false, s); }
array mean(const array& a, int axis, bool keepdims, StreamOrDevice s) { return mean(a, std::vector<int>{axis}, keepdims, s); }

namespace {
array variance(const char* name, const array& a, const std::vector<int>& axes, bool keepdims, int ddof,
               StreamOrDevice s) {
  Dtype dt = detail::to_float_type(a.dtype());
  Dtype real_dt = dt == complex64 ? float32 : dt;
  int nd = static_cast<int>(a.ndim());
  auto ax = detail::normalize_axes(axes, nd, name);
  array x = astype(a, dt, s);
  if (dt != complex64 && trailing(ax, nd) && foldable(x, ax.size())) {
    // One pass per row with the fused kernel.
    array rows = rows_of(x, ax.size(), s);
    array r(last_to_one(rows.shape()), dt, std::make_shared<Variance>(to_stream(s), ddof), {rows});
    return finish_rows(r, a.shape(), ax, keepdims, s);
  }
  array d = subtract(x, mean(x, ax, true, s), s);
  array sq = dt == complex64 ? square(abs(d, s), s) : square(d, s);
  return multiply(sum(sq, ax, keepdims, s), reciprocal_count(a, ax, real_dt, ddof, s), s);
}
}  // namespace

array var(const array& a, const std::vector<int>& axes, bool keepdims, int ddof, StreamOrDevice s) {
  return variance("var", a, axes, keepdims, ddof, s);
}
array var(const array& a, bool keepdims, int ddof, StreamOrDevice s) { return var(a, all_axes(a), keepdims, ddof, s); }
array var(const array& a, StreamOrDevice s) { return var(a, false, 0, s); }
array var(const array& a, int axis, bool keepdims, int ddof, StreamOrDevice s) {
  return var(a, std::vector<int>{axis}, keepdims, ddof, s);
}

array std(const array& a, const std::vector<int>& axes, bool keepdims, int ddof, StreamOrDevice s) {
  return sqrt(variance("std", a, axes, keepdims, ddof, s), s);
}
array std(const array& a, bool keepdims, int ddof, StreamOrDevice s) { return std(a, all_axes(a), keepdims, ddof, s); }
array std(const array& a, StreamOrDevice s) { return std(a, false, 0, s); }
array std(const array& a, int axis, bool keepdims, int ddof, StreamOrDevice s) {
  return std(a, std::vector<int>{axis}, keepdims, ddof, s);
}

// ---- argmin / argmax ----
array argmin(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return arg_reduce("argmin", a, ArgReduce::ArgMin, axis, keepdims, s);
}
array argmin(const array& a, bool keepdims, StreamOrDevice s) {
  return arg_reduce_all("argmin", a, ArgReduce::ArgMin, keepdims, s);
}
array argmin(const array& a, StreamOrDevice s) { return argmin(a, false, s); }
array argmax(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return arg_reduce("argmax", a, ArgReduce::ArgMax, axis, keepdims, s);
}
array argmax(const array& a, bool keepdims, StreamOrDevice s) {
  return arg_reduce_all("argmax", a, ArgReduce::ArgMax, keepdims, s);
}
array argmax(const array& a, StreamOrDevice s) { return argmax(a, false, s); }

// ---- logsumexp / softmax ----
array logsumexp(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  reject_complex("logsumexp", a);
  int nd = static_cast<int>(a.ndim());
  auto ax = detail::normalize_axes(axes, nd, "logsumexp");
  if (a.size() == 0) {
    detail::fail("logsumexp", "expected a non-empty array, got shape " + detail::shape_str(a.shape()) + ".");
  }
  Dtype dt = detail::to_float_type(a.dtype());
  array x = astype(a, dt, s);
  if (ax.empty()) return x;
  const bool fold = trailing(ax, nd) && foldable(x, ax.size());
  if (fold || ax.size() == 1) {
    // The fused kernel works on the last axis: merge trailing axes or move the one axis there.
    array rows = fold ? rows_of(x, ax.size(), s) : moveaxis(x, ax[0], -1, s);
    array r(last_to_one(rows.shape()), dt, std::make_shared<LogSumExp>(to_stream(s)), {rows});
    return finish_rows(r, a.shape(), ax, keepdims, s);
  }
  // Several scattered axes: shift by the (finite) max, as the kernel does per row.
  array m = stop_gradient(max(x, ax, true, s), s);
  array shift = where(isfinite(m, s), m, array(0.0, dt), s);
  array out = add(log(sum(exp(subtract(x, shift, s), s), ax, true, s), s), shift, s);
  return finish(out, ax, keepdims, s);
}
array logsumexp(const array& a, bool keepdims, StreamOrDevice s) { return logsumexp(a, all_axes(a), keepdims, s); }
array logsumexp(const array& a, StreamOrDevice s) { return logsumexp(a, false, s); }
array logsumexp(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return logsumexp(a, std::vector<int>{axis}, keepdims, s);
}

array softmax(const array& a, const std::vector<int>& axes, bool precise, StreamOrDevice s) {
  reject_complex("softmax", a);
  int nd = static_cast<int>(a.ndim());
  auto ax = detail::normalize_axes(axes, nd, "softmax");
  Dtype dt = detail::to_float_type(a.dtype());
  array x = astype(a, dt, s);
  if (trailing(ax, nd) && foldable(x, ax.size())) {
    array rows = rows_of(x, ax.size(), s);
    array r(rows.shape(), dt, std::make_shared<Softmax>(to_stream(s), precise), {rows});
    return ax.size() == 1 ? r : reshape(r, a.shape(), s);
  }
  if (ax.size() == 1) {
    array rows = moveaxis(x, ax[0], -1, s);
    array r(rows.shape(), dt, std::make_shared<Softmax>(to_stream(s), precise), {rows});
    return moveaxis(r, -1, ax[0], s);
  }
  // Scattered axes (or none): the composition.
  array e = exp(subtract(x, stop_gradient(max(x, ax, true, s), s), s), s);
  return divide(e, sum(e, ax, true, s), s);
}
array softmax(const array& a, bool precise, StreamOrDevice s) { return softmax(a, all_axes(a), precise, s); }
array softmax(const array& a, int axis, bool precise, StreamOrDevice s) {
  return softmax(a, std::vector<int>{axis}, precise, s);
}

// ---- scans ----
array cumsum(const array& a, int axis, bool reverse, bool inclusive, StreamOrDevice s) {
  return scan("cumsum", a, axis, reverse, inclusive, Scan::Sum, s);
}
array cumsum(const array& a, bool reverse, bool inclusive, StreamOrDevice s) {
  return cumsum(flat(a, s), 0, reverse, inclusive, s);
}
array cumprod(const array& a, int axis, bool reverse, bool inclusive, StreamOrDevice s) {
  return scan("cumprod", a, axis, reverse, inclusive, Scan::Prod, s);
}
array cumprod(const array& a, bool reverse, bool inclusive, StreamOrDevice s) {
  return cumprod(flat(a, s), 0, reverse, inclusive, s);
}
array cummax(const array& a, int axis, bool reverse, bool inclusive, StreamOrDevice s) {
  return scan("cummax", a, axis, reverse, inclusive, Scan::Max, s);
}
array cummax(const array& a, bool reverse, bool inclusive, StreamOrDevice s) {
  return cummax(flat(a, s), 0, reverse, inclusive, s);
}
array cummin(const array& a, int axis, bool reverse, bool inclusive, StreamOrDevice s) {
  return scan("cummin", a, axis, reverse, inclusive, Scan::Min, s);
}
array cummin(const array& a, bool reverse, bool inclusive, StreamOrDevice s) {
  return cummin(flat(a, s), 0, reverse, inclusive, s);
}
array logcumsumexp(const array& a, int axis, bool reverse, bool inclusive, StreamOrDevice s) {
  return scan("logcumsumexp", a, axis, reverse, inclusive, Scan::LogAddExp, s);
}
array logcumsumexp(const array& a, bool reverse, bool inclusive, StreamOrDevice s) {
  return logcumsumexp(flat(a, s), 0, reverse, inclusive, s);
}

// ---- count_nonzero, median, minmax ----

array count_nonzero(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  return astype(sum(not_equal(a, detail::zeros_like_view(a, s), s), axes, keepdims, s), int32, s);
}
array count_nonzero(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return count_nonzero(a, std::vector<int>{axis}, keepdims, s);
}
array count_nonzero(const array& a, bool keepdims, StreamOrDevice s) { return count_nonzero(a, all_axes(a), keepdims, s); }

array median(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  const char* op = "median";
  const int nd = static_cast<int>(a.ndim());
  std::vector<int> ax = detail::normalize_axes(axes, nd, op);
  std::sort(ax.begin(), ax.end());
  const int64_t n = count(a.shape(), ax);
  if (n == 0) detail::fail(op, "expected a reduction over at least one element, got an empty one.");
  if (a.dtype() == complex64) detail::fail(op, "expected a real array, got complex64.");
  // The reduced axes moved to the end and flattened, then sorted (NaNs last).
  std::vector<int> perm;
  for (int d = 0; d < nd; ++d)
    if (!std::binary_search(ax.begin(), ax.end(), d)) perm.push_back(d);
  Shape rest;
  for (int d : perm) rest.push_back(a.shape(d));
  perm.insert(perm.end(), ax.begin(), ax.end());
  const Dtype out = is_floating(a.dtype()) ? a.dtype() : float32;
  Shape flat = rest;
  flat.push_back(static_cast<int>(n));
  array v = sort(reshape(transpose(astype(a, out, s), perm, s), flat, s), -1, s);
  auto at = [&](int64_t i) {
    Shape b(flat.size(), 0), e = flat;
    b.back() = static_cast<int>(i);
    e.back() = static_cast<int>(i + 1);
    return slice(v, b, e, s);
  };
  array m = n % 2 ? at(n / 2) : divide(add(at(n / 2 - 1), at(n / 2), s), array(2.0, out), s);
  // A NaN sorts last: the largest entry tells whether there is one.
  if (issubdtype(out, floating)) {
    array last = at(n - 1);
    m = where(isnan(last, s), last, m, s);
  }
  m = squeeze(m, -1, s);
  if (!keepdims) return m;
  return reshape(m, keep_shape(a.shape(), ax), s);
}
array median(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return median(a, std::vector<int>{axis}, keepdims, s);
}
array median(const array& a, bool keepdims, StreamOrDevice s) { return median(a, all_axes(a), keepdims, s); }

std::tuple<array, array> minmax(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  return {min(a, axes, keepdims, s), max(a, axes, keepdims, s)};
}
std::tuple<array, array> minmax(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return minmax(a, std::vector<int>{axis}, keepdims, s);
}
std::tuple<array, array> minmax(const array& a, bool keepdims, StreamOrDevice s) {
  return minmax(a, all_axes(a), keepdims, s);
}

}  // namespace mica
