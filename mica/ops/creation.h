// Array creation ops.
#pragma once
#include <string>

#include "mica/array.h"

namespace mica {

/** Evenly spaced values in [start, stop) by step; the dtype defaults to int32 for integer
 * arguments and float32 otherwise. */
array arange(double start, double stop, double step, Dtype dtype, StreamOrDevice s = {});
array arange(double start, double stop, double step, StreamOrDevice s = {});
array arange(double start, double stop, Dtype dtype, StreamOrDevice s = {});
array arange(double start, double stop, StreamOrDevice s = {});
array arange(double stop, Dtype dtype, StreamOrDevice s = {});
array arange(double stop, StreamOrDevice s = {});
array arange(int start, int stop, int step, StreamOrDevice s = {});
array arange(int start, int stop, StreamOrDevice s = {});
array arange(int stop, StreamOrDevice s = {});
/** `num` evenly spaced values from start to stop (inclusive). */
array linspace(double start, double stop, int num = 50, Dtype dtype = float32, StreamOrDevice s = {});
/** An array of `shape` filled with vals (broadcast), converted to dtype. As MLX's, full, zeros,
 * ones and their *_like forms write every element (row-contiguous, data_size() == size()), so a
 * program may read or fill data<T>() directly; mica's own rules use the views in detail::. */
array full(Shape shape, array vals, Dtype dtype, StreamOrDevice s = {});
array full(Shape shape, array vals, StreamOrDevice s = {});
template <typename T>
array full(Shape shape, T val, Dtype dtype, StreamOrDevice s = {}) {
  return full(std::move(shape), array(val, dtype), s);
}
template <typename T>
array full(Shape shape, T val, StreamOrDevice s = {}) {
  return full(std::move(shape), array(val), s);
}
array zeros(const Shape& shape, Dtype dtype, StreamOrDevice s = {});
array zeros(const Shape& shape, StreamOrDevice s = {});
array zeros_like(const array& a, StreamOrDevice s = {});
/** Zeros of a's shape in `dtype`. */
array zeros_like(const array& a, Dtype dtype, StreamOrDevice s = {});
array ones(const Shape& shape, Dtype dtype, StreamOrDevice s = {});
array ones(const Shape& shape, StreamOrDevice s = {});
array ones_like(const array& a, StreamOrDevice s = {});
/** Ones of a's shape in `dtype`. */
array ones_like(const array& a, Dtype dtype, StreamOrDevice s = {});
array full_like(const array& a, const array& vals, StreamOrDevice s = {});
/** vals broadcast to a's shape, converted to `dtype`. */
array full_like(const array& a, const array& vals, Dtype dtype, StreamOrDevice s = {});
namespace detail {
/** full/zeros/ones as broadcast views of one value (no memory per element): constant operands
 * inside ops and transform rules, where nothing reads the buffer directly. */
array full_view(Shape shape, array vals, Dtype dtype, StreamOrDevice s = {});
array full_view(Shape shape, array vals, StreamOrDevice s = {});
array zeros_view(const Shape& shape, Dtype dtype, StreamOrDevice s = {});
array zeros_like_view(const array& a, StreamOrDevice s = {});
array zeros_like_view(const array& a, Dtype dtype, StreamOrDevice s = {});
array ones_view(const Shape& shape, Dtype dtype, StreamOrDevice s = {});
array ones_like_view(const array& a, StreamOrDevice s = {});
array ones_like_view(const array& a, Dtype dtype, StreamOrDevice s = {});
array full_like_view(const array& a, const array& vals, StreamOrDevice s = {});
}  // namespace detail
/** n x m matrix with ones on diagonal k. */
array eye(int n, int m, int k, Dtype dtype = float32, StreamOrDevice s = {});
array eye(int n, Dtype dtype = float32, StreamOrDevice s = {});
array eye(int n, int m, Dtype dtype = float32, StreamOrDevice s = {});
array identity(int n, Dtype dtype = float32, StreamOrDevice s = {});
/** n x m matrix with ones at and below diagonal k. */
array tri(int n, int m, int k, Dtype type = float32, StreamOrDevice s = {});
array tri(int n, Dtype type = float32, StreamOrDevice s = {});
/** Zeros above (tril) or below (triu) diagonal k of the last two axes. */
array tril(array x, int k = 0, StreamOrDevice s = {});
array triu(array x, int k = 0, StreamOrDevice s = {});
/** Coordinate grids; indexing "xy" (default) or "ij"; sparse keeps broadcastable shapes. */
std::vector<array> meshgrid(const std::vector<array>& arrays, bool sparse = false,
                            const std::string& indexing = "xy", StreamOrDevice s = {});

/** Window functions of M points (float32; empty for M < 1, [1] for M = 1), as MLX and NumPy:
 * hanning 0.5 - 0.5 cos(2 pi n / (M - 1)), hamming 0.54 - 0.46 cos(...), blackman
 * 0.42 - 0.5 cos(2 pi n / (M - 1)) + 0.08 cos(4 pi n / (M - 1)), bartlett 1 - |2n / (M - 1) - 1|. */
array hanning(int M, StreamOrDevice s = {});
array hamming(int M, StreamOrDevice s = {});
array blackman(int M, StreamOrDevice s = {});
array bartlett(int M, StreamOrDevice s = {});

}  // namespace mica
