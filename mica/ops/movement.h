// Shape ops: reshape, transpose, broadcast, slicing, joining, padding. Most return views.
#pragma once
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mica/array.h"

namespace mica {

/** Same elements in a new shape; one dim may be -1 (inferred). */
array reshape(const array& a, Shape shape, StreamOrDevice s = {});
/** Merges axes start_axis..end_axis into one. */
array flatten(const array& a, int start_axis, int end_axis = -1, StreamOrDevice s = {});
array flatten(const array& a, StreamOrDevice s = {});
/** Splits `axis` into `shape` (one entry may be -1). */
array unflatten(const array& a, int axis, Shape shape, StreamOrDevice s = {});
/** Removes size-1 axes (all of them, or the given ones). */
array squeeze(const array& a, const std::vector<int>& axes, StreamOrDevice s = {});
array squeeze(const array& a, int axis, StreamOrDevice s = {});
array squeeze(const array& a, StreamOrDevice s = {});
/** Inserts size-1 axes at the given positions of the result. */
array expand_dims(const array& a, const std::vector<int>& axes, StreamOrDevice s = {});
array expand_dims(const array& a, int axis, StreamOrDevice s = {});
/** Permutes axes (reverses them when none are given). */
array transpose(const array& a, std::vector<int> axes, StreamOrDevice s = {});
inline array transpose(const array& a, std::initializer_list<int> axes, StreamOrDevice s = {}) {
  return transpose(a, std::vector<int>(axes), s);
}
array transpose(const array& a, StreamOrDevice s = {});
/** Swaps the last two axes. */
array matrix_transpose(const array& a, StreamOrDevice s = {});
/** Same as transpose(a, axes). */
array permute_dims(const array& a, std::vector<int> axes, StreamOrDevice s = {});
/** Exchanges two axes. */
array swapaxes(const array& a, int axis1, int axis2, StreamOrDevice s = {});
/** Moves axis `source` to position `destination`, keeping the others in order. */
array moveaxis(const array& a, int source, int destination, StreamOrDevice s = {});
/** Broadcasts to `shape` (NumPy rules); a view. */
array broadcast_to(const array& a, const Shape& shape, StreamOrDevice s = {});
/** Broadcasts every input to their common shape. */
std::vector<array> broadcast_arrays(const std::vector<array>& inputs, StreamOrDevice s = {});
/** Joins along an existing axis; inputs are promoted to a common dtype. Without an axis the
 * inputs are flattened first (as MLX's C++ API). */
array concatenate(std::vector<array> arrays, int axis, StreamOrDevice s = {});
array concatenate(std::vector<array> arrays, StreamOrDevice s = {});
/** Same as concatenate(arrays, axis). */
array concat(std::vector<array> arrays, int axis, StreamOrDevice s = {});
/** Joins along a new axis. */
array stack(const std::vector<array>& arrays, int axis, StreamOrDevice s = {});
array stack(const std::vector<array>& arrays, StreamOrDevice s = {});
/** Splits into `num_splits` equal parts, or at the given indices, along `axis`. */
std::vector<array> split(const array& a, int num_splits, int axis, StreamOrDevice s = {});
std::vector<array> split(const array& a, int num_splits, StreamOrDevice s = {});
std::vector<array> split(const array& a, const Shape& indices, int axis, StreamOrDevice s = {});
std::vector<array> split(const array& a, const Shape& indices, StreamOrDevice s = {});
/** Splits along `axis` into its slices, removing the axis. */
std::vector<array> unstack(const array& a, int axis, StreamOrDevice s = {});
std::vector<array> unstack(const array& a, StreamOrDevice s = {});
/** Repeats each element `repeats` times along `axis` (flattened when no axis). */
array repeat(const array& a, int repeats, int axis, StreamOrDevice s = {});
array repeat(const array& a, int repeats, StreamOrDevice s = {});
/** Repeats the whole array `reps` times per axis. */
array tile(const array& a, std::vector<int> reps, StreamOrDevice s = {});
/** Pads with widths per axis; mode "constant" | "edge" | "reflect" | "symmetric". */
array pad(const array& a, const std::vector<int>& axes, const Shape& low_pad_size, const Shape& high_pad_size,
          const array& pad_value = array(0), const std::string& mode = "constant", StreamOrDevice s = {});
array pad(const array& a, const std::vector<std::pair<int, int>>& pad_width, const array& pad_value = array(0),
          const std::string& mode = "constant", StreamOrDevice s = {});
array pad(const array& a, const std::pair<int, int>& pad_width, const array& pad_value = array(0),
          const std::string& mode = "constant", StreamOrDevice s = {});
array pad(const array& a, int pad_width, const array& pad_value = array(0), const std::string& mode = "constant",
          StreamOrDevice s = {});
/** Rolls elements by `shift` along axes (the flattened array when none). Several shifts for
 * one axis (or none) add up; with axes, shift i applies to axes[i] (extra shifts are ignored). */
array roll(const array& a, int shift, StreamOrDevice s = {});
array roll(const array& a, const Shape& shift, StreamOrDevice s = {});
array roll(const array& a, int shift, int axis, StreamOrDevice s = {});
array roll(const array& a, int shift, const std::vector<int>& axes, StreamOrDevice s = {});
array roll(const array& a, const Shape& shift, int axis, StreamOrDevice s = {});
array roll(const array& a, const Shape& shift, const std::vector<int>& axes, StreamOrDevice s = {});
/** Reverses the order of elements along axes (all when none). */
array flip(const array& a, const std::vector<int>& axes, StreamOrDevice s = {});
array flip(const array& a, int axis, StreamOrDevice s = {});
array flip(const array& a, StreamOrDevice s = {});
/** The `offset` diagonal of the (axis1, axis2) planes, appended as the last axis. */
array diagonal(const array& a, int offset = 0, int axis1 = 0, int axis2 = 1, StreamOrDevice s = {});
/** 1-D input: a 2-D array with it on diagonal k; 2-D input: its diagonal k. */
array diag(const array& a, int k = 0, StreamOrDevice s = {});
/** A view with explicit shape, strides (in elements) and offset. */
array as_strided(array a, Shape shape, Strides strides, size_t offset, StreamOrDevice s = {});
/** Reinterprets the bytes as `dtype` (the last axis scales with the size ratio). As bool, each
 * byte is true when nonzero (a bool holds only 0 or 1). */
array view(const array& a, const Dtype& dtype, StreamOrDevice s = {});
/** A row-contiguous copy. */
array copy(array a, StreamOrDevice s = {});
/** A row-contiguous version (a copy only when needed; column-major is kept when allowed). */
array contiguous(const array& a, bool allow_col_major = false, StreamOrDevice s = {});
/** Adds leading (and for 3-d, trailing) size-1 axes up to the given rank, as NumPy. */
array atleast_1d(const array& a, StreamOrDevice s = {});
std::vector<array> atleast_1d(const std::vector<array>& a, StreamOrDevice s = {});
array atleast_2d(const array& a, StreamOrDevice s = {});
std::vector<array> atleast_2d(const std::vector<array>& a, StreamOrDevice s = {});
array atleast_3d(const array& a, StreamOrDevice s = {});
std::vector<array> atleast_3d(const std::vector<array>& a, StreamOrDevice s = {});

/** a[start:stop:strides] per axis with Python's rules: negative start/stop count from the end,
 * out-of-range bounds are clamped, strides are non-zero (negative walks backwards). A view. */
array slice(const array& a, Shape start, Shape stop, Shape strides, StreamOrDevice s = {});
// Braced start lists would otherwise be ambiguous with the dynamic-start overload.
inline array slice(const array& a, std::initializer_list<int> start, Shape stop, Shape strides, StreamOrDevice s = {}) {
  return slice(a, Shape(start), std::move(stop), std::move(strides), s);
}
array slice(const array& a, Shape start, Shape stop, StreamOrDevice s = {});
/** Slice of `slice_size` whose start along `axes` comes from the 0-d/1-d integer array `start`
 * (one per axis; negative starts count from the end, then each is clamped so the slice fits);
 * other axes start at 0. */
array slice(const array& a, const array& start, std::vector<int> axes, Shape slice_size, StreamOrDevice s = {});
/** a with a[start:stop:strides] replaced by `update` (broadcast to the slice). */
array slice_update(const array& src, const array& update, Shape start, Shape stop, Shape strides,
                   StreamOrDevice s = {});
array slice_update(const array& src, const array& update, Shape start, Shape stop, StreamOrDevice s = {});
inline array slice_update(const array& src, const array& update, std::initializer_list<int> start, Shape stop,
                          StreamOrDevice s = {}) {
  return slice_update(src, update, Shape(start), std::move(stop), s);
}
/** a with a[start:stop:strides] combined with `update` (cast to a's dtype, broadcast to the
 * slice) by +, *, max or min: a[slice] = a[slice] op update, as MLX's slice_update_add, _prod,
 * _max and _min. */
array slice_update_add(const array& src, const array& update, Shape start, Shape stop, Shape strides,
                       StreamOrDevice s = {});
array slice_update_add(const array& src, const array& update, Shape start, Shape stop, StreamOrDevice s = {});
array slice_update_prod(const array& src, const array& update, Shape start, Shape stop, Shape strides,
                        StreamOrDevice s = {});
array slice_update_prod(const array& src, const array& update, Shape start, Shape stop, StreamOrDevice s = {});
array slice_update_max(const array& src, const array& update, Shape start, Shape stop, Shape strides,
                       StreamOrDevice s = {});
array slice_update_max(const array& src, const array& update, Shape start, Shape stop, StreamOrDevice s = {});
array slice_update_min(const array& src, const array& update, Shape start, Shape stop, Shape strides,
                       StreamOrDevice s = {});
array slice_update_min(const array& src, const array& update, Shape start, Shape stop, StreamOrDevice s = {});
/** Dynamic-start version of slice_update: `update` is broadcast to full extent on the axes not
 * listed; starts are read and clamped as in the dynamic slice. */
array slice_update(const array& src, const array& update, const array& start, std::vector<int> axes,
                   StreamOrDevice s = {});

}  // namespace mica
