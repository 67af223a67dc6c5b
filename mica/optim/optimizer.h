// Optimizers over parameter trees (MLX's mlx.optimizers; exact behaviour in
// shared/spec/module.md §13). The state is one dict: `step`, the hyper-parameters registered
// with maybe_schedule (at least `learning_rate`), and the per-parameter state under the
// parameters' own keys — MLX's layout, so saved states have MLX's keys.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "mica/array.h"
#include "mica/optim/schedules.h"
#include "mica/tree.h"

namespace mica::nn {
class Module;
}

namespace mica::optim {

/** A constant learning rate or a schedule. */
using LearningRate = std::variant<float, Schedule>;

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  /** Completes the state for `params` (keeps what is there; idempotent). */
  virtual void init(const Tree& params);
  /** New parameters for the gradients (same structure as grads); advances the step. */
  virtual Tree apply_gradients(const Tree& grads, const Tree& params);
  /** model.update(apply_gradients(grads, model.trainable_parameters())). */
  void update(nn::Module& model, const Tree& grads);
  /** The whole state (step, hyper-parameters, per-parameter state). */
  virtual const Tree& state() const { return state_; }
  /** Replaces the state (a dict holding `step`); the next apply re-runs init. */
  virtual void set_state(Tree state);
  /** compile's captured state (mica/compile.h): state() and set_state. */
  friend Tree compile_state_get(Optimizer& o) { return o.state(); }
  friend void compile_state_set(Optimizer& o, const Tree& t) { o.set_state(t); }
  /** The step counter (uint64 scalar). */
  array step() const;
  /** The current learning rate (float32 scalar). */
  virtual array learning_rate() const;
  /** Sets a constant learning rate (a schedule overwrites it on the next apply). */
  virtual void set_learning_rate(float lr);

 protected:
  explicit Optimizer(LearningRate lr);
  /** Registers a hyper-parameter: a constant, or a schedule evaluated at every apply. */
  void maybe_schedule(const std::string& name, LearningRate value);
  /** Fills the empty state dict of parameter p. */
  virtual void init_single(const array& p, Tree::Dict& s) = 0;
  /** Returns the new p for gradient g, updating s. */
  virtual array apply_single(const array& g, const array& p, Tree::Dict& s) = 0;
  /** Called once per apply_gradients, after the step advanced and before the first
   * apply_single: values shared by every parameter can be made once here. */
  virtual void begin_apply() {}
  /** Called after begin_apply with the whole trees (apply_single still follows for every leaf):
   * an optimizer may build one node for many leaves here and hand its outputs out per leaf. */
  virtual void before_leaves(const Tree& grads, const Tree& params) {}
  /** A hyper-parameter's current value, cast to `like`'s dtype. */
  array hyper(const std::string& name, const array& like) const;

  Tree state_;
  bool initialized_ = false;

 private:
  std::vector<std::pair<std::string, Schedule>> schedules_;
  std::vector<std::string> reserved_;
};

/** Options of SGD (MLX's defaults). */
struct SGDOptions {
  double momentum = 0.0;
  double weight_decay = 0.0;
  double dampening = 0.0;
  bool nesterov = false;  // needs momentum > 0 and dampening == 0
};

/** Stochastic gradient descent with momentum, dampening, Nesterov and weight decay. */
class SGD : public Optimizer {
 public:
  explicit SGD(LearningRate learning_rate, const SGDOptions& options = {});

 protected:
  void init_single(const array& p, Tree::Dict& s) override;
  array apply_single(const array& g, const array& p, Tree::Dict& s) override;

 private:
  double momentum_, weight_decay_, dampening_;
  bool nesterov_;
};

/** Options of RMSprop. */
struct RMSpropOptions {
  double alpha = 0.99;  // decay of the squared-gradient average, >= 0
  double eps = 1e-8;    // > 0
};

