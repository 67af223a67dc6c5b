// CUDA kernels of the fused family's norms (backend/cpu/fused.cpp's twin): LayerNorm and
// RMSNorm and their backward passes LayerNormVjp and RMSNormVjp (Gelu and AdamStep: in
// fused_elementwise.cu).
//
// Norms: x, g (the output's cotangent), y, dx: (rows, n) row-major (copied when not); weight,
// bias: (n,) (copied when not contiguous). Half types compute in float, float64 in double. One
// kernel serves both norms: RMS norm is layer norm with the mean fixed at 0, and its backward
// pass drops the mean(t) term (x r^2 mean(t x) = xhat mean(t xhat) with xhat = x r).
// - A row's statistics are sums over its group of threads (shuffles, then shared memory across
//   warps, in a fixed order), in two rounds as on the CPU: the mean, then the squared
//   deviations from it (backward: with sum t and sum t (x - mean), t = g w, in the same round;
//   RMS norm skips the first round). A single round merging per-thread means (Chan's update)
//   was tried: the divisions of its merges, 32 in a row across the warps of a 1024-thread
//   group, made the f32 backward twice as slow.
// - Rows that fit in registers (forward: 512 threads x 32 elements, 16K (float64 2K); backward,
//   x and g both held: 1024 x 8, 8K (float64 2K, halves 16K) are read once by a group of
//   1..512 (1024) threads, several rows per block when short; the output is written from the
//   registers. Every kernel stays within 64 registers a thread (more elements a thread spill).
// - Longer rows stream through a block of 1024 threads: a read per round of sums and one for
//   the output (mostly from L2).
// - dweight and dbias are column sums over the rows. The backward grid is persistent (as many
//   blocks as fit on the GPU at once, one row in flight per group, the next one prefetched to
//   L2); each block adds g xhat and g of its rows into running sums of its own (shared memory;
//   global memory for long rows), written as one row of partial sums per block; a second kernel
//   adds the partial rows in a fixed order: deterministic, no atomics.
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "mica/backend/cuda/copy.h"
#include "mica/backend/cuda/device/dispatch_float.cuh"
#include "mica/backend/cuda/device/elementwise.cuh"
#include "mica/backend/cuda/device/norm_rows.cuh"
#include "mica/backend/cuda/device/types.cuh"
#include "mica/backend/cuda/utils.h"
#include "mica/primitives/fused.h"

