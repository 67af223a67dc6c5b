// Bilinear: reads weight and bias from the state on every call.
#include "mica/nn/layers/bilinear.h"

#include <cmath>
#include <stdexcept>

#include "mica/ops.h"
#include "mica/random.h"

namespace mica::nn {

Bilinear::Bilinear(int input1_dims, int input2_dims, int output_dims, bool with_bias) {
  if (input1_dims <= 0 || input2_dims <= 0 || output_dims <= 0) {
    throw std::invalid_argument("[Bilinear] expected positive input1_dims, input2_dims and output_dims, got " +
                                std::to_string(input1_dims) + ", " + std::to_string(input2_dims) + " and " +
                                std::to_string(output_dims) + ".");
  }
  double scale = std::sqrt(1.0 / input1_dims);
  weight = random::uniform(-scale, scale, {output_dims, input2_dims, input1_dims});
  if (with_bias) bias = random::uniform(-scale, scale, {output_dims});
}

std::string Bilinear::extra_repr() const {
  const array w = weight.get();
  auto dim = [&](int i) { return w.ndim() == 3 ? std::to_string(w.shape(i)) : std::string("?"); };
  return "input1_dims=" + dim(2) + ", input2_dims=" + dim(1) + ", output_dims=" + dim(0) +
         ", bias=" + (bool(bias) ? "True" : "False");
}

array Bilinear::operator()(const array& x1, const array& x2) {
  array w = weight.get();
  if (w.ndim() != 3) {
    throw std::invalid_argument("[Bilinear] expected a 3-D weight, got shape " + mica::detail::shape_str(w.shape()) + ".");
  }
  const int out = w.shape(0), in2 = w.shape(1), in1 = w.shape(2);
  if (x1.ndim() == 0 || x1.shape(-1) != in1 || x2.ndim() == 0 || x2.shape(-1) != in2) {
    throw std::invalid_argument("[Bilinear] expected inputs of shapes (..., " + std::to_string(in1) + ") and (..., " +
                                std::to_string(in2) + "), got " + mica::detail::shape_str(x1.shape()) + " and " +
                                mica::detail::shape_str(x2.shape()) + ".");
  }
  Shape lead(x1.shape().begin(), x1.shape().end() - 1);
  if (Shape(x2.shape().begin(), x2.shape().end() - 1) != lead) {
    throw std::invalid_argument("[Bilinear] expected inputs with the same leading dimensions, got " +
                                mica::detail::shape_str(x1.shape()) + " and " + mica::detail::shape_str(x2.shape()) + ".");
  }
  int n = 1;
  for (int d : lead) n *= d;
  // (n, in1) @ (in1, out * in2) -> (n, in2, out), then (n, 1, in2) @ (n, in2, out) -> (n, out).
  array y = matmul(reshape(x1, {n, in1}), transpose(reshape(w, {out * in2, in1})));
  y = swapaxes(reshape(y, {n, out, in2}), -2, -1);
  y = matmul(reshape(x2, {n, 1, in2}), y);
  Shape out_shape = lead;
  out_shape.push_back(out);
  y = reshape(y, out_shape);
  if (bool(bias)) y = add(y, bias.get());
  return y;
}

}  // namespace mica::nn
