// CUDA kernels of the last-axis row primitives: Softmax, LogSumExp, Variance.
// x: (rows, n) row-major (copied when it is not); out: (rows, n) or (rows, 1) row-major.
// Half types compute in float, float64 in double.
//
// Rows up to 512 threads x 8 16-byte vectors (16K float32, 32K bf16/f16) are read once into
// registers by a group of 32..512 threads (several rows per block for short rows) and reduced
// there: one (max, sum of exp) pair per thread merged across the group, then the softmax written
// from the registers. Longer rows stream twice through a block (running max and sum, then the
// write), the second read mostly from L2.
//
// Matching the CPU on special values: max ignores NaN; a row whose max is infinite gives NaN
// softmax outputs and logsumexp = the max (NaN if the row holds a NaN); a NaN anywhere else
// makes the row NaN. Empty rows: logsumexp -inf, variance NaN.
#include <cuda_runtime.h>

#include <cuda/std/limits>
#include <stdexcept>
#include <string>

#include "mica/backend/cuda/copy.h"
#include "mica/backend/cuda/device/elementwise.cuh"
#include "mica/backend/cuda/device/online_softmax.cuh"
#include "mica/backend/cuda/device/types.cuh"
#include "mica/backend/cuda/utils.h"
#include "mica/primitives/reduce.h"

