// Loss functions (MLX's nn.losses): names, arguments and defaults as MLX. `reduction` is
// "none", "mean" or "sum".
#pragma once
#include <optional>
#include <string>

#include "mica/array.h"

namespace mica::nn::losses {

/** Cross entropy of logits against class indices (targets.ndim == logits.ndim - 1) or
 * probabilities (same shape as logits), with optional per-target weights and label smoothing. */
array cross_entropy(const array& logits, const array& targets, const std::optional<array>& weights = std::nullopt,
                    int axis = -1, float label_smoothing = 0.0f, const std::string& reduction = "none");
/** Binary cross entropy of logits (with_logits) or probabilities against targets in [0, 1]. */
array binary_cross_entropy(const array& inputs, const array& targets, const std::optional<array>& weights = std::nullopt,
                           bool with_logits = true, const std::string& reduction = "mean");
/** Mean absolute error. */
array l1_loss(const array& predictions, const array& targets, const std::string& reduction = "mean");
/** Mean squared error. */
array mse_loss(const array& predictions, const array& targets, const std::string& reduction = "mean");
/** Negative log likelihood of log-probabilities at class indices. */
array nll_loss(const array& inputs, const array& targets, int axis = -1, const std::string& reduction = "none");
/** Gaussian negative log likelihood with predicted means `inputs` and variances `vars`. */
array gaussian_nll_loss(const array& inputs, const array& targets, const array& vars, bool full = false,
                        float eps = 1e-6f, const std::string& reduction = "mean");
/** Kullback-Leibler divergence of log-probabilities `inputs` from log-probabilities `targets`. */
array kl_div_loss(const array& inputs, const array& targets, int axis = -1, const std::string& reduction = "none");
/** Smooth L1: quadratic below beta, linear above. */
array smooth_l1_loss(const array& predictions, const array& targets, float beta = 1.0f,
                     const std::string& reduction = "mean");
/** Triplet margin loss with p-norm distances. */
array triplet_loss(const array& anchors, const array& positives, const array& negatives, int axis = -1, int p = 2,
                   float margin = 1.0f, float eps = 1e-6f, const std::string& reduction = "none");
/** Hinge loss max(0, 1 - inputs * targets) for targets in {-1, 1}. */
array hinge_loss(const array& inputs, const array& targets, const std::string& reduction = "none");
/** Huber loss: quadratic up to delta, linear beyond. */
array huber_loss(const array& inputs, const array& targets, float delta = 1.0f, const std::string& reduction = "none");
/** log(cosh(inputs - targets)). */
array log_cosh_loss(const array& inputs, const array& targets, const std::string& reduction = "none");
/** Cosine similarity of x1 and x2 along `axis` (MLX's name; it is a similarity, not 1 - it). */
array cosine_similarity_loss(const array& x1, const array& x2, int axis = 1, float eps = 1e-8f,
                             const std::string& reduction = "none");
/** max(0, -targets * (inputs1 - inputs2) + margin). */
array margin_ranking_loss(const array& inputs1, const array& inputs2, const array& targets, float margin = 0.0f,
                          const std::string& reduction = "none");

}  // namespace mica::nn::losses
