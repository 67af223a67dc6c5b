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
  return adam_step(std::vector<array>{p}, {g}, {m}, {v}, coef, beta1, beta2, eps, s);
}

std::vector<array> adam_step(const std::vector<array>& p, const std::vector<array>& g, const std::vector<array>& m,
                             const std::vector<array>& v, const array& coef, double beta1, double beta2, double eps,
                             StreamOrDevice s) {
  if (p.empty() || g.size() != p.size() || m.size() != p.size() || v.size() != p.size()) {
    throw std::invalid_argument("[adam_step] expected as many gradients and moments as parameters (at least one), got " +
                                std::to_string(p.size()) + ", " + std::to_string(g.size()) + ", " +
                                std::to_string(m.size()) + " and " + std::to_string(v.size()) + ".");
  }
  const Dtype dt = p[0].dtype();
  if (dt != float32 && dt != float64) {
    throw std::invalid_argument("[adam_step] expected a float32 or float64 parameter, got " + dtype_to_string(dt) + ".");
  }
  if (coef.shape() != Shape{3}) {
    throw std::invalid_argument("[adam_step] expected coef of shape (3,), got " + detail::shape_str(coef.shape()) + ".");
  }
  std::vector<array> inputs;
  std::vector<Shape> shapes;
  inputs.reserve(4 * p.size() + 1);
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i].dtype() != dt) {
      throw std::invalid_argument("[adam_step] expected every parameter in " + dtype_to_string(dt) + ", got " +
                                  dtype_to_string(p[i].dtype()) + " for parameter " + std::to_string(i) + ".");
    }
    const char* names[] = {"gradient", "m", "v"};
    const array* others[] = {&g[i], &m[i], &v[i]};
    for (int k = 0; k < 3; ++k) {
      if (others[k]->shape() != p[i].shape() || others[k]->dtype() != dt) {
        throw std::invalid_argument(std::string("[adam_step] expected the ") + names[k] + " to have the parameter's shape " +
                                    detail::shape_str(p[i].shape()) + " and dtype " + dtype_to_string(dt) + ", got " +
                                    detail::shape_str(others[k]->shape()) + " and " +
                                    dtype_to_string(others[k]->dtype()) + ".");
      }
    }
    for (const array* x : {&p[i], &g[i], &m[i], &v[i]}) inputs.push_back(*x);
    for (int k = 0; k < 3; ++k) shapes.push_back(p[i].shape());
  }
  inputs.push_back(astype(coef, dt, s));
  return array::make_arrays(std::move(shapes), std::vector<Dtype>(3 * p.size(), dt),
                            std::make_shared<AdamStep>(to_stream(s), beta1, beta2, eps), std::move(inputs));
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

// ---- gated_delta_update: the recurrence, one step per position, in float32 ----
std::vector<array> gated_delta_update(const array& q, const array& k, const array& v, const array& gamma,
                                      const array& beta, const std::optional<array>& initial_state,
                                      const std::optional<array>& mask, StreamOrDevice s) {
  const char* name = "gated_delta_update";
  auto shape_of = [](const array& a) { return detail::shape_str(a.shape()); };
  for (const array* a : {&q, &k, &v, &gamma, &beta}) {
    if (!is_floating(a->dtype())) detail::fail(name, "expected floating inputs, got " + dtype_to_string(a->dtype()) + ".");
  }
  if (q.ndim() != 4 || k.shape() != q.shape()) {
    detail::fail(name, "expected queries and keys of one shape (B, T, Hk, Dk), got " + shape_of(q) + " and " +
                           shape_of(k) + ".");
  }
  const int B = q.shape(0), T = q.shape(1), Hk = q.shape(2), Dk = q.shape(3);
  if (v.ndim() != 4 || v.shape(0) != B || v.shape(1) != T || Hk == 0 || v.shape(2) % Hk != 0) {
    detail::fail(name, "expected values of shape (B, T, Hv, Dv) with Hv a multiple of the " + std::to_string(Hk) +
                           " key heads, for queries " + shape_of(q) + ", got " + shape_of(v) + ".");
  }
  const int Hv = v.shape(2), Dv = v.shape(3);
  const Shape gate_shape{B, T, Hv};
  if (gamma.shape() != gate_shape || beta.shape() != gate_shape) {
    detail::fail(name, "expected gamma and beta of shape " + detail::shape_str(gate_shape) + ", got " + shape_of(gamma) +
                           " and " + shape_of(beta) + ".");
  }
  const Shape state_shape{B, Hv, Dv, Dk};
  if (initial_state && initial_state->shape() != state_shape) {
    detail::fail(name, "expected an initial state of shape " + detail::shape_str(state_shape) + ", got " +
                           shape_of(*initial_state) + ".");
  }
  if (mask && mask->shape() != Shape{B, T}) {
    detail::fail(name, "expected a mask of shape " + detail::shape_str(Shape{B, T}) + ", got " + shape_of(*mask) + ".");
  }
  const Dtype out_dt = promote_types(promote_types(promote_types(q.dtype(), k.dtype()), v.dtype()),
                                     promote_types(gamma.dtype(), beta.dtype()));
  if (out_dt == complex64 || (initial_state && initial_state->dtype() == complex64)) {
    detail::fail(name, "expected real inputs, got complex64.");
  }
  // Key heads serve Hv / Hk value heads each, in order (value head h reads key head h / r).
  const int r = Hv / Hk;
  auto per_value_head = [&](const array& a) {
    array f = astype(a, float32, s);
    return r == 1 ? f : repeat(f, r, 2, s);
  };
  const array qf = per_value_head(q), kf = per_value_head(k);
  const array vf = astype(v, float32, s), gf = astype(gamma, float32, s), bf = astype(beta, float32, s);
  std::optional<array> keep;
  if (mask) keep = mask->dtype() == bool_ ? *mask : not_equal(*mask, zeros({}, mask->dtype()), s);
  array state = initial_state ? astype(*initial_state, float32, s) : zeros(state_shape, float32, s);
  std::vector<array> ys;
  ys.reserve(T);
  auto at = [&](const array& a, int t) {  // a[:, t]
    Shape start(a.ndim(), 0), stop = a.shape();
    start[1] = t;
    stop[1] = t + 1;
    return squeeze(slice(a, std::move(start), std::move(stop), s), 1, s);
  };
  for (int t = 0; t < T; ++t) {
    const array qt = at(qf, t), kt = at(kf, t), vt = at(vf, t);     // (B, Hv, D)
    const array gt = reshape(at(gf, t), {B, Hv, 1, 1}, s), bt = expand_dims(at(bf, t), -1, s);
    array next = multiply(state, gt, s);                            // (B, Hv, Dv, Dk)
    const array kv = squeeze(matmul(next, expand_dims(kt, -1, s), s), -1, s);  // S k: (B, Hv, Dv)
    const array delta = multiply(bt, subtract(vt, kv, s), s);
    next = add(next, multiply(expand_dims(delta, -1, s), expand_dims(kt, -2, s), s), s);
    array yt = squeeze(matmul(next, expand_dims(qt, -1, s), s), -1, s);       // S q: (B, Hv, Dv)
    if (keep) {
      const array mt = at(*keep, t);  // (B,)
      next = where(reshape(mt, {B, 1, 1, 1}, s), next, state, s);
      yt = where(reshape(mt, {B, 1, 1}, s), yt, zeros({}, float32, s), s);
    }
    state = next;
    ys.push_back(yt);
  }
  array y = T == 0 ? zeros({B, 0, Hv, Dv}, float32, s) : stack(ys, 1, s);
  return {astype(y, out_dt, s), state};
}

}  // namespace mica::fast