namespace mica {

namespace {
using cu::dispatch_float;
using cu::cast;
using cu::rows::affine_chunk;
using cu::rows::C_t;
using cu::rows::add_deviations;
using cu::rows::add_sum;
using cu::rows::Chunk;
using cu::rows::for_chunks;
using cu::rows::grad_chunk;
using cu::rows::group_sum;
using cu::rows::load_chunk;
using cu::rows::load_row;
using cu::rows::prefetch_l2;
using cu::rows::store_chunk;
template <typename T>
constexpr int W = cu::rows::W<T>;

constexpr int kMinBlock = 256;     // threads per block of the register kernels, at least
constexpr int kFwdMaxGroup = 512;  // threads per row: forward register kernel
constexpr int kMaxGroup = 1024;    // threads per row: backward register kernel, streaming kernels
// Chunks per thread held in registers (at most 64 registers a thread): forward 32 elements (4
// float64); backward 2 chunks of x and 2 of g (8 floats, 16 halves or 2 float64 each).
template <typename T>
constexpr int kFwdNV = std::is_same_v<T, double> ? 2 : 32 / W<T>;
template <typename T>
constexpr int kBwdNV = std::is_same_v<T, double> ? 1 : 2;
// The same for rows not in 16-byte chunks (their element-wise loads and stores take more
// registers: 2 chunks of halves would spill).
template <typename T>
constexpr int kBwdScalarNV = cu::is_half_v<T> ? 1 : kBwdNV<T>;
// Static shared memory of norm_bwd_reg (its sm array), beside the dynamic running sums.
template <typename T>
constexpr size_t kBwdStaticSmem = 3 * kMaxGroup / 32 * sizeof(std::conditional_t<std::is_same_v<T, double>, double, float>);

// ---- forward ----

// x, y: (rows, n) row-major; wgt, bia: (n,) or null. Groups of G = 2^gl threads (1..512) per
// row, blockDim / G rows per block; thread `lane` of a group holds chunks k G + lane, k < NV.
template <typename T, int NV>
__global__ void __launch_bounds__(kFwdMaxGroup, 2)
    norm_fwd_reg(const T* __restrict__ x, const T* __restrict__ wgt, const T* __restrict__ bia, T* __restrict__ y,
                 int64_t rows, int n, int gl, bool vec, bool rms, C_t<T> eps) {
  using C = C_t<T>;
  __shared__ C sm[kFwdMaxGroup / 32];
  const int G = 1 << gl, lane = threadIdx.x & (G - 1), R = blockDim.x >> gl;
  for (int64_t base = int64_t(blockIdx.x) * R; base < rows; base += int64_t(gridDim.x) * R) {
    const int64_t row = base + (threadIdx.x >> gl);
    const bool live = row < rows;
    const int64_t off = live ? row * n : 0;
    Chunk<T> r[NV];
    load_row(x + off, n, lane, G, vec, live, r);
    C s[1] = {C(0)};
    C mean = 0;
    if (!rms) {
#pragma unroll
      for (int k = 0; k < NV; ++k) add_sum(r[k], s[0]);
      group_sum(s, G, sm);
      mean = s[0] / static_cast<C>(n);
      s[0] = 0;
    }
#pragma unroll
    for (int k = 0; k < NV; ++k) add_deviations(r[k], r[k], r[k], false, (k * G + lane) * W<T>, n, mean, s);
    group_sum(s, G, sm);
    const C rstd = C(1) / sqrt(s[0] / static_cast<C>(n) + eps);
    if (!live) continue;
    T* yr = y + off;
#pragma unroll
    for (int k = 0; k < NV; ++k) {
      const int c0 = (k * G + lane) * W<T>;
      if (c0 < n) store_chunk(yr, c0, n, vec, affine_chunk(r[k], wgt, bia, c0, n, vec, mean, rstd));
    }
  }
}

// As norm_fwd_reg for long rows: one block (1024 threads) per row at a time, three reads.
template <typename T>
__global__ void __launch_bounds__(kMaxGroup, 1)
    norm_fwd_stream(const T* __restrict__ x, const T* __restrict__ wgt, const T* __restrict__ bia, T* __restrict__ y,
                    int64_t rows, int64_t n, bool vec, bool rms, C_t<T> eps) {
  using C = C_t<T>;
  __shared__ C sm[kMaxGroup / 32];
  const int G = blockDim.x, lane = threadIdx.x;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* const px[1] = {x + row * n};
    C s[1] = {C(0)};
    C mean = 0;
    if (!rms) {
      for_chunks(px, n, vec, lane, G, [&](const Chunk<T>(&v)[1], int64_t) { add_sum(v[0], s[0]); });
      group_sum(s, G, sm);
      mean = s[0] / static_cast<C>(n);
      s[0] = 0;
    }
    for_chunks(px, n, vec, lane, G,
               [&](const Chunk<T>(&v)[1], int64_t c0) { add_deviations(v[0], v[0], v[0], false, c0, n, mean, s); });
    group_sum(s, G, sm);
    const C rstd = C(1) / sqrt(s[0] / static_cast<C>(n) + eps);
    T* py = y + row * n;
    for_chunks(px, n, vec, lane, G, [&](const Chunk<T>(&v)[1], int64_t c0) {
      store_chunk(py, c0, n, vec, affine_chunk(v[0], wgt, bia, c0, n, vec, mean, rstd));
    });
  }
}

// ---- backward ----

// x, g, dx: (rows, n) row-major; wgt: (n,) or null; pw, pb: (gridDim.x, n) partial sums of
// g xhat and (layer norm) of g, one row per block. Groups as in norm_fwd_reg (1..1024 threads);
// the grid is persistent: block i takes rows i R .. i R + R - 1, then every (gridDim.x R)-th.
// Dynamic shared memory: the block's running sums, (R, n) of each, then the weight (n,) (read
// from there: the compiler keeps no copy of it in registers across the row's sums). Vec: rows
// in 16-byte chunks (a template argument: the element-wise paths compiled beside the vector
// ones would take registers enough to spill).
template <typename T, int NV, bool Vec>
__global__ void __launch_bounds__(kMaxGroup, 1)
    norm_bwd_reg(const T* __restrict__ x, const T* __restrict__ wgt_g, const T* __restrict__ g, T* __restrict__ dx,
                 C_t<T>* __restrict__ pw, C_t<T>* __restrict__ pb, int64_t rows, int n, int gl, bool rms, C_t<T> eps) {
  constexpr bool vec = Vec;
  using C = C_t<T>;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __shared__ C sm[3 * kMaxGroup / 32];
  const int G = 1 << gl, lane = threadIdx.x & (G - 1), R = blockDim.x >> gl, sub = threadIdx.x >> gl;
  C* aw = reinterpret_cast<C*>(smem_raw);
  C* ab = aw + R * n;
  const int nacc = R * n * (rms ? 1 : 2);
  for (int i = threadIdx.x; i < nacc; i += blockDim.x) aw[i] = C(0);
  const bool has_w = wgt_g != nullptr;
  T* wgt = reinterpret_cast<T*>(aw + nacc);
  if (has_w) {
    for (int i = threadIdx.x; i < n; i += blockDim.x) wgt[i] = wgt_g[i];
  }
  __syncthreads();
  C* mw = aw + sub * n;
  C* mb = ab + sub * n;
  const int64_t step = int64_t(gridDim.x) * R;
  for (int64_t base = int64_t(blockIdx.x) * R; base < rows; base += step) {
    const int64_t row = base + sub;
    const bool live = row < rows;
    const int64_t off = live ? row * n : 0;
    Chunk<T> xr[NV], gr[NV];
    load_row(x + off, n, lane, G, vec, live, xr);
    load_row(g + off, n, lane, G, vec, live, gr);
    // The next row of this thread heads for L2 while this one's sums run.
    if (row + step < rows) {
      const T* nx = x + off + step * n;
      const T* ng = g + off + step * n;
#pragma unroll
      for (int k = 0; k < NV; ++k) {
        const int c0 = (k * G + lane) * W<T>;
        if (c0 < n) {
          prefetch_l2(nx + c0);
          prefetch_l2(ng + c0);
        }
      }
    }
    C mean = 0;
    if (!rms) {
      C s1[1] = {C(0)};
#pragma unroll
      for (int k = 0; k < NV; ++k) add_sum(xr[k], s1[0]);
      group_sum(s1, G, sm);
      mean = s1[0] / static_cast<C>(n);
    }
    C s[3] = {C(0), C(0), C(0)};
#pragma unroll
    for (int k = 0; k < NV; ++k) {
      const int c0 = (k * G + lane) * W<T>;
      const Chunk<T> wv = has_w && c0 < n ? load_chunk(wgt, c0, n, vec) : Chunk<T>{};
      add_deviations(xr[k], gr[k], wv, has_w, c0, n, mean, s);
    }
    group_sum(s, G, sm);
    if (!live) continue;
    const C rstd = C(1) / sqrt(s[0] / static_cast<C>(n) + eps);
    const C mt = rms ? C(0) : s[1] / static_cast<C>(n), mtx = rstd * s[2] / static_cast<C>(n);
    T* dxr = dx + off;
#pragma unroll
    for (int k = 0; k < NV; ++k) {
      const int c0 = (k * G + lane) * W<T>;
      if (c0 >= n) continue;
      const Chunk<T> wv = has_w ? load_chunk(wgt, c0, n, vec) : Chunk<T>{};
      store_chunk(dxr, c0, n, vec, grad_chunk(xr[k], gr[k], wv, has_w, c0, n, vec, mean, rstd, mt, mtx, mw, mb, true, !rms));
    }
  }
  __syncthreads();
  // The block's partial row: its R running sums added in order.
  for (int c = threadIdx.x; c < n; c += blockDim.x) {
    C a = 0, b = 0;
    for (int r = 0; r < R; ++r) {
      a += aw[r * n + c];
      if (!rms) b += ab[r * n + c];
    }
    pw[int64_t(blockIdx.x) * n + c] = a;
    if (!rms) pb[int64_t(blockIdx.x) * n + c] = b;
  }
}

// As norm_bwd_reg for long rows: one block (1024 threads) per row at a time, the running sums
// in pw, pb (zeroed before; thread i always owns the same columns).
template <typename T>
__global__ void __launch_bounds__(kMaxGroup, 1)
    norm_bwd_stream(const T* __restrict__ x, const T* __restrict__ wgt, const T* __restrict__ g, T* __restrict__ dx,
                    C_t<T>* __restrict__ pw, C_t<T>* __restrict__ pb, int64_t rows, int64_t n, bool vec, bool rms,
                    C_t<T> eps) {
  using C = C_t<T>;
  __shared__ C sm[3 * kMaxGroup / 32];
  const int G = blockDim.x, lane = threadIdx.x;
  C* mw = pw + int64_t(blockIdx.x) * n;
  C* mb = rms ? mw : pb + int64_t(blockIdx.x) * n;
  const bool has_w = wgt != nullptr;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* const pxg[2] = {x + row * n, g + row * n};
    C mean = 0;
    if (!rms) {
      const T* const px[1] = {x + row * n};
      C s1[1] = {C(0)};
      for_chunks(px, n, vec, lane, G, [&](const Chunk<T>(&v)[1], int64_t) { add_sum(v[0], s1[0]); });
      group_sum(s1, G, sm);
      mean = s1[0] / static_cast<C>(n);
    }
    C s[3] = {C(0), C(0), C(0)};
    for_chunks(pxg, n, vec, lane, G, [&](const Chunk<T>(&v)[2], int64_t c0) {
      const Chunk<T> wv = has_w ? load_chunk(wgt, c0, n, vec) : Chunk<T>{};
      add_deviations(v[0], v[1], wv, has_w, c0, n, mean, s);
    });
    group_sum(s, G, sm);
    const C rstd = C(1) / sqrt(s[0] / static_cast<C>(n) + eps);
    const C mt = rms ? C(0) : s[1] / static_cast<C>(n), mtx = rstd * s[2] / static_cast<C>(n);
    T* pd = dx + row * n;
    for_chunks(pxg, n, vec, lane, G, [&](const Chunk<T>(&v)[2], int64_t c0) {
      const Chunk<T> wv = has_w ? load_chunk(wgt, c0, n, vec) : Chunk<T>{};
      store_chunk(pd, c0, n, vec, grad_chunk(v[0], v[1], wv, has_w, c0, n, vec, mean, rstd, mt, mtx, mw, mb, true, !rms));
    });
  }
}

