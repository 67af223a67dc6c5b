// Transform rules of the reduce family: Reduce, ArgReduce, Scan, Softmax, LogSumExp, Variance.
// Reduce keeps the reduced axes as size-1 dims, so cotangents broadcast back to the input
// directly. vmap keeps the batch axis where it is and shifts the reduced axes past it, except
// for the last-axis primitives, whose batch axis moves to the front when it is the last one.
// Ties follow MLX: max/min split the cotangent evenly between tied extremes (their jvp takes the
// first one); cummax/cummin send it to the latest tie in scan order.
#include "mica/primitives/reduce.h"

#include <algorithm>

#include "mica/ops.h"

namespace mica {

namespace {
// An axis of the unbatched array, moved past batch axis `bax` of the batched one.
int past_batch(int axis, int bax) { return axis >= bax ? axis + 1 : axis; }
std::vector<int> past_batch(const std::vector<int>& axes, int bax) {
  std::vector<int> r;
  for (int a : axes) r.push_back(past_batch(a, bax));
  return r;
}

array as_dtype(const array& g, Dtype d) { return g.dtype() == d ? g : astype(g, d); }

Shape keep_shape(Shape s, const std::vector<int>& axes) {
  for (int a : axes) s[a] = 1;
  return s;
}

// The permutation that puts the reduced axes (sorted) last, the others first in order.
std::vector<int> reduced_last_perm(int ndim, const std::vector<int>& axes) {
  std::vector<int> perm;
  for (int d = 0; d < ndim; ++d) {
    if (!std::binary_search(axes.begin(), axes.end(), d)) perm.push_back(d);
  }
  perm.insert(perm.end(), axes.begin(), axes.end());
  return perm;
}
bool is_identity(const std::vector<int>& perm) {
  for (size_t i = 0; i < perm.size(); ++i) {
    if (perm[i] != static_cast<int>(i)) return false;
  }
  return true;
}

// x with the reduced axes moved last and merged into one: (kept dims..., n).
array reduced_last(const array& x, const std::vector<int>& axes) {
  auto perm = reduced_last_perm(x.ndim(), axes);
  array xt = is_identity(perm) ? x : transpose(x, perm);
  Shape s(xt.shape().begin(), xt.shape().end() - axes.size());
  int32_t n = 1;
  for (int a : axes) n *= x.shape(a);
  s.push_back(n);
  return reshape(xt, s);
}
// Inverse of reduced_last for an array of that layout: back to `shape`.
array from_reduced_last(const array& y, const Shape& shape, const std::vector<int>& axes) {
  auto perm = reduced_last_perm(static_cast<int>(shape.size()), axes);
  Shape ts;
  for (int p : perm) ts.push_back(shape[p]);
  array yt = reshape(y, ts);
  if (is_identity(perm)) return yt;
  std::vector<int> inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[perm[i]] = static_cast<int>(i);
  return transpose(yt, inv);
}

// d prod(x over axes) / d x, exact when x has zeros: the product of the elements before and
// after each one (two exclusive cumulative products over the merged reduced axes).
array prod_partials(const array& x, const std::vector<int>& axes) {
  array x2 = reduced_last(x, axes);
  array p = multiply(cumprod(x2, -1, false, false), cumprod(x2, -1, true, false));
  return from_reduced_last(p, x.shape(), axes);
}

array reduce_op(Reduce::ReduceType t, const array& x, const std::vector<int>& axes) {
  switch (t) {
    case Reduce::And: return all(x, axes, true);
    case Reduce::Or: return any(x, axes, true);
    case Reduce::Sum: return sum(x, axes, true);
    case Reduce::Prod: return prod(x, axes, true);
    case Reduce::Min: return min(x, axes, true);
    case Reduce::Max: return max(x, axes, true);
  }
  return x;
}
}  // namespace

// ---- Reduce ----
std::vector<array> Reduce::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                               const std::vector<int>&, const std::vector<array>& outputs) {
  const array& x = primals[0];
  const array& c = cotangents[0];
  switch (type_) {
    case And:
    case Or: return {detail::zeros_like_view(x)};
    case Sum: return {as_dtype(broadcast_to(c, x.shape()), x.dtype())};
    case Prod: return {as_dtype(multiply(c, prod_partials(x, axes_)), x.dtype())};
    case Min:
    case Max: {
      // Tied extremes share the cotangent evenly.
      array mask = astype(equal(x, outputs[0]), c.dtype());
      return {as_dtype(multiply(mask, divide(c, sum(mask, axes_, true))), x.dtype())};
    }
  }
  return {detail::zeros_like_view(x)};
}

