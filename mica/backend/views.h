// Layout logic shared by the CPU and CUDA movement kernels: views (new strides over the same
// buffer, wherever its data lives), reshape strides, dynamic-slice starts and pad maps.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <utility>
#include <vector>

#include "mica/array.h"
#include "mica/primitives/movement.h"

namespace mica::views {

/** Flags and spanned element count of a view with these strides. */
struct Layout {
  array::Flags flags;
  size_t data_size;
};
/** row/col-contiguous when strides are exactly row/column-major (size-1 dims ignored);
 * contiguous (MLX's meaning) when the non-broadcast dims fill data_size slots without gaps or
 * overlaps: broadcasts of contiguous arrays are contiguous with data_size < size. */
Layout view_layout(const Shape& shape, const Strides& strides);
/** Contiguous with every element stored once: size() slots, walkable flat, writable in place. */
inline bool dense(const array& a) { return a.flags().contiguous && a.data_size() == a.size(); }
/** The input whose layout an elementwise op's output (shape `shape`) keeps, as MLX's binary
 * kernels choose it, or null (the output is row-major): with every other input one value, a
 * contiguous input of the output's shape (a transpose stays a transpose, a broadcast row a
 * broadcast); with several such inputs, when all are row-contiguous or all column-contiguous
 * (then they share strides); with only one-value inputs, the first of the output's shape. Every
 * input is then walked flat over the chosen one's data_size (one-value inputs at element 0). */
const array* flat_layout(std::initializer_list<const array*> ins, const Shape& shape);
/** Makes `out` a view of `in`'s buffer: element `offset` from in's first element, `strides`. */
void make_view(const array& in, array& out, const Strides& strides, int64_t offset = 0);
/** Strides of `out_shape` viewing the same elements as (in_shape, in_strides) in row-major
 * order, or nothing when some merged group of input dims is not evenly strided. */
std::optional<Strides> reshape_strides(const Shape& in_shape, const Strides& in_strides, const Shape& out_shape);
/** Element offset and strides of the region of `out` that starts at `start` and steps by `steps`. */
std::pair<int64_t, Strides> region(const array& out, const std::vector<int64_t>& start, const Shape& steps);
/** Start offsets per axis of a dynamic slice of `size` within `shape`: negative starts count
 * from the end, then the start is clamped so that the slice fits. */
std::vector<int64_t> dynamic_starts(const array& start, const std::vector<int>& axes, const Shape& shape,
                                    const Shape& size);
/** Source coordinate of output coordinate `o` along one axis of extent n padded by `lo` before
 * it; -1 where the pad value goes. constexpr so that the CUDA pad kernel calls it too. */
constexpr int64_t pad_source(int64_t o, int64_t n, int64_t lo, int mode) {
  int64_t i = o - lo;
  if (i >= 0 && i < n) return i;
  if (mode == Pad::Constant || n == 0) return -1;
  if (mode == Pad::Edge || n == 1) return i < 0 ? 0 : n - 1;
  if (mode == Pad::Reflect) {
    // Period 2(n-1): 0 1 .. n-1 n-2 .. 1
    int64_t p = 2 * (n - 1), r = ((i % p) + p) % p;
    return r < n ? r : p - r;
  }
  // Symmetric, period 2n: 0 1 .. n-1 n-1 .. 0
  int64_t p = 2 * n, r = ((i % p) + p) % p;
  return r < n ? r : p - 1 - r;
}
/** pad_source for every output coordinate along one axis padded by (lo, hi). */
std::vector<int64_t> pad_map(int64_t n, int64_t lo, int64_t hi, Pad::Mode mode);

}  // namespace mica::views
