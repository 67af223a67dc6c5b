#include "mica/backend/views.h"

#include <algorithm>

#include "mica/types/cast.h"

namespace mica::views {

// row_contiguous / col_contiguous: strides exactly row- / column-major (size-1 dims ignored);
// contiguous (as MLX reports it): the dims with a non-zero stride fill data_size slots from
// data_ptr without gaps or overlaps, in some order; broadcast dims (stride 0) reuse them. So a
// broadcast of a contiguous array is contiguous with data_size < size: kernels that walk size()
// elements flat test `dense` (views.h). Empty arrays: contiguous, data_size 0, row/col flags by
// the same rules (MLX's strides there are products with zeros).
Layout view_layout(const Shape& shape, const Strides& strides) {
  size_t size = 1;
  for (auto d : shape) size *= static_cast<size_t>(d);
  Layout l{};
  int nd = static_cast<int>(shape.size());
  bool row = true, col = true;
  int64_t expect = 1;
  for (int d = nd - 1; d >= 0; --d) {
    if (shape[d] == 1) continue;
    row = row && strides[d] == expect;
    expect *= shape[d];
  }
  expect = 1;
  for (int d = 0; d < nd; ++d) {
    if (shape[d] == 1) continue;
    col = col && strides[d] == expect;
    expect *= shape[d];
  }
  l.flags.row_contiguous = row;
  l.flags.col_contiguous = col;
  if (size == 0) {
    l.flags.contiguous = true;
    l.data_size = 0;
    return l;
  }
  // Dense in some order over the non-broadcast dims: sorted by stride, each stride is the
  // product of the smaller extents.
  std::vector<std::pair<int64_t, int64_t>> dims;  // (stride, extent)
  bool dense = true;
  int64_t span = 1, distinct = 1;
  for (int d = 0; d < nd; ++d) {
    if (shape[d] == 1 || strides[d] == 0) continue;
    dense = dense && strides[d] > 0;
    dims.emplace_back(strides[d], shape[d]);
    span += (shape[d] - 1) * (strides[d] < 0 ? -strides[d] : strides[d]);
    distinct *= shape[d];
  }
  if (dense) {
    std::sort(dims.begin(), dims.end());
    expect = 1;
    for (auto& [st, n] : dims) {
      dense = dense && st == expect;
      expect *= n;
    }
  }
  l.flags.contiguous = row || col || dense;
  l.data_size = static_cast<size_t>(l.flags.contiguous ? distinct : span);
  return l;
}

const array* flat_layout(std::initializer_list<const array*> ins, const Shape& shape) {
  const array* first = nullptr;  // the first input that is more than one value
  bool rows = true, cols = true;
  int many = 0;
  for (const array* a : ins) {
    if (a->data_size() == 1) continue;
    if (a->shape() != shape || !a->flags().contiguous) return nullptr;
    rows = rows && a->flags().row_contiguous;
    cols = cols && a->flags().col_contiguous;
    if (!first) first = a;
    ++many;
  }
  if (many == 1 || (many > 1 && (rows || cols))) return first;
  if (many > 1) return nullptr;
  for (const array* a : ins) {
    if (a->shape() == shape) return a;
  }
  return nullptr;
}

// Makes `out` a view of `in`'s buffer: element `offset` from in's data pointer, `strides`.
void make_view(const array& in, array& out, const Strides& strides, int64_t offset) {
  auto l = view_layout(out.shape(), strides);
  out.copy_shared_buffer(in, strides, l.flags, l.data_size, out.size() == 0 ? 0 : offset);
}

// Strides of `out_shape` viewing the same elements as (in_shape, in_strides) in row-major
// order, or nothing when some merged group of input dims is not evenly strided.
std::optional<Strides> reshape_strides(const Shape& in_shape, const Strides& in_strides, const Shape& out_shape) {
  Shape ish;
  Strides ist;
  for (size_t d = 0; d < in_shape.size(); ++d) {
    if (in_shape[d] == 1) continue;
    ish.push_back(in_shape[d]);
    ist.push_back(in_strides[d]);
  }
  int on = static_cast<int>(out_shape.size());
  Strides out(on, 0);
  std::vector<bool> assigned(on, false);
  size_t i = 0;
  int o = 0;
  while (o < on) {
    if (out_shape[o] == 1) {
      ++o;
      continue;
    }
    size_t i0 = i;
    int o0 = o;
    int64_t pin = ish[i++], pout = out_shape[o++];
    while (pin != pout) {
      if (pin < pout) pin *= ish[i++];
      else pout *= out_shape[o++];
    }
    for (size_t k = i0; k + 1 < i; ++k) {
      if (ist[k] != ist[k + 1] * ish[k + 1]) return std::nullopt;
    }
    int64_t s = ist[i - 1];
    for (int k = o - 1; k >= o0; --k) {
      out[k] = s;
      assigned[k] = true;
      s *= out_shape[k];
    }
  }
  // Size-1 dims get the stride row-major order would give them.
  for (int k = on - 1; k >= 0; --k) {
    if (!assigned[k]) out[k] = k + 1 < on ? out[k + 1] * out_shape[k + 1] : 1;
  }
  return out;
}

namespace {
// Reads element k of a 0-d or 1-d integer array as int64 (the host copy).
int64_t read_index(const array& a, size_t k) {
  int64_t v = 0;
  int64_t off = a.ndim() == 0 ? 0 : static_cast<int64_t>(k) * a.strides()[0];
  detail::convert_from<int64_t>(a.dtype(), static_cast<const char*>(a.data<void>()) + off * a.itemsize(), &v);
  return v;
}
}  // namespace

// Start offsets per axis for a dynamic slice of `size` within `shape`: negative starts count
// from the end, then the start is clamped so that the slice fits.
std::vector<int64_t> dynamic_starts(const array& start, const std::vector<int>& axes, const Shape& shape,
                                    const Shape& size) {
  std::vector<int64_t> st(shape.size(), 0);
  for (size_t k = 0; k < axes.size(); ++k) {
    int ax = axes[k];
    int64_t v = read_index(start, k);
    if (v < 0) v += shape[ax];
    st[ax] = std::clamp<int64_t>(v, 0, std::max<int64_t>(0, shape[ax] - size[ax]));
  }
  return st;
}

std::pair<int64_t, Strides> region(const array& out, const std::vector<int64_t>& start, const Shape& steps) {
  int64_t off = 0;
  Strides ds(out.ndim());
  for (size_t d = 0; d < out.ndim(); ++d) {
    off += start[d] * out.strides()[d];
    ds[d] = out.strides()[d] * steps[d];
  }
  return {off, ds};
}

std::vector<int64_t> pad_map(int64_t n, int64_t lo, int64_t hi, Pad::Mode mode) {
  std::vector<int64_t> m(n + lo + hi);
  for (int64_t o = 0; o < static_cast<int64_t>(m.size()); ++o) m[o] = pad_source(o, n, lo, mode);
  return m;
}

}  // namespace mica::views
