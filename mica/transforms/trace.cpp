#include "mica/transforms/trace.h"

#include <typeinfo>
#include <utility>

#include "mica/ops/movement.h"
#include "mica/primitives/movement.h"
#include "mica/primitives/unary.h"
#include "mica/transforms.h"

namespace mica::detail {

Tape trace_tape(const std::vector<array>& outputs, const std::vector<array>& sources, bool stop_gradients) {
  Tape tape;
  std::unordered_set<uintptr_t> visited;
  for (auto& s : sources) {
    visited.insert(s.id());
    tape.depends.insert(s.id());
  }
  auto visit = [&](const array& a) {
    if (!visited.insert(a.id()).second) return false;
    for (auto& s : a.siblings()) visited.insert(s.id());
    return true;
  };
  // Post-order DFS with an explicit stack: graphs can be a million nodes deep.
  std::vector<std::pair<array, size_t>> stack;
  for (auto& o : outputs) {
    if (!visit(o)) continue;
    stack.emplace_back(o, 0);
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next < node.inputs().size()) {
        const array& in = node.inputs()[next++];
        if (visit(in)) stack.emplace_back(in, 0);
        continue;
      }
      array a = std::move(node);
      stack.pop_back();
      if (!a.has_primitive()) continue;
      if (stop_gradients && typeid(a.primitive()) == typeid(StopGradient)) continue;
      for (auto& in : a.inputs()) {
        if (tape.depends.count(in.id())) {
          tape.depends.insert(a.id());
          for (auto& s : a.siblings()) tape.depends.insert(s.id());
          tape.nodes.push_back(std::move(a));
          break;
        }
      }
    }
  }
  return tape;
}

array make_tracer(const array& p) {
  array t = [&] {
    if (p.is_available() && !p.is_tracer()) {
      // Share the buffer: no copy, and no edge back into the caller's graph. A tracer of an
      // enclosing transform keeps its edge (through a Copy node) so that transform sees it.
      array leaf(p.shape(), p.dtype(), nullptr, {});
      leaf.copy_shared_buffer(p);
      leaf.set_status(array::available);
      return leaf;
    }
    // Not computed yet: a node over p that shares p's buffer once p is row-contiguous (no copy
    // of every parameter when a training step is built before the previous one has run).
    return array(p.shape(), p.dtype(), std::make_shared<Copy>(to_stream({}), Copy::if_needed), {p});
  }();
  t.set_tracer(true);
  return t;
}

void record_rule(const char* rule, const Primitive& p) {
  if (recording_primitives()) record_name(std::string(rule) + ":" + p.name());
}

}  // namespace mica::detail
