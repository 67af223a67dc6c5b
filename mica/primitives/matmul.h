// Matrix multiplication primitives.
#pragma once
#include "mica/primitives/primitive.h"

namespace mica {

/** Batched a @ b; inputs already broadcast to matching batch shapes. */
class Matmul : public UnaryPrimitive {
 public:
  explicit Matmul(Stream s) : UnaryPrimitive(s) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Matmul)
};

/** alpha * (a @ b) + beta * c; inputs a, b, c. */
class AddMM : public UnaryPrimitive {
 public:
  AddMM(Stream s, float alpha, float beta) : UnaryPrimitive(s), alpha_(alpha), beta_(beta) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(AddMM)

 private:
  float alpha_, beta_;
};

}  // namespace mica
