// Device atomics for the scatters: an update combined into one element of any mica dtype with
// the CPU's scatter combiners (backend/cpu/indexing.cpp: x the current value, u the update).
// Native atomics where the hardware has them (add on 32/64-bit integers, float, double, half,
// bfloat16; max/min on 32/64-bit integers; or/and for bool), else a compare-and-swap loop on the
// element itself (32/64-bit types) or on the aligned 32-bit word holding it (8/16-bit types: the
// other bytes of the word are written back unchanged, atomically).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "mica/backend/cuda/device/elementwise.cuh"
#include "mica/backend/cuda/device/types.cuh"

namespace mica::cu {

enum class Combine { Sum, Prod, Max, Min };

namespace atomics_detail {

template <typename To, typename From>
__device__ __forceinline__ To bits(From x) {
  static_assert(sizeof(To) == sizeof(From));
  To r;
  memcpy(&r, &x, sizeof(To));
  return r;
}

template <typename T>
__device__ __forceinline__ bool nan_of(T x) {
  if constexpr (is_half_v<T>) return static_cast<float>(x) != static_cast<float>(x);
  else if constexpr (std::is_floating_point_v<T>) return x != x;
  else if constexpr (is_complex_v<T>) return x.real() != x.real() || x.imag() != x.imag();
  else return false;
}

// x < y; complex numbers compare by real part, then imaginary part.
template <typename T>
__device__ __forceinline__ bool less(T x, T y) {
  if constexpr (is_half_v<T>) return static_cast<float>(x) < static_cast<float>(y);
  else if constexpr (is_complex_v<T>) return x.real() < y.real() || (x.real() == y.real() && x.imag() < y.imag());
  else return x < y;
}

// Unsigned arithmetic of at least 32 bits: integer sums and products wrap without UB.
template <typename T>
using wrap_t = std::conditional_t<(sizeof(T) < 4), uint32_t, std::make_unsigned_t<T>>;

}  // namespace atomics_detail

/** The CPU's scatter combiners: Sum/Prod wrap on integers (or/and on bool), halves compute in
 * float; Max/Min let a NaN update in and keep a NaN already there. */
template <Combine C, typename T>
__device__ __forceinline__ T combine(T x, T u) {
  using namespace atomics_detail;
  if constexpr (C == Combine::Sum || C == Combine::Prod) {
    constexpr bool sum = C == Combine::Sum;
    if constexpr (std::is_same_v<T, bool>) {
      return sum ? (x || u) : (x && u);
    } else if constexpr (is_half_v<T>) {
      float a = static_cast<float>(x), b = static_cast<float>(u);
      return T(sum ? a + b : a * b);
    } else if constexpr (std::is_integral_v<T>) {
      using W = wrap_t<T>;
      return static_cast<T>(sum ? static_cast<W>(x) + static_cast<W>(u) : static_cast<W>(x) * static_cast<W>(u));
    } else {
      return sum ? x + u : x * u;
    }
  } else if constexpr (C == Combine::Max) {
    return (nan_of(u) || less(x, u)) ? u : x;
  } else {
    return (nan_of(u) || less(u, x)) ? u : x;
  }
}

/** *p = f(*p) atomically, by compare-and-swap (on the aligned 32-bit word for 1- and 2-byte T). */
template <typename T, typename F>
__device__ __forceinline__ void atomic_update(T* p, F f) {
  using namespace atomics_detail;
  if constexpr (sizeof(T) >= 4) {
    using W = std::conditional_t<sizeof(T) == 4, unsigned int, unsigned long long>;
    W* w = reinterpret_cast<W*>(p);
    W old = *w;
    while (true) {
      W nw = bits<W>(f(bits<T>(old)));
      if (nw == old) return;  // already the result (as of that read)
      W prev = atomicCAS(w, old, nw);
      if (prev == old) return;
      old = prev;
    }
  } else {
    using B = std::conditional_t<sizeof(T) == 1, uint8_t, uint16_t>;
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    unsigned int* w = reinterpret_cast<unsigned int*>(a & ~uintptr_t(3));
    const unsigned shift = static_cast<unsigned>(a & 3) * 8;
    const unsigned mask = (sizeof(T) == 1 ? 0xFFu : 0xFFFFu) << shift;
    unsigned old = *w;
    while (true) {
      B cur = static_cast<B>((old & mask) >> shift);
      unsigned nb = bits<B>(f(bits<T>(cur)));
      unsigned nw = (old & ~mask) | (nb << shift);
      if (nw == old) return;
      unsigned prev = atomicCAS(w, old, nw);
      if (prev == old) return;
      old = prev;
    }
  }
}

/** *p = combine<C>(*p, u) atomically. */
template <Combine C, typename T>
__device__ __forceinline__ void atomic_combine(T* p, T u) {
  if constexpr (std::is_same_v<T, bool>) {
    // Sum and Max are Or, Prod and Min are And: set or clear the byte inside its word.
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    unsigned int* w = reinterpret_cast<unsigned int*>(a & ~uintptr_t(3));
    const unsigned shift = static_cast<unsigned>(a & 3) * 8;
    if constexpr (C == Combine::Sum || C == Combine::Max) {
      if (u) atomicOr(w, 1u << shift);
    } else {
      if (!u) atomicAnd(w, ~(0xFFu << shift));
    }
  } else if constexpr (C == Combine::Sum && is_float_v<T>) {
    atomicAdd(p, u);
  } else if constexpr (C == Combine::Sum && is_complex_v<T>) {
    float* f = reinterpret_cast<float*>(p);
    atomicAdd(f, u.real());
    atomicAdd(f + 1, u.imag());
  } else if constexpr (C == Combine::Sum && std::is_integral_v<T> && sizeof(T) == 4) {
    atomicAdd(reinterpret_cast<unsigned int*>(p), static_cast<unsigned int>(u));
  } else if constexpr (C == Combine::Sum && std::is_integral_v<T> && sizeof(T) == 8) {
    atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(u));
  } else if constexpr ((C == Combine::Max || C == Combine::Min) && std::is_integral_v<T> && sizeof(T) >= 4) {
    using A = std::conditional_t<sizeof(T) == 4, std::conditional_t<std::is_signed_v<T>, int, unsigned int>,
                                 std::conditional_t<std::is_signed_v<T>, long long, unsigned long long>>;
    if constexpr (C == Combine::Max) atomicMax(reinterpret_cast<A*>(p), static_cast<A>(u));
    else atomicMin(reinterpret_cast<A*>(p), static_cast<A>(u));
  } else {
    atomic_update(p, [u](T x) { return combine<C>(x, u); });
  }
}