std::vector<array> Reduce::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                               const std::vector<int>&) {
  const array& x = primals[0];
  const array& t = tangents[0];
  switch (type_) {
    case And:
    case Or: return {detail::zeros_view(keep_shape(x.shape(), axes_), bool_)};
    case Sum: return {sum(t, axes_, true)};
    case Prod: return {sum(multiply(t, prod_partials(x, axes_)), axes_, true)};
    case Min:
    case Max: {
      // As MLX: the tangent of the first extreme (row-major over the reduced axes).
      array x2 = reduced_last(x, axes_);
      array idx = type_ == Max ? argmax(x2, -1, true) : argmin(x2, -1, true);
      return {reshape(take_along_axis(reduced_last(t, axes_), idx, -1), keep_shape(x.shape(), axes_))};
    }
  }
  return {detail::zeros_view(keep_shape(x.shape(), axes_), x.dtype())};
}

std::pair<std::vector<array>, std::vector<int>> Reduce::vmap(const std::vector<array>& inputs,
                                                             const std::vector<int>& axes) {
  return {{reduce_op(type_, inputs[0], past_batch(axes_, axes[0]))}, {axes[0]}};
}

// ---- ArgReduce: integer output, no gradient ----
std::vector<array> ArgReduce::vjp(const std::vector<array>& primals, const std::vector<array>&,
                                  const std::vector<int>&, const std::vector<array>&) {
  return {detail::zeros_like_view(primals[0])};
}
std::vector<array> ArgReduce::jvp(const std::vector<array>& primals, const std::vector<array>&,
                                  const std::vector<int>&) {
  return {detail::zeros_view(keep_shape(primals[0].shape(), {axis_}), uint32)};
}
std::pair<std::vector<array>, std::vector<int>> ArgReduce::vmap(const std::vector<array>& inputs,
                                                                const std::vector<int>& axes) {
  int ax = past_batch(axis_, axes[0]);
  array r = type_ == ArgMax ? argmax(inputs[0], ax, true) : argmin(inputs[0], ax, true);
  return {{r}, {axes[0]}};
}

