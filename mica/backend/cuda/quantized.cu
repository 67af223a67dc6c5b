// CUDA kernel of QuantizedMatmul (backend/cpu/quantized.cpp's twin) for x @ W.T with W in MLX's
// affine packed layout: the decoding and small-batch case (a few rows of x against a large
// weight matrix), where the product is bound by reading the packed weights once.
//
// Layout: x (batch..., M, K) of dtype T, w (batch..., N, K bits / 32) uint32, scales and biases
// (batch..., N, K / gs) of dtype T, out (batch..., M, N) row-major. Row n of W is one
// little-endian bit stream (value k at bits [b k, b k + b)), so every 32 values fill exactly b
// words and never straddle a group (groups are 32, 64 or 128 values).
//
// Work split: a warp owns kRows consecutive rows of W and a tile of MT rows of x; lane l takes
// the 32-value chunks l, l + 32, ... of those rows (coalesced: the warp reads 32 b contiguous
// words of each row per step), so each packed word is read from memory once per tile of x. Per
// chunk, in float (double for float64):
//   out[m, n] += s[n, g] * sum_k x[m, k] q[n, k] + b[n, g] * sum_k x[m, k],
// q converted exactly through the float bit pattern 2^23 + q; the lanes' partial sums are
// added with shuffles at the end. Blocks sharing weights (the tiles of x) are launched next to
// each other so the second tile's weights come from L2.
//
// bfloat16 and float16 with more than kSimtRows rows of x: tensor cores (mma.sync m16n8k16, fp32
// accumulate) on tiles of 16 rows of x by 8 rows of W, the weights dequantized in registers to
// x's dtype (s q + b rounded once, as dequantize + matmul rounds them). The 16 k of one mma may
// be any 16 of the row as long as x's fragment holds the same ones, so each thread takes a whole
// 32-value chunk of its row of W (the b words the SIMT path loads) and feeds it to 8 successive
// mmas four values at a time, with x's fragment read at the matching offsets (8 bytes per row).
// The warps of a block split K and add their tiles through shared memory in a fixed order.
//
// The op (ops/quantized.cpp) builds this node on a GPU stream for x @ W.T with at most
// QuantizedMatmul::kGpuMaxRows rows of x per weight matrix; x @ W and larger products run as
// dequantize + matmul (cuBLASLt), which is faster once the product is bound by arithmetic.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "mica/backend/cuda/copy.h"
#include "mica/backend/cuda/device/dispatch_float.cuh"
#include "mica/backend/cuda/device/types.cuh"
#include "mica/backend/cuda/utils.h"
#include "mica/primitives/quantized.h"

