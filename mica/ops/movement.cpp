// Shape ops: validation and node building. Reshape, transpose, broadcast and slices are
// views; the rest are compositions of them plus concatenate / pad / slice updates.
#include "mica/ops/movement.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <numeric>

#include "mica/ops/binary.h"
#include "mica/ops/creation.h"
#include "mica/ops/unary.h"
#include "mica/ops/utils.h"
#include "mica/primitives/movement.h"

namespace mica {

namespace {

std::string ints_str(const std::vector<int>& v) {
  Shape s(v.begin(), v.end());
  return detail::shape_str(s);
}

int64_t prod(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

// The product of a requested shape's dimensions other than its -1 (whose index goes to `infer`,
// -1 when there is none); negative dimensions and a second -1 are errors. Saturates at INT64_MAX
// (more than any array holds) unless a dimension is 0.
int64_t known_size(const Shape& shape, int& infer, const char* op) {
  infer = -1;
  int64_t known = 1;
  bool zero = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) detail::fail(op, "expected at most one -1 in the shape, got " + detail::shape_str(shape) + ".");
      infer = static_cast<int>(i);
    } else if (shape[i] < 0) {
      detail::fail(op, "expected non-negative dimensions or -1, got " + detail::shape_str(shape) + ".");
    } else if (shape[i] == 0) {
      zero = true;
    } else if (__builtin_mul_overflow(known, int64_t(shape[i]), &known)) {
      known = std::numeric_limits<int64_t>::max();
    }
  }
  return zero ? 0 : known;
}

// Normalizes each axis into [0, ndim) keeping their order; repeats are an error.
std::vector<int> normalize_unique(const std::vector<int>& axes, int ndim, const char* op) {
  std::vector<int> out;
  std::vector<bool> seen(ndim, false);
  for (int a : axes) {
    int n = detail::normalize_axis(a, ndim, op);
    if (seen[n]) detail::fail(op, "expected distinct axes, got " + ints_str(axes) + ".");
    seen[n] = true;
    out.push_back(n);
  }
  return out;
}

void check_shape(const Shape& shape, const char* op) {
  for (auto d : shape) {
    if (d < 0) detail::fail(op, "expected non-negative dimensions, got " + detail::shape_str(shape) + ".");
  }
}

void check_start_indices(const array& start, size_t naxes, const char* op) {
  if (start.dtype() == bool_ || !is_integral(start.dtype())) {
    detail::fail(op, "expected integer start indices, got " + dtype_to_string(start.dtype()) + ".");
  }
  if (start.ndim() > 1) {
    detail::fail(op, "expected a 0-d or 1-d array of start indices, got " + std::to_string(start.ndim()) + " dimensions.");
  }
  if (start.size() != naxes) {
    detail::fail(op, "expected one start index per axis (" + std::to_string(naxes) + "), got " +
                         std::to_string(start.size()) + ".");
  }
}

// Python slice bounds for one axis of extent n: (start, length), start valid when length > 0.
std::pair<int, int> resolve_slice(int n, int start, int stop, int step) {
  int64_t s = start < 0 ? int64_t(start) + n : start;
  int64_t e = stop < 0 ? int64_t(stop) + n : stop;
  int64_t len;
  if (step > 0) {
    s = std::clamp<int64_t>(s, 0, n);
    e = std::clamp<int64_t>(e, 0, n);
    len = e > s ? (e - s + step - 1) / step : 0;
  } else {
    s = std::min<int64_t>(s, int64_t(n) - 1);
    e = std::max<int64_t>(e, -1);
    len = s > e ? (s - e - step - 1) / (-int64_t(step)) : 0;  // -step overflows int at INT_MIN
  }
  return {len > 0 ? static_cast<int>(s) : 0, static_cast<int>(len)};
}

struct ResolvedSlice {
  Shape start, stop, strides, shape;
  bool identity = true;
};

ResolvedSlice resolve_slices(const array& a, const Shape& start, const Shape& stop, const Shape& strides,
                             const char* op) {
  size_t nd = a.ndim();
  if (start.size() != nd || stop.size() != nd || strides.size() != nd) {
    detail::fail(op, "expected start, stop and strides with one entry per axis (" + std::to_string(nd) + "), got " +
                         std::to_string(start.size()) + ", " + std::to_string(stop.size()) + " and " +
                         std::to_string(strides.size()) + ".");
  }
  ResolvedSlice r;
  for (size_t d = 0; d < nd; ++d) {
    if (strides[d] == 0) detail::fail(op, "expected non-zero strides, got " + detail::shape_str(strides) + ".");
    auto [s, len] = resolve_slice(a.shape()[d], start[d], stop[d], strides[d]);
    r.start.push_back(s);
    // Just past the last element: inside [-1, n] whatever the step (s + len * step leaves int's
    // range for huge steps) and giving the same length when resolved again.
    r.stop.push_back(len > 0 ? static_cast<int>(s + int64_t(len - 1) * strides[d] + (strides[d] > 0 ? 1 : -1)) : s);
    r.strides.push_back(strides[d]);
    r.shape.push_back(len);
    r.identity = r.identity && s == 0 && strides[d] == 1 && len == a.shape()[d];
  }
  return r;
}

