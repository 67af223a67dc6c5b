// Transform rules of the fused norms. With xhat the normalized x and r = 1/sqrt(var + eps)
// (layer norm) or 1/sqrt(mean(x^2) + eps) (RMS norm), the rules are written in plain ops over
// the last axis; weight and bias gradients sum over every leading axis. vmap reuses the fused
// primitive when only x is batched, and applies a batched weight or bias after it otherwise.
// Each norm's vjp is one fused node (LayerNormVjp, RMSNormVjp) whose own rules transform the
// composition.
#include "mica/primitives/fused.h"

#include <numeric>
#include <optional>

#include "mica/ops.h"
#include "mica/primitives/indexing.h"
#include "mica/transforms.h"
#include "mica/primitives/rules.h"

namespace mica {

namespace {
// Sums a (..., n) array over all but its last axis.
array sum_leading(const array& a) {
  if (a.ndim() <= 1) return a;
  std::vector<int> axes(a.ndim() - 1);
  std::iota(axes.begin(), axes.end(), 0);
  return sum(a, axes);
}
// Mean over the last axis, kept.
array mean_last(const array& a) { return mean(a, -1, true); }

// x with its batch axis moved off the normalized (last) axis, and where that axis is.
std::pair<array, int> batch_off_last(const array& x, int bax) {
  if (bax == static_cast<int>(x.ndim()) - 1) return {moveaxis(x, bax, 0), 0};
  return {x, bax};
}

// The batched affine part of a norm: xn (batch axis xax, or -1) * weight + bias, where weight
// and bias (each optional) may be batched. The result has its batch axis first.
array batched_affine(const array& xn, int xax, const std::vector<array>& inputs, const std::vector<int>& axes,
                     bool has_weight, bool has_bias) {
  std::vector<array> parts{xn};
  std::vector<int> part_axes{xax};
  for (size_t i = 1; i < inputs.size(); ++i) {
    parts.push_back(inputs[i]);
    part_axes.push_back(axes[i]);
  }
  auto al = detail::align_batched(parts, part_axes);
  array y = al[0];
  size_t k = 1;
  if (has_weight) y = multiply(y, al[k++]);
  if (has_bias) y = add(y, al[k++]);
  return y;
}

// Layer-norm quantities of x over the last axis.
struct LayerStats {
  array r, xhat;
};
LayerStats layer_stats(const array& x, float eps) {
  array d = subtract(x, mean_last(x));
  array r = rsqrt(add(mean_last(square(d)), array(static_cast<double>(eps), x.dtype())));
  return {r, multiply(d, r)};
}
// d xhat along tangent t (or, being self-adjoint, the vjp of xhat with cotangent t).
array layer_xhat_dir(const LayerStats& s, const array& t) {
  return multiply(s.r, subtract(subtract(t, mean_last(t)), multiply(s.xhat, mean_last(multiply(t, s.xhat)))));
}

// r = 1/sqrt(mean(x^2) + eps).
array rms_r(const array& x, float eps) {
  return rsqrt(add(mean_last(square(x)), array(static_cast<double>(eps), x.dtype())));
}
// d (x r) along tangent t (self-adjoint as well).
array rms_dir(const array& x, const array& r, const array& t) {
  return multiply(r, subtract(t, multiply(multiply(x, square(r)), mean_last(multiply(t, x)))));
}
}  // namespace

// ---- LayerNorm: inputs x, [weight], [bias] ----
std::vector<array> LayerNorm::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                  const std::vector<int>& argnums, const std::vector<array>&) {
  // One fused node computes all three cotangents; each argnum takes its own output.
  const array& x = primals[0];
  std::vector<array> in{x};
  if (has_weight_) in.push_back(primals[1]);
  in.push_back(cotangents[0]);
  const int n = x.shape().back();
  auto outs = array::make_arrays({x.shape(), {n}, {n}}, {x.dtype(), x.dtype(), x.dtype()},
                                 std::make_shared<LayerNormVjp>(stream(), eps_, has_weight_), in);
  std::vector<array> r;
  for (int a : argnums) r.push_back(a == 0 ? outs[0] : (a == 1 && has_weight_) ? outs[1] : outs[2]);
  return r;
}