/** RMSprop: p -= lr g / (sqrt(v) + eps), v an EMA of g^2. */
class RMSprop : public Optimizer {
 public:
  explicit RMSprop(LearningRate learning_rate, const RMSpropOptions& options = {});

 protected:
  void init_single(const array& p, Tree::Dict& s) override;
  array apply_single(const array& g, const array& p, Tree::Dict& s) override;

 private:
  double alpha_, eps_;
};

/** Adagrad: v accumulates g^2. */
class Adagrad : public Optimizer {
 public:
  /** eps > 0. */
  explicit Adagrad(LearningRate learning_rate, double eps = 1e-8);

 protected:
  void init_single(const array& p, Tree::Dict& s) override;
  array apply_single(const array& g, const array& p, Tree::Dict& s) override;

 private:
  double eps_;
};

/** Options of AdaDelta. */
struct AdaDeltaOptions {
  double rho = 0.9;   // decay of both accumulators, >= 0
  double eps = 1e-6;  // > 0
};

/** AdaDelta with accumulators v (gradients) and u (updates). */
class AdaDelta : public Optimizer {
 public:
  explicit AdaDelta(LearningRate learning_rate, const AdaDeltaOptions& options = {});

 protected:
  void init_single(const array& p, Tree::Dict& s) override;
  array apply_single(const array& g, const array& p, Tree::Dict& s) override;

 private:
  double rho_, eps_;
};

/** Options of Adam. */
struct AdamOptions {
  std::pair<double, double> betas = {0.9, 0.999};
  double eps = 1e-8;
  bool bias_correction = false;  // off by default, as MLX
};

/** Adam; bias_correction off by default, as MLX. float32 and float64 parameters take one fused
 *  pass (fast::adam_step); other dtypes the composition of ops. */
class Adam : public Optimizer {
 public:
  explicit Adam(LearningRate learning_rate, const AdamOptions& options = {});

 protected:
  void init_single(const array& p, Tree::Dict& s) override;
  array apply_single(const array& g, const array& p, Tree::Dict& s) override;
  /** The Adam step of p (first scaled by 1 - lr weight_decay when given: AdamW). */
  array adam_update(const array& g, const array& p, Tree::Dict& s, std::optional<double> weight_decay);
  void begin_apply() override {
    scalars_.clear();
    fused_.clear();
  }
  /** AdamStep nodes of up to 48 float32 / float64 leaves of one dtype (one GPU launch each
   * instead of one per parameter); adam_update hands their outputs out. */
  void before_leaves(const Tree& grads, const Tree& params) override;
  /** The decoupled weight decay of the step (AdamW's), if any. */
  virtual std::optional<double> decoupled_decay() const { return std::nullopt; }

 private:
  // The step's scalars, the same for every parameter of a dtype: lr / (1 - b1^t), 1 / sqrt(1 -
  // b2^t), the decay factor, and the three as fast::adam_step's coef. Made once per apply
  // (a GPT-2 step has 148 parameters: otherwise ~15 scalar kernels each).
  struct Scalars {
    array c1, c2, decay, coef;
  };
  const Scalars& scalars(Dtype dt, std::optional<double> weight_decay);
  std::map<std::pair<std::string, std::optional<double>>, Scalars> scalars_;
  // before_leaves' outputs (p', m', v') by the leaf's (g, p, m) identities.
  std::map<std::tuple<uintptr_t, uintptr_t, uintptr_t>, std::array<array, 3>> fused_;
  double beta1_, beta2_, eps_;
  bool bias_correction_;
};

/** Options of AdamW. */
struct AdamWOptions {
  std::pair<double, double> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0.01;
  bool bias_correction = false;
};

/** Adam with decoupled weight decay: p (1 - lr wd) then the Adam step. */
class AdamW : public Adam {
 public:
  explicit AdamW(LearningRate learning_rate, const AdamWOptions& options = {});

 protected:
  array apply_single(const array& g, const array& p, Tree::Dict& s) override;
  std::optional<double> decoupled_decay() const override { return weight_decay_; }

 private:
  double weight_decay_;
};

