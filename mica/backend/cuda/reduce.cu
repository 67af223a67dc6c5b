// CUDA kernels of Reduce and ArgReduce.
//
// The input's dims are put in memory order (row-major, or a dense permutation that keeps the
// kept dims in order; other layouts are copied row-major first), size-1 dims dropped and
// neighbours of the same kind merged, giving alternating kept/reduced groups. One reduced group
// is one pass: trailing -> row reduce (a group of threads per row, 16-byte loads; few long rows
// are split over blocks and finished by a second tiny pass), otherwise -> column reduce (threads
// own output columns and walk the reduced extent, coalesced across threads; the extent is split
// over blocks when the columns are few). Several reduced groups take one such pass each, from
// the innermost, through accumulator-typed scratch. Everything is deterministic (no atomics).
#include <cuda_runtime.h>

#include <algorithm>
#include <cuda/std/limits>
#include <memory>
#include <stdexcept>
#include <vector>

#include "mica/backend/cuda/copy.h"
#include "mica/backend/cuda/device/elementwise.cuh"
#include "mica/backend/cuda/device/reduce_ops.cuh"
#include "mica/backend/cuda/device/types.cuh"
#include "mica/backend/cuda/utils.h"
#include "mica/primitives/reduce.h"

namespace mica {

namespace {
using cu::cast;
using cu::is_complex_v;
using cu::Vec;
using cu::vec_width;
using cu::greater;
using cu::highest;
using cu::is_nan;
using cu::lowest;
using cu::MaxOp;
using cu::MinOp;
using cu::ProdOp;
using cu::SumOp;

constexpr int kThreads = 256;           // every kernel here runs 256-thread blocks
constexpr int kUnroll = 4;              // independent 16-byte loads in flight per thread
constexpr int64_t kMinChunk = 4096;     // fewest elements per block when a row is split
constexpr uint32_t kNone = 0xffffffffu; // "no element yet" in arg-reductions

// ---- element operations: Sum/Prod/Max/Min in device/reduce_ops.cuh ----

struct AndOp {
  using A = bool;
  __device__ static A init() { return true; }
  __device__ A operator()(A a, A b) const { return a && b; }
};
struct OrOp {
  using A = bool;
  __device__ static A init() { return false; }
  __device__ A operator()(A a, A b) const { return a || b; }
};

template <typename T>
__device__ __forceinline__ T shfl_xor(T v, int m) {
  if constexpr (is_complex_v<T>) {
    return T(__shfl_xor_sync(0xffffffffu, v.real(), m), __shfl_xor_sync(0xffffffffu, v.imag(), m));
  } else if constexpr (sizeof(T) < 4) {
    return static_cast<T>(__shfl_xor_sync(0xffffffffu, static_cast<int>(v), m));
  } else {
    return __shfl_xor_sync(0xffffffffu, v, m);
  }
}

// Shared memory for n values of A (complex has a constructor, so no typed __shared__ arrays).
#define MICA_SHARED(A, name, n)                                     \
  __shared__ alignas(16) unsigned char name##_raw[(n) * sizeof(A)]; \
  A* name = reinterpret_cast<A*>(name##_raw)

// Reduces p[0, n) over the `tpr` threads of a group (this thread is `lane`): unaligned head,
// 16-byte vectors (kUnroll in flight), tail.
template <typename Op, typename In>
__device__ __forceinline__ typename Op::A thread_reduce(const In* __restrict__ p, int64_t n, int lane, int tpr) {
  using A = typename Op::A;
  constexpr int W = vec_width<In>;
  Op op;
  A acc[kUnroll];
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) acc[u] = Op::init();
  int64_t head = (W - static_cast<int64_t>((reinterpret_cast<uintptr_t>(p) % 16) / sizeof(In))) % W;
  head = head < n ? head : n;
  for (int64_t k = lane; k < head; k += tpr) acc[0] = op(acc[0], cast<A>(p[k]));
  const auto* v = reinterpret_cast<const Vec<In, W>*>(p + head);
  const int64_t nv = (n - head) / W;
  int64_t i = lane;
  for (; i + int64_t(kUnroll - 1) * tpr < nv; i += int64_t(kUnroll) * tpr) {
    Vec<In, W> r[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) r[u] = v[i + int64_t(u) * tpr];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
#pragma unroll
      for (int w = 0; w < W; ++w) acc[u] = op(acc[u], cast<A>(r[u].v[w]));
    }
  }
  for (; i < nv; i += tpr) {
    Vec<In, W> r = v[i];
#pragma unroll
    for (int w = 0; w < W; ++w) acc[0] = op(acc[0], cast<A>(r.v[w]));
  }
  for (int64_t k = head + nv * W + lane; k < n; k += tpr) acc[0] = op(acc[0], cast<A>(p[k]));
#pragma unroll
  for (int u = 1; u < kUnroll; ++u) acc[0] = op(acc[0], acc[u]);
  return acc[0];
}

// Combines v over groups of `tpr` consecutive threads (a power of two, block-uniform); every
// thread of a group gets the result. sm: kThreads / 32 values.
template <typename Op>
__device__ __forceinline__ typename Op::A group_reduce(typename Op::A v, int tpr, typename Op::A* sm) {
  Op op;
  for (int o = (tpr < 32 ? tpr : 32) / 2; o > 0; o >>= 1) v = op(v, shfl_xor(v, o));
  if (tpr > 32) {
    const int warp = threadIdx.x / 32, wpg = tpr / 32, first = warp / wpg * wpg;
    if (threadIdx.x % 32 == 0) sm[warp] = v;
    __syncthreads();
    v = sm[first];
    for (int k = 1; k < wpg; ++k) v = op(v, sm[first + k]);
  }
  return v;
}

// x: (rows, n) row-major, each row cut into `splits` chunks of `chunk`; y: (rows, splits).
// A group of 2^tpr_log2 threads reduces one chunk.
template <typename Op, typename In, typename Out>
__global__ void __launch_bounds__(kThreads) row_reduce_kernel(const In* __restrict__ x, Out* __restrict__ y, int64_t rows,
                                                              int64_t n, int64_t splits, int64_t chunk, int tpr_log2) {
  using A = typename Op::A;
  MICA_SHARED(A, sm, kThreads / 32);
  const int tpr = 1 << tpr_log2;
  const int64_t seg = int64_t(blockIdx.x) * (kThreads >> tpr_log2) + (threadIdx.x >> tpr_log2);
  const int lane = threadIdx.x & (tpr - 1);
  const bool live = seg < rows * splits;
  A acc = Op::init();
  if (live) {
    const int64_t row = seg / splits, b = (seg - row * splits) * chunk;
    acc = thread_reduce<Op>(x + row * n + b, chunk < n - b ? chunk : n - b, lane, tpr);
  }
  acc = group_reduce<Op>(acc, tpr, sm);
  if (live && lane == 0) y[seg] = cast<Out>(acc);
}

// x: (outer, R, inner) row-major, R cut into `splits` ranges of `rchunk`; y: (outer, splits,
// inner). Block: 32 threads along inner (W adjacent columns each, 16-byte loads when `vec`) x 8
// along R; blockIdx.x = (o, column block), blockIdx.y = split.
template <typename Op, typename In, typename Out>
__global__ void __launch_bounds__(kThreads) col_reduce_kernel(const In* __restrict__ x, Out* __restrict__ y, int64_t R,
                                                              int64_t inner, int64_t splits, int64_t rchunk,
                                                              int64_t colblocks, bool vec) {
  using A = typename Op::A;
  constexpr int W = vec_width<In>, CB = 32 * W, RY = kThreads / 32;
  MICA_SHARED(A, sm, RY * CB);
  Op op;
  const int tx = threadIdx.x % 32, ty = threadIdx.x / 32;
  const int64_t o = blockIdx.x / colblocks, cb = blockIdx.x % colblocks, sp = blockIdx.y;
  const int64_t c0 = cb * CB + tx * W;
  const int64_t r0 = sp * rchunk, r1 = R < r0 + rchunk ? R : r0 + rchunk;
  const In* base = x + o * R * inner + c0;
  A acc[W];
#pragma unroll
  for (int w = 0; w < W; ++w) acc[w] = Op::init();
  if (vec && c0 < inner) {
    int64_t r = r0 + ty;
    for (; r + (kUnroll - 1) * RY < r1; r += kUnroll * RY) {
      Vec<In, W> v[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) v[u] = *reinterpret_cast<const Vec<In, W>*>(base + (r + u * RY) * inner);
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
#pragma unroll
        for (int w = 0; w < W; ++w) acc[w] = op(acc[w], cast<A>(v[u].v[w]));
      }
    }
    for (; r < r1; r += RY) {
      Vec<In, W> v = *reinterpret_cast<const Vec<In, W>*>(base + r * inner);
#pragma unroll
      for (int w = 0; w < W; ++w) acc[w] = op(acc[w], cast<A>(v.v[w]));
    }
  } else if (c0 < inner) {
    const int64_t nc = inner - c0;
    for (int64_t r = r0 + ty; r < r1; r += RY) {
#pragma unroll
      for (int w = 0; w < W; ++w) {
        if (w < nc) acc[w] = op(acc[w], cast<A>(base[r * inner + w]));
      }
    }
  }
#pragma unroll
  for (int w = 0; w < W; ++w) sm[ty * CB + tx * W + w] = acc[w];
  __syncthreads();
  for (int c = threadIdx.x; c < CB; c += kThreads) {
    A a = sm[c];
#pragma unroll
    for (int k = 1; k < RY; ++k) a = op(a, sm[k * CB + c]);
    const int64_t col = cb * CB + c;
    if (col < inner) y[(o * splits + sp) * inner + col] = cast<Out>(a);
  }
}

