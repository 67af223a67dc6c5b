// CPU kernels of the movement family. Views (reshape when the strides allow, transpose,
// broadcast, slices, as_strided, same-size dtype views) share the input's buffer with new
// strides; copies (concatenate, pad, slice updates) write a row-major output.
#include <algorithm>
#include <cstring>
#include <optional>

#include "mica/backend/cpu/copy.h"
#include "mica/backend/cpu/parallel.h"
#include "mica/backend/cpu/strided.h"
#include "mica/primitives/movement.h"

namespace mica {

namespace {

// Flags and spanned element count of a view with these strides.
struct Layout {
  array::Flags flags;
  size_t data_size;
};

// row_contiguous / col_contiguous: strides exactly row- / column-major (size-1 dims ignored);
// contiguous: the elements fill data_size slots from data_ptr without gaps or overlaps;
// data_size: buffer elements the view spans (size when contiguous).
Layout view_layout(const Shape& shape, const Strides& strides) {
  size_t size = 1;
  for (auto d : shape) size *= static_cast<size_t>(d);
  Layout l{};
  if (size == 0) {
    l.flags.contiguous = l.flags.row_contiguous = l.flags.col_contiguous = true;
    l.data_size = 0;
    return l;
  }
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
  // Dense in some order: sorted by stride, each stride is the product of the smaller extents.
  std::vector<std::pair<int64_t, int64_t>> dims;  // (stride, extent)
  bool dense = true;
  int64_t span = 1;
  for (int d = 0; d < nd; ++d) {
    if (shape[d] == 1) continue;
    dense = dense && strides[d] > 0;
    dims.emplace_back(strides[d], shape[d]);
    span += (shape[d] - 1) * (strides[d] < 0 ? -strides[d] : strides[d]);
  }
  if (dense) {
    std::sort(dims.begin(), dims.end());
    expect = 1;
    for (auto& [st, n] : dims) {
      dense = dense && st == expect;
      expect *= n;
    }
  }
  l.flags.row_contiguous = row;
  l.flags.col_contiguous = col;
  l.flags.contiguous = row || col || dense;
  l.data_size = l.flags.contiguous ? size : static_cast<size_t>(span);
  return l;
}

// Makes `out` a view of `in`'s buffer: element `offset` from in's data pointer, `strides`.
void make_view(const array& in, array& out, const Strides& strides, int64_t offset = 0) {
  auto l = view_layout(out.shape(), strides);
  out.copy_shared_buffer(in, strides, l.flags, l.data_size, out.size() == 0 ? 0 : offset);
}

// Copies `shape` elements of `itemsize` bytes from src (element strides ss) to dst (ds).
template <typename T>
void strided_copy_typed(const T* src, const Strides& ss, T* dst, const Strides& ds, const Shape& shape) {
  auto c = cpu::collapse_dims<2>(shape, {ss, ds});
  int64_t inner = c.shape.back();
  int64_t grain = std::max<int64_t>(1, cpu::kElementwiseGrain / std::max<int64_t>(inner, 1));
  cpu::parallel_for(cpu::num_rows(c), grain, [&](int64_t b, int64_t e) {
    cpu::for_each_row(c, b, e, [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
      const T* s = src + off[0];
      T* d = dst + off[1];
      if (st[0] == 1 && st[1] == 1) {
        std::memcpy(d, s, n * sizeof(T));
      } else {
        for (int64_t i = 0; i < n; ++i) d[i * st[1]] = s[i * st[0]];
      }
    });
  });
}

void strided_copy(const void* src, const Strides& ss, void* dst, const Strides& ds, const Shape& shape,
                  size_t itemsize) {
  size_t n = 1;
  for (auto d : shape) n *= static_cast<size_t>(d);
  if (n == 0) return;
  switch (itemsize) {
    case 1: return strided_copy_typed(static_cast<const uint8_t*>(src), ss, static_cast<uint8_t*>(dst), ds, shape);
    case 2: return strided_copy_typed(static_cast<const uint16_t*>(src), ss, static_cast<uint16_t*>(dst), ds, shape);
    case 4: return strided_copy_typed(static_cast<const uint32_t*>(src), ss, static_cast<uint32_t*>(dst), ds, shape);
    default: return strided_copy_typed(static_cast<const uint64_t*>(src), ss, static_cast<uint64_t*>(dst), ds, shape);
  }
}

char* byte_ptr(array& a, int64_t elem_offset) {
  return static_cast<char*>(a.data<void>()) + elem_offset * static_cast<int64_t>(a.itemsize());
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

// Reads element k of a 0-d or 1-d integer array as int64.
int64_t read_index(const array& a, size_t k) {
  int64_t v = 0;
  int64_t off = a.ndim() == 0 ? 0 : static_cast<int64_t>(k) * a.strides()[0];
  detail::convert_from<int64_t>(a.dtype(), static_cast<const char*>(a.data<void>()) + off * a.itemsize(), &v);
  return v;
}

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

// Gives `out` src's values: src's own buffer when donatable and free of overlaps, else a
// row-major copy.
void copy_or_donate(const array& src, array& out) {
  if (src.is_donatable() && src.flags().contiguous && src.itemsize() == out.itemsize()) {
    out.copy_shared_buffer(src);
  } else {
    cpu::copy_to_row_contiguous(src, out);
  }
}

// Writes `upd` (of the region's shape) into out at element offset `off` with steps `steps`.
void write_region(const array& upd, array& out, const std::vector<int64_t>& start, const Shape& steps) {
  if (upd.size() == 0) return;
  int64_t off = 0;
  Strides ds(out.ndim());
  for (size_t d = 0; d < out.ndim(); ++d) {
    off += start[d] * out.strides()[d];
    ds[d] = out.strides()[d] * steps[d];
  }
  strided_copy(upd.data<void>(), upd.strides(), byte_ptr(out, off), ds, upd.shape(), out.itemsize());
}

}  // namespace

// x: any layout -> out: a view with out.shape() when x's strides allow one, else a row-major copy.
void Reshape::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  if (in.size() == 0) return make_view(in, out, row_strides(out.shape()));
  if (in.flags().row_contiguous) return make_view(in, out, row_strides(out.shape()));
  if (auto st = reshape_strides(in.shape(), in.strides(), out.shape())) return make_view(in, out, *st);
  array tmp = cpu::ensure_row_contiguous(in);
  make_view(tmp, out, row_strides(out.shape()));
}

// x: any layout -> out: view with out.strides[i] = x.strides[axes[i]].
void Transpose::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  Strides st(axes_.size());
  for (size_t i = 0; i < axes_.size(); ++i) st[i] = in.strides()[axes_[i]];
  make_view(in, out, st);
}