array make_slice(const array& a, const ResolvedSlice& r, StreamOrDevice s) {
  if (r.identity) return a;
  return array(r.shape, a.dtype(), std::make_shared<Slice>(to_stream(s), r.start, r.stop, r.strides), {a});
}

// True if `from` broadcasts to `to` (NumPy rules).
bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  size_t diff = to.size() - from.size();
  for (size_t d = 0; d < from.size(); ++d) {
    if (from[d] != to[d + diff] && from[d] != 1) return false;
  }
  return true;
}

}  // namespace

array reshape(const array& a, Shape shape, StreamOrDevice s) {
  int infer;
  const int64_t known = known_size(shape, infer, "reshape");
  auto size = static_cast<int64_t>(a.size());
  if (infer >= 0) {
    if (known == 0) {
      detail::fail("reshape", "expected a shape whose -1 can be inferred, got " + detail::shape_str(shape) +
                                  " for an array of size " + std::to_string(size) + ".");
    }
    if (size % known == 0) shape[infer] = detail::checked_dim(size / known, "reshape");
  }
  if (infer >= 0 ? size % known != 0 : known != size) {
    detail::fail("reshape", "expected a shape with " + std::to_string(size) + " elements, got " +
                                detail::shape_str(shape) + " for an array of shape " + detail::shape_str(a.shape()) + ".");
  }
  if (shape == a.shape()) return a;
  return array(shape, a.dtype(), std::make_shared<Reshape>(to_stream(s), shape), {a});
}

array flatten(const array& a, int start_axis, int end_axis, StreamOrDevice s) {
  int nd = static_cast<int>(a.ndim());
  if (nd == 0) return reshape(a, {1}, s);
  if (start_axis < 0) start_axis += nd;
  if (end_axis < 0) end_axis += nd;
  start_axis = std::max(start_axis, 0);
  end_axis = std::min(end_axis, nd - 1);
  if (start_axis > end_axis) {
    detail::fail("flatten", "expected start_axis <= end_axis, got " + std::to_string(start_axis) + " and " +
                                std::to_string(end_axis) + " (after normalization).");
  }
  Shape shape(a.shape().begin(), a.shape().begin() + start_axis);
  int64_t n = 1;
  for (int d = start_axis; d <= end_axis; ++d) n *= a.shape()[d];
  shape.push_back(detail::checked_dim(n, "flatten"));
  shape.insert(shape.end(), a.shape().begin() + end_axis + 1, a.shape().end());
  return reshape(a, shape, s);
}
array flatten(const array& a, StreamOrDevice s) { return flatten(a, 0, -1, s); }

array unflatten(const array& a, int axis, Shape shape, StreamOrDevice s) {
  int nd = static_cast<int>(a.ndim());
  axis = detail::normalize_axis(axis, nd, "unflatten");
  if (shape.empty()) detail::fail("unflatten", "expected a non-empty shape, got ().");
  int infer;
  const int64_t known = known_size(shape, infer, "unflatten");
  int64_t n = a.shape()[axis];
  if (infer >= 0 && known != 0 && n % known == 0) shape[infer] = static_cast<int32_t>(n / known);
  if ((infer >= 0 && (known == 0 || n % known != 0)) || (infer < 0 && known != n)) {
    detail::fail("unflatten", "expected a shape with " + std::to_string(n) + " elements for axis " +
                                  std::to_string(axis) + ", got " + detail::shape_str(shape) + ".");
  }
  Shape out(a.shape().begin(), a.shape().begin() + axis);
  out.insert(out.end(), shape.begin(), shape.end());
  out.insert(out.end(), a.shape().begin() + axis + 1, a.shape().end());
  return reshape(a, out, s);
}

array squeeze(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  auto ax = detail::normalize_axes(axes, static_cast<int>(a.ndim()), "squeeze");
  Shape shape;
  for (int d = 0; d < static_cast<int>(a.ndim()); ++d) {
    if (std::binary_search(ax.begin(), ax.end(), d)) {
      if (a.shape()[d] != 1) {
        detail::fail("squeeze", "expected axes of size 1, got axis " + std::to_string(d) + " of size " +
                                    std::to_string(a.shape()[d]) + ".");
      }
    } else {
      shape.push_back(a.shape()[d]);
    }
  }
  if (ax.empty()) return a;
  return array(std::move(shape), a.dtype(), std::make_shared<Squeeze>(to_stream(s), std::move(ax)), {a});
}
array squeeze(const array& a, int axis, StreamOrDevice s) { return squeeze(a, std::vector<int>{axis}, s); }
array squeeze(const array& a, StreamOrDevice s) {
  std::vector<int> ax;
  for (int d = 0; d < static_cast<int>(a.ndim()); ++d) {
    if (a.shape()[d] == 1) ax.push_back(d);
  }
  return squeeze(a, ax, s);
}

