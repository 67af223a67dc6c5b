// Activation functions (MLX's nn activations), as plain functions of arrays. The module
// versions (nn::ReLU, nn::GELU, ...) wrap these.
#pragma once
#include "mica/array.h"

namespace mica::nn {

/** max(x, 0) */
array relu(const array& x);
/** relu(x)^2 */
array relu2(const array& x);
/** min(max(x, 0), 6) */
array relu6(const array& x);
/** max(negative_slope * x, x) */
array leaky_relu(const array& x, float negative_slope = 0.01f);
/** max(x, 0) + alpha * min(x, 0) (alpha broadcasts). */
array prelu(const array& x, const array& alpha);
/** x if x > 0 else alpha (exp(x) - 1) */
array elu(const array& x, float alpha = 1.0f);
/** max(x, 0) + alpha (exp(min(x, 0) / alpha) - 1) */
array celu(const array& x, float alpha = 1.0f);
/** Scaled ELU with the self-normalizing constants. */
array selu(const array& x);
/** x * Phi(x), with the exact normal CDF. */
array gelu(const array& x);
/** GELU with the tanh approximation. */
array gelu_approx(const array& x);
/** GELU as x * sigmoid(1.702 x). */
array gelu_fast_approx(const array& x);
/** First half of `x` along axis times the sigmoid of the second half. */
array glu(const array& x, int axis = -1);
/** 1 / (1 + exp(-x)) */
array sigmoid(const array& x);
/** x * sigmoid(x) */
array silu(const array& x);
/** log(sigmoid(x)) */
array log_sigmoid(const array& x);
/** log(1 + exp(x)) */
array softplus(const array& x);
/** x * tanh(softplus(x)) */
array mish(const array& x);
/** x * relu6(x + 3) / 6 */
array hardswish(const array& x);
/** clip(x, min_val, max_val) */
array hard_tanh(const array& x, float min_val = -1.0f, float max_val = 1.0f);
/** x where |x| > lambd, else 0. */
array hard_shrink(const array& x, float lambd = 0.5f);
/** x - sign(x) lambd where |x| > lambd, else 0. */
array softshrink(const array& x, float lambd = 0.5f);
/** x / (1 + |x|) */
array softsign(const array& x);
/** 1 where x >= threshold, else 0 (int32, as MLX). */
array step(const array& x, float threshold = 0.0f);
/** tanh(x) */
array tanh(const array& x);
/** Softmax along `axis`. */
array softmax(const array& x, int axis = -1);
/** Softmax of -x along `axis`. */
array softmin(const array& x, int axis = -1);
/** x - logsumexp(x) along `axis`. */
array log_softmax(const array& x, int axis = -1);

}  // namespace mica::nn
