// Linear layers, as MLX's mlx.nn.Linear.
#pragma once
#include <string>

#include "mica/nn/member.h"

namespace mica::nn {

/** y = x W^T + b with weight (output_dims, input_dims) and an optional bias (output_dims),
 *  both initialized uniform in [-1/sqrt(input_dims), 1/sqrt(input_dims)) as MLX. */
class Linear : public Module {
 public:
  /** A layer mapping input_dims features to output_dims. */
  Linear(int input_dims, int output_dims, bool bias = true);
  /** "Linear". */
  std::string name() const override { return "Linear"; }
  /** `input_dims=<in>, output_dims=<out>, bias=<True|False>`, from the current weight. */
  std::string extra_repr() const override;
  /** x: (..., input_dims) -> (..., output_dims). */
  array operator()(const array& x) override;

  Param weight{this, "weight"};  // (output_dims, input_dims)
  Param bias{this, "bias"};      // (output_dims), absent without a bias
};

}  // namespace mica::nn
