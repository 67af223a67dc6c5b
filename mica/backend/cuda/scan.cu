// CUDA kernels of Scan. in: any strides (copied row-major when not row-contiguous); out:
// row-major, same shape. With the input as (outer, n, inner) around the scanned axis:
// - inner == 1 (row scan): a warp (short rows) or a 256-thread block (long rows) per row walks
//   it in chunks: each thread scans 16 bytes of consecutive elements, the group scans the thread
//   totals with shuffles, and a running value carries between chunks. Few long rows are cut into
//   segments: one pass computes each segment's total, a second scans each segment seeded with
//   the combined totals of the segments before it (3 memory passes instead of 2).
// - inner > 1 (strided scan): each thread walks one column, loads coalesced across threads;
//   few columns are cut into segments the same way.
// Reverse scans walk positions n-1-p; exclusive scans start from the identity, as the CPU.
#include <cuda_runtime.h>

#include <algorithm>
#include <cuda/std/limits>
#include <memory>
#include <stdexcept>

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

constexpr int kThreads = 256;

// ---- element operations: Sum/Prod/Max/Min in device/reduce_ops.cuh ----

template <typename T>
struct LogAddExpOp {
  using A = T;
  __device__ static A init() { return -cuda::std::numeric_limits<A>::infinity(); }
  __device__ A operator()(A a, A b) const {
    if (is_nan(a) || is_nan(b)) return a + b;
    A hi = a > b ? a : b, lo = a > b ? b : a;
    if (lo == -cuda::std::numeric_limits<A>::infinity() || hi == cuda::std::numeric_limits<A>::infinity()) return hi;
    return hi + log1p(exp(lo - hi));
  }
};

template <typename T>
__device__ __forceinline__ T shfl_up(T v, int d) {
  if constexpr (is_complex_v<T>) {
    return T(__shfl_up_sync(0xffffffffu, v.real(), d), __shfl_up_sync(0xffffffffu, v.imag(), d));
  } else if constexpr (sizeof(T) < 4) {
    return static_cast<T>(__shfl_up_sync(0xffffffffu, static_cast<int>(v), d));
  } else {
    return __shfl_up_sync(0xffffffffu, v, d);
  }
}
template <typename T>
__device__ __forceinline__ T shfl_idx(T v, int src) {
  if constexpr (is_complex_v<T>) {
    return T(__shfl_sync(0xffffffffu, v.real(), src), __shfl_sync(0xffffffffu, v.imag(), src));
  } else if constexpr (sizeof(T) < 4) {
    return static_cast<T>(__shfl_sync(0xffffffffu, static_cast<int>(v), src));
  } else {
    return __shfl_sync(0xffffffffu, v, src);
  }
}

// Exclusive scan of v over a group of WARPS warps (the identity for its first thread); `total`
// gets the group's combination. sm: WARPS values (unused for one warp).
template <typename Op, int WARPS>
__device__ __forceinline__ typename Op::A group_exclusive(typename Op::A v, typename Op::A& total, typename Op::A* sm) {
  using A = typename Op::A;
  Op op;
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    A u = shfl_up(v, o);
    if (lane >= o) v = op(u, v);
  }
  A ex = shfl_up(v, 1);
  if (lane == 0) ex = Op::init();
  total = shfl_idx(v, 31);
  if constexpr (WARPS > 1) {
    const int warp = threadIdx.x / 32;
    __syncthreads();  // sm may still be read from the previous call
    if (lane == 31) sm[warp] = total;
    __syncthreads();
    A before = Op::init();
    total = sm[0];
#pragma unroll
    for (int k = 1; k < WARPS; ++k) {
      if (k == warp) before = total;
      total = op(total, sm[k]);
    }
    ex = op(before, ex);
  }
  return ex;
}

