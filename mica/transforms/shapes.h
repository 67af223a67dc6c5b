// Output shapes of a node from its inputs' shapes (internal): the rule shapeless compile and
// shapeless export replay a traced graph with.
#pragma once
#include <optional>
#include <vector>

#include "mica/array.h"
#include "mica/primitives/primitive.h"

namespace mica::detail {

/** Output shapes of `prim` over inputs of shapes `in` (the node has `num_outputs` outputs).
 *  Throws std::invalid_argument "[op] expected …, got …" for a primitive whose output shape is a
 *  parameter (reshape, slice, broadcast …) or inputs whose shapes do not fit it (a matmul's
 *  inner sizes, a norm's weight). */
std::vector<Shape> infer_output_shapes(const Primitive& prim, const std::vector<Shape>& in, size_t num_outputs,
                                       const char* op);

/** The same, or nothing when `prim` has no shape rule (its output shape is a parameter). */
std::optional<std::vector<Shape>> try_infer_output_shapes(const Primitive& prim, const std::vector<Shape>& in,
                                                          size_t num_outputs, const char* op);

}  // namespace mica::detail
