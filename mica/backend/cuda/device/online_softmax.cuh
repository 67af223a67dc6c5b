// Device pieces of the row kernels that reduce with a running maximum and a sum of
// exponentials (softmax, logsumexp, cross-entropy): the (max, sum) pair, its merge, a
// reduction over groups of threads, and the streamed walk over a row too long for registers. Matching the CPU on special values: the max ignores NaN,
// exp(x - m) is taken as 1 when x == m (so infinite maxima carry no inf - inf), and the sum is
// NaN exactly when a NaN was seen.
#pragma once
#include <cuda/std/limits>
#include <type_traits>

#include "mica/backend/cuda/device/elementwise.cuh"
#include "mica/backend/cuda/device/types.cuh"

namespace mica::cu {

__device__ __forceinline__ float fast_exp(float x) { return __expf(x); }
__device__ __forceinline__ double fast_exp(double x) { return exp(x); }

template <typename C>
__device__ __forceinline__ C inf() {
  return cuda::std::numeric_limits<C>::infinity();
}
template <typename C>
__device__ __forceinline__ C qnan() {
  return cuda::std::numeric_limits<C>::quiet_NaN();
}

// A running max (NaN ignored) and the sum of exp(x - max). exp(x - m) is taken as 1 when x == m,
// so infinite maxima carry no inf - inf: the sum is NaN exactly when a NaN was seen.
template <typename C>
struct MaxSum {
  C m, s;
};
template <typename C>
__device__ __forceinline__ C term(C x, C m) {
  return x == m ? C(1) : fast_exp(x - m);
}
template <typename C>
__device__ __forceinline__ MaxSum<C> merge(MaxSum<C> a, MaxSum<C> b) {
  C m = b.m > a.m ? b.m : a.m;
  return {m, a.s * term(a.m, m) + b.s * term(b.m, m)};
}

template <typename C>
__device__ __forceinline__ C shfl_xor(C v, int o) {
  return __shfl_xor_sync(0xffffffffu, v, o);
}
template <typename C>
__device__ __forceinline__ MaxSum<C> shfl_xor(MaxSum<C> v, int o) {
  return {__shfl_xor_sync(0xffffffffu, v.m, o), __shfl_xor_sync(0xffffffffu, v.s, o)};
}

// Combines v over groups of `gt` (32..1024, block-uniform) consecutive threads; every thread
// gets its group's result. sm: one V per warp of the block.
template <typename V, typename F>
__device__ __forceinline__ V group_all(V v, F f, int gt, V* sm) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = f(v, shfl_xor(v, o));
  if (gt > 32) {
    const int warp = threadIdx.x / 32, wpg = gt / 32, first = warp / wpg * wpg;
    __syncthreads();  // an earlier call may still be reading sm
    if (threadIdx.x % 32 == 0) sm[warp] = v;
    __syncthreads();
    v = sm[first];
    for (int k = 1; k < wpg; ++k) v = f(v, sm[first + k]);
  }
  return v;
}

template <typename C>
struct Plus {
  __device__ C operator()(C a, C b) const { return a + b; }
};
template <typename C>
struct Merge {
  __device__ MaxSum<C> operator()(MaxSum<C> a, MaxSum<C> b) const { return merge(a, b); }
};

template <typename C>
__device__ __forceinline__ C lse_of(MaxSum<C> ms) {
  if (ms.m == inf<C>() || ms.m == -inf<C>()) return ms.s != ms.s ? qnan<C>() : ms.m;
  return ms.m + log(ms.s);
}

/** The type a row kernel computes in: double for float64, float otherwise. */
template <typename T>
using row_compute_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

/** 16-byte loads in flight per thread in stream_row. */
inline constexpr int kRowUnroll = 4;

// Calls f(value, index) for p[0, n) split over the `G` threads of a block (this one is
// `lane`), kRowUnroll 16-byte vectors in flight when `vec`.
template <typename T, typename F>
__device__ __forceinline__ void stream_row(const T* __restrict__ p, int64_t n, bool vec, int lane, int G, F&& f) {
  using C = row_compute_t<T>;
  constexpr int W = vec_width<T>;
  if (vec) {
    const auto* v = reinterpret_cast<const Vec<T, W>*>(p);
    const int64_t nv = n / W;
    for (int64_t b = lane; b < nv; b += int64_t(kRowUnroll) * G) {
      Vec<T, W> r[kRowUnroll];
#pragma unroll
      for (int u = 0; u < kRowUnroll; ++u) {
        if (b + int64_t(u) * G < nv) r[u] = v[b + int64_t(u) * G];
      }
#pragma unroll
      for (int u = 0; u < kRowUnroll; ++u) {
        const int64_t i = b + int64_t(u) * G;
        if (i < nv) {
#pragma unroll
          for (int w = 0; w < W; ++w) f(cast<C>(r[u].v[w]), i * W + w);
        }
      }
    }
  } else {
    for (int64_t b = lane; b < n; b += int64_t(kRowUnroll) * G) {
      T r[kRowUnroll];
#pragma unroll
      for (int u = 0; u < kRowUnroll; ++u) {
        if (b + int64_t(u) * G < n) r[u] = p[b + int64_t(u) * G];
      }
#pragma unroll
      for (int u = 0; u < kRowUnroll; ++u) {
        if (b + int64_t(u) * G < n) f(cast<C>(r[u]), b + int64_t(u) * G);
      }
    }
  }
}

}  // namespace mica::cu