// x: shape right-aligned with out.shape() -> out: view, stride 0 on new and stretched dims.
void Broadcast::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  size_t nd = out.ndim(), diff = nd - in.ndim();
  Strides st(nd, 0);
  for (size_t d = diff; d < nd; ++d) {
    st[d] = (in.shape()[d - diff] == 1 && out.shape()[d] != 1) ? 0 : in.strides()[d - diff];
  }
  make_view(in, out, st);
}

// x: any layout -> out: row-major (or x's buffer when allowed by the mode, or donated).
void Copy::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  bool share = in.flags().row_contiguous || (col_ok_ && in.flags().col_contiguous);
  if (mode_ == if_needed && share) return out.copy_shared_buffer(in);
  if (in.flags().row_contiguous && in.is_donatable()) return out.copy_shared_buffer(in);
  cpu::copy_to_row_contiguous(in, out);
}

// x: viewed row-major (copied first when not row-contiguous) -> out: (shape, strides, offset).
void AsStrided::eval_cpu(const std::vector<array>& inputs, array& out) {
  array x = cpu::ensure_row_contiguous(inputs[0]);
  make_view(x, out, strides_, static_cast<int64_t>(offset_));
}

// x: any layout -> out: same bytes as out.dtype(); same-size types keep x's strides, others
// view (a row-major copy of) x with the last axis rescaled.
void View::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  size_t ib = in.itemsize(), ob = out.itemsize();
  if (ib == ob) {
    out.copy_shared_buffer(in, in.strides(), in.flags(), in.data_size());
    return;
  }
  array x = cpu::ensure_row_contiguous(in);
  // The byte offset into the buffer must be a whole number of output elements.
  auto byte_off = static_cast<const char*>(x.data<void>()) - static_cast<const char*>(x.buffer().ptr);
  if (x.size() > 0 && byte_off % static_cast<int64_t>(ob) != 0) {
    array fresh(allocator::malloc(x.nbytes()), x.shape(), x.dtype());
    cpu::copy_into(x, fresh);
    x = fresh;
  }
  Strides st = row_strides(out.shape());
  auto l = view_layout(out.shape(), st);
  out.copy_shared_buffer(x, st, l.flags, out.size(), 0);
}

// x: any layout -> out: view at sum(start*stride) with strides x.strides * steps.
void Slice::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  int64_t off = 0;
  Strides st(in.ndim());
  for (size_t d = 0; d < in.ndim(); ++d) {
    off += static_cast<int64_t>(start_[d]) * in.strides()[d];
    st[d] = in.strides()[d] * strides_[d];
  }
  make_view(in, out, st, off);
}

// src: any layout, update: the slice's shape -> out: src's values (its buffer when donatable)
// with the slice overwritten.
void SliceUpdate::eval_cpu(const std::vector<array>& inputs, array& out) {
  copy_or_donate(inputs[0], out);
  write_region(inputs[1], out, std::vector<int64_t>(start_.begin(), start_.end()), strides_);
}

