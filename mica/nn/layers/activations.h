// Activation modules, as MLX's mlx.nn activation classes: each wraps a function of
// mica/nn/activations.h. Only PReLU has a parameter (`weight`); the others are stateless and
// keep their scalar settings in members (MLX keeps them as private attributes, so the repr of
// every activation is `Name()`).
#pragma once
#include <string>

#include "mica/nn/activations.h"
#include "mica/nn/member.h"

namespace mica::nn {

/** CELU: max(x, 0) + alpha (exp(min(x, 0) / alpha) - 1). */
class CELU : public Module {
 public:
  /** CELU with the given alpha. */
  explicit CELU(float alpha = 1.0f) : alpha_(alpha) {}
  /** "CELU". */
  std::string name() const override { return "CELU"; }
  /** celu(x, alpha). */
  array operator()(const array& x) override { return nn::celu(x, alpha_); }

 private:
  float alpha_;
};

/** ELU: x if x > 0 else alpha (exp(x) - 1). */
class ELU : public Module {
 public:
  /** ELU with the given alpha. */
  explicit ELU(float alpha = 1.0f) : alpha_(alpha) {}
  /** "ELU". */
  std::string name() const override { return "ELU"; }
  /** elu(x, alpha). */
  array operator()(const array& x) override { return nn::elu(x, alpha_); }

 private:
  float alpha_;
};

/** GELU; approx is "none" (exact), "precise" or its alias "tanh" (tanh approximation), or
 *  "fast" (x sigmoid(1.702 x)). */
class GELU : public Module {
 public:
  /** GELU with the given approximation; throws std::invalid_argument for another string. */
  explicit GELU(const std::string& approx = "none");
  /** "GELU". */
  std::string name() const override { return "GELU"; }
  /** gelu, gelu_approx or gelu_fast_approx of x. */
  array operator()(const array& x) override;

 private:
  std::string approx_;
};

/** GLU: first half of `axis` times the sigmoid of the second half. */
class GLU : public Module {
 public:
  /** GLU splitting along `axis`. */
  explicit GLU(int axis = -1) : axis_(axis) {}
  /** "GLU". */
  std::string name() const override { return "GLU"; }
  /** glu(x, axis). */
  array operator()(const array& x) override { return nn::glu(x, axis_); }

 private:
  int axis_;
};

/** SELU with the self-normalizing constants. */
class SELU : public Module {
 public:
  /** "SELU". */
  std::string name() const override { return "SELU"; }
  /** selu(x). */
  array operator()(const array& x) override { return nn::selu(x); }
};

/** HardShrink: x where |x| > lambd, else 0. */
class HardShrink : public Module {
 public:
  /** HardShrink with threshold lambd. */
  explicit HardShrink(float lambd = 0.5f) : lambd_(lambd) {}
  /** "HardShrink". */
  std::string name() const override { return "HardShrink"; }
  /** hard_shrink(x, lambd). */
  array operator()(const array& x) override { return nn::hard_shrink(x, lambd_); }

 private:
  float lambd_;
};

/** Hardswish: x relu6(x + 3) / 6. */
class Hardswish : public Module {
 public:
  /** "Hardswish". */
  std::string name() const override { return "Hardswish"; }
  /** hardswish(x). */
  array operator()(const array& x) override { return nn::hardswish(x); }
};

/** HardTanh: clip(x, -1, 1) (MLX's module takes no arguments). */
class HardTanh : public Module {
 public:
  /** "HardTanh". */
  std::string name() const override { return "HardTanh"; }
  /** hard_tanh(x). */
  array operator()(const array& x) override { return nn::hard_tanh(x); }
};

/** LeakyReLU: max(negative_slope x, x). */
class LeakyReLU : public Module {
 public:
  /** LeakyReLU with the given slope for negative inputs. */
  explicit LeakyReLU(float negative_slope = 0.01f) : negative_slope_(negative_slope) {}
  /** "LeakyReLU". */
  std::string name() const override { return "LeakyReLU"; }
  /** leaky_relu(x, negative_slope). */
  array operator()(const array& x) override { return nn::leaky_relu(x, negative_slope_); }

