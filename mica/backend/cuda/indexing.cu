// CUDA kernels of the indexing family (backend/cpu/indexing.cpp's twin): Gather, Scatter,
// GatherAxis (take_along_axis), ScatterAxis (put_along_axis, scatter_add_axis), MaskedScatter.
// Index arrays have any integer dtype (read through a runtime switch, so kernels are
// instantiated per element size or dtype only) and any layout. Out-of-range indices follow
// primitives/indexing.h: a negative index counts from the end once, then gathers clamp and
// scatters drop the update. Offsets are int64 throughout (arrays past 2^31 elements).
//
// Gather and Scatter walk rows (device/index_walk.cuh): the window (slice_sizes, or the update
// window) collapsed with the strides it is read and written with, its last dim a row. A group
// of 1..32 threads (about one 16-byte vector each per row) takes a (window, row, segment) task:
// it resolves the window's indices once, then moves the row in 16-byte words where both sides
// are contiguous and aligned (the embedding lookup: a warp per row of the (V, D) table), element
// by element elsewhere. Scatter Sum/Prod/Max/Min combine atomically (device/atomics.cuh; float,
// half and bfloat16 Sum rows with 16-byte vector reductions on sm_90), except floating Sums of
// windows one element wide on every indexed axis (the embedding gradient), which add in window
// order (scatter_sum_ordered: reproducible, no atomics). Scatter None is
// deterministic and matches the CPU's "later windows win": a first pass atomicMax-es window
// position + 1 into an owner table, the second writes only the updates whose window owns the
// target. Windows one element wide on every indexed axis overlap only when their indices are
// equal, so the table then has one entry per index tuple; otherwise one per output element.
//
// Scatter outputs start as a's values (its buffer, when donatable); then the updates apply.
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_scan.cuh>
#include <thrust/iterator/transform_iterator.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>

#include "mica/backend/cpu/strided.h"
#include "mica/backend/cuda/copy.h"
#include "mica/backend/cuda/device/atomics.cuh"
#include "mica/backend/cuda/device/dispatch_float.cuh"
#include "mica/backend/cuda/device/elementwise.cuh"
#include "mica/backend/cuda/device/index_walk.cuh"
#include "mica/backend/cuda/device/types.cuh"
#include "mica/backend/cuda/utils.h"
#include "mica/primitives/indexing.h"

namespace mica {

namespace {

using cu::Combine;
using cu::Indices;
using cu::Layout;
using cu::RowTask;
using cu::RowWalk;
using cu::Vec;
using cu::vec_width;

constexpr int kThreads = 256;
constexpr int kUnroll = 4;  // 16-byte vectors in flight per thread
constexpr int kMaxIdx = cu::kMaxIndexArrays;

int64_t shape_size(const Shape& s) {
  return std::accumulate(s.begin(), s.end(), int64_t{1}, std::multiplies<int64_t>());
}

// Calls f(Tag<U>) with U an unsigned type of `size` bytes: moving elements needs no dtype.
template <typename F>
void dispatch_bytes(size_t size, F&& f) {
  switch (size) {
    case 1: return f(cu::Tag<uint8_t>{});
    case 2: return f(cu::Tag<uint16_t>{});
    case 4: return f(cu::Tag<uint32_t>{});
    default: return f(cu::Tag<uint64_t>{});
  }
}

// ---- indices ----

// pre[p] (and pre_key[p]) for index arrays past the first kMaxIdx: one chunk per launch, each
// adding to the last (ix.pre points at the same arrays then).
__global__ void fold_indices_kernel(Indices ix, int64_t* pre, int64_t* pre_key, bool gather, int64_t npos) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t p = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; p < npos; p += step) {
    if (gather) {
      pre[p] = cu::gather_base(ix, p);
    } else {
      int64_t key;
      pre[p] = cu::scatter_base(ix, p, key);
      pre_key[p] = key;
    }
  }
}

// The index arrays of a gather or scatter made ready for the kernels.
struct IndexArgs {
  Indices ix{};
  std::vector<array> keep;           // row-major copies of strided or broadcast index arrays
  std::unique_ptr<cu::Scratch> pre;  // folded offsets and keys (more than kMaxIdx arrays)
  int64_t keys = 1;                  // owner keys: the product of the indexed dims
};

