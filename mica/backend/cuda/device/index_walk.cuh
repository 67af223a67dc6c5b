// Device helpers of the gathers and scatters (backend/cuda/indexing.cu): index arrays of any
// integer dtype read as int64 and resolved with primitives/indexing.h's rules (a negative index
// counts from the end once; gathers clamp, scatters drop), and the row walk: a window collapsed
// into rows, each row split in segments taken by groups of 1..32 threads.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

#include "mica/backend/cpu/strided.h"
#include "mica/backend/cuda/device/elementwise.cuh"

namespace mica::cu {

// ---- indices ----

/** Index arrays one kernel reads itself (more are folded into `pre` by a pre-pass). */
inline constexpr int kMaxIndexArrays = 8;

/** Element i of an index array of dtype `code` (int8, int16, int32, int64, uint8, uint16,
 * uint32, uint64: 0..7) as int64; uint64 past int64's range wraps negative, as the CPU reads it. */
__device__ __forceinline__ int64_t load_index(const void* p, int code, int64_t i) {
  switch (code) {
    case 0: return static_cast<const int8_t*>(p)[i];
    case 1: return static_cast<const int16_t*>(p)[i];
    case 2: return static_cast<const int32_t*>(p)[i];
    case 3: return static_cast<const int64_t*>(p)[i];
    case 4: return static_cast<const uint8_t*>(p)[i];
    case 5: return static_cast<const uint16_t*>(p)[i];
    case 6: return static_cast<const uint32_t*>(p)[i];
    default: return static_cast<int64_t>(static_cast<const uint64_t*>(p)[i]);
  }
}

/** An index dtype as the code of load_index (throws for other dtypes). */
inline int index_code(Dtype d, const char* op) {
  switch (d.val) {
    case Dtype::Val::int8: return 0;
    case Dtype::Val::int16: return 1;
    case Dtype::Val::int32: return 2;
    case Dtype::Val::int64: return 3;
    case Dtype::Val::uint8: return 4;
    case Dtype::Val::uint16: return 5;
    case Dtype::Val::uint32: return 6;
    case Dtype::Val::uint64: return 7;
    default:
      throw std::runtime_error(std::string("[") + op + "] kernel got indices of dtype " + dtype_to_string(d) +
                               " (the op should have rejected them).");
  }
}

/** A gather's index: a negative one counts from the end once, then it is clamped into [0, hi]. */
__device__ __forceinline__ int64_t clamp_index(int64_t i, int64_t dim, int64_t hi) {
  if (i < 0) i += dim;
  return i < 0 ? 0 : (i > hi ? hi : i);
}
/** A scatter's index, or -1 (the update is dropped) when still outside [0, hi]. */
__device__ __forceinline__ int64_t wrap_index(int64_t i, int64_t dim, int64_t hi) {
  if (i < 0) i += dim;
  return (i < 0 || i > hi) ? -1 : i;
}

/** Up to kMaxIndexArrays index arrays, row-major over the index shape I (element p: window p),
 * and what a pre-pass folded from the arrays before them: pre (offset; -1: a dropped scatter
 * window) and pre_key (owner key). */
struct Indices {
  int n;
  int code[kMaxIndexArrays];
  const void* ptr[kMaxIndexArrays];
  int64_t dim[kMaxIndexArrays];     // size of the indexed axis
  int64_t hi[kMaxIndexArrays];      // largest valid window start on it
  int64_t stride[kMaxIndexArrays];  // the indexed array's stride along it
  int64_t key[kMaxIndexArrays];     // weight of the start in the owner key (Scatter None)
  const int64_t* pre;
  const int64_t* pre_key;
};

/** Offset of gather window p's first element. */
__device__ __forceinline__ int64_t gather_base(const Indices& ix, int64_t p) {
  int64_t off = ix.pre ? ix.pre[p] : 0;
  for (int k = 0; k < ix.n; ++k) {
    off += clamp_index(load_index(ix.ptr[k], ix.code[k], p), ix.dim[k], ix.hi[k]) * ix.stride[k];
  }
  return off;
}

/** Offset of scatter window p's first element (-1: dropped) and its owner key. */
__device__ __forceinline__ int64_t scatter_base(const Indices& ix, int64_t p, int64_t& key) {
  int64_t off = 0;
  key = 0;
  if (ix.pre) {
    off = ix.pre[p];
    if (off < 0) return -1;
    key = ix.pre_key[p];
  }
  for (int k = 0; k < ix.n; ++k) {
    const int64_t w = wrap_index(load_index(ix.ptr[k], ix.code[k], p), ix.dim[k], ix.hi[k]);
    if (w < 0) return -1;
    off += w * ix.stride[k];
    key += w * ix.key[k];
  }
  return off;
}

// ---- row walks ----

/** A collapsed layout packed for a kernel: all its dims, or all but the last (a walk's rows). */
template <size_t N>
Layout<static_cast<int>(N)> pack(const cpu::Collapsed<N>& c, bool rows, const char* op) {
  const int nd = static_cast<int>(c.shape.size()) - (rows ? 1 : 0);
  if (nd > kMaxDims) {
    throw std::invalid_argument(std::string("[") + op + "] expected at most " + std::to_string(kMaxDims) +
                                " non-mergeable dimensions on the GPU, got " + std::to_string(nd) + ".");
  }
  Layout<static_cast<int>(N)> l{};
  l.ndim = nd;
  for (int d = 0; d < nd; ++d) {
    l.shape[d] = c.shape[d];
    for (size_t k = 0; k < N; ++k) l.strides[k][d] = c.strides[k][d];
  }
  return l;
}

/** offsets() of flat element i; a single dim needs no division. */
template <int N>
__device__ __forceinline__ void offsets_of(const Layout<N>& l, int64_t i, int64_t (&off)[N]) {
  if (l.ndim == 1) {
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] = i * l.strides[k][0];
  } else {
    offsets(l, i, off);
  }
}

