// Transform rules of the linalg family, and the node builders the ops and rules share. Every rule
// works on stacks (..., M, N) of matrices: mT transposes the last two axes. A kernel that reads
// one triangle of its input (Cholesky, Eigh, triangular Inverse, SolveTriangular) computes a
// function of that triangle only, so its vjp is zero in the other triangle and its jvp ignores
// the tangent there. Spectral rules (SVD, Eigh) divide by gaps between distinct values; a gap
// that is exactly zero (a repeated value, where the vectors are not unique) contributes nothing
// instead of inf. vmap moves the batch axis in front and builds the same primitive: its kernel
// batches over leading axes anyway.
#include "mica/primitives/linalg.h"

#include <algorithm>
#include <stdexcept>

#include "mica/linalg.h"
#include "mica/ops.h"
#include "mica/primitives/rules.h"

namespace mica {

namespace {
// a's batch axes (all but the last two) followed by `tail`.
Shape batch_shape(const array& a, Shape tail) {
  Shape s(a.shape().begin(), a.shape().end() - 2);
  s.insert(s.end(), tail.begin(), tail.end());
  return s;
}
}  // namespace

namespace detail {

array inverse_node(const array& a, bool tri, bool upper, const std::string& op, Stream s) {
  return array(a.shape(), a.dtype(), std::make_shared<Inverse>(s, op, tri, upper), {a});
}
array cholesky_node(const array& a, bool upper, const std::string& op, Stream s) {
  return array(a.shape(), a.dtype(), std::make_shared<Cholesky>(s, op, upper), {a});
}
array solve_triangular_node(const array& a, const array& b, bool upper, bool unit, const std::string& op, Stream s) {
  return array(b.shape(), b.dtype(), std::make_shared<SolveTriangular>(s, op, upper, unit), {a, b});
}
std::vector<array> luf_node(const array& a, const std::string& op, Stream s) {
  int m = a.shape(-2), n = a.shape(-1);
  return array::make_arrays({a.shape(), batch_shape(a, {std::min(m, n)}), batch_shape(a, {m})},
                            {a.dtype(), uint32, uint32}, std::make_shared<LUF>(s, op), {a});
}
std::vector<array> qrf_node(const array& a, const std::string& op, Stream s) {
  int m = a.shape(-2), n = a.shape(-1), k = std::min(m, n);
  return array::make_arrays({batch_shape(a, {m, k}), batch_shape(a, {k, n})}, {a.dtype(), a.dtype()},
                            std::make_shared<QRF>(s, op), {a});
}
std::vector<array> svd_node(const array& a, bool compute_uv, const std::string& op, Stream s) {
  int m = a.shape(-2), n = a.shape(-1);
  auto p = std::make_shared<SVD>(s, op, compute_uv);
  Shape sv = batch_shape(a, {std::min(m, n)});
  if (!compute_uv) return array::make_arrays({sv}, {a.dtype()}, p, {a});
  return array::make_arrays({batch_shape(a, {m, m}), sv, batch_shape(a, {n, n})}, {a.dtype(), a.dtype(), a.dtype()}, p,
                            {a});
}
std::vector<array> eig_node(const array& a, bool vectors, const std::string& op, Stream s) {
  auto p = std::make_shared<Eig>(s, op, vectors);
  Shape w = batch_shape(a, {a.shape(-1)});
  if (!vectors) return array::make_arrays({w}, {complex64}, p, {a});
  return array::make_arrays({w, a.shape()}, {complex64, complex64}, p, {a});
}
std::vector<array> eigh_node(const array& a, bool upper, bool vectors, const std::string& op, Stream s) {
  auto p = std::make_shared<Eigh>(s, op, upper, vectors);
  Shape w = batch_shape(a, {a.shape(-1)});
  if (!vectors) return array::make_arrays({w}, {a.dtype()}, p, {a});
  return array::make_arrays({w, a.shape()}, {a.dtype(), a.dtype()}, p, {a});
}

}  // namespace detail

namespace {

array mT(const array& x) { return swapaxes(x, -1, -2); }
array mm(const array& a, const array& b) { return matmul(a, b); }

// The lower (upper) triangle of x; strict leaves out the diagonal.
array triangle(const array& x, bool upper, bool strict = false) {
  return upper ? triu(x, strict) : tril(x, -int(strict));
}
// The symmetric matrix whose lower (upper) triangle is x's: what Cholesky and Eigh factor.
array sym(const array& x, bool upper) { return triangle(x, upper) + mT(triangle(x, upper, true)); }
// The cotangent of x for a function of sym(x, upper) whose cotangent with respect to the
// symmetric matrix is g: the off-diagonal entries of the triangle stand for two entries.
array sym_cotangent(const array& g, bool upper) { return triangle(g, upper) + triangle(mT(g), upper, true); }

array diag_part(const array& x) { return diagonal(x, 0, -2, -1); }
// (..., k) -> (..., k, k) with v on the diagonal.
array diag_embed(const array& v) { return expand_dims(v, -1) * eye(v.shape(-1), v.dtype()); }
// x with its columns (scale_cols) or rows scaled by v (..., k): x diag(v) or diag(v) x.
array scale_cols(const array& x, const array& v) { return x * expand_dims(v, -2); }
array scale_rows(const array& x, const array& v) { return x * expand_dims(v, -1); }

// f[i][j] = 1 / (v_j - v_i), and 0 where the gap is exactly zero (the diagonal, repeated values).
array inverse_gaps(const array& v) {
  array d = expand_dims(v, -2) - expand_dims(v, -1);
  array zero = equal(d, detail::zeros_like_view(d));
  return where(zero, detail::zeros_like_view(d), reciprocal(where(zero, detail::ones_like_view(d), d)));
}

// Columns [lo, hi) (rows, for take_rows) of a stack of matrices.
array take_cols(const array& x, int lo, int hi) {
  Shape start(x.ndim(), 0), stop = x.shape();
  start.back() = lo;
  stop.back() = hi;
  return slice(x, std::move(start), std::move(stop));
}
array take_rows(const array& x, int lo, int hi) { return mT(take_cols(mT(x), lo, hi)); }

// Zero tangents for the integer outputs of a factorization.
array no_tangent(const array& out) { return detail::zeros_view(out.shape(), out.dtype()); }

}  // namespace

// ---------------------------------------------------------------- Inverse

// Y = A^-1: dY = -Y dA Y, so Ā = -Yᵀ Ȳ Yᵀ (in the triangle read, for a triangular inverse).
std::vector<array> Inverse::vjp(const std::vector<array>&, const std::vector<array>& cotangents,
                                const std::vector<int>&, const std::vector<array>& outputs) {
  const array& y = outputs[0];
  array g = -mm(mT(y), mm(cotangents[0], mT(y)));
  return {tri_ ? triangle(g, upper_) : g};
}
std::vector<array> Inverse::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                const std::vector<int>&) {
  array y = detail::inverse_node(primals[0], tri_, upper_, op(), stream());
  array da = tri_ ? triangle(tangents[0], upper_) : tangents[0];
  return {-mm(y, mm(da, y))};
}
std::pair<std::vector<array>, std::vector<int>> Inverse::vmap(const std::vector<array>& inputs,
                                                              const std::vector<int>& axes) {
  return {{detail::inverse_node(detail::batch_to_front(inputs[0], axes[0]), tri_, upper_, op(), stream())}, {0}};
}