// x: (rows, n) row-major; y: (rows, n). Groups of WARPS warps (8 / WARPS groups per block), one
// per (row, segment); segments of `seglen` logical positions, S per row. Each chunk gives each
// thread ITEMS consecutive positions (16-byte accesses when `vec`). mode 1: part[row*S + seg] =
// the segment's total, nothing written; mode 0: writes the scan, seeded (when S > 1) with the
// combination of part[row*S, row*S + seg).
template <typename Op, typename I, typename O, int WARPS>
__global__ void __launch_bounds__(kThreads) scan_rows_kernel(const I* __restrict__ x, O* __restrict__ y,
                                                             typename Op::A* __restrict__ part, int64_t rows, int64_t n,
                                                             int64_t S, int64_t seglen, bool reverse, bool inclusive,
                                                             bool vec, int mode) {
  using A = typename Op::A;
  constexpr int ITEMS = vec_width<I>, G = 32 * WARPS, VO = 16 / sizeof(O);
  static_assert(ITEMS % VO == 0, "output vectors must tile the items");
  __shared__ alignas(16) unsigned char sm_raw[WARPS * sizeof(A)];
  A* sm = reinterpret_cast<A*>(sm_raw);
  Op op;
  const int64_t g = int64_t(blockIdx.x) * (8 / WARPS) + threadIdx.x / G;
  if (g >= rows * S) return;  // whole groups only: the block-wide barriers stay uniform
  const int t = threadIdx.x % G;
  const int64_t row = g / S, seg = g - row * S;
  const int64_t b = seg * seglen, e = n < b + seglen ? n : b + seglen;
  const I* px = x + row * n;
  O* py = y + row * n;
  A carry = Op::init();
  if (mode == 0 && seg > 0) {
    A v = Op::init(), total;
    for (int64_t k = t; k < seg; k += G) v = op(v, part[row * S + k]);
    // Thread order matches index order only within a stride; the ops are associative and
    // commutative, so the combination is the same.
    group_exclusive<Op, WARPS>(v, total, sm);
    carry = total;
  }
  for (int64_t cb = b; cb < e; cb += int64_t(G) * ITEMS) {
    const int64_t q = cb + int64_t(t) * ITEMS;  // this thread's first logical position
    A v[ITEMS];
    if (vec && q + ITEMS <= e) {
      const int64_t s0 = reverse ? n - q - ITEMS : q;
      Vec<I, ITEMS> r = *reinterpret_cast<const Vec<I, ITEMS>*>(px + s0);
#pragma unroll
      for (int k = 0; k < ITEMS; ++k) v[k] = cast<A>(r.v[reverse ? ITEMS - 1 - k : k]);
    } else {
#pragma unroll
      for (int k = 0; k < ITEMS; ++k) {
        const int64_t p = q + k;
        v[k] = p < e ? cast<A>(px[reverse ? n - 1 - p : p]) : Op::init();
      }
    }
#pragma unroll
    for (int k = 1; k < ITEMS; ++k) v[k] = op(v[k - 1], v[k]);
    A total;
    const A pre = op(carry, group_exclusive<Op, WARPS>(v[ITEMS - 1], total, sm));
    carry = op(carry, total);
    if (mode != 0 || q >= e) continue;
    O o[ITEMS];
#pragma unroll
    for (int k = 0; k < ITEMS; ++k) {
      o[k] = cast<O>(inclusive ? op(pre, v[k]) : (k == 0 ? pre : op(pre, v[k - 1])));
    }
    if (vec && q + ITEMS <= e) {
      const int64_t s0 = reverse ? n - q - ITEMS : q;
#pragma unroll
      for (int c = 0; c < ITEMS / VO; ++c) {
        Vec<O, VO> w;
#pragma unroll
        for (int k = 0; k < VO; ++k) w.v[k] = o[reverse ? ITEMS - 1 - (c * VO + k) : c * VO + k];
        *reinterpret_cast<Vec<O, VO>*>(py + s0 + c * VO) = w;
      }
    } else {
#pragma unroll
      for (int k = 0; k < ITEMS; ++k) {
        const int64_t p = q + k;
        if (p < e) py[reverse ? n - 1 - p : p] = o[k];
      }
    }
  }
  if (mode == 1 && t == 0) part[g] = carry;
}