array expand_dims(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  int out_nd = static_cast<int>(a.ndim() + axes.size());
  auto ax = detail::normalize_axes(axes, out_nd, "expand_dims");
  Shape shape;
  size_t k = 0;
  for (int d = 0; d < out_nd; ++d) {
    if (std::binary_search(ax.begin(), ax.end(), d)) shape.push_back(1);
    else shape.push_back(a.shape()[k++]);
  }
  if (ax.empty()) return a;
  return array(std::move(shape), a.dtype(), std::make_shared<ExpandDims>(to_stream(s), std::move(ax)), {a});
}
array expand_dims(const array& a, int axis, StreamOrDevice s) { return expand_dims(a, std::vector<int>{axis}, s); }

array transpose(const array& a, std::vector<int> axes, StreamOrDevice s) {
  int nd = static_cast<int>(a.ndim());
  if (static_cast<int>(axes.size()) != nd) {
    detail::fail("transpose", "expected " + std::to_string(nd) + " axes for an array with " + std::to_string(nd) +
                                  " dimensions, got " + std::to_string(axes.size()) + ".");
  }
  axes = normalize_unique(axes, nd, "transpose");
  Shape shape(nd);
  bool identity = true;
  for (int i = 0; i < nd; ++i) {
    shape[i] = a.shape()[axes[i]];
    identity = identity && axes[i] == i;
  }
  if (identity) return a;
  return array(shape, a.dtype(), std::make_shared<Transpose>(to_stream(s), axes), {a});
}
array transpose(const array& a, StreamOrDevice s) {
  std::vector<int> axes(a.ndim());
  std::iota(axes.rbegin(), axes.rend(), 0);
  return transpose(a, axes, s);
}
array permute_dims(const array& a, std::vector<int> axes, StreamOrDevice s) { return transpose(a, std::move(axes), s); }
array matrix_transpose(const array& a, StreamOrDevice s) {
  if (a.ndim() < 2) {
    detail::fail("matrix_transpose", "expected an array with at least 2 dimensions, got " + std::to_string(a.ndim()) + ".");
  }
  return swapaxes(a, -1, -2, s);
}

array swapaxes(const array& a, int axis1, int axis2, StreamOrDevice s) {
  int nd = static_cast<int>(a.ndim());
  axis1 = detail::normalize_axis(axis1, nd, "swapaxes");
  axis2 = detail::normalize_axis(axis2, nd, "swapaxes");
  std::vector<int> axes(nd);
  std::iota(axes.begin(), axes.end(), 0);
  std::swap(axes[axis1], axes[axis2]);
  return transpose(a, axes, s);
}

array moveaxis(const array& a, int source, int destination, StreamOrDevice s) {
  int nd = static_cast<int>(a.ndim());
  source = detail::normalize_axis(source, nd, "moveaxis");
  destination = detail::normalize_axis(destination, nd, "moveaxis");
  std::vector<int> axes;
  for (int d = 0; d < nd; ++d) {
    if (d != source) axes.push_back(d);
  }
  axes.insert(axes.begin() + destination, source);
  return transpose(a, axes, s);
}

array broadcast_to(const array& a, const Shape& shape, StreamOrDevice s) {
  check_shape(shape, "broadcast_to");
  if (!broadcasts_to(a.shape(), shape)) {
    detail::fail("broadcast_to", "expected a shape the array broadcasts to, got " + detail::shape_str(shape) +
                                     " for an array of shape " + detail::shape_str(a.shape()) + ".");
  }
  if (shape == a.shape()) return a;
  return array(shape, a.dtype(), std::make_shared<Broadcast>(to_stream(s), shape), {a});
}

std::vector<array> broadcast_arrays(const std::vector<array>& inputs, StreamOrDevice s) {
  std::vector<Shape> shapes;
  for (auto& x : inputs) shapes.push_back(x.shape());
  Shape shape = broadcast_shapes(shapes);
  std::vector<array> out;
  for (auto& x : inputs) out.push_back(broadcast_to(x, shape, s));
  return out;
}

array concatenate(std::vector<array> arrays, int axis, StreamOrDevice s) {
  if (arrays.empty()) detail::fail("concatenate", "expected at least one array, got none.");
  int nd = static_cast<int>(arrays[0].ndim());
  axis = detail::normalize_axis(axis, nd, "concatenate");
  Shape shape = arrays[0].shape();
  Dtype dtype = arrays[0].dtype();
  for (size_t i = 1; i < arrays.size(); ++i) {
    const auto& x = arrays[i];
    if (static_cast<int>(x.ndim()) != nd) {
      detail::fail("concatenate", "expected arrays with the same number of dimensions, got " + std::to_string(nd) +
                                      " and " + std::to_string(x.ndim()) + ".");
    }
    for (int d = 0; d < nd; ++d) {
      if (d != axis && x.shape()[d] != shape[d]) {
        detail::fail("concatenate", "expected shapes equal except along axis " + std::to_string(axis) + ", got " +
                                        detail::shape_str(arrays[0].shape()) + " and " + detail::shape_str(x.shape()) +
                                        ".");
      }
    }
    shape[axis] = detail::checked_dim(int64_t(shape[axis]) + x.shape()[axis], "concatenate");
    dtype = promote_types(dtype, x.dtype());
  }
  for (auto& x : arrays) {
    if (x.dtype() != dtype) x = astype(x, dtype, s);
  }
  if (arrays.size() == 1) return arrays[0];
  return array(shape, dtype, std::make_shared<Concatenate>(to_stream(s), axis), std::move(arrays));
}
array concatenate(std::vector<array> arrays, StreamOrDevice s) {
  for (auto& x : arrays) x = flatten(x, s);
  return concatenate(std::move(arrays), 0, s);
}
array concat(std::vector<array> arrays, int axis, StreamOrDevice s) { return concatenate(std::move(arrays), axis, s); }