// Indices on `axes` of an array of `shape`/`strides` for windows `win`, npos positions.
IndexArgs make_indices(const std::vector<array>& idx, const std::vector<int>& axes, const Shape& shape,
                       const Strides& strides, const Shape& win, int64_t npos, bool gather, const Stream& s,
                       const char* op) {
  IndexArgs r;
  const size_t n = axes.size();
  struct One {
    int code;
    const void* ptr;
    int64_t dim, hi, stride, key;
  };
  std::vector<One> all(n);
  for (size_t k = 0; k < n; ++k) {
    array c = cu::ensure_row_contiguous(idx[k], s);
    const int ax = axes[k];
    all[k] = {cu::index_code(c.dtype(), op), cu::ptr(c), shape[ax], shape[ax] - win[ax], strides[ax], 0};
    r.keep.push_back(std::move(c));
  }
  for (size_t k = n; k-- > 0;) {
    all[k].key = r.keys;
    r.keys *= all[k].dim;
  }
  auto fill = [&](Indices& ix, size_t b, size_t e) {
    ix.n = static_cast<int>(e - b);
    for (size_t k = b; k < e; ++k) {
      const One& o = all[k];
      ix.code[k - b] = o.code;
      ix.ptr[k - b] = o.ptr;
      ix.dim[k - b] = o.dim;
      ix.hi[k - b] = o.hi;
      ix.stride[k - b] = o.stride;
      ix.key[k - b] = o.key;
    }
  };
  const size_t direct = n > kMaxIdx ? n - kMaxIdx : 0;  // the last kMaxIdx arrays stay direct
  if (direct > 0) {
    r.pre = std::make_unique<cu::Scratch>(static_cast<size_t>(npos) * 2 * sizeof(int64_t), s);
    auto* pre = static_cast<int64_t*>(r.pre->get());
    int64_t* pre_key = pre + npos;
    for (size_t b = 0; b < direct; b += kMaxIdx) {
      Indices c{};
      fill(c, b, std::min(direct, b + kMaxIdx));
      if (b > 0) {
        c.pre = pre;
        c.pre_key = pre_key;
      }
      fold_indices_kernel<<<cu::grid_for(npos), cu::kBlock, 0, cu::stream(s)>>>(c, pre, pre_key, gather, npos);
      cu::check_launch(op);
    }
    r.ix.pre = pre;
    r.ix.pre_key = pre_key;
  }
  fill(r.ix, direct, n);
  return r;
}

// ---- row walks (device/index_walk.cuh) ----

// Launches kernel(args..., ntasks) with enough groups of 2^gl threads (grid-stride beyond).
template <typename... P, typename... A>
void launch_tasks(void (*kernel)(P...), int gl, int64_t ntasks, cudaStream_t s, A... args) {
  const int64_t per = kThreads >> gl;
  const int64_t blocks = std::clamp<int64_t>((ntasks + per - 1) / per, 1, int64_t(cu::sm_count()) * 32);
  kernel<<<static_cast<unsigned>(blocks), kThreads, 0, s>>>(args..., ntasks);
}

// ---- Gather ----

// a: any strides; out: (npos, slice) row-major. Row r of window p: in a at cu::gather_base(p) +
// rows(r) with stride sa; in out at p * slice + r * inner.
template <typename U>
__global__ void __launch_bounds__(kThreads)
    gather_kernel(const U* __restrict__ a, U* __restrict__ out, Indices ix, Layout<1> rows, int64_t sa, RowWalk rs,
                  int64_t slice, int64_t ntasks) {
  const int G = 1 << rs.gl, lane = threadIdx.x & (G - 1);
  const int64_t groups = (int64_t(gridDim.x) * blockDim.x) >> rs.gl;
  for (int64_t t = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> rs.gl; t < ntasks; t += groups) {
    const RowTask k = cu::task_of(rs, t);
    int64_t off[1];
    cu::offsets_of(rows, k.r, off);
    cu::copy_row(a + cu::gather_base(ix, k.p) + off[0], sa, out + k.p * slice + k.r * rs.inner, 1, k.b, k.e, lane, G);
  }
}

// ---- Scatter ----

enum class Op { Assign, Sum, Prod, Max, Min };

template <Op M, typename T>
__device__ __forceinline__ void apply(T* p, T u) {
  if constexpr (M == Op::Assign) *p = u;
  else if constexpr (M == Op::Sum) cu::atomic_combine<Combine::Sum>(p, u);
  else if constexpr (M == Op::Prod) cu::atomic_combine<Combine::Prod>(p, u);
  else if constexpr (M == Op::Max) cu::atomic_combine<Combine::Max>(p, u);
  else cu::atomic_combine<Combine::Min>(p, u);
}