__device__ __forceinline__ bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

/** Tasks of a row walk: windows x rows per window x segments per row, one group of 2^gl
 * threads (about one 16-byte vector each per row, at most a warp) per task. */
struct RowWalk {
  int64_t nrows;   // rows per window
  int64_t inner;   // elements per row
  int64_t nseg;    // segments per row
  int64_t seglen;  // elements per segment (a multiple of the vector width)
  int gl;
};

inline RowWalk plan_rows(int64_t nrows, int64_t inner, size_t itemsize) {
  const int64_t w = itemsize >= 16 ? 1 : static_cast<int64_t>(16 / itemsize);
  const int64_t nv = (inner + w - 1) / w;
  int gl = 0;
  while (gl < 5 && (int64_t(1) << gl) < nv) ++gl;
  const int64_t seglen = w << (gl + 3);  // 8 vectors a thread
  return {nrows, inner, (inner + seglen - 1) / seglen, seglen, gl};
}

/** Window p, row r of the window, elements [b, e) of the row. */
struct RowTask {
  int64_t p, r, b, e;
};
__device__ __forceinline__ RowTask task_of(const RowWalk& rw, int64_t t) {
  int64_t row = t, seg = 0;
  if (rw.nseg > 1) {
    row = t / rw.nseg;
    seg = t - row * rw.nseg;
  }
  int64_t p = row, r = 0;
  if (rw.nrows > 1) {
    p = row / rw.nrows;
    r = row - p * rw.nrows;
  }
  const int64_t b = seg * rw.seglen;
  return {p, r, b, b + rw.seglen < rw.inner ? b + rw.seglen : rw.inner};
}

/** Row elements [b, e) from src (stride ss) to dst (stride sd) by the `G` threads of a group:
 * 16-byte words where both are contiguous and aligned, four in flight per thread. */
template <typename U>
__device__ __forceinline__ void copy_row(const U* __restrict__ src, int64_t ss, U* __restrict__ dst, int64_t sd,
                                         int64_t b, int64_t e, int lane, int G) {
  constexpr int W = vec_width<U>, kUnroll = 4;
  if (ss == 1 && sd == 1 && aligned16(src + b) && aligned16(dst + b)) {
    const int64_t nv = (e - b) / W;
    const auto* vs = reinterpret_cast<const uint4*>(src + b);
    auto* vd = reinterpret_cast<uint4*>(dst + b);
    for (int64_t v = lane; v < nv; v += int64_t(kUnroll) * G) {
      uint4 r[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (v + u * G < nv) r[u] = vs[v + u * G];
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (v + u * G < nv) vd[v + u * G] = r[u];
      }
    }
    b += nv * W;
  }
  for (int64_t i = b + lane; i < e; i += G) dst[i * sd] = src[i * ss];
}

}  // namespace mica::cu
