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

/** The size of the batch axis of the first batched input (axes[i] >= 0); throws
 *  std::logic_error when none is batched. */
int batch_size(const std::vector<array>& inputs, const std::vector<int>& axes);

/** `x` with its batch axis in front; an unbatched x (ax == -1) is broadcast along a new front
 *  axis of size b. */
array batched_front(const array& x, int ax, int b);

/** The tangent of input i when i is among argnums, else nullptr. */
const array* tangent_of(const std::vector<array>& tangents, const std::vector<int>& argnums, int i);

/** The tangent of input i cast to d, or zeros of the input's shape when it has none. */
array tangent_or_zeros(const std::vector<array>& primals, const std::vector<array>& tangents,
                       const std::vector<int>& argnums, int i, Dtype d);

/** Each axis plus `by`. */
std::vector<int> shifted(const std::vector<int>& axes, int by);

/** v with x inserted in front. */
template <typename V>
V prepend(V v, typename V::value_type x) {
  v.insert(v.begin(), x);
  return v;
}

}  // namespace mica::detail
