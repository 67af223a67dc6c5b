// Transform rules of the attention family. The forward's vjp is one fused node
// (ScaledDotProductAttentionVjp), as LayerNorm's; its jvp transforms the composition of plain ops
// (sdpa_composed); its vmap folds the mapped axis into the batch axis and stays fused (the
// composition when the sinks are mapped: they are per head, not per batch). The Vjp node's own
// rules transform the vjp of the composition, as LayerNormVjp's do. The mask is a constant
// (stop_gradient): it gets no cotangent and no tangent. (MLX's fused GPU backward refuses a mask
// cotangent; its CPU path, the composition, would give one.) Sinks get theirs, as in MLX's CPU.
#include "mica/primitives/attention.h"

#include <algorithm>

#include "mica/ops.h"
#include "mica/primitives/rules.h"
#include "mica/transforms.h"

namespace mica {

namespace detail {
std::vector<array> sdpa_composed(const array& q, const array& k, const array& v, const array* mask,
                                 const array* sinks, float scale, bool causal) {
  const Dtype dt = q.dtype();
  const Dtype c = dt == float64 ? float64 : float32;  // the softmax runs in float32 at least
  const int B = q.shape(0), nq = q.shape(1), lq = q.shape(2), d = q.shape(3);
  const int nkv = k.shape(1), lkv = k.shape(2), dv = v.shape(3);
  const int r = nkv > 0 ? nq / nkv : 1;
  // Grouped heads: q (B, N_kv, r, L_q, D) against k, v (B, N_kv, 1, L_kv, .).
  array qc = reshape(astype(q, c), {B, nkv, r, lq, d});
  array kc = expand_dims(astype(k, c), 2);
  array vc = expand_dims(astype(v, c), 2);
  array s = multiply(matmul(qc, swapaxes(kc, -1, -2)), array(static_cast<double>(scale), c));
  std::optional<array> visible;
  if (causal) {
    // Lower-right aligned: query i sees keys j <= i + L_kv - L_q.
    visible = greater_equal(expand_dims(add(arange(lq), array(lkv - lq)), 1), expand_dims(arange(lkv), 0));
  }
  if (mask) {
    array m = stop_gradient(*mask);  // (mb, 1 | N_q, mq, mk)
    m = m.shape(1) == 1 ? expand_dims(m, 2) : reshape(m, {m.shape(0), nkv, r, m.shape(2), m.shape(3)});
    if (m.dtype() == bool_) visible = m;
    else s = add(s, astype(m, c));
  }
  if (visible) s = where(*visible, s, array(finfo(dt).min, c));
  array full = s;
  if (sinks) {
    Shape col = s.shape();
    col.back() = 1;
    full = concatenate({broadcast_to(reshape(astype(*sinks, c), {1, nkv, r, 1, 1}), col), s}, -1);
  }
  array lse = logsumexp(full, -1);
  array p = softmax(full, -1, true);
  if (sinks) {
    Shape start(p.ndim(), 0);
    start.back() = 1;
    p = slice(p, start, p.shape());
  }
  array out = reshape(matmul(p, vc), {B, nq, lq, dv});
  return {astype(out, dt), reshape(lse, {B, nq, lq})};
}
}  // namespace detail

namespace {
using detail::sdpa_composed;

// Indices of the Vjp node's inputs other than the mask (q, k, v, out, lse, dout, dlse, [sinks]).
std::vector<int> vjp_node_diff_inputs(size_t n, bool has_mask) {
  std::vector<int> idx;
  for (int i = 0; i < static_cast<int>(n); ++i) {
    if (!(has_mask && i == 7)) idx.push_back(i);
  }
  return idx;
}
}  // namespace

// ---- ScaledDotProductAttention: inputs q, k, v, [mask], [sinks]; outputs out, lse ----
std::vector<array> ScaledDotProductAttention::vjp(const std::vector<array>& primals,
                                                  const std::vector<array>& cotangents,
                                                  const std::vector<int>& argnums, const std::vector<array>& outputs) {
  const array &q = primals[0], &k = primals[1], &v = primals[2];
  std::vector<array> in{q, k, v, outputs[0], outputs[1], cotangents[0], cotangents[1]};
  if (has_mask_) in.push_back(primals[3]);
  if (has_sinks_) in.push_back(primals.back());
  std::vector<Shape> shapes{q.shape(), k.shape(), v.shape()};
  std::vector<Dtype> dtypes{q.dtype(), k.dtype(), v.dtype()};
  if (has_sinks_) {
    shapes.push_back(primals.back().shape());
    dtypes.push_back(primals.back().dtype());
  }
  auto outs = array::make_arrays(
      std::move(shapes), dtypes,
      std::make_shared<ScaledDotProductAttentionVjp>(stream(), scale_, causal_, has_mask_, has_sinks_), in);
  const int sinks_at = has_sinks_ ? static_cast<int>(primals.size()) - 1 : -1;
  std::vector<array> r;
  for (int a : argnums) {
    if (a < 3) r.push_back(outs[a]);
    else if (a == sinks_at) r.push_back(outs[3]);
    else r.push_back(detail::zeros_like_view(primals[a]));  // the mask
  }
  return r;
}

std::vector<array> ScaledDotProductAttention::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                                  const std::vector<int>& argnums) {
  // The differentiable inputs: q, k, v and [sinks]; the mask is captured as a constant.
  std::vector<int> idx{0, 1, 2};
  if (has_sinks_) idx.push_back(static_cast<int>(primals.size()) - 1);
  const array* mask = has_mask_ ? &primals[3] : nullptr;
  std::vector<array> prim, tan;
  for (int i : idx) {
    prim.push_back(primals[i]);
    const array* t = detail::tangent_of(tangents, argnums, i);
    tan.push_back(t ? *t : detail::zeros_like_view(primals[i]));
  }
  auto f = [&](const std::vector<array>& x) {
    return sdpa_composed(x[0], x[1], x[2], mask, has_sinks_ ? &x[3] : nullptr, scale_, causal_);
  };
  return mica::jvp(f, prim, tan).second;
}