// Owner table of Scatter None / put_along_axis: entry = position + 1 of the update that wins
// the key (0: none), uint32 or (wide) uint64.
enum OwnerMode { kNoOwner, kByWindow, kByElement };
struct Owner {
  void* ptr;
  bool wide;
  int mode;
};
__device__ __forceinline__ uint64_t owner_at(const Owner& o, int64_t key) {
  return o.wide ? static_cast<const unsigned long long*>(o.ptr)[key] : static_cast<const unsigned*>(o.ptr)[key];
}
__device__ __forceinline__ void claim(const Owner& o, int64_t key, int64_t v) {
  if (o.wide) atomicMax(static_cast<unsigned long long*>(o.ptr) + key, static_cast<unsigned long long>(v));
  else atomicMax(static_cast<unsigned*>(o.ptr) + key, static_cast<unsigned>(v));
}

// Row elements [b, e) of src (stride su) applied to dst (stride so). Stores move 16-byte words;
// float/half/bfloat16 sums use 16-byte vector reductions (sm_90); other atomics go one by one.
template <Op M, typename T>
__device__ __forceinline__ void apply_row(T* dst, int64_t so, const T* __restrict__ src, int64_t su, int64_t b,
                                          int64_t e, int lane, int G) {
  if constexpr (M == Op::Assign) {
    cu::copy_row(src, su, dst, so, b, e, lane, G);
    return;
  } else {
    constexpr int W = vec_width<T>;
    if constexpr (M == Op::Sum && (std::is_same_v<T, float> || cu::is_half_v<T>)) {
      if (so == 1 && su == 1 && cu::aligned16(dst + b) && cu::aligned16(src + b)) {
        const int64_t nv = (e - b) / W;
        const auto* vs = reinterpret_cast<const Vec<T, W>*>(src + b);
        for (int64_t v = lane; v < nv; v += int64_t(kUnroll) * G) {
          Vec<T, W> r[kUnroll];
#pragma unroll
          for (int u = 0; u < kUnroll; ++u) {
            if (v + u * G < nv) r[u] = vs[v + u * G];
          }
#pragma unroll
          for (int u = 0; u < kUnroll; ++u) {
            if (v + u * G < nv) cu::atomic_add_vec(dst + b + (v + u * G) * W, r[u]);
          }
        }
        b += nv * W;
      }
    }
    for (int64_t i = b + lane; i < e; i += G) apply<M>(dst + i * so, src[i * su]);
  }
}

// out: row-major (a's values); upd: (I, U), any strides. Row r of window p: in out at
// cu::scatter_base(p) + rows(r)[0] with stride so; in upd at ipos(p) + rows(r)[1] with stride su.
// None with an owner table by element: `claim_pass` fills it, the next launch writes.
template <Op M, typename T>
__global__ void __launch_bounds__(kThreads)
    scatter_kernel(T* out, const T* __restrict__ upd, Indices ix, Layout<1> ipos, Layout<2> rows, int64_t so,
                   int64_t su, RowWalk rs, Owner ow, bool claim_pass, int64_t ntasks) {
  const int G = 1 << rs.gl, lane = threadIdx.x & (G - 1);
  const int64_t groups = (int64_t(gridDim.x) * blockDim.x) >> rs.gl;
  for (int64_t t = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> rs.gl; t < ntasks; t += groups) {
    const RowTask k = cu::task_of(rs, t);
    int64_t key;
    const int64_t ob = cu::scatter_base(ix, k.p, key);
    if (ob < 0) continue;
    if (M == Op::Assign && ow.mode == kByWindow && owner_at(ow, key) != uint64_t(k.p + 1)) continue;
    int64_t ro[2], uo[1];
    cu::offsets_of(rows, k.r, ro);
    cu::offsets_of(ipos, k.p, uo);
    T* dst = out + ob + ro[0];
    const T* src = upd + uo[0] + ro[1];
    if (M == Op::Assign && ow.mode == kByElement) {
      for (int64_t i = k.b + lane; i < k.e; i += G) {
        const int64_t e = (dst - out) + i * so;
        if (claim_pass) claim(ow, e, k.p + 1);
        else if (owner_at(ow, e) == uint64_t(k.p + 1)) dst[i * so] = src[i * su];
      }
      continue;
    }
    apply_row<M>(dst, so, src, su, k.b, k.e, lane, G);
  }
}

// Owner table by window: each kept window claims its index tuple.
__global__ void claim_windows_kernel(Indices ix, Owner ow, int64_t npos) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t p = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; p < npos; p += step) {
    int64_t key;
    if (cu::scatter_base(ix, p, key) >= 0) claim(ow, key, p + 1);
  }
}

// ---- Scatter Sum in window order ----
// Windows one element wide on every indexed axis overlap exactly when their index tuples (keys)
// are equal. The keys are sorted with the window positions (a radix sort is stable: equal keys
// keep their positions in order), and one group of threads owns each (key, row, segment) of the
// output: it adds that key's windows one after another, with plain loads and stores. A floating
// sum then no longer depends on the order atomics land in: runs are bit-identical, in the CPU's
// order (window by window). Dropped windows (out-of-range indices) get the key `dropped`.