std::vector<array> LayerNorm::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                  const std::vector<int>& argnums) {
  const array& x = primals[0];
  auto s = layer_stats(x, eps_);
  array out = detail::zeros_like_view(x);
  for (size_t k = 0; k < argnums.size(); ++k) {
    int a = argnums[k];
    const array& t = tangents[k];
    if (a == 0) {
      array d = layer_xhat_dir(s, t);
      out = add(out, has_weight_ ? multiply(d, primals[1]) : d);
    } else if (a == 1 && has_weight_) {
      out = add(out, multiply(s.xhat, t));
    } else {
      out = add(out, t);
    }
  }
  return {out};
}

std::pair<std::vector<array>, std::vector<int>> LayerNorm::vmap(const std::vector<array>& inputs,
                                                                const std::vector<int>& axes) {
  bool params_batched = false;
  for (size_t i = 1; i < axes.size(); ++i) params_batched = params_batched || axes[i] >= 0;
  auto [x, xax] = axes[0] >= 0 ? batch_off_last(inputs[0], axes[0]) : std::make_pair(inputs[0], -1);
  if (!params_batched) {
    std::vector<array> in = inputs;
    in[0] = x;
    return {{array(x.shape(), x.dtype(), std::make_shared<LayerNorm>(stream(), eps_, has_weight_, has_bias_), in)},
            {xax}};
  }
  array xn(x.shape(), x.dtype(), std::make_shared<LayerNorm>(stream(), eps_, false, false), {x});
  return {{batched_affine(xn, xax, inputs, axes, has_weight_, has_bias_)}, {0}};
}

// ---- RMSNorm: inputs x, [weight] ----
std::vector<array> RMSNorm::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                const std::vector<int>& argnums, const std::vector<array>&) {
  // One fused node computes both cotangents; each argnum takes its own output.
  const array& x = primals[0];
  std::vector<array> in{x};
  if (has_weight_) in.push_back(primals[1]);
  in.push_back(cotangents[0]);
  const int n = x.shape().back();
  auto outs = array::make_arrays({x.shape(), {n}}, {x.dtype(), x.dtype()},
                                 std::make_shared<RMSNormVjp>(stream(), eps_, has_weight_), in);
  std::vector<array> r;
  for (int a : argnums) r.push_back(a == 0 ? outs[0] : outs[1]);
  return r;
}

std::vector<array> RMSNorm::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                const std::vector<int>& argnums) {
  const array& x = primals[0];
  array r = rms_r(x, eps_);
  array out = detail::zeros_like_view(x);
  for (size_t k = 0; k < argnums.size(); ++k) {
    if (argnums[k] == 0) {
      array d = rms_dir(x, r, tangents[k]);
      out = add(out, has_weight_ ? multiply(d, primals[1]) : d);
    } else {
      out = add(out, multiply(multiply(x, r), tangents[k]));
    }
  }
  return {out};
}

std::pair<std::vector<array>, std::vector<int>> RMSNorm::vmap(const std::vector<array>& inputs,
                                                              const std::vector<int>& axes) {
  bool weight_batched = axes.size() > 1 && axes[1] >= 0;
  auto [x, xax] = axes[0] >= 0 ? batch_off_last(inputs[0], axes[0]) : std::make_pair(inputs[0], -1);
  if (!weight_batched) {
    std::vector<array> in = inputs;
    in[0] = x;
    return {{array(x.shape(), x.dtype(), std::make_shared<RMSNorm>(stream(), eps_, has_weight_), in)}, {xax}};
  }
  array xn(x.shape(), x.dtype(), std::make_shared<RMSNorm>(stream(), eps_, false), {x});
  return {{batched_affine(xn, xax, inputs, axes, has_weight_, false)}, {0}};
}

// ---- LayerNormVjp: inputs x, [weight], g; outputs dx, dweight, dbias ----
// Its rules transform the composition of plain ops (they only run under higher-order transforms).
namespace {
std::vector<array> layer_norm_vjp_composed(const std::vector<array>& in, float eps, bool has_weight) {
  const array& x = in[0];
  const array& g = in.back();
  auto s = layer_stats(x, eps);
  return {layer_xhat_dir(s, has_weight ? multiply(g, in[1]) : g), sum_leading(multiply(g, s.xhat)), sum_leading(g)};
}
}  // namespace