// ---------------------------------------------------------------- Cholesky

namespace {
// The lower triangle with half the diagonal: dL = L phi(L^-1 dS L^-T) for L Lᵀ = S.
array phi(const array& x) { return tril(x) - diag_embed(diag_part(x) * 0.5); }
}  // namespace

// Worked on the lower factor; the upper one is its transpose, read from the transposed input.
std::vector<array> Cholesky::vjp(const std::vector<array>&, const std::vector<array>& cotangents,
                                 const std::vector<int>&, const std::vector<array>& outputs) {
  array l = upper_ ? mT(outputs[0]) : outputs[0];
  array lbar = upper_ ? mT(cotangents[0]) : cotangents[0];
  array linv = detail::inverse_node(l, true, false, op(), stream());
  array s = mm(mT(linv), mm(phi(mm(mT(l), lbar)), linv));
  array g = sym_cotangent(s, false);
  return {upper_ ? mT(g) : g};
}
std::vector<array> Cholesky::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                 const std::vector<int>&) {
  array out = detail::cholesky_node(primals[0], upper_, op(), stream());
  array l = upper_ ? mT(out) : out;
  array ds = sym(upper_ ? mT(tangents[0]) : tangents[0], false);
  array linv = detail::inverse_node(l, true, false, op(), stream());
  array dl = mm(l, phi(mm(linv, mm(ds, mT(linv)))));
  return {upper_ ? mT(dl) : dl};
}
std::pair<std::vector<array>, std::vector<int>> Cholesky::vmap(const std::vector<array>& inputs,
                                                               const std::vector<int>& axes) {
  return {{detail::cholesky_node(detail::batch_to_front(inputs[0], axes[0]), upper_, op(), stream())}, {0}};
}

