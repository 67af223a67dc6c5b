#include "mica/graph_utils.h"

#include <sstream>
#include <unordered_set>

#include "mica/dtype.h"
#include "mica/primitives/primitive.h"

namespace mica {

namespace {

// A node still to be computed: it has a primitive and no data yet. Anything else is a leaf.
bool is_pending(const array& a) { return a.has_primitive() && !a.is_available(); }

// The graph behind some outputs: leaves in the order found, pending nodes in topological
// order (one entry per primitive: its outputs, siblings included, in output order).
struct Graph {
  std::vector<array> leaves;
  std::vector<std::vector<array>> tape;
};

Graph collect(const std::vector<array>& outputs) {
  Graph g;
  std::unordered_set<uintptr_t> seen;
  // Depth-first without recursion: each frame is an array and the next input to visit.
  std::vector<std::pair<array, size_t>> stack;
  auto visit = [&](const array& a) {
    if (!seen.insert(a.id()).second) return;
    if (!is_pending(a)) {
      g.leaves.push_back(a);
      return;
    }
    // Siblings belong to the same node: mark them now so the node is recorded once.
    for (const auto& s : a.siblings()) seen.insert(s.id());
    stack.emplace_back(a, 0);
  };
  for (const auto& out : outputs) {
    visit(out);
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next < node.inputs().size()) {
        array in = node.inputs()[next++];  // copy: visit() may grow the stack
        visit(in);
        continue;
      }
      g.tape.push_back(node.outputs());
      stack.pop_back();
    }
  }
  return g;
}

std::string shape_text(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  if (s.size() == 1) out += ",";
  return out + ")";
}

std::string describe(NodeNamer& namer, const array& a) {
  return namer.get_name(a) + " " + shape_text(a.shape()) + " " + dtype_to_string(a.dtype());
}

std::string primitive_text(const array& a) {
  std::ostringstream os;
  a.primitive().print(os);
  return os.str();
}

// Escapes text for a double-quoted Graphviz string.
std::string dot_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

}  // namespace

const std::string& NodeNamer::get_name(const array& x) {
  auto it = names.find(x.id());
  if (it != names.end()) return it->second;
  // Bijective base 26: 0 -> A, 25 -> Z, 26 -> AA, ...
  size_t n = names.size() + 1;
  std::string name;
  while (n > 0) {
    --n;
    name.insert(name.begin(), static_cast<char>('A' + n % 26));
    n /= 26;
  }
  return names.emplace(x.id(), std::move(name)).first->second;
}

void print_graph(std::ostream& os, NodeNamer namer, const std::vector<array>& outputs) {
  Graph g = collect(outputs);
  auto list = [&](const char* title, const std::vector<array>& arrays) {
    os << title << ":";
    for (size_t i = 0; i < arrays.size(); ++i) os << (i ? ", " : " ") << describe(namer, arrays[i]);
    os << "\n";
  };
  list("Inputs", g.leaves);
  for (const auto& outs : g.tape) {
    const array& node = outs.front();
    os << primitive_text(node) << " ";
    for (size_t i = 0; i < node.inputs().size(); ++i) os << (i ? ", " : "") << namer.get_name(node.inputs()[i]);
    os << " ->";
    for (size_t i = 0; i < outs.size(); ++i) os << (i ? ", " : " ") << describe(namer, outs[i]);
    os << "\n";
  }
  list("Outputs", outputs);
}

void print_graph(std::ostream& os, const std::vector<array>& outputs) { print_graph(os, NodeNamer{}, outputs); }

void export_to_dot(std::ostream& os, NodeNamer namer, const std::vector<array>& outputs) {
  Graph g = collect(outputs);
  std::unordered_set<uintptr_t> outs_set;
  for (const auto& o : outputs) outs_set.insert(o.id());
  auto array_node = [&](const array& a) {
    std::string label = namer.get_name(a) + "\n" + shape_text(a.shape()) + " " + dtype_to_string(a.dtype());
    os << "  " << dot_quote(namer.get_name(a)) << " [label=" << dot_quote(label) << ", shape=box";
    if (outs_set.count(a.id())) os << ", style=filled, fillcolor=lightblue";
    os << "];\n";
  };
  os << "digraph {\n";
  os << "  rankdir=TB;\n";
  for (const auto& a : g.leaves) array_node(a);
  for (size_t p = 0; p < g.tape.size(); ++p) {
    const auto& outs = g.tape[p];
    const array& node = outs.front();
    std::string pid = dot_quote("P" + std::to_string(p));
    os << "  " << pid << " [label=" << dot_quote(primitive_text(node)) << ", shape=ellipse];\n";
    for (const auto& in : node.inputs()) os << "  " << dot_quote(namer.get_name(in)) << " -> " << pid << ";\n";
    for (const auto& o : outs) {
      array_node(o);
      os << "  " << pid << " -> " << dot_quote(namer.get_name(o)) << ";\n";
    }
  }
  os << "}\n";
}

void export_to_dot(std::ostream& os, const std::vector<array>& outputs) { export_to_dot(os, NodeNamer{}, outputs); }

}  // namespace mica
