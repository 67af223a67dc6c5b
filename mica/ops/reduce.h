// Reductions, arg-reductions, scans, softmax and logsumexp. Axes may be negative; a repeated
// axis is an error. Without axes an op reduces every axis; keepdims keeps reduced axes as
// size 1. Sum/prod of bool and 8/16-bit integers give int32 (uint32 for unsigned); mean, var,
// std, softmax and logsumexp of integers give float32.
#pragma once
#include <tuple>
#include <vector>

#include "mica/array.h"

namespace mica {

/** True if all elements are nonzero. */
array all(const array& a, bool keepdims, StreamOrDevice s = {});
/** True if all elements are nonzero. */
array all(const array& a, StreamOrDevice s = {});
/** True where all elements along `axes` are nonzero. */
array all(const array& a, const std::vector<int>& axes, bool keepdims = false, StreamOrDevice s = {});
/** True where all elements along `axis` are nonzero. */
array all(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});

/** True if any element is nonzero. */
array any(const array& a, bool keepdims, StreamOrDevice s = {});
/** True if any element is nonzero. */
array any(const array& a, StreamOrDevice s = {});
/** True where any element along `axes` is nonzero. */
array any(const array& a, const std::vector<int>& axes, bool keepdims = false, StreamOrDevice s = {});
/** True where any element along `axis` is nonzero. */
array any(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});

/** Sum of all elements. */
array sum(const array& a, bool keepdims, StreamOrDevice s = {});
/** Sum of all elements. */
array sum(const array& a, StreamOrDevice s = {});
/** Sum along `axes`. */
array sum(const array& a, const std::vector<int>& axes, bool keepdims = false, StreamOrDevice s = {});
/** Sum along `axis`. */
array sum(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});

/** Product of all elements. */
array prod(const array& a, bool keepdims, StreamOrDevice s = {});
/** Product of all elements. */
array prod(const array& a, StreamOrDevice s = {});
/** Product along `axes`. */
array prod(const array& a, const std::vector<int>& axes, bool keepdims = false, StreamOrDevice s = {});
/** Product along `axis`. */
array prod(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});

/** Mean of all elements. */
array mean(const array& a, bool keepdims, StreamOrDevice s = {});
/** Mean of all elements. */
array mean(const array& a, StreamOrDevice s = {});
/** Mean along `axes`. */
array mean(const array& a, const std::vector<int>& axes, bool keepdims = false, StreamOrDevice s = {});
/** Mean along `axis`. */
array mean(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});

/** Variance of all elements, dividing by max(n - ddof, 0). */
array var(const array& a, bool keepdims, int ddof = 0, StreamOrDevice s = {});
/** Variance of all elements. */
array var(const array& a, StreamOrDevice s = {});
/** Variance along `axes`, dividing by max(n - ddof, 0). */
array var(const array& a, const std::vector<int>& axes, bool keepdims = false, int ddof = 0, StreamOrDevice s = {});
/** Variance along `axis`, dividing by max(n - ddof, 0). */
array var(const array& a, int axis, bool keepdims = false, int ddof = 0, StreamOrDevice s = {});

/** The number of elements along `axes` of `a` (1 over it when `inverted`, as a mean divides)
 * as a scalar of `dtype`; unlike a constant, a shapeless compiled function recomputes it for the
 * shapes it runs on. */
array number_of_elements(const array& a, std::vector<int> axes, bool inverted, Dtype dtype = int32,
                         StreamOrDevice s = {});

/** Standard deviation of all elements (sqrt of var). */
array std(const array& a, bool keepdims, int ddof = 0, StreamOrDevice s = {});
/** Standard deviation of all elements. */
array std(const array& a, StreamOrDevice s = {});
/** Standard deviation along `axes`. */
array std(const array& a, const std::vector<int>& axes, bool keepdims = false, int ddof = 0, StreamOrDevice s = {});
/** Standard deviation along `axis`. */
array std(const array& a, int axis, bool keepdims = false, int ddof = 0, StreamOrDevice s = {});

/** Largest element (NaN if any is NaN); reducing an empty axis is an error. */
array max(const array& a, bool keepdims, StreamOrDevice s = {});
/** Largest element. */
array max(const array& a, StreamOrDevice s = {});
/** Largest elements along `axes`. */
array max(const array& a, const std::vector<int>& axes, bool keepdims = false, StreamOrDevice s = {});
/** Largest elements along `axis`. */
array max(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});

/** Smallest element (NaN if any is NaN); reducing an empty axis is an error. */
array min(const array& a, bool keepdims, StreamOrDevice s = {});
/** Smallest element. */
array min(const array& a, StreamOrDevice s = {});
/** Smallest elements along `axes`. */
array min(const array& a, const std::vector<int>& axes, bool keepdims = false, StreamOrDevice s = {});
/** Smallest elements along `axis`. */
array min(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});