// x: (outer, R, inner) row-major with inner < 64, R cut into `splits` ranges of `rchunk`; y:
// (outer, splits, inner). A block walks its rows as one contiguous run with a stride that is a
// multiple of inner, so each thread always meets the same column; blockIdx.x = (o, split).
template <typename Op, typename In, typename Out>
__global__ void __launch_bounds__(kThreads) col_small_kernel(const In* __restrict__ x, Out* __restrict__ y, int64_t R,
                                                             int inner, int64_t splits, int64_t rchunk) {
  using A = typename Op::A;
  MICA_SHARED(A, sm, kThreads);
  Op op;
  const int64_t o = blockIdx.x / splits, sp = blockIdx.x % splits;
  const int S = kThreads / inner * inner, t = threadIdx.x;
  const int64_t r0 = sp * rchunk, r1 = R < r0 + rchunk ? R : r0 + rchunk;
  const In* p = x + (o * R + r0) * inner;
  const int64_t cnt = (r1 - r0) * inner;
  A acc[kUnroll];
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) acc[u] = Op::init();
  if (t < S) {
    int64_t i = t;
    for (; i + int64_t(kUnroll - 1) * S < cnt; i += int64_t(kUnroll) * S) {
      In v[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) v[u] = p[i + int64_t(u) * S];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) acc[u] = op(acc[u], cast<A>(v[u]));
    }
    for (; i < cnt; i += S) acc[0] = op(acc[0], cast<A>(p[i]));
  }
