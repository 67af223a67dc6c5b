// CUDA kernels of the fused family's elementwise ops (backend/cpu/fused.cpp's twin; the norms are
// in fused.cu): Gelu of orders 0 and 1 (and 1 times the cotangent), computed in float for the
// half types, AdamStep (float32, float64) and Rope. A contiguous input is walked flat with 16-byte
// vectors.
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "mica/backend/cuda/copy.h"
#include "mica/backend/cuda/device/dispatch_float.cuh"
#include "mica/backend/cuda/device/elementwise.cuh"
#include "mica/backend/cuda/device/types.cuh"
#include "mica/backend/cuda/utils.h"
#include "mica/primitives/fused.h"

namespace mica {

namespace {
using cu::dispatch_float;
using cu::cast;
template <typename T>
constexpr int W = cu::vec_width<T>;
template <typename T>
using Chunk = cu::Vec<T, W<T>>;
template <typename T>
using C_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

// ---- GELU ----

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

// Order 0: x Phi(x); order 1: Phi(x) + x phi(x); written as the CPU writes them.
template <int Order>
__device__ __forceinline__ float gelu_of(float x) {
  if constexpr (Order == 0) return 0.5f * x * (1.0f + erff(x * float(kInvSqrt2)));
  else return 0.5f * (1.0f + erff(x * float(kInvSqrt2))) + x * expf(-0.5f * x * x) * float(kInvSqrt2Pi);
}
template <int Order>
__device__ __forceinline__ double gelu_of(double x) {
  if constexpr (Order == 0) return 0.5 * x * (1.0 + erf(x * kInvSqrt2));
  else return 0.5 * (1.0 + erf(x * kInvSqrt2)) + x * exp(-0.5 * x * x) * kInvSqrt2Pi;
}
template <int Order, typename T>
__device__ __forceinline__ T gelu_t(T x) {
  return cast<T>(gelu_of<Order>(cast<C_t<T>>(x)));
}

// x, y: n elements in one flat order (y may alias x); vec: both 16-byte aligned.
template <typename T, int Order>
__global__ void gelu_flat(const T* x, T* y, int64_t n, bool vec) {
  const int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x, step = int64_t(gridDim.x) * blockDim.x;
  int64_t done = 0;
  if (vec) {
    const int64_t nv = n / W<T>;
    for (int64_t i = first; i < nv; i += step) {
      Chunk<T> v = reinterpret_cast<const Chunk<T>*>(x)[i];
#pragma unroll
      for (int e = 0; e < W<T>; ++e) v.v[e] = gelu_t<Order>(v.v[e]);
      reinterpret_cast<Chunk<T>*>(y)[i] = v;
    }
    done = nv * W<T>;
  }
  for (int64_t i = done + first; i < n; i += step) y[i] = gelu_t<Order>(x[i]);
}

// x: shape and strides l (collapsed); y: n elements row-major.
template <typename T, int Order>
__global__ void gelu_strided(const T* __restrict__ x, T* __restrict__ y, int64_t n, cu::Layout<1> l) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t off[1];
    cu::offsets(l, i, off);
    y[i] = gelu_t<Order>(x[off[0]]);
  }
}

// out = gelu(in): in's layout when contiguous (or its buffer, donated), else row-major.
template <typename T, int Order>
void gelu_launch(const array& in, array& out, const Stream& s) {
  cudaStream_t cs = cu::stream(s);
  if (in.flags().contiguous) {
    if (cu::donatable(in, s)) out.copy_shared_buffer(in);
    else cu::alloc_output(out, s, in.data_size(), in.strides(), in.flags());
    const int64_t n = static_cast<int64_t>(in.data_size());
    if (n == 0) return;
    const T* px = cu::ptr<const T>(in);
    T* py = cu::ptr<T>(out);
    const bool vec = cu::aligned<T, W<T>>(px) && cu::aligned<T, W<T>>(py);
    gelu_flat<T, Order><<<cu::grid_for(n, vec ? W<T> : 1), cu::kBlock, 0, cs>>>(px, py, n, vec);
  } else {
    cu::alloc_output(out, s);
    const int64_t n = static_cast<int64_t>(out.size());
    if (n == 0) return;
    auto l = cu::make_layout<1>(in.shape(), {in.strides()}, "gelu");
    gelu_strided<T, Order><<<cu::grid_for(n), cu::kBlock, 0, cs>>>(cu::ptr<const T>(in), cu::ptr<T>(out), n, l);
  }
  cu::check_launch("gelu");
}