std::vector<array> LayerNormVjp::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                     const std::vector<int>& argnums, const std::vector<array>&) {
  auto f = [&](const std::vector<array>& x) { return layer_norm_vjp_composed(x, eps_, has_weight_); };
  auto all = mica::vjp(f, primals, cotangents).second;
  std::vector<array> r;
  for (int k : argnums) r.push_back(all[k]);
  return r;
}

std::vector<array> LayerNormVjp::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                     const std::vector<int>& argnums) {
  std::vector<array> full;
  for (const auto& x : primals) full.push_back(detail::zeros_like_view(x));
  for (size_t k = 0; k < argnums.size(); ++k) full[argnums[k]] = tangents[k];
  auto f = [&](const std::vector<array>& x) { return layer_norm_vjp_composed(x, eps_, has_weight_); };
  return mica::jvp(f, primals, full).second;
}

std::pair<std::vector<array>, std::vector<int>> LayerNormVjp::vmap(const std::vector<array>& inputs,
                                                                   const std::vector<int>& axes) {
  auto f = [&](const std::vector<array>& x) { return layer_norm_vjp_composed(x, eps_, has_weight_); };
  return {mica::vmap(f, axes, {0, 0, 0})(inputs), {0, 0, 0}};
}

// ---- RMSNormVjp: inputs x, [weight], g; outputs dx, dweight ----
// As LayerNormVjp's, its rules transform the composition of plain ops.
namespace {
std::vector<array> rms_norm_vjp_composed(const std::vector<array>& in, float eps, bool has_weight) {
  const array& x = in[0];
  const array& g = in.back();
  array r = rms_r(x, eps);
  return {rms_dir(x, r, has_weight ? multiply(g, in[1]) : g), sum_leading(multiply(g, multiply(x, r)))};
}
}  // namespace

std::vector<array> RMSNormVjp::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                   const std::vector<int>& argnums, const std::vector<array>&) {
  auto f = [&](const std::vector<array>& x) { return rms_norm_vjp_composed(x, eps_, has_weight_); };
  auto all = mica::vjp(f, primals, cotangents).second;
  std::vector<array> r;
  for (int k : argnums) r.push_back(all[k]);
  return r;
}

std::vector<array> RMSNormVjp::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                   const std::vector<int>& argnums) {
  std::vector<array> full;
  for (const auto& x : primals) full.push_back(detail::zeros_like_view(x));
  for (size_t k = 0; k < argnums.size(); ++k) full[argnums[k]] = tangents[k];
  auto f = [&](const std::vector<array>& x) { return rms_norm_vjp_composed(x, eps_, has_weight_); };
  return mica::jvp(f, primals, full).second;
}

std::pair<std::vector<array>, std::vector<int>> RMSNormVjp::vmap(const std::vector<array>& inputs,
                                                                 const std::vector<int>& axes) {
  auto f = [&](const std::vector<array>& x) { return rms_norm_vjp_composed(x, eps_, has_weight_); };
  return {mica::vmap(f, axes, {0, 0})(inputs), {0, 0}};
}

// GELU: order 0 is x Phi(x), order 1 its derivative Phi(x) + x phi(x), times g when the node
// has a second input g (a Gelu node too, so the backward pass stays one fused pass over x and
// the cotangent); the derivative of order 1, phi(x) (2 - x^2), is written in plain ops (it only
// runs under grad of grad).
namespace {
const double kInvSqrt2Pi = 0.3989422804014327;
array gelu_second_derivative(const array& x) { return exp(square(x) * -0.5) * kInvSqrt2Pi * (2.0 - square(x)); }
// c times the derivative of order `order` at x: one fused node for order 0 when c matches x.
array times_derivative(const array& c, const array& x, int order, Stream s) {
  if (order > 0) return multiply(c, gelu_second_derivative(x));
  if (c.dtype() == x.dtype() && c.shape() == x.shape())
    return array(x.shape(), x.dtype(), std::make_shared<Gelu>(s, 1), {x, c});
  return multiply(c, array(x.shape(), x.dtype(), std::make_shared<Gelu>(s, 1), {x}));
}
}  // namespace

