// mica::fast: fused ops (layer_norm, rms_norm, rope, scaled_dot_product_attention), as MLX's mx.fast.
#pragma once
#include <optional>
#include <string>

#include "mica/array.h"

namespace mica::fast {

/** (x - mean) / sqrt(var + eps) * weight + bias over the last axis; weight and bias are 1-D of
 * the last axis' size (either may be absent). The result dtype promotes x, weight and bias. */
array layer_norm(const array& x, const std::optional<array>& weight, const std::optional<array>& bias, float eps,
                 StreamOrDevice s = {});

/** x / sqrt(mean(x^2) + eps) * weight over the last axis; weight is 1-D (or absent). */
/** GELU with the exact normal CDF, x (1 + erf(x / sqrt 2)) / 2, fused (mica's addition: MLX
 *  compiles nn.gelu instead); integer inputs are computed in float32. */
array gelu(const array& x, StreamOrDevice s = {});
/** One fused Adam step (mica's addition, used by optim::Adam and AdamW): returns {p', m', v'}
 *  with m' = beta1 m + (1 - beta1) g, v' = beta2 v + (1 - beta2) g^2 and
 *  p' = p * coef[2] - coef[0] * m' / (sqrt(v') * coef[1] + eps). p, g, m and v share one shape
 *  and dtype (float32 or float64); coef has shape (3,). */
std::vector<array> adam_step(const array& p, const array& g, const array& m, const array& v, const array& coef,
                             double beta1, double beta2, double eps, StreamOrDevice s = {});
/** adam_step of several parameters as one node (one pass over each; on the GPU one launch per 48
 *  parameters): p[i], g[i], m[i], v[i] share a shape, and every array one dtype (float32 or
 *  float64). Returns p'_0, m'_0, v'_0, p'_1, ... */
std::vector<array> adam_step(const std::vector<array>& p, const std::vector<array>& g, const std::vector<array>& m,
                             const std::vector<array>& v, const array& coef, double beta1, double beta2, double eps,
                             StreamOrDevice s = {});
array rms_norm(const array& x, const std::optional<array>& weight, float eps, StreamOrDevice s = {});

/** Cross-entropy of each row of `logits` (last axis, V classes) against the class indices
 *  `targets` (shape logits.shape[:-1], any integer dtype), with label smoothing s in [0, 1):
 *  lse(x) - (1 - s) x[t] - s mean(x), one value per row, computed in float32 and returned in the
 *  logits' dtype (in float32 inside an Autocast scope, as PyTorch's autocast) (mica's addition,
 *  behind nn::losses::cross_entropy). One pass over the logits forward and one backward, with
 *  no softmax or one-hot array in between. Targets outside [0, V) are read as take_along_axis
 *  reads them (a negative one counts from the end once, then it is clamped). */
array cross_entropy(const array& logits, const array& targets, float label_smoothing = 0.0f, StreamOrDevice s = {});

/** Rotary positional encoding, as MLX's mx.fast.rope: x (..., L, D) (at least 3 dims, floating)
 *  with the first `dims` features (even, 0 < dims <= D) rotated in pairs, (x[2i], x[2i+1]) when
 *  `traditional`, else (x[i], x[i + dims/2]); the rest pass through. Pair i at position p
 *  (offset + l along the L axis) turns by p scale base^(-2i/dims), or by p scale / freqs[i] when
 *  `freqs` (dims/2,) is given instead of `base` (exactly one of the two). `offset`: an integer,
 *  or an integer array that is a scalar or a vector of x.shape(0) (one offset per entry of the
 *  first axis). Computed in float32 (float64 for float64), returned in x's dtype. */
array rope(const array& x, int dims, bool traditional, std::optional<float> base, float scale, int offset,
           const std::optional<array>& freqs = std::nullopt, StreamOrDevice s = {});
array rope(const array& x, int dims, bool traditional, std::optional<float> base, float scale, const array& offset,
           const std::optional<array>& freqs = std::nullopt, StreamOrDevice s = {});

/** The gated delta rule (a linear-attention recurrence; MLX's fast::gated_delta_update):
 * q, k (B, T, Hk, Dk); v (B, T, Hv, Dv) with Hv a multiple of Hk; gamma (decay, linear space) and
 * beta (update rate) (B, T, Hv); state (B, Hv, Dv, Dk), zeros when not given; mask (B, T)
 * (false steps leave the state as it is). Per step t and head h, with S the state:
 * S = gamma_t S; S += beta_t (v_t - S k_t) k_t^T; y_t = S q_t. Returns {y (B, T, Hv, Dv), the
 * final state}. */
std::vector<array> gated_delta_update(const array& q, const array& k, const array& v, const array& gamma,
                                      const array& beta, const std::optional<array>& initial_state = std::nullopt,
                                      const std::optional<array>& mask = std::nullopt, StreamOrDevice s = {});

/** softmax(queries keys^T * scale + mask) values, fused (no (L_q, L_kv) score matrix; on a GPU
 *  stream cuDNN's flash attention for float16 and bfloat16 where cuDNN takes the case, else the
 *  composition of plain ops on the GPU), as MLX's
 *  mx.fast.scaled_dot_product_attention. queries (B, N_q, L_q, D), keys (B, N_kv, L_kv, D),
 *  values (B, N_kv, L_kv, D_v) -> (B, N_q, L_q, D_v) in their promoted (floating) dtype; the
 *  softmax runs in float32 (float64 for float64). N_q is a multiple of N_kv (grouped-query
 *  attention: query head h uses kv head h / (N_q / N_kv)). mask_mode is "" or "array" (no mask,
 *  or the `mask` array) or "causal" (query i sees keys j <= i + L_kv - L_q: lower-right aligned;
 *  no `mask` then). `mask`: at most 4-D, broadcastable to (B, N_q, L_q, L_kv); bool keeps the
 *  true positions (a row with none averages all values, as MLX), any other dtype must promote
 *  to the result dtype and is added to the scores. `sinks`: (N_q,) per-head logits that join
 *  the softmax denominator only. Gradients flow to queries, keys, values and sinks, not to the
 *  mask. */
array scaled_dot_product_attention(const array& queries, const array& keys, const array& values, float scale,
                                   const std::string& mask_mode = "", const std::optional<array>& mask = std::nullopt,
                                   const std::optional<array>& sinks = std::nullopt, StreamOrDevice s = {});

}  // namespace mica::fast