namespace mica {

namespace {
using cu::cast;
using cu::group_all;
using cu::inf;
using cu::lse_of;
using cu::MaxSum;
using cu::Merge;
using cu::Plus;
using cu::qnan;
using cu::stream_row;
using cu::term;
using cu::fast_exp;
using cu::Vec;
using cu::vec_width;

enum Kind { kSoftmax, kLogSumExp, kVariance };
constexpr int kMaxGroup = 512;  // threads per row at most
// 16-byte vectors per thread held in registers: at most 32 elements (8 float32, 4 halves).
template <typename T>
constexpr int kMaxNV = vec_width<T> * 8 > 32 ? 32 / vec_width<T> : 8;

using cu::row_compute_t;
template <typename T>
using C_t = row_compute_t<T>;

// x: (rows, n) row-major; y: (rows, n) softmax or (rows,) logsumexp / variance. Groups of 2^gl
// threads per row (32..512), each thread holding NV vectors of W elements; slot j = k*W + w of
// a thread is element (k*G + lane)*W + w when `vec` (16-byte accesses), else j*G + lane. The
// valid slots of a thread are j < cnt in both cases.
template <int K, typename T, int NV>
__global__ void __launch_bounds__(kMaxGroup, 2) rows_reg_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows,
                                                             int64_t n, int gl, bool vec, int ddof) {
  using C = C_t<T>;
  constexpr int W = vec_width<T>;
  __shared__ MaxSum<C> sm[kMaxGroup / 32];
  const int G = 1 << gl, lane = threadIdx.x & (G - 1);
  const int64_t row = int64_t(blockIdx.x) * (blockDim.x >> gl) + (threadIdx.x >> gl);
  const bool live = row < rows;
  const int64_t off = live ? row * n : 0;
  int cnt = 0;  // valid slots of this thread
  if (live) {
    const int64_t rest = vec ? (n / W - lane + G - 1) / G * W : (n - lane + G - 1) / G;
    cnt = static_cast<int>(rest < NV * W ? (rest > 0 ? rest : 0) : NV * W);
  }
  Vec<T, W> r[NV];
#pragma unroll
  for (int k = 0; k < NV; ++k) {
    r[k] = Vec<T, W>{};
    if (vec) {
      if (k * W < cnt) r[k] = *reinterpret_cast<const Vec<T, W>*>(x + off + (int64_t(k) * G + lane) * W);
    } else {
#pragma unroll
      for (int w = 0; w < W; ++w) {
        if (k * W + w < cnt) r[k].v[w] = x[off + int64_t(k * W + w) * G + lane];
      }
    }
  }
  if constexpr (K == kVariance) {
    C* smc = reinterpret_cast<C*>(sm);
    C sum = 0;
#pragma unroll
    for (int k = 0; k < NV; ++k) {
#pragma unroll
      for (int w = 0; w < W; ++w) sum += k * W + w < cnt ? cast<C>(r[k].v[w]) : C(0);
    }
    const C mean = group_all(sum, Plus<C>{}, G, smc) / static_cast<C>(n);
    C sq = 0;
#pragma unroll
    for (int k = 0; k < NV; ++k) {
#pragma unroll
      for (int w = 0; w < W; ++w) {
        C d = cast<C>(r[k].v[w]) - mean;
        sq += k * W + w < cnt ? d * d : C(0);
      }
    }
    sq = group_all(sq, Plus<C>{}, G, smc);
    if (live && lane == 0) y[row] = cast<T>(sq / static_cast<C>(n - ddof > 0 ? n - ddof : 0));
  } else {
    // One exp per element: e = exp(x - m) against this thread's max m, kept in registers in
    // place of x; the output is e * exp(m - M) / S with the row's max M and sum S.
    C e[NV * W];
#pragma unroll
    for (int k = 0; k < NV; ++k) {
#pragma unroll
      for (int w = 0; w < W; ++w) e[k * W + w] = cast<C>(r[k].v[w]);
    }
    C m = -inf<C>();
#pragma unroll
    for (int j = 0; j < NV * W; ++j) {
      if (j < cnt && e[j] > m) m = e[j];
    }
    C s = 0;
#pragma unroll
    for (int j = 0; j < NV * W; ++j) {
      e[j] = j < cnt ? term(e[j], m) : C(0);
      s += e[j];
    }
    const MaxSum<C> ms = group_all(MaxSum<C>{m, s}, Merge<C>{}, G, sm);
    if constexpr (K == kLogSumExp) {
      if (live && lane == 0) y[row] = cast<T>(lse_of(ms));
    } else {
      const bool finite = ms.m != inf<C>() && ms.m != -inf<C>();
      // exp(m - M) is 0 for a thread without valid slots (m = -inf), 1 when m == M.
      const C scale = finite ? term(m, ms.m) / ms.s : qnan<C>();
#pragma unroll
      for (int k = 0; k < NV; ++k) {
        Vec<T, W> o;
#pragma unroll
        for (int w = 0; w < W; ++w) o.v[w] = cast<T>(e[k * W + w] * scale);
        if (vec) {
          if (k * W < cnt) *reinterpret_cast<Vec<T, W>*>(y + off + (int64_t(k) * G + lane) * W) = o;
        } else {
#pragma unroll
          for (int w = 0; w < W; ++w) {
            if (k * W + w < cnt) y[off + int64_t(k * W + w) * G + lane] = o.v[w];
          }
        }
      }
    }
  }
}

// x: (rows, n) row-major with long rows; y as rows_reg_kernel. One block (kMaxGroup threads)
// per row, two reads of the row.
template <int K, typename T>
__global__ void __launch_bounds__(kMaxGroup) rows_stream_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t n,
                                                                bool vec, int ddof) {
  using C = C_t<T>;
  __shared__ MaxSum<C> sm[kMaxGroup / 32];
  const int G = blockDim.x, lane = threadIdx.x;
  const int64_t row = blockIdx.x;
  const T* p = x + row * n;
  if constexpr (K == kVariance) {
    C* smc = reinterpret_cast<C*>(sm);
    C sum = 0;
    stream_row(p, n, vec, lane, G, [&](C v, int64_t) { sum += v; });
    const C mean = group_all(sum, Plus<C>{}, G, smc) / static_cast<C>(n);
    C sq = 0;
    stream_row(p, n, vec, lane, G, [&](C v, int64_t) { sq += (v - mean) * (v - mean); });
    sq = group_all(sq, Plus<C>{}, G, smc);
    if (lane == 0) y[row] = cast<T>(sq / static_cast<C>(n - ddof > 0 ? n - ddof : 0));
  } else {
    MaxSum<C> ms{-inf<C>(), C(0)};
    stream_row(p, n, vec, lane, G, [&](C v, int64_t) {
      if (v > ms.m) {
        ms.s *= term(ms.m, v);
        ms.m = v;
      }
      ms.s += term(v, ms.m);
    });
    ms = group_all(ms, Merge<C>{}, G, sm);
    if constexpr (K == kLogSumExp) {
      if (lane == 0) y[row] = cast<T>(lse_of(ms));
    } else {
      const bool finite = ms.m != inf<C>() && ms.m != -inf<C>();
      const C inv = C(1) / ms.s;
      T* q = y + row * n;
      stream_row(p, n, vec, lane, G,
                 [&](C v, int64_t i) { q[i] = cast<T>(finite ? fast_exp(v - ms.m) * inv : qnan<C>()); });
    }
  }
}

