// Element helpers shared by the CUDA reductions, scans and comparisons: NaN tests, the order
// complex numbers compare in (real part, then imaginary part, as on the CPU), the identities of
// max and min, and the sum/prod/max/min combiners (the CPU's, mica/backend/cpu/reduce.h).
#pragma once
#include <cuda/std/limits>
#include <type_traits>

#include "mica/backend/cuda/device/types.cuh"

namespace mica::cu {

template <typename T>
__device__ __forceinline__ bool is_nan(T x) {
  if constexpr (std::is_floating_point_v<T>) return x != x;
  else return false;
}

/** a > b; complex numbers compare by real part, then imaginary part. */
template <typename T>
__device__ __forceinline__ bool greater(T a, T b) {
  if constexpr (is_complex_v<T>) return a.real() > b.real() || (a.real() == b.real() && a.imag() > b.imag());
  else return a > b;
}

/** The identity of max: false, -inf (both parts for complex) or the lowest integer. */
template <typename A>
__device__ __forceinline__ A lowest() {
  if constexpr (std::is_same_v<A, bool>) return false;
  else if constexpr (is_complex_v<A>) return A(-cuda::std::numeric_limits<float>::infinity(), -cuda::std::numeric_limits<float>::infinity());
  else if constexpr (std::is_floating_point_v<A>) return -cuda::std::numeric_limits<A>::infinity();
  else return cuda::std::numeric_limits<A>::lowest();
}

/** The identity of min: true, +inf (both parts for complex) or the highest integer. */
template <typename A>
__device__ __forceinline__ A highest() {
  if constexpr (std::is_same_v<A, bool>) return true;
  else if constexpr (is_complex_v<A>) return A(cuda::std::numeric_limits<float>::infinity(), cuda::std::numeric_limits<float>::infinity());
  else if constexpr (std::is_floating_point_v<A>) return cuda::std::numeric_limits<A>::infinity();
  else return cuda::std::numeric_limits<A>::max();
}

template <typename T>
struct SumOp {
  using A = T;
  __device__ static A init() { return A(0); }
  __device__ A operator()(A a, A b) const { return a + b; }
};
template <typename T>
struct ProdOp {
  using A = T;
  __device__ static A init() { return A(1); }
  __device__ A operator()(A a, A b) const {
    if constexpr (std::is_same_v<A, bool>) return a && b;
    else return a * b;
  }
};
/** Max and Min propagate NaN; on bool they are Or and And. */
template <typename T>
struct MaxOp {
  using A = T;
  __device__ static A init() { return lowest<A>(); }
  __device__ A operator()(A a, A b) const {
    if constexpr (std::is_same_v<A, bool>) return a || b;
    else return (is_nan(a) || greater(a, b)) ? a : b;
  }
};
template <typename T>
struct MinOp {
  using A = T;
  __device__ static A init() { return highest<A>(); }
  __device__ A operator()(A a, A b) const {
    if constexpr (std::is_same_v<A, bool>) return a && b;
    else return (is_nan(a) || greater(b, a)) ? a : b;
  }
};

}  // namespace mica::cu