// ---------------------------------------------------------------- SolveTriangular

// X = T^-1 B with T the triangle of a (unit diagonal when unit_): B̄ = T^-T X̄, Ā = -B̄ Xᵀ in the
// triangle (off the diagonal when unit_); dX = T^-1 (dB - dT X).
std::vector<array> SolveTriangular::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                        const std::vector<int>& argnums, const std::vector<array>& outputs) {
  array bbar = detail::solve_triangular_node(mT(primals[0]), cotangents[0], !upper_, unit_, op(), stream());
  std::vector<array> r;
  for (int k : argnums) r.push_back(k == 1 ? bbar : -triangle(mm(bbar, mT(outputs[0])), upper_, unit_));
  return r;
}
std::vector<array> SolveTriangular::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                        const std::vector<int>& argnums) {
  const array& a = primals[0];
  const array& b = primals[1];
  array rhs = detail::tangent_or_zeros(primals, tangents, argnums, 1, b.dtype());
  if (const array* da = detail::tangent_of(tangents, argnums, 0)) {
    array x = detail::solve_triangular_node(a, b, upper_, unit_, op(), stream());
    rhs = rhs - mm(triangle(*da, upper_, unit_), x);
  }
  return {detail::solve_triangular_node(a, rhs, upper_, unit_, op(), stream())};
}
std::pair<std::vector<array>, std::vector<int>> SolveTriangular::vmap(const std::vector<array>& inputs,
                                                                      const std::vector<int>& axes) {
  int b = detail::batch_size(inputs, axes);
  array a = detail::batched_front(inputs[0], axes[0], b);
  array rhs = detail::batched_front(inputs[1], axes[1], b);
  return {{detail::solve_triangular_node(a, rhs, upper_, unit_, op(), stream())}, {0}};
}

// ---------------------------------------------------------------- LUF

namespace {
// Rules of LU exist for square matrices (det, slogdet and solve need no others).
void check_square_lu(const std::string& op, const array& a, const char* rule) {
  if (a.shape(-1) != a.shape(-2)) {
    throw std::invalid_argument("[" + op + "] expected a square matrix to take the " + rule +
                                " of its LU factorization, got shape " + detail::shape_str(a.shape()) + ".");
  }
}
}  // namespace

