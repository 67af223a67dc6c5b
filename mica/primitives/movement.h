// Shape and data-movement primitives. Most produce views of their input's buffer.
#pragma once
#include "mica/primitives/primitive.h"

namespace mica {

/** New shape, same elements in row-major order (a view when the strides allow, else a copy). */
class Reshape : public UnaryPrimitive {
 public:
  Reshape(Stream s, Shape shape) : UnaryPrimitive(s), shape_(std::move(shape)) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Reshape) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  const Shape& shape() const { return shape_; }
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const Reshape*>(&o);
    return p && p->shape_ == shape_;
  }

 private:
  Shape shape_;
};

/** Drops size-1 axes (a view); `axes` sorted, non-negative. A primitive of its own (not a
 * Reshape) so that its output shape follows from its input's: shapeless compile and export. */
class Squeeze : public UnaryPrimitive {
 public:
  Squeeze(Stream s, std::vector<int> axes) : UnaryPrimitive(s), axes_(std::move(axes)) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Squeeze) MICA_DEFINE_SAVE
  bool is_view() const override { return true; }
  MICA_DEFINE_GRADS
  const std::vector<int>& axes() const { return axes_; }
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const Squeeze*>(&o);
    return p && p->axes_ == axes_;
  }

 private:
  std::vector<int> axes_;
};

/** Inserts size-1 axes (a view) at `axes` of the output (sorted, non-negative). */
class ExpandDims : public UnaryPrimitive {
 public:
  ExpandDims(Stream s, std::vector<int> axes) : UnaryPrimitive(s), axes_(std::move(axes)) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(ExpandDims) MICA_DEFINE_SAVE
  bool is_view() const override { return true; }
  MICA_DEFINE_GRADS
  const std::vector<int>& axes() const { return axes_; }
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const ExpandDims*>(&o);
    return p && p->axes_ == axes_;
  }

 private:
  std::vector<int> axes_;
};

/** Permutes axes (a view): output axis i is input axis axes[i]. */
class Transpose : public UnaryPrimitive {
 public:
  Transpose(Stream s, std::vector<int> axes) : UnaryPrimitive(s), axes_(std::move(axes)) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Transpose) MICA_DEFINE_SAVE
  bool is_view() const override { return true; }
  MICA_DEFINE_GRADS
  const std::vector<int>& axes() const { return axes_; }
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const Transpose*>(&o);
    return p && p->axes_ == axes_;
  }

 private:
  std::vector<int> axes_;
};

/** Broadcasts to the output shape (a view with zero strides). */
class Broadcast : public UnaryPrimitive {
 public:
  Broadcast(Stream s, Shape shape) : UnaryPrimitive(s), shape_(std::move(shape)) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Broadcast) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  const Shape& shape() const { return shape_; }
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const Broadcast*>(&o);
    return p && p->shape_ == shape_;
  }

 private:
  Shape shape_;
};

/** Mode `always` (copy(), as MLX's): the input's buffer and layout, shared (arrays are
 * immutable). `if_needed` (contiguous()): the input's buffer when it is already row-contiguous
 * (or column-contiguous, with `col_ok`), else a row-major copy. */
class Copy : public UnaryPrimitive {
 public:
  enum Mode { always, if_needed };
  explicit Copy(Stream s, Mode mode = always, bool col_ok = false) : UnaryPrimitive(s), mode_(mode), col_ok_(col_ok) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Copy) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  Mode mode() const { return mode_; }
  bool col_ok() const { return col_ok_; }
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const Copy*>(&o);
    return p && p->mode_ == mode_ && p->col_ok_ == col_ok_;
  }

 private:
  Mode mode_;
  bool col_ok_;
};

/** A view with explicit strides and element offset into the row-major layout of the input
 * (a non-row-contiguous input is copied first). The op checks the view stays in bounds. */
class AsStrided : public UnaryPrimitive {
 public:
  AsStrided(Stream s, Shape shape, Strides strides, size_t offset)
      : UnaryPrimitive(s), shape_(std::move(shape)), strides_(std::move(strides)), offset_(offset) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(AsStrided) MICA_DEFINE_SAVE
  bool is_view() const override { return true; }
  MICA_DEFINE_GRADS
  const Shape& shape() const { return shape_; }
  const Strides& strides() const { return strides_; }
  size_t offset() const { return offset_; }
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const AsStrided*>(&o);
    return p && p->shape_ == shape_ && p->strides_ == strides_ && p->offset_ == offset_;
  }

 private:
  Shape shape_;
  Strides strides_;
  size_t offset_;
};

