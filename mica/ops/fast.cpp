#include "mica/fast.h"

#include <cmath>

#include "mica/autocast.h"
#include "mica/ops.h"
#include "mica/ops/unary.h"
#include "mica/ops/utils.h"
#include "mica/primitives/fused.h"

namespace mica::fast {

namespace {
// x must be floating with at least one dimension.
void check_input(const char* name, const array& x) {
  if (x.ndim() == 0) detail::fail(name, "expected an input with at least 1 dimension, got a 0-d array.");
  if (!is_floating(x.dtype())) {
    detail::fail(name, "expected a floating input, got " + dtype_to_string(x.dtype()) + ".");
  }
}
// A weight or bias must be real and 1-D, the size of x's last axis.
void check_param(const char* name, const char* what, const array& x, const array& p) {
  if (p.ndim() != 1) {
    detail::fail(name, std::string("expected a 1-D ") + what + ", got shape " + detail::shape_str(p.shape()) + ".");
  }
  if (p.shape()[0] != x.shape().back()) {
    detail::fail(name, std::string("expected a ") + what + " of size " + std::to_string(x.shape().back()) +
                           " (the last dimension of x), got size " + std::to_string(p.shape()[0]) + ".");
  }
  if (p.dtype() == complex64) detail::fail(name, std::string("expected a real ") + what + ", got complex64.");
}
}  // namespace

array layer_norm(const array& x, const std::optional<array>& weight, const std::optional<array>& bias, float eps,
                 StreamOrDevice s) {
  check_input("layer_norm", x);
  Dtype dt = x.dtype();
  if (weight) {
    check_param("layer_norm", "weight", x, *weight);
    dt = promote_types(dt, weight->dtype());
  }
  if (bias) {
    check_param("layer_norm", "bias", x, *bias);
    dt = promote_types(dt, bias->dtype());
  }
  std::vector<array> inputs{astype(x, dt, s)};
  if (weight) inputs.push_back(astype(*weight, dt, s));
  if (bias) inputs.push_back(astype(*bias, dt, s));
  return array(x.shape(), dt, std::make_shared<LayerNorm>(to_stream(s), eps, weight.has_value(), bias.has_value()),
               std::move(inputs));
}

array rms_norm(const array& x, const std::optional<array>& weight, float eps, StreamOrDevice s) {
  check_input("rms_norm", x);
  Dtype dt = x.dtype();
  if (weight) {
    check_param("rms_norm", "weight", x, *weight);
    dt = promote_types(dt, weight->dtype());
  }
  std::vector<array> inputs{astype(x, dt, s)};
  if (weight) inputs.push_back(astype(*weight, dt, s));
  return array(x.shape(), dt, std::make_shared<RMSNorm>(to_stream(s), eps, weight.has_value()), std::move(inputs));
}

std::vector<array> adam_step(const array& p, const array& g, const array& m, const array& v, const array& coef,
                             double beta1, double beta2, double eps, StreamOrDevice s) {
  if (p.dtype() != float32 && p.dtype() != float64) {
    throw std::invalid_argument("[adam_step] expected a float32 or float64 parameter, got " +
                                dtype_to_string(p.dtype()) + ".");
  }
  const char* names[] = {"gradient", "m", "v"};
  const array* others[] = {&g, &m, &v};
  for (int i = 0; i < 3; ++i) {
    if (others[i]->shape() != p.shape() || others[i]->dtype() != p.dtype()) {
      throw std::invalid_argument(std::string("[adam_step] expected the ") + names[i] + " to have the parameter's shape " +
                                  detail::shape_str(p.shape()) + " and dtype " + dtype_to_string(p.dtype()) + ", got " +
                                  detail::shape_str(others[i]->shape()) + " and " +
                                  dtype_to_string(others[i]->dtype()) + ".");
    }
  }
  if (coef.shape() != Shape{3}) {
    throw std::invalid_argument("[adam_step] expected coef of shape (3,), got " + detail::shape_str(coef.shape()) + ".");
  }
  return array::make_arrays({p.shape(), p.shape(), p.shape()}, {p.dtype(), p.dtype(), p.dtype()},
                            std::make_shared<AdamStep>(to_stream(s), beta1, beta2, eps),
                            {p, g, m, v, astype(coef, p.dtype(), s)});
}

array gelu(const array& x, StreamOrDevice s) {
  if (issubdtype(x.dtype(), complexfloating)) {
    throw std::invalid_argument("[gelu] expected a real input, got " + dtype_to_string(x.dtype()) + ".");
  }
  array xf = issubdtype(x.dtype(), floating) ? x : astype(x, float32, s);
  return array(xf.shape(), xf.dtype(), std::make_shared<Gelu>(to_stream(s), 0), {xf});
}

array cross_entropy(const array& logits, const array& targets, float label_smoothing, StreamOrDevice s) {
  const char* name = "cross_entropy";
  if (logits.ndim() == 0) detail::fail(name, "expected logits with at least 1 dimension, got a 0-d array.");
  if (issubdtype(logits.dtype(), complexfloating)) {
    detail::fail(name, "expected real logits, got " + dtype_to_string(logits.dtype()) + ".");
  }
  if (logits.shape().back() == 0) detail::fail(name, "expected at least one class, got logits of shape " +
                                                         detail::shape_str(logits.shape()) + ".");
  Shape rows(logits.shape().begin(), logits.shape().end() - 1);
  if (targets.shape() != rows) {
    detail::fail(name, "expected targets of shape " + detail::shape_str(rows) + ", got " +
                           detail::shape_str(targets.shape()) + ".");
  }
  if (!issubdtype(targets.dtype(), integer)) {
    detail::fail(name, "expected integer class indices, got " + dtype_to_string(targets.dtype()) + ".");
  }
  if (!(label_smoothing >= 0.0f && label_smoothing < 1.0f)) {
    detail::fail(name, "expected label_smoothing in [0, 1), got " + std::to_string(label_smoothing) + ".");
  }
  array x = issubdtype(logits.dtype(), floating) ? logits : astype(logits, float32, s);
  const Dtype acc = x.dtype() == float64 ? float64 : float32;
  auto outs = array::make_arrays({rows, rows}, {acc, acc}, std::make_shared<CrossEntropy>(to_stream(s), label_smoothing),
                                 {x, targets});
  // The loss is computed in float32; MLX returns it in the logits' dtype, autocast keeps float32.
  return autocast_dtype() || x.dtype() == acc ? outs[0] : astype(outs[0], x.dtype(), s);
}

array rope(const array& x, int dims, bool traditional, std::optional<float> base, float scale, int offset,
           const std::optional<array>& freqs, StreamOrDevice s) {
  return rope(x, dims, traditional, base, scale, array(offset), freqs, s);
}

// One Rope node (primitives/fused.h): the angles are computed in the kernel, never stored.
array rope(const array& x, int dims, bool traditional, std::optional<float> base, float scale, const array& offset,
           const std::optional<array>& freqs, StreamOrDevice s) {
  const char* op = "rope";
  if (x.ndim() < 3) detail::fail(op, "expected an input with at least 3 dimensions, got shape " + detail::shape_str(x.shape()) + ".");
  if (!is_floating(x.dtype()) || x.dtype() == complex64)
    detail::fail(op, "expected a real floating input, got " + dtype_to_string(x.dtype()) + ".");
  const int D = x.shape(-1), half = dims / 2;
  if (dims <= 0 || dims % 2 != 0 || dims > D)
    detail::fail(op, "expected an even dims in [2, " + std::to_string(D) + "] (the input's last dimension), got " +
                         std::to_string(dims) + ".");
  if (base.has_value() == freqs.has_value())
    detail::fail(op, std::string("expected exactly one of base and freqs, got ") + (base ? "both." : "neither."));
  if (freqs && (freqs->ndim() != 1 || freqs->shape(0) != half || !is_floating(freqs->dtype()) || freqs->dtype() == complex64))
    detail::fail(op, "expected real floating freqs of shape (" + std::to_string(half) + "), got " +
                         dtype_to_string(freqs->dtype()) + " " + detail::shape_str(freqs->shape()) + ".");
  if (!issubdtype(offset.dtype(), integer))
    detail::fail(op, "expected an integer offset, got " + dtype_to_string(offset.dtype()) + ".");
  if (offset.ndim() > 1 || (offset.ndim() == 1 && offset.shape(0) != x.shape(0)))
    detail::fail(op, "expected a scalar offset or a vector of " + std::to_string(x.shape(0)) +
                         " (the input's first dimension), got shape " + detail::shape_str(offset.shape()) + ".");
  const Dtype ct = x.dtype() == float64 ? float64 : float32;
  std::vector<array> inputs{x, astype(offset, int32, s)};
  if (freqs) inputs.push_back(astype(*freqs, ct, s));
  return array(x.shape(), x.dtype(),
               std::make_shared<Rope>(to_stream(s), dims, traditional, base.value_or(0.0f), scale, freqs.has_value(), true),
               inputs);
}

}  // namespace mica::fast