// A[rows] = L U (rows = argsort(perm)); with X = L^-1 dA[rows] U^-1: dL = L tril(X, -1) and
// dU = triu(X) U. The adjoint: Ā[rows] = L^-T (tril(Lᵀ Ḡ, -1) + triu(Ḡ Uᵀ)) U^-T for the
// cotangent Ḡ of the packed LU (its strict lower part L's, the rest U's).
std::vector<array> LUF::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                            const std::vector<int>&, const std::vector<array>& outputs) {
  check_square_lu(op(), primals[0], "vjp");
  const array& lu = outputs[0];
  const array& g = cotangents[0];
  int n = lu.shape(-1);
  array l = tril(lu, -1) + eye(n, lu.dtype());
  array linv = detail::inverse_node(l, true, false, op(), stream());
  array uinv = detail::inverse_node(lu, true, true, op(), stream());
  array inner = tril(mm(mT(l), g), -1) + triu(mm(g, mT(triu(lu))));
  array abar_rows = mm(mT(linv), mm(inner, mT(uinv)));
  return {take_along_axis(abar_rows, expand_dims(outputs[2], -1), -2)};
}
std::vector<array> LUF::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                            const std::vector<int>&) {
  check_square_lu(op(), primals[0], "jvp");
  auto outs = detail::luf_node(primals[0], op(), stream());
  const array& lu = outs[0];
  int n = lu.shape(-1);
  array rows = argsort(outs[2], -1);
  array da = take_along_axis(tangents[0], expand_dims(rows, -1), -2);
  array l = tril(lu, -1) + eye(n, lu.dtype());
  array linv = detail::inverse_node(l, true, false, op(), stream());
  array uinv = detail::inverse_node(lu, true, true, op(), stream());
  array x = mm(linv, mm(da, uinv));
  array dlu = mm(l, tril(x, -1)) + mm(triu(x), triu(lu));
  return {dlu, no_tangent(outs[1]), no_tangent(outs[2])};
}
std::pair<std::vector<array>, std::vector<int>> LUF::vmap(const std::vector<array>& inputs,
                                                          const std::vector<int>& axes) {
  return {detail::luf_node(detail::batch_to_front(inputs[0], axes[0]), op(), stream()), {0, 0, 0}};
}

// ---------------------------------------------------------------- QRF

namespace {
// Tall or square A = Q R (R square, invertible). dA R^-1 = dQ + Q dR R^-1 with Qᵀ dQ skew and
// dR R^-1 upper: for C = Qᵀ dA R^-1, Qᵀ dQ = Ω = tril(C, -1) - tril(C, -1)ᵀ, dR = (C - Ω) R and
// dQ = dA R^-1 - Q (C - Ω).
std::pair<array, array> qr_tall_jvp(const array& q, const array& r, const array& da, const std::string& op, Stream s) {
  array rinv = detail::inverse_node(r, true, true, op, s);
  array x = mm(da, rinv);
  array c = mm(mT(q), x);
  array low = tril(c, -1);
  array upper_part = c - (low - mT(low));
  return {x - mm(q, upper_part), mm(upper_part, r)};
}
// Its adjoint: Ā = (Q̄ + Q Y) R^-T with Z = R̄ Rᵀ - Qᵀ Q̄ and Y = triu(Z) + tril(Zᵀ, -1).
array qr_tall_vjp(const array& q, const array& r, const array& qbar, const array& rbar, const std::string& op,
                  Stream s) {
  array rinv = detail::inverse_node(r, true, true, op, s);
  array z = mm(rbar, mT(r)) - mm(mT(q), qbar);
  array y = triu(z) + tril(mT(z), -1);
  return mm(qbar + mm(q, y), mT(rinv));
}
}  // namespace

