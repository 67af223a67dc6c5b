// Sorting and selection ops along one axis. Without an axis they work on the flattened array,
// as MLX's C++ API. NaNs sort last; argsort is stable and returns uint32.
#pragma once
#include <string>

#include "mica/array.h"

namespace mica {

/** Sorted copy along `axis`. */
array sort(const array& a, int axis, StreamOrDevice s = {});
/** Sorted copy of the flattened array. */
array sort(const array& a, StreamOrDevice s = {});
/** Indices (uint32) that sort `a` along `axis`; ties keep their order. */
array argsort(const array& a, int axis, StreamOrDevice s = {});
/** Indices that sort the flattened array. */
array argsort(const array& a, StreamOrDevice s = {});
/** Copy where element kth (negative counts from the end) along `axis` is in sorted position,
 * no larger element before it and no smaller after it. */
array partition(const array& a, int kth, int axis, StreamOrDevice s = {});
/** partition of the flattened array. */
array partition(const array& a, int kth, StreamOrDevice s = {});
/** Indices (uint32) of the partition arrangement. */
array argpartition(const array& a, int kth, int axis, StreamOrDevice s = {});
/** argpartition of the flattened array. */
array argpartition(const array& a, int kth, StreamOrDevice s = {});
/** The k largest elements along `axis` (not sorted, as MLX), 0 <= k <= size of the axis. */
array topk(const array& a, int k, int axis, StreamOrDevice s = {});
/** topk of the flattened array. */
array topk(const array& a, int k, StreamOrDevice s = {});

/** For each value, the index at which it would be inserted into the 1-D `sorted_sequence`
 * (ascending, NaNs last) keeping it sorted: before equal entries (`side` "left") or after them
 * ("right"); uint32 of values' shape, as MLX and NumPy. */
array searchsorted(const array& sorted_sequence, const array& values, const std::string& side = "left",
                   StreamOrDevice s = {});

}  // namespace mica
