// Normalization layers: parameters are read from the state on every call; BatchNorm writes its
// running statistics back into the state during training-mode calls.
#include "mica/nn/layers/normalization.h"

#include <stdexcept>

#include "mica/fast.h"
#include "mica/nn/layers/layer_args.h"
#include "mica/ops.h"

namespace mica::nn {

namespace {
[[noreturn]] void fail(const char* layer, const std::string& msg) {
  throw std::invalid_argument(std::string("[") + layer + "] " + msg);
}

void check_eps(const char* layer, double eps) {
  if (!(eps > 0.0)) fail(layer, "expected a positive eps, got " + detail::py_float(eps) + ".");
}

void check_dims(const char* layer, const char* what, int dims) {
  if (dims <= 0) fail(layer, std::string("expected a positive ") + what + ", got " + std::to_string(dims) + ".");
}

// x must have at least min_ndim dims and `dims` features last.
void check_features(const char* layer, const array& x, int min_ndim, int dims) {
  if (static_cast<int>(x.ndim()) < min_ndim || x.shape(-1) != dims) {
    fail(layer, "expected an input of at least " + std::to_string(min_ndim) + " dimensions with " +
                    std::to_string(dims) + " features last, got shape " + mica::detail::shape_str(x.shape()) + ".");
  }
}

// weight * x + bias when the module is affine (has a weight).
array affine(const Param& weight, const Param& bias, const array& x) {
  if (!weight) return x;
  array y = multiply(weight.get(), x);
  return bias ? add(y, bias.get()) : y;
}
}  // namespace

// -- LayerNorm --------------------------------------------------------------------------------

LayerNorm::LayerNorm(int dims, const LayerNormOptions& o) : dims_(dims), eps_(o.eps) {
  check_eps("LayerNorm", o.eps);
  check_dims("LayerNorm", "dims", dims);
  if (o.affine) {
    weight = ones({dims});
    if (o.bias) bias = zeros({dims});
  }
}

std::string LayerNorm::extra_repr() const {
  return std::to_string(dims_) + ", eps=" + detail::py_float(eps_) + ", affine=" + detail::py_bool(bool(weight));
}

array LayerNorm::operator()(const array& x) {
  if (x.ndim() == 0) fail("LayerNorm", "expected an input of at least 1 dimension, got a scalar.");
  return fast::layer_norm(x, weight.maybe(), bias.maybe(), static_cast<float>(eps_));
}

// -- RMSNorm ----------------------------------------------------------------------------------

RMSNorm::RMSNorm(int dims, double eps) : eps_(eps) {
  check_eps("RMSNorm", eps);
  check_dims("RMSNorm", "dims", dims);
  weight = ones({dims});
}

std::string RMSNorm::extra_repr() const {
  array w = weight;
  return (w.ndim() > 0 ? std::to_string(w.shape(0)) : std::string("?")) + ", eps=" + detail::py_float(eps_);
}

array RMSNorm::operator()(const array& x) {
  if (x.ndim() == 0) fail("RMSNorm", "expected an input of at least 1 dimension, got a scalar.");
  return fast::rms_norm(x, weight, static_cast<float>(eps_));
}

// -- GroupNorm --------------------------------------------------------------------------------

GroupNorm::GroupNorm(int num_groups, int dims, const GroupNormOptions& o)
    : num_groups_(num_groups), dims_(dims), eps_(o.eps), pytorch_compatible_(o.pytorch_compatible) {
  check_eps("GroupNorm", o.eps);
  check_dims("GroupNorm", "number of groups", num_groups);
  check_dims("GroupNorm", "number of features", dims);
  if (dims % num_groups != 0) {
    fail("GroupNorm", "expected the number of features to be divisible by the number of groups, got " +
                          std::to_string(dims) + " features and " + std::to_string(num_groups) + " groups.");
  }
  // MLX's order: bias, then weight.
  if (o.affine) {
    bias = zeros({dims});
    weight = ones({dims});
  }
}

std::string GroupNorm::extra_repr() const {
  return std::to_string(num_groups_) + ", " + std::to_string(dims_) + ", eps=" + detail::py_float(eps_) +
         ", affine=" + detail::py_bool(bool(weight)) + ", pytorch_compatible=" + detail::py_bool(pytorch_compatible_);
}

array GroupNorm::operator()(const array& x) {
  check_features("GroupNorm", x, 2, dims_);
  const Shape shape = x.shape();
  const int batch = shape[0], groups = num_groups_, group_size = dims_ / num_groups_;
  array y = x;
  if (pytorch_compatible_) {
    // (B, S, G, g) -> (B, G, S * g): consecutive features form a group.
    y = transpose(reshape(y, {batch, -1, groups, group_size}), {0, 2, 1, 3});
    Shape grouped = y.shape();
    y = fast::layer_norm(reshape(y, {batch, groups, -1}), std::nullopt, std::nullopt, static_cast<float>(eps_));
    y = transpose(reshape(y, grouped), {0, 2, 1, 3});
  } else {
    // (B, S * g, G): feature c belongs to group c % G.
    y = reshape(y, {batch, -1, groups});
    array mu = mean(y, 1, true);
    array v = var(y, 1, true);
    y = multiply(subtract(y, mu), rsqrt(v + eps_));
  }
  return affine(weight, bias, reshape(y, shape));
}

// -- BatchNorm --------------------------------------------------------------------------------

BatchNorm::BatchNorm(int num_features, const BatchNormOptions& o)
    : num_features_(num_features), eps_(o.eps), momentum_(o.momentum), track_running_stats_(o.track_running_stats) {
  check_eps("BatchNorm", o.eps);
  check_dims("BatchNorm", "num_features", num_features);
  if (o.affine) {
    weight = ones({num_features});
    bias = zeros({num_features});
  }
  if (o.track_running_stats) {
    running_mean = zeros({num_features});
    running_var = ones({num_features});
    freeze({.recurse = false, .keys = {"running_mean", "running_var"}});
  }
}

std::string BatchNorm::extra_repr() const {
  return std::to_string(num_features_) + ", eps=" + detail::py_float(eps_) + ", momentum=" +
         detail::py_float(momentum_) + ", affine=" + detail::py_bool(bool(weight)) +
         ", track_running_stats=" + detail::py_bool(track_running_stats_);
}

void BatchNorm::unfreeze_self(const std::vector<std::string>& keys) {
  Module::unfreeze_self(keys);
  if (track_running_stats_) Module::freeze_self({"running_mean", "running_var"});
}

array BatchNorm::operator()(const array& x) {
  int nd = static_cast<int>(x.ndim());
  if (nd < 2 || nd > 4 || x.shape(-1) != num_features_) {
    fail("BatchNorm", "expected an input of 2, 3 or 4 dimensions with " + std::to_string(num_features_) +
                          " features last, got shape " + mica::detail::shape_str(x.shape()) + ".");
  }
  std::vector<int> axes;
  size_t per_channel = 1;
  for (int i = 0; i < nd - 1; ++i) {
    axes.push_back(i);
    per_channel *= static_cast<size_t>(x.shape(i));
  }
  if (training() && per_channel == 1) {
    fail("BatchNorm", "expected more than one value per channel in training mode, got input of shape " +
                          mica::detail::shape_str(x.shape()) + ".");
  }
  array mu = mean(x, axes);
  array v = var(x, axes);
  if (track_running_stats_) {
    if (training()) {
      const double m = momentum_;
      array unbiased = var(x, axes, false, 1);
      running_mean = add((1.0 - m) * running_mean.get(), m * mu);
      running_var = add((1.0 - m) * running_var.get(), m * unbiased);
    } else {
      mu = running_mean.get();
      v = running_var.get();
    }
  }
  return affine(weight, bias, multiply(subtract(x, mu), rsqrt(v + eps_)));
}

// -- InstanceNorm -----------------------------------------------------------------------------

InstanceNorm::InstanceNorm(int dims, const InstanceNormOptions& o) : dims_(dims), eps_(o.eps) {
  check_eps("InstanceNorm", o.eps);
  check_dims("InstanceNorm", "dims", dims);
  if (o.affine) {
    weight = ones({dims});
    bias = zeros({dims});
  }
}

std::string InstanceNorm::extra_repr() const {
  return std::to_string(dims_) + ", eps=" + detail::py_float(eps_) + ", affine=" + detail::py_bool(bool(weight));
}

array InstanceNorm::operator()(const array& x) {
  check_features("InstanceNorm", x, 3, dims_);
  const int nd = static_cast<int>(x.ndim());
  const Shape shape = x.shape();
  // (N, *S, C) -> (N, C, prod(S)), normalize the last axis, and back.
  std::vector<int> to_first{0, nd - 1};
  for (int i = 1; i < nd - 1; ++i) to_first.push_back(i);
  array y = reshape(transpose(x, to_first), {shape[0], shape[nd - 1], -1});
  y = fast::layer_norm(y, std::nullopt, std::nullopt, static_cast<float>(eps_));
  Shape first_shape{shape[0], shape[nd - 1]};
  for (int i = 1; i < nd - 1; ++i) first_shape.push_back(shape[i]);
  std::vector<int> to_last{0};
  for (int i = 2; i < nd; ++i) to_last.push_back(i);
  to_last.push_back(1);
  y = transpose(reshape(y, first_shape), to_last);
  return affine(weight, bias, y);
}

}  // namespace mica::nn
