// Radix-orderable keys of the sort family (backend/cuda/sort.cu). An element's bits (read as
// the unsigned type U of its size) become a key whose unsigned order is the CPU's order
// (backend/cpu/sort.cpp): integers as they compare, floats with every NaN after +inf and all
// NaNs equal, complex64 by real part then imaginary part (U = uint64, the real part in the high
// half). -0.0 and +0.0 compare equal on the CPU; a sort that breaks ties by index (argsort,
// complex) must see them as one key (`zero`), a value sort may keep them apart (any order of
// equal values is the CPU's too) and so keep the sign of zero in its output.
#pragma once
#include <cstdint>

namespace mica::cu {

enum class KeyKind : int { kUnsigned, kSigned, kFloat, kComplex };

template <typename U>
struct KeyCodec {
  KeyKind kind;
  U inf;      // kFloat: the bits of +inf (a magnitude above it is a NaN)
  U nan;      // kFloat: the canonical NaN every NaN becomes (the CPU writes quiet_NaN)
  bool zero;  // kFloat / kComplex: -0.0 becomes +0.0

  static constexpr U kSign = static_cast<U>(U(1) << (sizeof(U) * 8 - 1));

  /** x with NaNs made canonical (the keys of CUB's own floating-point sort). */
  __host__ __device__ __forceinline__ U canonical(U x) const {
    if (kind == KeyKind::kFloat && static_cast<U>(x & static_cast<U>(~kSign)) > inf) return nan;
    return x;
  }

  /** Unsigned order key of the element bits x. */
  __host__ __device__ __forceinline__ U encode(U x) const {
    switch (kind) {
      case KeyKind::kSigned: return static_cast<U>(x ^ kSign);
      case KeyKind::kFloat: return float_key(x, inf, nan, zero);
      case KeyKind::kComplex:
        if constexpr (sizeof(U) == 8) {
          const uint32_t re = static_cast<uint32_t>(x), im = static_cast<uint32_t>(x >> 32);
          const uint32_t kre = float_key<uint32_t>(re, 0x7f800000u, 0x7fc00000u, zero);
          const uint32_t kim = float_key<uint32_t>(im, 0x7f800000u, 0x7fc00000u, zero);
          return static_cast<U>((uint64_t(kre) << 32) | kim);
        }
        return x;
      default: return x;
    }
  }

  /** Element bits of the key k (kComplex keys are not decoded: those sorts gather). */
  __host__ __device__ __forceinline__ U decode(U k) const {
    switch (kind) {
      case KeyKind::kSigned: return static_cast<U>(k ^ kSign);
      case KeyKind::kFloat: return (k & kSign) ? static_cast<U>(k & static_cast<U>(~kSign)) : static_cast<U>(~k);
      default: return k;
    }
  }

  // IEEE bits -> key: NaN canonical (and -0 -> +0 if asked), then negatives complemented and
  // the sign bit set on the rest.
  template <typename B>
  __host__ __device__ __forceinline__ static B float_key(B x, B inf_bits, B nan_bits, bool canon_zero) {
    constexpr B sign = static_cast<B>(B(1) << (sizeof(B) * 8 - 1));
    const B mag = static_cast<B>(x & static_cast<B>(~sign));
    if (mag > inf_bits) x = nan_bits;
    else if (canon_zero && mag == 0) x = 0;
    return (x & sign) ? static_cast<B>(~x) : static_cast<B>(x | sign);
  }
};

}  // namespace mica::cu
