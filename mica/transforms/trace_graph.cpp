// Recording a traced function's graph (trace_graph.h), shared by compile and export.
#include "mica/transforms/trace_graph.h"

#include <unordered_map>

#include "mica/primitives/compiled.h"
#include "mica/transforms.h"

namespace mica::detail {

TracedGraph trace_graph(const std::vector<array>& inputs, const std::vector<array>& outputs, bool expand_compiled) {
  TracedGraph g;
  g.num_inputs = static_cast<int>(inputs.size());
  // Provisional references: kind 0 input, 1 constant, 2 node output (index, position).
  struct Ref {
    int kind, index, pos;
  };
  struct Pending {
    std::shared_ptr<Primitive> prim;
    std::vector<Ref> args;
    std::vector<Shape> shapes;
    std::vector<Dtype> dtypes;
  };
  std::unordered_map<uintptr_t, Ref> refs;
  for (int i = 0; i < g.num_inputs; ++i) refs.emplace(inputs[i].id(), Ref{0, i, 0});
  std::vector<Pending> nodes;
  auto constant = [&](const array& a) {
    refs.emplace(a.id(), Ref{1, static_cast<int>(g.constants.size()), 0});
    g.constants.push_back(a);
  };
  std::vector<std::pair<array, size_t>> stack;
  for (const auto& o : outputs) {
    if (refs.count(o.id())) continue;
    stack.emplace_back(o, 0);
    while (!stack.empty()) {
      auto& [a, next] = stack.back();
      if (!a.has_primitive() || a.is_available()) {
        array leaf = a;
        stack.pop_back();
        if (!refs.count(leaf.id())) constant(leaf);
        continue;
      }
      if (next < a.inputs().size()) {
        const array& in = a.inputs()[next++];
        if (!refs.count(in.id())) stack.emplace_back(in, 0);
        continue;
      }
      array node = a;
      stack.pop_back();
      if (refs.count(node.id())) continue;  // reached again through a sibling
      bool depends = false;
      std::vector<Ref> args;
      for (const auto& in : node.inputs()) {
        args.push_back(refs.at(in.id()));
        depends |= args.back().kind != 1;
      }
      if (!depends) {
        constant(node);
        continue;
      }
      auto outs = node.outputs();
      if (auto* c = expand_compiled ? dynamic_cast<const Compiled*>(&node.primitive()) : nullptr) {
        // A fused node: its steps become ordinary nodes.
        std::vector<Ref> values = args;
        std::vector<Shape> value_shapes;
        for (const auto& in : node.inputs()) value_shapes.push_back(in.shape());
        for (const auto& st : c->steps()) {
          Pending p{st.prim, {}, {}, {st.dtype}};
          std::vector<Shape> arg_shapes;
          for (int v : st.args) {
            p.args.push_back(values.at(v));
            arg_shapes.push_back(value_shapes.at(v));
          }
          p.shapes.push_back(Compiled::step_shape(st, arg_shapes));
          values.push_back(Ref{2, static_cast<int>(nodes.size()), 0});
          value_shapes.push_back(p.shapes[0]);
          nodes.push_back(std::move(p));
        }
        for (size_t k = 0; k < outs.size(); ++k) refs.insert_or_assign(outs[k].id(), values.at(c->output_values().at(k)));
        continue;
      }
      Pending p{node.primitive_ptr(), std::move(args), {}, {}};
      for (size_t k = 0; k < outs.size(); ++k) {
        p.shapes.push_back(outs[k].shape());
        p.dtypes.push_back(outs[k].dtype());
        refs.insert_or_assign(outs[k].id(), Ref{2, static_cast<int>(nodes.size()), static_cast<int>(k)});
      }
      nodes.push_back(std::move(p));
    }
  }
  eval(g.constants);  // constant folding: whatever depends on no input is computed once, here
  std::vector<int> node_slot(nodes.size());
  int next_slot = g.num_inputs + static_cast<int>(g.constants.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    node_slot[i] = next_slot;
    next_slot += static_cast<int>(nodes[i].shapes.size());
  }
  auto slot = [&](const Ref& r) {
    return r.kind == 0 ? r.index : r.kind == 1 ? g.num_inputs + r.index : node_slot[r.index] + r.pos;
  };
  for (size_t i = 0; i < nodes.size(); ++i) {
    TracedNode n{std::move(nodes[i].prim), {}, std::move(nodes[i].shapes), std::move(nodes[i].dtypes), node_slot[i]};
    for (const auto& r : nodes[i].args) n.args.push_back(slot(r));
    g.nodes.push_back(std::move(n));
  }
  for (const auto& o : outputs) g.outputs.push_back(slot(refs.at(o.id())));
  return g;
}

}  // namespace mica::detail
