// Reductions, scans and softmax-family primitives.
#pragma once
#include "mica/primitives/primitive.h"

namespace mica {

/** Reduces `axes` (sorted, distinct; kept as size-1 dims in the output shape). Sum/Prod of
 * bool and small integers give int32/uint32; And/Or give bool; Min/Max keep the dtype. */
class Reduce : public UnaryPrimitive {
 public:
  enum ReduceType { And, Or, Sum, Prod, Min, Max };
  Reduce(Stream s, ReduceType type, std::vector<int> axes) : UnaryPrimitive(s), type_(type), axes_(std::move(axes)) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Reduce) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* r = dynamic_cast<const Reduce*>(&o);
    return r && r->type_ == type_ && r->axes_ == axes_;
  }
  ReduceType type() const { return type_; }
  const std::vector<int>& axes() const { return axes_; }

 private:
  ReduceType type_;
  std::vector<int> axes_;
};

/** Index of the min or max along `axis` (kept as a size-1 dim), uint32. The first index wins
 * ties; a NaN counts as the extreme (its first index is returned). */
class ArgReduce : public UnaryPrimitive {
 public:
  enum ReduceType { ArgMin, ArgMax };
  ArgReduce(Stream s, ReduceType type, int axis) : UnaryPrimitive(s), type_(type), axis_(axis) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(ArgReduce) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* r = dynamic_cast<const ArgReduce*>(&o);
    return r && r->type_ == type_ && r->axis_ == axis_;
  }
  ReduceType type() const { return type_; }
  int axis() const { return axis_; }

 private:
  ReduceType type_;
  int axis_;
};

/** Cumulative sum/prod/min/max/logaddexp along `axis`; same shape as the input. Exclusive
 * scans start from the identity (0, 1, lowest, highest, -inf). */
class Scan : public UnaryPrimitive {
 public:
  enum ReduceType { Max, Min, Sum, Prod, LogAddExp };
  Scan(Stream s, ReduceType type, int axis, bool reverse, bool inclusive)
      : UnaryPrimitive(s), type_(type), axis_(axis), reverse_(reverse), inclusive_(inclusive) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Scan) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* r = dynamic_cast<const Scan*>(&o);
    return r && r->type_ == type_ && r->axis_ == axis_ && r->reverse_ == reverse_ && r->inclusive_ == inclusive_;
  }
  ReduceType type() const { return type_; }
  int axis() const { return axis_; }
  bool reverse() const { return reverse_; }
  bool inclusive() const { return inclusive_; }

 private:
  ReduceType type_;
  int axis_;
  bool reverse_, inclusive_;
};

/** Softmax over the last axis of a floating input; `precise` accumulates half types in
 * float32 (the CPU kernel always does). */
class Softmax : public UnaryPrimitive {
 public:
  Softmax(Stream s, bool precise) : UnaryPrimitive(s), precise_(precise) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Softmax) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* r = dynamic_cast<const Softmax*>(&o);
    return r && r->precise_ == precise_;
  }
  bool precise() const { return precise_; }

 private:
  bool precise_;
};

/** log(sum(exp(x))) over the last axis (kept as a size-1 dim) of a floating input. */
class LogSumExp : public UnaryPrimitive {
 public:
  explicit LogSumExp(Stream s) : UnaryPrimitive(s) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(LogSumExp) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override { return dynamic_cast<const LogSumExp*>(&o) != nullptr; }
};

/** Variance over the last axis (kept as a size-1 dim) of a floating input, dividing by
 * max(n - ddof, 0). One pass over memory instead of the mean/subtract/square/sum composition. */
class Variance : public UnaryPrimitive {
 public:
  Variance(Stream s, int ddof) : UnaryPrimitive(s), ddof_(ddof) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Variance) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* r = dynamic_cast<const Variance*>(&o);
    return r && r->ddof_ == ddof_;
  }
  int ddof() const { return ddof_; }

 private:
  int ddof_;
};

/** The product of the input's sizes along `axes` (its reciprocal when `inverted`), as a scalar
 * of `dtype`. A node rather than a constant so that a shapeless compiled function
 * reads the size of the shapes it is replayed on (MLX's number_of_elements). */
class NumberOfElements : public UnaryPrimitive {
 public:
  NumberOfElements(Stream s, std::vector<int> axes, bool inverted, Dtype dtype)
      : UnaryPrimitive(s), axes_(std::move(axes)), inverted_(inverted), dtype_(dtype) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(NumberOfElements) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* r = dynamic_cast<const NumberOfElements*>(&o);
    return r && r->axes_ == axes_ && r->inverted_ == inverted_ && r->dtype_ == dtype_;
  }
  const std::vector<int>& axes() const { return axes_; }
  bool inverted() const { return inverted_; }
  Dtype dtype() const { return dtype_; }
  /** The value for an input of this shape. */
  double value(const Shape& shape) const;

 private:
  std::vector<int> axes_;
  bool inverted_;
  Dtype dtype_;
};

}  // namespace mica