/** Index (uint32) of the smallest element of the flattened array; first one on ties. */
array argmin(const array& a, bool keepdims, StreamOrDevice s = {});
/** Index of the smallest element of the flattened array. */
array argmin(const array& a, StreamOrDevice s = {});
/** Indices of the smallest elements along `axis`. */
array argmin(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});

/** Index (uint32) of the largest element of the flattened array; first one on ties. */
array argmax(const array& a, bool keepdims, StreamOrDevice s = {});
/** Index of the largest element of the flattened array. */
array argmax(const array& a, StreamOrDevice s = {});
/** Indices of the largest elements along `axis`. */
array argmax(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});

/** log(sum(exp(a))) over all elements, computed without overflow. */
array logsumexp(const array& a, bool keepdims, StreamOrDevice s = {});
/** log(sum(exp(a))) over all elements. */
array logsumexp(const array& a, StreamOrDevice s = {});
/** log(sum(exp(a))) along `axes`. */
array logsumexp(const array& a, const std::vector<int>& axes, bool keepdims = false, StreamOrDevice s = {});
/** log(sum(exp(a))) along `axis`. */
array logsumexp(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});

/** exp(a) / sum(exp(a)) along `axes`; `precise` computes half types in float32. */
array softmax(const array& a, const std::vector<int>& axes, bool precise = false, StreamOrDevice s = {});
/** Softmax over all elements. */
array softmax(const array& a, bool precise = false, StreamOrDevice s = {});
/** Softmax along `axis`. */
array softmax(const array& a, int axis, bool precise = false, StreamOrDevice s = {});

/** Cumulative sum along `axis`; `reverse` scans from the end; exclusive scans shift by one. */
array cumsum(const array& a, int axis, bool reverse = false, bool inclusive = true, StreamOrDevice s = {});
/** Cumulative sum of the flattened array. */
array cumsum(const array& a, bool reverse = false, bool inclusive = true, StreamOrDevice s = {});
/** Cumulative product along `axis`. */
array cumprod(const array& a, int axis, bool reverse = false, bool inclusive = true, StreamOrDevice s = {});
/** Cumulative product of the flattened array. */
array cumprod(const array& a, bool reverse = false, bool inclusive = true, StreamOrDevice s = {});
/** Cumulative maximum along `axis`. */
array cummax(const array& a, int axis, bool reverse = false, bool inclusive = true, StreamOrDevice s = {});
/** Cumulative maximum of the flattened array. */
array cummax(const array& a, bool reverse = false, bool inclusive = true, StreamOrDevice s = {});
/** Cumulative minimum along `axis`. */
array cummin(const array& a, int axis, bool reverse = false, bool inclusive = true, StreamOrDevice s = {});
/** Cumulative minimum of the flattened array. */
array cummin(const array& a, bool reverse = false, bool inclusive = true, StreamOrDevice s = {});
/** Cumulative log(sum(exp(a))) along `axis`. */
array logcumsumexp(const array& a, int axis, bool reverse = false, bool inclusive = true, StreamOrDevice s = {});
/** Cumulative log(sum(exp(a))) of the flattened array. */
array logcumsumexp(const array& a, bool reverse = false, bool inclusive = true, StreamOrDevice s = {});

/** The number of nonzero elements (int32), over all axes, `axis` or `axes` (NaN counts). */
array count_nonzero(const array& a, bool keepdims = false, StreamOrDevice s = {});
array count_nonzero(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});
array count_nonzero(const array& a, const std::vector<int>& axes, bool keepdims = false, StreamOrDevice s = {});

/** The median over all axes or over `axes` (the mean of the two middle values for an even
 * count; NaN when any value is NaN); integers give float32. An empty reduction is an error. */
array median(const array& a, bool keepdims, StreamOrDevice s = {});
inline array median(const array& a, StreamOrDevice s = {}) { return median(a, false, s); }
array median(const array& a, const std::vector<int>& axes, bool keepdims = false, StreamOrDevice s = {});
array median(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});

/** (min, max) over all axes or over `axes`. */
std::tuple<array, array> minmax(const array& a, bool keepdims, StreamOrDevice s = {});
inline std::tuple<array, array> minmax(const array& a, StreamOrDevice s = {}) { return minmax(a, false, s); }
std::tuple<array, array> minmax(const array& a, const std::vector<int>& axes, bool keepdims = false,
                                StreamOrDevice s = {});
std::tuple<array, array> minmax(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});

}  // namespace mica