array stack(const std::vector<array>& arrays, int axis, StreamOrDevice s) {
  if (arrays.empty()) detail::fail("stack", "expected at least one array, got none.");
  for (auto& x : arrays) {
    if (x.shape() != arrays[0].shape()) {
      detail::fail("stack", "expected arrays of the same shape, got " + detail::shape_str(arrays[0].shape()) + " and " +
                                detail::shape_str(x.shape()) + ".");
    }
  }
  axis = detail::normalize_axis(axis, static_cast<int>(arrays[0].ndim()) + 1, "stack");
  std::vector<array> parts;
  for (auto& x : arrays) parts.push_back(expand_dims(x, axis, s));
  return concatenate(std::move(parts), axis, s);
}
array stack(const std::vector<array>& arrays, StreamOrDevice s) { return stack(arrays, 0, s); }

std::vector<array> split(const array& a, const Shape& indices, int axis, StreamOrDevice s) {
  axis = detail::normalize_axis(axis, static_cast<int>(a.ndim()), "split");
  int n = a.shape()[axis];
  std::vector<array> out;
  Shape start(a.ndim(), 0), stop(a.shape()), strides(a.ndim(), 1);
  for (size_t k = 0; k <= indices.size(); ++k) {
    start[axis] = k == 0 ? 0 : indices[k - 1];
    stop[axis] = k == indices.size() ? n : indices[k];
    out.push_back(make_slice(a, resolve_slices(a, start, stop, strides, "split"), s));
  }
  return out;
}
std::vector<array> split(const array& a, const Shape& indices, StreamOrDevice s) { return split(a, indices, 0, s); }
std::vector<array> split(const array& a, int num_splits, int axis, StreamOrDevice s) {
  axis = detail::normalize_axis(axis, static_cast<int>(a.ndim()), "split");
  if (num_splits <= 0) detail::fail("split", "expected a positive number of splits, got " + std::to_string(num_splits) + ".");
  int n = a.shape()[axis];
  // An empty axis splits into any number of empty pieces; past 2^16 that is a runaway count
  // (each piece is an array), not a program's intent.
  if (n == 0 && num_splits > (1 << 16))
    detail::fail("split", "expected at most 65536 splits of an empty axis, got " + std::to_string(num_splits) + ".");
  if (n % num_splits != 0) {
    detail::fail("split", "expected a number of splits dividing axis " + std::to_string(axis) + " of size " +
                              std::to_string(n) + ", got " + std::to_string(num_splits) + ".");
  }
  Shape indices;
  for (int k = 1; k < num_splits; ++k) indices.push_back(k * (n / num_splits));
  return split(a, indices, axis, s);
}
std::vector<array> split(const array& a, int num_splits, StreamOrDevice s) { return split(a, num_splits, 0, s); }

std::vector<array> unstack(const array& a, int axis, StreamOrDevice s) {
  axis = detail::normalize_axis(axis, static_cast<int>(a.ndim()), "unstack");
  std::vector<array> out;
  int n = a.shape()[axis];
  if (n == 0) return out;
  for (auto& part : split(a, n, axis, s)) out.push_back(squeeze(part, axis, s));
  return out;
}
std::vector<array> unstack(const array& a, StreamOrDevice s) { return unstack(a, 0, s); }

array repeat(const array& a, int repeats, int axis, StreamOrDevice s) {
  axis = detail::normalize_axis(axis, static_cast<int>(a.ndim()), "repeat");
  if (repeats < 0) detail::fail("repeat", "expected a non-negative number of repeats, got " + std::to_string(repeats) + ".");
  Shape out = a.shape();
  out[axis] = detail::checked_dim(int64_t(out[axis]) * repeats, "repeat");
  // (.., n, ..) -> (.., n, 1, ..) -> broadcast (.., n, r, ..) -> (.., n * r, ..)
  array x = expand_dims(a, axis + 1, s);
  Shape bshape = x.shape();
  bshape[axis + 1] = repeats;
  return reshape(broadcast_to(x, bshape, s), out, s);
}
array repeat(const array& a, int repeats, StreamOrDevice s) { return repeat(flatten(a, s), repeats, 0, s); }

array tile(const array& a, std::vector<int> reps, StreamOrDevice s) {
  for (int r : reps) {
    if (r < 0) detail::fail("tile", "expected non-negative repetitions, got " + ints_str(reps) + ".");
  }
  size_t nd = std::max(a.ndim(), reps.size());
  Shape shape(nd - a.ndim(), 1);
  shape.insert(shape.end(), a.shape().begin(), a.shape().end());
  reps.insert(reps.begin(), nd - reps.size(), 1);
  // (d0, d1, ..) -> (1, d0, 1, d1, ..) -> broadcast (r0, d0, r1, d1, ..) -> (r0 d0, r1 d1, ..)
  Shape expanded, bshape, out;
  for (size_t d = 0; d < nd; ++d) {
    expanded.insert(expanded.end(), {1, shape[d]});
    bshape.insert(bshape.end(), {reps[d], shape[d]});
    out.push_back(detail::checked_dim(int64_t(reps[d]) * shape[d], "tile"));
  }
  return reshape(broadcast_to(reshape(a, expanded, s), bshape, s), out, s);
}

