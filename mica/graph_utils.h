// Looking at the lazy graph behind arrays before it runs: a text listing (print_graph) and a
// Graphviz digraph (export_to_dot), as MLX's graph_utils.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mica/array.h"

namespace mica {

/** Gives arrays short names, "A", "B", ..., "Z", "AA", "AB", ..., in the order they are first
 * asked for; the same array (node) always gets the same name from one namer. */
struct NodeNamer {
  std::unordered_map<uintptr_t, std::string> names;
  const std::string& get_name(const array& x);
};

/** Writes the graph that computes `outputs`: its inputs (arrays already evaluated or without a
 * primitive), then one line per pending node in topological order (primitive, input names ->
 * output names with shapes and dtypes), then the outputs. Evaluates nothing. */
void print_graph(std::ostream& os, NodeNamer namer, const std::vector<array>& outputs);
void print_graph(std::ostream& os, const std::vector<array>& outputs);
template <typename... Arrays>
  requires(sizeof...(Arrays) > 0 && (std::is_convertible_v<Arrays, array> && ...))
void print_graph(std::ostream& os, Arrays&&... outputs) {
  print_graph(os, std::vector<array>{array(std::forward<Arrays>(outputs))...});
}

/** Writes the same graph as a Graphviz digraph: a box per array, an ellipse per primitive,
 * an edge from each input use to its primitive and from the primitive to each output. */
void export_to_dot(std::ostream& os, NodeNamer namer, const std::vector<array>& outputs);
void export_to_dot(std::ostream& os, const std::vector<array>& outputs);
template <typename... Arrays>
  requires(sizeof...(Arrays) > 0 && (std::is_convertible_v<Arrays, array> && ...))
void export_to_dot(std::ostream& os, Arrays&&... outputs) {
  export_to_dot(os, std::vector<array>{array(std::forward<Arrays>(outputs))...});
}

}  // namespace mica
