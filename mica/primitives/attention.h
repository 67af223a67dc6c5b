// Fused attention primitives behind mica::fast::scaled_dot_product_attention.
#pragma once
#include "mica/primitives/primitive.h"

namespace mica {

/** The parameters both attention nodes carry: the scale, causal masking, and whether a mask and
 *  sinks follow q, k, v among the inputs. */
class AttentionPrimitive : public Primitive {
 public:
  AttentionPrimitive(Stream s, float scale, bool causal, bool has_mask, bool has_sinks)
      : Primitive(s), scale_(scale), causal_(causal), has_mask_(has_mask), has_sinks_(has_sinks) {}
  float scale() const { return scale_; }
  bool causal() const { return causal_; }
  bool has_mask() const { return has_mask_; }
  bool has_sinks() const { return has_sinks_; }

 protected:
  bool same_params(const AttentionPrimitive& o) const {
    return o.scale_ == scale_ && o.causal_ == causal_ && o.has_mask_ == has_mask_ && o.has_sinks_ == has_sinks_;
  }
  float scale_;
  bool causal_, has_mask_, has_sinks_;
};

/** Scaled dot-product attention in one tiled pass (the (L_q, L_kv) score matrix is never formed).
 *  Inputs: q (B, N_q, L_q, D), k (B, N_kv, L_kv, D), v (B, N_kv, L_kv, D_v) of one floating
 *  dtype, then [mask] (4-D, each dim 1 or the full size of (B, N_q, L_q, L_kv); bool keeps the
 *  true positions, otherwise of q's dtype and added to the scores) and [sinks] ((N_q,), q's
 *  dtype). Query head h reads kv head h / (N_q / N_kv). Outputs: out (B, N_q, L_q, D_v) in q's
 *  dtype and the row log-sum-exp of the (masked, sink-extended) scores (B, N_q, L_q) in float32
 *  (float64 for float64 inputs), kept for the backward pass. Causal: query i sees keys
 *  j <= i + L_kv - L_q (lower-right aligned, as MLX); masked positions score finfo(dtype).min, so
 *  a row with nothing to see averages all values, as MLX's composition does. */
class ScaledDotProductAttention : public AttentionPrimitive {
 public:
  using AttentionPrimitive::AttentionPrimitive;
  MICA_DEFINE_PRIMITIVE_MEMBERS(ScaledDotProductAttention) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* r = dynamic_cast<const ScaledDotProductAttention*>(&o);
    return r && same_params(*r);
  }
};

/** The backward pass of ScaledDotProductAttention, flash-attention-2 style (scores recomputed
 *  from the saved log-sum-exp). Inputs: q, k, v, out, lse, then the cotangents dout and dlse of
 *  the two outputs, then [mask] and [sinks] as the forward's. Outputs: dq, dk, dv (shapes and
 *  dtypes of q, k, v) and, with sinks, dsinks ((N_q,)). The mask gets no cotangent. */
class ScaledDotProductAttentionVjp : public AttentionPrimitive {
 public:
  using AttentionPrimitive::AttentionPrimitive;
  MICA_DEFINE_PRIMITIVE_MEMBERS(ScaledDotProductAttentionVjp) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* r = dynamic_cast<const ScaledDotProductAttentionVjp*>(&o);
    return r && same_params(*r);
  }
};

namespace detail {
/** softmax(q k^T * scale + mask) v in plain ops, on ScaledDotProductAttention's inputs (mask 4-D,
 *  sinks (N_q,)); returns {out, lse} as its outputs. Its transform rules use it, and the op on
 *  a GPU stream where cuDNN does not take the case. */
std::vector<array> sdpa_composed(const array& q, const array& k, const array& v, const array* mask,
                                 const array* sinks, float scale, bool causal);
}  // namespace detail

}  // namespace mica