array pad(const array& a, const std::vector<int>& axes, const Shape& low_pad_size, const Shape& high_pad_size,
          const array& pad_value, const std::string& mode, StreamOrDevice s) {
  if (axes.size() != low_pad_size.size() || axes.size() != high_pad_size.size()) {
    detail::fail("pad", "expected one low and one high width per axis (" + std::to_string(axes.size()) + "), got " +
                            std::to_string(low_pad_size.size()) + " and " + std::to_string(high_pad_size.size()) + ".");
  }
  Pad::Mode m;
  if (mode == "constant") m = Pad::Constant;
  else if (mode == "edge") m = Pad::Edge;
  else if (mode == "reflect") m = Pad::Reflect;
  else if (mode == "symmetric") m = Pad::Symmetric;
  else detail::fail("pad", "expected mode constant, edge, reflect or symmetric, got '" + mode + "'.");
  auto ax = normalize_unique(axes, static_cast<int>(a.ndim()), "pad");
  Shape shape = a.shape();
  for (size_t k = 0; k < ax.size(); ++k) {
    if (low_pad_size[k] < 0 || high_pad_size[k] < 0) {
      detail::fail("pad", "expected non-negative widths, got (" + std::to_string(low_pad_size[k]) + ", " +
                              std::to_string(high_pad_size[k]) + ") for axis " + std::to_string(ax[k]) + ".");
    }
    bool widened = low_pad_size[k] > 0 || high_pad_size[k] > 0;
    if (widened && shape[ax[k]] == 0 && (m == Pad::Reflect || m == Pad::Symmetric)) {
      detail::fail("pad", "expected a non-empty axis for mode '" + mode + "', got empty axis " + std::to_string(ax[k]) + ".");
    }
    shape[ax[k]] = detail::checked_dim(int64_t(shape[ax[k]]) + low_pad_size[k] + high_pad_size[k], "pad");
  }
  if (pad_value.size() == 0) detail::fail("pad", "expected a pad value, got an empty array.");
  // The pad value is a scalar of a's dtype (the first element when more are given).
  array v = pad_value.ndim() == 0 ? pad_value : reshape(slice(flatten(pad_value, s), {0}, {1}, s), {}, s);
  if (v.dtype() != a.dtype()) v = astype(v, a.dtype(), s);
  return array(shape, a.dtype(), std::make_shared<Pad>(to_stream(s), ax, low_pad_size, high_pad_size, m), {a, v});
}
array pad(const array& a, const std::vector<std::pair<int, int>>& pad_width, const array& pad_value,
          const std::string& mode, StreamOrDevice s) {
  size_t nd = a.ndim();
  if (pad_width.size() != 1 && pad_width.size() != nd) {
    detail::fail("pad", "expected 1 or " + std::to_string(nd) + " (low, high) widths, got " +
                            std::to_string(pad_width.size()) + ".");
  }
  std::vector<int> axes(nd);
  std::iota(axes.begin(), axes.end(), 0);
  Shape low, high;
  for (size_t d = 0; d < nd; ++d) {
    const auto& w = pad_width.size() == 1 ? pad_width[0] : pad_width[d];
    low.push_back(w.first);
    high.push_back(w.second);
  }
  return pad(a, axes, low, high, pad_value, mode, s);
}
array pad(const array& a, const std::pair<int, int>& pad_width, const array& pad_value, const std::string& mode,
          StreamOrDevice s) {
  return pad(a, std::vector<std::pair<int, int>>{pad_width}, pad_value, mode, s);
}
array pad(const array& a, int pad_width, const array& pad_value, const std::string& mode, StreamOrDevice s) {
  return pad(a, std::vector<std::pair<int, int>>{{pad_width, pad_width}}, pad_value, mode, s);
}

array roll(const array& a, const Shape& shift, const std::vector<int>& axes, StreamOrDevice s) {
  if (shift.size() < axes.size()) {
    detail::fail("roll", "expected at least one shift per axis (" + std::to_string(axes.size()) + "), got " +
                             std::to_string(shift.size()) + ".");
  }
  array x = a;
  for (size_t k = 0; k < axes.size(); ++k) {
    int ax = detail::normalize_axis(axes[k], static_cast<int>(a.ndim()), "roll");
    int n = a.shape()[ax];
    if (n == 0) continue;
    int r = ((shift[k] % n) + n) % n;
    if (r == 0) continue;
    // The last r elements move to the front.
    Shape start(a.ndim(), 0), stop(a.shape());
    stop[ax] = n - r;
    array head = slice(x, start, stop, s);
    start[ax] = n - r;
    stop[ax] = n;
    array tail = slice(x, start, stop, s);
    x = concatenate({tail, head}, ax, s);
  }
  return x;
}
array roll(const array& a, int shift, StreamOrDevice s) {
  if (a.ndim() == 0) return a;
  return reshape(roll(flatten(a, s), Shape{shift}, std::vector<int>{0}, s), a.shape(), s);
}
array roll(const array& a, const Shape& shift, StreamOrDevice s) {
  return roll(a, static_cast<int>(std::accumulate(shift.begin(), shift.end(), int64_t(0))), s);
}
array roll(const array& a, int shift, int axis, StreamOrDevice s) {
  return roll(a, Shape{shift}, std::vector<int>{axis}, s);
}
array roll(const array& a, int shift, const std::vector<int>& axes, StreamOrDevice s) {
  return roll(a, Shape(axes.size(), shift), axes, s);
}
array roll(const array& a, const Shape& shift, int axis, StreamOrDevice s) {
  int total = static_cast<int>(std::accumulate(shift.begin(), shift.end(), int64_t(0)));
  return roll(a, Shape{total}, std::vector<int>{axis}, s);
}

