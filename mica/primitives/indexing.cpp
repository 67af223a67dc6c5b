// Transform rules of the indexing family. Gathers and scatters are linear in the arrays they
// move (indices are constants: they get zero cotangents), so jvp applies the same op to the
// tangents and vjp the adjoint: a gather's adjoint is a scatter-add and back. The adjoints must
// see the indices as the kernels do: gathers clamp an out-of-range index, scatters drop the
// update (primitives/indexing.h), so the rules clamp or mask the indices explicitly.
// vmap moves batch axes to the front; batched indices gain an index over the batch axis.
#include "mica/primitives/indexing.h"

#include <limits>
#include <optional>
#include <stdexcept>

#include "mica/ops.h"
#include "mica/primitives/rules.h"

namespace mica {

namespace detail {
namespace {
// Indices are resolved in int32 when every value of their dtype fits, else in int64.
Dtype index_work_type(Dtype d) {
  if (d == int8 || d == int16 || d == int32 || d == uint8 || d == uint16) return int32;
  return int64;
}
}  // namespace

array clamp_gather_indices(const array& idx, int64_t dim, int64_t hi) {
  Dtype t = index_work_type(idx.dtype());
  if (hi < 0) hi = 0;
  array i = idx.dtype() == t ? idx : astype(idx, t);
  // Clip first so that adding dim cannot overflow.
  array j = clip(i, array(-dim, t), array(hi, t));
  array w = where(less(j, array(0, t)), add(j, array(dim, t)), j);
  return clip(w, array(0, t), array(hi, t));
}

array scatter_index_valid(const array& idx, int64_t dim, int64_t hi) {
  Dtype t = index_work_type(idx.dtype());
  array i = idx.dtype() == t ? idx : astype(idx, t);
  array j = clip(i, array(-dim - 1, t), array(hi + 1, t));
  array w = where(less(j, array(0, t)), add(j, array(dim, t)), j);
  return logical_and(greater_equal(w, array(0, t)), less_equal(w, array(hi, t)));
}
}  // namespace detail

using detail::batch_size;
using detail::batched_front;
using detail::prepend;
using detail::shifted;
using detail::tangent_of;
using detail::tangent_or_zeros;

namespace {

// x with its batch axis in front, or with a size-1 front axis (for ops that broadcast).
array front_or_expand(const array& x, int ax) { return ax >= 0 ? detail::batch_to_front(x, ax) : expand_dims(x, 0); }

array where_or_zero(const array& mask, const array& x) { return where(mask, x, detail::zeros_view({}, x.dtype())); }

// The i-th element of a (row-major) numbered by an integer array of a's shape.
array element_ids(const Shape& shape, size_t n) {
  Dtype t = n <= static_cast<size_t>(std::numeric_limits<int32_t>::max()) ? int32 : int64;
  return reshape(arange(0.0, static_cast<double>(n), 1.0, t), shape);
}

array make_scatter(const Stream& st, Scatter::ReduceType type, const array& a, std::vector<array> idx,
                   const array& upd, const std::vector<int>& axes) {
  if (!idx.empty()) idx = broadcast_arrays(idx);
  std::vector<array> inputs = {a};
  inputs.insert(inputs.end(), idx.begin(), idx.end());
  inputs.push_back(upd.dtype() == a.dtype() ? upd : astype(upd, a.dtype()));
  return array(a.shape(), a.dtype(), std::make_shared<Scatter>(st, type, axes), std::move(inputs));
}

array scatter_axis(ScatterAxis::ReduceType type, const array& a, const array& idx, const array& vals, int axis) {
  return type == ScatterAxis::None ? put_along_axis(a, idx, vals, axis) : scatter_add_axis(a, idx, vals, axis);
}
}  // namespace

// ---- Gather (inputs a, idx_0..idx_k) ----

std::vector<array> Gather::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                               const std::vector<int>& argnums, const std::vector<array>&) {
  const array& a = primals[0];
  const array& g = cotangents[0];
  std::vector<array> r;
  for (int n : argnums) {
    if (n > 0) {
      r.push_back(detail::zeros_like_view(primals[n]));
      continue;
    }
    // Scatter-add onto the windows the gather read, at the indices as it clamped them.
    std::vector<array> idx;
    for (size_t k = 0; k < axes_.size(); ++k) {
      int ax = axes_[k];
      idx.push_back(detail::clamp_gather_indices(primals[k + 1], a.shape(ax), a.shape(ax) - slice_sizes_[ax]));
    }
    r.push_back(make_scatter(stream(), Scatter::Sum, detail::zeros_view(a.shape(), g.dtype()), idx, g, axes_));
  }
  return r;
}
std::vector<array> Gather::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                               const std::vector<int>& argnums) {
  Shape out = primals.size() > 1 ? primals[1].shape() : Shape{};
  out.insert(out.end(), slice_sizes_.begin(), slice_sizes_.end());
  const array* t = tangent_of(tangents, argnums, 0);
  if (!t) return {detail::zeros_view(out, primals[0].dtype())};
  std::vector<array> inputs = primals;
  inputs[0] = *t;
  return {array(out, t->dtype(), std::make_shared<Gather>(stream(), axes_, slice_sizes_), std::move(inputs))};
}
std::pair<std::vector<array>, std::vector<int>> Gather::vmap(const std::vector<array>& inputs,
                                                             const std::vector<int>& axes) {
  int b = batch_size(inputs, axes);
  std::vector<array> idx(inputs.begin() + 1, inputs.end());
  bool idx_batched = false;
  for (size_t i = 1; i < axes.size(); ++i) idx_batched = idx_batched || axes[i] >= 0;
  if (!idx_batched) {
    // The batch axis becomes one more (whole) window axis, right after the index axes.
    array a = detail::batch_to_front(inputs[0], axes[0]);
    int ni = idx.empty() ? 0 : static_cast<int>(idx[0].ndim());
    return {{gather(a, idx, shifted(axes_, 1), prepend(slice_sizes_, b))}, {ni}};
  }
  for (size_t k = 0; k < idx.size(); ++k) idx[k] = front_or_expand(idx[k], axes[k + 1]);
  if (axes[0] < 0) return {{gather(inputs[0], idx, axes_, slice_sizes_)}, {0}};
  // Both batched: the batch element's index selects its own slice of a.
  array a = detail::batch_to_front(inputs[0], axes[0]);
  int ni = static_cast<int>(idx[0].ndim()) - 1;
  Shape bs(ni + 1, 1);
  bs[0] = b;
  idx.insert(idx.begin(), reshape(arange(0.0, static_cast<double>(b), 1.0, int32), bs));
  array out = gather(a, idx, prepend(shifted(axes_, 1), 0), prepend(slice_sizes_, 1));
  return {{squeeze(out, 1 + ni)}, {0}};
}

