// The optimizers' update rules (MLX's formulas; lr is cast to the gradient's dtype so float16
// parameters stay float16).
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "mica/fast.h"
#include "mica/ops.h"
#include "mica/optim/optimizer.h"

namespace mica::optim {

namespace {
void check(bool ok, const char* name, const std::string& msg) {
  if (!ok) throw std::invalid_argument(std::string("[") + name + "] expected " + msg + ".");
}
std::string str(double v) { return std::to_string(v); }
void check_betas(const char* name, std::pair<double, double> b) {
  check(b.first >= 0 && b.first < 1 && b.second >= 0 && b.second < 1, name,
        "betas in [0, 1), got (" + str(b.first) + ", " + str(b.second) + ")");
}
}  // namespace

SGD::SGD(LearningRate lr, const SGDOptions& o)
    : Optimizer(std::move(lr)), momentum_(o.momentum), weight_decay_(o.weight_decay), dampening_(o.dampening),
      nesterov_(o.nesterov) {
  check(!o.nesterov || (o.momentum > 0 && o.dampening == 0), "SGD",
        "momentum > 0 and dampening == 0 with nesterov, got momentum " + str(o.momentum) + " and dampening " +
            str(o.dampening));
}
void SGD::init_single(const array& p, Tree::Dict& s) { s.insert_or_assign("v", zeros_like(p)); }
array SGD::apply_single(const array& g0, const array& p, Tree::Dict& s) {
  array g = weight_decay_ != 0 ? g0 + weight_decay_ * p : g0;
  array lr = hyper("learning_rate", g);
  if (momentum_ <= 0) return p - lr * g;
  array v = momentum_ * s.at("v").as_array();
  v = dampening_ > 0 ? v + (1 - dampening_) * g : v + g;
  s.insert_or_assign("v", v);
  array upd = nesterov_ ? g + momentum_ * v : v;
  return p - lr * upd;
}

RMSprop::RMSprop(LearningRate lr, const RMSpropOptions& o)
    : Optimizer(std::move(lr)), alpha_(o.alpha), eps_(o.eps) {
  check(o.alpha >= 0, "RMSprop", "alpha >= 0, got " + str(o.alpha));
  check(o.eps > 0, "RMSprop", "eps > 0, got " + str(o.eps));
}
void RMSprop::init_single(const array& p, Tree::Dict& s) { s.insert_or_assign("v", zeros_like(p)); }
array RMSprop::apply_single(const array& g, const array& p, Tree::Dict& s) {
  array v = alpha_ * s.at("v").as_array() + (1 - alpha_) * square(g);
  s.insert_or_assign("v", v);
  return p - hyper("learning_rate", g) * g / (sqrt(v) + eps_);
}

Adagrad::Adagrad(LearningRate lr, double eps) : Optimizer(std::move(lr)), eps_(eps) {
  check(eps > 0, "Adagrad", "eps > 0, got " + str(eps));
}
void Adagrad::init_single(const array& p, Tree::Dict& s) { s.insert_or_assign("v", zeros_like(p)); }
array Adagrad::apply_single(const array& g, const array& p, Tree::Dict& s) {
  array v = s.at("v").as_array() + square(g);
  s.insert_or_assign("v", v);
  return p - hyper("learning_rate", g) * g / (sqrt(v) + eps_);
}

AdaDelta::AdaDelta(LearningRate lr, const AdaDeltaOptions& o) : Optimizer(std::move(lr)), rho_(o.rho), eps_(o.eps) {
  check(o.rho >= 0, "AdaDelta", "rho >= 0, got " + str(o.rho));
  check(o.eps > 0, "AdaDelta", "eps > 0, got " + str(o.eps));
}
void AdaDelta::init_single(const array& p, Tree::Dict& s) {
  s.insert_or_assign("v", zeros_like(p));
  s.insert_or_assign("u", zeros_like(p));
}
array AdaDelta::apply_single(const array& g, const array& p, Tree::Dict& s) {
  array v = rho_ * s.at("v").as_array() + (1 - rho_) * square(g);
  array u = s.at("u").as_array();
  array d = sqrt(u + eps_) / sqrt(v + eps_) * g;
  u = rho_ * u + (1 - rho_) * square(d);
  s.insert_or_assign("v", v);
  s.insert_or_assign("u", u);
  return p - hyper("learning_rate", g) * d;
}

Adam::Adam(LearningRate lr, const AdamOptions& o)
    : Optimizer(std::move(lr)), beta1_(o.betas.first), beta2_(o.betas.second), eps_(o.eps),
      bias_correction_(o.bias_correction) {
  check_betas("Adam", o.betas);
  check(o.eps >= 0, "Adam", "eps >= 0, got " + str(o.eps));
}
void Adam::init_single(const array& p, Tree::Dict& s) {
  s.insert_or_assign("m", zeros_like(p));
  s.insert_or_assign("v", zeros_like(p));
}
array Adam::apply_single(const array& g, const array& p, Tree::Dict& s) { return adam_update(g, p, s, std::nullopt); }

const Adam::Scalars& Adam::scalars(Dtype dt, std::optional<double> weight_decay) {
  const auto key = std::make_pair(dtype_to_string(dt), weight_decay);
  if (auto it = scalars_.find(key); it != scalars_.end()) return it->second;
  array lr = astype(state_.at("learning_rate").as_array(), dt);
  array c1 = lr, c2 = array(1.0, dt);
  if (bias_correction_) {
    // The step counter was already advanced: t is this update's 1-based index.
    array t = astype(step(), dt);
    c1 = lr / (1.0f - power(array(beta1_, dt), t));
    c2 = rsqrt(1.0f - power(array(beta2_, dt), t));
  }
  array decay = weight_decay ? 1.0f - lr * *weight_decay : array(1.0, dt);
  array coef = concatenate({reshape(c1, {1}), reshape(c2, {1}), reshape(decay, {1})});
  return scalars_.emplace(key, Scalars{c1, c2, decay, coef}).first->second;
}

namespace {
// Parameters per AdamStep node: as many as the GPU kernel updates in one launch (GPT-2's 148
// parameters: 4 launches). A node's bookkeeping grows with its size only (its outputs share one
// input list), so grouping also pays on the host: `build/benchmarks/optimizer_bench` (148
// parameters of 16 x 16, eager, 2-core VM) a node per parameter 0.32 ms per step, nodes of 48
// 0.24 ms, one node for all 0.23 ms.
constexpr size_t kParamsPerNode = 48;

// Leaves fast::adam_step takes: p float32 or float64, g, m and v of its dtype and shape.
bool adam_fusable(const array& g, const array& p, const array& m, const array& v) {
  const Dtype dt = p.dtype();
  bool ok = dt == float32 || dt == float64;
  for (const array* x : {&g, &m, &v}) ok = ok && x->dtype() == dt && x->shape() == p.shape();
  return ok;
}
}  // namespace

void Adam::before_leaves(const Tree& grads, const Tree& params) {
  // Every fusable leaf, grouped by dtype in tree order; each group becomes nodes of
  // kParamsPerNode parameters.
  std::map<std::string, std::array<std::vector<array>, 4>> groups;
  tree_map_with_path(
      [&](const std::string&, const Tree& g, const std::vector<Tree>& rest) -> Tree {
        const Tree::Dict& st = rest[1].as_dict();
        auto mi = st.find("m"), vi = st.find("v");
        if (mi == st.end() || vi == st.end() || !mi->second.is_array() || !vi->second.is_array()) return g;
        const array &ga = g.as_array(), &pa = rest[0].as_array(), &m = mi->second.as_array(), &v = vi->second.as_array();
        if (!adam_fusable(ga, pa, m, v)) return g;
        auto& grp = groups[dtype_to_string(pa.dtype())];
        for (int k = 0; k < 4; ++k) grp[k].push_back(k == 0 ? pa : k == 1 ? ga : k == 2 ? m : v);
        return g;
      },
      grads, {params, state_});
  for (auto& [name, grp] : groups) {
    const Scalars& k = scalars(grp[0][0].dtype(), decoupled_decay());
    for (size_t b = 0; b < grp[0].size(); b += kParamsPerNode) {
      const size_t e = std::min(grp[0].size(), b + kParamsPerNode);
      auto part = [&](int k2) { return std::vector<array>(grp[k2].begin() + b, grp[k2].begin() + e); };
      std::vector<array> r = fast::adam_step(part(0), part(1), part(2), part(3), k.coef, beta1_, beta2_, eps_);
      for (size_t i = b; i < e; ++i) {
        fused_.insert_or_assign({grp[1][i].id(), grp[0][i].id(), grp[2][i].id()},
                                std::array<array, 3>{r[3 * (i - b)], r[3 * (i - b) + 1], r[3 * (i - b) + 2]});
      }
    }
  }
}

array Adam::adam_update(const array& g, const array& p, Tree::Dict& s, std::optional<double> weight_decay) {
  const array m = s.at("m").as_array(), v = s.at("v").as_array();
  const Scalars& k = scalars(g.dtype(), weight_decay);
  if (auto it = fused_.find({g.id(), p.id(), m.id()}); it != fused_.end() && weight_decay == decoupled_decay()) {
    // This leaf's outputs of the one node before_leaves built for its dtype (dropped from the
    // map, which is empty again once every leaf has been through here).
    std::array<array, 3> r = std::move(it->second);
    fused_.erase(it);
    s.insert_or_assign("m", r[1]);
    s.insert_or_assign("v", r[2]);
    return r[0];
  }
  if (adam_fusable(g, p, m, v)) {
    // One pass over the parameter and its moments (fast::adam_step) instead of fourteen.
    std::vector<array> r = fast::adam_step(p, g, m, v, k.coef, beta1_, beta2_, eps_);
    s.insert_or_assign("m", r[1]);
    s.insert_or_assign("v", r[2]);
    return r[0];
  }
  array m2 = beta1_ * m + (1 - beta1_) * g;
  array v2 = beta2_ * v + (1 - beta2_) * square(g);
  s.insert_or_assign("m", m2);
  s.insert_or_assign("v", v2);
  array pd = weight_decay ? p * k.decay : p;
  if (!bias_correction_) return pd - k.c1 * m2 / (sqrt(v2) + eps_);
  return pd - k.c1 * m2 / (sqrt(v2) * k.c2 + eps_);
}

AdamW::AdamW(LearningRate lr, const AdamWOptions& o)
    : Adam(std::move(lr), {.betas = o.betas, .eps = o.eps, .bias_correction = o.bias_correction}),
      weight_decay_(o.weight_decay) {}

array AdamW::apply_single(const array& g, const array& p, Tree::Dict& s) {
  return adam_update(g, p, s, weight_decay_);
}

Adamax::Adamax(LearningRate lr, const AdamaxOptions& o)
    : Optimizer(std::move(lr)), beta1_(o.betas.first), beta2_(o.betas.second), eps_(o.eps) {
  check_betas("Adamax", o.betas);
  check(o.eps >= 0, "Adamax", "eps >= 0, got " + str(o.eps));
}
void Adamax::init_single(const array& p, Tree::Dict& s) {
  s.insert_or_assign("m", zeros_like(p));
  s.insert_or_assign("v", zeros_like(p));
}
array Adamax::apply_single(const array& g, const array& p, Tree::Dict& s) {
  array m = beta1_ * s.at("m").as_array() + (1 - beta1_) * g;
  array v = maximum(beta2_ * s.at("v").as_array(), abs(g));
  s.insert_or_assign("m", m);
  s.insert_or_assign("v", v);
  return p - hyper("learning_rate", g) * m / (v + eps_);
}

Lion::Lion(LearningRate lr, const LionOptions& o)
    : Optimizer(std::move(lr)), beta1_(o.betas.first), beta2_(o.betas.second), weight_decay_(o.weight_decay) {
  check_betas("Lion", o.betas);
}
void Lion::init_single(const array& p, Tree::Dict& s) { s.insert_or_assign("m", zeros_like(p)); }
array Lion::apply_single(const array& g, const array& p0, Tree::Dict& s) {
  array m = s.at("m").as_array();
  array c = beta1_ * m + (1 - beta1_) * g;
  s.insert_or_assign("m", beta2_ * m + (1 - beta2_) * g);
  array lr = hyper("learning_rate", g);
  array p = weight_decay_ > 0 ? p0 * (1.0f - lr * weight_decay_) : p0;
  return p - lr * sign(c);
}

Adafactor::Adafactor(AdafactorOptions options)
    : Optimizer(options.learning_rate.value_or(LearningRate(0.0f))), o_(std::move(options)) {
  check(o_.relative_step || o_.learning_rate.has_value(), "Adafactor",
        "a learning_rate when relative_step is false, got none");
}
void Adafactor::init_single(const array& p, Tree::Dict& s) {
  if (p.ndim() >= 2) {
    Shape row(p.shape().begin(), p.shape().end() - 1);
    Shape col(p.shape().begin(), p.shape().end() - 2);
    col.push_back(p.shape().back());
    s.insert_or_assign("exp_avg_sq_row", zeros(row, p.dtype()));
    s.insert_or_assign("exp_avg_sq_col", zeros(col, p.dtype()));
  } else {
    s.insert_or_assign("exp_avg_sq", zeros_like(p));
  }
  if (o_.beta_1) s.insert_or_assign("exp_avg", zeros_like(p));
}
array Adafactor::apply_single(const array& g, const array& p, Tree::Dict& s) {
  auto rms = [](const array& x) { return sqrt(mean(square(x))); };
  array t = astype(step(), float32);
  array p_rms = rms(p);
  // Relative step: min(1e-2 (or 1e-6 t when warming up), 1/sqrt(t)), scaled by the parameter's RMS.
  array rel = o_.relative_step ? minimum(o_.warmup_init ? 1e-6f * t : array(1e-2f), rsqrt(t))
                               : state_.at("learning_rate").as_array();
  array lr = astype(rel, p_rms.dtype());
  if (o_.scale_parameter) lr = maximum(array(o_.eps.second, p_rms.dtype()), p_rms) * lr;
  array beta2 = astype(1.0f - power(t, array(o_.decay_rate)), p_rms.dtype());
  array upd = square(g) + o_.eps.first;
  if (g.ndim() >= 2) {
    array row = beta2 * s.at("exp_avg_sq_row").as_array() + (1.0f - beta2) * mean(upd, -1);
    array col = beta2 * s.at("exp_avg_sq_col").as_array() + (1.0f - beta2) * mean(upd, -2);
    s.insert_or_assign("exp_avg_sq_row", row);
    s.insert_or_assign("exp_avg_sq_col", col);
    array r = rsqrt(row / mean(row, -1, true));
    array c = rsqrt(col);
    upd = expand_dims(r, -1) * expand_dims(c, -2) * g;
  } else {
    array v = beta2 * s.at("exp_avg_sq").as_array() + (1.0f - beta2) * upd;
    s.insert_or_assign("exp_avg_sq", v);
    upd = rsqrt(v) * g;
  }
  upd = upd / maximum(array(1.0f, upd.dtype()), rms(upd) / o_.clip_threshold);
  upd = lr * upd;
  if (o_.beta_1) {
    double b1 = *o_.beta_1;
    upd = b1 * s.at("exp_avg").as_array() + (1 - b1) * upd;
    s.insert_or_assign("exp_avg", upd);
  }
  array q = o_.weight_decay != 0 ? p + p * (-o_.weight_decay * lr) : p;
  return q - upd;
}

Muon::Muon(LearningRate lr, const MuonOptions& o)
    : Optimizer(std::move(lr)), momentum_(o.momentum), weight_decay_(o.weight_decay), nesterov_(o.nesterov),
      ns_steps_(o.ns_steps) {
  check(o.ns_steps >= 0, "Muon", "ns_steps >= 0, got " + std::to_string(o.ns_steps));
}
void Muon::init_single(const array& p, Tree::Dict& s) { s.insert_or_assign("v", zeros_like(p)); }
array Muon::apply_single(const array& g0, const array& p, Tree::Dict& s) {
  array g = weight_decay_ != 0 ? g0 + weight_decay_ * p : g0;
  array v = momentum_ * s.at("v").as_array() + (1 - momentum_) * g;
  s.insert_or_assign("v", v);
  array upd = nesterov_ ? g * (1 - momentum_) + v * momentum_ : v;
  array lr = hyper("learning_rate", g);
  if (upd.ndim() >= 2) {
    Shape shape = upd.shape();
    array x = upd.ndim() > 2 ? reshape(upd, {shape[0], -1}) : upd;
    // Quintic Newton-Schulz iteration towards the nearest semi-orthogonal matrix.
    bool tall = x.shape(0) > x.shape(1);
    if (tall) x = transpose(x);
    x = x / (sqrt(sum(square(x))) + 1e-7f);
    for (int i = 0; i < ns_steps_; ++i) {
      array a = matmul(x, transpose(x));
      array b = addmm(-4.7750f * a, a, a, 2.0315f, 1.0f);
      x = addmm(3.4445f * x, b, x, 1.0f, 1.0f);
    }
    if (tall) x = transpose(x);
    upd = reshape(x, shape);
    lr = lr * static_cast<float>(std::sqrt(std::max(1.0, double(shape[shape.size() - 2]) / shape.back())));
  }
  return p - lr * upd;
}

}  // namespace mica::optim