std::vector<array> Gelu::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                             const std::vector<int>& argnums, const std::vector<array>&) {
  const array& c = cotangents[0];
  if (primals.size() == 1) return {times_derivative(c, primals[0], order_, stream())};
  // g gelu'(x): d/dx = c g gelu''(x), d/dg = c gelu'(x).
  std::vector<array> r;
  for (int n : argnums) {
    if (n == 0) r.push_back(times_derivative(multiply(c, primals[1]), primals[0], 1, stream()));
    else r.push_back(times_derivative(c, primals[0], 0, stream()));
  }
  return r;
}

std::vector<array> Gelu::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                             const std::vector<int>& argnums) {
  if (primals.size() == 1) return {times_derivative(tangents[0], primals[0], order_, stream())};
  std::optional<array> r;
  for (size_t i = 0; i < argnums.size(); ++i) {
    array t = argnums[i] == 0 ? times_derivative(multiply(tangents[i], primals[1]), primals[0], 1, stream())
                              : times_derivative(tangents[i], primals[0], 0, stream());
    r = r ? add(*r, t) : t;
  }
  return {*r};
}

std::pair<std::vector<array>, std::vector<int>> Gelu::vmap(const std::vector<array>& inputs,
                                                           const std::vector<int>& axes) {
  if (inputs.size() == 1) {
    const array& x = inputs[0];
    return {{array(x.shape(), x.dtype(), std::make_shared<Gelu>(stream(), order_), {x})}, {axes[0]}};
  }
  if (axes[0] == axes[1]) {
    const array& x = inputs[0];
    return {{array(x.shape(), x.dtype(), std::make_shared<Gelu>(stream(), order_), inputs)}, {axes[0]}};
  }
  // g gelu'(x) with x and g batched along different axes (or one not at all): the composition.
  Stream s = stream();
  auto f = [s](const std::vector<array>& in) {
    return std::vector<array>{multiply(in[1], array(in[0].shape(), in[0].dtype(), std::make_shared<Gelu>(s, 1),
                                                    {in[0]}))};
  };
  return {mica::vmap(f, axes, {0})(inputs), {0}};
}

// AdamStep: every rule transforms the composition of plain ops, which computes the same step,
// so gradients and batching through an optimizer step (meta-learning) work as they do for the
// unfused optimizer.
namespace {
std::vector<array> adam_step_composed(const std::vector<array>& x, double b1, double b2, double eps) {
  const array& coef = x.back();
  array c1 = take(coef, 0), c2 = take(coef, 1), decay = take(coef, 2);
  std::vector<array> out;
  for (size_t i = 0; i + 1 < x.size(); i += 4) {
    const array &p = x[i], &g = x[i + 1], &m = x[i + 2], &v = x[i + 3];
    array m2 = m * b1 + g * (1.0 - b1);
    array v2 = v * b2 + square(g) * (1.0 - b2);
    out.push_back(p * decay - c1 * m2 / (sqrt(v2) * c2 + eps));
    out.push_back(m2);
    out.push_back(v2);
  }
  return out;
}
}  // namespace

std::vector<array> AdamStep::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                 const std::vector<int>& argnums, const std::vector<array>&) {
  auto f = [&](const std::vector<array>& x) { return adam_step_composed(x, beta1_, beta2_, eps_); };
  auto all = mica::vjp(f, primals, cotangents).second;
  std::vector<array> r;
  for (int k : argnums) r.push_back(all[k]);
  return r;
}

std::vector<array> AdamStep::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                 const std::vector<int>& argnums) {
  std::vector<array> full;
  for (const auto& x : primals) full.push_back(detail::zeros_like_view(x));
  for (size_t k = 0; k < argnums.size(); ++k) full[argnums[k]] = tangents[k];
  auto f = [&](const std::vector<array>& x) { return adam_step_composed(x, beta1_, beta2_, eps_); };
  return mica::jvp(f, primals, full).second;
}

std::pair<std::vector<array>, std::vector<int>> AdamStep::vmap(const std::vector<array>& inputs,
                                                               const std::vector<int>& axes) {
  auto f = [&](const std::vector<array>& x) { return adam_step_composed(x, beta1_, beta2_, eps_); };
  const std::vector<int> out_axes((inputs.size() - 1) / 4 * 3, 0);
  return {mica::vmap(f, axes, out_axes)(inputs), out_axes};
}