 private:
  float negative_slope_;
};

/** LogSigmoid: log(sigmoid(x)). */
class LogSigmoid : public Module {
 public:
  /** "LogSigmoid". */
  std::string name() const override { return "LogSigmoid"; }
  /** log_sigmoid(x). */
  array operator()(const array& x) override { return nn::log_sigmoid(x); }
};

/** LogSoftmax along the last axis. */
class LogSoftmax : public Module {
 public:
  /** "LogSoftmax". */
  std::string name() const override { return "LogSoftmax"; }
  /** log_softmax(x, -1). */
  array operator()(const array& x) override { return nn::log_softmax(x); }
};

/** Mish: x tanh(softplus(x)). */
class Mish : public Module {
 public:
  /** "Mish". */
  std::string name() const override { return "Mish"; }
  /** mish(x). */
  array operator()(const array& x) override { return nn::mish(x); }
};

/** Options of PReLU. */
struct PReLUOptions {
  int num_parameters = 1;  // length of the learned slope `weight`
  float init = 0.25f;      // its initial value
};

/** PReLU: max(x, 0) + weight min(x, 0) with a trainable `weight` of num_parameters slopes
 *  (broadcast against the last axis of x). */
class PReLU : public Module {
 public:
  /** PReLU whose weight is full(num_parameters, init). */
  explicit PReLU(const PReLUOptions& options = {});
  /** "PReLU". */
  std::string name() const override { return "PReLU"; }
  /** prelu(x, weight). */
  array operator()(const array& x) override;

  Param weight{this, "weight"};
};

/** ReLU: max(x, 0). */
class ReLU : public Module {
 public:
  /** "ReLU". */
  std::string name() const override { return "ReLU"; }
  /** relu(x). */
  array operator()(const array& x) override { return nn::relu(x); }
};

/** ReLU2: relu(x)^2. */
class ReLU2 : public Module {
 public:
  /** "ReLU2". */
  std::string name() const override { return "ReLU2"; }
  /** relu2(x). */
  array operator()(const array& x) override { return nn::relu2(x); }
};

/** ReLU6: min(max(x, 0), 6). */
class ReLU6 : public Module {
 public:
  /** "ReLU6". */
  std::string name() const override { return "ReLU6"; }
  /** relu6(x). */
  array operator()(const array& x) override { return nn::relu6(x); }
};

/** Sigmoid: 1 / (1 + exp(-x)). */
class Sigmoid : public Module {
 public:
  /** "Sigmoid". */
  std::string name() const override { return "Sigmoid"; }
  /** sigmoid(x). */
  array operator()(const array& x) override { return nn::sigmoid(x); }
};

/** SiLU (swish): x sigmoid(x). */
class SiLU : public Module {
 public:
  /** "SiLU". */
  std::string name() const override { return "SiLU"; }
  /** silu(x). */
  array operator()(const array& x) override { return nn::silu(x); }
};

/** Softmax along the last axis. */
class Softmax : public Module {
 public:
  /** "Softmax". */
  std::string name() const override { return "Softmax"; }
  /** softmax(x, -1). */
  array operator()(const array& x) override { return nn::softmax(x); }
};

/** Softmin (softmax of -x) along the last axis. */
class Softmin : public Module {
 public:
  /** "Softmin". */
  std::string name() const override { return "Softmin"; }
  /** softmin(x, -1). */
  array operator()(const array& x) override { return nn::softmin(x); }
};

/** Softplus: log(1 + exp(x)). */
class Softplus : public Module {
 public:
  /** "Softplus". */
  std::string name() const override { return "Softplus"; }
  /** softplus(x). */
  array operator()(const array& x) override { return nn::softplus(x); }
};

/** Softshrink: x - sign(x) lambd where |x| > lambd, else 0. */
class Softshrink : public Module {
 public:
  /** Softshrink with threshold lambd. */
  explicit Softshrink(float lambd = 0.5f) : lambd_(lambd) {}
  /** "Softshrink". */
  std::string name() const override { return "Softshrink"; }
  /** softshrink(x, lambd). */
  array operator()(const array& x) override { return nn::softshrink(x, lambd_); }

 private:
  float lambd_;
};

/** Softsign: x / (1 + |x|). */
class Softsign : public Module {
 public:
  /** "Softsign". */
  std::string name() const override { return "Softsign"; }
  /** softsign(x). */
  array operator()(const array& x) override { return nn::softsign(x); }
};

/** Step: 1 where x >= threshold, else 0 (int32). */
class Step : public Module {
 public:
  /** Step at `threshold`. */
  explicit Step(float threshold = 0.0f) : threshold_(threshold) {}
  /** "Step". */
  std::string name() const override { return "Step"; }
  /** step(x, threshold). */
  array operator()(const array& x) override { return nn::step(x, threshold_); }

 private:
  float threshold_;
};

/** Tanh. */
class Tanh : public Module {
 public:
  /** "Tanh". */
  std::string name() const override { return "Tanh"; }
  /** tanh(x). */
  array operator()(const array& x) override { return nn::tanh(x); }
};

}  // namespace mica::nn
