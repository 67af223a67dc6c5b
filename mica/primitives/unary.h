// Elementwise unary primitives.
#pragma once
#include <typeinfo>

#include "mica/primitives/primitive.h"

namespace mica {

// Unary primitives without parameters.
#define MICA_UNARY_PLAIN(X)                                                                   \
  X(Abs) X(ArcCos) X(ArcCosh) X(ArcSin) X(ArcSinh) X(ArcTan) X(ArcTanh) X(BitwiseInvert)     \
  X(Ceil) X(Conjugate) X(Cos) X(Cosh) X(Erf) X(ErfInv) X(Exp) X(Expm1) X(Floor) X(Imag)      \
  X(Log1p) X(LogicalNot) X(Negative) X(Real) X(Round) X(Sigmoid) X(Sign) X(Sin) X(Sinh)      \
  X(Square) X(Tan) X(Tanh)

#define MICA_DECLARE_UNARY(NAME)                                                  \
  class NAME : public UnaryPrimitive {                                            \
   public:                                                                        \
    explicit NAME(Stream s) : UnaryPrimitive(s) {}                                \
    MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(NAME) MICA_DEFINE_SAVE                                     \
    MICA_DEFINE_GRADS                                                             \
    bool is_equivalent(const Primitive& o) const override { return typeid(o) == typeid(*this); } \
  };
MICA_UNARY_PLAIN(MICA_DECLARE_UNARY)
#undef MICA_DECLARE_UNARY

/** Natural, base-2 or base-10 logarithm. */
class Log : public UnaryPrimitive {
 public:
  enum Base { e, two, ten };
  Log(Stream s, Base base) : UnaryPrimitive(s), base_(base) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Log) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  Base base() const { return base_; }
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const Log*>(&o);
    return p && p->base_ == base_;
  }

 private:
  Base base_;
};

/** Square root, or its reciprocal when `recip`. */
class Sqrt : public UnaryPrimitive {
 public:
  Sqrt(Stream s, bool recip) : UnaryPrimitive(s), recip_(recip) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Sqrt) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool recip() const { return recip_; }
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const Sqrt*>(&o);
    return p && p->recip_ == recip_;
  }

 private:
  bool recip_;
};

/** The identity, through which no gradient flows (the transforms stop their walk here, so it
 * only needs a vmap rule). */
class StopGradient : public UnaryPrimitive {
 public:
  explicit StopGradient(Stream s) : UnaryPrimitive(s) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(StopGradient) MICA_DEFINE_SAVE
  MICA_DEFINE_VMAP
  bool is_equivalent(const Primitive& o) const override { return typeid(o) == typeid(*this); }
};

/** Conversion to another dtype. */
class AsType : public UnaryPrimitive {
 public:
  AsType(Stream s, Dtype dtype) : UnaryPrimitive(s), dtype_(dtype) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(AsType) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  Dtype dtype() const { return dtype_; }
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const AsType*>(&o);
    return p && p->dtype_ == dtype_;
  }

 private:
  Dtype dtype_;
};

}  // namespace mica
