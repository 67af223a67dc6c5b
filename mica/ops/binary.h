// Elementwise binary and ternary ops: NumPy broadcasting and MLX type promotion. Scalar
// overloads treat the scalar as weakly typed: `x * 2.0` keeps x's float dtype, `i + 1` keeps
// i's integer dtype.
#pragma once
#include <optional>
#include <type_traits>
#include <utility>

#include "mica/array.h"

namespace mica {

array add(const array& a, const array& b, StreamOrDevice s = {});
array subtract(const array& a, const array& b, StreamOrDevice s = {});
array multiply(const array& a, const array& b, StreamOrDevice s = {});
/** True division: integers give float32. */
array divide(const array& a, const array& b, StreamOrDevice s = {});
/** floor(a / b); integer inputs stay integer. */
array floor_divide(const array& a, const array& b, StreamOrDevice s = {});
/** a - b * floor(a / b): the sign follows b, as Python's %. */
array remainder(const array& a, const array& b, StreamOrDevice s = {});
/** (floor_divide(a, b), remainder(a, b)). */
std::vector<array> divmod(const array& a, const array& b, StreamOrDevice s = {});
/** a ** b; bool ** bool is bool (a or not b), as in MLX. */
array power(const array& a, const array& b, StreamOrDevice s = {});
array maximum(const array& a, const array& b, StreamOrDevice s = {});
array minimum(const array& a, const array& b, StreamOrDevice s = {});
array arctan2(const array& a, const array& b, StreamOrDevice s = {});
/** log(exp(a) + exp(b)) without overflow. */
array logaddexp(const array& a, const array& b, StreamOrDevice s = {});
array equal(const array& a, const array& b, StreamOrDevice s = {});
array not_equal(const array& a, const array& b, StreamOrDevice s = {});
array greater(const array& a, const array& b, StreamOrDevice s = {});
array greater_equal(const array& a, const array& b, StreamOrDevice s = {});
array less(const array& a, const array& b, StreamOrDevice s = {});
array less_equal(const array& a, const array& b, StreamOrDevice s = {});
array logical_and(const array& a, const array& b, StreamOrDevice s = {});
array logical_or(const array& a, const array& b, StreamOrDevice s = {});
array logical_xor(const array& a, const array& b, StreamOrDevice s = {});
array bitwise_and(const array& a, const array& b, StreamOrDevice s = {});
array bitwise_or(const array& a, const array& b, StreamOrDevice s = {});
array bitwise_xor(const array& a, const array& b, StreamOrDevice s = {});
array left_shift(const array& a, const array& b, StreamOrDevice s = {});
array right_shift(const array& a, const array& b, StreamOrDevice s = {});
/** x where condition else y, broadcasting all three. */
array where(const array& condition, const array& x, const array& y, StreamOrDevice s = {});
/** Clamps to [a_min, a_max]; either bound may be absent. */
array clip(const array& a, const std::optional<array>& a_min, const std::optional<array>& a_max,
           StreamOrDevice s = {});
/** |a - b| <= atol + rtol * |b| elementwise; an infinity is close only to the same infinity,
 * NaN only to NaN and only with equal_nan. */
array isclose(const array& a, const array& b, double rtol = 1e-5, double atol = 1e-8, bool equal_nan = false,
              StreamOrDevice s = {});
/** True (a bool scalar array) when isclose holds everywhere. */
array allclose(const array& a, const array& b, double rtol = 1e-5, double atol = 1e-8, bool equal_nan = false,
               StreamOrDevice s = {});
/** True when shapes match and all elements are equal. */
array array_equal(const array& a, const array& b, bool equal_nan = false, StreamOrDevice s = {});

namespace detail {
/** The array a C++ scalar becomes next to `other`: weakly typed, so other's dtype wins when
 * the scalar's kind fits (an int next to any number, a float next to a float). */
template <typename T>
array weak_scalar(T v, const array& other) {
  Dtype d = other.dtype();
  if constexpr (std::is_same_v<T, bool>) {
    return array(v, d);
  } else if constexpr (std::is_integral_v<T>) {
    return array(v, d == bool_ ? int32 : d);
  } else {
    return array(static_cast<double>(v), is_inexact(d) ? d : float32);
  }
}
template <typename T>
concept Scalar = std::is_arithmetic_v<T>;
}  // namespace detail

#define MICA_BINARY_OPERATOR(OP, FN)                                                           \
  inline array operator OP(const array& a, const array& b) { return FN(a, b); }                \
  template <detail::Scalar T>                                                                  \
  array operator OP(const array& a, T b) { return FN(a, detail::weak_scalar(b, a)); }          \
  template <detail::Scalar T>                                                                  \
  array operator OP(T a, const array& b) { return FN(detail::weak_scalar(a, b), b); }
MICA_BINARY_OPERATOR(+, add)
MICA_BINARY_OPERATOR(-, subtract)
MICA_BINARY_OPERATOR(*, multiply)
MICA_BINARY_OPERATOR(/, divide)
MICA_BINARY_OPERATOR(%, remainder)
MICA_BINARY_OPERATOR(==, equal)
MICA_BINARY_OPERATOR(!=, not_equal)
MICA_BINARY_OPERATOR(<, less)
MICA_BINARY_OPERATOR(<=, less_equal)
MICA_BINARY_OPERATOR(>, greater)
MICA_BINARY_OPERATOR(>=, greater_equal)
MICA_BINARY_OPERATOR(&&, logical_and)
MICA_BINARY_OPERATOR(||, logical_or)
MICA_BINARY_OPERATOR(&, bitwise_and)
MICA_BINARY_OPERATOR(|, bitwise_or)
MICA_BINARY_OPERATOR(^, bitwise_xor)
MICA_BINARY_OPERATOR(<<, left_shift)
MICA_BINARY_OPERATOR(>>, right_shift)
#undef MICA_BINARY_OPERATOR

/** The n-th discrete difference along `axis`: a[1:] - a[:-1], n times (not-equal for bool), as
 * MLX and NumPy; n = 0 returns a; n beyond the axis gives an empty axis. */
array diff(const array& a, int n = 1, int axis = -1, StreamOrDevice s = {});

}  // namespace mica
