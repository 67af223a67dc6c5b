// Transform rules of the movement family. Most are linear maps, so jvp applies the same map to
// the tangent and vjp its adjoint to the cotangent; vmap moves the batch axis to the front and
// applies the map to the remaining axes.
#include "mica/primitives/movement.h"

#include <limits>
#include <stdexcept>

#include "mica/ops.h"
#include "mica/primitives/indexing.h"
#include "mica/primitives/rules.h"

namespace mica {

std::vector<array> Reshape::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                const std::vector<int>&, const std::vector<array>&) {
  return {reshape(cotangents[0], primals[0].shape())};
}
std::vector<array> Reshape::jvp(const std::vector<array>&, const std::vector<array>& tangents,
                                const std::vector<int>&) {
  return {reshape(tangents[0], shape_)};
}
std::pair<std::vector<array>, std::vector<int>> Reshape::vmap(const std::vector<array>& inputs,
                                                              const std::vector<int>& axes) {
  array x = detail::batch_to_front(inputs[0], axes[0]);
  Shape s = shape_;
  s.insert(s.begin(), x.shape(0));
  return {{reshape(x, s)}, {0}};
}

std::vector<array> Squeeze::vjp(const std::vector<array>&, const std::vector<array>& cotangents,
                                const std::vector<int>&, const std::vector<array>&) {
  return {expand_dims(cotangents[0], axes_)};
}
std::vector<array> Squeeze::jvp(const std::vector<array>&, const std::vector<array>& tangents,
                                const std::vector<int>&) {
  return {squeeze(tangents[0], axes_)};
}
std::pair<std::vector<array>, std::vector<int>> Squeeze::vmap(const std::vector<array>& inputs,
                                                              const std::vector<int>& axes) {
  array x = detail::batch_to_front(inputs[0], axes[0]);
  std::vector<int> ax;
  for (int a : axes_) ax.push_back(a + 1);
  return {{squeeze(x, ax)}, {0}};
}

std::vector<array> ExpandDims::vjp(const std::vector<array>&, const std::vector<array>& cotangents,
                                   const std::vector<int>&, const std::vector<array>&) {
  return {squeeze(cotangents[0], axes_)};
}
std::vector<array> ExpandDims::jvp(const std::vector<array>&, const std::vector<array>& tangents,
                                   const std::vector<int>&) {
  return {expand_dims(tangents[0], axes_)};
}
std::pair<std::vector<array>, std::vector<int>> ExpandDims::vmap(const std::vector<array>& inputs,
                                                                 const std::vector<int>& axes) {
  array x = detail::batch_to_front(inputs[0], axes[0]);
  std::vector<int> ax;
  for (int a : axes_) ax.push_back(a + 1);
  return {{expand_dims(x, ax)}, {0}};
}

std::vector<array> Transpose::vjp(const std::vector<array>&, const std::vector<array>& cotangents,
                                  const std::vector<int>&, const std::vector<array>&) {
  std::vector<int> inverse(axes_.size());
  for (size_t i = 0; i < axes_.size(); ++i) inverse[axes_[i]] = static_cast<int>(i);
  return {transpose(cotangents[0], inverse)};
}
std::vector<array> Transpose::jvp(const std::vector<array>&, const std::vector<array>& tangents,
                                  const std::vector<int>&) {
  return {transpose(tangents[0], axes_)};
}
std::pair<std::vector<array>, std::vector<int>> Transpose::vmap(const std::vector<array>& inputs,
                                                                const std::vector<int>& axes) {
  array x = detail::batch_to_front(inputs[0], axes[0]);
  std::vector<int> perm = {0};
  for (int a : axes_) perm.push_back(a + 1);
  return {{transpose(x, perm)}, {0}};
}

std::vector<array> Broadcast::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                  const std::vector<int>&, const std::vector<array>&) {
  return {detail::unbroadcast(cotangents[0], primals[0].shape())};
}
std::vector<array> Broadcast::jvp(const std::vector<array>&, const std::vector<array>& tangents,
                                  const std::vector<int>&) {
  return {broadcast_to(tangents[0], shape_)};
}
std::pair<std::vector<array>, std::vector<int>> Broadcast::vmap(const std::vector<array>& inputs,
                                                                const std::vector<int>& axes) {
  // The input may have fewer axes than the target: pad with ones after the batch axis.
  array x = detail::align_batched({inputs[0], detail::zeros_view(shape_, inputs[0].dtype())}, {axes[0], -1})[0];
  Shape s = shape_;
  s.insert(s.begin(), x.shape(0));
  return {{broadcast_to(x, s)}, {0}};
}