// ---- CrossEntropy: inputs logits (..., V), targets (...); outputs loss, lse ----
// lse is only read by CrossEntropyVjp (fast::cross_entropy returns the loss alone), whose rules
// recompute it from the logits, so no cotangent ever reaches it: the vjp reads only the loss's.
namespace {
Dtype lse_dtype(Dtype d) { return d == float64 ? float64 : float32; }

// onehot(t) over the last axis of x (V classes), with t read as take_along_axis reads it.
array one_hot_like(const array& x, const array& t) {
  const int64_t v = x.shape().back();
  array idx = expand_dims(detail::clamp_gather_indices(t, v, v - 1), -1);
  return astype(equal(idx, arange(0.0, static_cast<double>(v), idx.dtype())), x.dtype());
}

std::vector<array> cross_entropy_composed(const array& x, const array& t, float s) {
  array lse = logsumexp(x, -1);
  array xt = squeeze(take_along_axis(x, expand_dims(t, -1), -1), -1);
  array loss = subtract(lse, multiply(xt, array(1.0 - s, x.dtype())));
  if (s > 0) loss = subtract(loss, multiply(mean(x, -1), array(static_cast<double>(s), x.dtype())));
  return {astype(loss, lse_dtype(x.dtype())), astype(lse, lse_dtype(x.dtype()))};
}

// g (softmax(x) - (1 - s) onehot(t) - s / V); inputs x, t, lse (unused), g.
array cross_entropy_vjp_composed(const std::vector<array>& in, float s) {
  const array &x = in[0], &t = in[1], &g = in[3];
  const double v = static_cast<double>(x.shape().back());
  array d = subtract(softmax(x, -1, true), multiply(one_hot_like(x, t), array(1.0 - s, x.dtype())));
  if (s > 0) d = subtract(d, array(s / v, x.dtype()));
  return multiply(d, expand_dims(astype(g, x.dtype()), -1));
}

// x and t with their batch axes first (a missing one broadcast in).
std::pair<array, array> batch_first(const array& x, int xa, const array& t, int ta) {
  const int64_t b = xa >= 0 ? x.shape(xa) : t.shape(ta);
  auto front = [b](const array& a, int ax) {
    if (ax >= 0) return moveaxis(a, ax, 0);
    Shape sh = a.shape();
    sh.insert(sh.begin(), b);
    return broadcast_to(expand_dims(a, 0), sh);
  };
  return {front(x, xa), front(t, ta)};
}
}  // namespace

std::vector<array> CrossEntropy::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                     const std::vector<int>& argnums, const std::vector<array>& outputs) {
  const array &x = primals[0], &t = primals[1];
  std::vector<array> r;
  for (int a : argnums) {
    if (a == 0) {
      r.push_back(array(x.shape(), x.dtype(), std::make_shared<CrossEntropyVjp>(stream(), smoothing_),
                        {x, t, outputs[1], cotangents[0]}));
    } else {
      r.push_back(detail::zeros_like_view(t));  // integer class indices
    }
  }
  return r;
}

std::vector<array> CrossEntropy::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                     const std::vector<int>& argnums) {
  std::vector<array> full;
  for (const auto& x : primals) full.push_back(detail::zeros_like_view(x));
  for (size_t k = 0; k < argnums.size(); ++k) full[argnums[k]] = tangents[k];
  auto f = [&](const std::vector<array>& x) { return cross_entropy_composed(x[0], x[1], smoothing_); };
  return mica::jvp(f, primals, full).second;
}

std::pair<std::vector<array>, std::vector<int>> CrossEntropy::vmap(const std::vector<array>& inputs,
                                                                   const std::vector<int>& axes) {
  auto [x, t] = batch_first(inputs[0], axes[0], inputs[1], axes[1]);
  auto outs = array::make_arrays({t.shape(), t.shape()}, {lse_dtype(x.dtype()), lse_dtype(x.dtype())},
                                 std::make_shared<CrossEntropy>(stream(), smoothing_), {x, t});
  return {outs, {0, 0}};
}