__global__ void window_keys_kernel(Indices ix, uint64_t* keys, int64_t* pos, uint64_t dropped, int64_t npos) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t p = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; p < npos; p += step) {
    int64_t key;
    keys[p] = cu::scatter_base(ix, p, key) >= 0 ? static_cast<uint64_t>(key) : dropped;
    pos[p] = p;
  }
}

template <typename T>
__device__ __forceinline__ T add_ordered(T a, T b) {
  if constexpr (cu::is_half_v<T>) return cu::cast<T>(cu::cast<float>(a) + cu::cast<float>(b));
  else return a + b;
}

// As scatter_kernel for Sum, task position k.p read as the k.p-th window in key order (keys,
// pos sorted): only the first window of each key works, adding all of its key's windows.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    scatter_sum_ordered_kernel(T* out, const T* __restrict__ upd, Indices ix, Layout<1> ipos, Layout<2> rows, int64_t so,
                               int64_t su, RowWalk rs, const uint64_t* __restrict__ keys,
                               const int64_t* __restrict__ pos, uint64_t dropped, int64_t npos, int64_t ntasks) {
  const int G = 1 << rs.gl, lane = threadIdx.x & (G - 1);
  const int64_t groups = (int64_t(gridDim.x) * blockDim.x) >> rs.gl;
  for (int64_t t = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> rs.gl; t < ntasks; t += groups) {
    const RowTask k = cu::task_of(rs, t);
    const uint64_t key = keys[k.p];
    if (key == dropped || (k.p > 0 && keys[k.p - 1] == key)) continue;
    int64_t unused, ro[2];
    cu::offsets_of(rows, k.r, ro);
    T* dst = out + cu::scatter_base(ix, pos[k.p], unused) + ro[0];
    for (int64_t j = k.p; j < npos && keys[j] == key; ++j) {
      int64_t uo[1];
      cu::offsets_of(ipos, pos[j], uo);
      const T* src = upd + uo[0] + ro[1];
      for (int64_t i = k.b + lane; i < k.e; i += G) dst[i * so] = add_ordered(dst[i * so], src[i * su]);
    }
  }
}

// ---- outputs that start as a ----

// out: n elements set to *v (or to x when v is null), 16-byte words (out is a fresh allocation).
template <typename U>
__global__ void fill_kernel(U* __restrict__ out, const U* __restrict__ v, U x, int64_t n) {
  constexpr int W = vec_width<U>;
  if (v) x = *v;
  Vec<U, W> xv;
#pragma unroll
  for (int w = 0; w < W; ++w) xv.v[w] = x;
  uint4 word;
  memcpy(&word, &xv, sizeof(word));
  const int64_t step = int64_t(gridDim.x) * blockDim.x, nv = n / W;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < nv; i += step) {
    reinterpret_cast<uint4*>(out)[i] = word;
  }
  for (int64_t i = nv * W + int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) out[i] = x;
}

// out takes a's buffer when a kernel may write into it (row-major, held by nobody else).
bool try_donate(const array& a, array& out, const Stream& s) {
  if (cu::donatable(a, s) && a.flags().row_contiguous && a.dtype() == out.dtype() && a.shape() == out.shape()) {
    out.copy_shared_buffer(a);
    return true;
  }
  return false;
}

// out = a (out's shape), row-major: a's buffer (donated), a fill (one value, read on the host
// when it is there: zeros(), full()) or a copy.
void init_out(const array& a, array& out, const Stream& s, const char* op) {
  const bool host_value = cu::is_host_scalar(a);
  if (!host_value) {
    cu::prepare(a, s);
    if (try_donate(a, out, s)) return;
  }
  cu::alloc_output(out, s);
  if (out.size() == 0) return;
  if (a.data_size() != 1) return cu::copy_into(a, out, s);
  const int64_t n = static_cast<int64_t>(out.size());
  dispatch_bytes(out.itemsize(), [&](auto t) {
    using U = typename decltype(t)::type;
    U x{};
    if (host_value) std::memcpy(&x, a.data<void>(), sizeof(U));
    fill_kernel<U><<<cu::grid_for(n, 4 * vec_width<U>), cu::kBlock, 0, cu::stream(s)>>>(
        cu::ptr<U>(out), host_value ? nullptr : cu::ptr<U>(a), x, n);
  });
  cu::check_launch(op);
}

