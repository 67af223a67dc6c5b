// Device-side element types and the dtype dispatch every CUDA kernel file uses: a mica dtype
// maps to the type kernels compute with (bool, the integers, __half, __nv_bfloat16, float,
// double, cuda::std::complex<float>). Storage layouts match mica's host types bit for bit.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cuda/std/complex>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "mica/dtype.h"
#include "mica/types/float_to_int.h"

namespace mica::cu {

using complex64 = cuda::std::complex<float>;

template <typename T>
struct Tag {
  using type = T;
};

/** Calls f(Tag<T>{}) with T the device type of `d`. */
template <typename F>
decltype(auto) dispatch(Dtype d, F&& f) {
  switch (d.val) {
    case Dtype::Val::bool_: return f(Tag<bool>{});
    case Dtype::Val::uint8: return f(Tag<uint8_t>{});
    case Dtype::Val::uint16: return f(Tag<uint16_t>{});
    case Dtype::Val::uint32: return f(Tag<uint32_t>{});
    case Dtype::Val::uint64: return f(Tag<uint64_t>{});
    case Dtype::Val::int8: return f(Tag<int8_t>{});
    case Dtype::Val::int16: return f(Tag<int16_t>{});
    case Dtype::Val::int32: return f(Tag<int32_t>{});
    case Dtype::Val::int64: return f(Tag<int64_t>{});
    case Dtype::Val::float16: return f(Tag<__half>{});
    case Dtype::Val::float32: return f(Tag<float>{});
    case Dtype::Val::float64: return f(Tag<double>{});
    case Dtype::Val::bfloat16: return f(Tag<__nv_bfloat16>{});
    case Dtype::Val::complex64: return f(Tag<complex64>{});
  }
  throw std::logic_error("[cuda] unknown dtype");
}

template <typename T>
inline constexpr bool is_half_v = std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;
template <typename T>
inline constexpr bool is_complex_v = std::is_same_v<T, complex64>;
template <typename T>
inline constexpr bool is_float_v = is_half_v<T> || std::is_same_v<T, float> || std::is_same_v<T, double>;

/** The type arithmetic on T runs in: float for the half types, T otherwise. */
template <typename T>
using compute_t = std::conditional_t<is_half_v<T>, float, T>;

/** Converts between any two device element types with the CPU's rules (mica/types/cast.h):
 * complex to real keeps the real part, to bool tests for non-zero, float to integer by
 * types/float_to_int.h (the same result for every input). */
template <typename To, typename From>
__device__ __forceinline__ To cast(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (is_complex_v<From>) {
    if constexpr (is_complex_v<To>) return v;
    else if constexpr (std::is_same_v<To, bool>) return v.real() != 0.0f || v.imag() != 0.0f;
    else return cast<To>(v.real());
  } else if constexpr (is_complex_v<To>) {
    return complex64(cast<float>(v), 0.0f);
  } else if constexpr (is_half_v<From>) {
    return cast<To>(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, __half>) {
    return __float2half_rn(static_cast<float>(v));  // through float, as the CPU rounds
  } else if constexpr (std::is_same_v<To, __nv_bfloat16>) {
    return __float2bfloat16_rn(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, bool>) {
    return v != From(0);
  } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
    return ::mica::detail::float_to_int<To>(v);  // the CPU's rule (types/float_to_int.h)
  } else {
    return static_cast<To>(v);
  }
}

}  // namespace mica::cu