std::vector<array> Copy::vjp(const std::vector<array>&, const std::vector<array>& cotangents,
                             const std::vector<int>&, const std::vector<array>&) {
  return {cotangents[0]};
}
std::vector<array> Copy::jvp(const std::vector<array>&, const std::vector<array>& tangents,
                             const std::vector<int>&) {
  return {tangents[0]};
}
std::pair<std::vector<array>, std::vector<int>> Copy::vmap(const std::vector<array>& inputs,
                                                           const std::vector<int>& axes) {
  const array& x = inputs[0];
  return {{array(x.shape(), x.dtype(), std::make_shared<Copy>(stream(), mode_, col_ok_), {x})}, {axes[0]}};
}

}  // namespace mica

namespace mica {

using detail::batch_size;
using detail::batched_front;
using detail::prepend;
using detail::shifted;
using detail::tangent_of;
using detail::tangent_or_zeros;

namespace {

// Shape of the resolved slice start:stop:strides (stop = start + len * stride).
Shape slice_shape(const Shape& start, const Shape& stop, const Shape& strides) {
  Shape s(start.size());
  // ceil((stop - start) / stride) in 64 bits: stop is just past the last element.
  for (size_t d = 0; d < start.size(); ++d) {
    const int64_t span = int64_t(stop[d]) - start[d], step = strides[d];
    s[d] = static_cast<int32_t>(step > 0 ? (span + step - 1) / step : (span + step + 1) / step);
  }
  return s;
}

// The Slice and SliceUpdate primitives with already resolved bounds (the public ops would
// re-interpret a negative stop Python-style).
array resolved_slice(const Stream& st, const array& x, const Shape& start, const Shape& stop, const Shape& strides) {
  return array(slice_shape(start, stop, strides), x.dtype(), std::make_shared<Slice>(st, start, stop, strides), {x});
}
array resolved_slice_update(const Stream& st, const array& src, const array& upd, const Shape& start,
                            const Shape& stop, const Shape& strides) {
  array u = upd.dtype() == src.dtype() ? upd : astype(upd, src.dtype());
  return array(src.shape(), src.dtype(), std::make_shared<SliceUpdate>(st, start, stop, strides), {src, u});
}

array dynamic_slice(const Stream& st, const array& x, const array& start, const std::vector<int>& axes,
                    const Shape& size) {
  return array(size, x.dtype(), std::make_shared<DynamicSlice>(st, axes, size), {x, start});
}
array dynamic_slice_update(const Stream& st, const array& src, const array& upd, const array& start,
                           const std::vector<int>& axes) {
  array u = upd.dtype() == src.dtype() ? upd : astype(upd, src.dtype());
  return array(src.shape(), src.dtype(), std::make_shared<DynamicSliceUpdate>(st, axes), {src, u, start});
}

// Column k of the batched start indices (batch first: (B,) or (B, k)) as a (B,) vector.
array start_column(const array& start, size_t k) {
  if (start.ndim() == 1) return start;
  int b = start.shape(0);
  int kk = static_cast<int>(k);
  return reshape(slice(start, {0, kk}, {b, kk + 1}), {b});
}

array pad_prim(const Stream& st, const array& x, const array& v, const std::vector<int>& axes, const Shape& low,
               const Shape& high, Pad::Mode mode) {
  Shape s = x.shape();
  for (size_t k = 0; k < axes.size(); ++k) s[axes[k]] += low[k] + high[k];
  array val = v.dtype() == x.dtype() ? v : astype(v, x.dtype());
  return array(s, x.dtype(), std::make_shared<Pad>(st, axes, low, high, mode), {x, val});
}
}  // namespace

// AsStrided: out[i] = flat(x)[offset + sum_d i_d * strides_d]. The vjp adds each cotangent
// element into the flat position it was read from (positions may repeat or be skipped).
std::vector<array> AsStrided::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                  const std::vector<int>&, const std::vector<array>&) {
  const array& x = primals[0];
  const array& g = cotangents[0];
  int64_t n = static_cast<int64_t>(x.size());
  Dtype it = n <= std::numeric_limits<int32_t>::max() ? int32 : int64;
  int nd = static_cast<int>(shape_.size());
  array pos = array(static_cast<int64_t>(offset_), it);
  for (int d = 0; d < nd; ++d) {
    Shape s(nd, 1);
    s[d] = shape_[d];
    array r = multiply(arange(0.0, static_cast<double>(shape_[d]), 1.0, it), array(strides_[d], it));
    pos = add(pos, reshape(r, s));
  }
  pos = broadcast_to(pos, shape_);
  Shape flat = {static_cast<int32_t>(g.size())};
  array acc = scatter_add_axis(detail::zeros_view({static_cast<int32_t>(n)}, g.dtype()), reshape(pos, flat), reshape(g, flat), 0);
  return {reshape(acc, x.shape())};
}
std::vector<array> AsStrided::jvp(const std::vector<array>&, const std::vector<array>& tangents,
                                  const std::vector<int>&) {
  const array& t = tangents[0];
  return {array(shape_, t.dtype(), std::make_shared<AsStrided>(stream(), shape_, strides_, offset_), {t})};
}
std::pair<std::vector<array>, std::vector<int>> AsStrided::vmap(const std::vector<array>& inputs,
                                                                const std::vector<int>& axes) {
  // Each batch element is one row-major block of the batch-first input.
  array x = detail::batch_to_front(inputs[0], axes[0]);
  int64_t per = x.shape(0) == 0 ? 0 : static_cast<int64_t>(x.size()) / x.shape(0);
  return {{as_strided(x, prepend(shape_, x.shape(0)), prepend(strides_, per), offset_)}, {0}};
}

