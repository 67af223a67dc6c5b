// The optimizer base (state layout, init, apply_gradients, state I/O), MultiOptimizer and
// clip_grad_norm, per spec/module.md §13.
#include "mica/optim/optimizer.h"

#include <charconv>
#include <stdexcept>
#include <unordered_map>

#include "mica/nn/module.h"
#include "mica/ops.h"

namespace mica::optim {

namespace {
std::string child_path(const std::string& path, const std::string& seg) { return path.empty() ? seg : path + "." + seg; }

[[noreturn]] void mismatch(const std::string& path) {
  throw std::invalid_argument("[Optimizer] State does not match the parameters at \"" + path + "\".");
}

// A none or empty state node becomes an empty node of the given kind.
bool is_blank(const Tree& s) { return s.is_none() || ((s.is_list() || s.is_dict()) && s.empty()); }
}  // namespace

Optimizer::Optimizer(LearningRate lr) {
  Tree::Dict d;
  d.insert_or_assign("step", array(uint64_t{0}, uint64));
  state_ = Tree(std::move(d));
  maybe_schedule("learning_rate", std::move(lr));
}

void Optimizer::maybe_schedule(const std::string& name, LearningRate value) {
  reserved_.push_back(name);
  if (auto* f = std::get_if<float>(&value)) {
    state_.as_dict().insert_or_assign(name, array(*f, float32));
  } else {
    auto& sched = std::get<Schedule>(value);
    schedules_.emplace_back(name, sched);
    state_.as_dict().insert_or_assign(name, astype(sched(array(uint64_t{0}, uint64)), float32));
  }
}

void Optimizer::init(const Tree& params) {
  if (!params.is_none() && !params.is_dict() && !(params.is_list() && params.empty())) {
    throw std::invalid_argument("[Optimizer] expected a dict of parameters, got " + params.kind_name() + ".");
  }
  // Recursively merges the structure of p into s, calling init_single on empty leaf states.
  std::function<void(Tree&, const Tree&, const std::string&)> merge = [&](Tree& s, const Tree& p,
                                                                          const std::string& path) {
    switch (p.kind()) {
      case Tree::Kind::none:
        return;
      case Tree::Kind::array:
        if (is_blank(s)) s = Tree(Tree::Dict{});
        if (!s.is_dict()) mismatch(path);
        if (s.as_dict().empty()) init_single(p.as_array(), s.as_dict());
        return;
      case Tree::Kind::dict:
        if (is_blank(s)) s = Tree(Tree::Dict{});
        if (!s.is_dict()) mismatch(path);
        for (auto& [k, v] : p.as_dict()) {
          auto& sd = s.as_dict();
          auto it = sd.find(k);
          if (it != sd.end()) {
            merge(it->second, v, child_path(path, k));
          } else {
            Tree fresh;
            merge(fresh, v, child_path(path, k));
            s.as_dict().insert_or_assign(k, std::move(fresh));
          }
        }
        return;
      case Tree::Kind::list: {
        if (is_blank(s)) s = Tree(Tree::List{});
        if (!s.is_list()) mismatch(path);
        auto& pl = p.as_list();
        for (size_t i = 0; i < pl.size(); ++i) {
          if (i < s.as_list().size()) {
            merge(s.as_list()[i], pl[i], child_path(path, std::to_string(i)));
          } else {
            Tree fresh;
            merge(fresh, pl[i], child_path(path, std::to_string(i)));
            s.as_list().push_back(std::move(fresh));
          }
        }
        return;
      }
      case Tree::Kind::module:
        mismatch(path);
    }
  };
  if (params.is_dict()) {
    for (auto& [k, v] : params.as_dict()) {
      bool reserved = k == "step";
      for (auto& r : reserved_) reserved |= k == r;
      if (reserved) throw std::invalid_argument("[Optimizer] Parameter name \"" + k + "\" is reserved for optimizer state.");
    }
    for (auto& [k, v] : params.as_dict()) {
      auto& sd = state_.as_dict();
      auto it = sd.find(k);
      if (it != sd.end()) {
        merge(it->second, v, k);
      } else {
        Tree fresh;
        merge(fresh, v, k);
        state_.as_dict().insert_or_assign(k, std::move(fresh));
      }
    }
  }
  initialized_ = true;
}

Tree Optimizer::apply_gradients(const Tree& grads, const Tree& params) {
  if (!initialized_) init(grads);
  auto& sd = state_.as_dict();
  array step = sd.at("step").as_array();
  for (auto& [name, sched] : schedules_) sd.insert_or_assign(name, astype(sched(step), float32));
  sd.insert_or_assign("step", add(step, array(uint64_t{1}, uint64)));
  begin_apply();
  before_leaves(grads, params);

  // Each leaf's state is updated on a copy (arrays are shared); the copies go back in a second
  // walk, so a failing leaf leaves the state as it was.
  std::unordered_map<std::string, Tree::Dict> updated;
  Tree result = tree_map_with_path(
      [&](const std::string& path, const Tree& g, const std::vector<Tree>& rest) -> Tree {
        Tree::Dict s = rest[1].as_dict();
        array np = apply_single(g.as_array(), rest[0].as_array(), s);
        updated.insert_or_assign(path, std::move(s));
        return np;
      },
      grads, {params, state_});
  std::function<void(const Tree&, Tree&, const std::string&)> write = [&](const Tree& g, Tree& s,
                                                                          const std::string& path) {
    if (g.is_array()) {
      s = Tree(std::move(updated.at(path)));
    } else if (g.is_dict()) {
      for (auto& [k, v] : g.as_dict()) write(v, s.at(k), child_path(path, k));
    } else if (g.is_list()) {
      for (size_t i = 0; i < g.as_list().size(); ++i) write(g.as_list()[i], s.at(i), child_path(path, std::to_string(i)));
    }
  };
  write(grads, state_, "");
  return result;
}

void Optimizer::update(nn::Module& model, const Tree& grads) {
  model.update(apply_gradients(grads, model.trainable_parameters()), true);
}

void Optimizer::set_state(Tree state) {
  if (!state.is_dict() || !state.contains("step")) throw std::invalid_argument("Invalid state provided");
  state_ = std::move(state);
  initialized_ = false;
}

array Optimizer::step() const { return state_.at("step").as_array(); }
array Optimizer::learning_rate() const { return state_.at("learning_rate").as_array(); }
void Optimizer::set_learning_rate(float lr) { state_.as_dict().insert_or_assign("learning_rate", array(lr, float32)); }

array Optimizer::hyper(const std::string& name, const array& like) const {
  return astype(state_.at(name).as_array(), like.dtype());
}

MultiOptimizer::MultiOptimizer(std::vector<std::shared_ptr<Optimizer>> optimizers, std::vector<Filter> filters)
    : Optimizer(0.0f), opts_(std::move(optimizers)), filters_(std::move(filters)) {
  if (opts_.empty()) throw std::invalid_argument("[MultiOptimizer] expected at least one optimizer, got none.");
  if (filters_.size() + 1 != opts_.size()) {
    throw std::invalid_argument("Given " + std::to_string(filters_.size()) + " filters but " +
                                std::to_string(opts_.size() - 1) + " needed.");
  }
}

std::vector<Tree> MultiOptimizer::split(const Tree& tree) const {
  if (opts_.size() == 1) return {tree};
  std::vector<Flat> parts(opts_.size());
  for (auto& [path, leaf] : tree_flatten(tree)) {
    size_t i = 0;
    while (i < filters_.size() && !(leaf.is_array() && filters_[i](path, leaf.as_array()))) ++i;
    parts[i].emplace_back(path, leaf);
  }
  std::vector<Tree> out;
  for (auto& p : parts) out.push_back(tree_unflatten(p));
  return out;
}

void MultiOptimizer::init(const Tree& params) {
  auto parts = split(params);
  for (size_t i = 0; i < opts_.size(); ++i) opts_[i]->init(parts[i]);
}

Tree MultiOptimizer::apply_gradients(const Tree& grads, const Tree& params) {
  auto parts = split(grads);
  Tree result;
  for (size_t i = 0; i < opts_.size(); ++i) result = tree_merge(result, opts_[i]->apply_gradients(parts[i], params));
  return result;
}

const Tree& MultiOptimizer::state() const {
  Tree::List states;
  for (auto& o : opts_) states.push_back(o->state());
  Tree::Dict d;
  d.insert_or_assign("states", Tree(std::move(states)));
  combined_ = Tree(std::move(d));
  return combined_;
}

void MultiOptimizer::set_state(Tree state) {
  if (!state.is_dict() || !state.contains("states") || !state.at("states").is_list() ||
      state.at("states").size() != opts_.size()) {
    throw std::invalid_argument("Invalid state provided");
  }
  for (size_t i = 0; i < opts_.size(); ++i) opts_[i]->set_state(state.at("states").at(i));
}

array MultiOptimizer::learning_rate() const { return opts_[0]->learning_rate(); }
void MultiOptimizer::set_learning_rate(float lr) {
  for (auto& o : opts_) o->set_learning_rate(lr);
}

std::pair<Tree, array> clip_grad_norm(const Tree& grads, float max_norm) {
  if (max_norm < 0) {
    // The value as Python prints a float: shortest round trip, with ".0" for whole numbers.
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof(buf), static_cast<double>(max_norm));
    std::string v(buf, r.ptr);
    if (v.find_first_of(".eni") == std::string::npos) v += ".0";
    throw std::invalid_argument("max_norm should be >=0, " + v + " was provided instead");
  }
  array total = array(0.0f);
  tree_visit_leaves(grads, [&](const Tree& leaf) { total = add(total, sum(square(astype(leaf.as_array(), float32)))); });
  total = sqrt(total);
  array scale = minimum(divide(array(max_norm), add(total, array(1e-6f))), array(1.0f));
  Tree clipped = tree_map([&](const Tree& leaf) -> Tree {
    const array& g = leaf.as_array();
    return multiply(g, astype(scale, g.dtype()));
  }, grads);
  return {std::move(clipped), total};
}

}  // namespace mica::optim
