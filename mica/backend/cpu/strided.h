// Walking strided arrays: collapse dims that are contiguous for every operand, then loop over
// rows of the last dim, handing the kernel one offset per operand.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "mica/array.h"

namespace mica::cpu {

/** Shape and per-operand strides with mergeable dims merged (size-1 dims dropped); merged
 * extents may exceed int32, so they are int64. */
template <size_t N>
struct Collapsed {
  std::vector<int64_t> shape;
  std::array<Strides, N> strides;
};

template <size_t N>
Collapsed<N> collapse_dims(const Shape& shape, const std::array<Strides, N>& strides) {
  Collapsed<N> c;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !c.shape.empty();
    for (size_t k = 0; k < N && merge; ++k) {
      merge = c.strides[k].back() == strides[k][d] * shape[d];
    }
    if (merge) {
      c.shape.back() *= shape[d];
      for (size_t k = 0; k < N; ++k) c.strides[k].back() = strides[k][d];
    } else {
      c.shape.push_back(shape[d]);
      for (size_t k = 0; k < N; ++k) c.strides[k].push_back(strides[k][d]);
    }
  }
  if (c.shape.empty()) {
    c.shape.push_back(1);
    for (size_t k = 0; k < N; ++k) c.strides[k].push_back(0);
  }
  return c;
}

/** Calls f(offsets, n, inner_strides) for rows [row_begin, row_end) of the collapsed layout,
 * where a row is the last dim: element i of the row of operand k sits at
 * offsets[k] + i * inner_strides[k]. */
template <size_t N, typename F>
void for_each_row(const Collapsed<N>& c, int64_t row_begin, int64_t row_end, F&& f) {
  int nd = static_cast<int>(c.shape.size());
  int64_t inner = c.shape.back();
  std::array<int64_t, N> inner_strides;
  for (size_t k = 0; k < N; ++k) inner_strides[k] = c.strides[k].back();
  // Multi-index of the first row.
  std::vector<int64_t> idx(nd > 1 ? nd - 1 : 0);
  std::array<int64_t, N> off{};
  int64_t r = row_begin;
  for (int d = nd - 2; d >= 0; --d) {
    idx[d] = r % c.shape[d];
    r /= c.shape[d];
    for (size_t k = 0; k < N; ++k) off[k] += idx[d] * c.strides[k][d];
  }
  for (int64_t row = row_begin; row < row_end; ++row) {
    f(off, inner, inner_strides);
    for (int d = nd - 2; d >= 0; --d) {
      for (size_t k = 0; k < N; ++k) off[k] += c.strides[k][d];
      if (++idx[d] < c.shape[d]) break;
      for (size_t k = 0; k < N; ++k) off[k] -= c.strides[k][d] * c.shape[d];
      idx[d] = 0;
    }
  }
}

/** Calls f(off, lo, hi, st) for the parts of rows holding positions [b, e) of a collapsed
 * layout (position = row * inner + i), so work splits over threads even when everything
 * collapses to one row. */
template <size_t N, typename F>
void for_each_row_part(const Collapsed<N>& c, int64_t b, int64_t e, F&& f) {
  int64_t inner = c.shape.back();
  if (b >= e || inner == 0) return;
  int64_t r0 = b / inner, r1 = (e - 1) / inner + 1, r = r0;
  for_each_row(c, r0, r1, [&](const std::array<int64_t, N>& off, int64_t n, const std::array<int64_t, N>& st) {
    f(off, std::max<int64_t>(0, b - r * inner), std::min<int64_t>(n, e - r * inner), st);
    ++r;
  });
}

/** Number of rows of a collapsed layout. */
template <size_t N>
int64_t num_rows(const Collapsed<N>& c) {
  int64_t r = 1;
  for (size_t d = 0; d + 1 < c.shape.size(); ++d) r *= c.shape[d];
  return r;
}

}  // namespace mica::cpu
