// vmap: traces the function on unbatched placeholders, then replays the graph with each
// primitive's batched rule on the real inputs.
#include <stdexcept>
#include <unordered_map>

#include "mica/ops.h"
#include "mica/ops/utils.h"
#include "mica/primitives/primitive.h"
#include "mica/transforms.h"
#include "mica/transforms/trace.h"

namespace mica {

namespace {
std::vector<array> vmap_apply(const ArraysFn& fun, const std::vector<array>& inputs, std::vector<int> in_axes,
                              std::vector<int> out_axes) {
  if (in_axes.empty()) in_axes.assign(inputs.size(), 0);
  if (in_axes.size() != inputs.size()) {
    throw std::invalid_argument("[vmap] expected one input axis per input (" + std::to_string(inputs.size()) +
                                "), got " + std::to_string(in_axes.size()) + ".");
  }
  int batch = -1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    int& ax = in_axes[i];
    if (ax == -1) continue;
    int nd = inputs[i].ndim();
    if (ax < -nd || ax >= nd) {
      throw std::invalid_argument("[vmap] expected an input axis in [" + std::to_string(-nd) + ", " +
                                  std::to_string(nd) + ") for input " + std::to_string(i) + " of shape " +
                                  detail::shape_str(inputs[i].shape()) + ", got " + std::to_string(ax) + ".");
    }
    if (ax < 0) ax += nd;
    int n = inputs[i].shape(ax);
    if (batch >= 0 && n != batch) {
      throw std::invalid_argument("[vmap] expected the mapped axes to have one size, got sizes " +
                                  std::to_string(batch) + " and " + std::to_string(n) + ".");
    }
    batch = n;
  }
  if (batch < 0) throw std::invalid_argument("[vmap] expected at least one mapped input, got in_axes all -1.");

  detail::TracingScope scope;
  std::vector<array> args;
  std::vector<array> placeholders;
  std::unordered_map<uintptr_t, std::pair<array, int>> batched;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (in_axes[i] == -1) {
      args.push_back(inputs[i]);
      continue;
    }
    Shape s = inputs[i].shape();
    s.erase(s.begin() + in_axes[i]);
    array ph(std::move(s), inputs[i].dtype(), nullptr, {});
    ph.set_tracer(true);
    batched.insert_or_assign(ph.id(), std::make_pair(inputs[i], in_axes[i]));
    placeholders.push_back(ph);
    args.push_back(std::move(ph));
  }
  std::vector<array> outputs = fun(args);
  if (out_axes.empty()) out_axes.assign(outputs.size(), 0);
  if (out_axes.size() != outputs.size()) {
    throw std::invalid_argument("[vmap] expected one output axis per output (" + std::to_string(outputs.size()) +
                                "), got " + std::to_string(out_axes.size()) + ".");
  }
  detail::Tape tape = detail::trace_tape(outputs, placeholders, /*stop_gradients=*/false);
  for (auto& node : tape.nodes) {
    std::vector<array> ins;
    std::vector<int> axes;
    for (auto& in : node.inputs()) {
      auto b = batched.find(in.id());
      if (b == batched.end()) {
        ins.push_back(in);
        axes.push_back(-1);
      } else {
        ins.push_back(b->second.first);
        axes.push_back(b->second.second);
      }
    }
    auto& p = node.primitive();
    auto [outs, oaxes] = p.vmap(ins, axes);
    detail::record_rule("vmap", p);
    std::vector<array> node_outs = node.outputs();
    if (outs.size() != node_outs.size() || oaxes.size() != outs.size()) {
      throw std::logic_error(std::string("[vmap] rule of ") + p.name() + " returned " + std::to_string(outs.size()) +
                             " outputs for " + std::to_string(node_outs.size()) + ".");
    }
    for (size_t k = 0; k < outs.size(); ++k) {
      Shape expect = node_outs[k].shape();
      if (oaxes[k] >= 0) expect.insert(expect.begin() + oaxes[k], batch);
      if (outs[k].shape() != expect) {
        throw std::logic_error(std::string("[vmap] rule of ") + p.name() + " returned shape " +
                               detail::shape_str(outs[k].shape()) + " with batch axis " +
                               std::to_string(oaxes[k]) + " for an output of shape " +
                               detail::shape_str(node_outs[k].shape()) + ".");
      }
      batched.insert_or_assign(node_outs[k].id(), std::make_pair(std::move(outs[k]), oaxes[k]));
    }
  }
  std::vector<array> results;
  for (size_t i = 0; i < outputs.size(); ++i) {
    array out = outputs[i];
    int ax = -1;
    if (auto b = batched.find(out.id()); b != batched.end()) {
      out = b->second.first;
      ax = b->second.second;
    }
    int nd = out.ndim() + (ax == -1 ? 1 : 0);
    int oa = out_axes[i];
    if (oa < -nd || oa >= nd) {
      throw std::invalid_argument("[vmap] expected an output axis in [" + std::to_string(-nd) + ", " +
                                  std::to_string(nd) + ") for output " + std::to_string(i) + ", got " +
                                  std::to_string(oa) + ".");
    }
    if (oa < 0) oa += nd;
    if (ax == -1) {
      // An output that does not depend on a mapped input is the same for every batch element.
      Shape s = out.shape();
      s.insert(s.begin() + oa, batch);
      results.push_back(broadcast_to(expand_dims(out, oa), s));
    } else {
      results.push_back(ax == oa ? out : moveaxis(out, ax, oa));
    }
  }
  return results;
}
}  // namespace

ArraysFn vmap(const ArraysFn& fun, const std::vector<int>& in_axes, const std::vector<int>& out_axes) {
  return [fun, in_axes, out_axes](const std::vector<array>& inputs) {
    return vmap_apply(fun, inputs, in_axes, out_axes);
  };
}

ArrayFn vmap(const ArrayFn& fun, int in_axis, int out_axis) {
  auto f = vmap([fun](const std::vector<array>& x) { return std::vector<array>{fun(x[0])}; }, {in_axis}, {out_axis});
  return [f](const array& x) { return f({x})[0]; };
}

std::function<array(const array&, const array&)> vmap(const std::function<array(const array&, const array&)>& fun,
                                                      int in_axis_a, int in_axis_b) {
  auto f = vmap([fun](const std::vector<array>& x) { return std::vector<array>{fun(x[0], x[1])}; },
                {in_axis_a, in_axis_b}, {0});
  return [f](const array& a, const array& b) { return f({a, b})[0]; };
}

}  // namespace mica
