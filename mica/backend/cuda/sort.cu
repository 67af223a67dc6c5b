// CUDA kernels of the sort family: Sort, ArgSort, Partition, ArgPartition along any axis.
// in: any layout, a row being the elements along `axis` (read through the strides); out: in's
// shape, row-major (uint32 indices for the arg ops). Keys are device/sort_keys.cuh's: NaNs last
// and all equal, ArgSort stable (ties, -0.0/+0.0 and NaNs in index order), complex by real
// then imaginary part (its Sort gathers the values by the sorted indices). Partition and
// ArgPartition return the full sort: a valid partition at every kth, and for ArgPartition the
// very index the CPU puts at kth (its order on (value, index) pairs is total).
//
// Rows of n <= 32: a warp per row, a bitonic network over shuffles on (key, index). Rows of
// n <= 4096: a block per row, cub::BlockRadixSort in registers and shared memory (32..512
// threads x 4 or 8 keys, chosen by n). Longer rows: a pass writes the keys (and indices) as
// contiguous rows, CUB sorts them, a pass writes them back in out's layout; the sort is
// cub::DeviceRadixSort row by row (few long rows; value sorts use CUB's own float keys with
// the NaNs made canonical first, and skip the passes where in and out are already rows) or
// cub::DeviceSegmentedRadixSort (many rows), picked by a rough time estimate.
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cub/block/block_radix_sort.cuh>
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_segmented_radix_sort.cuh>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "mica/backend/cuda/copy.h"
#include "mica/backend/cuda/device/elementwise.cuh"
#include "mica/backend/cuda/device/sort_keys.cuh"
#include "mica/backend/cuda/device/types.cuh"
#include "mica/backend/cuda/utils.h"
#include "mica/primitives/sort.h"

