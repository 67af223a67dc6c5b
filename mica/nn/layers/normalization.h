// Normalization layers, as MLX's mlx.nn.LayerNorm, RMSNorm, GroupNorm, BatchNorm and
// InstanceNorm. Features are the last axis. Affine weights start at 1 and biases at 0.
#pragma once
#include <string>
#include <vector>

#include "mica/nn/member.h"

namespace mica::nn {

/** Optional arguments of LayerNorm. */
struct LayerNormOptions {
  double eps = 1e-5;
  bool affine = true;  // learn weight (and bias, unless bias = false)
  bool bias = true;
};

/** (x - mean) / sqrt(var + eps) * weight + bias over the last axis (fast::layer_norm). */
class LayerNorm : public Module {
 public:
  /** LayerNorm(dims, {.eps, .affine, .bias}); eps must be positive. */
  explicit LayerNorm(int dims, const LayerNormOptions& options = {});
  /** "LayerNorm". */
  std::string name() const override { return "LayerNorm"; }
  /** `<dims>, eps=<eps>, affine=<has weight>`. */
  std::string extra_repr() const override;
  /** (..., dims) -> (..., dims). */
  array operator()(const array& x) override;

  Param weight{this, "weight"};  // (dims), absent unless affine
  Param bias{this, "bias"};      // (dims), absent unless affine and bias

 private:
  int dims_;
  double eps_;
};

/** x / sqrt(mean(x^2) + eps) * weight over the last axis (fast::rms_norm). */
class RMSNorm : public Module {
 public:
  /** RMSNorm(dims, eps); eps must be positive. */
  explicit RMSNorm(int dims, double eps = 1e-5);
  /** "RMSNorm". */
  std::string name() const override { return "RMSNorm"; }
  /** `<dims>, eps=<eps>`, dims from the weight. */
  std::string extra_repr() const override;
  /** (..., dims) -> (..., dims). */
  array operator()(const array& x) override;

  Param weight{this, "weight"};  // (dims)

 private:
  double eps_;
};

/** Optional arguments of GroupNorm. */
struct GroupNormOptions {
  double eps = 1e-5;
  bool affine = true;
  bool pytorch_compatible = false;  // groups of consecutive features (PyTorch) instead of interleaved ones
};

/** Normalizes x (N, ..., dims) over the spatial axes and each group of features. MLX's default
 *  puts feature c in group c % num_groups; pytorch_compatible groups consecutive features. */
class GroupNorm : public Module {
 public:
  /** GroupNorm(num_groups, dims, {.eps, .affine, .pytorch_compatible}); dims % num_groups == 0. */
  GroupNorm(int num_groups, int dims, const GroupNormOptions& options = {});
  /** "GroupNorm". */
  std::string name() const override { return "GroupNorm"; }
  /** `<groups>, <dims>, eps=.., affine=.., pytorch_compatible=..`. */
  std::string extra_repr() const override;
  /** (N, ..., dims) -> same shape. */
  array operator()(const array& x) override;

  Param weight{this, "weight"};
  Param bias{this, "bias"};

 private:
  int num_groups_, dims_;
  double eps_;
  bool pytorch_compatible_;
};

/** Optional arguments of BatchNorm. */
struct BatchNormOptions {
  double eps = 1e-5;
  double momentum = 0.1;
  bool affine = true;
  bool track_running_stats = true;
};

/** Normalizes (N, C), (N, L, C) or (N, H, W, C) over every axis but the last. With
 *  track_running_stats the state holds running_mean and running_var: parameters that stay
 *  frozen (unfreeze() re-freezes them), updated in place by each training-mode call
 *  (running = (1 - momentum) * running + momentum * batch statistic, the variance unbiased)
 *  and used instead of the batch statistics in eval mode. */
class BatchNorm : public Module {
 public:
  /** BatchNorm(num_features, {.eps, .momentum, .affine, .track_running_stats}). */
  explicit BatchNorm(int num_features, const BatchNormOptions& options = {});
  /** "BatchNorm". */
  std::string name() const override { return "BatchNorm"; }
  /** `<features>, eps=.., momentum=.., affine=.., track_running_stats=..`. */
  std::string extra_repr() const override;
  /** x of 2 to 4 dims with num_features last -> same shape. */
  array operator()(const array& x) override;

 protected:
  /** Unfreezes as the base, then freezes running_mean and running_var again. */
  void unfreeze_self(const std::vector<std::string>& keys) override;

  Param weight{this, "weight"};
  Param bias{this, "bias"};
  Param running_mean{this, "running_mean"};
  Param running_var{this, "running_var"};

 private:
  int num_features_;
  double eps_, momentum_;
  bool track_running_stats_;
};

/** Optional arguments of InstanceNorm. */
struct InstanceNormOptions {
  double eps = 1e-5;
  bool affine = false;
};

/** Normalizes each sample and feature of (N, ..., dims) over the spatial axes. */
class InstanceNorm : public Module {
 public:
  /** InstanceNorm(dims, {.eps, .affine}). */
  explicit InstanceNorm(int dims, const InstanceNormOptions& options = {});
  /** "InstanceNorm". */
  std::string name() const override { return "InstanceNorm"; }
  /** `<dims>, eps=.., affine=<has weight>`. */
  std::string extra_repr() const override;
  /** x of at least 3 dims -> same shape. */
  array operator()(const array& x) override;

  Param weight{this, "weight"};
  Param bias{this, "bias"};

 private:
  int dims_;
  double eps_;
};

}  // namespace mica::nn