// A wide A = [X | Y] (M < N) has X = Q R1 square and R2 = Qᵀ Y: dR2 = dQᵀ Y + Qᵀ dY, so Ȳ = Q R̄2
// and X̄ is the square case with Q̄ + Y R̄2ᵀ.
std::vector<array> QRF::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                            const std::vector<int>&, const std::vector<array>& outputs) {
  const array& a = primals[0];
  int m = a.shape(-2), n = a.shape(-1);
  const array& q = outputs[0];
  const array& r = outputs[1];
  if (m >= n) return {qr_tall_vjp(q, r, cotangents[0], cotangents[1], op(), stream())};
  array rbar2 = take_cols(cotangents[1], m, n);
  array qbar = cotangents[0] + mm(take_cols(a, m, n), mT(rbar2));
  array xbar = qr_tall_vjp(q, take_cols(r, 0, m), qbar, take_cols(cotangents[1], 0, m), op(), stream());
  return {concatenate({xbar, mm(q, rbar2)}, -1)};
}
std::vector<array> QRF::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                            const std::vector<int>&) {
  const array& a = primals[0];
  const array& da = tangents[0];
  int m = a.shape(-2), n = a.shape(-1);
  auto outs = detail::qrf_node(a, op(), stream());
  const array& q = outs[0];
  if (m >= n) {
    auto [dq, dr] = qr_tall_jvp(q, outs[1], da, op(), stream());
    return {dq, dr};
  }
  auto [dq, dr1] = qr_tall_jvp(q, take_cols(outs[1], 0, m), take_cols(da, 0, m), op(), stream());
  array dr2 = mm(mT(dq), take_cols(a, m, n)) + mm(mT(q), take_cols(da, m, n));
  return {dq, concatenate({dr1, dr2}, -1)};
}
std::pair<std::vector<array>, std::vector<int>> QRF::vmap(const std::vector<array>& inputs,
                                                          const std::vector<int>& axes) {
  return {detail::qrf_node(detail::batch_to_front(inputs[0], axes[0]), op(), stream()), {0, 0}};
}

// ---------------------------------------------------------------- SVD

// With U1 = U[:, :K], V1 = Vt[:K]ᵀ, S = diag(s), P = U1ᵀ dA V1 and F[i][j] = 1 / (s_j² - s_i²):
// dS = diag(P), dU1 = U1 (F ∘ (P S + S Pᵀ)) + (dA V1 - U1 P) S^-1 and
// dV1 = V1 (F ∘ (S P + Pᵀ S)) + (dAᵀ U1 - V1 Pᵀ) S^-1 (the last terms when M > K, N > K). The
// columns of U past K (rows of Vt) are any orthonormal completion: they get a zero tangent and
// their cotangents are ignored.
std::vector<array> SVD::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                            const std::vector<int>&, const std::vector<array>& outputs) {
  const array& a = primals[0];
  int m = a.shape(-2), n = a.shape(-1), k = std::min(m, n);
  std::vector<array> full = compute_uv_ ? outputs : detail::svd_node(a, true, op(), stream());
  array u1 = take_cols(full[0], 0, k);
  array v1 = mT(take_rows(full[2], 0, k));
  const array& s = full[1];
  const array& sbar = cotangents[compute_uv_ ? 1 : 0];
  if (!compute_uv_) return {mm(scale_cols(u1, sbar), mT(v1))};
  array ubar = take_cols(cotangents[0], 0, k);
  array vbar = mT(take_rows(cotangents[2], 0, k));
  array f = inverse_gaps(s * s);
  array ju = f * mm(mT(u1), ubar);
  array jv = f * mm(mT(v1), vbar);
  array inner = scale_cols(ju + mT(ju), s) + diag_embed(sbar) + scale_rows(jv + mT(jv), s);
  array abar = mm(u1, mm(inner, mT(v1)));
  array sinv = reciprocal(s);
  if (m > k) abar = abar + mm(scale_cols(ubar - mm(u1, mm(mT(u1), ubar)), sinv), mT(v1));
  if (n > k) abar = abar + mm(scale_cols(u1, sinv), mT(vbar - mm(v1, mm(mT(v1), vbar))));
  return {abar};
}
std::vector<array> SVD::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                            const std::vector<int>&) {
  const array& a = primals[0];
  const array& da = tangents[0];
  int m = a.shape(-2), n = a.shape(-1), k = std::min(m, n);
  auto full = detail::svd_node(a, true, op(), stream());
  array u1 = take_cols(full[0], 0, k);
  array v1 = mT(take_rows(full[2], 0, k));
  const array& s = full[1];
  array p = mm(mT(u1), mm(da, v1));
  array ds = diag_part(p);
  if (!compute_uv_) return {ds};
  array f = inverse_gaps(s * s);
  array du1 = mm(u1, f * (scale_cols(p, s) + scale_rows(mT(p), s)));
  array dv1 = mm(v1, f * (scale_rows(p, s) + scale_cols(mT(p), s)));
  array sinv = reciprocal(s);
  if (m > k) du1 = du1 + scale_cols(mm(da, v1) - mm(u1, p), sinv);
  if (n > k) dv1 = dv1 + scale_cols(mm(mT(da), u1) - mm(v1, mT(p)), sinv);
  array du = m > k ? concatenate({du1, detail::zeros_view(batch_shape(a, {m, m - k}), a.dtype())}, -1) : du1;
  array dvt = n > k ? concatenate({mT(dv1), detail::zeros_view(batch_shape(a, {n - k, n}), a.dtype())}, -2) : mT(dv1);
  return {du, ds, dvt};
}
std::pair<std::vector<array>, std::vector<int>> SVD::vmap(const std::vector<array>& inputs,
                                                          const std::vector<int>& axes) {
  auto outs = detail::svd_node(detail::batch_to_front(inputs[0], axes[0]), compute_uv_, op(), stream());
  return {outs, std::vector<int>(outs.size(), 0)};
}

