#include "mica/ops/indexing.h"

#include <numeric>
#include <string>

#include "mica/ops/creation.h"
#include "mica/ops/movement.h"
#include "mica/ops/unary.h"
#include "mica/ops/utils.h"
#include "mica/primitives/indexing.h"

namespace mica {

namespace {
using detail::fail;
using detail::shape_str;

int64_t shape_size(const Shape& s) {
  return std::accumulate(s.begin(), s.end(), int64_t{1}, std::multiplies<int64_t>());
}

bool is_index_type(Dtype d) {
  auto k = kind(d);
  return k == Dtype::Kind::i || k == Dtype::Kind::u;
}

void check_indices(const char* op, const array& idx) {
  if (!is_index_type(idx.dtype())) {
    fail(op, "expected integer indices, got " + dtype_to_string(idx.dtype()) + ".");
  }
}

array broadcast_if_needed(const array& a, const Shape& shape, StreamOrDevice s) {
  return a.shape() == shape ? a : broadcast_to(a, shape, s);
}

array cast_if_needed(const array& a, Dtype d, StreamOrDevice s) { return a.dtype() == d ? a : astype(a, d, s); }

// Broadcast shape of index arrays, with the error reported under `op`.
Shape index_shape(const char* op, const std::vector<array>& indices) {
  Shape out;
  for (size_t i = 0; i < indices.size(); ++i) {
    const Shape& s = indices[i].shape();
    try {
      out = i == 0 ? s : broadcast_shapes(out, s);
    } catch (const std::invalid_argument&) {
      fail(op, "expected index arrays that broadcast together, got shapes " + shape_str(out) + " and " +
                   shape_str(s) + ".");
    }
  }
  return out;
}

// Checks pairs of indices/axes and returns the axes normalized (order kept).
std::vector<int> check_axes(const char* op, const array& a, const std::vector<array>& indices,
                            const std::vector<int>& axes) {
  int nd = static_cast<int>(a.ndim());
  if (indices.size() != axes.size()) {
    fail(op, "expected one index array per axis, got " + std::to_string(indices.size()) + " index arrays and " +
                 std::to_string(axes.size()) + " axes.");
  }
  std::vector<int> out;
  for (int ax : axes) out.push_back(detail::normalize_axis(ax, nd, op));
  std::vector<int> sorted = out;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
    fail(op, "expected distinct axes, got a repeated axis.");
  }
  for (auto& idx : indices) check_indices(op, idx);
  return out;
}

// Per-dim broadcast of two sizes for the *_along_axis ops.
int32_t broadcast_dim(const char* op, int32_t x, int32_t y, const Shape& sx, const Shape& sy, int axis) {
  if (x == y || y == 1) return x;
  if (x == 1) return y;
  std::string where = axis < 0 ? "" : " on every axis but " + std::to_string(axis);
  fail(op, "expected shapes that broadcast" + where + ", got " + shape_str(sx) + " and " + shape_str(sy) + ".");
}

array scatter_impl(const char* op, const array& a, const std::vector<array>& indices, const array& updates,
                   const std::vector<int>& axes_in, Scatter::ReduceType type, StreamOrDevice s) {
  auto axes = check_axes(op, a, indices, axes_in);
  Shape idx_shape = index_shape(op, indices);
  size_t ni = idx_shape.size();
  if (updates.ndim() != a.ndim() + ni) {
    fail(op, "expected updates with " + std::to_string(a.ndim() + ni) + " dims (indices " + shape_str(idx_shape) +
                 " + array " + shape_str(a.shape()) + "), got shape " + shape_str(updates.shape()) + ".");
  }
  for (size_t i = 0; i < ni; ++i) {
    if (updates.shape(static_cast<int>(i)) != idx_shape[i]) {
      fail(op, "expected updates starting with the index shape " + shape_str(idx_shape) + ", got shape " +
                   shape_str(updates.shape()) + ".");
    }
  }
  for (size_t d = 0; d < a.ndim(); ++d) {
    int32_t u = updates.shape(static_cast<int>(ni + d));
    if (u > a.shape(static_cast<int>(d))) {
      fail(op, "expected an update window no larger than the array " + shape_str(a.shape()) + ", got updates " +
                   shape_str(updates.shape()) + ".");
    }
  }
  std::vector<array> inputs{a};
  for (auto& idx : indices) inputs.push_back(broadcast_if_needed(idx, idx_shape, s));
  inputs.push_back(cast_if_needed(updates, a.dtype(), s));
  return array(a.shape(), a.dtype(), std::make_shared<Scatter>(to_stream(s), type, std::move(axes)),
               std::move(inputs));
}

array scatter_axis_impl(const char* op, const array& a, const array& indices, const array& values, int axis_in,
                        ScatterAxis::ReduceType type, StreamOrDevice s) {
  int nd = static_cast<int>(a.ndim());
  int axis = detail::normalize_axis(axis_in, nd, op);
  check_indices(op, indices);
  if (static_cast<int>(indices.ndim()) != nd) {
    fail(op, "expected indices with the array's " + std::to_string(nd) + " dims, got shape " +
                 shape_str(indices.shape()) + ".");
  }
  if (static_cast<int>(values.ndim()) > nd) {
    fail(op, "expected values with at most " + std::to_string(nd) + " dims, got shape " +
                 shape_str(values.shape()) + ".");
  }
  Shape vals(nd - values.ndim(), 1);
  vals.insert(vals.end(), values.shape().begin(), values.shape().end());
  Shape out_shape(nd), upd_shape(nd);
  for (int d = 0; d < nd; ++d) {
    int32_t iv = broadcast_dim(op, indices.shape(d), vals[d], indices.shape(), values.shape(), -1);
    if (d == axis) {
      out_shape[d] = a.shape(d);
      upd_shape[d] = iv;
    } else {
      out_shape[d] = upd_shape[d] = broadcast_dim(op, a.shape(d), iv, a.shape(), indices.shape(), axis);
    }
  }
  if (a.shape(axis) == 0 && shape_size(upd_shape) != 0) {
    fail(op, "expected a non-empty axis to write into, got axis " + std::to_string(axis) + " of shape " +
                 shape_str(a.shape()) + ".");
  }
  std::vector<array> inputs{broadcast_if_needed(a, out_shape, s), broadcast_if_needed(indices, upd_shape, s),
                            broadcast_if_needed(cast_if_needed(values, a.dtype(), s), upd_shape, s)};
  return array(out_shape, a.dtype(), std::make_shared<ScatterAxis>(to_stream(s), type, axis), std::move(inputs));
}
}  // namespace

