// Linear: weight and bias are typed members that read the state on every use, so update() and
// value_and_grad() are honoured.
#include "mica/nn/layers/linear.h"

#include <cmath>

#include "mica/ops.h"
#include "mica/random.h"

namespace mica::nn {

Linear::Linear(int input_dims, int output_dims, bool with_bias) {
  if (input_dims < 0 || output_dims < 0) {
    throw std::invalid_argument("[Linear] expected non-negative input_dims and output_dims, got " +
                                std::to_string(input_dims) + " and " + std::to_string(output_dims) + ".");
  }
  double scale = std::sqrt(1.0 / input_dims);
  weight = random::uniform(-scale, scale, {output_dims, input_dims});
  if (with_bias) bias = random::uniform(-scale, scale, {output_dims});
}

std::string Linear::extra_repr() const {
  const array w = weight;
  auto dim = [&](int i) { return w.ndim() > static_cast<size_t>(i) ? std::to_string(w.shape(i)) : std::string("?"); };
  return "input_dims=" + dim(1) + ", output_dims=" + dim(0) + ", bias=" + (bias ? "True" : "False");
}

array Linear::operator()(const array& x) {
  array w = weight;
  if (bias) return addmm(bias, x, transpose(w));
  return matmul(x, transpose(w));
}

}  // namespace mica::nn