// y: (n,) set to v (rows of length 0).
template <typename T>
__global__ void fill_kernel(T* y, int64_t n, float v) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    y[i] = cast<T>(v);
  }
}

template <int K, typename T, int NV>
void launch_reg(cudaStream_t cs, const T* x, T* y, int64_t rows, int64_t n, int gl, bool vec, int ddof) {
  const int G = 1 << gl, block = G < 256 ? 256 : G;
  const int64_t blocks = (rows + block / G - 1) / (block / G);
  rows_reg_kernel<K, T, NV><<<static_cast<unsigned>(blocks), block, 0, cs>>>(x, y, rows, n, gl, vec, ddof);
}

template <int K, typename T>
void run_typed(const Stream& s, const array& in, array& out, int64_t n, int ddof, const char* name) {
  constexpr int W = vec_width<T>;
  cudaStream_t cs = cu::stream(s);
  T* y = cu::ptr<T>(out);
  if (n == 0) {
    const int64_t m = static_cast<int64_t>(out.size());
    const float v = K == kLogSumExp ? -cuda::std::numeric_limits<float>::infinity() : cuda::std::numeric_limits<float>::quiet_NaN();
    fill_kernel<T><<<cu::grid_for(m), cu::kBlock, 0, cs>>>(y, m, v);
    cu::check_launch(name);
    return;
  }
  const T* x = cu::ptr<T>(in);
  const int64_t rows = static_cast<int64_t>(in.size()) / n;
  const bool vec = n % W == 0 && cu::aligned<T, W>(x) && cu::aligned<T, W>(y);
  constexpr int NVmax = kMaxNV<T>;
  if (n > int64_t(kMaxGroup) * NVmax * W) {
    rows_stream_kernel<K, T><<<static_cast<unsigned>(rows), kMaxGroup, 0, cs>>>(x, y, n, vec, ddof);
    cu::check_launch(name);
    return;
  }
  // The smallest group (at least a warp) that holds the row in at most kMaxNV vectors a thread.
  int gl = 5;
  while ((int64_t(NVmax) * W << gl) < n) ++gl;
  const int64_t per = (n + (int64_t(W) << gl) - 1) / (int64_t(W) << gl);  // vectors per thread
  if (per <= 1) launch_reg<K, T, 1>(cs, x, y, rows, n, gl, vec, ddof);
  else if (per <= 2) launch_reg<K, T, 2>(cs, x, y, rows, n, gl, vec, ddof);
  else if (per <= 4 || NVmax == 4) launch_reg<K, T, 4>(cs, x, y, rows, n, gl, vec, ddof);
  else if constexpr (NVmax == 8) launch_reg<K, T, 8>(cs, x, y, rows, n, gl, vec, ddof);
  cu::check_launch(name);
}

template <int K>
void run_rows(const Stream& s, const std::vector<array>& inputs, array& out, int ddof, const char* name) {
  cu::prepare(inputs, s);
  cu::alloc_output(out, s);
  if (out.size() == 0) return;
  array in = cu::ensure_row_contiguous(inputs[0], s);
  const int64_t n = in.ndim() == 0 ? 1 : in.shape().back();
  switch (in.dtype().val) {
    case Dtype::Val::float32: return run_typed<K, float>(s, in, out, n, ddof, name);
    case Dtype::Val::float64: return run_typed<K, double>(s, in, out, n, ddof, name);
    case Dtype::Val::float16: return run_typed<K, __half>(s, in, out, n, ddof, name);
    case Dtype::Val::bfloat16: return run_typed<K, __nv_bfloat16>(s, in, out, n, ddof, name);
    default:
      throw std::runtime_error(std::string("[") + name + "] kernel got unsupported dtype " + dtype_to_string(in.dtype()) +
                               " (the op should have rejected it).");
  }
}
}  // namespace

void Softmax::eval_gpu(const std::vector<array>& inputs, array& out) {
  run_rows<kSoftmax>(stream(), inputs, out, 0, "Softmax");
}

void LogSumExp::eval_gpu(const std::vector<array>& inputs, array& out) {
  run_rows<kLogSumExp>(stream(), inputs, out, 0, "LogSumExp");
}

void Variance::eval_gpu(const std::vector<array>& inputs, array& out) {
  run_rows<kVariance>(stream(), inputs, out, ddof_, "Variance");
}

}  // namespace mica