// View reinterprets bits: no derivative exists (MLX has none either); its batched form views
// the batch-first input, whose last axis is still the element's last axis.
MICA_NO_RULE(View, vjp, "reinterpreting the bits of an array as another dtype has no derivative")
MICA_NO_RULE(View, jvp, "reinterpreting the bits of an array as another dtype has no derivative")
std::pair<std::vector<array>, std::vector<int>> View::vmap(const std::vector<array>& inputs,
                                                           const std::vector<int>& axes) {
  return {{view(detail::batch_to_front(inputs[0], axes[0]), dtype_)}, {0}};
}

std::vector<array> Slice::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                              const std::vector<int>&, const std::vector<array>&) {
  const array& x = primals[0];
  return {resolved_slice_update(stream(), detail::zeros_view(x.shape(), cotangents[0].dtype()), cotangents[0], start_, stop_,
                                strides_)};
}
std::vector<array> Slice::jvp(const std::vector<array>&, const std::vector<array>& tangents,
                              const std::vector<int>&) {
  return {resolved_slice(stream(), tangents[0], start_, stop_, strides_)};
}
std::pair<std::vector<array>, std::vector<int>> Slice::vmap(const std::vector<array>& inputs,
                                                            const std::vector<int>& axes) {
  array x = detail::batch_to_front(inputs[0], axes[0]);
  return {{resolved_slice(stream(), x, prepend(start_, 0), prepend(stop_, x.shape(0)), prepend(strides_, 1))}, {0}};
}

// SliceUpdate: the source's cotangent is the cotangent with the slice zeroed; the update's is
// the slice of the cotangent.
std::vector<array> SliceUpdate::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                    const std::vector<int>& argnums, const std::vector<array>&) {
  const array& g = cotangents[0];
  std::vector<array> r;
  for (int a : argnums) {
    if (a == 0) {
      r.push_back(resolved_slice_update(stream(), g, detail::zeros_view(primals[1].shape(), g.dtype()), start_, stop_, strides_));
    } else {
      r.push_back(resolved_slice(stream(), g, start_, stop_, strides_));
    }
  }
  return r;
}
std::vector<array> SliceUpdate::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                    const std::vector<int>& argnums) {
  Dtype d = primals[0].dtype();
  return {resolved_slice_update(stream(), tangent_or_zeros(primals, tangents, argnums, 0, d),
                                tangent_or_zeros(primals, tangents, argnums, 1, d), start_, stop_, strides_)};
}
std::pair<std::vector<array>, std::vector<int>> SliceUpdate::vmap(const std::vector<array>& inputs,
                                                                  const std::vector<int>& axes) {
  int b = batch_size(inputs, axes);
  array src = batched_front(inputs[0], axes[0], b);
  array upd = batched_front(inputs[1], axes[1], b);
  return {{resolved_slice_update(stream(), src, upd, prepend(start_, 0), prepend(stop_, b), prepend(strides_, 1))},
          {0}};
}