// part0, part1: (P, n) row-major partial sums; out0, out1: (n,) their column sums (blockIdx.y
// picks the pair; P = 0 gives zeros). Block (32, 8): 32 columns, each of the 8 thread rows adds
// every 8th partial row, then the 8 sums are added in order.
template <typename T>
__global__ void col_sum(const C_t<T>* __restrict__ part0, T* __restrict__ out0, const C_t<T>* __restrict__ part1,
                        T* __restrict__ out1, int64_t P, int64_t n) {
  using C = C_t<T>;
  __shared__ C sm[8][33];
  const C* p = blockIdx.y == 0 ? part0 : part1;
  T* o = blockIdx.y == 0 ? out0 : out1;
  const int64_t c = int64_t(blockIdx.x) * 32 + threadIdx.x;
  C s = 0;
  if (c < n) {
    for (int64_t i = threadIdx.y; i < P; i += 8) s += p[i * n + c];
  }
  sm[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < n) {
    C t = sm[0][threadIdx.x];
    for (int j = 1; j < 8; ++j) t += sm[j][threadIdx.x];
    o[c] = cast<T>(t);
  }
}

// ---- host side of the norms ----

// True if rows of n elements of T allow 16-byte chunks at every (non-null) pointer.
template <typename T>
bool chunked(int64_t n, std::initializer_list<const void*> ps) {
  if (n % W<T> != 0) return false;
  for (const void* p : ps) {
    if (p && !cu::aligned<T, W<T>>(p)) return false;
  }
  return true;
}