// x: any layout, start: 0-d/1-d integers (one per axis) -> out: view of slice_size.
void DynamicSlice::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  auto st = dynamic_starts(inputs[1], axes_, in.shape(), slice_size_);
  int64_t off = 0;
  for (size_t d = 0; d < in.ndim(); ++d) off += st[d] * in.strides()[d];
  make_view(in, out, in.strides(), off);
}

// src: any layout, update: full rank, start: integers per axis -> out: src with update written.
void DynamicSliceUpdate::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& upd = inputs[1];
  auto st = dynamic_starts(inputs[2], axes_, inputs[0].shape(), upd.shape());
  copy_or_donate(inputs[0], out);
  write_region(upd, out, st, Shape(out.ndim(), 1));
}

// inputs: same dtype, equal shapes except along axis -> out: row-major, inputs placed in order.
void Concatenate::eval_cpu(const std::vector<array>& inputs, array& out) {
  out.set_data(allocator::malloc(out.nbytes()));
  int64_t pos = 0;
  for (const auto& in : inputs) {
    if (in.size() > 0) {
      strided_copy(in.data<void>(), in.strides(), byte_ptr(out, pos * out.strides()[axis_]), out.strides(), in.shape(),
                   out.itemsize());
    }
    pos += in.shape()[axis_];
  }
}

namespace {
// Source coordinate of each output coordinate along one axis of extent n padded by (lo, hi);
// -1 where the pad value goes.
std::vector<int64_t> pad_map(int64_t n, int64_t lo, int64_t hi, Pad::Mode mode) {
  std::vector<int64_t> m(n + lo + hi);
  for (int64_t o = 0; o < static_cast<int64_t>(m.size()); ++o) {
    int64_t i = o - lo;
    if (i >= 0 && i < n) {
      m[o] = i;
    } else if (mode == Pad::Constant || n == 0) {
      m[o] = -1;
    } else if (mode == Pad::Edge || n == 1) {
      m[o] = i < 0 ? 0 : n - 1;
    } else if (mode == Pad::Reflect) {
      // Period 2(n-1): 0 1 .. n-1 n-2 .. 1
      int64_t p = 2 * (n - 1), r = ((i % p) + p) % p;
      m[o] = r < n ? r : p - r;
    } else {
      // Symmetric, period 2n: 0 1 .. n-1 n-1 .. 0
      int64_t p = 2 * n, r = ((i % p) + p) % p;
      m[o] = r < n ? r : p - 1 - r;
    }
  }
  return m;
}

template <typename T>
void pad_typed(const array& in, const T value, array& out, const std::vector<std::vector<int64_t>>& maps) {
  // out: row-major; a row is the last axis; rows with a padded outer coordinate are all value
  // (constant mode) and the others gather through the per-axis maps.
  int nd = static_cast<int>(out.ndim());
  const T* src = in.data<T>();
  T* dst = out.data<T>();
  if (nd == 0) {
    dst[0] = src[0];
    return;
  }
  int64_t inner = out.shape().back();
  int64_t rows = inner == 0 ? 0 : static_cast<int64_t>(out.size()) / inner;
  const auto& last = maps[nd - 1];
  int64_t in_last = in.strides()[nd - 1];
  int64_t grain = std::max<int64_t>(1, cpu::kElementwiseGrain / std::max<int64_t>(inner, 1));
  cpu::parallel_for(rows, grain, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      int64_t rem = r, off = 0;
      bool padded = false;
      for (int d = nd - 2; d >= 0; --d) {
        int64_t c = rem % out.shape()[d];
        rem /= out.shape()[d];
        int64_t m = maps[d][c];
        if (m < 0) padded = true;
        else off += m * in.strides()[d];
      }
      T* row = dst + r * inner;
      if (padded) {
        std::fill(row, row + inner, value);
        continue;
      }
      for (int64_t o = 0; o < inner; ++o) row[o] = last[o] < 0 ? value : src[off + last[o] * in_last];
    }
  });
}
}  // namespace

// x: any layout, value: 0-d of x's dtype -> out: row-major, x padded along axes.
void Pad::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  const array& val = inputs[1];
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  std::vector<std::vector<int64_t>> maps(in.ndim());
  for (size_t d = 0; d < in.ndim(); ++d) {
    int64_t lo = 0, hi = 0;
    for (size_t k = 0; k < axes_.size(); ++k) {
      if (axes_[k] == static_cast<int>(d)) {
        lo = low_[k];
        hi = high_[k];
      }
    }
    maps[d] = pad_map(in.shape()[d], lo, hi, mode_);
  }
  auto run = [&](auto tag) {
    using T = decltype(tag);
    T v;
    std::memcpy(&v, val.data<void>(), sizeof(T));
    pad_typed<T>(in, v, out, maps);
  };
  // Values move bit for bit: dispatch on the element size only.
  switch (out.itemsize()) {
    case 1: return run(uint8_t{});
    case 2: return run(uint16_t{});
    case 4: return run(uint32_t{});
    default: return run(uint64_t{});
  }
}

}  // namespace mica
