// Reverse mode: vjp, and grad / value_and_grad on top of it.
#include <algorithm>
#include <stdexcept>
#include <unordered_map>

#include "mica/ops.h"
#include "mica/ops/utils.h"
#include "mica/primitives/primitive.h"
#include "mica/transforms.h"
#include "mica/transforms/trace.h"

namespace mica {

namespace detail {

// Differentiates `fun` with respect to the primals in argnums (the others enter as constants).
// Returns (outputs, cotangents of primals[argnums[i]]).
using MakeCotangents = std::function<std::vector<array>(const std::vector<array>& outputs)>;

// Differentiates `fun` with respect to the primals in argnums (the others enter as constants).
// `make_cotangents` sees the outputs and returns the cotangents of the first few (the rest,
// auxiliary outputs, get none). Returns (outputs, cotangents of primals[argnums[i]]).
std::pair<std::vector<array>, std::vector<array>> vjp_impl(const ArraysFn& fun, const std::vector<array>& primals,
                                                           const MakeCotangents& make_cotangents,
                                                           const std::vector<int>& argnums) {
  TracingScope scope;
  std::vector<array> args = primals;
  std::vector<array> tracers;
  for (int i : argnums) {
    args[i] = make_tracer(primals[i]);
    tracers.push_back(args[i]);
  }
  std::vector<array> outputs = fun(args);
  std::vector<array> cotangents = make_cotangents(outputs);
  // Only the outputs given a cotangent start the walk; later ones (auxiliary values) do not.
  std::vector<array> roots(outputs.begin(), outputs.begin() + cotangents.size());
  Tape tape = trace_tape(roots, tracers, /*stop_gradients=*/true);

  std::unordered_map<uintptr_t, array> cot;
  auto accumulate = [&](uintptr_t id, array g) {
    auto [it, fresh] = cot.try_emplace(id, g);
    if (!fresh) it->second = add(it->second, g);
  };
  for (size_t i = 0; i < cotangents.size(); ++i) {
    if (tape.depends.count(outputs[i].id())) accumulate(outputs[i].id(), cotangents[i]);
  }
  // Walk backwards. Each node's cotangents are taken out of the map as it is processed, so the
  // graph under construction holds no more than it needs.
  for (auto it = tape.nodes.rbegin(); it != tape.nodes.rend(); ++it) {
    array& node = *it;
    std::vector<array> outs = node.outputs();
    bool any = std::any_of(outs.begin(), outs.end(), [&](const array& o) { return cot.count(o.id()) > 0; });
    if (!any) continue;
    std::vector<array> cts;
    for (auto& o : outs) {
      auto c = cot.find(o.id());
      if (c == cot.end()) {
        cts.push_back(detail::zeros_like_view(o));
      } else {
        cts.push_back(std::move(c->second));
        cot.erase(c);
      }
    }
    std::vector<int> nums;
    auto& inputs = node.inputs();
    for (int i = 0; i < static_cast<int>(inputs.size()); ++i) {
      if (tape.depends.count(inputs[i].id())) nums.push_back(i);
    }
    auto& p = node.primitive();
    std::vector<array> grads = p.vjp(inputs, cts, nums, outs);
    record_rule("vjp", p);
    if (grads.size() != nums.size()) {
      throw std::logic_error(std::string("[vjp] rule of ") + p.name() + " returned " + std::to_string(grads.size()) +
                             " cotangents for " + std::to_string(nums.size()) + " inputs.");
    }
    for (size_t k = 0; k < nums.size(); ++k) {
      const array& in = inputs[nums[k]];
      if (grads[k].shape() != in.shape()) {
        throw std::logic_error(std::string("[vjp] rule of ") + p.name() + " returned shape " +
                               shape_str(grads[k].shape()) + " for input " + std::to_string(nums[k]) +
                               " of shape " + shape_str(in.shape()) + ".");
      }
      accumulate(in.id(), std::move(grads[k]));
    }
  }
  std::vector<array> result;
  for (size_t k = 0; k < tracers.size(); ++k) {
    auto c = cot.find(tracers[k].id());
    result.push_back(c == cot.end() ? detail::zeros_like_view(primals[argnums[k]]) : c->second);
  }
  return {std::move(outputs), std::move(result)};
}

namespace {
std::vector<int> all_indices(size_t n) {
  std::vector<int> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<int>(i);
  return v;
}

void check_argnums(const std::vector<int>& argnums, size_t nargs) {
  if (argnums.empty()) throw std::invalid_argument("[grad] expected at least one argument to differentiate, got none.");
  for (size_t i = 0; i < argnums.size(); ++i) {
    int a = argnums[i];
    if (a < 0 || a >= static_cast<int>(nargs)) {
      throw std::invalid_argument("[grad] expected argument indices in [0, " + std::to_string(nargs) + "), got " +
                                  std::to_string(a) + " (the function was called with " + std::to_string(nargs) +
                                  " arguments).");
    }
    for (size_t j = 0; j < i; ++j) {
      if (argnums[j] == a) {
        throw std::invalid_argument("[grad] expected distinct argument indices, got " + std::to_string(a) + " twice.");
      }
    }
  }
}
}  // namespace
}  // namespace detail

std::pair<std::vector<array>, std::vector<array>> vjp(const ArraysFn& fun, const std::vector<array>& primals,
                                                      const std::vector<array>& cotangents) {
  auto check = [&](const std::vector<array>& outputs) {
    if (outputs.size() != cotangents.size()) {
      throw std::invalid_argument("[vjp] expected one cotangent per output (" + std::to_string(outputs.size()) +
                                  "), got " + std::to_string(cotangents.size()) + ".");
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (cotangents[i].shape() != outputs[i].shape()) {
        throw std::invalid_argument("[vjp] expected a cotangent of shape " + detail::shape_str(outputs[i].shape()) +
                                    " for output " + std::to_string(i) + ", got " +
                                    detail::shape_str(cotangents[i].shape()) + ".");
      }
    }
    return cotangents;
  };
  return detail::vjp_impl(fun, primals, check, detail::all_indices(primals.size()));
}

std::pair<array, array> vjp(const ArrayFn& fun, const array& primal, const array& cotangent) {
  auto [outs, grads] = vjp([&](const std::vector<array>& x) { return std::vector<array>{fun(x[0])}; },
                           std::vector<array>{primal}, std::vector<array>{cotangent});
  return {outs[0], grads[0]};
}

ValueAndGradFn value_and_grad(const ArraysFn& fun, const std::vector<int>& argnums) {
  return [fun, argnums](const std::vector<array>& inputs) {
    detail::check_argnums(argnums, inputs.size());
    // The loss is the first output: a scalar, whose cotangent is one. Later outputs are
    // auxiliary values and get no cotangent.
    auto loss_cotangent = [](const std::vector<array>& outputs) {
      if (outputs.empty()) throw std::invalid_argument("[grad] expected the function to return a value, got none.");
      if (outputs[0].ndim() != 0) {
        throw std::invalid_argument("[grad] expected a scalar output to differentiate, got shape " +
                                    detail::shape_str(outputs[0].shape()) + ".");
      }
      return std::vector<array>{array(1.0, outputs[0].dtype())};
    };
    auto [outs, grads] = detail::vjp_impl(fun, inputs, loss_cotangent, argnums);
    return std::make_pair(std::move(outs), std::move(grads));
  };
}

ValueAndGradFn value_and_grad(const ArraysFn& fun, int argnum) { return value_and_grad(fun, std::vector<int>{argnum}); }

SimpleValueAndGradFn value_and_grad(const std::function<array(const std::vector<array>&)>& fun,
                                    const std::vector<int>& argnums) {
  auto vg = value_and_grad([fun](const std::vector<array>& x) { return std::vector<array>{fun(x)}; }, argnums);
  return [vg](const std::vector<array>& inputs) {
    auto [outs, grads] = vg(inputs);
    return std::make_pair(outs[0], std::move(grads));
  };
}

std::function<std::pair<array, array>(const array&)> value_and_grad(const ArrayFn& fun) {
  auto vg = value_and_grad([fun](const std::vector<array>& x) { return std::vector<array>{fun(x[0])}; }, 0);
  return [vg](const array& x) {
    auto [outs, grads] = vg({x});
    return std::make_pair(outs[0], grads[0]);
  };
}

std::function<std::vector<array>(const std::vector<array>&)> grad(
    const std::function<array(const std::vector<array>&)>& fun, const std::vector<int>& argnums) {
  auto vg = value_and_grad(fun, argnums);
  return [vg](const std::vector<array>& inputs) { return vg(inputs).second; };
}

std::function<std::vector<array>(const std::vector<array>&)> grad(
    const std::function<array(const std::vector<array>&)>& fun, int argnum) {
  return grad(fun, std::vector<int>{argnum});
}

ArrayFn grad(const ArrayFn& fun) {
  auto vg = value_and_grad(fun);
  return [vg](const array& x) { return vg(x).second; };
}

}  // namespace mica