namespace mica {

namespace {
using cu::KeyCodec;
using cu::KeyKind;

constexpr int kMaxBlockRow = 4096;  // longest row sorted by one block
constexpr int kWarpRows = 8;        // rows (warps) per block of the warp sort

// Where row r of the sort lives: in at in_base(r) + j * si, out at out_base(r) + j * inner.
struct Rows {
  cu::Layout<1> in_rows;  // the dims other than the axis, with in's strides
  int64_t si;             // in's stride along the axis
  int64_t inner;          // out's stride along the axis (out is row-major)
  int64_t n, rows;
  __device__ __forceinline__ int64_t in_base(int64_t r) const {
    int64_t o[1];
    cu::offsets(in_rows, r, o);
    return o[0];
  }
  __device__ __forceinline__ int64_t out_base(int64_t r) const {
    return inner == 1 ? r * n : (r / inner) * n * inner + r % inner;
  }
};

// Output j of a row: the decoded key (a value sort), the index (argsort) or, when `gather`,
// the input element at that index (complex value sorts).
template <typename U, bool ARG>
__device__ __forceinline__ void put(void* out, int64_t o, U key, uint32_t idx, const U* x, int64_t si,
                                    const KeyCodec<U>& c, bool gather) {
  if constexpr (ARG) {
    if (gather) static_cast<U*>(out)[o] = x[int64_t(idx) * si];
    else static_cast<uint32_t*>(out)[o] = idx;
  } else {
    static_cast<U*>(out)[o] = c.decode(key);
  }
}

// Rows of n <= 32: warp w of the block sorts row blockIdx.x * kWarpRows + w, lane j holding
// element j (padding: the largest key, after every element). A bitonic network on (key,
// index), a total order, so the result is the stable sort.
template <typename U, bool ARG>
__global__ void __launch_bounds__(kWarpRows * 32) warp_sort_kernel(const U* __restrict__ in, void* __restrict__ out,
                                                                   Rows g, KeyCodec<U> c, bool gather) {
  using R = std::conditional_t<sizeof(U) == 8, unsigned long long, unsigned>;
  const int lane = threadIdx.x & 31, n = static_cast<int>(g.n);
  for (int64_t r = int64_t(blockIdx.x) * kWarpRows + threadIdx.x / 32; r < g.rows; r += int64_t(gridDim.x) * kWarpRows) {
    const U* x = in + g.in_base(r);
    R k = lane < n ? R(c.encode(x[int64_t(lane) * g.si])) : ~R(0);
    unsigned i = lane;
#pragma unroll
    for (int size = 2; size <= 32; size <<= 1) {
#pragma unroll
      for (int st = size >> 1; st > 0; st >>= 1) {
        const R ok = __shfl_xor_sync(0xffffffffu, k, st);
        const unsigned oi = __shfl_xor_sync(0xffffffffu, i, st);
        const bool other_less = ok < k || (ARG && ok == k && oi < i);
        const bool other_more = k < ok || (ARG && ok == k && i < oi);
        // The lower lane of a pair keeps the minimum in an ascending run, the maximum otherwise.
        const bool keep_min = ((lane & st) == 0) == ((lane & size) == 0);
        if (keep_min ? other_less : other_more) {
          k = ok;
          i = oi;
        }
      }
    }
    if (lane < n) put<U, ARG>(out, g.out_base(r) + int64_t(lane) * g.inner, U(k), i, x, g.si, c, gather);
  }
}

// Rows of 32 < n <= BT * IPT: block per row; thread t loads elements t*IPT .. t*IPT+IPT-1 (the
// blocked order, in which BlockRadixSort is stable), padding with the largest key after them;
// the sorted row comes back striped, so the writes are coalesced.
template <typename U, bool ARG, int BT, int IPT>
__global__ void __launch_bounds__(BT) block_sort_kernel(const U* __restrict__ in, void* __restrict__ out, Rows g,
                                                        KeyCodec<U> c, int end_bit, bool gather) {
  using V = std::conditional_t<ARG, uint16_t, cub::NullType>;
  using Sorter = cub::BlockRadixSort<U, BT, IPT, V>;
  constexpr int W = 16 / sizeof(U);  // elements per 16-byte load
  __shared__ typename Sorter::TempStorage tmp;
  const int n = static_cast<int>(g.n), t = threadIdx.x;
  for (int64_t r = blockIdx.x; r < g.rows; r += gridDim.x) {
    const U* x = in + g.in_base(r);
    U k[IPT];
    V v[IPT];
    const int j0 = t * IPT;
    bool done = false;
    if constexpr (IPT % W == 0) {
      if (g.si == 1 && j0 + IPT <= n && reinterpret_cast<uintptr_t>(x) % 16 == 0) {
#pragma unroll
        for (int q = 0; q < IPT / W; ++q) {
          const auto w = reinterpret_cast<const cu::Vec<U, W>*>(x + j0)[q];
#pragma unroll
          for (int e = 0; e < W; ++e) k[q * W + e] = c.encode(w.v[e]);
        }
        done = true;
      }
    }
    if (!done) {
#pragma unroll
      for (int q = 0; q < IPT; ++q) k[q] = j0 + q < n ? c.encode(x[int64_t(j0 + q) * g.si]) : static_cast<U>(~U(0));
    }
    if constexpr (ARG) {
#pragma unroll
      for (int q = 0; q < IPT; ++q) v[q] = static_cast<uint16_t>(j0 + q);
      Sorter(tmp).SortBlockedToStriped(k, v, 0, end_bit);
    } else {
      Sorter(tmp).SortBlockedToStriped(k, 0, end_bit);
    }
    const int64_t ob = g.out_base(r);
#pragma unroll
    for (int q = 0; q < IPT; ++q) {
      const int j = q * BT + t;
      uint32_t idx = 0;
      if constexpr (ARG) idx = v[q];
      if (j < n) put<U, ARG>(out, ob + int64_t(j) * g.inner, k[q], idx, x, g.si, c, gather);
    }
    __syncthreads();  // tmp is reused by the next row
  }
}

// Long rows, before CUB: keys[r * n + j] = the key of row r's element j (encoded, or the raw
// bits with canonical NaNs when `enc` is off), vals[r * n + j] = j when vals is set. Blocks:
// x over a row's elements (4 per thread), y over rows.
template <typename U>
__global__ void load_rows_kernel(const U* __restrict__ in, U* __restrict__ keys, uint32_t* __restrict__ vals, Rows g,
                                 KeyCodec<U> c, bool enc) {
  constexpr int kU = 4;
  for (int64_t r = blockIdx.y; r < g.rows; r += gridDim.y) {
    const U* x = in + g.in_base(r);
    U* kr = keys + r * g.n;
    for (int64_t j0 = int64_t(blockIdx.x) * blockDim.x * kU + threadIdx.x; j0 < g.n;
         j0 += int64_t(gridDim.x) * blockDim.x * kU) {
      U b[kU];
#pragma unroll
      for (int u = 0; u < kU; ++u) {
        const int64_t j = j0 + int64_t(u) * blockDim.x;
        if (j < g.n) b[u] = x[j * g.si];
      }
#pragma unroll
      for (int u = 0; u < kU; ++u) {
        const int64_t j = j0 + int64_t(u) * blockDim.x;
        if (j < g.n) {
          kr[j] = enc ? c.encode(b[u]) : c.canonical(b[u]);
          if (vals) vals[r * g.n + j] = static_cast<uint32_t>(j);
        }
      }
    }
  }
}

enum Store { kRaw, kDecode, kIndex, kGather };

// Long rows, after CUB: sorted rows (keys or vals, contiguous) written to out's layout: keys
// as they are (kRaw) or decoded, indices, or the input elements at the indices (kGather).
template <typename U>
__global__ void store_rows_kernel(const U* __restrict__ keys, const uint32_t* __restrict__ vals, void* __restrict__ out,
                                  const U* __restrict__ in, Rows g, KeyCodec<U> c, Store mode) {
  for (int64_t r = blockIdx.y; r < g.rows; r += gridDim.y) {
    const int64_t ob = g.out_base(r), ib = mode == kGather ? g.in_base(r) : 0;
    for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < g.n; j += int64_t(gridDim.x) * blockDim.x) {
      const int64_t e = r * g.n + j, o = ob + j * g.inner;
      switch (mode) {
        case kRaw: static_cast<U*>(out)[o] = keys[e]; break;
        case kDecode: static_cast<U*>(out)[o] = c.decode(keys[e]); break;
        case kIndex: static_cast<uint32_t*>(out)[o] = vals[e]; break;
        case kGather: static_cast<U*>(out)[o] = in[ib + int64_t(vals[e]) * g.si]; break;
      }
    }
  }
}

// off[r] = r * n for r in [0, rows]: the segment bounds of DeviceSegmentedRadixSort.
__global__ void offsets_kernel(int* off, int64_t rows, int64_t n) {
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r <= rows; r += int64_t(gridDim.x) * blockDim.x) {
    off[r] = static_cast<int>(r * n);
  }
}