// ---- Scatter (inputs a, idx_0..idx_k, updates) ----

namespace {
// What the rules of one scatter need: the windows it keeps and a gather that reads, for
// every update element, the element of an a-shaped array it lands on.
struct ScatterView {
  std::vector<array> clamped;  // indices as a gather of the update window reads them
  std::optional<array> valid;  // per index position: the window is written (none: all are)
  std::vector<int> axes;
  Shape window;  // U
  int ni;        // index dims

  ScatterView(const std::vector<array>& primals, const std::vector<int>& ax) : axes(ax) {
    const array& a = primals[0];
    const array& upd = primals.back();
    ni = static_cast<int>(upd.ndim() - a.ndim());
    window.assign(upd.shape().begin() + ni, upd.shape().end());
    for (size_t k = 0; k < axes.size(); ++k) {
      int d = axes[k];
      int64_t dim = a.shape(d), hi = dim - window[d];
      clamped.push_back(detail::clamp_gather_indices(primals[k + 1], dim, hi));
      array v = detail::scatter_index_valid(primals[k + 1], dim, hi);
      valid = valid ? logical_and(*valid, v) : v;
    }
  }
  // x (a's shape) read at every update element: shape I + U.
  array read(const array& x) const { return gather(x, clamped, axes, window); }
  // Zeroes the entries (shape I + U) of dropped windows.
  array mask(const array& x) const {
    if (!valid) return x;
    Shape s = valid->shape();
    s.resize(s.size() + window.size(), 1);
    return where_or_zero(reshape(*valid, s), x);
  }
};
}  // namespace