array flip(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  size_t nd = a.ndim();
  Shape start(nd, 0), stop(a.shape()), strides(nd, 1);
  for (int ax : axes) {
    int d = detail::normalize_axis(ax, static_cast<int>(nd), "flip");
    start[d] = a.shape()[d] - 1;
    stop[d] = -a.shape()[d] - 1;
    strides[d] = -1;
  }
  return slice(a, start, stop, strides, s);
}
array flip(const array& a, int axis, StreamOrDevice s) { return flip(a, std::vector<int>{axis}, s); }
array flip(const array& a, StreamOrDevice s) {
  std::vector<int> axes(a.ndim());
  std::iota(axes.begin(), axes.end(), 0);
  return flip(a, axes, s);
}

array diagonal(const array& a, int offset, int axis1, int axis2, StreamOrDevice s) {
  int nd = static_cast<int>(a.ndim());
  if (nd < 2) detail::fail("diagonal", "expected an array with at least 2 dimensions, got " + std::to_string(nd) + ".");
  int a1 = detail::normalize_axis(axis1, nd, "diagonal");
  int a2 = detail::normalize_axis(axis2, nd, "diagonal");
  if (a1 == a2) detail::fail("diagonal", "expected two different axes, got " + std::to_string(axis1) + " and " + std::to_string(axis2) + ".");
  // Move the two axes last: (..., n, m); cut to the diagonal's start; read every (m+1)-th
  // element of the flattened (..., L, m) block.
  std::vector<int> perm;
  for (int d = 0; d < nd; ++d) {
    if (d != a1 && d != a2) perm.push_back(d);
  }
  perm.push_back(a1);
  perm.push_back(a2);
  array x = transpose(a, perm, s);
  Shape batch(x.shape().begin(), x.shape().end() - 2);
  int64_t n = x.shape(-2), m = x.shape(-1);
  int64_t r0 = offset < 0 ? std::min<int64_t>(-int64_t(offset), n) : 0;
  int64_t c0 = offset > 0 ? std::min<int64_t>(offset, m) : 0;
  int64_t len = std::max<int64_t>(0, std::min(n - r0, m - c0));
  int64_t mc = m - c0;
  Shape start(nd, 0), stop(x.shape());
  start[nd - 2] = static_cast<int32_t>(r0);
  stop[nd - 2] = static_cast<int32_t>(r0 + len);
  start[nd - 1] = static_cast<int32_t>(c0);
  x = slice(x, start, stop, s);  // (..., len, mc)
  Shape flat = batch;
  flat.push_back(static_cast<int32_t>(len * mc));
  x = reshape(x, flat, s);
  Shape fs(nd - 1, 0), fe(flat), fst(nd - 1, 1);
  fst[nd - 2] = static_cast<int32_t>(mc + 1);
  // A strided view would do; MLX returns the diagonal written out row-major, and programs that
  // read data<T>() expect that.
  return contiguous(slice(x, fs, fe, fst, s), false, s);
}

array diag(const array& a, int k, StreamOrDevice s) {
  if (a.ndim() == 2) return diagonal(a, k, 0, 1, s);
  if (a.ndim() != 1) {
    detail::fail("diag", "expected a 1-d or 2-d array, got " + std::to_string(a.ndim()) + " dimensions.");
  }
  int m = a.shape()[0];
  detail::checked_dim(int64_t(m) + std::abs(int64_t(k)), "diag");
  int ak = k < 0 ? -k : k;
  if (m == 0) return zeros({ak, ak}, a.dtype(), s);
  // v[i] where i == j, else 0 (no intermediate longer than the (m, m) result: m*m may pass 2^31).
  array d = where(eye(m, m, 0, bool_, s), reshape(a, {m, 1}, s), array(0, a.dtype()), s);
  if (k == 0) return d;
  Shape low = k > 0 ? Shape{0, k} : Shape{ak, 0};
  Shape high = k > 0 ? Shape{k, 0} : Shape{0, ak};
  return pad(d, {0, 1}, low, high, array(0, a.dtype()), "constant", s);
}

