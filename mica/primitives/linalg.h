// Linear-algebra primitives behind mica::linalg, one per LAPACK factorization. Each works on the
// last two axes of its input, batched over the leading ones; inputs are float32 or float64 (the
// ops check), outputs row-major. Kernels that meet a matrix they cannot factor (singular, not
// positive definite, no convergence) throw std::runtime_error naming the user's op (`op`), since
// only the values reveal it. Determinants, solve, norms, pinv, cholesky_inv and cross are
// compositions (ops/linalg.cpp).
#pragma once
#include <string>
#include <utility>

#include "mica/primitives/primitive.h"

namespace mica {

/** The user-facing op name a linalg kernel reports its eval-time failures under. */
class LinalgPrimitive : public Primitive {
 public:
  LinalgPrimitive(Stream s, std::string op) : Primitive(s), op_(std::move(op)) {}
  const std::string& op() const { return op_; }

 private:
  std::string op_;
};

/** The same for single-output primitives. */
class LinalgUnaryPrimitive : public UnaryPrimitive {
 public:
  LinalgUnaryPrimitive(Stream s, std::string op) : UnaryPrimitive(s), op_(std::move(op)) {}
  const std::string& op() const { return op_; }

 private:
  std::string op_;
};

/** Inverse of square matrices: general (LU, getrf + getri; singular -> error) or, with `tri`,
 *  of the lower (upper) triangle of the input (trtri; a zero on the diagonal -> error); the
 *  triangular result has zeros in its other triangle. */
class Inverse : public LinalgUnaryPrimitive {
 public:
  Inverse(Stream s, std::string op, bool tri, bool upper)
      : LinalgUnaryPrimitive(s, std::move(op)), tri_(tri), upper_(upper) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Inverse) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const Inverse*>(&o);
    return p && p->tri_ == tri_ && p->upper_ == upper_;
  }
  bool tri() const { return tri_; }
  bool upper() const { return upper_; }

 private:
  bool tri_, upper_;
};

/** Cholesky factor of the symmetric matrix whose lower (upper) triangle is the input's: L with
 *  L Lᵀ = A (Uᵀ U = A when upper); the other triangle of the result is zero. Not positive
 *  definite -> error. */
class Cholesky : public LinalgUnaryPrimitive {
 public:
  Cholesky(Stream s, std::string op, bool upper) : LinalgUnaryPrimitive(s, std::move(op)), upper_(upper) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(Cholesky) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const Cholesky*>(&o);
    return p && p->upper_ == upper_;
  }
  bool upper() const { return upper_; }

 private:
  bool upper_;
};

/** X with T X = B for a (..., N, N) and b (..., N, K) of equal batch shape (the op broadcasts),
 *  T the lower (upper) triangle of a, with ones on its diagonal when `unit` (solve's L factor).
 *  A zero on T's diagonal -> error. */
class SolveTriangular : public LinalgUnaryPrimitive {
 public:
  SolveTriangular(Stream s, std::string op, bool upper, bool unit)
      : LinalgUnaryPrimitive(s, std::move(op)), upper_(upper), unit_(unit) {}
  MICA_DEFINE_UNARY_PRIMITIVE_MEMBERS(SolveTriangular) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const SolveTriangular*>(&o);
    return p && p->upper_ == upper_ && p->unit_ == unit_;
  }
  bool upper() const { return upper_; }
  bool unit() const { return unit_; }

 private:
  bool upper_, unit_;
};

/** LU factorization with partial pivoting (getrf) of a (..., M, N), K = min(M, N). Outputs: LU
 *  (..., M, N), the strictly lower part L's (unit diagonal implied) and the upper part U's;
 *  pivots (..., K) uint32, LAPACK's row swaps counted from 0 (row i was swapped with pivots[i]);
 *  perm (..., M) uint32 with A = L[perm] U (MLX's lu's first output). Singular matrices are
 *  fine (zeros on U's diagonal). */