// 2-d grid for the row passes: x over a row's elements, y over rows.
dim3 row_grid(const Rows& g, int per_thread) {
  const int64_t bx = std::min<int64_t>((g.n + int64_t(cu::kBlock) * per_thread - 1) / (int64_t(cu::kBlock) * per_thread),
                                       int64_t(1) << 20);
  const int64_t by = std::min<int64_t>(g.rows, 65535);
  return dim3(static_cast<unsigned>(std::max<int64_t>(bx, 1)), static_cast<unsigned>(by));
}

// GPU memory for one op, released in stream order when it goes out of scope.
struct Arena {
  const Stream& s;
  std::vector<std::unique_ptr<cu::Scratch>> bufs;
  template <typename T>
  T* get(int64_t count) {
    bufs.push_back(std::make_unique<cu::Scratch>(static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(T), s));
    return static_cast<T*>(bufs.back()->get());
  }
};

struct Job {
  const Stream& s;
  const array& in;
  array& out;
  Rows g;
  bool arg;     // indices out
  bool gather;  // complex values: sort indices, gather the values
  const char* name;
};

template <typename U, bool ARG>
void launch_block(const Job& j, const KeyCodec<U>& c, int end_bit) {
  cudaStream_t cs = cu::stream(j.s);
  const U* x = cu::ptr<U>(j.in);
  void* y = cu::ptr(j.out);
  const int64_t n = j.g.n, rows = j.g.rows;
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>(rows, INT_MAX));
  auto block = [&](auto bt, auto ipt) {
    constexpr int BT = decltype(bt)::value, IPT = decltype(ipt)::value;
    block_sort_kernel<U, ARG, BT, IPT><<<grid, BT, 0, cs>>>(x, y, j.g, c, end_bit, j.gather);
  };
  using std::integral_constant;
  if (n <= 32) {
    const int64_t blocks = std::min<int64_t>((rows + kWarpRows - 1) / kWarpRows, INT_MAX);
    warp_sort_kernel<U, ARG><<<static_cast<unsigned>(blocks), kWarpRows * 32, 0, cs>>>(x, y, j.g, c, j.gather);
  } else if (n <= 128) {
    block(integral_constant<int, 32>{}, integral_constant<int, 4>{});
  } else if (n <= 256) {
    block(integral_constant<int, 64>{}, integral_constant<int, 4>{});
  } else if (n <= 512) {
    block(integral_constant<int, 128>{}, integral_constant<int, 4>{});
  } else if (n <= 1024) {
    block(integral_constant<int, 128>{}, integral_constant<int, 8>{});
  } else if (n <= 2048) {
    block(integral_constant<int, 256>{}, integral_constant<int, 8>{});
  } else {
    block(integral_constant<int, 512>{}, integral_constant<int, 8>{});
  }
  cu::check_launch(j.name);
}