#pragma unroll
  for (int u = 1; u < kUnroll; ++u) acc[0] = op(acc[0], acc[u]);
  sm[t] = acc[0];
  __syncthreads();
  if (t < inner) {
    A a = sm[t];
    for (int k = t + inner; k < S; k += inner) a = op(a, sm[k]);
    y[(o * splits + sp) * inner + t] = cast<Out>(a);
  }
}

// y: (n,) filled with the identity (reductions over empty axes).
template <typename Op, typename Out>
__global__ void fill_identity_kernel(Out* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    y[i] = cast<Out>(Op::init());
  }
}

// x: (n,) any dtype; y: (n,) bool (x != 0), for And/Or of non-bool inputs.
template <typename In>
__global__ void to_bool_kernel(const In* __restrict__ x, bool* __restrict__ y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    y[i] = cast<bool>(x[i]);
  }
}

// ---- host side ----

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

struct Ctx {
  const Stream& s;
  cudaStream_t cs;
  int64_t sms;
  std::vector<std::unique_ptr<cu::Scratch>> scratch;  // released in stream order at the end
  template <typename T>
  T* alloc(int64_t n) {
    scratch.push_back(std::make_unique<cu::Scratch>(static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(T), s));
    return static_cast<T*>(scratch.back()->get());
  }
};

// Resident 256-thread blocks of `kernel` on the whole GPU (one full wave); asked once per kernel.
template <auto Kernel>
int64_t wave(const Ctx& c) {
  static const int per_sm = [] {
    int b = 0;
    MICA_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, Kernel, kThreads, 0));
    return std::max(b, 1);
  }();
  return c.sms * per_sm;
}

