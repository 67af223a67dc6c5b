#include "mica/nn/activations.h"

#include <cmath>
#include <numbers>

#include "mica/fast.h"
#include "mica/ops.h"
#include "mica/ops/utils.h"

namespace mica::nn {

namespace {
array zero(const array& x) { return array(0.0f, x.dtype()); }
}  // namespace

array relu(const array& x) { return maximum(x, zero(x)); }
array relu2(const array& x) { return square(relu(x)); }
array relu6(const array& x) { return minimum(relu(x), array(6.0f, x.dtype())); }
array leaky_relu(const array& x, float negative_slope) { return maximum(x * negative_slope, x); }
array prelu(const array& x, const array& alpha) { return relu(x) + multiply(alpha, minimum(x, zero(x))); }
array elu(const array& x, float alpha) { return where(x > 0.0f, x, (mica::exp(x) - 1.0f) * alpha); }
array celu(const array& x, float alpha) {
  return relu(x) + (mica::exp(minimum(x, zero(x)) / alpha) - 1.0f) * alpha;
}
array selu(const array& x) {
  constexpr float kAlpha = 1.67326319217681884765625f;
  constexpr float kScale = 1.05070102214813232421875f;
  return elu(x, kAlpha) * kScale;
}
// One fused pass forward and one backward (mica::fast::gelu); MLX compiles the composition.
array gelu(const array& x) { return fast::gelu(x); }
array gelu_approx(const array& x) {
  const float c = static_cast<float>(std::sqrt(2.0 / std::numbers::pi));
  return x * 0.5f * (1.0f + mica::tanh((x + 0.044715f * x * x * x) * c));
}
array gelu_fast_approx(const array& x) { return x * mica::sigmoid(x * 1.702f); }
array glu(const array& x, int axis) {
  int ax = detail::normalize_axis(axis, x.ndim(), "glu");
  if (x.shape(ax) % 2 != 0) {
    throw std::invalid_argument("[glu] expected an even size along axis " + std::to_string(axis) + ", got " +
                                std::to_string(x.shape(ax)) + ".");
  }
  auto halves = split(x, 2, ax);
  return halves[0] * mica::sigmoid(halves[1]);
}
array sigmoid(const array& x) { return mica::sigmoid(x); }
array silu(const array& x) { return x * mica::sigmoid(x); }
array softplus(const array& x) { return logaddexp(x, zero(x)); }
array log_sigmoid(const array& x) { return negative(softplus(negative(x))); }
array mish(const array& x) { return x * mica::tanh(softplus(x)); }
array hardswish(const array& x) { return x * relu6(x + 3.0f) / 6.0f; }
array hard_tanh(const array& x, float min_val, float max_val) {
  return minimum(maximum(x, array(min_val, x.dtype())), array(max_val, x.dtype()));
}
array hard_shrink(const array& x, float lambd) { return where(abs(x) > lambd, x, zero(x)); }
array softshrink(const array& x, float lambd) { return where(abs(x) > lambd, x - sign(x) * lambd, zero(x)); }
array softsign(const array& x) { return x / (1.0f + abs(x)); }
array step(const array& x, float threshold) { return where(x >= threshold, array(1), array(0)); }
array tanh(const array& x) { return mica::tanh(x); }
array softmax(const array& x, int axis) { return mica::softmax(x, axis); }
array softmin(const array& x, int axis) { return mica::softmax(negative(x), axis); }
array log_softmax(const array& x, int axis) { return x - logsumexp(x, axis, true); }

}  // namespace mica::nn
