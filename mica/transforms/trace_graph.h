// The graph of a traced function, as compile and export record it: walked from the outputs down
// to the placeholder inputs (no recursion), everything that depends on no input a constant
// (evaluated here: constant folding), the rest nodes in an order where every node follows its
// arguments. Values are numbered in slots: the inputs, then the constants, then each node's
// outputs in node order.
#pragma once
#include <memory>
#include <vector>

#include "mica/array.h"
#include "mica/primitives/primitive.h"

namespace mica::detail {

struct TracedNode {
  std::shared_ptr<Primitive> prim;
  std::vector<int> args;  // slots
  std::vector<Shape> shapes;
  std::vector<Dtype> dtypes;
  int first = 0;  // slot of output 0
};

struct TracedGraph {
  int num_inputs = 0;
  std::vector<array> constants;  // evaluated
  std::vector<TracedNode> nodes;
  std::vector<int> outputs;  // slots
};

/** The graph from `inputs` (placeholders) to `outputs`. With expand_compiled, a node of a fused
 *  group (Compiled) is recorded as its steps. */
TracedGraph trace_graph(const std::vector<array>& inputs, const std::vector<array>& outputs, bool expand_compiled);

}  // namespace mica::detail
