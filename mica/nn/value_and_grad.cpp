// nn::value_and_grad and nn::checkpoint (spec/module.md §12).
#include "mica/nn/value_and_grad.h"

#include "mica/transforms.h"

namespace mica::nn {

namespace {

std::vector<array> arrays_of(const Tree& t) {
  std::vector<array> out;
  tree_visit_leaves(t, [&](const Tree& leaf) { out.push_back(leaf.as_array()); });
  return out;
}

// P with its array leaves replaced, in flatten order, by arrays[offset...].
Tree rebuild(const Tree& p, const std::vector<array>& arrays, std::size_t offset = 0) {
  std::size_t i = offset;
  return tree_map([&](const Tree&) { return Tree(arrays[i++]); }, p);
}

// Puts the originals back when the call ends, normally or by an exception (V2).
struct RestoreGuard {
  Module& model;
  const Tree& originals;
  Tree written;
  bool armed = false;
  ~RestoreGuard() {
    if (!armed) return;
    try {
      detail::restore_parameters(model, written, originals);
    } catch (...) {
      // Restoring only assigns array handles; nothing here is expected to throw.
    }
  }
};

}  // namespace

std::pair<std::vector<array>, Tree> detail::value_and_grad_impl(Module& model,
                                                                const std::function<std::vector<array>()>& fn) {
  const Tree params = model.trainable_parameters();
  std::vector<array> primals = arrays_of(params);
  if (primals.empty()) {
    // Nothing to differentiate: the gradient tree is P itself (empty dicts and placeholders).
    return {fn(), params};
  }
  RestoreGuard guard{model, params, Tree(), false};
  auto inner = [&](const std::vector<array>& tracers) {
    Tree t = rebuild(params, tracers);
    // Never skip this update: fn must compute with the tracers, or every gradient is zero (V4).
    model.update(t, true);
    guard.written = std::move(t);
    guard.armed = true;
    return fn();
  };
  std::vector<int> argnums(primals.size());
  for (std::size_t i = 0; i < argnums.size(); ++i) argnums[i] = static_cast<int>(i);
  auto [outs, grads] = mica::value_and_grad(inner, argnums)(primals);
  return {std::move(outs), rebuild(params, grads)};
}

std::vector<array> detail::checkpoint_impl(Module& model,
                                           const std::function<std::vector<array>(const std::vector<array>&)>& fn,
                                           const std::vector<array>& inputs) {
  Tree params = model.trainable_parameters();
  std::vector<array> all = arrays_of(params);
  std::size_t n = all.size();
  all.insert(all.end(), inputs.begin(), inputs.end());
  // Runs now for the forward pass and again in the backward pass (recomputation); each run
  // writes its parameter arrays into the model and puts back what was there at call time.
  ArraysFn inner = [&model, params, fn, n](const std::vector<array>& args) {
    Tree t = rebuild(params, args);
    model.update(t, true);
    RestoreGuard guard{model, params, std::move(t), true};
    return fn(std::vector<array>(args.begin() + static_cast<std::ptrdiff_t>(n), args.end()));
  };
  return mica::checkpoint(inner)(all);
}

std::function<std::vector<array>(const std::vector<array>&)> checkpoint(
    Module& model, std::function<std::vector<array>(const std::vector<array>&)> fn) {
  return [&model, fn = std::move(fn)](const std::vector<array>& inputs) {
    return detail::checkpoint_impl(model, fn, inputs);
  };
}

std::function<array(const array&)> checkpoint(Module& model) {
  auto f = checkpoint(model, [&model](const std::vector<array>& x) { return std::vector<array>{model(x[0])}; });
  return [f](const array& x) { return f({x})[0]; };
}

}  // namespace mica::nn
