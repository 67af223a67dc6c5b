// Gather/scatter primitives. Index inputs may have any integer dtype and any layout; the ops
// broadcast them to one shape before building the node.
//
// Out-of-range indices (MLX leaves them unchecked): a negative index i counts from the end once
// (i + dim). Gathers then clamp the index into the valid range (so a read never leaves the array);
// scatters drop an update whose index is still outside the valid range (so a write never does).
#pragma once
#include "mica/primitives/primitive.h"

namespace mica {

/** out[i..., s...] = a[idx_0[i...] + s_0, ..., s_n] over `axes`; inputs: a, idx_0..idx_k
 * (one shape I); out shape I + slice_sizes (one size per dim of a). */
class Gather : public UnaryPrimitive {
 public:
  Gather(Stream s, std::vector<int> axes, Shape slice_sizes)
      : UnaryPrimitive(s), axes_(std::move(axes)), slice_sizes_(std::move(slice_sizes)) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Gather) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const Gather*>(&o);
    return p && p->axes_ == axes_ && p->slice_sizes_ == slice_sizes_;
  }
  const std::vector<int>& axes() const { return axes_; }
  const Shape& slice_sizes() const { return slice_sizes_; }

 private:
  std::vector<int> axes_;
  Shape slice_sizes_;
};

/** Inverse of Gather: inputs a, idx_0..idx_k (shape I), updates (shape I + U, U[d] <= a.shape[d]);
 * out = a with each update window written (or reduced) at its index. Later updates win on
 * repeats for None. */
class Scatter : public UnaryPrimitive {
 public:
  enum ReduceType { None, Sum, Prod, Max, Min };
  Scatter(Stream s, ReduceType type, std::vector<int> axes) : UnaryPrimitive(s), type_(type), axes_(std::move(axes)) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Scatter) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const Scatter*>(&o);
    return p && p->type_ == type_ && p->axes_ == axes_;
  }
  ReduceType reduce_type() const { return type_; }
  const std::vector<int>& axes() const { return axes_; }

 private:
  ReduceType type_;
  std::vector<int> axes_;
};

/** take_along_axis: inputs a, indices with the same shape except along `axis`; out has the
 * indices' shape. */
class GatherAxis : public UnaryPrimitive {
 public:
  GatherAxis(Stream s, int axis) : UnaryPrimitive(s), axis_(axis) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(GatherAxis) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const GatherAxis*>(&o);
    return p && p->axis_ == axis_;
  }
  int axis() const { return axis_; }

 private:
  int axis_;
};

/** put_along_axis / scatter_add_axis: inputs a, indices, values (indices and values of one shape,
 * equal to a's except along `axis`); out has a's shape. */
class ScatterAxis : public UnaryPrimitive {
 public:
  enum ReduceType { None, Sum };
  ScatterAxis(Stream s, ReduceType type, int axis) : UnaryPrimitive(s), type_(type), axis_(axis) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(ScatterAxis) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const ScatterAxis*>(&o);
    return p && p->type_ == type_ && p->axis_ == axis_;
  }
  ReduceType reduce_type() const { return type_; }
  int axis() const { return axis_; }

 private:
  ReduceType type_;
  int axis_;
};

/** Inputs a, mask (bool, a's shape), src (a's dtype, any shape): the k-th true position of the
 * mask (row-major) takes src's k-th element (row-major). src is reused cyclically when it has
 * fewer elements than the mask has true entries (MLX reports that case as an error at eval);
 * an empty src leaves a unchanged. */
class MaskedScatter : public UnaryPrimitive {
 public:
  explicit MaskedScatter(Stream s) : UnaryPrimitive(s) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(MaskedScatter) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override { return dynamic_cast<const MaskedScatter*>(&o) != nullptr; }
};

namespace detail {
/** Indices (any integer dtype) as a gather reads them: a negative index counts from the end of
 * `dim` once, then the index is clamped into [0, hi]. Returns int32 or int64 indices. */
array clamp_gather_indices(const array& idx, int64_t dim, int64_t hi);
/** True where a scatter keeps the update: the index (a negative one counted from the end of
 * `dim` once) lies in [0, hi]. */
array scatter_index_valid(const array& idx, int64_t dim, int64_t hi);
}  // namespace detail

}  // namespace mica