namespace mica {

namespace {
using cu::cast;

constexpr int kWarps = 8;     // warps per block
constexpr int kRows = 4;      // rows of W per warp
constexpr int kMaxBatch = 8;  // batch dims walked in the kernel (more: inputs copied row-major)
constexpr int kSimtRows = 4;  // half types: up to this many rows of x on the SIMT path
constexpr int kMmaWarps = 4;  // tensor-core path: warps per block (splitting K)
constexpr int kMmaTiles = 4;  // tensor-core path: tiles of 8 rows of W per warp

// Offsets of each input's matrix for one batch entry (elements; x, w, scales, biases).
struct BatchWalk {
  int nd = 0;
  int shape[kMaxBatch] = {};
  int64_t stride[4][kMaxBatch] = {};
};

template <typename T>
struct Args {
  const T* x;
  const uint32_t* w;
  const T* s;
  const T* b;
  T* out;
  int M, N, K, gs;
  int64_t x_ld, w_ld, s_ld, b_ld;  // row strides of each matrix (elements)
  int64_t batch;
  BatchWalk walk;
};

template <typename T>
using acc_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

// The chunk's BITS words of one row: 16-byte loads where they fit (4 and 8 bits), else 8 or 4.
template <int BITS>
__device__ __forceinline__ void load_words(const uint32_t* __restrict__ p, uint32_t (&w)[BITS]) {
  if constexpr (BITS % 4 == 0) {
#pragma unroll
    for (int i = 0; i < BITS / 4; ++i) {
      const uint4 v = __ldg(reinterpret_cast<const uint4*>(p) + i);
      w[4 * i] = v.x;
      w[4 * i + 1] = v.y;
      w[4 * i + 2] = v.z;
      w[4 * i + 3] = v.w;
    }
  } else if constexpr (BITS == 2) {
    const uint2 v = __ldg(reinterpret_cast<const uint2*>(p));
    w[0] = v.x;
    w[1] = v.y;
  } else {
#pragma unroll
    for (int i = 0; i < BITS; ++i) w[i] = __ldg(p + i);
  }
}

// Value i (a constant once unrolled) of the chunk, as the float it is (exact: q < 2^8).
template <int BITS>
__device__ __forceinline__ float value(const uint32_t (&w)[BITS], int i) {
  constexpr uint32_t mask = (1u << BITS) - 1;
  const int off = BITS * i, word = off >> 5, sh = off & 31;
  uint32_t q = w[word] >> sh;
  if (sh + BITS > 32) q |= w[word + 1] << (32 - sh);
  return __uint_as_float((q & mask) | 0x4B000000u) - 8388608.0f;
}

// Eight consecutive values of x from p (16-byte aligned), converted to C.
template <typename T, typename C>
__device__ __forceinline__ void load8(const T* __restrict__ p, C (&v)[8]) {
  if constexpr (sizeof(T) == 2) {
    const uint4 u = *reinterpret_cast<const uint4*>(p);
    const T* h = reinterpret_cast<const T*>(&u);
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] = cast<C>(h[i]);
  } else if constexpr (sizeof(T) == 4) {
    const float4 a = reinterpret_cast<const float4*>(p)[0], b = reinterpret_cast<const float4*>(p)[1];
    v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
  } else {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const double2 d = reinterpret_cast<const double2*>(p)[i];
      v[2 * i] = d.x;
      v[2 * i + 1] = d.y;
    }
  }
}

// Element offsets of x, w, scales and biases for batch entry z.
__device__ __forceinline__ void batch_offsets(const BatchWalk& walk, int64_t z, int64_t (&off)[4]) {
#pragma unroll
  for (int t = 0; t < 4; ++t) off[t] = 0;
  for (int d = walk.nd - 1; d >= 0; --d) {
    const int64_t i = z % walk.shape[d];
    z /= walk.shape[d];
#pragma unroll
    for (int t = 0; t < 4; ++t) off[t] += i * walk.stride[t][d];
  }
}

template <typename T, int BITS, int MT>
__global__ void __launch_bounds__(kWarps * 32) qmv_kernel(const Args<T> a) {
  using C = acc_t<T>;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int n0 = (blockIdx.y * kWarps + warp) * kRows;
  const int m0 = blockIdx.x * MT;
  if (n0 >= a.N) return;
  const int chunks = a.K / 32;
  for (int64_t z = blockIdx.z; z < a.batch; z += gridDim.z) {
    int64_t off[4];
    batch_offsets(a.walk, z, off);
    const T* x = a.x + off[0] + int64_t(m0) * a.x_ld;
    const uint32_t* w = a.w + off[1] + int64_t(n0) * a.w_ld;
    const T* sc = a.s + off[2] + int64_t(n0) * a.s_ld;
    const T* bi = a.b + off[3] + int64_t(n0) * a.b_ld;
    const int rows = min(kRows, a.N - n0), xrows = min(MT, a.M - m0);

    C acc[kRows][MT];
#pragma unroll
    for (int r = 0; r < kRows; ++r)
#pragma unroll
      for (int m = 0; m < MT; ++m) acc[r][m] = C(0);

    for (int c = lane; c < chunks; c += 32) {
      const int g = c * 32 / a.gs;
      uint32_t q[kRows][BITS];
      C s[kRows], b[kRows];
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        const int rr = r < rows ? r : 0;  // rows past N repeat row 0 (their sums are dropped)
        load_words<BITS>(w + rr * a.w_ld + int64_t(c) * BITS, q[r]);
        s[r] = cast<C>(sc[rr * a.s_ld + g]);
        b[r] = cast<C>(bi[rr * a.b_ld + g]);
      }
      C part[kRows][MT], xs[MT];
#pragma unroll
      for (int m = 0; m < MT; ++m) {
        xs[m] = C(0);
#pragma unroll
        for (int r = 0; r < kRows; ++r) part[r][m] = C(0);
      }
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        C xv[MT][8];
#pragma unroll
        for (int m = 0; m < MT; ++m) {
          load8(x + int64_t(m < xrows ? m : 0) * a.x_ld + c * 32 + j * 8, xv[m]);
#pragma unroll
          for (int i = 0; i < 8; ++i) xs[m] += xv[m][i];
        }
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
#pragma unroll
          for (int i = 0; i < 8; ++i) {
            const C qv = C(value<BITS>(q[r], j * 8 + i));
#pragma unroll
            for (int m = 0; m < MT; ++m) part[r][m] += xv[m][i] * qv;
          }
        }
      }
