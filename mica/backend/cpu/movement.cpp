// CPU kernels of the movement family. Views (reshape when the strides allow, transpose,
// broadcast, slices, as_strided, same-size dtype views) share the input's buffer with new
// strides; copies (concatenate, pad, slice updates) write a row-major output.
#include <algorithm>
#include <cstring>
#include <optional>

#include "mica/backend/cpu/copy.h"
#include "mica/backend/cpu/parallel.h"
#include "mica/backend/cpu/strided.h"
#include "mica/backend/views.h"
#include "mica/primitives/movement.h"

namespace mica {

using namespace views;

namespace {

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

// Gives `out` src's values: src's own buffer when donatable and free of overlaps, else a
// row-major copy.
void copy_or_donate(const array& src, array& out) {
  if (src.is_donatable() && dense(src) && src.itemsize() == out.itemsize()) {
    out.copy_shared_buffer(src);
  } else {
    cpu::copy_to_row_contiguous(src, out);
  }
}

// Writes `upd` (of the region's shape) into out at element offset `off` with steps `steps`.
void write_region(const array& upd, array& out, const std::vector<int64_t>& start, const Shape& steps) {
  if (upd.size() == 0) return;
  auto [off, ds] = region(out, start, steps);
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

// x: any layout -> out: view with x's strides less those of the dropped axes.
void Squeeze::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  Strides st;
  for (int d = 0; d < static_cast<int>(in.ndim()); ++d) {
    if (!std::binary_search(axes_.begin(), axes_.end(), d)) st.push_back(in.strides()[d]);
  }
  // Only size-1 dims go, which no flag looks at: the input's flags stay (for an empty input
  // too, as MLX's).
  out.copy_shared_buffer(in, st, in.flags(), in.data_size(), 0);
}

// x: any layout -> out: view with x's strides and stride 1 on the new axes (as MLX).
void ExpandDims::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  Strides st;
  size_t k = 0;
  for (int d = 0; d < static_cast<int>(out.ndim()); ++d) {
    st.push_back(std::binary_search(axes_.begin(), axes_.end(), d) ? 1 : in.strides()[k++]);
  }
  out.copy_shared_buffer(in, st, in.flags(), in.data_size(), 0);  // as Squeeze's
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

// x: any layout -> out: x's buffer and layout (copy), or row-major unless x's layout is allowed.
void Copy::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  // copy() as MLX's: arrays are immutable, so the copy shares the buffer and its layout.
  // contiguous(): shared when already in an allowed layout, else a row-major copy.
  bool share = mode_ == always || in.flags().row_contiguous || (col_ok_ && in.flags().col_contiguous);
  if (share) return out.copy_shared_buffer(in);
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
  auto byte_off = x.byte_offset();
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