// ---------------------------------------------------------------- Eig

MICA_NO_RULE(Eig, vjp, "as MLX, eig has no gradient: its complex eigenvectors are defined only up to a phase")
MICA_NO_RULE(Eig, jvp, "as MLX, eig has no gradient: its complex eigenvectors are defined only up to a phase")
std::pair<std::vector<array>, std::vector<int>> Eig::vmap(const std::vector<array>& inputs,
                                                          const std::vector<int>& axes) {
  auto outs = detail::eig_node(detail::batch_to_front(inputs[0], axes[0]), vectors_, op(), stream());
  return {outs, std::vector<int>(outs.size(), 0)};
}

// ---------------------------------------------------------------- Eigh

// For S = V diag(w) Vᵀ and P = Vᵀ dS V: dw = diag(P), dV = V (F ∘ P) with F[i][j] = 1/(w_j - w_i);
// the adjoint is S̄ = V (diag(w̄) + F ∘ (Vᵀ V̄)) Vᵀ, then the triangle read.
std::vector<array> Eigh::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                             const std::vector<int>&, const std::vector<array>& outputs) {
  std::vector<array> full = vectors_ ? outputs : detail::eigh_node(primals[0], upper_, true, op(), stream());
  const array& v = full[1];
  array inner = diag_embed(cotangents[0]);
  if (vectors_) inner = inner + inverse_gaps(full[0]) * mm(mT(v), cotangents[1]);
  return {sym_cotangent(mm(v, mm(inner, mT(v))), upper_)};
}
std::vector<array> Eigh::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                             const std::vector<int>&) {
  auto full = detail::eigh_node(primals[0], upper_, true, op(), stream());
  const array& v = full[1];
  array p = mm(mT(v), mm(sym(tangents[0], upper_), v));
  if (!vectors_) return {diag_part(p)};
  return {diag_part(p), mm(v, inverse_gaps(full[0]) * p)};
}
std::pair<std::vector<array>, std::vector<int>> Eigh::vmap(const std::vector<array>& inputs,
                                                           const std::vector<int>& axes) {
  auto outs = detail::eigh_node(detail::batch_to_front(inputs[0], axes[0]), upper_, vectors_, op(), stream());
  return {outs, std::vector<int>(outs.size(), 0)};
}

}  // namespace mica