/** Options of Adamax. */
struct AdamaxOptions {
  std::pair<double, double> betas = {0.9, 0.999};
  double eps = 1e-8;
};

/** Adamax: v = max(beta2 v, |g|). */
class Adamax : public Optimizer {
 public:
  explicit Adamax(LearningRate learning_rate, const AdamaxOptions& options = {});

 protected:
  void init_single(const array& p, Tree::Dict& s) override;
  array apply_single(const array& g, const array& p, Tree::Dict& s) override;

 private:
  double beta1_, beta2_, eps_;
};

/** Options of Lion. */
struct LionOptions {
  std::pair<double, double> betas = {0.9, 0.99};
  double weight_decay = 0.0;
};

/** Lion: the sign of an interpolated momentum, with decoupled weight decay. */
class Lion : public Optimizer {
 public:
  explicit Lion(LearningRate learning_rate, const LionOptions& options = {});

 protected:
  void init_single(const array& p, Tree::Dict& s) override;
  array apply_single(const array& g, const array& p, Tree::Dict& s) override;

 private:
  double beta1_, beta2_, weight_decay_;
};

/** Options of Adafactor (MLX's defaults). */
struct AdafactorOptions {
  std::optional<LearningRate> learning_rate = std::nullopt;  // needed when relative_step is false
  std::pair<double, double> eps = {1e-30, 1e-3};
  double clip_threshold = 1.0;
  double decay_rate = -0.8;
  std::optional<double> beta_1 = std::nullopt;
  double weight_decay = 0.0;
  bool scale_parameter = true;
  bool relative_step = true;
  bool warmup_init = false;
};

/** Adafactor: factored second moments for matrices, RMS clipping, relative step sizes. */
class Adafactor : public Optimizer {
 public:
  explicit Adafactor(AdafactorOptions options = {});

 protected:
  void init_single(const array& p, Tree::Dict& s) override;
  array apply_single(const array& g, const array& p, Tree::Dict& s) override;

 private:
  AdafactorOptions o_;
};

/** Options of Muon. */
struct MuonOptions {
  double momentum = 0.95;
  double weight_decay = 0.01;
  bool nesterov = true;
  int ns_steps = 5;  // Newton-Schulz iterations, >= 0
};

/** Muon: momentum orthogonalized by Newton-Schulz iterations for matrices. */
class Muon : public Optimizer {
 public:
  explicit Muon(LearningRate learning_rate, const MuonOptions& options = {});

 protected:
  void init_single(const array& p, Tree::Dict& s) override;
  array apply_single(const array& g, const array& p, Tree::Dict& s) override;

 private:
  double momentum_, weight_decay_;
  bool nesterov_;
  int ns_steps_;
};

/** Different optimizers for different parameters: leaf (path, array) goes to the first
 * optimizer whose filter accepts it; the last optimizer takes the rest. */
class MultiOptimizer : public Optimizer {
 public:
  using Filter = std::function<bool(const std::string& path, const array& a)>;
  MultiOptimizer(std::vector<std::shared_ptr<Optimizer>> optimizers, std::vector<Filter> filters);
  void init(const Tree& params) override;
  Tree apply_gradients(const Tree& grads, const Tree& params) override;
  /** {states: [each optimizer's state]} */
  const Tree& state() const override;
  void set_state(Tree state) override;
  array learning_rate() const override;
  void set_learning_rate(float lr) override;

 protected:
  void init_single(const array&, Tree::Dict&) override {}
  array apply_single(const array&, const array& p, Tree::Dict&) override { return p; }

 private:
  std::vector<Tree> split(const Tree& tree) const;
  std::vector<std::shared_ptr<Optimizer>> opts_;
  std::vector<Filter> filters_;
  mutable Tree combined_;
};

/** (grads scaled so that their global norm is at most max_norm, the global norm before). */
std::pair<Tree, array> clip_grad_norm(const Tree& grads, float max_norm);

}  // namespace mica::optim
