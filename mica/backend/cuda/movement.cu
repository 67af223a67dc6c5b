// GPU kernels of the movement family (backend/cpu/movement.cpp's twin). Views share the
// input's buffer with new strides exactly as on the CPU (backend/views.h); copies (contiguous,
// slice updates, concatenate) go through cu::copy_into on strided views of the output; pad has
// its own gather kernel.
#include <cstring>

#include "mica/backend/cuda/copy.h"
#include "mica/backend/cuda/device/elementwise.cuh"
#include "mica/backend/cuda/utils.h"
#include "mica/backend/views.h"
#include "mica/primitives/movement.h"

namespace mica {

using namespace views;

namespace {

// A strided window of `out`: `shape` elements from element offset `off` with `strides`.
array window(const array& out, const Shape& shape, const Strides& strides, int64_t off) {
  array w(shape, out.dtype(), nullptr, {});
  auto l = view_layout(shape, strides);
  w.copy_shared_buffer(out, strides, l.flags, l.data_size, off);
  return w;
}

// Writes `upd` (of the region's shape) into out at start with steps.
void write_region(const array& upd, array& out, const std::vector<int64_t>& start, const Shape& steps, const Stream& s) {
  if (upd.size() == 0) return;
  auto [off, ds] = region(out, start, steps);
  cu::prepare(upd, s);
  array w = window(out, upd.shape(), ds, off);
  cu::copy_into(upd, w, s);
}

// Gives `out` src's values: src's own GPU buffer when donatable, else a row-major copy.
void copy_or_donate(const array& src, array& out, const Stream& s) {
  if (cu::donatable(src, s) && views::dense(src) && src.itemsize() == out.itemsize()) {
    out.copy_shared_buffer(src);
  } else {
    cu::copy_to_row_contiguous(src, out, s);
  }
}

}  // namespace

// x: any layout -> out: a view with out.shape() when x's strides allow one, else a row-major copy.
void Reshape::eval_gpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  if (in.size() == 0 || in.flags().row_contiguous) return make_view(in, out, row_strides(out.shape()));
  if (auto st = reshape_strides(in.shape(), in.strides(), out.shape())) return make_view(in, out, *st);
  array tmp = cu::ensure_row_contiguous(in, stream());
  make_view(tmp, out, row_strides(out.shape()));
}

// Views whichever side the data is on (backend/cpu/movement.cpp).
void Squeeze::eval_gpu(const std::vector<array>& inputs, array& out) { eval_cpu(inputs, out); }
void ExpandDims::eval_gpu(const std::vector<array>& inputs, array& out) { eval_cpu(inputs, out); }

// x: any layout -> out: view with out.strides[i] = x.strides[axes[i]].
void Transpose::eval_gpu(const std::vector<array>& inputs, array& out) { eval_cpu(inputs, out); }

// x: shape right-aligned with out.shape() -> out: view, stride 0 on new and stretched dims.
void Broadcast::eval_gpu(const std::vector<array>& inputs, array& out) { eval_cpu(inputs, out); }

// x: any layout -> out: view at sum(start*stride) with strides x.strides * steps.
void Slice::eval_gpu(const std::vector<array>& inputs, array& out) { eval_cpu(inputs, out); }

// x: any layout -> out: x's buffer and layout (copy), or row-major unless x's layout is allowed.
void Copy::eval_gpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  // As Copy::eval_cpu: copy() shares; contiguous() copies unless the layout is allowed.
  bool share = mode() == always || in.flags().row_contiguous || (col_ok() && in.flags().col_contiguous);
  if (share) return out.copy_shared_buffer(in);
  cu::copy_to_row_contiguous(in, out, stream());
}

// x: viewed row-major (copied first when not row-contiguous) -> out: (shape, strides, offset).
void AsStrided::eval_gpu(const std::vector<array>& inputs, array& out) {
  array x = cu::ensure_row_contiguous(inputs[0], stream());
  make_view(x, out, strides_, static_cast<int64_t>(offset_));
}

// x: any layout -> out: same bytes as out.dtype() (see View::eval_cpu).
void View::eval_gpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  size_t ob = out.itemsize();
  if (in.itemsize() == ob) {
    out.copy_shared_buffer(in, in.strides(), in.flags(), in.data_size());
    return;
  }
  array x = cu::ensure_row_contiguous(in, stream());
  if (x.size() > 0 && x.byte_offset() % static_cast<int64_t>(ob) != 0) {
    array fresh(x.shape(), x.dtype(), nullptr, {});
    cu::alloc_output(fresh, stream());
    cu::copy_into(x, fresh, stream());
    x = fresh;
  }
  Strides st = row_strides(out.shape());
  auto l = view_layout(out.shape(), st);
  out.copy_shared_buffer(x, st, l.flags, out.size(), 0);
}

