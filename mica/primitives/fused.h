// Fused primitives behind mica::fast; each op also has a composition of plain ops.
#pragma once
#include "mica/primitives/primitive.h"

namespace mica {

/** Layer norm over the last axis: inputs x, then weight and bias when present (1-D, the size
 * of x's last axis); all inputs share x's floating dtype. */
class LayerNorm : public UnaryPrimitive {
 public:
  LayerNorm(Stream s, float eps, bool has_weight, bool has_bias)
      : UnaryPrimitive(s), eps_(eps), has_weight_(has_weight), has_bias_(has_bias) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(LayerNorm) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* r = dynamic_cast<const LayerNorm*>(&o);
    return r && r->eps_ == eps_ && r->has_weight_ == has_weight_ && r->has_bias_ == has_bias_;
  }
  float eps() const { return eps_; }
  bool has_weight() const { return has_weight_; }
  bool has_bias() const { return has_bias_; }

 private:
  float eps_;
  bool has_weight_, has_bias_;
};

/** LayerNorm's backward pass in one kernel: inputs x, [weight], then the cotangent g of the
 *  output; outputs the cotangents of x (x's shape), of the weight and of the bias ((n,) each,
 *  summed over the leading axes). The composition of plain ops takes ~17 passes over x. */
class LayerNormVjp : public Primitive {
 public:
  LayerNormVjp(Stream s, float eps, bool has_weight) : Primitive(s), eps_(eps), has_weight_(has_weight) {}
  MICA_DEFINE_PRIMITIVE_MEMBERS(LayerNormVjp) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* r = dynamic_cast<const LayerNormVjp*>(&o);
    return r && r->eps_ == eps_ && r->has_weight_ == has_weight_;
  }
  float eps() const { return eps_; }
  bool has_weight() const { return has_weight_; }

 private:
  float eps_;
  bool has_weight_;
};

/** RMS norm over the last axis: inputs x and (optionally) a 1-D weight of x's dtype. */
class RMSNorm : public UnaryPrimitive {
 public:
  RMSNorm(Stream s, float eps, bool has_weight) : UnaryPrimitive(s), eps_(eps), has_weight_(has_weight) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(RMSNorm) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* r = dynamic_cast<const RMSNorm*>(&o);
    return r && r->eps_ == eps_ && r->has_weight_ == has_weight_;
  }
  float eps() const { return eps_; }
  bool has_weight() const { return has_weight_; }

 private:
  float eps_;
  bool has_weight_;
};

/** RMSNorm's backward pass in one kernel: inputs x, [weight], then the cotangent g of the
 *  output; outputs the cotangents of x (x's shape) and of the weight ((n,), summed over the
 *  leading axes; computed for a unit weight when there is none). */
class RMSNormVjp : public Primitive {
 public:
  RMSNormVjp(Stream s, float eps, bool has_weight) : Primitive(s), eps_(eps), has_weight_(has_weight) {}
  MICA_DEFINE_PRIMITIVE_MEMBERS(RMSNormVjp) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* r = dynamic_cast<const RMSNormVjp*>(&o);
    return r && r->eps_ == eps_ && r->has_weight_ == has_weight_;
  }
  float eps() const { return eps_; }
  bool has_weight() const { return has_weight_; }

 private:
  float eps_;
  bool has_weight_;
};

/** GELU with the exact normal CDF, x Phi(x), when order is 0; its derivative
 *  Phi(x) + x phi(x) when order is 1, times a second input g of x's shape and dtype when there
 *  is one (inputs {x, g}: the backward pass of order 0, g the cotangent). One elementwise pass
 *  where the composition x * (1 + erf(x / sqrt 2)) / 2 takes five, and its gradient ten. */
class Gelu : public UnaryPrimitive {
 public:
  Gelu(Stream s, int order) : UnaryPrimitive(s), order_(order) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Gelu) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* r = dynamic_cast<const Gelu*>(&o);
    return r && r->order_ == order_;
  }
  int order() const { return order_; }

 private:
  int order_;
};

/** Rotary positional encoding (fast::rope) in one pass: inputs x (..., L, D) floating, offset
 *  (int32, a scalar or one per entry of x's first axis) and, when `with_freqs`, freqs (dims/2,)
 *  in x's compute type (float32, float64 for float64); output x's shape and dtype. Pair i of the
 *  first `dims` features (x[2i], x[2i+1] when traditional, else x[i], x[i + dims/2]) at position
 *  p = offset + l turns by p scale base^(-i / (dims/2)) (computed as exp(i (-ln(base) / (dims/2))))
 *  or by p scale / freqs[i]; `forward` false turns the other way (the backward pass). */