// Combining scatters on 1- and 2-byte elements update the 4-byte word around each element (see
// atomics.cuh). The buffer is padded to whole words (cu::malloc), but the padding after the last
// element is never written: zero it, so those atomics read no uninitialized memory.
void clear_word_tail(const array& out, const Stream& s) {
  const ArrayData* d = out.data_record();
  const size_t end = static_cast<size_t>(out.byte_offset()) + out.data_size() * out.itemsize();
  if (out.itemsize() >= 4 || end % 4 == 0 || end != d->gpu.size) return;
  MICA_CUDA_CHECK(cudaMemsetAsync(static_cast<char*>(d->gpu.ptr) + end, 0, 4 - end % 4, cu::stream(s)));
}

// ---- GatherAxis, ScatterAxis ----

// out: idx's shape, row-major; l: out's shape with a's strides (the axis's zeroed) and idx's.
template <typename U>
__global__ void gather_axis_kernel(const U* __restrict__ a, U* __restrict__ out, const void* __restrict__ idx, int code,
                                   Layout<2> l, int64_t dim, int64_t sa, int64_t n) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t off[2];
    cu::offsets_of(l, i, off);
    out[i] = a[off[0] + cu::clamp_index(cu::load_index(idx, code, off[1]), dim, dim - 1) * sa];
  }
}

// idx, vals: the update shape, strides l.strides[0] and [1]; out: row-major, l.strides[2] its
// strides with the axis's zeroed, so its stride along the axis. Update i lands at
// off[2] + w * so (w its wrapped index; dropped when out of range).
template <Op M, typename T>
__global__ void scatter_axis_kernel(T* out, const T* __restrict__ vals, const void* __restrict__ idx, int code,
                                    Layout<3> l, int64_t dim, int64_t so, Owner ow, bool claim_pass, int64_t n) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t off[3];
    cu::offsets_of(l, i, off);
    const int64_t w = cu::wrap_index(cu::load_index(idx, code, off[0]), dim, dim - 1);
    if (w < 0) continue;
    const int64_t e = off[2] + w * so;
    if (M == Op::Assign && ow.mode != kNoOwner) {
      if (claim_pass) {
        claim(ow, e, i + 1);
        continue;
      }
      if (owner_at(ow, e) != uint64_t(i + 1)) continue;
    }
    apply<M>(out + e, vals[off[1]]);
  }
}

// put_along_axis with few updates per column: one thread walks a column's m updates in order
// (later ones win, as on the CPU). l: the shape without the axis; idx, vals, out strides.
template <typename U>
__global__ void put_axis_columns_kernel(U* out, const U* __restrict__ vals, const void* __restrict__ idx, int code,
                                        Layout<3> l, int64_t m, int64_t si, int64_t sv, int64_t so, int64_t dim,
                                        int64_t ncols) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < ncols; c += step) {
    int64_t off[3];
    cu::offsets_of(l, c, off);
    for (int64_t j = 0; j < m; ++j) {
      const int64_t w = cu::wrap_index(cu::load_index(idx, code, off[0] + j * si), dim, dim - 1);
      if (w >= 0) out[off[2] + w * so] = vals[off[1] + j * sv];
    }
  }
}

Shape drop_axis(const Shape& s, int axis) {
  Shape r = s;
  r.erase(r.begin() + axis);
  return r;
}
Strides drop_axis(const Strides& s, int axis) {
  Strides r = s;
  r.erase(r.begin() + axis);
  return r;
}

// ---- MaskedScatter ----

template <typename R>
struct AsRank {
  __host__ __device__ R operator()(bool b) const { return b ? R(1) : R(0); }
};

// rank[i] = number of true mask elements before i (mask row-major, n elements).
template <typename R>
void mask_ranks(const bool* mask, R* rank, int64_t n, const Stream& s) {
  cudaStream_t cs = cu::stream(s);
  auto in = thrust::make_transform_iterator(mask, AsRank<R>{});
  size_t bytes = 0;
  MICA_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(nullptr, bytes, in, rank, static_cast<R>(n), cs));
  cu::Scratch tmp(bytes, s);
  MICA_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(tmp.get(), bytes, in, rank, static_cast<R>(n), cs));
}

// out, mask: row-major; the k-th true position takes src[k mod nsrc], the others a's value
// (a through la; skipped when out already holds a).
template <typename U>
__global__ void masked_scatter_kernel(U* out, const U* __restrict__ a, Layout<1> la, bool copy_a,
                                      const bool* __restrict__ mask, const void* __restrict__ rank, bool rank64,
                                      const U* __restrict__ src, int64_t nsrc, int64_t n) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    if (mask[i]) {
      const int64_t k = rank64 ? static_cast<const int64_t*>(rank)[i] : static_cast<const int32_t*>(rank)[i];
      out[i] = src[k < nsrc ? k : k % nsrc];
    } else if (copy_a) {
      int64_t off[1];
      cu::offsets_of(la, i, off);
      out[i] = a[off[0]];
    }
  }
}

}  // namespace