std::pair<std::vector<array>, std::vector<int>> ScaledDotProductAttention::vmap(const std::vector<array>& inputs,
                                                                                const std::vector<int>& axes) {
  const int nb = detail::batch_size(inputs, axes);
  if (has_sinks_ && axes.back() >= 0) {
    auto f = [&](const std::vector<array>& x) {
      return sdpa_composed(x[0], x[1], x[2], has_mask_ ? &x[3] : nullptr, &x.back(), scale_, causal_);
    };
    return {mica::vmap(f, axes, {0, 0})(inputs), {0, 0}};
  }
  // Fold the mapped axis into the batch axis: (nb, B, ...) -> (nb * B, ...).
  const int B = axes[0] == 0 ? inputs[0].shape(1) : inputs[0].shape(0);  // q's batch per example
  auto fold = [&](const array& x, int ax, int rows) {
    array f = detail::batched_front(x, ax, nb);  // (nb, b, ...)
    Shape full = f.shape();
    full[1] = rows;
    f = broadcast_to(f, full);
    Shape s(full.begin() + 1, full.end());
    s[0] *= nb;
    return reshape(f, s);
  };
  std::vector<array> in;
  for (int i = 0; i < 3; ++i) in.push_back(fold(inputs[i], axes[i], B));
  if (has_mask_) {
    const array& m = inputs[3];
    // An unmapped mask that broadcasts over the batch stays as it is.
    in.push_back(axes[3] < 0 && m.shape(0) == 1 ? m : fold(m, axes[3], B));
  }
  if (has_sinks_) in.push_back(inputs.back());
  const array& q = in[0];
  Shape out_shape{q.shape(0), q.shape(1), q.shape(2), in[2].shape(3)};
  Dtype lse_type = q.dtype() == float64 ? float64 : float32;
  auto outs = array::make_arrays(
      {out_shape, {q.shape(0), q.shape(1), q.shape(2)}}, {q.dtype(), lse_type},
      std::make_shared<ScaledDotProductAttention>(stream(), scale_, causal_, has_mask_, has_sinks_), in);
  auto unfold = [&](const array& x) {
    Shape s = x.shape();
    s[0] = B;
    s.insert(s.begin(), nb);
    return reshape(x, s);
  };
  return {{unfold(outs[0]), unfold(outs[1])}, {0, 0}};
}

