// Forward mode: jvp pushes tangents from the inputs through the traced graph.
#include <stdexcept>
#include <unordered_map>

#include "mica/ops.h"
#include "mica/ops/utils.h"
#include "mica/primitives/primitive.h"
#include "mica/transforms.h"
#include "mica/transforms/trace.h"

namespace mica {

std::pair<std::vector<array>, std::vector<array>> jvp(const ArraysFn& fun, const std::vector<array>& primals,
                                                      const std::vector<array>& tangents) {
  if (primals.size() != tangents.size()) {
    throw std::invalid_argument("[jvp] expected one tangent per primal (" + std::to_string(primals.size()) +
                                "), got " + std::to_string(tangents.size()) + ".");
  }
  for (size_t i = 0; i < primals.size(); ++i) {
    if (primals[i].shape() != tangents[i].shape()) {
      throw std::invalid_argument("[jvp] expected a tangent of shape " + detail::shape_str(primals[i].shape()) +
                                  " for primal " + std::to_string(i) + ", got " +
                                  detail::shape_str(tangents[i].shape()) + ".");
    }
  }
  detail::TracingScope scope;
  std::vector<array> tracers;
  for (auto& p : primals) tracers.push_back(detail::make_tracer(p));
  std::vector<array> outputs = fun(tracers);
  detail::Tape tape = detail::trace_tape(outputs, tracers, /*stop_gradients=*/true);

  std::unordered_map<uintptr_t, array> tan;
  for (size_t i = 0; i < tracers.size(); ++i) tan.insert_or_assign(tracers[i].id(), tangents[i]);
  for (auto& node : tape.nodes) {
    auto& inputs = node.inputs();
    std::vector<int> nums;
    std::vector<array> ts;
    for (int i = 0; i < static_cast<int>(inputs.size()); ++i) {
      if (!tape.depends.count(inputs[i].id())) continue;
      nums.push_back(i);
      ts.push_back(tan.at(inputs[i].id()));
    }
    auto& p = node.primitive();
    std::vector<array> outs = node.outputs();
    std::vector<array> out_t = p.jvp(inputs, ts, nums);
    detail::record_rule("jvp", p);
    if (out_t.size() != outs.size()) {
      throw std::logic_error(std::string("[jvp] rule of ") + p.name() + " returned " + std::to_string(out_t.size()) +
                             " tangents for " + std::to_string(outs.size()) + " outputs.");
    }
    for (size_t k = 0; k < outs.size(); ++k) {
      if (out_t[k].shape() != outs[k].shape()) {
        throw std::logic_error(std::string("[jvp] rule of ") + p.name() + " returned shape " +
                               detail::shape_str(out_t[k].shape()) + " for an output of shape " +
                               detail::shape_str(outs[k].shape()) + ".");
      }
      tan.insert_or_assign(outs[k].id(), std::move(out_t[k]));
    }
  }
  std::vector<array> out_tangents;
  for (auto& o : outputs) {
    auto t = tan.find(o.id());
    out_tangents.push_back(t == tan.end() ? detail::zeros_like_view(o) : t->second);
  }
  return {std::move(outputs), std::move(out_tangents)};
}

std::pair<array, array> jvp(const ArrayFn& fun, const array& primal, const array& tangent) {
  auto [outs, ts] = jvp([&](const std::vector<array>& x) { return std::vector<array>{fun(x[0])}; },
                        std::vector<array>{primal}, std::vector<array>{tangent});
  return {outs[0], ts[0]};
}

}  // namespace mica