// src: any layout, update: the slice's shape -> out: src's values with the slice overwritten.
void SliceUpdate::eval_gpu(const std::vector<array>& inputs, array& out) {
  copy_or_donate(inputs[0], out, stream());
  write_region(inputs[1], out, std::vector<int64_t>(start_.begin(), start_.end()), strides_, stream());
}

// x: any layout, start: integers per axis (read on the host) -> out: view of slice_size.
void DynamicSlice::eval_gpu(const std::vector<array>& inputs, array& out) { eval_cpu(inputs, out); }

// src: any layout, update: full rank, start: integers per axis -> out: src with update written.
void DynamicSliceUpdate::eval_gpu(const std::vector<array>& inputs, array& out) {
  const array& upd = inputs[1];
  auto st = dynamic_starts(inputs[2], axes_, inputs[0].shape(), upd.shape());
  copy_or_donate(inputs[0], out, stream());
  write_region(upd, out, st, Shape(out.ndim(), 1), stream());
}

// inputs: same dtype, equal shapes except along axis -> out: row-major, inputs placed in order.
void Concatenate::eval_gpu(const std::vector<array>& inputs, array& out) {
  cu::alloc_output(out, stream());
  int64_t pos = 0;
  for (const auto& in : inputs) {
    if (in.size() > 0) {
      cu::prepare(in, stream());
      array w = window(out, in.shape(), out.strides(), pos * out.strides()[axis_]);
      cu::copy_into(in, w, stream());
    }
    pos += in.shape()[axis_];
  }
}

namespace {

struct PadParams {
  int ndim;
  int mode;
  int64_t out_shape[cu::kMaxDims];
  int64_t in_shape[cu::kMaxDims];
  int64_t in_strides[cu::kMaxDims];
  int64_t lo[cu::kMaxDims];
};

// x: any layout (p.in_strides); out: row-major p.out_shape; W: element-sized word.
template <typename W>
__global__ void pad_kernel(const W* __restrict__ in, W* __restrict__ out, W value, PadParams p, int64_t n) {
  int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    int64_t rem = i, off = 0;
    bool padded = false;
    for (int d = p.ndim - 1; d >= 0; --d) {
      int64_t c = rem % p.out_shape[d];
      rem /= p.out_shape[d];
      int64_t m = views::pad_source(c, p.in_shape[d], p.lo[d], p.mode);
      if (m < 0) padded = true;
      else off += m * p.in_strides[d];
    }
    out[i] = padded ? value : in[off];
  }
}

template <typename W>
void launch_pad(const array& in, const array& val, array& out, const PadParams& p, cudaStream_t s) {
  W v;
  std::memcpy(&v, val.data<void>(), sizeof(W));  // the pad value is read on the host
  int64_t n = static_cast<int64_t>(out.size());
  pad_kernel<W><<<cu::grid_for(n, 4), cu::kBlock, 0, s>>>(cu::ptr<W>(in), cu::ptr<W>(out), v, p, n);
}

}  // namespace

// x: any layout, value: 0-d of x's dtype -> out: row-major, x padded along axes.
void Pad::eval_gpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  cu::alloc_output(out, stream());
  if (out.size() == 0) return;
  if (in.ndim() > static_cast<size_t>(cu::kMaxDims)) {
    throw std::invalid_argument("[pad] expected at most " + std::to_string(cu::kMaxDims) + " dimensions on the GPU, got " +
                                std::to_string(in.ndim()) + ".");
  }
  cu::prepare(in, stream());
  PadParams p{};
  p.ndim = static_cast<int>(in.ndim());
  p.mode = mode_;
  for (size_t d = 0; d < in.ndim(); ++d) {
    p.out_shape[d] = out.shape()[d];
    p.in_shape[d] = in.shape()[d];
    p.in_strides[d] = in.strides()[d];
    for (size_t k = 0; k < axes_.size(); ++k) {
      if (axes_[k] == static_cast<int>(d)) p.lo[d] = low_[k];
    }
  }
  if (in.ndim() == 0) {
    p.ndim = 1;
    p.out_shape[0] = p.in_shape[0] = 1;
    p.in_strides[0] = 1;
  }
  cudaStream_t s = cu::stream(stream());
  switch (out.itemsize()) {
    case 1: launch_pad<uint8_t>(in, inputs[1], out, p, s); break;
    case 2: launch_pad<uint16_t>(in, inputs[1], out, p, s); break;
    case 4: launch_pad<uint32_t>(in, inputs[1], out, p, s); break;
    default: launch_pad<uint64_t>(in, inputs[1], out, p, s); break;
  }
  cu::check_launch("pad");
}

}  // namespace mica
