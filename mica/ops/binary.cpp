#include "mica/ops/binary.h"

#include <cmath>

#include "mica/ops/creation.h"
#include "mica/ops/movement.h"
#include "mica/ops/reduce.h"
#include "mica/ops/unary.h"
#include "mica/ops/utils.h"
#include "mica/primitives/binary.h"

namespace mica {

namespace {
// Builds a node over a and b converted to `in_dtype`, with output dtype `out_dtype`.
template <typename P, typename... Args>
array make_binary(const array& a, const array& b, Dtype in_dtype, Dtype out_dtype, StreamOrDevice s, Args... args) {
  auto st = to_stream(s);
  Shape shape = a.shape() == b.shape() ? a.shape() : broadcast_shapes(a.shape(), b.shape());
  // Built by moving, not from an initializer list: each array copy is an atomic increment,
  // and graph-building overhead is counted per op.
  std::vector<array> inputs;
  inputs.reserve(2);
  inputs.push_back(astype(a, in_dtype, st));
  inputs.push_back(astype(b, in_dtype, st));
  return array(std::move(shape), out_dtype, std::make_shared<P>(st, args...), std::move(inputs));
}
template <typename P, typename... Args>
array arith(const array& a, const array& b, StreamOrDevice s, Args... args) {
  Dtype d = promote_types(a.dtype(), b.dtype());
  return make_binary<P>(a, b, d, d, s, args...);
}
template <typename P, typename... Args>
array comparison(const array& a, const array& b, StreamOrDevice s, Args... args) {
  return make_binary<P>(a, b, promote_types(a.dtype(), b.dtype()), bool_, s, args...);
}
// Ops defined on reals only, computed in floating point.
template <typename P>
array real_float(const char* name, const array& a, const array& b, StreamOrDevice s) {
  Dtype d = detail::to_float_type(promote_types(a.dtype(), b.dtype()));
  if (d == complex64) detail::fail(name, "expected real inputs, got complex64.");
  return make_binary<P>(a, b, d, d, s);
}
array bitwise(const char* name, const array& a, const array& b, BitwiseBinary::Op op, StreamOrDevice s) {
  Dtype d = promote_types(a.dtype(), b.dtype());
  if (is_inexact(d)) {
    detail::fail(name, "expected integer or bool inputs, got " + dtype_to_string(a.dtype()) + " and " +
                           dtype_to_string(b.dtype()) + ".");
  }
  bool shift = op == BitwiseBinary::LeftShift || op == BitwiseBinary::RightShift;
  if (d == bool_ && shift) d = uint8;
  return make_binary<BitwiseBinary>(a, b, d, d, s, op);
}
}  // namespace

array add(const array& a, const array& b, StreamOrDevice s) { return arith<Add>(a, b, s); }
array subtract(const array& a, const array& b, StreamOrDevice s) {
  if (a.dtype() == bool_ && b.dtype() == bool_) {
    detail::fail("subtract", "expected numeric inputs, got bool and bool (use logical_xor).");
  }
  return arith<Subtract>(a, b, s);
}
array multiply(const array& a, const array& b, StreamOrDevice s) { return arith<Multiply>(a, b, s); }
array divide(const array& a, const array& b, StreamOrDevice s) {
  Dtype d = detail::to_float_type(promote_types(a.dtype(), b.dtype()));
  return make_binary<Divide>(a, b, d, d, s);
}
array floor_divide(const array& a, const array& b, StreamOrDevice s) {
  Dtype d = promote_types(a.dtype(), b.dtype());
  if (d == complex64) detail::fail("floor_divide", "expected real inputs, got complex64.");
  if (is_floating(d)) return floor(divide(a, b, s), s);
  if (d == bool_) d = uint8;
  return make_binary<Divide>(a, b, d, d, s);
}
array remainder(const array& a, const array& b, StreamOrDevice s) {
  Dtype d = promote_types(a.dtype(), b.dtype());
  if (d == complex64) detail::fail("remainder", "expected real inputs, got complex64.");
  if (d == bool_) d = uint8;
  return make_binary<Remainder>(a, b, d, d, s);
}
std::vector<array> divmod(const array& a, const array& b, StreamOrDevice s) {
  Dtype d = promote_types(a.dtype(), b.dtype());
  if (d == complex64) detail::fail("divmod", "expected real inputs, got complex64.");
  if (d == bool_) d = uint8;
  auto st = to_stream(s);
  Shape shape = broadcast_shapes(a.shape(), b.shape());
  return array::make_arrays({shape, shape}, {d, d}, std::make_shared<DivMod>(st), {astype(a, d, st), astype(b, d, st)});
}
array power(const array& a, const array& b, StreamOrDevice s) {
  // bool ** bool stays bool as in MLX: x ** False is True, x ** True is x.
  if (a.dtype() == bool_ && b.dtype() == bool_) return logical_or(a, logical_not(b, s), s);
  return arith<Power>(a, b, s);
}
array maximum(const array& a, const array& b, StreamOrDevice s) { return arith<Maximum>(a, b, s); }
array minimum(const array& a, const array& b, StreamOrDevice s) { return arith<Minimum>(a, b, s); }
array arctan2(const array& a, const array& b, StreamOrDevice s) { return real_float<ArcTan2>("arctan2", a, b, s); }
array logaddexp(const array& a, const array& b, StreamOrDevice s) {
  return real_float<LogAddExp>("logaddexp", a, b, s);
}
array equal(const array& a, const array& b, StreamOrDevice s) { return comparison<Equal>(a, b, s, false); }
array not_equal(const array& a, const array& b, StreamOrDevice s) { return comparison<NotEqual>(a, b, s); }
array greater(const array& a, const array& b, StreamOrDevice s) { return comparison<Greater>(a, b, s); }
array greater_equal(const array& a, const array& b, StreamOrDevice s) { return comparison<GreaterEqual>(a, b, s); }
array less(const array& a, const array& b, StreamOrDevice s) { return comparison<Less>(a, b, s); }
array less_equal(const array& a, const array& b, StreamOrDevice s) { return comparison<LessEqual>(a, b, s); }
array logical_and(const array& a, const array& b, StreamOrDevice s) {
  return make_binary<LogicalAnd>(a, b, bool_, bool_, s);
}
array logical_or(const array& a, const array& b, StreamOrDevice s) {
  return make_binary<LogicalOr>(a, b, bool_, bool_, s);
}
array logical_xor(const array& a, const array& b, StreamOrDevice s) {
  return make_binary<NotEqual>(a, b, bool_, bool_, s);
}
array bitwise_and(const array& a, const array& b, StreamOrDevice s) {
  return bitwise("bitwise_and", a, b, BitwiseBinary::And, s);
}
array bitwise_or(const array& a, const array& b, StreamOrDevice s) {
  return bitwise("bitwise_or", a, b, BitwiseBinary::Or, s);
}
array bitwise_xor(const array& a, const array& b, StreamOrDevice s) {
  return bitwise("bitwise_xor", a, b, BitwiseBinary::Xor, s);
}
array left_shift(const array& a, const array& b, StreamOrDevice s) {
  return bitwise("left_shift", a, b, BitwiseBinary::LeftShift, s);
}
array right_shift(const array& a, const array& b, StreamOrDevice s) {
  return bitwise("right_shift", a, b, BitwiseBinary::RightShift, s);
}

array where(const array& condition, const array& x, const array& y, StreamOrDevice s) {
  auto st = to_stream(s);
  Shape shape = broadcast_shapes({condition.shape(), x.shape(), y.shape()});
  Dtype d = promote_types(x.dtype(), y.dtype());
  return array(std::move(shape), d, std::make_shared<Select>(st),
               {astype(condition, bool_, st), astype(x, d, st), astype(y, d, st)});
}

array clip(const array& a, const std::optional<array>& a_min, const std::optional<array>& a_max, StreamOrDevice s) {
  if (!a_min && !a_max) detail::fail("clip", "expected at least one of a_min and a_max, got neither.");
  array out = a;
  if (a_min) out = maximum(out, *a_min, s);
  if (a_max) out = minimum(out, *a_max, s);
  return out;
}

array isclose(const array& a, const array& b, double rtol, double atol, bool equal_nan, StreamOrDevice s) {
  Dtype d = detail::to_float_type(promote_types(a.dtype(), b.dtype()));
  Dtype real_d = d == complex64 ? float32 : d;
  // Compared in floating point, so bool and integer inputs subtract without wrapping.
  array x = astype(a, d, s), y = astype(b, d, s);
  auto lhs = abs(subtract(x, y, s), s);
  auto rhs = add(array(atol, real_d), multiply(array(rtol, real_d), abs(y, s), s), s);
  auto out = less_equal(lhs, rhs, s);
  // An infinity is close only to the same infinity: the tolerance (itself infinite when b is)
  // does not apply where either side is infinite.
  out = where(logical_or(isinf(x, s), isinf(y, s), s), equal(x, y, s), out, s);
  if (equal_nan) out = logical_or(out, logical_and(isnan(x, s), isnan(y, s), s), s);
  return out;
}

array allclose(const array& a, const array& b, double rtol, double atol, bool equal_nan, StreamOrDevice s) {
  return all(isclose(a, b, rtol, atol, equal_nan, s), false, s);
}

array array_equal(const array& a, const array& b, bool equal_nan, StreamOrDevice s) {
  if (a.shape() != b.shape()) return array(false);
  auto st = to_stream(s);
  Dtype d = promote_types(a.dtype(), b.dtype());
  auto eq = array(a.shape(), bool_, std::make_shared<Equal>(st, equal_nan), {astype(a, d, st), astype(b, d, st)});
  return all(eq, false, s);
}

array diff(const array& a, int n, int axis, StreamOrDevice s) {
  const char* op = "diff";
  if (n < 0) detail::fail(op, "expected a non-negative order n, got " + std::to_string(n) + ".");
  if (a.ndim() == 0) detail::fail(op, "expected an array with at least one dimension, got a 0-d array.");
  const int ax = detail::normalize_axis(axis, static_cast<int>(a.ndim()), op);
  array r = a;
  for (int i = 0; i < n && r.shape(ax) > 0; ++i) {
    const int len = r.shape(ax);
    Shape b(r.ndim(), 0), e = r.shape();
    b[ax] = 1;
    array hi = slice(r, b, e, s);
    b[ax] = 0;
    e[ax] = len - 1;
    array lo = slice(r, b, e, s);
    r = r.dtype() == bool_ ? not_equal(hi, lo, s) : subtract(hi, lo, s);
  }
  return r;
}

}  // namespace mica
