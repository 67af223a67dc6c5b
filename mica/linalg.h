// mica::linalg: norms, factorizations, inverses and solvers, as MLX's mx.linalg. Every op works
// on the last two axes (the last one for vectors) and batches over the leading axes.
// Factorizations take float32 or float64 (integer and half inputs are rejected, as MLX); they
// run on the CPU through LAPACK, also for GPU streams (their data goes over and back). Values a
// factorization cannot handle (a singular matrix for inv or solve, one that is not positive
// definite for cholesky) throw std::runtime_error when the array is evaluated, naming the op.
// Gradients: the vjp and jvp of inv, tri_inv, cholesky, cholesky_inv, solve, solve_triangular,
// det, slogdet, lu / lu_factor (square), qr (full column or row rank), svd (distinct singular
// values), eigh / eigvalsh (distinct eigenvalues), pinv, norm and cross. A factorization that
// reads one triangle of its input (cholesky, eigh, tri_inv, solve_triangular) has its gradient
// in that triangle only: it is the derivative of what is computed. eig and eigvals have none.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mica/array.h"

namespace mica::linalg {

/** Vector or matrix norm of order `ord` (NumPy's meaning): over `axis` (one axis: vector norms
 *  inf, -inf, 0, 1, 2 or any p; two axes: matrix norms inf, -inf, 1, -1, 2, -2); without axis
 *  `a` must be 1-D (vector) or 2-D (matrix). Integer inputs give float32. */
array norm(const array& a, double ord, const std::optional<std::vector<int>>& axis = std::nullopt,
           bool keepdims = false, StreamOrDevice s = {});
/** Vector norm of order `ord` along one axis. */
array norm(const array& a, double ord, int axis, bool keepdims = false, StreamOrDevice s = {});
/** Matrix norm "fro" (Frobenius) or "nuc" (nuclear: the sum of singular values) over two axes
 *  (the last two, or `axis`). */
array norm(const array& a, const std::string& ord, const std::optional<std::vector<int>>& axis = std::nullopt,
           bool keepdims = false, StreamOrDevice s = {});
/** The same with one axis (always an error: "fro" and "nuc" need two; kept for MLX's API). */
array norm(const array& a, const std::string& ord, int axis, bool keepdims = false, StreamOrDevice s = {});
/** 2-norm (Frobenius for two axes) over `axis` (at most two axes), or of the flattened array. */
array norm(const array& a, const std::optional<std::vector<int>>& axis = std::nullopt, bool keepdims = false,
           StreamOrDevice s = {});
/** 2-norm along one axis. */
array norm(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});

/** Reduced QR: {Q (..., M, K), R (..., K, N)}, K = min(M, N), Q R = a. */
std::pair<array, array> qr(const array& a, StreamOrDevice s = {});
/** Full SVD {U (..., M, M), S (..., K), Vt (..., N, N)} with a = U[:, :K] diag(S) Vt[:K]; with
 *  compute_uv false only {S}. Singular values descend. */
std::vector<array> svd(const array& a, bool compute_uv, StreamOrDevice s = {});
/** svd(a, true). */
std::vector<array> svd(const array& a, StreamOrDevice s = {});
/** Inverse of square matrices (a singular one throws at evaluation). */
array inv(const array& a, StreamOrDevice s = {});
/** Inverse of the lower (upper) triangle of square matrices; the other triangle is ignored. */
array tri_inv(const array& a, bool upper = false, StreamOrDevice s = {});
/** Cholesky factor L (L Lᵀ = a) of symmetric positive definite matrices, read from their lower
 *  triangle; with upper, U (Uᵀ U = a) read from the upper triangle. */
array cholesky(const array& a, bool upper = false, StreamOrDevice s = {});
/** Moore-Penrose pseudo-inverse (..., N, M) through the SVD; singular values at most
 *  10 max(M, N) eps times the largest count as zero. */
array pinv(const array& a, StreamOrDevice s = {});
/** Inverse of A = L Lᵀ (Uᵀ U when upper) given its Cholesky factor (the triangle is read). */
array cholesky_inv(const array& a, bool upper = false, StreamOrDevice s = {});
/** LU with partial pivoting as {p, L, U}: p (..., M) uint32, L (..., M, K) unit lower, U (..., K,
 *  N) upper, with a = L[p] U (take_along_axis(L, p[..., None], -2) @ U when batched). */
std::vector<array> lu(const array& a, StreamOrDevice s = {});
/** Compact LU {LU (..., M, N), pivots (..., K) uint32}: L below the diagonal (unit diagonal
 *  implied), U on and above it; row i was swapped with row pivots[i] (LAPACK's, from 0). */
std::pair<array, array> lu_factor(const array& a, StreamOrDevice s = {});
/** x with a x = b: a (..., N, N); b (..., N, K) with batch axes broadcasting against a's, or
 *  (N,) (one vector, the result (..., N)). Inputs promote to float32 or float64. */
array solve(const array& a, const array& b, StreamOrDevice s = {});
/** x with T x = b for T the lower (upper) triangle of a; shapes as solve. */
array solve_triangular(const array& a, const array& b, bool upper = false, StreamOrDevice s = {});
/** Cross product along `axis` (size 2 or 3 in each input; a size-2 vector has a zero third
 *  component); the other axes broadcast; the result has size 3 along the axis. */
array cross(const array& a, const array& b, int axis = -1, StreamOrDevice s = {});
/** Eigenvalues and unit right eigenvectors (columns) of general square matrices, both
 *  complex64 (even for real eigenvalues and float64 inputs, as MLX). */
std::pair<array, array> eig(const array& a, StreamOrDevice s = {});
/** Eigenvalues of general square matrices, complex64, in LAPACK's order. */
array eigvals(const array& a, StreamOrDevice s = {});
/** Eigenvalues (ascending) of symmetric matrices read from the UPLO ("L" or "U") triangle. */
array eigvalsh(const array& a, std::string UPLO = "L", StreamOrDevice s = {});
/** Eigenvalues (ascending) and orthonormal eigenvectors (columns) of symmetric matrices read
 *  from the UPLO ("L" or "U") triangle. */
std::pair<array, array> eigh(const array& a, std::string UPLO = "L", StreamOrDevice s = {});
/** Determinant (through LU); integer inputs give float32, half inputs their own dtype. */
array det(const array& a, StreamOrDevice s = {});
/** {sign, log|det|}: sign is -1, 0 or 1; a singular matrix gives {0, -inf}. */
std::pair<array, array> slogdet(const array& a, StreamOrDevice s = {});

}  // namespace mica::linalg
