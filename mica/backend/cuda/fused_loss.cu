// CUDA kernels of the fused cross-entropy (backend/cpu/fused_loss.cpp's twin): CrossEntropy and
// CrossEntropyVjp over rows of logits (rows, V), row-major (copied when not), computed in float
// (double for float64). A vocabulary row (50304 logits) is too long for registers, so each
// block streams its row once: forward, a running (max, sum of exp) pair and the sum of the row
// per thread, merged across the block, the target's logit read once; backward, one read of the
// row and one write of g (exp(x - lse) - s / V), minus g (1 - s) at the target.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "mica/backend/cuda/copy.h"
#include "mica/backend/cuda/device/dispatch_float.cuh"
#include "mica/backend/cuda/device/elementwise.cuh"
#include "mica/backend/cuda/device/index_walk.cuh"
#include "mica/backend/cuda/device/online_softmax.cuh"
#include "mica/backend/cuda/device/types.cuh"
#include "mica/backend/cuda/utils.h"
#include "mica/primitives/fused.h"

namespace mica {

namespace {
using cu::dispatch_float;
using cu::cast;
using cu::MaxSum;
using cu::Vec;
using cu::vec_width;

constexpr int kThreads = 512;  // one block per row

template <typename T>
using C_t = cu::row_compute_t<T>;

template <typename C>
struct RowStats {
  MaxSum<C> ms;
  C sum;
};
template <typename C>
struct MergeStats {
  __device__ RowStats<C> operator()(RowStats<C> a, RowStats<C> b) const { return {cu::merge(a.ms, b.ms), a.sum + b.sum}; }
};
template <typename C>
__device__ __forceinline__ RowStats<C> shfl_xor(RowStats<C> v, int o) {
  return {cu::shfl_xor(v.ms, o), __shfl_xor_sync(0xffffffffu, v.sum, o)};
}

// loss[r] = lse - (1 - s) x[t] - s mean(x); lse_out[r] = lse.
template <typename T>
__global__ void __launch_bounds__(kThreads) ce_forward_kernel(const T* __restrict__ x, const void* __restrict__ targets,
                                                              int code, C_t<T>* __restrict__ loss, C_t<T>* __restrict__ lse_out,
                                                              int64_t v, float s, bool vec) {
  using C = C_t<T>;
  __shared__ RowStats<C> sm[kThreads / 32];
  const int64_t r = blockIdx.x;
  const T* row = x + r * v;
  RowStats<C> st{{-cu::inf<C>(), C(0)}, C(0)};
  cu::stream_row(row, v, vec, threadIdx.x, blockDim.x, [&](C xv, int64_t) {
    if (xv > st.ms.m) {
      st.ms.s *= cu::term(st.ms.m, xv);
      st.ms.m = xv;
    }
    st.ms.s += cu::term(xv, st.ms.m);
    st.sum += xv;
  });
  st = cu::group_all(st, MergeStats<C>{}, blockDim.x, sm);
  if (threadIdx.x == 0) {
    const C lse = cu::lse_of(st.ms);
    const int64_t t = cu::clamp_index(cu::load_index(targets, code, r), v, v - 1);
    C l = lse - (C(1) - C(s)) * cast<C>(row[t]);
    if (s > 0) l -= C(s) * st.sum / C(v);
    loss[r] = l;
    lse_out[r] = lse;
  }
}

// dx[r, j] = g[r] (exp(x[r, j] - lse[r]) - s / V) - g[r] (1 - s) [j == t[r]].
template <typename T, typename G>
__global__ void __launch_bounds__(kThreads) ce_backward_kernel(const T* __restrict__ x, const void* __restrict__ targets,
                                                               int code, const C_t<T>* __restrict__ lse,
                                                               const G* __restrict__ g, T* __restrict__ dx, int64_t v,
                                                               float s, bool vec) {
  using C = C_t<T>;
  constexpr int W = vec_width<T>;
  const int64_t r = blockIdx.x;
  const T* row = x + r * v;
  T* out = dx + r * v;
  const C gr = cast<C>(g[r]), l = lse[r], off = C(s) / C(v);
  const int64_t t = cu::clamp_index(cu::load_index(targets, code, r), v, v - 1);
  const C hit = C(1) - C(s);
  auto value = [&](int64_t j, C xv) { return gr * (cu::fast_exp(xv - l) - off - (j == t ? hit : C(0))); };
  if (vec) {
    const auto* p = reinterpret_cast<const Vec<T, W>*>(row);
    auto* q = reinterpret_cast<Vec<T, W>*>(out);
    const int64_t nv = v / W;
    for (int64_t b = threadIdx.x; b < nv; b += int64_t(cu::kRowUnroll) * blockDim.x) {
      Vec<T, W> in[cu::kRowUnroll];
#pragma unroll
      for (int u = 0; u < cu::kRowUnroll; ++u) {
        if (b + int64_t(u) * blockDim.x < nv) in[u] = p[b + int64_t(u) * blockDim.x];
      }
#pragma unroll
      for (int u = 0; u < cu::kRowUnroll; ++u) {
        const int64_t i = b + int64_t(u) * blockDim.x;
        if (i < nv) {
          Vec<T, W> o;
#pragma unroll
          for (int w = 0; w < W; ++w) o.v[w] = cast<T>(value(i * W + w, cast<C>(in[u].v[w])));
          q[i] = o;
        }
      }
    }
  } else {
    for (int64_t j = threadIdx.x; j < v; j += blockDim.x) out[j] = cast<T>(value(j, cast<C>(row[j])));
  }
}

// Threads per row block: a warp per 8 vectors of the row, 32..kThreads.
int threads_for(int64_t v, int w) {
  int t = 32;
  while (t < kThreads && int64_t(t) * w * 8 < v) t *= 2;
  return t;
}
}  // namespace

void CrossEntropy::eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  const Stream& s = stream();
  cu::prepare(inputs, s);
  for (auto& o : outputs) cu::alloc_output(o, s);
  if (outputs[0].size() == 0) return;
  array x = cu::ensure_row_contiguous(inputs[0], s);
  array t = cu::ensure_row_contiguous(inputs[1], s);
  const int code = cu::index_code(t.dtype(), "CrossEntropy");
  const int64_t v = x.shape().back();
  const int64_t rows = static_cast<int64_t>(x.size()) / v;
  dispatch_float("CrossEntropy", x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int W = vec_width<T>;
    const T* px = cu::ptr<T>(x);
    const bool vec = v % W == 0 && cu::aligned<T, W>(px);
    ce_forward_kernel<T><<<static_cast<unsigned>(rows), threads_for(v, W), 0, cu::stream(s)>>>(
        px, cu::ptr(t), code, cu::ptr<C_t<T>>(outputs[0]), cu::ptr<C_t<T>>(outputs[1]), v, smoothing_, vec);
  });
  cu::check_launch("CrossEntropy");
}