// The smallest group (2^gl threads) holding `chunks` chunks at most nv_max per thread, and the
// chunks per thread it then needs.
std::pair<int, int> group_for(int64_t chunks, int nv_max) {
  int gl = 0;
  while ((int64_t(nv_max) << gl) < chunks) ++gl;
  return {gl, static_cast<int>((chunks + (int64_t(1) << gl) - 1) >> gl)};
}

// Blocks of `kernel` resident on the whole GPU at once.
template <typename K>
int64_t resident_blocks(K kernel, int block, size_t smem) {
  int per_sm = 0;
  MICA_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, block, smem));
  return int64_t(std::max(per_sm, 1)) * cu::sm_count();
}

size_t max_shared_per_block() {
  int dev = 0, bytes = 0;
  MICA_CUDA_CHECK(cudaGetDevice(&dev));
  MICA_CUDA_CHECK(cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  return static_cast<size_t>(bytes);
}

struct NormArgs {
  const char* name;
  bool rms;
  float eps;
};

template <typename T, int NV>
void launch_fwd(cudaStream_t cs, const T* x, const T* w, const T* b, T* y, int64_t rows, int64_t n, int gl, bool vec,
                const NormArgs& a) {
  const int G = 1 << gl, block = std::max(G, kMinBlock), R = block / G;
  const int64_t blocks = std::min<int64_t>((rows + R - 1) / R, INT_MAX);
  norm_fwd_reg<T, NV><<<static_cast<unsigned>(blocks), block, 0, cs>>>(x, w, b, y, rows, static_cast<int>(n), gl, vec, a.rms,
                                                                       static_cast<C_t<T>>(a.eps));
}

// x, out: (rows, n) row-major, n > 0; w, b: (n,) contiguous or null.
template <typename T>
void norm_forward(const Stream& s, const array& x, const array* w, const array* b, array& out, const NormArgs& a) {
  const int64_t n = x.shape().back(), rows = static_cast<int64_t>(x.size()) / n;
  cudaStream_t cs = cu::stream(s);
  const T* px = cu::ptr<const T>(x);
  const T* pw = w ? cu::ptr<const T>(*w) : nullptr;
  const T* pb = b ? cu::ptr<const T>(*b) : nullptr;
  T* py = cu::ptr<T>(out);
  const bool vec = chunked<T>(n, {px, pw, pb, py});
  const int64_t chunks = (n + W<T> - 1) / W<T>;
  constexpr int NVmax = kFwdNV<T>;
  if (chunks > int64_t(kFwdMaxGroup) * NVmax) {
    const int64_t blocks = std::min<int64_t>(rows, INT_MAX);
    norm_fwd_stream<T><<<static_cast<unsigned>(blocks), kMaxGroup, 0, cs>>>(px, pw, pb, py, rows, n, vec, a.rms,
                                                                            static_cast<C_t<T>>(a.eps));
  } else {
    auto [gl, per] = group_for(chunks, NVmax);
    if (per <= 1) launch_fwd<T, 1>(cs, px, pw, pb, py, rows, n, gl, vec, a);
    else if (per <= 2) launch_fwd<T, 2>(cs, px, pw, pb, py, rows, n, gl, vec, a);
    else if constexpr (NVmax >= 4) {
      if (per <= 4) launch_fwd<T, 4>(cs, px, pw, pb, py, rows, n, gl, vec, a);
      else if constexpr (NVmax == 8) launch_fwd<T, 8>(cs, px, pw, pb, py, rows, n, gl, vec, a);
    }
  }
  cu::check_launch(a.name);
}

// The pointers of one backward pass.
template <typename T>
struct Bwd {
  const T *x, *w, *g;
  T *dx, *dw, *db;  // db null for RMS norm
  int64_t rows, n;
  bool vec;
};

// Adds the P partial rows of part (P, n) [, then (P, n) more for db] into dw [and db].
template <typename T>
void finish_columns(cudaStream_t cs, const Bwd<T>& b, const C_t<T>* part, int64_t P, const NormArgs& a) {
  const dim3 grid(static_cast<unsigned>((b.n + 31) / 32), a.rms ? 1 : 2);
  col_sum<T><<<grid, dim3(32, 8), 0, cs>>>(part, b.dw, part ? part + P * b.n : nullptr, b.db, P, b.n);
  cu::check_launch(a.name);
}

template <typename T, int NV>
void backward_reg(const Stream& s, const Bwd<T>& b, int gl, size_t smem, const NormArgs& a) {
  using C = C_t<T>;
  cudaStream_t cs = cu::stream(s);
  const int G = 1 << gl, block = std::max(G, kMinBlock), R = block / G;
  auto kernel = norm_bwd_reg<T, NV, true>;
  if constexpr (kBwdScalarNV<T> >= NV) {
    if (!b.vec) kernel = norm_bwd_reg<T, NV, false>;
  }
  // The kernel's static shared memory counts against the same 48 KiB default limit.
  if (smem + kBwdStaticSmem<T> > 48 * 1024) {
    MICA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  }
  const int64_t P = std::min((b.rows + R - 1) / R, resident_blocks(kernel, block, smem));
  cu::Scratch part(static_cast<size_t>(P * b.n * (a.rms ? 1 : 2)) * sizeof(C), s);
  C* pw = static_cast<C*>(part.get());
  kernel<<<static_cast<unsigned>(P), block, smem, cs>>>(b.x, b.w, b.g, b.dx, pw, pw + P * b.n, b.rows,
                                                        static_cast<int>(b.n), gl, a.rms, static_cast<C>(a.eps));
  cu::check_launch(a.name);
  finish_columns(cs, b, pw, P, a);
}

template <typename T>
void backward_stream(const Stream& s, const Bwd<T>& b, const NormArgs& a) {
  using C = C_t<T>;
  cudaStream_t cs = cu::stream(s);
  const int64_t P = std::min(b.rows, resident_blocks(norm_bwd_stream<T>, kMaxGroup, 0));
  const size_t bytes = static_cast<size_t>(P * b.n * (a.rms ? 1 : 2)) * sizeof(C);
  cu::Scratch part(bytes, s);
  C* pw = static_cast<C*>(part.get());
  MICA_CUDA_CHECK(cudaMemsetAsync(pw, 0, bytes, cs));
  norm_bwd_stream<T><<<static_cast<unsigned>(P), kMaxGroup, 0, cs>>>(b.x, b.w, b.g, b.dx, pw, pw + P * b.n, b.rows,
                                                                      b.n, b.vec, a.rms, static_cast<C>(a.eps));
  cu::check_launch(a.name);
  finish_columns(cs, b, pw, P, a);
}

// x, g, dx: (rows, n) row-major, n > 0; w: (n,) contiguous or null; outs: dx, dw[, db].
template <typename T>
void norm_backward(const Stream& s, const array& x, const array* w, const array& g, std::vector<array>& outs,
                   const NormArgs& a) {
  using C = C_t<T>;
  Bwd<T> b{};
  b.n = x.shape().back();
  b.rows = static_cast<int64_t>(x.size()) / b.n;
  b.dw = cu::ptr<T>(outs[1]);
  b.db = a.rms ? nullptr : cu::ptr<T>(outs[2]);
  if (b.rows == 0) return finish_columns<T>(cu::stream(s), b, nullptr, 0, a);
  b.x = cu::ptr<const T>(x);
  b.w = w ? cu::ptr<const T>(*w) : nullptr;
  b.g = cu::ptr<const T>(g);
  b.dx = cu::ptr<T>(outs[0]);
  b.vec = chunked<T>(b.n, {b.x, b.w, b.g, b.dx});
  const int64_t chunks = (b.n + W<T> - 1) / W<T>;
  constexpr int NVmax = kBwdNV<T>;
  const int nv_max = b.vec ? NVmax : kBwdScalarNV<T>;
  if (chunks <= int64_t(kMaxGroup) * nv_max) {
    auto [gl, per] = group_for(chunks, nv_max);
    const int block = std::max(1 << gl, kMinBlock), R = block >> gl;
    const size_t smem = (static_cast<size_t>(R) * (a.rms ? 1 : 2) * sizeof(C) + (b.w ? sizeof(T) : 0)) * b.n;
    static const size_t max_smem = max_shared_per_block();
    if (smem + kBwdStaticSmem<T> <= max_smem) {
      if (per <= 1) return backward_reg<T, 1>(s, b, gl, smem, a);
      if constexpr (NVmax == 2) return backward_reg<T, 2>(s, b, gl, smem, a);
    }
  }
  backward_stream<T>(s, b, a);
}

void run_forward(const Stream& s, const std::vector<array>& inputs, array& out, bool has_w, bool has_b,
                 const NormArgs& a) {
  cu::prepare(inputs, s);
  cu::alloc_output(out, s);
  if (out.size() == 0) return;
  array x = cu::ensure_row_contiguous(inputs[0], s);
  std::optional<array> w, b;
  if (has_w) w = cu::ensure_row_contiguous(inputs[1], s);
  if (has_b) b = cu::ensure_row_contiguous(inputs[has_w ? 2 : 1], s);
  dispatch_float(a.name, x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    norm_forward<T>(s, x, w ? &*w : nullptr, b ? &*b : nullptr, out, a);
  });
}