std::vector<array> Scatter::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                const std::vector<int>& argnums, const std::vector<array>& outputs) {
  const array& a = primals[0];
  const array& upd = primals.back();
  const array& g = cotangents[0];
  const int nu = static_cast<int>(primals.size()) - 1;
  std::vector<array> idx(primals.begin() + 1, primals.end() - 1);
  ScatterView sv(primals, axes_);
  std::vector<array> r;
  for (int n : argnums) {
    if (n > 0 && n < nu) {
      r.push_back(detail::zeros_like_view(primals[n]));
      continue;
    }
    bool wrt_a = n == 0;
    switch (type_) {
      case None:
        if (wrt_a) {
          // Written positions no longer depend on a.
          r.push_back(make_scatter(stream(), None, g, idx, detail::zeros_view(upd.shape(), g.dtype()), axes_));
        } else {
          // Only the update that was written last at a position reaches the output: number the
          // update elements, scatter the numbers the same way, and read back who won.
          array ids = element_ids(upd.shape(), upd.size());
          array owner = make_scatter(stream(), None, detail::full_view(a.shape(), array(-1, ids.dtype())), idx, ids, axes_);
          r.push_back(where_or_zero(equal(sv.read(owner), ids), sv.read(g)));
        }
        break;
      case Sum:
        r.push_back(wrt_a ? g : sv.mask(sv.read(g)));
        break;
      case Prod: {
        // out = a * prod(updates at the position). d/da = that product; d/du = a times the
        // product of the other updates, found without dividing by a zero update.
        if (wrt_a) {
          array q = make_scatter(stream(), Prod, detail::ones_view(a.shape(), a.dtype()), idx, upd, axes_);
          r.push_back(multiply(g, q));
          break;
        }
        array zero = equal(upd, detail::zeros_view({}, upd.dtype()));
        array nonzero = where(zero, detail::ones_view({}, upd.dtype()), upd);
        array pnz = sv.read(make_scatter(stream(), Prod, detail::ones_view(a.shape(), a.dtype()), idx, nonzero, axes_));
        array cnt = sv.read(make_scatter(stream(), Sum, detail::zeros_view(a.shape(), int32), idx, astype(zero, int32), axes_));
        array zi = detail::zeros_view({}, int32);
        array others = where(zero, where_or_zero(equal(cnt, detail::ones_view({}, int32)), pnz),
                             where_or_zero(equal(cnt, zi), divide(pnz, nonzero)));
        r.push_back(sv.mask(multiply(sv.read(multiply(g, a)), others)));
        break;
      }
      case Max:
      case Min: {
        // Every element equal to the result gets the whole cotangent (ties included, as MLX).
        const array& out = outputs[0];
        if (wrt_a) {
          r.push_back(where_or_zero(equal(a, out), g));
        } else {
          r.push_back(sv.mask(where_or_zero(equal(upd, sv.read(out)), sv.read(g))));
        }
        break;
      }
    }
  }
  return r;
}

std::vector<array> Scatter::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                const std::vector<int>& argnums) {
  const array& a = primals[0];
  const array& upd = primals.back();
  const int nu = static_cast<int>(primals.size()) - 1;
  std::vector<array> idx(primals.begin() + 1, primals.end() - 1);
  Dtype d = a.dtype();
  array ta = tangent_or_zeros(primals, tangents, argnums, 0, d);
  array tu = tangent_or_zeros(primals, tangents, argnums, nu, d);
  switch (type_) {
    case None:
    case Sum:
      // Linear in (a, updates) together.
      return {make_scatter(stream(), type_, ta, idx, tu, axes_)};
    case Prod: {
      ScatterView sv(primals, axes_);
      array q = make_scatter(stream(), Prod, detail::ones_view(a.shape(), d), idx, upd, axes_);
      array zero = equal(upd, detail::zeros_view({}, d));
      array nonzero = where(zero, detail::ones_view({}, d), upd);
      array pnz = sv.read(make_scatter(stream(), Prod, detail::ones_view(a.shape(), d), idx, nonzero, axes_));
      array cnt = sv.read(make_scatter(stream(), Sum, detail::zeros_view(a.shape(), int32), idx, astype(zero, int32), axes_));
      array others = where(zero, where_or_zero(equal(cnt, detail::ones_view({}, int32)), pnz),
                           where_or_zero(equal(cnt, detail::zeros_view({}, int32)), divide(pnz, nonzero)));
      array du = make_scatter(stream(), Sum, detail::zeros_view(a.shape(), d), idx, multiply(tu, others), axes_);
      return {add(multiply(ta, q), multiply(a, du))};
    }
    case Max:
    case Min: {
      ScatterView sv(primals, axes_);
      array out = make_scatter(stream(), type_, a, idx, upd, axes_);
      array hit = equal(upd, sv.read(out));
      array du = make_scatter(stream(), Sum, detail::zeros_view(a.shape(), d), idx, where_or_zero(hit, tu), axes_);
      return {add(where_or_zero(equal(a, out), ta), du)};
    }
  }
  throw std::logic_error("[jvp] unknown scatter reduction.");
}