#pragma unroll
      for (int r = 0; r < kRows; ++r)
#pragma unroll
        for (int m = 0; m < MT; ++m) acc[r][m] += s[r] * part[r][m] + b[r] * xs[m];
    }

    // Sum over the lanes; lane r * MT + m writes out[m0 + m, n0 + r].
    T* out = a.out + z * int64_t(a.M) * a.N;
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
#pragma unroll
      for (int m = 0; m < MT; ++m) {
        C v = acc[r][m];
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        if (lane == r * MT + m && r < rows && m < xrows) out[int64_t(m0 + m) * a.N + n0 + r] = cast<T>(v);
      }
    }
  }
}

// Two values of x's half type in one register (the first in the low half).
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
  } else {
    const __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
  }
}

// d += A B for a 16 x 16 tile A (x) and a 16 x 8 tile B (W's rows as columns), fp32 accumulate.
template <typename T>
__device__ __forceinline__ void mma16816(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                         uint32_t b1) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  }
}

// Fragments (PTX's m16n8k16 layouts, g = lane / 4, c = lane % 4): A holds x[g or g + 8][slots
// 2c, 2c + 1, 2c + 8, 2c + 9], B holds W[row g][the same slots], C out[g or g + 8][2c, 2c + 1].
// In k-block kb (128 values: 4 chunks) thread c owns chunk 4 kb + c, and mma t (0..7) maps its
// slots to that chunk's values 4t .. 4t + 3.
template <typename T, int BITS>
__global__ void __launch_bounds__(kMmaWarps * 32) qmm_mma_kernel(const Args<T> a) {
  __shared__ float part[kMmaWarps - 1][kMmaTiles][4][32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, c = lane & 3;
  const int n0 = blockIdx.y * (kMmaTiles * 8), m0 = blockIdx.x * 16;
  const int r0 = m0 + g, r1 = m0 + g + 8, chunks = a.K / 32, kblocks = (chunks + 3) / 4;
  for (int64_t z = blockIdx.z; z < a.batch; z += gridDim.z) {
    int64_t off[4];
    batch_offsets(a.walk, z, off);
    const T* x0 = a.x + off[0] + int64_t(r0 < a.M ? r0 : 0) * a.x_ld;
    const T* x1 = a.x + off[0] + int64_t(r1 < a.M ? r1 : 0) * a.x_ld;
    const uint32_t* w = a.w + off[1];
    const T* sc = a.s + off[2];
    const T* bi = a.b + off[3];
    float acc[kMmaTiles][4];
#pragma unroll
    for (int j = 0; j < kMmaTiles; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[j][e] = 0.0f;

    for (int kb = warp; kb < kblocks; kb += kMmaWarps) {
      const int ch = kb * 4 + c;
      const bool in_k = ch < chunks;
      uint4 xa[4], xb[4];
#pragma unroll
      for (int p = 0; p < 4; ++p) {
        xa[p] = in_k && r0 < a.M ? reinterpret_cast<const uint4*>(x0 + ch * 32)[p] : make_uint4(0, 0, 0, 0);
        xb[p] = in_k && r1 < a.M ? reinterpret_cast<const uint4*>(x1 + ch * 32)[p] : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
      for (int j = 0; j < kMmaTiles; ++j) {
        const int n = n0 + j * 8 + g;
        uint32_t q[BITS];
        float s = 0.0f, b = 0.0f;
        if (in_k && n < a.N) {
          load_words<BITS>(w + n * a.w_ld + int64_t(ch) * BITS, q);
          const int grp = ch * 32 / a.gs;
          s = cast<float>(sc[n * a.s_ld + grp]);
          b = cast<float>(bi[n * a.b_ld + grp]);
        } else {
#pragma unroll
          for (int i = 0; i < BITS; ++i) q[i] = 0;
        }
#pragma unroll
        for (int t = 0; t < 8; ++t) {
          const uint32_t b0 = pack2<T>(s * value<BITS>(q, 4 * t) + b, s * value<BITS>(q, 4 * t + 1) + b);
          const uint32_t b1 = pack2<T>(s * value<BITS>(q, 4 * t + 2) + b, s * value<BITS>(q, 4 * t + 3) + b);
          const uint4 &u = xa[t / 2], &v = xb[t / 2];
          if (t % 2 == 0) mma16816<T>(acc[j], u.x, v.x, u.y, v.y, b0, b1);
          else mma16816<T>(acc[j], u.z, v.z, u.w, v.w, b0, b1);
        }
      }
    }

    // The warps' tiles summed in warp order; warp 0 writes.
    if (warp > 0) {
#pragma unroll
      for (int j = 0; j < kMmaTiles; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) part[warp - 1][j][e][lane] = acc[j][e];
    }
    __syncthreads();
    if (warp == 0) {
      T* out = a.out + z * int64_t(a.M) * a.N;
#pragma unroll
      for (int j = 0; j < kMmaTiles; ++j) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          float v = acc[j][e];
#pragma unroll
          for (int o = 0; o < kMmaWarps - 1; ++o) v += part[o][j][e][lane];
          const int row = e < 2 ? r0 : r1, col = n0 + j * 8 + 2 * c + (e & 1);
          if (row < a.M && col < a.N) out[int64_t(row) * a.N + col] = cast<T>(v);
        }
      }
    }
    __syncthreads();
  }
}

template <typename T, int BITS>
void launch_bits(const Args<T>& a, cudaStream_t st) {
  if constexpr (cu::is_half_v<T>) {
    if (a.M > kSimtRows) {
      const int64_t ny = (int64_t(a.N) + kMmaTiles * 8 - 1) / (kMmaTiles * 8);
      dim3 grid(static_cast<unsigned>((a.M + 15) / 16), static_cast<unsigned>(ny),
                static_cast<unsigned>(std::min<int64_t>(a.batch, 65535)));
      qmm_mma_kernel<T, BITS><<<grid, kMmaWarps * 32, 0, st>>>(a);
      return;
    }
  }
  auto go = [&](auto mt) {
    constexpr int MT = decltype(mt)::value;
    const int64_t ny = (int64_t(a.N) + kWarps * kRows - 1) / (kWarps * kRows);
    dim3 grid(static_cast<unsigned>((a.M + MT - 1) / MT), static_cast<unsigned>(ny),
              static_cast<unsigned>(std::min<int64_t>(a.batch, 65535)));
    qmv_kernel<T, BITS, MT><<<grid, kWarps * 32, 0, st>>>(a);
  };
  if (a.M <= 1) go(std::integral_constant<int, 1>{});
  else if (a.M <= 2) go(std::integral_constant<int, 2>{});
  else if (a.M <= 4) go(std::integral_constant<int, 4>{});
  else if constexpr (!cu::is_half_v<T>) go(std::integral_constant<int, 8>{});  // half types: M <= 4 here
}

template <typename T>
void launch(const Args<T>& a, int bits, cudaStream_t st) {
  switch (bits) {
    case 1: return launch_bits<T, 1>(a, st);
    case 2: return launch_bits<T, 2>(a, st);
    case 3: return launch_bits<T, 3>(a, st);
    case 4: return launch_bits<T, 4>(a, st);
    case 5: return launch_bits<T, 5>(a, st);
    case 6: return launch_bits<T, 6>(a, st);
    case 8: return launch_bits<T, 8>(a, st);
    default:
      throw std::logic_error("[QuantizedMatmul] GPU kernel got " + std::to_string(bits) +
                             " bits (the op should have rejected it).");
  }
}

// True if every stride but the last (which must be 1) and the first element's address are
// multiples of `bytes` bytes (the kernel's vector loads).
bool vector_ready(const array& a, int bytes) {
  if (a.ndim() == 0 || a.strides().back() != 1) return false;
  if (reinterpret_cast<uintptr_t>(cu::ptr(a)) % bytes != 0) return false;
  for (size_t d = 0; d + 1 < a.ndim(); ++d) {
    if (a.shape(d) > 1 && (a.strides()[d] * static_cast<int64_t>(a.itemsize())) % bytes != 0) return false;
  }
  return true;
}

// `a` itself when vector_ready, else a row-major copy (16-byte aligned from the pool).
array ready(const array& a, int bytes, const Stream& s) {
  if (vector_ready(a, bytes)) return a;
  array c(a.shape(), a.dtype(), nullptr, {});
  cu::copy_to_row_contiguous(a, c, s);
  return c;
}
}  // namespace