// ---- Scan ----
namespace {
array scan_op(Scan::ReduceType t, const array& x, int axis, bool reverse, bool inclusive) {
  switch (t) {
    case Scan::Sum: return cumsum(x, axis, reverse, inclusive);
    case Scan::Prod: return cumprod(x, axis, reverse, inclusive);
    case Scan::Max: return cummax(x, axis, reverse, inclusive);
    case Scan::Min: return cummin(x, axis, reverse, inclusive);
    case Scan::LogAddExp: return logcumsumexp(x, axis, reverse, inclusive);
  }
  return x;
}

// a moved one step along `axis`, toward the end (r[j] = a[j-1]) or the start (r[j] = a[j+1]),
// with a zero in the vacated place. An exclusive scan is the inclusive one shifted in scan order.
array shift_along(const array& a, int axis, bool toward_end) {
  int n = a.shape(axis);
  if (n == 0) return a;
  Shape start(a.ndim(), 0), stop = a.shape(), zs = a.shape();
  zs[axis] = 1;
  if (toward_end) {
    stop[axis] = n - 1;
  } else {
    start[axis] = 1;
  }
  array body = slice(a, start, stop);
  array z = detail::zeros_view(zs, a.dtype());
  return toward_end ? concatenate({z, body}, axis) : concatenate({body, z}, axis);
}

// 0, 1, ..., n-1 (int32) along `axis` of an ndim-d array, size 1 on the other axes.
array positions(int n, int axis, int ndim) {
  Shape s(ndim, 1);
  s[axis] = n;
  return reshape(arange(0, n), s);
}

// For an inclusive cummax/cummin: the index each output came from, the latest tie in scan order.
array scan_sources(const array& x, const array& out, int axis, bool reverse) {
  int n = x.shape(axis);
  array pos = positions(n, axis, x.ndim());
  array hit = equal(x, out);
  if (!reverse) return cummax(where(hit, pos, array(-1)), axis);
  return cummin(where(hit, pos, array(n)), axis, true);
}

// The first zero along the scan and the elements before it, for the exact rules of cumprod.
struct ZeroSplit {
  array before;  // no zero at or before this position in scan order
  array first;   // the first zero
};
ZeroSplit split_at_first_zero(const array& x, int axis, bool reverse) {
  array zero = equal(x, array(0, x.dtype()));
  array seen = cumsum(astype(zero, int32), axis, reverse, true);
  return {equal(seen, array(0)), logical_and(zero, equal(seen, array(1)))};
}

// log of the positive part of v (-inf where v <= 0).
array log_pos(const array& v) { return log(maximum(v, array(0, v.dtype()))); }

// vjp of the inclusive scan `out` of x with cotangent c.
array inclusive_scan_vjp(Scan::ReduceType t, const array& x, const array& out, const array& c, int axis,
                         bool reverse) {
  switch (t) {
    case Scan::Sum: return cumsum(c, axis, !reverse, true);
    case Scan::Prod: {
      // Before the first zero: sum_{j >= i} c_j out_j / x_i. At the first zero: the same sums
      // with that zero replaced by 1 (every later product contains it). After it: 0.
      auto z = split_at_first_zero(x, axis, reverse);
      array one = detail::ones_like_view(x);
      array before = divide(cumsum(multiply(c, out), axis, !reverse, true), where(z.before, x, one));
      array out1 = cumprod(where(z.first, one, x), axis, reverse, true);
      array at_first = cumsum(multiply(c, out1), axis, !reverse, true);
      return where(z.before, before, where(z.first, at_first, detail::zeros_like_view(x)));
    }
    case Scan::Max:
    case Scan::Min: return scatter_add_axis(detail::zeros_like_view(x), scan_sources(x, out, axis, reverse), c, axis);
    case Scan::LogAddExp: {
      // sum_{j >= i} c_j exp(x_i - out_j), with the positive and negative parts of c summed in
      // log space so that nothing overflows.
      array lp = logcumsumexp(subtract(log_pos(c), out), axis, !reverse, true);
      array ln = logcumsumexp(subtract(log_pos(negative(c)), out), axis, !reverse, true);
      return subtract(exp(add(x, lp)), exp(add(x, ln)));
    }
  }
  return c;
}

// jvp of the inclusive scan `out` of x with tangent tx.
array inclusive_scan_jvp(Scan::ReduceType t, const array& x, const array& out, const array& tx, int axis,
                         bool reverse) {
  switch (t) {
    case Scan::Sum: return cumsum(tx, axis, reverse, true);
    case Scan::Prod: {
      // Before the first zero: out_j sum_{i <= j} t_i / x_i. From it on, only the first zero's
      // tangent survives, times the product of the others.
      auto z = split_at_first_zero(x, axis, reverse);
      array one = detail::ones_like_view(x);
      array before = multiply(out, cumsum(divide(tx, where(z.before, x, one)), axis, reverse, true));
      array out1 = cumprod(where(z.first, one, x), axis, reverse, true);
      array t_first = sum(where(z.first, tx, detail::zeros_like_view(tx)), axis, true);
      return where(z.before, before, multiply(t_first, out1));
    }
    case Scan::Max:
    case Scan::Min: return take_along_axis(tx, scan_sources(x, out, axis, reverse), axis);
    case Scan::LogAddExp: {
      // sum_{i <= j} t_i exp(x_i - out_j), split by the sign of t as in the vjp.
      array lp = logcumsumexp(add(x, log_pos(tx)), axis, reverse, true);
      array ln = logcumsumexp(add(x, log_pos(negative(tx))), axis, reverse, true);
      return subtract(exp(subtract(lp, out)), exp(subtract(ln, out)));
    }
  }
  return tx;
}
}  // namespace

std::vector<array> Scan::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                             const std::vector<int>&, const std::vector<array>& outputs) {
  const array& x = primals[0];
  const array& c = cotangents[0];
  if (type_ == Sum) return {as_dtype(cumsum(c, axis_, !reverse_, inclusive_), x.dtype())};
  // Exclusive scans are inclusive ones shifted in scan order: shift the cotangent back.
  array out = inclusive_ ? outputs[0] : scan_op(type_, x, axis_, reverse_, true);
  array ci = inclusive_ ? c : shift_along(c, axis_, reverse_);
  return {as_dtype(inclusive_scan_vjp(type_, x, out, ci, axis_, reverse_), x.dtype())};
}

std::vector<array> Scan::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                             const std::vector<int>&) {
  const array& x = primals[0];
  const array& t = tangents[0];
  if (type_ == Sum) return {cumsum(t, axis_, reverse_, inclusive_)};
  array out = scan_op(type_, x, axis_, reverse_, true);
  array r = inclusive_scan_jvp(type_, x, out, t, axis_, reverse_);
  return {inclusive_ ? r : shift_along(r, axis_, !reverse_)};
}

std::pair<std::vector<array>, std::vector<int>> Scan::vmap(const std::vector<array>& inputs,
                                                           const std::vector<int>& axes) {
  return {{scan_op(type_, inputs[0], past_batch(axis_, axes[0]), reverse_, inclusive_)}, {axes[0]}};
}

// ---- Softmax, LogSumExp, Variance: over the last axis ----
namespace {
// For a last-axis primitive: the batched input with its batch axis off the last place, and
// where that axis is.
std::pair<array, int> batch_off_last(const array& x, int bax) {
  if (bax == static_cast<int>(x.ndim()) - 1) return {moveaxis(x, bax, 0), 0};
  return {x, bax};
}
Shape last_to_one(Shape s) {
  s.back() = 1;
  return s;
}
}  // namespace