// y[r] = reduce(x[r, 0:n]) for x (rows, n) row-major.
template <typename Op, typename In, typename Out, bool Split = true>
void reduce_rows(Ctx& c, const In* x, Out* y, int64_t rows, int64_t n) {
  using A = typename Op::A;
  constexpr int W = vec_width<In>;
  const int64_t vecs = ceil_div(n, W);
  // Threads per row: enough for about 4 vectors each (up to 256), but no more than fill the GPU
  // once rows are many, so long rows stream through one or two warps with few block barriers.
  const int64_t resident = wave<row_reduce_kernel<Op, In, Out>>(c) * kThreads;
  int tl = 0;
  while (tl < 8 && (int64_t(4) << tl) < vecs && (tl < 5 || (rows << tl) < resident)) ++tl;
  if constexpr (Split) {
    if (tl == 8 && n >= 2 * kMinChunk) {
      const int64_t splits0 = std::min(wave<row_reduce_kernel<Op, In, A>>(c) / rows, ceil_div(n, kMinChunk));
      if (splits0 > 1) {
        const int64_t chunk = ceil_div(ceil_div(n, splits0), kThreads * W) * kThreads * W;
        const int64_t splits = ceil_div(n, chunk);
        A* part = c.alloc<A>(rows * splits);
        row_reduce_kernel<Op, In, A><<<static_cast<unsigned>(rows * splits), kThreads, 0, c.cs>>>(x, part, rows, n, splits,
                                                                                                 chunk, 8);
        cu::check_launch("Reduce");
        reduce_rows<Op, A, Out, false>(c, part, y, rows, splits);
        return;
      }
    }
  }
  const int64_t blocks = ceil_div(rows, kThreads >> tl);
  row_reduce_kernel<Op, In, Out><<<static_cast<unsigned>(blocks), kThreads, 0, c.cs>>>(x, y, rows, n, 1, n, tl);
  cu::check_launch("Reduce");
}

// y[o, j] = reduce(x[o, 0:R, j]) for x (outer, R, inner) row-major.
template <typename Op, typename In, typename Out, bool Split = true>
void reduce_cols(Ctx& c, const In* x, Out* y, int64_t outer, int64_t R, int64_t inner) {
  using A = typename Op::A;
  constexpr int W = vec_width<In>;
  if (inner < 64) {
    int64_t splits = 1;
    if constexpr (Split) {
      splits = std::min(wave<col_small_kernel<Op, In, A>>(c) / outer, ceil_div(R * inner, 16 * kThreads));
    }
    const int64_t rchunk = ceil_div(R, std::max<int64_t>(splits, 1));
    splits = ceil_div(R, rchunk);
    if constexpr (Split) {
      if (splits > 1) {
        A* part = c.alloc<A>(outer * splits * inner);
        col_small_kernel<Op, In, A><<<static_cast<unsigned>(outer * splits), kThreads, 0, c.cs>>>(
            x, part, R, static_cast<int>(inner), splits, rchunk);
        cu::check_launch("Reduce");
        reduce_cols<Op, A, Out, false>(c, part, y, outer, splits, inner);
        return;
      }
    }
    col_small_kernel<Op, In, Out><<<static_cast<unsigned>(outer), kThreads, 0, c.cs>>>(x, y, R, static_cast<int>(inner), 1, R);
    cu::check_launch("Reduce");
    return;
  }
  const int64_t colblocks = ceil_div(inner, 32 * W);
  const bool vec = inner % W == 0 && cu::aligned<In, W>(x);
  int64_t splits = 1;
  if constexpr (Split) {
    splits = std::min({wave<col_reduce_kernel<Op, In, A>>(c) / (outer * colblocks), ceil_div(R, 32), int64_t(65535)});
  }
  const int64_t rchunk = ceil_div(R, std::max<int64_t>(splits, 1));
  splits = ceil_div(R, rchunk);
  if constexpr (Split) {
    if (splits > 1) {
      A* part = c.alloc<A>(outer * splits * inner);
      dim3 grid(static_cast<unsigned>(outer * colblocks), static_cast<unsigned>(splits));
      col_reduce_kernel<Op, In, A><<<grid, kThreads, 0, c.cs>>>(x, part, R, inner, splits, rchunk, colblocks, vec);
      cu::check_launch("Reduce");
      reduce_cols<Op, A, Out, false>(c, part, y, outer, splits, inner);
      return;
    }
  }
  col_reduce_kernel<Op, In, Out><<<static_cast<unsigned>(outer * colblocks), kThreads, 0, c.cs>>>(x, y, R, inner, 1, R,
                                                                                                 colblocks, vec);
  cu::check_launch("Reduce");
}

// Extent of a run of merged dims and whether it is reduced; a layout is such runs, outermost
// first, alternating kind.
struct Group {
  int64_t n;
  bool red;
};
int64_t prod_of(const std::vector<Group>& g, size_t b, size_t e) {
  int64_t p = 1;
  for (size_t i = b; i < e; ++i) p *= g[i].n;
  return p;
}