void QuantizedMatmul::eval_gpu(const std::vector<array>& inputs, array& out) {
  const Stream& s = stream();
  if (!transpose_) {
    throw std::logic_error(
        "[QuantizedMatmul] the GPU kernel computes x @ W.T only (the op runs x @ W as dequantize + matmul).");
  }
  cu::prepare(inputs, s);
  cu::alloc_output(out, s);
  if (out.size() == 0) return;
  const int word_bytes = bits_ % 4 == 0 ? 16 : bits_ == 2 ? 8 : 4;
  array x = ready(inputs[0], 16, s), w = ready(inputs[1], word_bytes, s);
  array sc = inputs[2], bi = inputs[3];
  if (sc.strides().back() != 1) sc = cu::ensure_row_contiguous(sc, s);
  if (bi.strides().back() != 1) bi = cu::ensure_row_contiguous(bi, s);
  const int K = x.shape(-1), N = out.shape(-1);
  const bool one_matrix = w.ndim() == 2 && sc.ndim() == 2 && bi.ndim() == 2;
  if (one_matrix && !x.flags().row_contiguous) x = cu::ensure_row_contiguous(x, s);
  const int nbatch = one_matrix ? 0 : static_cast<int>(out.ndim()) - 2;
  if (nbatch > kMaxBatch) {
    x = cu::ensure_row_contiguous(x, s);
    w = cu::ensure_row_contiguous(w, s);
    sc = cu::ensure_row_contiguous(sc, s);
    bi = cu::ensure_row_contiguous(bi, s);
  }
  if (K == 0) return cu::fill(out, 0.0, s);
  cu::dispatch_float("QuantizedMatmul", out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    Args<T> a{cu::ptr<T>(x), cu::ptr<uint32_t>(w), cu::ptr<T>(sc), cu::ptr<T>(bi), cu::ptr<T>(out), 0, N, K, group_size_,
              K, w.strides()[w.ndim() - 2], sc.strides()[sc.ndim() - 2], bi.strides()[bi.ndim() - 2], 1, {}};
    if (one_matrix) {
      a.M = static_cast<int>(x.size() / K);
    } else {
      a.M = x.shape(-2);
      a.x_ld = x.strides()[x.ndim() - 2];
      if (nbatch <= kMaxBatch) {
        // Merge nothing: each batch dim walked with every input's own stride (0 where broadcast).
        a.walk.nd = nbatch;
        for (int d = 0; d < nbatch; ++d) {
          a.walk.shape[d] = out.shape(d);
          a.batch *= out.shape(d);
          const array* in[4] = {&x, &w, &sc, &bi};
          for (int t = 0; t < 4; ++t) a.walk.stride[t][d] = in[t]->strides()[d];
        }
      } else {
        // Every input row-major with the full batch: one flat batch dim.
        a.walk.nd = 1;
        a.batch = static_cast<int64_t>(out.size()) / (int64_t(a.M) * N);
        a.walk.shape[0] = static_cast<int>(a.batch);
        const array* in[4] = {&x, &w, &sc, &bi};
        for (int t = 0; t < 4; ++t) a.walk.stride[t][0] = in[t]->shape(-2) * int64_t(in[t]->shape(-1));
      }
    }
    launch<T>(a, bits_, cu::stream(s));
  });
  cu::check_launch("QuantizedMatmul");
}

}  // namespace mica