// ---- CrossEntropyVjp: inputs logits, targets, lse, g; its rules transform the composition ----
std::vector<array> CrossEntropyVjp::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                        const std::vector<int>& argnums, const std::vector<array>&) {
  auto f = [&](const std::vector<array>& x) { return std::vector<array>{cross_entropy_vjp_composed(x, smoothing_)}; };
  auto all = mica::vjp(f, primals, cotangents).second;
  std::vector<array> r;
  for (int k : argnums) r.push_back(all[k]);
  return r;
}

std::vector<array> CrossEntropyVjp::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                        const std::vector<int>& argnums) {
  std::vector<array> full;
  for (const auto& x : primals) full.push_back(detail::zeros_like_view(x));
  for (size_t k = 0; k < argnums.size(); ++k) full[argnums[k]] = tangents[k];
  auto f = [&](const std::vector<array>& x) { return std::vector<array>{cross_entropy_vjp_composed(x, smoothing_)}; };
  return mica::jvp(f, primals, full).second;
}

std::pair<std::vector<array>, std::vector<int>> CrossEntropyVjp::vmap(const std::vector<array>& inputs,
                                                                      const std::vector<int>& axes) {
  auto f = [&](const std::vector<array>& x) { return std::vector<array>{cross_entropy_vjp_composed(x, smoothing_)}; };
  return {mica::vmap(f, axes, {0})(inputs), {0}};
}

// ---- Rope ----

array Rope::apply(const std::vector<array>& inputs, bool forward) const {
  const array& x = inputs[0];
  return array(x.shape(), x.dtype(),
               std::make_shared<Rope>(stream(), dims_, traditional_, base_, scale_, with_freqs_, forward), inputs);
}

// A rotation is linear in x: the cotangent turns back (the transpose of a rotation is its
// inverse), a tangent turns as x does. The offset is an integer (no gradient); freqs get none.
std::vector<array> Rope::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                             const std::vector<int>& argnums, const std::vector<array>&) {
  std::vector<array> r;
  for (int n : argnums) {
    if (n == 0) {
      std::vector<array> in = primals;
      in[0] = cotangents[0];
      r.push_back(apply(in, !forward_));
    } else if (n == 1) {
      r.push_back(detail::zeros_like_view(primals[1]));
    } else {
      throw std::invalid_argument("[rope] expected gradients with respect to x only, got a request for freqs.");
    }
  }
  return r;
}

std::vector<array> Rope::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                             const std::vector<int>& argnums) {
  for (size_t k = 0; k < argnums.size(); ++k) {
    if (argnums[k] == 0) {
      std::vector<array> in = primals;
      in[0] = tangents[k];
      return {apply(in, forward_)};
    }
    if (argnums[k] == 2) throw std::invalid_argument("[rope] expected tangents of x only, got one of freqs.");
  }
  return {detail::zeros_like_view(primals[0])};
}

// The offset applies along x's first axis, so the mapped axis goes where it keeps that meaning:
// in front for a scalar offset, second for one offset per entry; a mapped offset becomes one
// offset per entry of the (flattened) leading axes.
std::pair<std::vector<array>, std::vector<int>> Rope::vmap(const std::vector<array>& inputs,
                                                           const std::vector<int>& axes) {
  if (inputs.size() > 2 && axes[2] >= 0) throw std::invalid_argument("[rope] expected unmapped freqs under vmap.");
  std::vector<array> in = inputs;
  const array& off = inputs[1];
  if (axes[1] < 0) {
    const int to = off.ndim() == 0 ? 0 : 1;
    in[0] = moveaxis(inputs[0], axes[0], to);
    return {{apply(in, forward_)}, {to}};
  }
  array o = moveaxis(off, axes[1], 0);  // (V,) or (V, B)
  const int V = o.shape(0);
  array x = inputs[0];
  if (axes[0] < 0) {
    Shape sh = x.shape();
    sh.insert(sh.begin(), V);
    x = broadcast_to(expand_dims(x, 0), sh);
  } else {
    x = moveaxis(x, axes[0], 0);
  }
  if (o.ndim() == 1) {
    in[0] = x;
    in[1] = o;
    return {{apply(in, forward_)}, {0}};
  }
  Shape flat(x.shape().begin() + 1, x.shape().end());
  flat[0] *= V;
  in[0] = reshape(x, flat);
  in[1] = flatten(o);
  return {{reshape(apply(in, forward_), x.shape())}, {0}};
}

}  // namespace mica
