#include "mica/ops/sort.h"

#include <string>

#include "mica/ops/binary.h"
#include "mica/ops/movement.h"
#include "mica/ops/reduce.h"
#include "mica/ops/unary.h"
#include "mica/ops/utils.h"
#include "mica/primitives/sort.h"

namespace mica {

namespace {
using detail::fail;

array flat(const array& a, StreamOrDevice s) { return reshape(a, {static_cast<int32_t>(a.size())}, s); }

template <typename P>
array sort_node(const char* op, const array& a, int axis_in, Dtype out, StreamOrDevice s) {
  int axis = detail::normalize_axis(axis_in, static_cast<int>(a.ndim()), op);
  return array(a.shape(), out, std::make_shared<P>(to_stream(s), axis), {a});
}

template <typename P>
array partition_node(const char* op, const array& a, int kth, int axis_in, Dtype out, StreamOrDevice s) {
  int axis = detail::normalize_axis(axis_in, static_cast<int>(a.ndim()), op);
  int n = a.shape(axis);
  if (kth < -n || kth >= n) {
    fail(op, "expected kth in [" + std::to_string(-n) + ", " + std::to_string(n) + ") along axis " +
                 std::to_string(axis) + " of shape " + detail::shape_str(a.shape()) + ", got " + std::to_string(kth) +
                 ".");
  }
  if (kth < 0) kth += n;
  return array(a.shape(), out, std::make_shared<P>(to_stream(s), axis, kth), {a});
}
}  // namespace

array sort(const array& a, int axis, StreamOrDevice s) { return sort_node<Sort>("sort", a, axis, a.dtype(), s); }
array sort(const array& a, StreamOrDevice s) { return sort(flat(a, s), 0, s); }
array argsort(const array& a, int axis, StreamOrDevice s) { return sort_node<ArgSort>("argsort", a, axis, uint32, s); }
array argsort(const array& a, StreamOrDevice s) { return argsort(flat(a, s), 0, s); }

array partition(const array& a, int kth, int axis, StreamOrDevice s) {
  return partition_node<Partition>("partition", a, kth, axis, a.dtype(), s);
}
array partition(const array& a, int kth, StreamOrDevice s) { return partition(flat(a, s), kth, 0, s); }
array argpartition(const array& a, int kth, int axis, StreamOrDevice s) {
  return partition_node<ArgPartition>("argpartition", a, kth, axis, uint32, s);
}
array argpartition(const array& a, int kth, StreamOrDevice s) { return argpartition(flat(a, s), kth, 0, s); }

array topk(const array& a, int k, int axis_in, StreamOrDevice s) {
  int axis = detail::normalize_axis(axis_in, static_cast<int>(a.ndim()), "topk");
  int n = a.shape(axis);
  if (k < 0 || k > n) {
    fail("topk", "expected k in [0, " + std::to_string(n) + "] along axis " + std::to_string(axis) + " of shape " +
                     detail::shape_str(a.shape()) + ", got " + std::to_string(k) + ".");
  }
  // As MLX: partition so the k largest sit at the end, then slice them off.
  array p = k == 0 ? a : partition(a, n - k, axis, s);
  Shape start(a.ndim(), 0), stop = a.shape();
  start[axis] = n - k;
  return slice(p, std::move(start), std::move(stop), s);
}
array topk(const array& a, int k, StreamOrDevice s) { return topk(flat(a, s), k, 0, s); }

// A composition: each value is compared with the whole sequence (values x sequence booleans),
// the count of entries before it is its index.
array searchsorted(const array& sorted_sequence, const array& values, const std::string& side, StreamOrDevice s) {
  const char* op = "searchsorted";
  if (side != "left" && side != "right") detail::fail(op, "expected side \"left\" or \"right\", got \"" + side + "\".");
  if (sorted_sequence.ndim() != 1)
    detail::fail(op, "expected a 1-D sorted sequence, got shape " + detail::shape_str(sorted_sequence.shape()) + ".");
  if (sorted_sequence.dtype() == complex64 || values.dtype() == complex64)
    detail::fail(op, "expected real arrays, got " + dtype_to_string(sorted_sequence.dtype()) + " and " +
                         dtype_to_string(values.dtype()) + ".");
  const Dtype t = promote_types(sorted_sequence.dtype(), values.dtype());
  array seq = astype(sorted_sequence, t, s), v = astype(values, t, s);
  array ve = expand_dims(v, -1, s);
  array before = side == "left" ? less(seq, ve, s) : less_equal(seq, ve, s);
  array idx = sum(before, -1, false, s);
  if (issubdtype(t, floating)) {
    // NaNs sort last: a NaN value goes before the first NaN (left) or at the end (right).
    array nan_at = side == "left" ? sum(logical_not(isnan(seq, s), s), false, s)
                                  : array(int(sorted_sequence.shape(0)), idx.dtype());
    idx = where(isnan(v, s), astype(nan_at, idx.dtype(), s), idx, s);
  }
  return astype(idx, uint32, s);
}

}  // namespace mica
