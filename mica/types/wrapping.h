// Integer arithmetic that wraps around (two's complement) where plain C++ would overflow:
// signed overflow is undefined behaviour, and the integer ops of mica (as MLX's) wrap. Operands
// narrower than int are widened to unsigned first, so the promotion to int cannot overflow
// either (65535 * 65535 as uint16). Other types (bool, floats, halves, complex) use the plain
// operators.
#pragma once
#include <type_traits>

namespace mica {

template <typename T>
inline constexpr bool is_wrapping_int_v = std::is_integral_v<T> && !std::is_same_v<T, bool>;

template <typename T>
using wrap_unsigned_t = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;

template <typename T>
constexpr T wrapping_add(T x, T y) {
  if constexpr (is_wrapping_int_v<T>) return static_cast<T>(wrap_unsigned_t<T>(x) + wrap_unsigned_t<T>(y));
  else return x + y;
}
template <typename T>
constexpr T wrapping_sub(T x, T y) {
  if constexpr (is_wrapping_int_v<T>) return static_cast<T>(wrap_unsigned_t<T>(x) - wrap_unsigned_t<T>(y));
  else return x - y;
}
template <typename T>
constexpr T wrapping_mul(T x, T y) {
  if constexpr (is_wrapping_int_v<T>) return static_cast<T>(wrap_unsigned_t<T>(x) * wrap_unsigned_t<T>(y));
  else return x * y;
}
template <typename T>
constexpr T wrapping_neg(T x) {
  if constexpr (is_wrapping_int_v<T>) return static_cast<T>(wrap_unsigned_t<T>(0) - wrap_unsigned_t<T>(x));
  else return -x;
}

}  // namespace mica
