// Mixed precision, the way PyTorch users know it from torch.autocast: while an Autocast scope is
// alive on a thread, the matrix products of that thread (matmul, addmm and everything built on
// them: Linear, the attention projections; the convolutions; fast::scaled_dot_product_attention)
// take float32 operands in a lower-precision dtype, usually bfloat16. Everything else keeps its
// dtype, so float32 parameters stay the master weights (their gradients come back through the
// casts in float32), the residual stream stays float32 (float32 + bfloat16 promotes), and the
// norms, softmax and losses compute their statistics in float32. The scope is a plain RAII object;
// scopes nest (the innermost wins) and Autocast(std::nullopt) turns autocasting off inside one.
#pragma once
#include <optional>

#include "mica/dtype.h"

namespace mica {

class Autocast {
 public:
  /** Matrix products of float32 operands run in `dtype` (float16 or bfloat16) until this object
   *  is destroyed; std::nullopt turns autocasting off in the scope. */
  explicit Autocast(std::optional<Dtype> dtype = bfloat16);
  ~Autocast();
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  std::optional<Dtype> previous_;
};

/** The dtype matrix products of float32 operands run in on this thread (none outside a scope). */
std::optional<Dtype> autocast_dtype();

namespace detail {
/** The dtype a matrix product whose operands promote to `t` runs in: the autocast dtype when t is
 *  float32 inside a scope, else t. */
Dtype autocast_product_type(Dtype t);
}  // namespace detail

}  // namespace mica