void Gather::eval_gpu(const std::vector<array>& inputs, array& out) {
  // a: any layout; inputs[1..k]: indices of shape I (any dtype, layout); out: I + slice_sizes_,
  // row-major.
  const Stream& s = stream();
  cu::alloc_output(out, s);
  if (out.size() == 0) return;
  const array& a = inputs[0];
  cu::prepare(a, s);
  const int64_t slice = shape_size(slice_sizes_), npos = static_cast<int64_t>(out.size()) / slice;
  std::vector<array> idx(inputs.begin() + 1, inputs.end());
  IndexArgs in = make_indices(idx, axes_, a.shape(), a.strides(), slice_sizes_, npos, true, s, "gather");
  auto win = cpu::collapse_dims<1>(slice_sizes_, {a.strides()});
  const Layout<1> rows = cu::pack(win, true, "gather");
  const RowWalk rs = cu::plan_rows(cpu::num_rows(win), win.shape.back(), a.itemsize());
  const int64_t sa = win.strides[0].back();
  dispatch_bytes(a.itemsize(), [&](auto t) {
    using U = typename decltype(t)::type;
    launch_tasks(gather_kernel<U>, rs.gl, npos * rs.nrows * rs.nseg, cu::stream(s), cu::ptr<U>(a), cu::ptr<U>(out),
                 in.ix, rows, sa, rs, slice);
  });
  cu::check_launch("gather");
}

void Scatter::eval_gpu(const std::vector<array>& inputs, array& out) {
  // a: any layout; inputs[1..k]: indices of shape I; updates: I + U, any layout; out: a's
  // shape, row-major.
  const Stream& s = stream();
  const array& upd = inputs.back();
  init_out(inputs[0], out, s, "scatter");
  if (upd.size() == 0 || out.size() == 0) return;
  cu::prepare(upd, s);
  const int ni = static_cast<int>(upd.ndim() - out.ndim());
  const Shape ishape(upd.shape().begin(), upd.shape().begin() + ni),
      ushape(upd.shape().begin() + ni, upd.shape().end());
  const Strides istr(upd.strides().begin(), upd.strides().begin() + ni),
      ustr(upd.strides().begin() + ni, upd.strides().end());
  const int64_t npos = shape_size(ishape);
  std::vector<array> idx(inputs.begin() + 1, inputs.end() - 1);
  IndexArgs in = make_indices(idx, axes_, out.shape(), out.strides(), ushape, npos, false, s, "scatter");
  auto win = cpu::collapse_dims<2>(ushape, {out.strides(), ustr});
  const Layout<2> rows = cu::pack(win, true, "scatter");
  const Layout<1> ipos = cu::pack(cpu::collapse_dims<1>(ishape, {istr}), false, "scatter");
  const RowWalk rs = cu::plan_rows(cpu::num_rows(win), win.shape.back(), out.itemsize());
  const int64_t so = win.strides[0].back(), su = win.strides[1].back(), ntasks = npos * rs.nrows * rs.nseg;
  cudaStream_t cs = cu::stream(s);

  bool by_window = true;  // windows overlap only where their index tuples are equal
  for (int ax : axes_) by_window = by_window && ushape[ax] == 1;
  if (type_ == Sum && npos > 1 && by_window && is_floating(out.dtype())) {
    // Floating sums in window order (see scatter_sum_ordered_kernel).
    const uint64_t dropped = static_cast<uint64_t>(in.keys);
    int end_bit = 1;
    while (end_bit < 64 && (uint64_t(1) << end_bit) <= dropped) ++end_bit;
    cu::Scratch buf(static_cast<size_t>(npos) * 4 * sizeof(int64_t), s);
    auto* keys = static_cast<uint64_t*>(buf.get());
    uint64_t* keys_sorted = keys + npos;
    auto* pos = reinterpret_cast<int64_t*>(keys_sorted + npos);
    int64_t* pos_sorted = pos + npos;
    window_keys_kernel<<<cu::grid_for(npos), cu::kBlock, 0, cs>>>(in.ix, keys, pos, dropped, npos);
    size_t temp_bytes = 0;
    MICA_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys, keys_sorted, pos, pos_sorted, npos, 0,
                                                    end_bit, cs));
    cu::Scratch temp(temp_bytes, s);
    MICA_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.get(), temp_bytes, keys, keys_sorted, pos, pos_sorted, npos,
                                                    0, end_bit, cs));
    cu::dispatch_float("scatter", out.dtype(), [&](auto t) {
      using T = typename decltype(t)::type;
      launch_tasks(scatter_sum_ordered_kernel<T>, rs.gl, ntasks, cs, cu::ptr<T>(out), cu::ptr<T>(upd), in.ix, ipos,
                   rows, so, su, rs, static_cast<const uint64_t*>(keys_sorted), static_cast<const int64_t*>(pos_sorted),
                   dropped, npos);
    });
    cu::check_launch("scatter");
    return;
  }

  // None with several windows: the owner table (see the top of the file).
  Owner ow{nullptr, false, kNoOwner};
  std::unique_ptr<cu::Scratch> table;
  if (type_ == None && npos > 1) {
    const int64_t entries = by_window ? in.keys : static_cast<int64_t>(out.size());
    ow.wide = npos >= int64_t(UINT32_MAX);
    const size_t bytes = static_cast<size_t>(entries) * (ow.wide ? 8 : 4);
    table = std::make_unique<cu::Scratch>(bytes, s);
    ow.ptr = table->get();
    ow.mode = by_window ? kByWindow : kByElement;
    MICA_CUDA_CHECK(cudaMemsetAsync(ow.ptr, 0, bytes, cs));
    if (by_window) {
      claim_windows_kernel<<<cu::grid_for(npos), cu::kBlock, 0, cs>>>(in.ix, ow, npos);
    } else {
      dispatch_bytes(out.itemsize(), [&](auto t) {
        using U = typename decltype(t)::type;
        launch_tasks(scatter_kernel<Op::Assign, U>, rs.gl, ntasks, cs, cu::ptr<U>(out), cu::ptr<U>(upd), in.ix, ipos,
                     rows, so, su, rs, ow, true);
      });
    }
    cu::check_launch("scatter");
  }
  if (type_ != None) clear_word_tail(out, s);
  auto run = [&](auto t, auto op) {
    using T = typename decltype(t)::type;
    launch_tasks(scatter_kernel<decltype(op)::value, T>, rs.gl, ntasks, cs, cu::ptr<T>(out), cu::ptr<T>(upd), in.ix,
                 ipos, rows, so, su, rs, ow, false);
  };
  using std::integral_constant;
  switch (type_) {
    case None: dispatch_bytes(out.itemsize(), [&](auto t) { run(t, integral_constant<Op, Op::Assign>{}); }); break;
    case Sum: cu::dispatch(out.dtype(), [&](auto t) { run(t, integral_constant<Op, Op::Sum>{}); }); break;
    case Prod: cu::dispatch(out.dtype(), [&](auto t) { run(t, integral_constant<Op, Op::Prod>{}); }); break;
    case Max: cu::dispatch(out.dtype(), [&](auto t) { run(t, integral_constant<Op, Op::Max>{}); }); break;
    case Min: cu::dispatch(out.dtype(), [&](auto t) { run(t, integral_constant<Op, Op::Min>{}); }); break;
  }
  cu::check_launch("scatter");
}