// Rough device times of the two long-row strategies for rows x n keys of kb bytes (+4 bytes of
// index with `pairs`): DeviceRadixSort per row pays a launch floor plus about kb + 1 passes of
// 8-bit digits over the data at ~2.5 TB/s; the segmented sort runs one block per row (~6-bit
// digits, three touches per pass) at ~40 GB/s a block, rows spread over the SMs. Guesses for
// an H100, to be tuned against the benchmark cases.
bool prefer_segmented(int64_t rows, int64_t n, int kb, bool pairs) {
  const double bytes = kb + (pairs ? 4 : 0), nn = static_cast<double>(n);
  const double t_loop = rows * (8e-6 + nn * bytes * (2.0 * kb + 1) / 2.5e12);
  const double passes = (kb * 8 + 5) / 6, waves = static_cast<double>((rows + cu::sm_count() - 1) / cu::sm_count());
  const double t_seg = waves * passes * nn * bytes * 3 / 40e9;
  return t_seg < t_loop;
}

// Value sort of long rows with CUB's own keys K (floats with canonical NaNs), row by row.
template <typename K, typename U>
void sort_native(const Job& j, const KeyCodec<U>& c, int end_bit) {
  cudaStream_t cs = cu::stream(j.s);
  Arena a{j.s};
  const Rows& g = j.g;
  const int n = static_cast<int>(g.n);
  const bool last = g.inner == 1;
  const bool pre = c.kind == KeyKind::kFloat || !(j.in.flags().row_contiguous && last);
  U* dst = last ? cu::ptr<U>(j.out) : a.get<U>(g.rows * g.n);
  size_t bytes = 0;
  if (pre) {
    load_rows_kernel<U><<<row_grid(g, 4), cu::kBlock, 0, cs>>>(cu::ptr<U>(j.in), dst, nullptr, g, c, false);
    cu::check_launch(j.name);
    K* alt = a.get<K>(n);
    cub::DoubleBuffer<K> probe(reinterpret_cast<K*>(dst), alt);
    MICA_CUDA_CHECK(cub::DeviceRadixSort::SortKeys(nullptr, bytes, probe, n, 0, end_bit, cs));
    void* tmp = a.get<char>(static_cast<int64_t>(bytes));
    for (int64_t r = 0; r < g.rows; ++r) {
      K* row = reinterpret_cast<K*>(dst) + r * n;
      cub::DoubleBuffer<K> db(row, alt);
      MICA_CUDA_CHECK(cub::DeviceRadixSort::SortKeys(tmp, bytes, db, n, 0, end_bit, cs));
      if (db.Current() != row) {
        MICA_CUDA_CHECK(cudaMemcpyAsync(row, db.Current(), sizeof(K) * n, cudaMemcpyDeviceToDevice, cs));
      }
    }
  } else {
    const K* src = cu::ptr<K>(j.in);
    MICA_CUDA_CHECK(cub::DeviceRadixSort::SortKeys(nullptr, bytes, src, reinterpret_cast<K*>(dst), n, 0, end_bit, cs));
    void* tmp = a.get<char>(static_cast<int64_t>(bytes));
    for (int64_t r = 0; r < g.rows; ++r) {
      MICA_CUDA_CHECK(cub::DeviceRadixSort::SortKeys(tmp, bytes, src + r * n, reinterpret_cast<K*>(dst) + r * n, n, 0,
                                                     end_bit, cs));
    }
  }
  if (!last) {
    store_rows_kernel<U><<<row_grid(g, 1), cu::kBlock, 0, cs>>>(dst, nullptr, cu::ptr(j.out), nullptr, g, c, kRaw);
    cu::check_launch(j.name);
  }
}