/** Adds the W elements of v to p[0, W) (16 bytes, 16-byte aligned, global memory), each
 * element atomically: one vector reduction on sm_90 for float, half and bfloat16. */
template <typename T, int W>
__device__ __forceinline__ void atomic_add_vec(T* p, const Vec<T, W>& v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  constexpr bool kRed = (std::is_same_v<T, float> && W == 4) || (is_half_v<T> && W == 8);
#else
  constexpr bool kRed = false;
#endif
  if constexpr (kRed) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    const size_t g = __cvta_generic_to_global(p);
    if constexpr (std::is_same_v<T, float>) {
      asm volatile("red.global.add.v4.f32 [%0], {%1, %2, %3, %4};" ::"l"(g), "f"(v.v[0]), "f"(v.v[1]), "f"(v.v[2]),
                   "f"(v.v[3])
                   : "memory");
    } else if constexpr (std::is_same_v<T, __half>) {
      const uint4 r = atomics_detail::bits<uint4>(v);
      asm volatile("red.global.add.noftz.v4.f16x2 [%0], {%1, %2, %3, %4};" ::"l"(g), "r"(r.x), "r"(r.y), "r"(r.z),
                   "r"(r.w)
                   : "memory");
    } else {
      const uint4 r = atomics_detail::bits<uint4>(v);
      asm volatile("red.global.add.noftz.v4.bf16x2 [%0], {%1, %2, %3, %4};" ::"l"(g), "r"(r.x), "r"(r.y), "r"(r.z),
                   "r"(r.w)
                   : "memory");
    }
#endif
  } else {
#pragma unroll
    for (int k = 0; k < W; ++k) atomic_combine<Combine::Sum>(p + k, v.v[k]);
  }
}

}  // namespace mica::cu