void GatherAxis::eval_gpu(const std::vector<array>& inputs, array& out) {
  // a, idx: any layout, one shape except along axis_; out: idx's shape, row-major.
  const Stream& s = stream();
  cu::alloc_output(out, s);
  if (out.size() == 0) return;
  const array& a = inputs[0];
  const array& idx = inputs[1];
  cu::prepare(inputs, s);
  Strides as = a.strides();
  as[axis_] = 0;
  const auto l = cu::make_layout<2>(out.shape(), {as, idx.strides()}, "take_along_axis");
  const int code = cu::index_code(idx.dtype(), "take_along_axis");
  const int64_t n = static_cast<int64_t>(out.size()), dim = a.shape(axis_), sa = a.strides()[axis_];
  dispatch_bytes(a.itemsize(), [&](auto t) {
    using U = typename decltype(t)::type;
    gather_axis_kernel<U><<<cu::grid_for(n), cu::kBlock, 0, cu::stream(s)>>>(cu::ptr<U>(a), cu::ptr<U>(out),
                                                                             cu::ptr(idx), code, l, dim, sa, n);
  });
  cu::check_launch("take_along_axis");
}

void ScatterAxis::eval_gpu(const std::vector<array>& inputs, array& out) {
  // a: out's shape, any layout; idx, values: one shape, a's except along axis_, any layout;
  // out row-major.
  const Stream& s = stream();
  const array& idx = inputs[1];
  const array& val = inputs[2];
  const char* name = type_ == None ? "put_along_axis" : "scatter_add_axis";
  init_out(inputs[0], out, s, name);
  if (idx.size() == 0 || out.size() == 0) return;
  cu::prepare(idx, s);
  cu::prepare(val, s);
  const int ax = axis_;
  const int64_t dim = out.shape(ax), m = idx.shape(ax), so = out.strides()[ax];
  const int64_t n = static_cast<int64_t>(idx.size()), ncols = n / m;
  const int code = cu::index_code(idx.dtype(), name);
  cudaStream_t cs = cu::stream(s);
  // None with several updates per column: a thread per column walks them in order when that
  // gives enough threads (or the columns are short, or an owner table would dwarf the work).
  const bool dups = type_ == None && m > 1;
  if (dups && (m <= 16 || ncols >= 65536 || out.size() > 16 * idx.size())) {
    const auto l = cu::make_layout<3>(
        drop_axis(idx.shape(), ax),
        {drop_axis(idx.strides(), ax), drop_axis(val.strides(), ax), drop_axis(out.strides(), ax)}, name);
    const int64_t si = idx.strides()[ax], sv = val.strides()[ax];
    dispatch_bytes(out.itemsize(), [&](auto t) {
      using U = typename decltype(t)::type;
      put_axis_columns_kernel<U><<<cu::grid_for(ncols), cu::kBlock, 0, cs>>>(
          cu::ptr<U>(out), cu::ptr<U>(val), cu::ptr(idx), code, l, m, si, sv, so, dim, ncols);
    });
    cu::check_launch(name);
    return;
  }
  Strides os = out.strides();
  os[ax] = 0;
  const auto l = cu::make_layout<3>(idx.shape(), {idx.strides(), val.strides(), os}, name);
  Owner ow{nullptr, false, kNoOwner};
  std::unique_ptr<cu::Scratch> table;
  if (dups) {
    ow.wide = n >= int64_t(UINT32_MAX);
    ow.mode = kByElement;
    const size_t bytes = out.size() * (ow.wide ? 8 : 4);
    table = std::make_unique<cu::Scratch>(bytes, s);
    ow.ptr = table->get();
    MICA_CUDA_CHECK(cudaMemsetAsync(ow.ptr, 0, bytes, cs));
  }
  if (type_ == None) {
    dispatch_bytes(out.itemsize(), [&](auto t) {
      using U = typename decltype(t)::type;
      for (bool claim_pass : {true, false}) {
        if (claim_pass && !dups) continue;
        scatter_axis_kernel<Op::Assign, U><<<cu::grid_for(n), cu::kBlock, 0, cs>>>(
            cu::ptr<U>(out), cu::ptr<U>(val), cu::ptr(idx), code, l, dim, so, ow, claim_pass, n);
      }
    });
  } else {
    clear_word_tail(out, s);
    cu::dispatch(out.dtype(), [&](auto t) {
      using T = typename decltype(t)::type;
      scatter_axis_kernel<Op::Sum, T><<<cu::grid_for(n), cu::kBlock, 0, cs>>>(
          cu::ptr<T>(out), cu::ptr<T>(val), cu::ptr(idx), code, l, dim, so, ow, false, n);
    });
  }
  cu::check_launch(name);
}