// Long rows on encoded keys: (key, index) pairs row by row, or keys / pairs segmented.
template <typename U>
void sort_encoded(const Job& j, const KeyCodec<U>& c, int end_bit, bool pairs, bool seg) {
  cudaStream_t cs = cu::stream(j.s);
  Arena a{j.s};
  const Rows& g = j.g;
  const int64_t total = g.rows * g.n;
  const int n = static_cast<int>(g.n);
  // Indices of an argsort along the last axis are sorted straight into out.
  const bool direct = j.arg && g.inner == 1;
  U* k0 = a.get<U>(total);
  uint32_t* v0 = pairs ? (direct ? cu::ptr<uint32_t>(j.out) : a.get<uint32_t>(total)) : nullptr;
  const int64_t alt = seg ? total : n;
  U* k1 = a.get<U>(alt);
  uint32_t* v1 = pairs ? a.get<uint32_t>(alt) : nullptr;
  load_rows_kernel<U><<<row_grid(g, 4), cu::kBlock, 0, cs>>>(cu::ptr<U>(j.in), k0, v0, g, c, true);
  cu::check_launch(j.name);
  const U* keys = k0;
  const uint32_t* vals = v0;
  size_t bytes = 0;
  if (seg) {
    int* off = a.get<int>(g.rows + 1);
    offsets_kernel<<<cu::grid_for(g.rows + 1), cu::kBlock, 0, cs>>>(off, g.rows, g.n);
    cu::check_launch(j.name);
    cub::DoubleBuffer<U> kb(k0, k1);
    cub::DoubleBuffer<uint32_t> vb(v0, v1);
    const int items = static_cast<int>(total), segs = static_cast<int>(g.rows);
    using cub::DeviceSegmentedRadixSort;
    if (pairs) {
      MICA_CUDA_CHECK(DeviceSegmentedRadixSort::SortPairs(nullptr, bytes, kb, vb, items, segs, off, off + 1, 0, end_bit, cs));
      void* tmp = a.get<char>(static_cast<int64_t>(bytes));
      MICA_CUDA_CHECK(DeviceSegmentedRadixSort::SortPairs(tmp, bytes, kb, vb, items, segs, off, off + 1, 0, end_bit, cs));
    } else {
      MICA_CUDA_CHECK(DeviceSegmentedRadixSort::SortKeys(nullptr, bytes, kb, items, segs, off, off + 1, 0, end_bit, cs));
      void* tmp = a.get<char>(static_cast<int64_t>(bytes));
      MICA_CUDA_CHECK(DeviceSegmentedRadixSort::SortKeys(tmp, bytes, kb, items, segs, off, off + 1, 0, end_bit, cs));
    }
    keys = kb.Current();
    vals = vb.Current();
  } else {
    // Row by row (only pairs come here: value sorts of few rows take sort_native).
    cub::DoubleBuffer<U> probe_k(k0, k1);
    cub::DoubleBuffer<uint32_t> probe_v(v0, v1);
    MICA_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, bytes, probe_k, probe_v, n, 0, end_bit, cs));
    void* tmp = a.get<char>(static_cast<int64_t>(bytes));
    for (int64_t r = 0; r < g.rows; ++r) {
      cub::DoubleBuffer<U> kb(k0 + r * n, k1);
      cub::DoubleBuffer<uint32_t> vb(v0 + r * n, v1);
      MICA_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(tmp, bytes, kb, vb, n, 0, end_bit, cs));
      if (vb.Current() != v0 + r * n) {
        MICA_CUDA_CHECK(cudaMemcpyAsync(v0 + r * n, vb.Current(), sizeof(uint32_t) * n, cudaMemcpyDeviceToDevice, cs));
      }
    }
  }
  if (direct && vals == v0) return;
  const Store mode = j.gather ? kGather : j.arg ? kIndex : kDecode;
  store_rows_kernel<U><<<row_grid(g, 1), cu::kBlock, 0, cs>>>(keys, vals, cu::ptr(j.out), cu::ptr<U>(j.in), g, c, mode);
  cu::check_launch(j.name);
}

template <typename U>
KeyCodec<U> codec_for(Dtype d, bool zero) {
  KeyCodec<U> c{KeyKind::kUnsigned, 0, 0, zero};
  switch (d.val) {
    case Dtype::Val::int8: case Dtype::Val::int16: case Dtype::Val::int32: case Dtype::Val::int64:
      c.kind = KeyKind::kSigned;
      break;
    case Dtype::Val::float16: c = {KeyKind::kFloat, U(0x7c00u), U(0x7e00u), zero}; break;
    case Dtype::Val::bfloat16: c = {KeyKind::kFloat, U(0x7f80u), U(0x7fc0u), zero}; break;
    case Dtype::Val::float32: c = {KeyKind::kFloat, U(0x7f800000u), U(0x7fc00000u), zero}; break;
    case Dtype::Val::float64:
      c = {KeyKind::kFloat, U(0x7ff0000000000000ull), U(0x7ff8000000000000ull), zero};
      break;
    case Dtype::Val::complex64: c.kind = KeyKind::kComplex; break;
    default: break;
  }
  return c;
}