// ---- ScaledDotProductAttentionVjp: inputs q, k, v, out, lse, dout, dlse, [mask], [sinks] ----
namespace {
// The node's outputs from the vjp of the composition (out and lse are recomputed from q, k, v).
std::vector<array> sdpa_vjp_composed(const std::vector<array>& in, float scale, bool causal, bool has_mask,
                                     bool has_sinks) {
  const array* mask = has_mask ? &in[7] : nullptr;
  std::vector<array> prim{in[0], in[1], in[2]};
  if (has_sinks) prim.push_back(in.back());
  auto f = [&](const std::vector<array>& x) {
    return sdpa_composed(x[0], x[1], x[2], mask, has_sinks ? &x[3] : nullptr, scale, causal);
  };
  return mica::vjp(f, prim, {in[5], in[6]}).second;
}
}  // namespace

std::vector<array> ScaledDotProductAttentionVjp::vjp(const std::vector<array>& primals,
                                                     const std::vector<array>& cotangents,
                                                     const std::vector<int>& argnums, const std::vector<array>&) {
  const auto idx = vjp_node_diff_inputs(primals.size(), has_mask_);
  std::vector<array> prim;
  for (int i : idx) prim.push_back(primals[i]);
  auto g = [&](const std::vector<array>& x) {
    std::vector<array> all = primals;
    for (size_t j = 0; j < idx.size(); ++j) all[idx[j]] = x[j];
    return sdpa_vjp_composed(all, scale_, causal_, has_mask_, has_sinks_);
  };
  auto grads = mica::vjp(g, prim, cotangents).second;
  std::vector<array> r;
  for (int a : argnums) {
    auto it = std::find(idx.begin(), idx.end(), a);
    r.push_back(it == idx.end() ? detail::zeros_like_view(primals[a]) : grads[it - idx.begin()]);
  }
  return r;
}

std::vector<array> ScaledDotProductAttentionVjp::jvp(const std::vector<array>& primals,
                                                     const std::vector<array>& tangents,
                                                     const std::vector<int>& argnums) {
  const auto idx = vjp_node_diff_inputs(primals.size(), has_mask_);
  std::vector<array> prim, tan;
  for (int i : idx) {
    prim.push_back(primals[i]);
    const array* t = detail::tangent_of(tangents, argnums, i);
    tan.push_back(t ? *t : detail::zeros_like_view(primals[i]));
  }
  auto g = [&](const std::vector<array>& x) {
    std::vector<array> all = primals;
    for (size_t j = 0; j < idx.size(); ++j) all[idx[j]] = x[j];
    return sdpa_vjp_composed(all, scale_, causal_, has_mask_, has_sinks_);
  };
  return mica::jvp(g, prim, tan).second;
}

std::pair<std::vector<array>, std::vector<int>> ScaledDotProductAttentionVjp::vmap(const std::vector<array>& inputs,
                                                                                   const std::vector<int>& axes) {
  auto g = [&](const std::vector<array>& x) { return sdpa_vjp_composed(x, scale_, causal_, has_mask_, has_sinks_); };
  std::vector<int> out_axes(has_sinks_ ? 4 : 3, 0);
  return {mica::vmap(g, axes, out_axes)(inputs), out_axes};
}

}  // namespace mica
