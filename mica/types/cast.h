// Element conversion between mica's C++ types and dispatch from a Dtype to its C++ type.
#pragma once
#include <type_traits>

#include "mica/dtype.h"
#include "mica/types/float_to_int.h"

namespace mica {

/** Converts one element, the way astype does: complex -> real keeps the real part, anything ->
 * bool tests for non-zero, floating -> integer as types/float_to_int.h defines for every input
 * (NaN, infinities and out-of-range values included). */
template <typename To, typename From>
inline To cast_to(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (is_complex_v<From>) {
    if constexpr (std::is_same_v<To, bool>) return v != From(0);
    else return cast_to<To>(v.real());
  } else if constexpr (is_complex_v<To>) {
    return To(static_cast<float>(v), 0.0f);
  } else if constexpr (std::is_same_v<To, bool>) {
    if constexpr (is_half_v<From>) return static_cast<float>(v) != 0.0f;
    else return v != From(0);
  } else if constexpr (is_half_v<From>) {
    return cast_to<To>(static_cast<float>(v));
  } else if constexpr (is_half_v<To>) {
    return To(static_cast<float>(v));
  } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
    return detail::float_to_int<To>(v);
  } else {
    return static_cast<To>(v);
  }
}

template <typename T>
struct type_tag {
  using type = T;
};

/** Calls f(type_tag<T>{}) with T the C++ type of `d`. */
template <typename F>
decltype(auto) dispatch_dtype(Dtype d, F&& f) {
  switch (d.val) {
    case Dtype::Val::bool_: return f(type_tag<bool>{});
    case Dtype::Val::uint8: return f(type_tag<uint8_t>{});
    case Dtype::Val::uint16: return f(type_tag<uint16_t>{});
    case Dtype::Val::uint32: return f(type_tag<uint32_t>{});
    case Dtype::Val::uint64: return f(type_tag<uint64_t>{});
    case Dtype::Val::int8: return f(type_tag<int8_t>{});
    case Dtype::Val::int16: return f(type_tag<int16_t>{});
    case Dtype::Val::int32: return f(type_tag<int32_t>{});
    case Dtype::Val::int64: return f(type_tag<int64_t>{});
    case Dtype::Val::float16: return f(type_tag<float16_t>{});
    case Dtype::Val::float32: return f(type_tag<float>{});
    case Dtype::Val::float64: return f(type_tag<double>{});
    case Dtype::Val::bfloat16: return f(type_tag<bfloat16_t>{});
    case Dtype::Val::complex64: return f(type_tag<complex64_t>{});
  }
  return f(type_tag<float>{});
}

}  // namespace mica