// The input in memory order: `keep` holds the array read (the input, or a row-major copy).
struct Canon {
  array keep;
  std::vector<Group> g;
};
Canon canonical(const array& in, const std::vector<bool>& red, const Stream& s) {
  std::vector<int> dims;
  for (size_t d = 0; d < in.ndim(); ++d) {
    if (in.shape()[d] > 1) dims.push_back(static_cast<int>(d));
  }
  bool ok = in.flags().row_contiguous;
  if (!ok) {
    // A dense permutation (transposes of row-major data) is read in place when the kept dims
    // keep their order in memory, so the output stays row-major.
    std::stable_sort(dims.begin(), dims.end(), [&](int a, int b) { return in.strides()[a] > in.strides()[b]; });
    ok = true;
    int64_t expect = 1;
    for (size_t k = dims.size(); k-- > 0;) {
      ok = ok && in.strides()[dims[k]] == expect;
      expect *= in.shape()[dims[k]];
    }
    int last = -1;
    for (int d : dims) {
      if (red[d]) continue;
      ok = ok && d > last;
      last = d;
    }
    if (!ok) std::sort(dims.begin(), dims.end());
  }
  Canon c{ok ? in : cu::ensure_row_contiguous(in, s), {}};
  for (int d : dims) {
    if (!c.g.empty() && c.g.back().red == red[d]) c.g.back().n *= in.shape()[d];
    else c.g.push_back({in.shape()[d], red[d]});
  }
  return c;
}

// One pass over the innermost reduced group of g (updated in place).
template <typename Op, typename In, typename Out>
void reduce_step(Ctx& c, const In* x, Out* y, std::vector<Group>& g) {
  if (g.back().red) {
    const int64_t n = g.back().n;
    g.pop_back();
    reduce_rows<Op, In, Out>(c, x, y, prod_of(g, 0, g.size()), n);
    return;
  }
  const size_t k = g.size() - 2;  // the reduced group before the trailing kept one
  const int64_t inner = g.back().n;
  reduce_cols<Op, In, Out>(c, x, y, prod_of(g, 0, k), g[k].n, inner);
  g.erase(g.begin() + k);
  if (k > 0) {
    g[k - 1].n *= inner;
    g.pop_back();
  }
}

template <typename Op, typename I, typename O>
void reduce_typed(Ctx& c, const I* x, O* y, std::vector<Group> g) {
  using A = typename Op::A;
  int nred = 0;
  for (auto& gr : g) nred += gr.red;
  if (nred == 0) {  // only size-1 reduced dims: each output converts one element
    reduce_rows<Op, I, O, false>(c, x, y, prod_of(g, 0, g.size()), 1);
    return;
  }
  if (nred == 1) {
    reduce_step<Op, I, O>(c, x, y, g);
    return;
  }
  // Several reduced groups: one pass each through accumulator-typed scratch.
  auto out_size = [&] {  // elements left after the next step
    const size_t k = g.back().red ? g.size() - 1 : g.size() - 2;
    return prod_of(g, 0, g.size()) / g[k].n;
  };
  A* t = c.alloc<A>(out_size());
  reduce_step<Op, I, A>(c, x, t, g);
  for (--nred; nred > 1; --nred) {
    A* t2 = c.alloc<A>(out_size());
    reduce_step<Op, A, A>(c, t, t2, g);
    t = t2;
  }
  reduce_step<Op, A, O>(c, t, y, g);
}

template <typename I>
using sum_out_t = std::conditional_t<
    std::is_same_v<I, bool> || std::is_same_v<I, int8_t> || std::is_same_v<I, int16_t>, int32_t,
    std::conditional_t<std::is_same_v<I, uint8_t> || std::is_same_v<I, uint16_t>, uint32_t, I>>;

template <typename Op, typename I, typename O>
void run_reduce(Ctx& c, const array& in, array& out, const Canon& cn) {
  if (out.dtype().size != sizeof(O)) throw std::runtime_error("[Reduce] unexpected output dtype " + dtype_to_string(out.dtype()));
  O* y = cu::ptr<O>(out);
  if (in.size() == 0) {
    const int64_t n = static_cast<int64_t>(out.size());
    fill_identity_kernel<Op, O><<<cu::grid_for(n), cu::kBlock, 0, c.cs>>>(y, n);
    cu::check_launch("Reduce");
    return;
  }
  reduce_typed<Op, I, O>(c, cu::ptr<I>(cn.keep), y, cn.g);
}

