// Elementwise launch helpers: a layout (shape and per-operand strides, dims collapsed on the
// host) passed to kernels by value, the flat-index -> offsets walk, and launch sizing.
#pragma once
#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "mica/array.h"
#include "mica/backend/cpu/strided.h"

namespace mica::cu {

/** Most dims a strided kernel takes after collapsing (more throws a clear error). */
inline constexpr int kMaxDims = 10;

/** Shape and N operands' strides (elements), collapsed; passed to kernels by value. */
template <int N>
struct Layout {
  int ndim;
  int64_t shape[kMaxDims];
  int64_t strides[N][kMaxDims];
};

/** Collapses dims contiguous for every operand and packs them for a kernel. */
template <int N>
Layout<N> make_layout(const Shape& shape, const std::array<Strides, N>& strides, const char* op) {
  auto c = cpu::collapse_dims<N>(shape, strides);
  if (c.shape.size() > static_cast<size_t>(kMaxDims)) {
    throw std::invalid_argument(std::string("[") + op + "] expected at most " + std::to_string(kMaxDims) +
                                " non-mergeable dimensions on the GPU, got " + std::to_string(c.shape.size()) + ".");
  }
  Layout<N> l{};
  l.ndim = static_cast<int>(c.shape.size());
  for (int d = 0; d < l.ndim; ++d) {
    l.shape[d] = c.shape[d];
    for (int k = 0; k < N; ++k) l.strides[k][d] = c.strides[k][d];
  }
  return l;
}

/** Offsets of flat (row-major) element `i` in each operand. */
template <int N>
__device__ __forceinline__ void offsets(const Layout<N>& l, int64_t i, int64_t (&off)[N]) {
#pragma unroll
  for (int k = 0; k < N; ++k) off[k] = 0;
  for (int d = l.ndim - 1; d >= 0; --d) {
    int64_t q = i / l.shape[d];
    int64_t r = i - q * l.shape[d];
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] += r * l.strides[k][d];
    i = q;
  }
}

/** Threads per block for elementwise kernels. */
inline constexpr int kBlock = 256;

/** Blocks for n work items at `per_thread` items per thread (grid-stride loops cover the rest). */
inline unsigned grid_for(int64_t n, int per_thread = 1) {
  int64_t blocks = (n + int64_t(kBlock) * per_thread - 1) / (int64_t(kBlock) * per_thread);
  if (blocks < 1) blocks = 1;
  if (blocks > (1 << 30)) blocks = 1 << 30;
  return static_cast<unsigned>(blocks);
}

/** Elements of T in one 16-byte vector. */
template <typename T>
inline constexpr int vec_width = sizeof(T) >= 16 ? 1 : 16 / sizeof(T);

/** A 16-byte aligned vector of W elements of T. */
template <typename T, int W>
struct alignas(sizeof(T) * W) Vec {
  T v[W];
};

/** True if every pointer is aligned for W-wide vectors of T. */
template <typename T, int W>
inline bool aligned(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % (sizeof(T) * W) == 0;
}

}  // namespace mica::cu