void CrossEntropyVjp::eval_gpu(const std::vector<array>& inputs, array& out) {
  const Stream& s = stream();
  cu::prepare(inputs, s);
  cu::alloc_output(out, s);
  if (out.size() == 0) return;
  array x = cu::ensure_row_contiguous(inputs[0], s);
  array t = cu::ensure_row_contiguous(inputs[1], s);
  array lse = cu::ensure_row_contiguous(inputs[2], s);
  array g = cu::ensure_row_contiguous(inputs[3], s);
  const int code = cu::index_code(t.dtype(), "CrossEntropyVjp");
  const int64_t v = x.shape().back();
  const int64_t rows = static_cast<int64_t>(x.size()) / v;
  dispatch_float("CrossEntropyVjp", x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr int W = vec_width<T>;
    const T* px = cu::ptr<T>(x);
    T* py = cu::ptr<T>(out);
    const bool vec = v % W == 0 && cu::aligned<T, W>(px) && cu::aligned<T, W>(py);
    dispatch_float("CrossEntropyVjp", g.dtype(), [&](auto gtag) {
      using G = typename decltype(gtag)::type;
      ce_backward_kernel<T, G><<<static_cast<unsigned>(rows), threads_for(v, W), 0, cu::stream(s)>>>(
          px, cu::ptr(t), code, cu::ptr<C_t<T>>(lse), cu::ptr<G>(g), py, v, smoothing_, vec);
    });
  });
  cu::check_launch("CrossEntropyVjp");
}

}  // namespace mica