// ---- ArgReduce ----

template <bool IsMax, typename A>
__device__ __forceinline__ bool better(A v, A best) {
  if constexpr (IsMax) return (is_nan(v) && !is_nan(best)) || greater(v, best);
  else return (is_nan(v) && !is_nan(best)) || greater(best, v);
}
// (v, i) replaces (bv, bi) when better, or as good with a smaller index; kNone is empty.
template <bool IsMax, typename A>
__device__ __forceinline__ void take(A& bv, uint32_t& bi, A v, uint32_t i) {
  if (i == kNone) return;
  if (bi == kNone || better<IsMax>(v, bv) || (!better<IsMax>(bv, v) && i < bi)) {
    bv = v;
    bi = i;
  }
}
template <bool IsMax, typename A>
__device__ __forceinline__ void group_take(A& bv, uint32_t& bi, int tpr, A* smv, uint32_t* smi) {
  for (int o = (tpr < 32 ? tpr : 32) / 2; o > 0; o >>= 1) {
    A v = shfl_xor(bv, o);
    uint32_t i = __shfl_xor_sync(0xffffffffu, bi, o);
    take<IsMax>(bv, bi, v, i);
  }
  if (tpr > 32) {
    const int warp = threadIdx.x / 32, wpg = tpr / 32, first = warp / wpg * wpg;
    if (threadIdx.x % 32 == 0) {
      smv[warp] = bv;
      smi[warp] = bi;
    }
    __syncthreads();
    bv = smv[first];
    bi = smi[first];
    for (int k = 1; k < wpg; ++k) take<IsMax>(bv, bi, smv[first + k], smi[first + k]);
  }
}

// x: (rows, n) row-major, rows cut into `splits` chunks of `chunk`; a group of 2^tpr_log2
// threads per chunk. splits == 1: yi (rows,) gets the index; else (yv, yi) (rows, splits) get
// each chunk's best value and its index in the row.
template <bool IsMax, typename T>
__global__ void __launch_bounds__(kThreads) arg_row_kernel(const T* __restrict__ x, cu::compute_t<T>* __restrict__ yv,
                                                           uint32_t* __restrict__ yi, int64_t rows, int64_t n,
                                                           int64_t splits, int64_t chunk, int tpr_log2) {
  using A = cu::compute_t<T>;
  constexpr int W = vec_width<T>;
  MICA_SHARED(A, smv, kThreads / 32);
  __shared__ uint32_t smi[kThreads / 32];
  const int tpr = 1 << tpr_log2;
  const int64_t seg = int64_t(blockIdx.x) * (kThreads >> tpr_log2) + (threadIdx.x >> tpr_log2);
  const int lane = threadIdx.x & (tpr - 1);
  const bool live = seg < rows * splits;
  A bv = A(0);
  uint32_t bi = kNone;
  if (live) {
    const int64_t row = seg / splits, b = (seg - row * splits) * chunk;
    const int64_t len = chunk < n - b ? chunk : n - b;
    const T* p = x + row * n + b;
    // Each thread meets its elements in increasing order, so a strict test keeps the first.
    auto see = [&](A v, int64_t k) {
      if (bi == kNone || better<IsMax>(v, bv)) {
        bv = v;
        bi = static_cast<uint32_t>(b + k);
      }
    };
    int64_t head = (W - static_cast<int64_t>((reinterpret_cast<uintptr_t>(p) % 16) / sizeof(T))) % W;
    head = head < len ? head : len;
    for (int64_t k = lane; k < head; k += tpr) see(cast<A>(p[k]), k);
    const auto* v = reinterpret_cast<const Vec<T, W>*>(p + head);
    const int64_t nv = (len - head) / W;
    int64_t i = lane;
    for (; i + int64_t(kUnroll - 1) * tpr < nv; i += int64_t(kUnroll) * tpr) {
      Vec<T, W> r[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) r[u] = v[i + int64_t(u) * tpr];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
#pragma unroll
        for (int w = 0; w < W; ++w) see(cast<A>(r[u].v[w]), head + (i + int64_t(u) * tpr) * W + w);
      }
    }
    for (; i < nv; i += tpr) {
      Vec<T, W> r = v[i];
#pragma unroll
      for (int w = 0; w < W; ++w) see(cast<A>(r.v[w]), head + i * W + w);
    }
    for (int64_t k = head + nv * W + lane; k < len; k += tpr) see(cast<A>(p[k]), k);
  }
  group_take<IsMax>(bv, bi, tpr, smv, smi);
  if (live && lane == 0) {
    if (splits == 1) {
      yi[seg] = bi;
    } else {
      yv[seg] = bv;
      yi[seg] = bi;
    }
  }
}

