// Identity and Bilinear, as MLX's mlx.nn.Identity and mlx.nn.Bilinear.
#pragma once
#include <string>

#include "mica/nn/member.h"

namespace mica::nn {

/** Returns its input unchanged; its constructor accepts and ignores any arguments, as MLX's. */
class Identity : public Module {
 public:
  /** An identity layer (arguments are ignored). */
  template <class... Args>
  explicit Identity(Args&&...) {}
  /** "Identity". */
  std::string name() const override { return "Identity"; }
  /** x unchanged. */
  array operator()(const array& x) override { return x; }
};

/** y[..., o] = sum_ij x1[..., i] W[o, j, i] x2[..., j] + b[o], with weight
 *  (output_dims, input2_dims, input1_dims) and an optional bias (output_dims), both initialized
 *  uniform in [-1/sqrt(input1_dims), 1/sqrt(input1_dims)) as MLX. */
class Bilinear : public Module {
 public:
  /** A layer mapping (input1_dims, input2_dims) features to output_dims. */
  Bilinear(int input1_dims, int input2_dims, int output_dims, bool bias = true);
  /** "Bilinear". */
  std::string name() const override { return "Bilinear"; }
  /** `input1_dims=<in1>, input2_dims=<in2>, output_dims=<out>, bias=<True|False>`, from the weight. */
  std::string extra_repr() const override;
  using Module::operator();
  /** x1: (..., input1_dims), x2: (..., input2_dims) with the same leading dims -> (..., output_dims). */
  array operator()(const array& x1, const array& x2);

  Param weight{this, "weight"};
  Param bias{this, "bias"};
};

}  // namespace mica::nn