std::pair<std::vector<array>, std::vector<int>> Scatter::vmap(const std::vector<array>& inputs,
                                                              const std::vector<int>& axes) {
  int b = batch_size(inputs, axes);
  const int nu = static_cast<int>(inputs.size()) - 1;
  array a = batched_front(inputs[0], axes[0], b);
  std::vector<array> idx(inputs.begin() + 1, inputs.end() - 1);
  bool idx_batched = false;
  for (int i = 1; i < nu; ++i) idx_batched = idx_batched || axes[i] >= 0;
  int elem_nd = static_cast<int>(inputs[0].ndim()) - (axes[0] >= 0 ? 1 : 0);
  int ni = static_cast<int>(inputs[nu].ndim()) - (axes[nu] >= 0 ? 1 : 0) - elem_nd;
  if (!idx_batched) {
    // The batch axis is one more (whole) window axis of the updates, after the index axes.
    array u = inputs[nu];
    if (axes[nu] >= 0) {
      u = moveaxis(u, axes[nu], ni);
    } else {
      Shape s = u.shape();
      s.insert(s.begin() + ni, b);
      u = broadcast_to(expand_dims(u, ni), s);
    }
    return {{make_scatter(stream(), type_, a, idx, u, shifted(axes_, 1))}, {0}};
  }
  // Batched indices: one more index, over the batch axis; each window gets a size-1 batch dim.
  for (size_t k = 0; k < idx.size(); ++k) idx[k] = front_or_expand(idx[k], axes[k + 1]);
  Shape bs(ni + 1, 1);
  bs[0] = b;
  idx.insert(idx.begin(), reshape(arange(0.0, static_cast<double>(b), 1.0, int32), bs));
  array u = expand_dims(batched_front(inputs[nu], axes[nu], b), 1 + ni);
  return {{make_scatter(stream(), type_, a, idx, u, prepend(shifted(axes_, 1), 0))}, {0}};
}

// ---- GatherAxis (inputs a, idx) and ScatterAxis (inputs a, idx, values) ----

std::vector<array> GatherAxis::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                   const std::vector<int>& argnums, const std::vector<array>&) {
  const array& a = primals[0];
  const array& g = cotangents[0];
  std::vector<array> r;
  for (int n : argnums) {
    if (n == 1) {
      r.push_back(detail::zeros_like_view(primals[1]));
      continue;
    }
    int64_t dim = a.shape(axis_);
    array idx = detail::clamp_gather_indices(primals[1], dim, dim - 1);
    r.push_back(scatter_add_axis(detail::zeros_view(a.shape(), g.dtype()), idx, g, axis_));
  }
  return r;
}
std::vector<array> GatherAxis::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                   const std::vector<int>& argnums) {
  const array* t = tangent_of(tangents, argnums, 0);
  if (!t) return {detail::zeros_view(primals[1].shape(), primals[0].dtype())};
  return {take_along_axis(*t, primals[1], axis_)};
}
std::pair<std::vector<array>, std::vector<int>> GatherAxis::vmap(const std::vector<array>& inputs,
                                                                 const std::vector<int>& axes) {
  // take_along_axis broadcasts a and the indices on the other axes, the new batch axis too.
  return {{take_along_axis(front_or_expand(inputs[0], axes[0]), front_or_expand(inputs[1], axes[1]), axis_ + 1)},
          {0}};
}