array as_strided(array a, Shape shape, Strides strides, size_t offset, StreamOrDevice s) {
  if (shape.size() != strides.size()) {
    detail::fail("as_strided", "expected one stride per dimension (" + std::to_string(shape.size()) + "), got " +
                                   std::to_string(strides.size()) + ".");
  }
  check_shape(shape, "as_strided");
  // The view must stay inside the array's elements (row-major order).
  if (prod(shape) > 0) {
    int64_t lo = static_cast<int64_t>(offset), hi = static_cast<int64_t>(offset);
    for (size_t d = 0; d < shape.size(); ++d) {
      int64_t ext = int64_t(shape[d] - 1) * strides[d];
      (ext < 0 ? lo : hi) += ext;
    }
    if (lo < 0 || hi >= static_cast<int64_t>(a.size())) {
      detail::fail("as_strided", "expected a view inside the array's " + std::to_string(a.size()) +
                                     " elements, got one spanning elements " + std::to_string(lo) + " to " +
                                     std::to_string(hi) + ".");
    }
  }
  auto p = std::make_shared<AsStrided>(to_stream(s), shape, strides, offset);
  Dtype dtype = a.dtype();
  return array(std::move(shape), dtype, std::move(p), {std::move(a)});
}

array view(const array& a, const Dtype& dtype, StreamOrDevice s) {
  if (dtype == a.dtype()) return a;
  size_t ib = a.itemsize(), ob = size_of(dtype);
  Shape shape = a.shape();
  if (ib != ob) {
    if (a.ndim() == 0) {
      detail::fail("view", "expected a dtype of the same size for a 0-d array, got " + dtype_to_string(dtype) +
                               " for " + dtype_to_string(a.dtype()) + ".");
    }
    int64_t bytes = int64_t(shape.back()) * ib;
    if (bytes % ob != 0) {
      detail::fail("view", "expected the last axis to hold a whole number of " + dtype_to_string(dtype) +
                               " elements, got " + std::to_string(bytes) + " bytes.");
    }
    shape.back() = detail::checked_dim(bytes / static_cast<int64_t>(ob), "view");
  }
  if (dtype == bool_) {
    // A bool holds 0 or 1: bytes are read as uint8 and each nonzero byte is true (reading other
    // bytes as bool would be undefined, and MLX's ops then disagree about them).
    array bytes = ib == 1 ? array(shape, uint8, std::make_shared<View>(to_stream(s), uint8), {a}) : view(a, uint8, s);
    return not_equal(bytes, array(0, uint8), s);
  }
  return array(shape, dtype, std::make_shared<View>(to_stream(s), dtype), {a});
}

array copy(array a, StreamOrDevice s) {
  auto shape = a.shape();
  auto dtype = a.dtype();
  return array(std::move(shape), dtype, std::make_shared<Copy>(to_stream(s)), {std::move(a)});
}

array contiguous(const array& a, bool allow_col_major, StreamOrDevice s) {
  if (a.is_available() && (a.flags().row_contiguous || (allow_col_major && a.flags().col_contiguous))) return a;
  return array(a.shape(), a.dtype(), std::make_shared<Copy>(to_stream(s), Copy::if_needed, allow_col_major), {a});
}

array atleast_1d(const array& a, StreamOrDevice s) { return a.ndim() == 0 ? reshape(a, {1}, s) : a; }
array atleast_2d(const array& a, StreamOrDevice s) {
  if (a.ndim() == 0) return reshape(a, {1, 1}, s);
  if (a.ndim() == 1) return expand_dims(a, 0, s);
  return a;
}
array atleast_3d(const array& a, StreamOrDevice s) {
  if (a.ndim() == 0) return reshape(a, {1, 1, 1}, s);
  if (a.ndim() == 1) return expand_dims(a, {0, 2}, s);
  if (a.ndim() == 2) return expand_dims(a, 2, s);
  return a;
}
std::vector<array> atleast_1d(const std::vector<array>& a, StreamOrDevice s) {
  std::vector<array> out;
  for (auto& x : a) out.push_back(atleast_1d(x, s));
  return out;
}
std::vector<array> atleast_2d(const std::vector<array>& a, StreamOrDevice s) {
  std::vector<array> out;
  for (auto& x : a) out.push_back(atleast_2d(x, s));
  return out;
}
std::vector<array> atleast_3d(const std::vector<array>& a, StreamOrDevice s) {
  std::vector<array> out;
  for (auto& x : a) out.push_back(atleast_3d(x, s));
  return out;
}

array slice(const array& a, Shape start, Shape stop, Shape strides, StreamOrDevice s) {
  return make_slice(a, resolve_slices(a, start, stop, strides, "slice"), s);
}
array slice(const array& a, Shape start, Shape stop, StreamOrDevice s) {
  Shape strides(a.ndim(), 1);
  return slice(a, std::move(start), std::move(stop), std::move(strides), s);
}