// (pv, pi): (rows, splits) chunk winners; y: (rows,) the index. One warp per row.
template <bool IsMax, typename A>
__global__ void __launch_bounds__(kThreads) arg_finish_kernel(const A* __restrict__ pv, const uint32_t* __restrict__ pi,
                                                              uint32_t* __restrict__ y, int64_t rows, int64_t splits) {
  const int64_t row = blockIdx.x * int64_t(kThreads / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  A bv = A(0);
  uint32_t bi = kNone;
  if (row < rows) {
    for (int64_t k = lane; k < splits; k += 32) take<IsMax>(bv, bi, pv[row * splits + k], pi[row * splits + k]);
  }
  group_take<IsMax>(bv, bi, 32, static_cast<A*>(nullptr), static_cast<uint32_t*>(nullptr));
  if (row < rows && lane == 0) y[row] = bi;
}

// x: (outer, n, inner) row-major; y: (outer, inner). Block: bx threads along inner x by along n
// (bx * by = 256); blockIdx.x = (o, column block).
template <bool IsMax, typename T>
__global__ void __launch_bounds__(kThreads) arg_col_kernel(const T* __restrict__ x, uint32_t* __restrict__ y, int64_t n,
                                                           int64_t inner, int64_t colblocks, int bx) {
  using A = cu::compute_t<T>;
  MICA_SHARED(A, smv, kThreads);
  __shared__ uint32_t smi[kThreads];
  const int by = kThreads / bx, tx = threadIdx.x % bx, ty = threadIdx.x / bx;
  const int64_t o = blockIdx.x / colblocks, col = blockIdx.x % colblocks * bx + tx;
  A bv = A(0);
  uint32_t bi = kNone;
  if (col < inner) {
    const T* p = x + o * n * inner + col;
#pragma unroll 4
    for (int64_t r = ty; r < n; r += by) {
      A v = cast<A>(p[r * inner]);
      if (bi == kNone || better<IsMax>(v, bv)) {
        bv = v;
        bi = static_cast<uint32_t>(r);
      }
    }
  }
  smv[threadIdx.x] = bv;
  smi[threadIdx.x] = bi;
  __syncthreads();
  if (ty == 0 && col < inner) {
    for (int k = 1; k < by; ++k) take<IsMax>(bv, bi, smv[k * bx + tx], smi[k * bx + tx]);
    y[o * inner + col] = bi;
  }
}

template <bool IsMax, typename T>
void run_arg(Ctx& c, const T* x, uint32_t* y, int64_t outer, int64_t n, int64_t inner) {
  using A = cu::compute_t<T>;
  constexpr int W = vec_width<T>;
  if (inner > 1) {
    int bx = 1;
    while (bx < 32 && bx < inner) bx *= 2;
    const int64_t colblocks = ceil_div(inner, bx);
    arg_col_kernel<IsMax, T><<<static_cast<unsigned>(outer * colblocks), kThreads, 0, c.cs>>>(x, y, n, inner, colblocks, bx);
    cu::check_launch("ArgReduce");
    return;
  }
  const int64_t rows = outer, vecs = ceil_div(n, W);
  int tl = 0;
  while (tl < 8 && (int64_t(4) << tl) < vecs) ++tl;
  if (tl == 8 && n >= 2 * kMinChunk) {
    const int64_t splits0 = std::min(wave<arg_row_kernel<IsMax, T>>(c) / rows, ceil_div(n, kMinChunk));
    if (splits0 > 1) {
      const int64_t chunk = ceil_div(ceil_div(n, splits0), kThreads * W) * kThreads * W;
      const int64_t splits = ceil_div(n, chunk);
      A* pv = c.alloc<A>(rows * splits);
      uint32_t* pi = c.alloc<uint32_t>(rows * splits);
      arg_row_kernel<IsMax, T><<<static_cast<unsigned>(rows * splits), kThreads, 0, c.cs>>>(x, pv, pi, rows, n, splits,
                                                                                            chunk, 8);
      cu::check_launch("ArgReduce");
      arg_finish_kernel<IsMax, A><<<static_cast<unsigned>(ceil_div(rows, kThreads / 32)), kThreads, 0, c.cs>>>(
          pv, pi, y, rows, splits);
      cu::check_launch("ArgReduce");
      return;
    }
  }
  arg_row_kernel<IsMax, T><<<static_cast<unsigned>(ceil_div(rows, kThreads >> tl)), kThreads, 0, c.cs>>>(
      x, nullptr, y, rows, n, 1, n, tl);
  cu::check_launch("ArgReduce");
}

}  // namespace