// DynamicSlice (inputs x, start): linear in x for a fixed start; the start gets no gradient.
std::vector<array> DynamicSlice::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                     const std::vector<int>& argnums, const std::vector<array>&) {
  const array& g = cotangents[0];
  std::vector<array> r;
  for (int a : argnums) {
    if (a == 0) {
      r.push_back(dynamic_slice_update(stream(), detail::zeros_view(primals[0].shape(), g.dtype()), g, primals[1], axes_));
    } else {
      r.push_back(detail::zeros_like_view(primals[1]));
    }
  }
  return r;
}
std::vector<array> DynamicSlice::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                     const std::vector<int>& argnums) {
  const array* t = tangent_of(tangents, argnums, 0);
  if (!t) return {detail::zeros_view(slice_size_, primals[0].dtype())};
  return {dynamic_slice(stream(), *t, primals[1], axes_, slice_size_)};
}
std::pair<std::vector<array>, std::vector<int>> DynamicSlice::vmap(const std::vector<array>& inputs,
                                                                   const std::vector<int>& axes) {
  int b = batch_size(inputs, axes);
  if (axes[1] < 0 || axes_.empty()) {
    // One start for all (without sliced axes, the start is an empty vector).
    array x = batched_front(inputs[0], axes[0], b);
    array start = axes[1] < 0 ? inputs[1] : detail::zeros_view({0}, int32);
    return {{dynamic_slice(stream(), x, start, shifted(axes_, 1), prepend(slice_size_, b))}, {0}};
  }
  // One start per batch element: a gather, which clamps its window starts the same way.
  array start = detail::batch_to_front(inputs[1], axes[1]);
  std::vector<array> idx;
  for (size_t k = 0; k < axes_.size(); ++k) idx.push_back(start_column(start, k));
  if (axes[0] < 0) return {{gather(inputs[0], idx, axes_, slice_size_)}, {0}};
  array x = detail::batch_to_front(inputs[0], axes[0]);
  idx.insert(idx.begin(), arange(0.0, static_cast<double>(b), 1.0, int32));
  array out = gather(x, idx, prepend(shifted(axes_, 1), 0), prepend(slice_size_, 1));
  return {{squeeze(out, 1)}, {0}};
}

// DynamicSliceUpdate (inputs src, update, start).
std::vector<array> DynamicSliceUpdate::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                           const std::vector<int>& argnums, const std::vector<array>&) {
  const array& g = cotangents[0];
  const array& start = primals[2];
  std::vector<array> r;
  for (int a : argnums) {
    if (a == 0) {
      r.push_back(dynamic_slice_update(stream(), g, detail::zeros_view(primals[1].shape(), g.dtype()), start, axes_));
    } else if (a == 1) {
      r.push_back(dynamic_slice(stream(), g, start, axes_, primals[1].shape()));
    } else {
      r.push_back(detail::zeros_like_view(start));
    }
  }
  return r;
}
std::vector<array> DynamicSliceUpdate::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                           const std::vector<int>& argnums) {
  Dtype d = primals[0].dtype();
  return {dynamic_slice_update(stream(), tangent_or_zeros(primals, tangents, argnums, 0, d),
                               tangent_or_zeros(primals, tangents, argnums, 1, d), primals[2], axes_)};
}
std::pair<std::vector<array>, std::vector<int>> DynamicSliceUpdate::vmap(const std::vector<array>& inputs,
                                                                         const std::vector<int>& axes) {
  int b = batch_size(inputs, axes);
  array src = batched_front(inputs[0], axes[0], b);
  array upd = batched_front(inputs[1], axes[1], b);
  if (axes[2] < 0) return {{dynamic_slice_update(stream(), src, upd, inputs[2], shifted(axes_, 1))}, {0}};
  // One start per batch element: a scatter of one window per element. Scatters drop windows
  // that do not fit, so the starts are clamped first as the dynamic update clamps them.
  array start = detail::batch_to_front(inputs[2], axes[2]);
  std::vector<array> idx = {arange(0.0, static_cast<double>(b), 1.0, int32)};
  for (size_t k = 0; k < axes_.size(); ++k) {
    int64_t dim = src.shape(axes_[k] + 1), size = upd.shape(axes_[k] + 1);
    idx.push_back(detail::clamp_gather_indices(start_column(start, k), dim, dim - size));
  }
  return {{scatter(src, idx, expand_dims(upd, 1), prepend(shifted(axes_, 1), 0))}, {0}};
}

