// Device helpers of the row-norm kernels (backend/cuda/fused.cu): a row of n elements split
// into 16-byte chunks dealt round-robin to a group of G threads, chunk loads and stores (vector
// accesses when the row is aligned, element by element otherwise), streaming over a long row,
// sums over a group of threads, and the norms' arithmetic on one chunk.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "mica/backend/cuda/device/elementwise.cuh"
#include "mica/backend/cuda/device/types.cuh"

namespace mica::cu::rows {

/** The type a row of T is computed in: double for float64, float otherwise. */
template <typename T>
using C_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

/** Elements of T in one chunk (one 16-byte vector). */
template <typename T>
inline constexpr int W = vec_width<T>;

template <typename T>
using Chunk = Vec<T, W<T>>;

/** The chunk of p starting at element c0 (< n): one vector load when `vec` (n % W == 0 and p
 * 16-byte aligned), else element by element, zeros past n. I: int or int64_t. */
template <typename T, typename I>
__device__ __forceinline__ Chunk<T> load_chunk(const T* __restrict__ p, I c0, I n, bool vec) {
  if (vec) return *reinterpret_cast<const Chunk<T>*>(p + c0);
  Chunk<T> r{};
#pragma unroll
  for (int w = 0; w < W<T>; ++w) {
    if (c0 + w < n) r.v[w] = p[c0 + w];
  }
  return r;
}

/** Writes the elements of chunk v that lie before n at p + c0. */
template <typename T, typename I>
__device__ __forceinline__ void store_chunk(T* __restrict__ p, I c0, I n, bool vec, const Chunk<T>& v) {
  if (vec) {
    *reinterpret_cast<Chunk<T>*>(p + c0) = v;
    return;
  }
#pragma unroll
  for (int w = 0; w < W<T>; ++w) {
    if (c0 + w < n) p[c0 + w] = v.v[w];
  }
}

/** Thread `lane` of a group of G holds chunks k*G + lane, k < NV, of the row at p (zeros for
 * chunks past the row, or when !live); rows this short index in int. */
template <typename T, int NV>
__device__ __forceinline__ void load_row(const T* __restrict__ p, int n, int lane, int G, bool vec, bool live,
                                         Chunk<T> (&r)[NV]) {
#pragma unroll
  for (int k = 0; k < NV; ++k) {
    const int c0 = (k * G + lane) * W<T>;
    r[k] = live && c0 < n ? load_chunk(p, c0, n, vec) : Chunk<T>{};
  }
}

/** Sums each of v[0..N) over groups of G (1..1024, a power of two, block-uniform) consecutive
 * threads; every thread of a group gets the same sums. Every thread of the block must call it.
 * sm: N values per warp of the block. */
template <int N, typename C>
__device__ __forceinline__ void group_sum(C (&v)[N], int G, C* sm) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    if (o < G) {
#pragma unroll
      for (int k = 0; k < N; ++k) v[k] += __shfl_xor_sync(0xffffffffu, v[k], o);
    }
  }
  if (G > 32) {
    const int warp = threadIdx.x / 32, wpg = G / 32, first = warp - warp % wpg;
    __syncthreads();  // an earlier call may still be reading sm
    if (threadIdx.x % 32 == 0) {
#pragma unroll
      for (int k = 0; k < N; ++k) sm[warp * N + k] = v[k];
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < N; ++k) {
      C s = sm[first * N + k];
      for (int j = 1; j < wpg; ++j) s += sm[(first + j) * N + k];
      v[k] = s;
    }
  }
}

/** Adds one chunk's elements to s (those past n are loaded as zeros). */
template <typename T, typename C>
__device__ __forceinline__ void add_sum(const Chunk<T>& xv, C& s) {
#pragma unroll
  for (int e = 0; e < W<T>; ++e) s += cast<C>(xv.v[e]);
}

/** Adds one chunk's terms of a row's second sums (elements c0 .. before n), d = x - mean:
 * s[0] += d^2 and, for the backward pass (N = 3, t = g w or g without a weight), s[1] += t and
 * s[2] += t d. */
template <int N, typename T, typename I, typename C>
__device__ __forceinline__ void add_deviations(const Chunk<T>& xv, const Chunk<T>& gv, const Chunk<T>& wv, bool has_w,
                                               I c0, I n, C mean, C (&s)[N]) {
#pragma unroll
  for (int e = 0; e < W<T>; ++e) {
    const C d = cast<C>(xv.v[e]) - mean;
    if (c0 + e < n) s[0] += d * d;
    if constexpr (N == 3) {
      const C gg = cast<C>(gv.v[e]);
      const C t = has_w ? gg * cast<C>(wv.v[e]) : gg;  // 0 past n: g is loaded as zeros there
      s[1] += t;
      s[2] += t * d;
    }
  }
}