// y = g gelu'(x) (the backward pass): x, g, y n elements row-major (y may alias x or g); vec:
// all 16-byte aligned. Halves in float, rounded once.
template <typename T>
__global__ void gelu_times_flat(const T* x, const T* g, T* y, int64_t n, bool vec) {
  using C = C_t<T>;
  const int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x, step = int64_t(gridDim.x) * blockDim.x;
  int64_t done = 0;
  if (vec) {
    const int64_t nv = n / W<T>;
    for (int64_t i = first; i < nv; i += step) {
      const Chunk<T> xv = reinterpret_cast<const Chunk<T>*>(x)[i], gv = reinterpret_cast<const Chunk<T>*>(g)[i];
      Chunk<T> y_;
#pragma unroll
      for (int e = 0; e < W<T>; ++e) y_.v[e] = cast<T>(cast<C>(gv.v[e]) * gelu_of<1>(cast<C>(xv.v[e])));
      reinterpret_cast<Chunk<T>*>(y)[i] = y_;
    }
    done = nv * W<T>;
  }
  for (int64_t i = done + first; i < n; i += step) y[i] = cast<T>(cast<C>(g[i]) * gelu_of<1>(cast<C>(x[i])));
}

// out = g gelu'(x), row-major (x's or g's buffer when donatable).
template <typename T>
void gelu_times_launch(const array& x_in, const array& g_in, array& out, const Stream& s) {
  // Donate first: the row-contiguous handles below hold extra references to the buffers.
  if (cu::donatable(x_in, s) && x_in.flags().row_contiguous) out.copy_shared_buffer(x_in);
  else if (cu::donatable(g_in, s) && g_in.flags().row_contiguous) out.copy_shared_buffer(g_in);
  else cu::alloc_output(out, s);
  array x = cu::ensure_row_contiguous(x_in, s), g = cu::ensure_row_contiguous(g_in, s);
  const int64_t n = static_cast<int64_t>(out.size());
  if (n == 0) return;
  const T* px = cu::ptr<const T>(x);
  const T* pg = cu::ptr<const T>(g);
  T* py = cu::ptr<T>(out);
  const bool vec = cu::aligned<T, W<T>>(px) && cu::aligned<T, W<T>>(pg) && cu::aligned<T, W<T>>(py);
  gelu_times_flat<T><<<cu::grid_for(n, vec ? W<T> : 1), cu::kBlock, 0, cu::stream(s)>>>(px, pg, py, n, vec);
  cu::check_launch("gelu");
}

// ---- AdamStep ----

// One parameter of a launch: p, g, m, v, po, mo, vo of n elements each, row-major (po may alias
// p, mo m, vo v); vec: all 16-byte aligned.
template <typename T>
struct AdamTensor {
  const T* p;
  const T* g;
  const T* m;
  const T* v;
  T* po;
  T* mo;
  T* vo;
  int64_t n;
  bool vec;
};

// Up to kAdamTensors parameters per launch, passed by value (the kernel's parameters stay under
// 4 KB; __grid_constant__ lets the kernel index them without a per-thread copy): block b works
// on tensor t with first_block[t] <= b < first_block[t + 1], elements kAdamChunk (b -
// first_block[t]) on.
constexpr int kAdamTensors = 48;
constexpr int kAdamChunk = cu::kBlock * 16;
template <typename T>
struct AdamTable {
  int count;
  int first_block[kAdamTensors + 1];
  AdamTensor<T> t[kAdamTensors];
};