class LUF : public LinalgPrimitive {
 public:
  using LinalgPrimitive::LinalgPrimitive;
  MICA_DEFINE_PRIMITIVE_MEMBERS(LUF) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override { return dynamic_cast<const LUF*>(&o) != nullptr; }
};

/** Reduced QR of a (..., M, N), K = min(M, N) (geqrf + orgqr): Q (..., M, K) with orthonormal
 *  columns and R (..., K, N) upper triangular, Q R = A. */
class QRF : public LinalgPrimitive {
 public:
  using LinalgPrimitive::LinalgPrimitive;
  MICA_DEFINE_PRIMITIVE_MEMBERS(QRF) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override { return dynamic_cast<const QRF*>(&o) != nullptr; }
};

/** Singular values (..., K) in descending order (gesdd), and with `compute_uv` first the full
 *  U (..., M, M) and after them Vᵀ (..., N, N): outputs {U, S, Vt} or {S}. */
class SVD : public LinalgPrimitive {
 public:
  SVD(Stream s, std::string op, bool compute_uv) : LinalgPrimitive(s, std::move(op)), compute_uv_(compute_uv) {}
  MICA_DEFINE_PRIMITIVE_MEMBERS(SVD) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const SVD*>(&o);
    return p && p->compute_uv_ == compute_uv_;
  }
  bool compute_uv() const { return compute_uv_; }

 private:
  bool compute_uv_;
};

/** Eigenvalues (..., N) of a general square matrix (geev), complex64 whatever the input, and
 *  with `vectors` the unit right eigenvectors as columns (..., N, N) complex64. */
class Eig : public LinalgPrimitive {
 public:
  Eig(Stream s, std::string op, bool vectors) : LinalgPrimitive(s, std::move(op)), vectors_(vectors) {}
  MICA_DEFINE_PRIMITIVE_MEMBERS(Eig) MICA_DEFINE_SAVE
  MICA_DEFINE_VMAP
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const Eig*>(&o);
    return p && p->vectors_ == vectors_;
  }
  bool vectors() const { return vectors_; }

 private:
  bool vectors_;
};

/** Eigenvalues (..., N) in ascending order of the symmetric matrix whose lower (upper, "U")
 *  triangle is the input's (syevd), and with `vectors` the orthonormal eigenvectors as columns
 *  (..., N, N); the input's dtype. */
class Eigh : public LinalgPrimitive {
 public:
  Eigh(Stream s, std::string op, bool upper, bool vectors)
      : LinalgPrimitive(s, std::move(op)), upper_(upper), vectors_(vectors) {}
  MICA_DEFINE_PRIMITIVE_MEMBERS(Eigh) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS
  bool is_equivalent(const Primitive& o) const override {
    auto* p = dynamic_cast<const Eigh*>(&o);
    return p && p->upper_ == upper_ && p->vectors_ == vectors_;
  }
  bool upper() const { return upper_; }
  bool vectors() const { return vectors_; }

 private:
  bool upper_, vectors_;
};

namespace detail {
/** The nodes of the linalg primitives on `a` (and `b`), shapes and dtypes derived: the ops and
 *  the vmap rules build them through these. */
array inverse_node(const array& a, bool tri, bool upper, const std::string& op, Stream s);
array cholesky_node(const array& a, bool upper, const std::string& op, Stream s);
array solve_triangular_node(const array& a, const array& b, bool upper, bool unit, const std::string& op, Stream s);
std::vector<array> luf_node(const array& a, const std::string& op, Stream s);
std::vector<array> qrf_node(const array& a, const std::string& op, Stream s);
std::vector<array> svd_node(const array& a, bool compute_uv, const std::string& op, Stream s);
std::vector<array> eig_node(const array& a, bool vectors, const std::string& op, Stream s);
std::vector<array> eigh_node(const array& a, bool upper, bool vectors, const std::string& op, Stream s);
}  // namespace detail

}  // namespace mica