// Calls f(Tag<K>{}) with CUB's key type of dtype d (bool sorts as its bytes).
template <typename F>
void dispatch_native(Dtype d, F&& f) {
  switch (d.val) {
    case Dtype::Val::int8: return f(cu::Tag<int8_t>{});
    case Dtype::Val::int16: return f(cu::Tag<int16_t>{});
    case Dtype::Val::int32: return f(cu::Tag<int32_t>{});
    case Dtype::Val::int64: return f(cu::Tag<int64_t>{});
    case Dtype::Val::uint16: return f(cu::Tag<uint16_t>{});
    case Dtype::Val::uint32: return f(cu::Tag<uint32_t>{});
    case Dtype::Val::uint64: return f(cu::Tag<uint64_t>{});
    case Dtype::Val::float16: return f(cu::Tag<__half>{});
    case Dtype::Val::bfloat16: return f(cu::Tag<__nv_bfloat16>{});
    case Dtype::Val::float32: return f(cu::Tag<float>{});
    case Dtype::Val::float64: return f(cu::Tag<double>{});
    default: return f(cu::Tag<uint8_t>{});  // bool, uint8
  }
}

template <typename U>
void run_typed(const Job& j) {
  const Dtype d = j.in.dtype();
  // Ties broken by index (argsort, complex) need -0.0 == +0.0 in the keys.
  const KeyCodec<U> c = codec_for<U>(d, j.arg || j.gather);
  const int end_bit = d == bool_ ? 1 : static_cast<int>(sizeof(U) * 8);
  const bool pairs = j.arg || j.gather;
  if (j.g.n <= kMaxBlockRow) {
    if (pairs) launch_block<U, true>(j, c, end_bit);
    else launch_block<U, false>(j, c, end_bit);
    return;
  }
  const int64_t total = j.g.rows * j.g.n;
  const bool seg = j.g.rows > 1 && total <= INT_MAX && prefer_segmented(j.g.rows, j.g.n, sizeof(U), pairs);
  if (!pairs && !seg) {
    dispatch_native(d, [&](auto tag) {
      using K = typename decltype(tag)::type;
      if constexpr (sizeof(K) == sizeof(U)) sort_native<K, U>(j, c, end_bit);  // only CUB sorts of U's size
    });
  } else {
    sort_encoded<U>(j, c, end_bit, pairs, seg);
  }
}

void run(const Stream& s, const std::vector<array>& inputs, array& out, int axis, bool arg, const char* name) {
  cu::prepare(inputs, s);
  cu::alloc_output(out, s);
  if (out.size() == 0) return;
  array in = inputs[0];
  auto other = [&](const auto& v) {
    auto w = v;
    w.erase(w.begin() + axis);
    return w;
  };
  // More non-mergeable dims than a layout holds: a row-major copy has at most two.
  if (cpu::collapse_dims<1>(other(in.shape()), {other(in.strides())}).shape.size() > size_t(cu::kMaxDims)) {
    in = cu::ensure_row_contiguous(in, s);
  }
  Rows g{};
  g.in_rows = cu::make_layout<1>(other(in.shape()), {other(in.strides())}, name);
  g.si = in.strides()[axis];
  g.n = in.shape()[axis];
  g.rows = static_cast<int64_t>(in.size()) / g.n;
  g.inner = 1;
  for (size_t d = axis + 1; d < in.ndim(); ++d) g.inner *= in.shape()[d];
  const Job j{s, in, out, g, arg, !arg && in.dtype() == complex64, name};
  switch (in.itemsize()) {
    case 1: return run_typed<uint8_t>(j);
    case 2: return run_typed<uint16_t>(j);
    case 4: return run_typed<uint32_t>(j);
    default: return run_typed<uint64_t>(j);
  }
}
}  // namespace

void Sort::eval_gpu(const std::vector<array>& inputs, array& out) { run(stream(), inputs, out, axis(), false, "Sort"); }

void ArgSort::eval_gpu(const std::vector<array>& inputs, array& out) {
  run(stream(), inputs, out, axis(), true, "ArgSort");
}

// A full sort is a partition at every kth (see the top of the file).
void Partition::eval_gpu(const std::vector<array>& inputs, array& out) {
  run(stream(), inputs, out, axis(), false, "Partition");
}

void ArgPartition::eval_gpu(const std::vector<array>& inputs, array& out) {
  run(stream(), inputs, out, axis(), true, "ArgPartition");
}

}  // namespace mica