// coef: c1, c2, decay.
template <typename T>
__global__ void adam_kernel(const __grid_constant__ AdamTable<T> tab, const T* __restrict__ coef, T b1, T a1, T b2,
                            T a2, T eps) {
  const T c1 = coef[0], c2 = coef[1], decay = coef[2];
  auto step = [&](T pi, T gi, T mi, T vi, T& pn, T& mn, T& vn) {
    mn = mi * b1 + gi * a1;
    vn = vi * b2 + gi * gi * a2;
    pn = pi * decay - c1 * mn / (sqrt(vn) * c2 + eps);
  };
  int lo = 0, hi = tab.count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (tab.first_block[mid] <= static_cast<int>(blockIdx.x)) lo = mid;
    else hi = mid - 1;
  }
  const AdamTensor<T>& t = tab.t[lo];
  const int64_t begin = int64_t(blockIdx.x - tab.first_block[lo]) * kAdamChunk;
  const int64_t end = begin + kAdamChunk < t.n ? begin + kAdamChunk : t.n;
  int64_t done = begin;
  if (t.vec) {
    const int64_t vb = begin / W<T>, ve = end / W<T>;  // begin is a multiple of W<T>
    for (int64_t i = vb + threadIdx.x; i < ve; i += blockDim.x) {
      const Chunk<T> pv = reinterpret_cast<const Chunk<T>*>(t.p)[i], gv = reinterpret_cast<const Chunk<T>*>(t.g)[i];
      const Chunk<T> mv = reinterpret_cast<const Chunk<T>*>(t.m)[i], vv = reinterpret_cast<const Chunk<T>*>(t.v)[i];
      Chunk<T> pn, mn, vn;
#pragma unroll
      for (int e = 0; e < W<T>; ++e) step(pv.v[e], gv.v[e], mv.v[e], vv.v[e], pn.v[e], mn.v[e], vn.v[e]);
      reinterpret_cast<Chunk<T>*>(t.po)[i] = pn;
      reinterpret_cast<Chunk<T>*>(t.mo)[i] = mn;
      reinterpret_cast<Chunk<T>*>(t.vo)[i] = vn;
    }
    done = ve * W<T>;
  }
  for (int64_t i = done + threadIdx.x; i < end; i += blockDim.x) {
    T pn, mn, vn;
    step(t.p[i], t.g[i], t.m[i], t.v[i], pn, mn, vn);
    t.po[i] = pn;
    t.mo[i] = mn;
    t.vo[i] = vn;
  }
}

// Rope: x, y (outer L, D) row-major; offsets: B int32 (B = 1, or one per block of per_b outer
// rows). Thread t of the grid's x dimension is position l = t / items and work item t % items:
// item < dims/(2V) turns the V pairs from V item on, a larger one copies V features from
// dims + V (item - dims/(2V)) on. It takes its angles' sines and cosines once and walks the outer
// rows of its y-slice (the same position in every head and batch entry), so the trigonometry is
// paid once per (position, pair, slice). V > 1 reads and writes V-element vectors (2V with
// interleaved pairs): x and y aligned for them, D a multiple of 2V, dims/2 and D - dims of V.
template <typename T, int V>
__global__ void rope_kernel(const T* __restrict__ x, T* __restrict__ y, const int32_t* __restrict__ off,
                            const C_t<T>* __restrict__ freqs, int64_t outer, int64_t L, int D, int dims,
                            int64_t per_b, bool trad, bool forward, C_t<T> k_base, C_t<T> scale, int64_t chunk) {
  using C = C_t<T>;
  using VecV = cu::Vec<T, V>;
  using Vec2V = cu::Vec<T, 2 * V>;
  const int half = dims / 2, groups = half / V, items = groups + (D - dims) / V;
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= L * items) return;
  const int64_t l = t / items;
  const int item = static_cast<int>(t % items);
  const int64_t o0 = int64_t(blockIdx.y) * chunk, o1 = o0 + chunk < outer ? o0 + chunk : outer;
  if (item >= groups) {
    const int j = dims + (item - groups) * V;
    for (int64_t o = o0; o < o1; ++o) {
      const int64_t r = (o * L + l) * D + j;
      *reinterpret_cast<VecV*>(y + r) = *reinterpret_cast<const VecV*>(x + r);
    }
    return;
  }
  const int p0 = item * V;  // the first pair
  C inv[V], c[V], sn[V];
#pragma unroll
  for (int v = 0; v < V; ++v) {
    inv[v] = freqs ? C(1) / freqs[p0 + v] : exp(static_cast<C>(p0 + v) * k_base);
    c[v] = 1;
    sn[v] = 0;
  }
  int64_t at = -1;