void MaskedScatter::eval_gpu(const std::vector<array>& inputs, array& out) {
  // a: any layout; mask: bool, a's shape, any layout; src: a's dtype, any shape, read row-major
  // and cyclically; out row-major.
  const Stream& s = stream();
  const array& a = inputs[0];
  const int64_t n = static_cast<int64_t>(out.size()), nsrc = static_cast<int64_t>(inputs[2].size());
  if (n == 0 || nsrc == 0) return init_out(a, out, s, "masked_scatter");
  cu::prepare(a, s);
  array mask = cu::ensure_row_contiguous(inputs[1], s);
  array src = cu::ensure_row_contiguous(inputs[2], s);
  const bool donated = try_donate(a, out, s);
  if (!donated) cu::alloc_output(out, s);
  const Layout<1> la = donated ? Layout<1>{} : cu::make_layout<1>(a.shape(), {a.strides()}, "masked_scatter");
  const bool wide = n > int64_t(INT32_MAX);
  cu::Scratch ranks(static_cast<size_t>(n) * (wide ? 8 : 4), s);
  if (wide) mask_ranks(cu::ptr<bool>(mask), static_cast<int64_t*>(ranks.get()), n, s);
  else mask_ranks(cu::ptr<bool>(mask), static_cast<int32_t*>(ranks.get()), n, s);
  dispatch_bytes(out.itemsize(), [&](auto t) {
    using U = typename decltype(t)::type;
    masked_scatter_kernel<U><<<cu::grid_for(n, 4), cu::kBlock, 0, cu::stream(s)>>>(
        cu::ptr<U>(out), donated ? nullptr : cu::ptr<U>(a), la, !donated, cu::ptr<bool>(mask), ranks.get(), wide,
        cu::ptr<U>(src), nsrc, n);
  });
  cu::check_launch("masked_scatter");
}

}  // namespace mica