std::vector<array> Concatenate::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                    const std::vector<int>& argnums, const std::vector<array>&) {
  const array& g = cotangents[0];
  std::vector<int32_t> offsets = {0};
  for (auto& x : primals) offsets.push_back(offsets.back() + x.shape(axis_));
  std::vector<array> r;
  for (int a : argnums) {
    Shape start(g.ndim(), 0), stop = g.shape();
    start[axis_] = offsets[a];
    stop[axis_] = offsets[a + 1];
    r.push_back(slice(g, start, stop));
  }
  return r;
}
std::vector<array> Concatenate::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                    const std::vector<int>& argnums) {
  std::vector<array> parts;
  for (int i = 0; i < static_cast<int>(primals.size()); ++i) {
    parts.push_back(tangent_or_zeros(primals, tangents, argnums, i, primals[0].dtype()));
  }
  return {concatenate(parts, axis_)};
}
std::pair<std::vector<array>, std::vector<int>> Concatenate::vmap(const std::vector<array>& inputs,
                                                                  const std::vector<int>& axes) {
  int b = batch_size(inputs, axes);
  std::vector<array> parts;
  for (size_t i = 0; i < inputs.size(); ++i) parts.push_back(batched_front(inputs[i], axes[i], b));
  return {{concatenate(parts, axis_ + 1)}, {0}};
}

// Pad (inputs x, value): every output element copies one element of x or the value, so the
// op is linear in (x, value) and jvp pads the tangents. The vjp sums the cotangent of the
// copies back onto their sources, axis by axis.
std::vector<array> Pad::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                            const std::vector<int>& argnums, const std::vector<array>&) {
  const array& x = primals[0];
  const array& g = cotangents[0];
  std::vector<array> r;
  for (int a : argnums) {
    if (a == 1) {
      if (x.size() == 0) {
        r.push_back(sum(g));  // an empty x: every output element is the pad value
      } else if (mode_ == Constant) {
        array mask = pad_prim(stream(), detail::zeros_view(x.shape(), bool_), array(true), axes_, low_, high_, mode_);
        r.push_back(sum(where(mask, g, detail::zeros_like_view(g))));
      } else {
        r.push_back(detail::zeros_view({}, g.dtype()));
      }
      continue;
    }
    if (x.size() == 0) {
      r.push_back(detail::zeros_view(x.shape(), g.dtype()));
    } else if (mode_ == Constant) {
      Shape start(x.ndim(), 0);
      for (size_t k = 0; k < axes_.size(); ++k) start[axes_[k]] = low_[k];
      Shape stop = start;
      for (size_t d = 0; d < x.ndim(); ++d) stop[d] += x.shape(d);
      r.push_back(slice(g, start, stop));
    } else {
      // Per padded axis, the source coordinate of each output coordinate is the axis' padding
      // of arange(n) in the same mode; the cotangent is scatter-added along it.
      array acc = g;
      for (size_t k = 0; k < axes_.size(); ++k) {
        int ax = axes_[k];
        int n = x.shape(ax);
        array src = pad_prim(stream(), arange(0.0, static_cast<double>(n), 1.0, int32), array(0, int32), {0},
                             {low_[k]}, {high_[k]}, mode_);
        Shape s(x.ndim(), 1);
        s[ax] = src.shape(0);
        Shape target = acc.shape();
        target[ax] = n;
        acc = scatter_add_axis(detail::zeros_view(target, g.dtype()), reshape(src, s), acc, ax);
      }
      r.push_back(acc);
    }
  }
  return r;
}
std::vector<array> Pad::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                            const std::vector<int>& argnums) {
  Dtype d = primals[0].dtype();
  return {pad_prim(stream(), tangent_or_zeros(primals, tangents, argnums, 0, d),
                   tangent_or_zeros(primals, tangents, argnums, 1, d), axes_, low_, high_, mode_)};
}
std::pair<std::vector<array>, std::vector<int>> Pad::vmap(const std::vector<array>& inputs,
                                                          const std::vector<int>& axes) {
  int b = batch_size(inputs, axes);
  array x = batched_front(inputs[0], axes[0], b);
  if (axes[1] < 0) return {{pad_prim(stream(), x, inputs[1], shifted(axes_, 1), low_, high_, mode_)}, {0}};
  // A pad value per batch element: pad with zero, then put each value where the pad value goes.
  const array& x0 = inputs[0];
  Shape elem = x0.shape();
  if (axes[0] >= 0) elem.erase(elem.begin() + axes[0]);
  array padded = pad_prim(stream(), x, detail::zeros_view({}, x.dtype()), shifted(axes_, 1), low_, high_, mode_);
  array mask = pad_prim(stream(), detail::zeros_view(elem, bool_), array(true), axes_, low_, high_, mode_);
  Shape vs(padded.ndim(), 1);
  vs[0] = b;
  array v = reshape(inputs[1], vs);
  if (v.dtype() != x.dtype()) v = astype(v, x.dtype());
  return {{where(mask, v, padded)}, {0}};
}

}  // namespace mica