#pragma unroll 4
  for (int64_t o = o0; o < o1; ++o) {
    const int64_t b = o / per_b;
    if (b != at) {
#pragma unroll
      for (int v = 0; v < V; ++v) {
        const C th = (static_cast<C>(off[b]) + static_cast<C>(l)) * scale * inv[v];
        sincos(th, &sn[v], &c[v]);
        if (!forward) sn[v] = -sn[v];
      }
      at = b;
    }
    const int64_t r = (o * L + l) * D;
    if (trad && V == 1) {  // one pair, element by element (x may be one element off a pair's alignment)
      const C x1 = cast<C>(x[r + 2 * p0]), x2 = cast<C>(x[r + 2 * p0 + 1]);
      y[r + 2 * p0] = cast<T>(x1 * c[0] - x2 * sn[0]);
      y[r + 2 * p0 + 1] = cast<T>(x1 * sn[0] + x2 * c[0]);
    } else if (trad) {  // pair v at 2 (p0 + v), 2 (p0 + v) + 1
      Vec2V e = *reinterpret_cast<const Vec2V*>(x + r + 2 * p0);
#pragma unroll
      for (int v = 0; v < V; ++v) {
        const C x1 = cast<C>(e.v[2 * v]), x2 = cast<C>(e.v[2 * v + 1]);
        e.v[2 * v] = cast<T>(x1 * c[v] - x2 * sn[v]);
        e.v[2 * v + 1] = cast<T>(x1 * sn[v] + x2 * c[v]);
      }
      *reinterpret_cast<Vec2V*>(y + r + 2 * p0) = e;
    } else {  // pair v at p0 + v, p0 + v + dims / 2
      VecV a = *reinterpret_cast<const VecV*>(x + r + p0), bb = *reinterpret_cast<const VecV*>(x + r + p0 + half);
#pragma unroll
      for (int v = 0; v < V; ++v) {
        const C x1 = cast<C>(a.v[v]), x2 = cast<C>(bb.v[v]);
        a.v[v] = cast<T>(x1 * c[v] - x2 * sn[v]);
        bb.v[v] = cast<T>(x1 * sn[v] + x2 * c[v]);
      }
      *reinterpret_cast<VecV*>(y + r + p0) = a;
      *reinterpret_cast<VecV*>(y + r + p0 + half) = bb;
    }
  }
}

}  // namespace

void Gelu::eval_gpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  const Stream& s = stream();
  cu::prepare(inputs, s);
  dispatch_float("gelu", in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (inputs.size() == 2) gelu_times_launch<T>(in, inputs[1], out, s);
    else if (order_ == 0) gelu_launch<T, 0>(in, out, s);
    else gelu_launch<T, 1>(in, out, s);
  });
}

// AdamStep: (p, g, m, v) per parameter (any layout, made row-major), then coef (3,) -> (p', m',
// v') per parameter, row-major; p, m and v give their buffers to p', m', v' when nothing else
// holds them (as on the CPU). One launch per kAdamTensors parameters.
void AdamStep::eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  const Stream& s = stream();
  cu::prepare(inputs, s);
  dispatch_float("adam_step", inputs[0].dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      const size_t groups = (inputs.size() - 1) / 4;
      array coef = cu::ensure_row_contiguous(inputs.back(), s);
      std::vector<array> keep;  // row-major copies, alive until their kernels are queued
      AdamTable<T> tab{};
      auto flush = [&] {
        if (tab.count == 0) return;
        // The constants round as the composition's weak scalars do (1 - beta in double, then T).
        adam_kernel<T><<<static_cast<unsigned>(tab.first_block[tab.count]), cu::kBlock, 0, cu::stream(s)>>>(
            tab, cu::ptr<const T>(coef), T(beta1_), T(1.0 - beta1_), T(beta2_), T(1.0 - beta2_), T(eps_));
        cu::check_launch("adam_step");
        tab = AdamTable<T>{};
      };
      for (size_t j = 0; j < groups; ++j) {
        const array* in4 = &inputs[4 * j];
        array* out3 = &outputs[3 * j];
        // Donate first: the row-contiguous handles below hold extra references to the buffers.
        const int donor[3] = {0, 2, 3};  // p -> p', m -> m', v -> v'
        for (int k = 0; k < 3; ++k) {
          const array& d = in4[donor[k]];
          if (cu::donatable(d, s) && d.flags().row_contiguous && d.data_size() == d.size()) {
            out3[k].copy_shared_buffer(d);
          } else {
            cu::alloc_output(out3[k], s);
          }
        }
        const int64_t n = static_cast<int64_t>(out3[0].size());
        const int64_t blocks = (n + kAdamChunk - 1) / kAdamChunk;
        if (n == 0) continue;
        if (tab.count == kAdamTensors || int64_t(tab.first_block[tab.count]) + blocks > INT_MAX / 2) flush();
        AdamTensor<T>& t = tab.t[tab.count];
        const T** src[4] = {&t.p, &t.g, &t.m, &t.v};
        for (int i = 0; i < 4; ++i) {
          keep.push_back(cu::ensure_row_contiguous(in4[i], s));
          *src[i] = cu::ptr<const T>(keep.back());
        }
        t.po = cu::ptr<T>(out3[0]);
        t.mo = cu::ptr<T>(out3[1]);
        t.vo = cu::ptr<T>(out3[2]);
        t.n = n;
        t.vec = true;
        for (const void* q : {(const void*)t.p, (const void*)t.g, (const void*)t.m, (const void*)t.v, (const void*)t.po,
                              (const void*)t.mo, (const void*)t.vo}) {
          t.vec = t.vec && cu::aligned<T, W<T>>(q);
        }
        tab.first_block[tab.count + 1] = tab.first_block[tab.count] + static_cast<int>(blocks);
        ++tab.count;
      }
      flush();
    } else {
      throw std::runtime_error("[adam_step] kernel got a half type (the op should have rejected it).");
    }
  });
}