void Reduce::eval_gpu(const std::vector<array>& inputs, array& out) {
  const Stream& s = stream();
  cu::prepare(inputs, s);
  cu::alloc_output(out, s);
  if (out.size() == 0) return;
  const array& in = inputs[0];
  Ctx c{s, cu::stream(s), cu::sm_count(), {}};
  std::vector<bool> red(in.ndim(), false);
  for (int a : axes_) red[a] = true;
  Canon cn = in.size() == 0 ? Canon{in, {}} : canonical(in, red, s);
  ReduceType type = type_;
  if (in.dtype() == bool_ && (type == Min || type == Max)) type = type == Min ? And : Or;
  if (type == And || type == Or) {
    if (in.dtype() != bool_ && in.size() > 0) {
      // Non-bool inputs are tested against zero first (one pass), then reduced as bool.
      const int64_t n = static_cast<int64_t>(cn.keep.size());
      bool* b = c.alloc<bool>(n);
      cu::dispatch(in.dtype(), [&](auto tag) {
        using I = typename decltype(tag)::type;
        to_bool_kernel<I><<<cu::grid_for(n, 4), cu::kBlock, 0, c.cs>>>(cu::ptr<I>(cn.keep), b, n);
      });
      cu::check_launch("Reduce");
      if (type == And) reduce_typed<AndOp, bool, bool>(c, b, cu::ptr<bool>(out), cn.g);
      else reduce_typed<OrOp, bool, bool>(c, b, cu::ptr<bool>(out), cn.g);
      return;
    }
    if (type == And) run_reduce<AndOp, bool, bool>(c, in, out, cn);
    else run_reduce<OrOp, bool, bool>(c, in, out, cn);
    return;
  }
  cu::dispatch(in.dtype(), [&](auto tag) {
    using I = typename decltype(tag)::type;
    using S = sum_out_t<I>;
    switch (type) {
      case Sum: return run_reduce<SumOp<cu::compute_t<S>>, I, S>(c, in, out, cn);
      case Prod: return run_reduce<ProdOp<cu::compute_t<S>>, I, S>(c, in, out, cn);
      case Min:
        if constexpr (!std::is_same_v<I, bool>) return run_reduce<MinOp<cu::compute_t<I>>, I, I>(c, in, out, cn);
        break;
      case Max:
        if constexpr (!std::is_same_v<I, bool>) return run_reduce<MaxOp<cu::compute_t<I>>, I, I>(c, in, out, cn);
        break;
      default: break;
    }
  });
}

void ArgReduce::eval_gpu(const std::vector<array>& inputs, array& out) {
  const Stream& s = stream();
  cu::prepare(inputs, s);
  cu::alloc_output(out, s);
  const array& in = inputs[0];
  if (out.size() == 0 || in.size() == 0) return;
  Ctx c{s, cu::stream(s), cu::sm_count(), {}};
  std::vector<bool> red(in.ndim(), false);
  red[axis_] = true;
  Canon cn = canonical(in, red, s);
  uint32_t* y = cu::ptr<uint32_t>(out);
  // Groups: [outer kept] reduced [inner kept]; a size-1 axis leaves no reduced group.
  auto it = std::find_if(cn.g.begin(), cn.g.end(), [](const Group& g) { return g.red; });
  if (it == cn.g.end()) {
    MICA_CUDA_CHECK(cudaMemsetAsync(y, 0, out.nbytes(), c.cs));
    return;
  }
  const size_t k = static_cast<size_t>(it - cn.g.begin());
  const int64_t outer = prod_of(cn.g, 0, k), n = cn.g[k].n, inner = prod_of(cn.g, k + 1, cn.g.size());
  cu::dispatch(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (type_ == ArgMax) run_arg<true, T>(c, cu::ptr<T>(cn.keep), y, outer, n, inner);
    else run_arg<false, T>(c, cu::ptr<T>(cn.keep), y, outer, n, inner);
  });
}

void NumberOfElements::eval_gpu(const std::vector<array>& inputs, array& out) {
  // out: a scalar of dtype_, written on the stream (ordered with its work, capturable in a graph).
  const Stream& s = stream();
  cu::alloc_output(out, s);
  cu::fill(out, value(inputs[0].shape()), s);
}

}  // namespace mica
