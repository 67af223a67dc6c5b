// Pooling layers, as MLX's mlx.nn.MaxPool1d/2d/3d and AvgPool1d/2d/3d. Inputs are
// channels-last: (N, L, C), (N, H, W, C) or (N, D, H, W, C). Padding (-inf for max, 0 for
// average) is added on both sides of each spatial axis and counts in the average, as MLX.
#pragma once
#include <initializer_list>
#include <string>
#include <vector>

#include "mica/nn/layers/layer_args.h"
#include "mica/nn/module.h"

namespace mica::nn {

/** Optional arguments of the pooling layers: stride (none means kernel_size) and padding. */
struct PoolOptions {
  IntOrTuple stride = {};
  IntOrTuple padding = 0;
};

/** The shared pooling machinery: sliding windows over the spatial axes, then a reduction. */
class Pool : public Module {
 public:
  /** `kernel_size=(..), stride=(..), padding=(..)`. */
  std::string extra_repr() const override;
  /** (N, *spatial, C) -> (N, *out_spatial, C) with out = (in + 2 * padding - kernel) / stride + 1. */
  array operator()(const array& x) override;

 protected:
  /** Validates and expands the arguments for `dims` spatial axes. */
  Pool(const char* layer, int dims, bool is_max, const IntOrTuple& kernel_size, const PoolOptions& options);

 private:
  const char* layer_;
  bool is_max_;
  std::vector<int> kernel_, stride_, padding_;
};

/** Max over (kernel_size) windows of (N, L, C) inputs. */
class MaxPool1d : public Pool {
 public:
  /** MaxPool1d(kernel_size, {.stride, .padding}). */
  explicit MaxPool1d(const IntOrTuple& kernel_size, const PoolOptions& options = {})
      : Pool("MaxPool1d", 1, true, kernel_size, options) {}
  /** MaxPool1d({k...}, ...): a braced kernel size (keeps `MaxPool1d({2})` unambiguous). */
  explicit MaxPool1d(std::initializer_list<int> kernel_size, const PoolOptions& options = {})
      : MaxPool1d(IntOrTuple(kernel_size), options) {}
  /** "MaxPool1d". */
  std::string name() const override { return "MaxPool1d"; }
};

/** Max over (kh, kw) windows of (N, H, W, C) inputs. */
class MaxPool2d : public Pool {
 public:
  /** MaxPool2d(kernel_size, {.stride, .padding}). */
  explicit MaxPool2d(const IntOrTuple& kernel_size, const PoolOptions& options = {})
      : Pool("MaxPool2d", 2, true, kernel_size, options) {}
  /** MaxPool2d({k...}, ...): a braced kernel size (keeps `MaxPool2d({2})` unambiguous). */
  explicit MaxPool2d(std::initializer_list<int> kernel_size, const PoolOptions& options = {})
      : MaxPool2d(IntOrTuple(kernel_size), options) {}
  /** "MaxPool2d". */
  std::string name() const override { return "MaxPool2d"; }
};

/** Max over (kd, kh, kw) windows of (N, D, H, W, C) inputs. */
class MaxPool3d : public Pool {
 public:
  /** MaxPool3d(kernel_size, {.stride, .padding}). */
  explicit MaxPool3d(const IntOrTuple& kernel_size, const PoolOptions& options = {})
      : Pool("MaxPool3d", 3, true, kernel_size, options) {}
  /** MaxPool3d({k...}, ...): a braced kernel size (keeps `MaxPool3d({2})` unambiguous). */
  explicit MaxPool3d(std::initializer_list<int> kernel_size, const PoolOptions& options = {})
      : MaxPool3d(IntOrTuple(kernel_size), options) {}
  /** "MaxPool3d". */
  std::string name() const override { return "MaxPool3d"; }
};

/** Mean over (kernel_size) windows of (N, L, C) inputs. */
class AvgPool1d : public Pool {
 public:
  /** AvgPool1d(kernel_size, {.stride, .padding}). */
  explicit AvgPool1d(const IntOrTuple& kernel_size, const PoolOptions& options = {})
      : Pool("AvgPool1d", 1, false, kernel_size, options) {}
  /** AvgPool1d({k...}, ...): a braced kernel size (keeps `AvgPool1d({2})` unambiguous). */
  explicit AvgPool1d(std::initializer_list<int> kernel_size, const PoolOptions& options = {})
      : AvgPool1d(IntOrTuple(kernel_size), options) {}
  /** "AvgPool1d". */
  std::string name() const override { return "AvgPool1d"; }
};

/** Mean over (kh, kw) windows of (N, H, W, C) inputs. */
class AvgPool2d : public Pool {
 public:
  /** AvgPool2d(kernel_size, {.stride, .padding}). */
  explicit AvgPool2d(const IntOrTuple& kernel_size, const PoolOptions& options = {})
      : Pool("AvgPool2d", 2, false, kernel_size, options) {}
  /** AvgPool2d({k...}, ...): a braced kernel size (keeps `AvgPool2d({2})` unambiguous). */
  explicit AvgPool2d(std::initializer_list<int> kernel_size, const PoolOptions& options = {})
      : AvgPool2d(IntOrTuple(kernel_size), options) {}
  /** "AvgPool2d". */
  std::string name() const override { return "AvgPool2d"; }
};

/** Mean over (kd, kh, kw) windows of (N, D, H, W, C) inputs. */
class AvgPool3d : public Pool {
 public:
  /** AvgPool3d(kernel_size, {.stride, .padding}). */
  explicit AvgPool3d(const IntOrTuple& kernel_size, const PoolOptions& options = {})
      : Pool("AvgPool3d", 3, false, kernel_size, options) {}
  /** AvgPool3d({k...}, ...): a braced kernel size (keeps `AvgPool3d({2})` unambiguous). */
  explicit AvgPool3d(std::initializer_list<int> kernel_size, const PoolOptions& options = {})
      : AvgPool3d(IntOrTuple(kernel_size), options) {}
  /** "AvgPool3d". */
  std::string name() const override { return "AvgPool3d"; }
};

}  // namespace mica::nn