array gather(const array& a, const std::vector<array>& indices, const std::vector<int>& axes_in,
             const Shape& slice_sizes, StreamOrDevice s) {
  const char* op = "gather";
  auto axes = check_axes(op, a, indices, axes_in);
  if (slice_sizes.size() != a.ndim()) {
    fail(op, "expected one slice size per dim of the array " + shape_str(a.shape()) + ", got " +
                 shape_str(slice_sizes) + ".");
  }
  for (size_t d = 0; d < a.ndim(); ++d) {
    if (slice_sizes[d] < 0 || slice_sizes[d] > a.shape(static_cast<int>(d))) {
      fail(op, "expected slice sizes in [0, dim] for the array " + shape_str(a.shape()) + ", got " +
                   shape_str(slice_sizes) + ".");
    }
  }
  Shape out_shape = index_shape(op, indices);
  std::vector<array> inputs{a};
  for (auto& idx : indices) inputs.push_back(broadcast_if_needed(idx, out_shape, s));
  out_shape.insert(out_shape.end(), slice_sizes.begin(), slice_sizes.end());
  return array(std::move(out_shape), a.dtype(), std::make_shared<Gather>(to_stream(s), std::move(axes), slice_sizes),
               std::move(inputs));
}

array gather(const array& a, const array& indices, int axis, const Shape& slice_sizes, StreamOrDevice s) {
  return gather(a, std::vector<array>{indices}, std::vector<int>{axis}, slice_sizes, s);
}

array take(const array& a, const array& indices, int axis_in, StreamOrDevice s) {
  int nd = static_cast<int>(a.ndim());
  int axis = detail::normalize_axis(axis_in, nd, "take");
  check_indices("take", indices);
  if (a.shape(axis) == 0 && indices.size() != 0) {
    fail("take", "expected a non-empty axis to take from, got axis " + std::to_string(axis) + " of shape " +
                     shape_str(a.shape()) + ".");
  }
  // Result: a.shape[:axis] + indices.shape + a.shape[axis+1:].
  Shape out_shape(a.shape().begin(), a.shape().begin() + axis);
  out_shape.insert(out_shape.end(), indices.shape().begin(), indices.shape().end());
  out_shape.insert(out_shape.end(), a.shape().begin() + axis + 1, a.shape().end());
  if (shape_size(out_shape) == 0) return zeros(out_shape, a.dtype(), s);

  Shape slice_sizes = a.shape();
  slice_sizes[axis] = 1;
  int ni = static_cast<int>(indices.ndim());
  // gather gives indices.shape + slice_sizes; drop the size-1 axis, then move the index dims
  // to where the axis was.
  array g = squeeze(gather(a, indices, axis, slice_sizes, s), ni + axis, s);
  if (axis == 0 || ni == 0) return g;
  std::vector<int> perm;
  for (int d = 0; d < axis; ++d) perm.push_back(ni + d);
  for (int d = 0; d < ni; ++d) perm.push_back(d);
  for (int d = ni + axis; d < ni + nd - 1; ++d) perm.push_back(d);
  return transpose(g, perm, s);
}

