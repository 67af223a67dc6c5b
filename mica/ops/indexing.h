// Indexing ops: take, take_along_axis, put_along_axis, gather, scatter (+ reductions),
// masked_scatter. Indices may have any integer dtype (not bool); they broadcast together.
// Negative indices count from the end (index + dim), as in MLX. Indices still out of range
// after that are not checked, as in MLX, but stay safe: gathers clamp them into range and
// scatters drop the update (see primitives/indexing.h).
#pragma once
#include <vector>

#include "mica/array.h"

namespace mica {

/** Slices of `a` at `indices` along `axis`: shape a.shape[:axis] + indices.shape + a.shape[axis+1:]. */
array take(const array& a, const array& indices, int axis, StreamOrDevice s = {});
/** The slice of `a` at `index` along `axis` (that axis removed). */
array take(const array& a, int index, int axis, StreamOrDevice s = {});
/** Elements of flattened `a` at `indices` (shape of indices). */
array take(const array& a, const array& indices, StreamOrDevice s = {});
/** The element of flattened `a` at `index` (a scalar). */
array take(const array& a, int index, StreamOrDevice s = {});
/** out[..., j, ...] = a[..., indices[..., j, ...], ...] along `axis`; indices has a's ndim and
 * broadcasts with a on the other axes. */
array take_along_axis(const array& a, const array& indices, int axis, StreamOrDevice s = {});
/** a with `values` written at `indices` along `axis` (indices, values and a broadcast on the
 * other axes; values are cast to a's dtype). */
array put_along_axis(const array& a, const array& indices, const array& values, int axis, StreamOrDevice s = {});
/** Like put_along_axis but adds the values (repeated indices accumulate). */
array scatter_add_axis(const array& a, const array& indices, const array& values, int axis, StreamOrDevice s = {});

/** Slices of size `slice_sizes` (one per dim of a) starting at the indices along `axes`:
 * shape broadcast(indices).shape + slice_sizes. */
array gather(const array& a, const std::vector<array>& indices, const std::vector<int>& axes,
             const Shape& slice_sizes, StreamOrDevice s = {});
/** gather with a single index array. */
array gather(const array& a, const array& indices, int axis, const Shape& slice_sizes, StreamOrDevice s = {});

/** a with updates (shape broadcast(indices).shape + window, window ndim = a.ndim) written at the
 * indices along `axes`; later updates win on repeated indices. */
array scatter(const array& a, const std::vector<array>& indices, const array& updates, const std::vector<int>& axes,
              StreamOrDevice s = {});
array scatter(const array& a, const array& indices, const array& updates, int axis, StreamOrDevice s = {});
/** scatter that adds updates (repeats accumulate). */
array scatter_add(const array& a, const std::vector<array>& indices, const array& updates,
                  const std::vector<int>& axes, StreamOrDevice s = {});
array scatter_add(const array& a, const array& indices, const array& updates, int axis, StreamOrDevice s = {});
/** scatter that multiplies by the updates. */
array scatter_prod(const array& a, const std::vector<array>& indices, const array& updates,
                   const std::vector<int>& axes, StreamOrDevice s = {});
array scatter_prod(const array& a, const array& indices, const array& updates, int axis, StreamOrDevice s = {});
/** scatter that keeps the maximum (NaN wins). */
array scatter_max(const array& a, const std::vector<array>& indices, const array& updates,
                  const std::vector<int>& axes, StreamOrDevice s = {});
array scatter_max(const array& a, const array& indices, const array& updates, int axis, StreamOrDevice s = {});
/** scatter that keeps the minimum (NaN wins). */
array scatter_min(const array& a, const std::vector<array>& indices, const array& updates,
                  const std::vector<int>& axes, StreamOrDevice s = {});
array scatter_min(const array& a, const array& indices, const array& updates, int axis, StreamOrDevice s = {});

/** a with the positions where `mask` (bool, broadcast to a's shape) is true replaced, in row-major
 * order, by consecutive elements of `src` (read row-major, cast to a's dtype; reused cyclically
 * if too short, so a scalar src fills every masked position). */
array masked_scatter(const array& a, const array& mask, const array& src, StreamOrDevice s = {});

}  // namespace mica
