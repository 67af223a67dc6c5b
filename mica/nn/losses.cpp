#include "mica/nn/losses.h"

#include <cmath>
#include <numbers>
#include <stdexcept>

#include "mica/fast.h"
#include "mica/ops.h"
#include "mica/ops/utils.h"

namespace mica::nn::losses {

namespace {
array reduce(const array& loss, Reduction reduction, const char* name) {
  switch (reduction) {
    case Reduction::none: return loss;
    case Reduction::mean: return mean(loss);
    case Reduction::sum: return sum(loss);
  }
  throw std::invalid_argument(std::string("[") + name + "] expected reduction none, mean or sum, got " +
                              std::to_string(static_cast<int>(reduction)) + ".");
}

void same_shape(const char* name, const char* what_a, const array& a, const char* what_b, const array& b) {
  if (a.shape() != b.shape()) {
    throw std::invalid_argument(std::string("[") + name + "] expected " + what_b + " of shape " +
                                detail::shape_str(a.shape()) + " (the shape of " + what_a + "), got " +
                                detail::shape_str(b.shape()) + ".");
  }
}

array weighted(const char* name, array loss, const std::optional<array>& weights) {
  if (!weights) return loss;
  same_shape(name, "the loss", loss, "weights", *weights);
  return multiply(loss, *weights);
}

// The logit of class targets[i] along `axis`.
array pick(const array& x, const array& targets, int axis) {
  return squeeze(take_along_axis(x, expand_dims(targets, axis), axis), axis);
}
}  // namespace

array cross_entropy(const array& logits, const array& targets, const CrossEntropyOptions& options) {
  const auto& weights = options.weights;
  const auto& axis = options.axis;
  const auto& label_smoothing = options.label_smoothing;
  const auto& reduction = options.reduction;
  const char* name = "cross_entropy";
  if (label_smoothing < 0 || label_smoothing >= 1) {
    throw std::invalid_argument("[cross_entropy] expected label_smoothing in [0, 1), got " +
                                std::to_string(label_smoothing) + ".");
  }
  int ax = detail::normalize_axis(axis, logits.ndim(), name);
  bool probs = targets.ndim() == logits.ndim();
  Shape want = logits.shape();
  if (!probs) want.erase(want.begin() + ax);
  if (targets.shape() != want) {
    throw std::invalid_argument("[cross_entropy] expected targets of shape " + detail::shape_str(want) +
                                " (class indices) or " + detail::shape_str(logits.shape()) +
                                " (probabilities), got " + detail::shape_str(targets.shape()) + ".");
  }
  if (!probs && !issubdtype(targets.dtype(), integer)) {
    throw std::invalid_argument("[cross_entropy] expected integer class indices, got " +
                                dtype_to_string(targets.dtype()) + ".");
  }
  if (!probs) {
    // Class indices: the fused row kernel (one pass forward, one backward).
    array z = ax == static_cast<int>(logits.ndim()) - 1 ? logits : moveaxis(logits, ax, -1);
    return reduce(weighted(name, fast::cross_entropy(z, targets, label_smoothing), weights), reduction, name);
  }
  // Shifting by the (constant) max keeps exp in range without changing the loss.
  array z = subtract(logits, stop_gradient(max(logits, ax, true)));
  array score = sum(multiply(z, targets), ax);
  array loss = subtract(logsumexp(z, ax), score);
  if (label_smoothing > 0) {
    // (1 - s) * CE(target) + s * CE(uniform): the uniform part is lse - mean(z).
    loss = add(subtract(logsumexp(z, ax), score * (1.0f - label_smoothing)),
               mean(z, ax) * -label_smoothing);
  }
  return reduce(weighted(name, loss, weights), reduction, name);
}

array binary_cross_entropy(const array& inputs, const array& targets, const BinaryCrossEntropyOptions& options) {
  const auto& weights = options.weights;
  const auto& with_logits = options.with_logits;
  const auto& reduction = options.reduction;
  const char* name = "binary_cross_entropy";
  same_shape(name, "inputs", inputs, "targets", targets);
  array loss = [&] {
    if (with_logits) return subtract(logaddexp(array(0.0f, inputs.dtype()), inputs), multiply(inputs, targets));
    // log clipped at -100 so that probabilities of exactly 0 or 1 give finite losses.
    array lo = array(-100.0f, inputs.dtype());
    array log_p = maximum(log(inputs), lo);
    array log_q = maximum(log(1.0f - inputs), lo);
    return negative(add(multiply(targets, log_p), multiply(1.0f - targets, log_q)));
  }();
  return reduce(weighted(name, loss, weights), reduction, name);
}

array l1_loss(const array& predictions, const array& targets, Reduction reduction) {
  same_shape("l1_loss", "predictions", predictions, "targets", targets);
  return reduce(abs(subtract(predictions, targets)), reduction, "l1_loss");
}

array mse_loss(const array& predictions, const array& targets, Reduction reduction) {
  same_shape("mse_loss", "predictions", predictions, "targets", targets);
  return reduce(square(subtract(predictions, targets)), reduction, "mse_loss");
}

array nll_loss(const array& inputs, const array& targets, const AxisLossOptions& options) {
  const auto& axis = options.axis;
  const auto& reduction = options.reduction;
  int ax = detail::normalize_axis(axis, inputs.ndim(), "nll_loss");
  Shape want = inputs.shape();
  want.erase(want.begin() + ax);
  if (targets.shape() != want) {
    throw std::invalid_argument("[nll_loss] expected targets of shape " + detail::shape_str(want) + ", got " +
                                detail::shape_str(targets.shape()) + ".");
  }
  return reduce(negative(pick(inputs, targets, ax)), reduction, "nll_loss");
}

array gaussian_nll_loss(const array& inputs, const array& targets, const array& vars,
                        const GaussianNllLossOptions& options) {
  const auto& full = options.full;
  const auto& eps = options.eps;
  const auto& reduction = options.reduction;
  const char* name = "gaussian_nll_loss";
  same_shape(name, "inputs", inputs, "targets", targets);
  same_shape(name, "inputs", inputs, "vars", vars);
  array v = maximum(vars, array(eps, vars.dtype()));
  array loss = add(log(v), divide(square(subtract(targets, inputs)), v)) * 0.5f;
  if (full) loss = loss + 0.5f * static_cast<float>(std::log(2 * std::numbers::pi));
  return reduce(loss, reduction, name);
}

array kl_div_loss(const array& inputs, const array& targets, const AxisLossOptions& options) {
  const auto& axis = options.axis;
  const auto& reduction = options.reduction;
  return reduce(sum(multiply(exp(targets), subtract(targets, inputs)), axis), reduction, "kl_div_loss");
}

array smooth_l1_loss(const array& predictions, const array& targets, const SmoothL1LossOptions& options) {
  const auto& beta = options.beta;
  const auto& reduction = options.reduction;
  same_shape("smooth_l1_loss", "predictions", predictions, "targets", targets);
  array d = abs(subtract(predictions, targets));
  array loss = where(less(d, array(beta, d.dtype())), square(d) * (0.5f / beta), d - 0.5f * beta);
  return reduce(loss, reduction, "smooth_l1_loss");
}

array triplet_loss(const array& anchors, const array& positives, const array& negatives,
                   const TripletLossOptions& options) {
  const auto& axis = options.axis;
  const auto& p = options.p;
  const auto& margin = options.margin;
  const auto& eps = options.eps;
  const auto& reduction = options.reduction;
  auto dist = [&](const array& other) {
    array s = sum(power(abs(subtract(anchors, other)), array(static_cast<float>(p), anchors.dtype())), axis);
    return power(s + eps, array(1.0f / p, anchors.dtype()));
  };
  array loss = maximum(subtract(dist(positives), dist(negatives)) + margin, array(0.0f, anchors.dtype()));
  return reduce(loss, reduction, "triplet_loss");
}

array hinge_loss(const array& inputs, const array& targets, Reduction reduction) {
  array loss = maximum(subtract(array(1.0f, inputs.dtype()), multiply(inputs, targets)), array(0.0f, inputs.dtype()));
  return reduce(loss, reduction, "hinge_loss");
}

array huber_loss(const array& inputs, const array& targets, const HuberLossOptions& options) {
  const auto& delta = options.delta;
  const auto& reduction = options.reduction;
  array e = abs(subtract(inputs, targets));
  array quad = minimum(e, array(delta, e.dtype()));
  array loss = square(quad) * 0.5f + subtract(e, quad) * delta;
  return reduce(loss, reduction, "huber_loss");
}

array log_cosh_loss(const array& inputs, const array& targets, Reduction reduction) {
  array e = subtract(inputs, targets);
  array loss = logaddexp(e, negative(e)) - static_cast<float>(std::log(2.0));
  return reduce(loss, reduction, "log_cosh_loss");
}

array cosine_similarity_loss(const array& x1, const array& x2, const CosineSimilarityLossOptions& options) {
  const auto& axis = options.axis;
  const auto& eps = options.eps;
  const auto& reduction = options.reduction;
  array n1 = sqrt(sum(square(x1), axis));
  array n2 = sqrt(sum(square(x2), axis));
  array loss = divide(sum(multiply(x1, x2), axis), maximum(multiply(n1, n2), array(eps, n1.dtype())));
  return reduce(loss, reduction, "cosine_similarity_loss");
}

array margin_ranking_loss(const array& inputs1, const array& inputs2, const array& targets,
                          const MarginRankingLossOptions& options) {
  const auto& margin = options.margin;
  const auto& reduction = options.reduction;
  const char* name = "margin_ranking_loss";
  same_shape(name, "inputs1", inputs1, "inputs2", inputs2);
  same_shape(name, "inputs1", inputs1, "targets", targets);
  array loss = maximum(array(0.0f, inputs1.dtype()), negative(multiply(targets, subtract(inputs1, inputs2))) + margin);
  return reduce(loss, reduction, name);
}

}  // namespace mica::nn::losses