array slice(const array& a, const array& start, std::vector<int> axes, Shape slice_size, StreamOrDevice s) {
  check_start_indices(start, axes.size(), "slice");
  axes = normalize_unique(axes, static_cast<int>(a.ndim()), "slice");
  if (slice_size.size() != a.ndim()) {
    detail::fail("slice", "expected a slice size per axis (" + std::to_string(a.ndim()) + "), got " +
                              detail::shape_str(slice_size) + ".");
  }
  for (size_t d = 0; d < a.ndim(); ++d) {
    if (slice_size[d] < 0 || slice_size[d] > a.shape()[d]) {
      detail::fail("slice", "expected a slice size within the array's shape " + detail::shape_str(a.shape()) +
                                ", got " + detail::shape_str(slice_size) + ".");
    }
  }
  auto p = std::make_shared<DynamicSlice>(to_stream(s), axes, slice_size);
  return array(std::move(slice_size), a.dtype(), std::move(p), {a, start});
}

array slice_update(const array& src, const array& update, Shape start, Shape stop, Shape strides, StreamOrDevice s) {
  auto r = resolve_slices(src, start, stop, strides, "slice_update");
  if (!broadcasts_to(update.shape(), r.shape)) {
    detail::fail("slice_update", "expected an update that broadcasts to the slice's shape " + detail::shape_str(r.shape) +
                                     ", got " + detail::shape_str(update.shape()) + ".");
  }
  array upd = broadcast_to(update.dtype() == src.dtype() ? update : astype(update, src.dtype(), s), r.shape, s);
  if (prod(r.shape) == 0) return src;
  if (r.identity) return upd;
  return array(src.shape(), src.dtype(), std::make_shared<SliceUpdate>(to_stream(s), r.start, r.stop, r.strides),
               {src, upd});
}
array slice_update(const array& src, const array& update, Shape start, Shape stop, StreamOrDevice s) {
  Shape strides(src.ndim(), 1);
  return slice_update(src, update, std::move(start), std::move(stop), std::move(strides), s);
}

namespace {
// slice_update_<op>: the slice read, combined with the update in src's dtype, written back.
template <class F>
array slice_update_with(const char* op, const array& src, const array& update, Shape start, Shape stop, Shape strides,
                        F combine, StreamOrDevice s) {
  auto r = resolve_slices(src, start, stop, strides, op);
  if (!broadcasts_to(update.shape(), r.shape)) {
    detail::fail(op, "expected an update that broadcasts to the slice's shape " + detail::shape_str(r.shape) + ", got " +
                         detail::shape_str(update.shape()) + ".");
  }
  if (prod(r.shape) == 0) return src;
  array cur = slice(src, start, stop, strides, s);
  array upd = update.dtype() == src.dtype() ? update : astype(update, src.dtype(), s);
  return slice_update(src, astype(combine(cur, upd), src.dtype(), s), std::move(start), std::move(stop),
                      std::move(strides), s);
}
}  // namespace

#define MICA_SLICE_UPDATE_OP(NAME, FN)                                                                           \
  array slice_update_##NAME(const array& src, const array& update, Shape start, Shape stop, Shape strides,       \
                            StreamOrDevice s) {                                                                  \
    return slice_update_with(                                                                                    \
        "slice_update_" #NAME, src, update, std::move(start), std::move(stop), std::move(strides),               \
        [s](const array& a, const array& b) { return FN(a, b, s); }, s);                                         \
  }                                                                                                              \
  array slice_update_##NAME(const array& src, const array& update, Shape start, Shape stop, StreamOrDevice s) { \
    Shape strides(src.ndim(), 1);                                                                                \
    return slice_update_##NAME(src, update, std::move(start), std::move(stop), std::move(strides), s);           \
  }
MICA_SLICE_UPDATE_OP(add, add)
MICA_SLICE_UPDATE_OP(prod, multiply)
MICA_SLICE_UPDATE_OP(max, maximum)
MICA_SLICE_UPDATE_OP(min, minimum)
#undef MICA_SLICE_UPDATE_OP

array slice_update(const array& src, const array& update, const array& start, std::vector<int> axes,
                   StreamOrDevice s) {
  check_start_indices(start, axes.size(), "slice_update");
  int nd = static_cast<int>(src.ndim());
  axes = normalize_unique(axes, nd, "slice_update");
  if (update.ndim() > src.ndim()) {
    detail::fail("slice_update", "expected an update with at most " + std::to_string(nd) + " dimensions, got " +
                                     detail::shape_str(update.shape()) + ".");
  }
  // Listed axes keep the update's extent; the others span the whole source axis.
  Shape target(nd - update.ndim(), 1);
  target.insert(target.end(), update.shape().begin(), update.shape().end());
  Shape padded = target;
  for (int d = 0; d < nd; ++d) {
    bool listed = std::find(axes.begin(), axes.end(), d) != axes.end();
    if (!listed) target[d] = src.shape()[d];
    bool ok = listed ? target[d] <= src.shape()[d] : (padded[d] == 1 || padded[d] == src.shape()[d]);
    if (!ok) {
      detail::fail("slice_update", "expected an update fitting in the source of shape " + detail::shape_str(src.shape()) +
                                       ", got " + detail::shape_str(update.shape()) + ".");
    }
  }
  array upd = reshape(update.dtype() == src.dtype() ? update : astype(update, src.dtype(), s), padded, s);
  upd = broadcast_to(upd, target, s);
  if (prod(target) == 0) return src;
  return array(src.shape(), src.dtype(), std::make_shared<DynamicSliceUpdate>(to_stream(s), axes), {src, upd, start});
}

}  // namespace mica