array take(const array& a, int index, int axis, StreamOrDevice s) {
  int axis_n = detail::normalize_axis(axis, static_cast<int>(a.ndim()), "take");
  if (a.shape(axis_n) == 0) {
    fail("take", "expected a non-empty axis to take from, got axis " + std::to_string(axis_n) + " of shape " +
                     shape_str(a.shape()) + ".");
  }
  return take(a, array(index), axis_n, s);
}

array take(const array& a, const array& indices, StreamOrDevice s) {
  return take(reshape(a, {static_cast<int32_t>(a.size())}, s), indices, 0, s);
}

array take(const array& a, int index, StreamOrDevice s) {
  return take(reshape(a, {static_cast<int32_t>(a.size())}, s), index, 0, s);
}

array take_along_axis(const array& a, const array& indices, int axis_in, StreamOrDevice s) {
  const char* op = "take_along_axis";
  int nd = static_cast<int>(a.ndim());
  int axis = detail::normalize_axis(axis_in, nd, op);
  check_indices(op, indices);
  if (static_cast<int>(indices.ndim()) != nd) {
    fail(op, "expected indices with the array's " + std::to_string(nd) + " dims, got shape " +
                 shape_str(indices.shape()) + ".");
  }
  Shape a_shape(nd), idx_shape(nd);
  for (int d = 0; d < nd; ++d) {
    if (d == axis) {
      a_shape[d] = a.shape(d);
      idx_shape[d] = indices.shape(d);
    } else {
      a_shape[d] = idx_shape[d] = broadcast_dim(op, a.shape(d), indices.shape(d), a.shape(), indices.shape(), axis);
    }
  }
  if (a.shape(axis) == 0 && shape_size(idx_shape) != 0) {
    fail(op, "expected a non-empty axis to take from, got axis " + std::to_string(axis) + " of shape " +
                 shape_str(a.shape()) + ".");
  }
  return array(idx_shape, a.dtype(), std::make_shared<GatherAxis>(to_stream(s), axis),
               {broadcast_if_needed(a, a_shape, s), broadcast_if_needed(indices, idx_shape, s)});
}

array put_along_axis(const array& a, const array& indices, const array& values, int axis, StreamOrDevice s) {
  return scatter_axis_impl("put_along_axis", a, indices, values, axis, ScatterAxis::None, s);
}

array scatter_add_axis(const array& a, const array& indices, const array& values, int axis, StreamOrDevice s) {
  return scatter_axis_impl("scatter_add_axis", a, indices, values, axis, ScatterAxis::Sum, s);
}

#define MICA_SCATTER_OPS(NAME, TYPE)                                                                            \
  array NAME(const array& a, const std::vector<array>& indices, const array& updates,                          \
             const std::vector<int>& axes, StreamOrDevice s) {                                                 \
    return scatter_impl(#NAME, a, indices, updates, axes, Scatter::TYPE, s);                                   \
  }                                                                                                            \
  array NAME(const array& a, const array& indices, const array& updates, int axis, StreamOrDevice s) {          \
    return scatter_impl(#NAME, a, std::vector<array>{indices}, updates, std::vector<int>{axis}, Scatter::TYPE, \
                        s);                                                                                    \
  }
MICA_SCATTER_OPS(scatter, None)
MICA_SCATTER_OPS(scatter_add, Sum)
MICA_SCATTER_OPS(scatter_prod, Prod)
MICA_SCATTER_OPS(scatter_max, Max)
MICA_SCATTER_OPS(scatter_min, Min)
#undef MICA_SCATTER_OPS

array masked_scatter(const array& a, const array& mask, const array& src, StreamOrDevice s) {
  const char* op = "masked_scatter";
  if (mask.dtype() != bool_) fail(op, "expected a bool mask, got " + dtype_to_string(mask.dtype()) + ".");
  bool ok = mask.ndim() <= a.ndim();
  for (size_t i = 0; ok && i < mask.ndim(); ++i) {
    int32_t m = mask.shape()[mask.ndim() - 1 - i];
    ok = m == 1 || m == a.shape()[a.ndim() - 1 - i];
  }
  if (!ok) {
    fail(op, "expected a mask broadcastable to the array's shape " + shape_str(a.shape()) + ", got " +
                 shape_str(mask.shape()) + ".");
  }
  return array(a.shape(), a.dtype(), std::make_shared<MaskedScatter>(to_stream(s)),
               {a, broadcast_if_needed(mask, a.shape(), s), cast_if_needed(src, a.dtype(), s)});
}

}  // namespace mica