// x: (outer, n, inner) row-major; y likewise. One thread per (segment, column), column =
// o * inner + j fastest; segments of `seglen` logical positions, S per column. mode 1:
// part[col*S + seg] = the segment's total; mode 0: writes the scan, seeded with the combination
// of part[col*S, col*S + seg) when S > 1.
template <typename Op, typename I, typename O>
__global__ void __launch_bounds__(kThreads) scan_cols_kernel(const I* __restrict__ x, O* __restrict__ y,
                                                             typename Op::A* __restrict__ part, int64_t cols, int64_t n,
                                                             int64_t inner, int64_t S, int64_t seglen, bool reverse,
                                                             bool inclusive, int mode) {
  using A = typename Op::A;
  constexpr int B = 8;  // loads in flight
  Op op;
  const int64_t tid = int64_t(blockIdx.x) * kThreads + threadIdx.x;
  if (tid >= cols * S) return;
  const int64_t col = tid % cols, seg = tid / cols;
  const int64_t o = col / inner, j = col - o * inner;
  const I* px = x + o * n * inner + j;
  O* py = y + o * n * inner + j;
  const int64_t b = seg * seglen, e = n < b + seglen ? n : b + seglen;
  A acc = Op::init();
  if (mode == 0) {
    for (int64_t k = 0; k < seg; ++k) acc = op(acc, part[col * S + k]);
  }
  for (int64_t p0 = b; p0 < e; p0 += B) {
    A v[B];
#pragma unroll
    for (int k = 0; k < B; ++k) {
      const int64_t p = p0 + k;
      v[k] = p < e ? cast<A>(px[(reverse ? n - 1 - p : p) * inner]) : Op::init();
    }
#pragma unroll
    for (int k = 0; k < B; ++k) {
      const int64_t p = p0 + k;
      if (mode == 0 && p < e) {
        const A prev = acc;
        acc = op(acc, v[k]);
        py[(reverse ? n - 1 - p : p) * inner] = cast<O>(inclusive ? acc : prev);
      } else {
        acc = op(acc, v[k]);
      }
    }
  }
  if (mode == 1) part[col * S + seg] = acc;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

template <typename Op, typename I, typename O>
void scan_typed(const Stream& s, const I* x, O* y, int64_t outer, int64_t n, int64_t inner, bool reverse, bool inclusive) {
  using A = typename Op::A;
  constexpr int ITEMS = vec_width<I>;
  cudaStream_t cs = cu::stream(s);
  const int64_t sms = cu::sm_count(), resident = sms * (2048 / kThreads);
  std::unique_ptr<cu::Scratch> scratch;
  auto alloc = [&](int64_t m) {
    scratch = std::make_unique<cu::Scratch>(static_cast<size_t>(m) * sizeof(A), s);
    return static_cast<A*>(scratch->get());
  };
  if (inner > 1 || n <= 16) {
    // One thread per column (a row is a column of inner 1 when rows are tiny).
    const int64_t cols = outer * inner;
    int64_t S = 1;
    if (cols < resident * kThreads / 2) S = std::min({ceil_div(resident * kThreads, cols), ceil_div(n, 64), int64_t(256)});
    const int64_t seglen = ceil_div(n, std::max<int64_t>(S, 1));
    S = ceil_div(n, seglen);
    A* part = S > 1 ? alloc(cols * S) : nullptr;
    const unsigned blocks = static_cast<unsigned>(ceil_div(cols * S, kThreads));
    if (S > 1) {
      scan_cols_kernel<Op, I, O><<<blocks, kThreads, 0, cs>>>(x, y, part, cols, n, inner, S, seglen, reverse, inclusive, 1);
      cu::check_launch("Scan");
    }
    scan_cols_kernel<Op, I, O><<<blocks, kThreads, 0, cs>>>(x, y, part, cols, n, inner, S, seglen, reverse, inclusive, 0);
    cu::check_launch("Scan");
    return;
  }
  const int64_t rows = outer;
  const bool vec = n % ITEMS == 0 && cu::aligned<I, ITEMS>(x) && cu::aligned<O, 16 / sizeof(O)>(y);
  if (n <= 32 * ITEMS * 4) {  // short rows: a warp each, 8 per block
    scan_rows_kernel<Op, I, O, 1><<<static_cast<unsigned>(ceil_div(rows, 8)), kThreads, 0, cs>>>(
        x, y, nullptr, rows, n, 1, n, reverse, inclusive, vec, 0);
    cu::check_launch("Scan");
    return;
  }
  const int64_t chunk = int64_t(kThreads) * ITEMS;
  int64_t S = 1;
  if (rows < resident) S = std::min(ceil_div(2 * resident, rows), ceil_div(n, 4 * chunk));
  const int64_t seglen = ceil_div(ceil_div(n, std::max<int64_t>(S, 1)), chunk) * chunk;
  S = ceil_div(n, seglen);
  A* part = S > 1 ? alloc(rows * S) : nullptr;
  const unsigned blocks = static_cast<unsigned>(rows * S);
  if (S > 1) {
    scan_rows_kernel<Op, I, O, 8><<<blocks, kThreads, 0, cs>>>(x, y, part, rows, n, S, seglen, reverse, inclusive, vec, 1);
    cu::check_launch("Scan");
  }
  scan_rows_kernel<Op, I, O, 8><<<blocks, kThreads, 0, cs>>>(x, y, part, rows, n, S, seglen, reverse, inclusive, vec, 0);
  cu::check_launch("Scan");
}
}  // namespace

void Scan::eval_gpu(const std::vector<array>& inputs, array& out) {
  const Stream& s = stream();
  cu::prepare(inputs, s);
  cu::alloc_output(out, s);
  if (out.size() == 0) return;
  array in = cu::ensure_row_contiguous(inputs[0], s);
  const int ax = axis_;
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < ax; ++d) outer *= in.shape()[d];
  for (size_t d = ax + 1; d < in.ndim(); ++d) inner *= in.shape()[d];
  const int64_t n = in.shape()[ax];
  cu::dispatch(in.dtype(), [&](auto tag) {
    using I = typename decltype(tag)::type;
    using A = cu::compute_t<I>;
    const I* x = cu::ptr<I>(in);
    auto run = [&](auto op, auto* y) {
      using Op = decltype(op);
      using O = std::remove_pointer_t<decltype(y)>;
      scan_typed<Op, I, O>(s, x, y, outer, n, inner, reverse_, inclusive_);
    };
    switch (type_) {
      case Sum:
        // Sum of bool counts in int32, as the CPU.
        if constexpr (std::is_same_v<I, bool>) return run(SumOp<int32_t>{}, cu::ptr<int32_t>(out));
        else return run(SumOp<A>{}, cu::ptr<I>(out));
      case Prod: return run(ProdOp<A>{}, cu::ptr<I>(out));
      case Max: return run(MaxOp<A>{}, cu::ptr<I>(out));
      case Min: return run(MinOp<A>{}, cu::ptr<I>(out));
      case LogAddExp:
        if constexpr (cu::is_float_v<I>) return run(LogAddExpOp<A>{}, cu::ptr<I>(out));
        else throw std::runtime_error("[Scan] kernel got unsupported dtype " + dtype_to_string(in.dtype()) + " for logaddexp (the op should have rejected it).");
    }
  });
}

}  // namespace mica