/** Reinterprets the bytes of the row-major layout as another dtype. */
class View : public UnaryPrimitive {
 public:
  View(Stream s, Dtype dtype) : UnaryPrimitive(s), dtype_(dtype) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(View) MICA_DEFINE_SAVE
  MICA_DEFINE_VMAP  // no vjp/jvp: reinterpreting bits has no derivative (see movement.cpp)
  Dtype dtype() const { return dtype_; }
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const View*>(&o);
    return p && p->dtype_ == dtype_;
  }

 private:
  Dtype dtype_;
};

/** Strided slice from `start` by `strides` (negative strides walk backwards); a view. The op
 * resolves the bounds: start is a valid index on every non-empty output axis. */
class Slice : public UnaryPrimitive {
 public:
  Slice(Stream s, Shape start, Shape stop, Shape strides)
      : UnaryPrimitive(s), start_(std::move(start)), stop_(std::move(stop)), strides_(std::move(strides)) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Slice) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  const Shape& start() const { return start_; }
  const Shape& stop() const { return stop_; }
  const Shape& strides() const { return strides_; }
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const Slice*>(&o);
    return p && p->start_ == start_ && p->stop_ == stop_ && p->strides_ == strides_;
  }

 private:
  Shape start_, stop_, strides_;
};

/** Copy of input 0 with the strided slice replaced by input 1 (already of the slice's shape
 * and of input 0's dtype); input 0's buffer is reused when it can be donated. */
class SliceUpdate : public UnaryPrimitive {
 public:
  SliceUpdate(Stream s, Shape start, Shape stop, Shape strides)
      : UnaryPrimitive(s), start_(std::move(start)), stop_(std::move(stop)), strides_(std::move(strides)) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(SliceUpdate) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  const Shape& start() const { return start_; }
  const Shape& stop() const { return stop_; }
  const Shape& strides() const { return strides_; }
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const SliceUpdate*>(&o);
    return p && p->start_ == start_ && p->stop_ == stop_ && p->strides_ == strides_;
  }

 private:
  Shape start_, stop_, strides_;
};

/** Slice of input 0 of `slice_size` whose start along `axes` is read from input 1 (an integer
 * vector; negative values count from the end, then the start is clamped so the slice fits). */
class DynamicSlice : public UnaryPrimitive {
 public:
  DynamicSlice(Stream s, std::vector<int> axes, Shape slice_size)
      : UnaryPrimitive(s), axes_(std::move(axes)), slice_size_(std::move(slice_size)) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(DynamicSlice) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  const std::vector<int>& axes() const { return axes_; }
  const Shape& slice_size() const { return slice_size_; }
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const DynamicSlice*>(&o);
    return p && p->axes_ == axes_ && p->slice_size_ == slice_size_;
  }

 private:
  std::vector<int> axes_;
  Shape slice_size_;
};

/** Copy of input 0 with input 1 (full-rank, input 0's dtype) written at the start read from
 * input 2 along `axes` (clamped as DynamicSlice); other axes start at 0. */
class DynamicSliceUpdate : public UnaryPrimitive {
 public:
  DynamicSliceUpdate(Stream s, std::vector<int> axes) : UnaryPrimitive(s), axes_(std::move(axes)) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(DynamicSliceUpdate) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  const std::vector<int>& axes() const { return axes_; }
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const DynamicSliceUpdate*>(&o);
    return p && p->axes_ == axes_;
  }

 private:
  std::vector<int> axes_;
};

/** Joins inputs (all of the output's dtype) along `axis`. */
class Concatenate : public UnaryPrimitive {
 public:
  Concatenate(Stream s, int axis) : UnaryPrimitive(s), axis_(axis) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Concatenate) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  int axis() const { return axis_; }
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const Concatenate*>(&o);
    return p && p->axis_ == axis_;
  }

 private:
  int axis_;
};

/** Pads input 0 along `axes` with low/high widths. Input 1 is the pad value (a scalar of input
 * 0's dtype), used by Constant mode and where an axis to copy from is empty. */
class Pad : public UnaryPrimitive {
 public:
  enum Mode { Constant, Edge, Reflect, Symmetric };
  Pad(Stream s, std::vector<int> axes, Shape low, Shape high, Mode mode)
      : UnaryPrimitive(s), axes_(std::move(axes)), low_(std::move(low)), high_(std::move(high)), mode_(mode) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Pad) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  const std::vector<int>& axes() const { return axes_; }
  const Shape& low() const { return low_; }
  const Shape& high() const { return high_; }
  Mode mode() const { return mode_; }
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const Pad*>(&o);
    return p && p->axes_ == axes_ && p->low_ == low_ && p->high_ == high_ && p->mode_ == mode_;
  }

 private:
  std::vector<int> axes_;
  Shape low_, high_;
  Mode mode_;
};

}  // namespace mica
