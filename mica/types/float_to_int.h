// Floating -> integer conversion with every input defined, the same on the CPU and the GPU: what
// x86-64's truncating conversions give (and so what MLX gives on x86-64), written without
// undefined behaviour. With cvt32(x) = trunc(x) for x in [-2^31, 2^31), else INT32_MIN (NaN
// included), and cvt64 the same over [-2^63, 2^63) with INT64_MIN:
//   int8, uint8, int16, uint16: cvt32(x) wrapped to the width (uint8(-1.0) = 255, uint8(300.0) = 44,
//                               uint8(NaN) = uint8(-3e9) = 0);
//   int32: cvt32(x);   int64: cvt64(x);
//   uint32: x >= 2^31 ? cvt32(x - 2^31) + 2^31 : cvt32(x), modulo 2^32 (uint32(-1.0) = 2^32 - 1,
//           uint32(NaN) = uint32(-inf) = 2^31, uint32(inf) = uint32(1e20) = 0);
//   uint64: the same with 2^63 and cvt64.
#pragma once
#include <cstdint>
#include <type_traits>

#if defined(__CUDACC__)
#define MICA_HOST_DEVICE __host__ __device__
#else
#define MICA_HOST_DEVICE
#endif

namespace mica::detail {

template <typename F>
MICA_HOST_DEVICE inline int32_t cvt32(F x) {
  return x >= F(-2147483648.0) && x < F(2147483648.0) ? static_cast<int32_t>(x) : INT32_MIN;
}

template <typename F>
MICA_HOST_DEVICE inline int64_t cvt64(F x) {
  return x >= F(-9223372036854775808.0) && x < F(9223372036854775808.0) ? static_cast<int64_t>(x) : INT64_MIN;
}

/** x (float or double) as the integer type To (not bool), by the rule above. */
template <typename To, typename F>
MICA_HOST_DEVICE inline To float_to_int(F x) {
  static_assert(std::is_integral_v<To> && !std::is_same_v<To, bool>);
  if constexpr (sizeof(To) <= 2) {
    return static_cast<To>(static_cast<uint32_t>(cvt32(x)));
  } else if constexpr (std::is_same_v<To, int32_t>) {
    return cvt32(x);
  } else if constexpr (std::is_same_v<To, uint32_t>) {
    const F top = F(2147483648.0);
    return x >= top ? static_cast<uint32_t>(cvt32(x - top)) + 0x80000000u : static_cast<uint32_t>(cvt32(x));
  } else if constexpr (std::is_signed_v<To>) {
    return cvt64(x);
  } else {
    const F top = F(9223372036854775808.0);
    return x >= top ? static_cast<uint64_t>(cvt64(x - top)) + (uint64_t(1) << 63) : static_cast<uint64_t>(cvt64(x));
  }
}

}  // namespace mica::detail