class Rope : public UnaryPrimitive {
 public:
  Rope(Stream s, int dims, bool traditional, float base, float scale, bool with_freqs, bool forward)
      : UnaryPrimitive(s),
        dims_(dims),
        traditional_(traditional),
        base_(base),
        scale_(scale),
        with_freqs_(with_freqs),
        forward_(forward) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Rope) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* r = dynamic_cast<const Rope*>(&o);
    return r && r->dims_ == dims_ && r->traditional_ == traditional_ && r->base_ == base_ &&
           r->scale_ == scale_ && r->with_freqs_ == with_freqs_ && r->forward_ == forward_;
  }
  int dims() const { return dims_; }
  /** The same rotation, with forward as given, over these inputs (x, offset[, freqs]). */
  array apply(const std::vector<array>& inputs, bool forward) const;

 private:
  int dims_;
  bool traditional_;
  float base_, scale_;
  bool with_freqs_, forward_;
};

/** One Adam step of N parameters in a single pass over each: inputs p_i, g_i, m_i, v_i for
 *  i < N (each group of one shape, all of one dtype, float32 or float64), then coef = [c1, c2,
 *  decay] (that dtype, shape (3,)); outputs (p'_i, m'_i, v'_i) for each i, with
 *    m' = b1 m + (1 - b1) g,   v' = b2 v + (1 - b2) g^2,
 *    p' = p decay - c1 m' / (sqrt(v') c2 + eps).
 *  The composition of plain ops takes fourteen passes over a parameter; the GPU kernel updates
 *  up to 48 parameters per launch. */
class AdamStep : public Primitive {
 public:
  AdamStep(Stream s, double beta1, double beta2, double eps) : Primitive(s), beta1_(beta1), beta2_(beta2), eps_(eps) {}
  MICA_DEFINE_PRIMITIVE_MEMBERS(AdamStep) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* r = dynamic_cast<const AdamStep*>(&o);
    return r && r->beta1_ == beta1_ && r->beta2_ == beta2_ && r->eps_ == eps_;
  }
  double beta1() const { return beta1_; }
  double beta2() const { return beta2_; }
  double eps() const { return eps_; }
  /** p', m' and v' take over p, m and v when nothing else holds them (an update in place). */
  bool outputs_may_take_inputs() const override { return true; }

 private:
  double beta1_, beta2_, eps_;
};

/** Cross-entropy of each row of logits (last axis) against a class index, with label smoothing
 *  s: inputs logits (..., V) (floating) and targets (...) (any integer dtype); outputs the loss
 *  lse(x) - (1 - s) x[t] - s mean(x) and lse(x), which the backward pass reads, both in float32
 *  (float64 for float64 logits; fast::cross_entropy rounds the loss to the logits' dtype outside
 *  an Autocast scope). A target outside [0, V) is read as
 *  take_along_axis reads it: a negative one counts from the end once, then it is clamped. One
 *  read of the logits where the composition of plain ops takes four. */
class CrossEntropy : public Primitive {
 public:
  CrossEntropy(Stream s, float smoothing) : Primitive(s), smoothing_(smoothing) {}
  MICA_DEFINE_PRIMITIVE_MEMBERS(CrossEntropy) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* r = dynamic_cast<const CrossEntropy*>(&o);
    return r && r->smoothing_ == smoothing_;
  }
  float smoothing() const { return smoothing_; }

 private:
  float smoothing_;
};

/** CrossEntropy's backward pass in one read of the logits: inputs logits, targets, lse (as
 *  CrossEntropy outputs it) and g (the loss's cotangent, shape (...)); output
 *  g (softmax(x) - (1 - s) onehot(t) - s / V) in the logits' shape and dtype. */
class CrossEntropyVjp : public UnaryPrimitive {
 public:
  CrossEntropyVjp(Stream s, float smoothing) : UnaryPrimitive(s), smoothing_(smoothing) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(CrossEntropyVjp) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* r = dynamic_cast<const CrossEntropyVjp*>(&o);
    return r && r->smoothing_ == smoothing_;
  }
  float smoothing() const { return smoothing_; }

 private:
  float smoothing_;
};

}  // namespace mica
