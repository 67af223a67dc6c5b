// Helpers shared by the transform rules of every family (primitives/<family>.cpp).
#pragma once
#include <vector>

#include "mica/array.h"

namespace mica::detail {

/** Sums `g` over the axes that broadcasting added or stretched, giving an array of `shape`. */
array unbroadcast(const array& g, const Shape& shape);

/** `x` with its batch axis (ax >= 0) moved to the front; unchanged when ax == -1. */
array batch_to_front(const array& x, int ax);

/** Inputs of an elementwise (broadcasting) op, ready for the batched op: batched inputs get
 * their batch axis in front followed by singleton axes so that every input has the same rank
 * per batch element; unbatched inputs are unchanged. The batched op's output has batch axis 0. */
std::vector<array> align_batched(const std::vector<array>& inputs, const std::vector<int>& axes);

}  // namespace mica::detail