/** Calls f(chunks, c0) for every chunk of the A rows ps[a] (n elements each) dealt to thread
 * `lane` of G (chunks lane, lane + G, ...), with up to 16 float values of chunks in flight. */
template <int A, typename T, typename F>
__device__ __forceinline__ void for_chunks(const T* const (&ps)[A], int64_t n, bool vec, int lane, int G, F&& f) {
  constexpr int kFloats = A * W<T> * (sizeof(T) < 4 ? 1 : int(sizeof(T)) / 4);
  constexpr int kUnroll = kFloats >= 16 ? 1 : 16 / kFloats;
  const int64_t nc = (n + W<T> - 1) / W<T>;
  for (int64_t c = lane; c < nc; c += int64_t(kUnroll) * G) {
    Chunk<T> r[kUnroll][A];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t ci = c + int64_t(u) * G;
#pragma unroll
      for (int a = 0; a < A; ++a) r[u][a] = ci < nc ? load_chunk(ps[a], ci * W<T>, n, vec) : Chunk<T>{};
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t ci = c + int64_t(u) * G;
      if (ci < nc) f(r[u], ci * W<T>);
    }
  }
}

// ---- per-chunk arithmetic of the norms (xhat = (x - mean) r, mean 0 for RMS norm) ----

// y = (x - mean) r * w + b for one chunk (mean 0 for RMS norm); wgt, bia may be null.
template <typename T, typename I, typename C>
__device__ __forceinline__ Chunk<T> affine_chunk(const Chunk<T>& xv, const T* __restrict__ wgt,
                                                 const T* __restrict__ bia, I c0, I n, bool vec, C mean, C rstd) {
  Chunk<T> wv{}, bv{}, o;
  if (wgt) wv = load_chunk(wgt, c0, n, vec);
  if (bia) bv = load_chunk(bia, c0, n, vec);
#pragma unroll
  for (int e = 0; e < W<T>; ++e) {
    C v = (cast<C>(xv.v[e]) - mean) * rstd;
    if (wgt) v = v * cast<C>(wv.v[e]);
    if (bia) v = v + cast<C>(bv.v[e]);
    o.v[e] = cast<T>(v);
  }
  return o;
}

// The backward pass of one chunk, c0 < n, with xhat = (x - mean) r and t = g w (g without a
// weight): returns dx = r (t - st - xhat stx) and, when `acc` (a live row), adds g xhat into
// the running column sums aw[c0 ..] and g into ab[c0 ..] when `bias` (16 bytes at a time when
// `vec`: aw + c0, ab + c0 are then aligned; element by element up to n otherwise).
template <typename T, typename I, typename C>
__device__ __forceinline__ Chunk<T> grad_chunk(const Chunk<T>& xv, const Chunk<T>& gv, const Chunk<T>& wv, bool has_w,
                                               I c0, I n, bool vec, C mean, C rstd, C st, C stx, C* aw, C* ab,
                                               bool acc, bool bias) {
  constexpr int U = 16 / sizeof(C);
  Chunk<T> o;
#pragma unroll
  for (int q = 0; q < W<T> / U; ++q) {
    cu::Vec<C, U> sw{}, sb{};
    if (acc && vec) {
      sw = reinterpret_cast<cu::Vec<C, U>*>(aw + c0)[q];
      if (bias) sb = reinterpret_cast<cu::Vec<C, U>*>(ab + c0)[q];
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int e = q * U + u;
      const C h = (cast<C>(xv.v[e]) - mean) * rstd;
      const C gg = cast<C>(gv.v[e]);
      const C t = has_w ? gg * cast<C>(wv.v[e]) : gg;
      o.v[e] = cast<T>(rstd * (t - st - h * stx));
      if (acc && !vec && c0 + e < n) {
        aw[c0 + e] += gg * h;
        if (bias) ab[c0 + e] += gg;
      }
      sw.v[u] += gg * h;
      sb.v[u] += gg;
    }
    if (acc && vec) {
      reinterpret_cast<cu::Vec<C, U>*>(aw + c0)[q] = sw;
      if (bias) reinterpret_cast<cu::Vec<C, U>*>(ab + c0)[q] = sb;
    }
  }
  return o;
}

/** Asks L2 for the 128-byte line holding p (no register waits for it). */
__device__ __forceinline__ void prefetch_l2(const void* p) { asm volatile("prefetch.global.L2 [%0];" ::"l"(p)); }

}  // namespace mica::cu::rows
