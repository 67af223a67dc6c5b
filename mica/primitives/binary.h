// Elementwise binary and ternary primitives. Inputs may have different (broadcastable) shapes;
// the kernel broadcasts them to the output's shape.
#pragma once
#include <typeinfo>

#include "mica/primitives/primitive.h"

namespace mica {

#define MICA_BINARY_PLAIN(X)                                                                \
  X(Add) X(Subtract) X(Multiply) X(Divide) X(Remainder) X(Power) X(Maximum) X(Minimum)      \
  X(ArcTan2) X(LogAddExp) X(NotEqual) X(Greater) X(GreaterEqual) X(Less) X(LessEqual)       \
  X(LogicalAnd) X(LogicalOr) X(Select)

#define MICA_DECLARE_BINARY(NAME)                                                 \
  class NAME : public UnaryPrimitive {                                            \
   public:                                                                        \
    explicit NAME(Stream s) : UnaryPrimitive(s) {}                                \
    MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(NAME) MICA_DEFINE_SAVE                                     \
    MICA_DEFINE_GRADS                                                             \
    bool is_equivalent(const Primitive& o) const override { return typeid(o) == typeid(*this); } \
  };
MICA_BINARY_PLAIN(MICA_DECLARE_BINARY)
#undef MICA_DECLARE_BINARY

/** a == b; with equal_nan, NaNs compare equal. */
class Equal : public UnaryPrimitive {
 public:
  Equal(Stream s, bool equal_nan = false) : UnaryPrimitive(s), equal_nan_(equal_nan) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Equal) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool equal_nan() const { return equal_nan_; }
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const Equal*>(&o);
    return p && p->equal_nan_ == equal_nan_;
  }

 private:
  bool equal_nan_;
};

/** Bitwise and/or/xor and shifts of integers (and/or/xor of bools). */
class BitwiseBinary : public UnaryPrimitive {
 public:
  enum Op { And, Or, Xor, LeftShift, RightShift };
  BitwiseBinary(Stream s, Op op) : UnaryPrimitive(s), op_(op) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(BitwiseBinary) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  Op op() const { return op_; }
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const BitwiseBinary*>(&o);
    return p && p->op_ == op_;
  }

 private:
  Op op_;
};

/** Floor quotient and remainder, as two outputs. */
class DivMod : public Primitive {
 public:
  explicit DivMod(Stream s) : Primitive(s) {}
  MICA_DEFINE_PRIMITIVE_MEMBERS(DivMod) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override { return typeid(o) == typeid(*this); }
};

}  // namespace mica