std::vector<array> ScatterAxis::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                    const std::vector<int>& argnums, const std::vector<array>&) {
  const array& a = primals[0];
  const array& idx = primals[1];
  const array& vals = primals[2];
  const array& g = cotangents[0];
  int64_t dim = a.shape(axis_);
  std::vector<array> r;
  for (int n : argnums) {
    if (n == 1) {
      r.push_back(detail::zeros_like_view(idx));
    } else if (n == 0) {
      r.push_back(type_ == Sum ? g : put_along_axis(g, idx, detail::zeros_view(vals.shape(), g.dtype()), axis_));
    } else {
      array clamped = detail::clamp_gather_indices(idx, dim, dim - 1);
      array read = take_along_axis(g, clamped, axis_);
      if (type_ == Sum) {
        r.push_back(where_or_zero(detail::scatter_index_valid(idx, dim, dim - 1), read));
      } else {
        // Only the value written last at a position reaches the output (see Scatter).
        array ids = element_ids(vals.shape(), vals.size());
        array owner = put_along_axis(detail::full_view(a.shape(), array(-1, ids.dtype())), idx, ids, axis_);
        r.push_back(where_or_zero(equal(take_along_axis(owner, clamped, axis_), ids), read));
      }
    }
  }
  return r;
}
std::vector<array> ScatterAxis::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                    const std::vector<int>& argnums) {
  Dtype d = primals[0].dtype();
  return {scatter_axis(type_, tangent_or_zeros(primals, tangents, argnums, 0, d), primals[1],
                       tangent_or_zeros(primals, tangents, argnums, 2, d), axis_)};
}
std::pair<std::vector<array>, std::vector<int>> ScatterAxis::vmap(const std::vector<array>& inputs,
                                                                  const std::vector<int>& axes) {
  return {{scatter_axis(type_, front_or_expand(inputs[0], axes[0]), front_or_expand(inputs[1], axes[1]),
                        front_or_expand(inputs[2], axes[2]), axis_ + 1)},
          {0}};
}

// ---- MaskedScatter (inputs a, mask, src) ----
// The k-th true position of the mask (row-major) takes src[k mod src.size].

std::vector<array> MaskedScatter::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                      const std::vector<int>& argnums, const std::vector<array>&) {
  const array& mask = primals[1];
  const array& src = primals[2];
  const array& g = cotangents[0];
  std::vector<array> r;
  for (int n : argnums) {
    if (n == 0) {
      r.push_back(where(mask, detail::zeros_view({}, g.dtype()), g));
    } else if (n == 1) {
      r.push_back(detail::zeros_like_view(mask));
    } else if (src.size() == 0 || g.size() == 0) {
      r.push_back(detail::zeros_view(src.shape(), g.dtype()));
    } else {
      // Sum the cotangent of each masked position onto the src element it took.
      int32_t s = static_cast<int32_t>(src.size());
      array m = flatten(mask);
      Dtype t = m.size() <= static_cast<size_t>(std::numeric_limits<int32_t>::max()) ? int32 : int64;
      array rank = cumsum(astype(m, t), 0, false, /*inclusive=*/false);
      array pos = where(m, remainder(rank, array(s, t)), detail::zeros_view({}, t));
      array acc = scatter_add_axis(detail::zeros_view({s}, g.dtype()), pos, where_or_zero(m, flatten(g)), 0);
      r.push_back(reshape(acc, src.shape()));
    }
  }
  return r;
}
std::vector<array> MaskedScatter::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                      const std::vector<int>& argnums) {
  Dtype d = primals[0].dtype();
  array ta = tangent_or_zeros(primals, tangents, argnums, 0, d);
  array ts = tangent_or_zeros(primals, tangents, argnums, 2, d);
  return {array(ta.shape(), d, std::make_shared<MaskedScatter>(stream()), {ta, primals[1], ts})};
}
std::pair<std::vector<array>, std::vector<int>> MaskedScatter::vmap(const std::vector<array>& inputs,
                                                                    const std::vector<int>& axes) {
  // Each batch element counts its own masked positions: rank them per row of the flattened
  // (B, N) mask and read src (per element or shared) at rank mod src size.
  int b = batch_size(inputs, axes);
  array a = batched_front(inputs[0], axes[0], b);
  const array& src = inputs[2];
  int64_t s = axes[2] >= 0 ? (b == 0 ? 0 : static_cast<int64_t>(src.size()) / b) : static_cast<int64_t>(src.size());
  if (s == 0 || a.size() == 0) return {{a}, {0}};
  Shape shape = a.shape();
  int32_t n = static_cast<int32_t>(a.size() / b);
  array m = reshape(batched_front(inputs[1], axes[1], b), {b, n});
  Dtype t = n <= std::numeric_limits<int32_t>::max() ? int32 : int64;
  array rank = cumsum(astype(m, t), 1, false, /*inclusive=*/false);
  array pos = where(m, remainder(rank, array(s, t)), detail::zeros_view({}, t));
  array vals = axes[2] >= 0 ? take_along_axis(reshape(detail::batch_to_front(src, axes[2]), {b, static_cast<int32_t>(s)}), pos, 1)
                            : take(flatten(src), pos);
  if (vals.dtype() != a.dtype()) vals = astype(vals, a.dtype());
  return {{reshape(where(m, vals, reshape(a, {b, n})), shape)}, {0}};
}

}  // namespace mica