std::vector<array> Softmax::vjp(const std::vector<array>&, const std::vector<array>& cotangents,
                                const std::vector<int>&, const std::vector<array>& outputs) {
  const array& s = outputs[0];
  const array& c = cotangents[0];
  return {multiply(s, subtract(c, sum(multiply(c, s), -1, true)))};
}
std::vector<array> Softmax::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                const std::vector<int>&) {
  const array& x = primals[0];
  const array& t = tangents[0];
  array s(x.shape(), x.dtype(), std::make_shared<Softmax>(stream(), precise_), {x});
  return {multiply(s, subtract(t, sum(multiply(t, s), -1, true)))};
}
std::pair<std::vector<array>, std::vector<int>> Softmax::vmap(const std::vector<array>& inputs,
                                                              const std::vector<int>& axes) {
  auto [x, bax] = batch_off_last(inputs[0], axes[0]);
  return {{array(x.shape(), x.dtype(), std::make_shared<Softmax>(stream(), precise_), {x})}, {bax}};
}

std::vector<array> LogSumExp::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                  const std::vector<int>&, const std::vector<array>& outputs) {
  return {multiply(cotangents[0], exp(subtract(primals[0], outputs[0])))};
}
std::vector<array> LogSumExp::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                  const std::vector<int>&) {
  const array& x = primals[0];
  array out(last_to_one(x.shape()), x.dtype(), std::make_shared<LogSumExp>(stream()), {x});
  return {sum(multiply(tangents[0], exp(subtract(x, out))), -1, true)};
}
std::pair<std::vector<array>, std::vector<int>> LogSumExp::vmap(const std::vector<array>& inputs,
                                                                const std::vector<int>& axes) {
  auto [x, bax] = batch_off_last(inputs[0], axes[0]);
  return {{array(last_to_one(x.shape()), x.dtype(), std::make_shared<LogSumExp>(stream()), {x})}, {bax}};
}

namespace {
// d var / d x = 2 (x - mean) / max(n - ddof, 0), the same divisor as the forward pass.
array variance_partials(const array& x, int ddof) {
  int n = x.shape(-1);
  double div = static_cast<double>(std::max(n - ddof, 0));
  return multiply(subtract(x, mean(x, -1, true)), array(2.0 / div, x.dtype()));
}
}  // namespace

std::vector<array> Variance::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                 const std::vector<int>&, const std::vector<array>&) {
  return {multiply(cotangents[0], variance_partials(primals[0], ddof_))};
}
std::vector<array> Variance::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                 const std::vector<int>&) {
  return {sum(multiply(tangents[0], variance_partials(primals[0], ddof_)), -1, true)};
}
std::pair<std::vector<array>, std::vector<int>> Variance::vmap(const std::vector<array>& inputs,
                                                               const std::vector<int>& axes) {
  auto [x, bax] = batch_off_last(inputs[0], axes[0]);
  return {{array(last_to_one(x.shape()), x.dtype(), std::make_shared<Variance>(stream(), ddof_), {x})}, {bax}};
}

// ---- NumberOfElements: a value of the input's shape, not of its entries ----
double NumberOfElements::value(const Shape& shape) const {
  double n = 1;
  for (int ax : axes_) {
    if (ax < 0 || ax >= static_cast<int>(shape.size())) {
      throw std::invalid_argument("[number_of_elements] expected axes within the input's " +
                                  std::to_string(shape.size()) + " dimensions, got axis " + std::to_string(ax) + ".");
    }
    n *= shape[ax];
  }
  return inverted_ ? 1.0 / n : n;
}
std::vector<array> NumberOfElements::vjp(const std::vector<array>& primals, const std::vector<array>&,
                                         const std::vector<int>&, const std::vector<array>&) {
  return {detail::zeros_like_view(primals[0])};
}
std::vector<array> NumberOfElements::jvp(const std::vector<array>&, const std::vector<array>&,
                                         const std::vector<int>&) {
  return {detail::zeros_view({}, dtype_)};
}
std::pair<std::vector<array>, std::vector<int>> NumberOfElements::vmap(const std::vector<array>& inputs,
                                                                       const std::vector<int>& axes) {
  // The same value for every entry of the batch: the axes move past the batch axis and the
  // output is not batched.
  std::vector<int> moved;
  for (int ax : axes_) moved.push_back(axes[0] < 0 ? ax : past_batch(ax, axes[0]));
  return {{array({}, dtype_, std::make_shared<NumberOfElements>(stream(), std::move(moved), inverted_, dtype_),
                 {inputs[0]})},
          {-1}};
}

}  // namespace mica
