// Matrix products: matmul, gather_mm, addmm, inner, outer, tensordot, einsum.
// Batch dims broadcast (NumPy rules); a 1-D left operand is treated as a row (1, K) and a 1-D
// right operand as a column (K, 1), the added axis being removed from the result.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "mica/array.h"

namespace mica {

/** Matrix product a @ b with broadcast batch dims; floating (and complex) types only. */
array matmul(const array& a, const array& b, StreamOrDevice s = {});

/** Matrix product with matrix-level gather: lhs_indices pick flat batch entries of a
 * (A1..., M, K), rhs_indices flat batch entries of b (B1..., K, N); the two index arrays
 * broadcast together into the result's batch shape (a missing one is every batch entry of its
 * operand, in order). `sorted_indices` is MLX's hint that the indices are sorted. */
array gather_mm(array a, array b, std::optional<array> lhs_indices = {},
                std::optional<array> rhs_indices = {}, bool sorted_indices = false, StreamOrDevice s = {});

/** alpha * (a @ b) + beta * c, where c broadcasts to the shape of a @ b. */
array addmm(array c, array a, array b, const float& alpha = 1.f, const float& beta = 1.f, StreamOrDevice s = {});

/** Sum product over the last axes of a and b (a plain product when either is 0-d). */
array inner(const array& a, const array& b, StreamOrDevice s = {});

/** Outer product of the flattened a and b: shape (a.size(), b.size()). */
array outer(const array& a, const array& b, StreamOrDevice s = {});

/** Contracts the last `axis` axes of a with the first `axis` axes of b. */
array tensordot(const array& a, const array& b, const int axis = 2, StreamOrDevice s = {});

/** Contracts axes_a of a with axes_b of b (pairwise); the result has a's free axes then b's. */
array tensordot(const array& a, const array& b, const std::vector<int>& axes_a, const std::vector<int>& axes_b,
                StreamOrDevice s = {});

/** Einstein summation, e.g. "ij,jk->ik", "ii", "...ij,...jk", "bij->b"; without "->" the output
 * holds the ellipsis dims then the letters used once, in alphabetical order. */
array einsum(const std::string& subscripts, const std::vector<array>& operands, StreamOrDevice s = {});

/** sum(conj(a) * b) along `axis` (a and b broadcast), as MLX's vecdot. */
array vecdot(const array& a, const array& b, int axis = -1, StreamOrDevice s = {});

/** The Kronecker product: a (..., a_i) and b (..., b_i), the shorter padded with leading 1s, give
 * (..., a_i b_i) with out[..., i b_i + j] = a[..., i] b[..., j] along every axis. */
array kron(const array& a, const array& b, StreamOrDevice s = {});

/** Products of a (..., M, K) and b (..., K, N) over segments of the inner dimension: segments
 * (..., S, 2) holds [start, end) pairs of K (integers), the result (..., S, M, N) holds
 * a[..., :, start:end] @ b[..., start:end, :] per segment (zero for an empty one), as MLX. */
array segmented_mm(array a, array b, array segments, StreamOrDevice s = {});

/** a @ b with blocks of block_size x block_size masked, as MLX: mask_lhs (..., ceil(M / bs),
 * ceil(K / bs)) scales a's blocks, mask_rhs (..., ceil(K / bs), ceil(N / bs)) b's, mask_out
 * (..., ceil(M / bs), ceil(N / bs)) the result's; bool masks keep or zero a block, floating ones
 * multiply it. */
array block_masked_mm(array a, array b, int block_size, std::optional<array> mask_out = std::nullopt,
                      std::optional<array> mask_lhs = std::nullopt, std::optional<array> mask_rhs = std::nullopt,
                      StreamOrDevice s = {});

/** The Walsh-Hadamard transform along the last axis (its size a power of two), times `scale`
 * (1/sqrt(n) unless given): the orthonormal transform by default; integers give float32. */
array hadamard_transform(const array& a, std::optional<float> scale = std::nullopt, StreamOrDevice s = {});

}  // namespace mica
