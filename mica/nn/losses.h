// Loss functions (MLX's nn.losses): names, defaults and results as MLX. Required arguments are
// positional; a loss with one more setting takes it positionally (mse_loss(p, t, Reduction::sum)),
// one with several takes an options struct with designated initializers:
//
//   nn::losses::cross_entropy(logits, targets, {.label_smoothing = 0.1f, .reduction = Reduction::mean});
#pragma once
#include <optional>

#include "mica/array.h"

namespace mica::nn::losses {

/** How a loss reduces its per-element values: kept (none), averaged (mean) or added (sum). */
enum class Reduction { none, mean, sum };

/** Options of cross_entropy. */
struct CrossEntropyOptions {
  std::optional<array> weights = std::nullopt;  // per-target weights, shaped like the loss
  int axis = -1;                                // the class axis of logits
  float label_smoothing = 0.0f;                 // in [0, 1)
  Reduction reduction = Reduction::none;
};
/** Cross entropy of logits against class indices (targets.ndim == logits.ndim - 1) or
 * probabilities (same shape as logits), with optional per-target weights and label smoothing. */
array cross_entropy(const array& logits, const array& targets, const CrossEntropyOptions& options = {});

/** Options of binary_cross_entropy. */
struct BinaryCrossEntropyOptions {
  std::optional<array> weights = std::nullopt;
  bool with_logits = true;  // inputs are logits (else probabilities)
  Reduction reduction = Reduction::mean;
};
/** Binary cross entropy of logits (with_logits) or probabilities against targets in [0, 1]. */
array binary_cross_entropy(const array& inputs, const array& targets, const BinaryCrossEntropyOptions& options = {});

/** Mean absolute error. */
array l1_loss(const array& predictions, const array& targets, Reduction reduction = Reduction::mean);
/** Mean squared error. */
array mse_loss(const array& predictions, const array& targets, Reduction reduction = Reduction::mean);

/** Options of nll_loss and kl_div_loss. */
struct AxisLossOptions {
  int axis = -1;
  Reduction reduction = Reduction::none;
};
/** Negative log likelihood of log-probabilities at class indices. */
array nll_loss(const array& inputs, const array& targets, const AxisLossOptions& options = {});
/** Kullback-Leibler divergence of log-probabilities `inputs` from log-probabilities `targets`. */
array kl_div_loss(const array& inputs, const array& targets, const AxisLossOptions& options = {});

/** Options of gaussian_nll_loss. */
struct GaussianNllLossOptions {
  bool full = false;  // add the constant 0.5 log(2 pi)
  float eps = 1e-6f;  // lower bound of the variances
  Reduction reduction = Reduction::mean;
};
/** Gaussian negative log likelihood with predicted means `inputs` and variances `vars`. */
array gaussian_nll_loss(const array& inputs, const array& targets, const array& vars,
                        const GaussianNllLossOptions& options = {});

/** Options of smooth_l1_loss. */
struct SmoothL1LossOptions {
  float beta = 1.0f;  // quadratic below beta, linear above
  Reduction reduction = Reduction::mean;
};
/** Smooth L1: quadratic below beta, linear above. */
array smooth_l1_loss(const array& predictions, const array& targets, const SmoothL1LossOptions& options = {});

/** Options of triplet_loss. */
struct TripletLossOptions {
  int axis = -1;
  int p = 2;  // the norm of the distances
  float margin = 1.0f;
  float eps = 1e-6f;
  Reduction reduction = Reduction::none;
};
/** Triplet margin loss with p-norm distances. */
array triplet_loss(const array& anchors, const array& positives, const array& negatives,
                   const TripletLossOptions& options = {});

/** Hinge loss max(0, 1 - inputs * targets) for targets in {-1, 1}. */
array hinge_loss(const array& inputs, const array& targets, Reduction reduction = Reduction::none);

/** Options of huber_loss. */
struct HuberLossOptions {
  float delta = 1.0f;  // quadratic up to delta, linear beyond
  Reduction reduction = Reduction::none;
};
/** Huber loss: quadratic up to delta, linear beyond. */
array huber_loss(const array& inputs, const array& targets, const HuberLossOptions& options = {});

/** log(cosh(inputs - targets)). */
array log_cosh_loss(const array& inputs, const array& targets, Reduction reduction = Reduction::none);

/** Options of cosine_similarity_loss. */
struct CosineSimilarityLossOptions {
  int axis = 1;
  float eps = 1e-8f;  // lower bound of the norms
  Reduction reduction = Reduction::none;
};
/** Cosine similarity of x1 and x2 along `axis` (MLX's name; it is a similarity, not 1 - it). */
array cosine_similarity_loss(const array& x1, const array& x2, const CosineSimilarityLossOptions& options = {});

/** Options of margin_ranking_loss. */
struct MarginRankingLossOptions {
  float margin = 0.0f;
  Reduction reduction = Reduction::none;
};
/** max(0, -targets * (inputs1 - inputs2) + margin). */
array margin_ranking_loss(const array& inputs1, const array& inputs2, const array& targets,
                          const MarginRankingLossOptions& options = {});

}  // namespace mica::nn::losses
