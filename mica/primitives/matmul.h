// Matrix multiplication primitives.
#pragma once
#include "mica/primitives/primitive.h"

namespace mica {

/** Batched a @ b; inputs already broadcast to matching batch shapes. */
class Matmul : public UnaryPrimitive {
 public:
  explicit Matmul(Stream s) : UnaryPrimitive(s) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Matmul) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& other) const override { return dynamic_cast<const Matmul*>(&other) != nullptr; }
};

/** alpha * (a @ b) + beta * c; inputs a, b, c. */
class AddMM : public UnaryPrimitive {
 public:
  AddMM(Stream s, float alpha, float beta) : UnaryPrimitive(s), alpha_(alpha), beta_(beta) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(AddMM) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& other) const override {
    auto* o = dynamic_cast<const AddMM*>(&other);
    return o && o->alpha_ == alpha_ && o->beta_ == beta_;
  }
  float alpha() const { return alpha_; }
  float beta() const { return beta_; }

 private:
  float alpha_, beta_;
};

}  // namespace mica