// Rope: x made row-major; the grid's y dimension splits the outer rows so that about four
// waves of threads are in flight. Vectors of 4 pairs (half types) or 2 (float32) where the
// sizes and alignment allow, else one pair per thread.
void Rope::eval_gpu(const std::vector<array>& inputs, array& out) {
  const Stream& s = stream();
  cu::prepare(inputs, s);
  cu::alloc_output(out, s);  // not empty: eval skips empty outputs
  array x = cu::ensure_row_contiguous(inputs[0], s);
  array off = cu::ensure_row_contiguous(inputs[1], s);
  const int64_t D = x.shape(-1), L = x.shape(-2), outer = static_cast<int64_t>(x.size()) / (D * L);
  const int64_t B = off.ndim() == 1 ? off.shape(0) : 1;
  const int half = dims_ / 2;
  dispatch_float("rope", x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = C_t<T>;
    constexpr int Vmax = sizeof(T) == 2 ? 4 : sizeof(T) == 4 ? 2 : 1;
    const bool vec = Vmax > 1 && half % Vmax == 0 && (D - dims_) % Vmax == 0 && D % (2 * Vmax) == 0 &&
                     cu::aligned<T, 2 * Vmax>(cu::ptr<const T>(x)) && cu::aligned<T, 2 * Vmax>(cu::ptr<T>(out));
    const int V = vec ? Vmax : 1;
    const int64_t work = L * (half / V + (D - dims_) / V);
    const int64_t want = int64_t(cu::sm_count()) * 2048 * 4;  // threads: about four full waves
    const int64_t slices = std::min<int64_t>({outer, std::max<int64_t>(1, want / std::max<int64_t>(work, 1)), 65535});
    const int64_t chunk = (outer + slices - 1) / slices;
    const dim3 grid(cu::grid_for(work), static_cast<unsigned>((outer + chunk - 1) / chunk));
    std::optional<array> f;
    if (with_freqs_) f = cu::ensure_row_contiguous(inputs[2], s);
    const C k = static_cast<C>(-std::log(static_cast<double>(base_)) / half);
    auto launch = [&](auto kernel) {
      kernel<<<grid, cu::kBlock, 0, cu::stream(s)>>>(cu::ptr<const T>(x), cu::ptr<T>(out), cu::ptr<const int32_t>(off),
                                                    f ? cu::ptr<const C>(*f) : nullptr, outer, L, static_cast<int>(D),
                                                    dims_, outer / B, traditional_, forward_, k,
                                                    static_cast<C>(scale_), chunk);
    };
    if (V > 1) launch(rope_kernel<T, Vmax>);
    else launch(rope_kernel<T, 1>);
  });
  cu::check_launch("rope");
}

}  // namespace mica