void run_backward(const Stream& s, const std::vector<array>& inputs, std::vector<array>& outputs, bool has_w,
                  const NormArgs& a) {
  cu::prepare(inputs, s);
  for (auto& o : outputs) cu::alloc_output(o, s);
  if (inputs[0].shape().back() == 0) return;
  array x = cu::ensure_row_contiguous(inputs[0], s);
  array g = cu::ensure_row_contiguous(inputs.back(), s);
  std::optional<array> w;
  if (has_w) w = cu::ensure_row_contiguous(inputs[1], s);
  dispatch_float(a.name, x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    norm_backward<T>(s, x, w ? &*w : nullptr, g, outputs, a);
  });
}

}  // namespace

void LayerNorm::eval_gpu(const std::vector<array>& inputs, array& out) {
  run_forward(stream(), inputs, out, has_weight_, has_bias_, {"LayerNorm", false, eps_});
}

void RMSNorm::eval_gpu(const std::vector<array>& inputs, array& out) {
  run_forward(stream(), inputs, out, has_weight_, false, {"RMSNorm", true, eps_});
}

void LayerNormVjp::eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  run_backward(stream(), inputs, outputs, has_weight_, {"LayerNormVjp", false, eps_});
}

void RMSNormVjp::eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  run_backward(stream(), inputs, outputs, has_weight_, {"RMSNormVjp", true, eps_});
}

}  // namespace mica
