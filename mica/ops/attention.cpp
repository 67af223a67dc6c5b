// mica::fast::scaled_dot_product_attention: validation and promotion as MLX's, then one
// ScaledDotProductAttention node (primitives/attention.h).
#include <string>

#include "mica/autocast.h"
#include "mica/backend/gpu_info.h"
#include "mica/fast.h"
#include "mica/ops.h"
#include "mica/ops/utils.h"
#include "mica/primitives/attention.h"

namespace mica::fast {

namespace {
constexpr const char* kOp = "scaled_dot_product_attention";

std::string dims_str(const array& a) { return detail::shape_str(a.shape()); }
}  // namespace

array scaled_dot_product_attention(const array& queries, const array& keys, const array& values, float scale,
                                   const std::string& mask_mode, const std::optional<array>& mask,
                                   const std::optional<array>& sinks, StreamOrDevice s) {
  const char* names[] = {"queries", "keys", "values"};
  const array* qkv[] = {&queries, &keys, &values};
  for (int i = 0; i < 3; ++i) {
    if (qkv[i]->ndim() != 4) {
      detail::fail(kOp, std::string("expected 4-D ") + names[i] + " (B, N, L, D), got shape " + dims_str(*qkv[i]) + ".");
    }
  }
  if (mask_mode != "" && mask_mode != "array" && mask_mode != "causal") {
    detail::fail(kOp, "expected mask_mode \"\", \"array\" or \"causal\", got \"" + mask_mode + "\".");
  }
  const bool causal = mask_mode == "causal";
  if (causal && mask) detail::fail(kOp, "expected no mask array with mask_mode \"causal\", got one.");
  if (mask_mode == "array" && !mask) detail::fail(kOp, "expected a mask array with mask_mode \"array\", got none.");
  const int B = queries.shape(0), nq = queries.shape(1), lq = queries.shape(2);
  const int nkv = keys.shape(1), lkv = keys.shape(2);
  if (keys.shape(0) != B || values.shape(0) != B) {
    detail::fail(kOp, "expected queries, keys and values with the same batch size, got shapes " + dims_str(queries) +
                          ", " + dims_str(keys) + " and " + dims_str(values) + ".");
  }
  if (keys.shape(3) != queries.shape(3)) {
    detail::fail(kOp, "expected keys with the head dimension of the queries (" + std::to_string(queries.shape(3)) +
                          "), got shape " + dims_str(keys) + ".");
  }
  if (values.shape(1) != nkv || values.shape(2) != lkv) {
    detail::fail(kOp, "expected values with the heads and length of the keys (" + std::to_string(nkv) + ", " +
                          std::to_string(lkv) + "), got shape " + dims_str(values) + ".");
  }
  if (nkv == 0 ? nq != 0 : nq % nkv != 0) {
    detail::fail(kOp, "expected a number of query heads that is a multiple of the key/value heads (" +
                          std::to_string(nkv) + "), got " + std::to_string(nq) + ".");
  }
  const Dtype dt =
      detail::autocast_product_type(promote_types(promote_types(queries.dtype(), keys.dtype()), values.dtype()));
  if (!issubdtype(dt, floating)) {
    detail::fail(kOp, "expected floating queries, keys and values, got " + dtype_to_string(dt) + ".");
  }
  const Stream st = to_stream(s);
  std::vector<array> inputs{astype(queries, dt, st), astype(keys, dt, st), astype(values, dt, st)};
  if (mask) {
    if (mask->ndim() > 4) detail::fail(kOp, "expected a mask of at most 4 dimensions, got shape " + dims_str(*mask) + ".");
    const Shape full{B, nq, lq, lkv};
    Shape m4(4 - mask->ndim(), 1);
    m4.insert(m4.end(), mask->shape().begin(), mask->shape().end());
    for (int i = 0; i < 4; ++i) {
      if (m4[i] != 1 && m4[i] != full[i]) {
        detail::fail(kOp, "expected a mask broadcastable to (B, N_q, L_q, L_kv) = " + detail::shape_str(full) +
                              ", got shape " + dims_str(*mask) + ".");
      }
    }
    if (mask->dtype() != bool_ && promote_types(mask->dtype(), dt) != dt) {
      detail::fail(kOp, "expected a bool mask or one whose dtype promotes to " + dtype_to_string(dt) + ", got " +
                            dtype_to_string(mask->dtype()) + ".");
    }
    // The mask is a constant of the op (no gradient), kept at its own size: the kernel broadcasts.
    array m = mask->dtype() == bool_ ? *mask : astype(*mask, dt, st);
    inputs.push_back(stop_gradient(reshape(m, m4, st), st));
  }
  if (sinks) {
    if (sinks->ndim() != 1 || sinks->shape(0) != nq) {
      detail::fail(kOp, "expected sinks of shape (" + std::to_string(nq) + ",) (one per query head), got shape " +
                            dims_str(*sinks) + ".");
    }
    if (promote_types(sinks->dtype(), dt) != dt) {
      detail::fail(kOp, "expected sinks whose dtype promotes to " + dtype_to_string(dt) + ", got " +
                            dtype_to_string(sinks->dtype()) + ".");
    }
    inputs.push_back(astype(*sinks, dt, st));
  }
  // On a GPU stream the fused node runs through cuDNN where cuDNN takes the case (float16 or
  // bfloat16, its head sizes, no sinks; backend/cuda/cudnn/attention.cpp); elsewhere the
  // composition runs on the GPU's own kernels, as MLX falls back where it has no fused kernel,
  // rather than the CPU kernel with copies both ways in the middle of a training step.
  // (Empty problems go to the node, whose CPU kernel defines them.)
  const bool empty = B == 0 || nq == 0 || lq == 0 || lkv == 0 || queries.shape(3) == 0 || values.shape(3) == 0;
  if (st.device.type == Device::gpu && !empty) {
    gpu::AttentionCase c{dt == bfloat16, B, nq, nkv, lq, lkv, queries.shape(3), values.shape(3), causal, scale};
    if (mask) {
      c.mask_batch = inputs[3].shape(0);
      c.mask_heads = inputs[3].shape(1);
    }
    // A bool mask stays with the composition: a row it masks entirely averages the values
    // (finfo.min scores), and cuDNN's backward cannot recompute that row's probabilities from its
    // log-sum-exp (finfo.min + log(L_kv) is not a float32), so its gradients would be wrong.
    const bool bool_mask = mask && mask->dtype() == bool_;
    const bool fused = (dt == float16 || dt == bfloat16) && !sinks && !bool_mask && (!causal || lq <= lkv) &&
                       gpu::fused_attention_supported(c);
    if (!fused) {
      return detail::sdpa_composed(inputs[0], inputs[1], inputs[2], mask ? &inputs[3] : nullptr,
                                   sinks ? &inputs.back() : nullptr, scale, causal)[0];
    }
    if (mask) {
      // cuDNN adds a bias of the mask's batch and heads over the full (L_q, L_kv).
      array& m = inputs[3];
      m = contiguous(broadcast_to(m, {m.shape(0), m.shape(1), lq, lkv}, st), false, st);
    }
  }
  const Dtype lse_type = dt == float64 ? float64 : float32;
  return array::make_arrays({{B, nq, lq, values.shape(3)}, {B, nq, lq}}, {dt, lse_type},
                            std::make_shared<ScaledDotProductAttention>(st, scale, causal, mask.has_value(),
                                                                        sinks.has_value()),
                            std::move(inputs))[0];
}

}  // namespace mica::fast
