// CPU kernels of the linalg family through LAPACK (backend/cpu/lapack.h). Inputs: any layout,
// (batch..., M, N) matrices; outputs row-major. Each matrix is copied into a column-major work
// buffer (LAPACK factors in place, and the copy is the transpose LAPACK's layout needs; O(n^2)
// beside the O(n^3) factorization), factored, and written out row-major. Many small matrices
// split over mica's threads with OpenBLAS single-threaded in each; otherwise one matrix at a
// time, each free to use OpenBLAS's own (OpenMP) threads. A matrix the routine cannot handle is
// recorded per batch entry and reported once the loop is over, from the calling thread.
#include "mica/primitives/linalg.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "mica/backend/cpu/lapack.h"
#include "mica/backend/cpu/parallel.h"
#include "mica/backend/linalg_failures.h"
#include "mica/types/cast.h"

namespace mica {

namespace {

namespace lp = cpu::lapack;

// Calls f(type_tag<float or double>) for the dtypes LAPACK takes; the ops rejected the others.
template <typename F>
void dispatch_lapack(const std::string& op, Dtype d, F&& f) {
  if (d == float32) return f(type_tag<float>{});
  if (d == float64) return f(type_tag<double>{});
  throw std::logic_error("[" + op + "] kernel got dtype " + dtype_to_string(d) + " (the op should have rejected it).");
}

// The matrices of a stack: how many, and where matrix b starts for any strides of the leading axes.
struct Stack {
  const array& a;
  int m, n;
  int64_t count = 1;
  int64_t rs, cs;  // row and column strides of each matrix
  explicit Stack(const array& x) : a(x), m(x.shape(-2)), n(x.shape(-1)), rs(x.strides(-2)), cs(x.strides(-1)) {
    for (size_t d = 0; d + 2 < x.ndim(); ++d) count *= x.shape(d);
  }
  int64_t offset(int64_t b) const {
    int64_t off = 0;
    for (int d = static_cast<int>(a.ndim()) - 3; d >= 0; --d) {
      off += (b % a.shape(d)) * a.strides()[d];
      b /= a.shape(d);
    }
    return off;
  }
  // Matrix b into column-major `dst` with leading dimension m.
  template <typename T>
  void load(int64_t b, T* dst) const {
    const T* src = a.data<T>() + offset(b);
    for (int j = 0; j < n; ++j) {
      for (int i = 0; i < m; ++i) dst[i + static_cast<int64_t>(j) * m] = src[i * rs + j * cs];
    }
  }
};

// Writes the m x n column-major `src` (leading dimension ld) as the row-major `dst`; with
// keep = 'L' ('U') only the lower (upper) triangle, zeros elsewhere.
template <typename T>
void store(const T* src, int ld, int m, int n, T* dst, char keep = 'A') {
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      bool zero = (keep == 'L' && j > i) || (keep == 'U' && j < i);
      dst[static_cast<int64_t>(i) * n + j] = zero ? T(0) : src[i + static_cast<int64_t>(j) * ld];
    }
  }
}

// OpenBLAS (its OpenMP build) threads a call over omp_get_max_threads() of the calling thread;
// inside a chunk of mica's pool the call must stay on its thread.
struct OneLapackThread {
  int saved = omp_get_max_threads();
  OneLapackThread() { omp_set_num_threads(1); }
  ~OneLapackThread() { omp_set_num_threads(saved); }
  OneLapackThread(const OneLapackThread&) = delete;
  OneLapackThread& operator=(const OneLapackThread&) = delete;
};

// Runs chunk(begin, end) over the batch. `flops` estimates one matrix's work (the call and the
// copies cost about 2000 more); below ~128^3 per matrix the batch splits over threads.
template <typename F>
void over_batch(int64_t count, double flops, F&& chunk) {
  double cost = flops + 2000.0;
  if (count > 1 && cost < 128.0 * 128.0 * 128.0) {
    auto grain = static_cast<int64_t>(std::max(1.0, static_cast<double>(1 << 18) / cost));
    cpu::parallel_for(count, grain, [&](int64_t b, int64_t e) {
      OneLapackThread one;
      chunk(b, e);
    });
  } else {
    chunk(0, count);
  }
}

// A LAPACK workspace size returned by a query (lwork = -1) in work[0].
template <typename T>
int work_size(T w) {
  return std::max(1, static_cast<int>(std::ceil(static_cast<double>(w))));
}

// Bad arguments are a bug in these kernels, never the user's.
void check_args(const std::string& op, const char* routine, int info) {
  if (info < 0) {
    throw std::logic_error("[" + op + "] LAPACK " + routine + " rejected its argument " + std::to_string(-info) + ".");
  }
}

// Per-matrix failures (info > 0), reported after the loop (backend/linalg_failures.h).
struct Failures {
  std::vector<int> info;
  explicit Failures(int64_t count) : info(static_cast<size_t>(count), 0) {}
  template <typename What>
  void raise(const std::string& op, const std::string& want, What&& what) const {
    linalg_failures::raise(op, info, want, what);
  }
};

// Iterative routines (SVD, eigensolvers) may fail or stop the process on NaN or inf entries:
// those are refused before the call (info = 1). `tri` restricts the check to the triangle read.
template <typename T>
bool finite_matrix(const T* buf, int m, int n, char tri = 'A') {
  for (int j = 0; j < n; ++j) {
    for (int i = 0; i < m; ++i) {
      if ((tri == 'L' && i < j) || (tri == 'U' && i > j)) continue;
      if (!std::isfinite(buf[i + static_cast<int64_t>(j) * m])) return false;
    }
  }
  return true;
}
using linalg_failures::diag_zero;
using linalg_failures::non_finite;

}  // namespace

void Inverse::eval_cpu(const std::vector<array>& inputs, array& out) {
  // a: (batch..., N, N) any layout; out: (batch..., N, N) row-major.
  const array& a = inputs[0];
  out.set_data(allocator::malloc(out.nbytes()));
  Stack st(a);
  const int n = st.n;
  if (out.size() == 0) return;
  Failures fails(st.count);
  dispatch_lapack(op(), a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* dst = out.data<T>();
    int lwork = 1;
    if (!tri_) {
      T q;
      int info = 0;
      lp::getri(n, nullptr, n, nullptr, &q, -1, &info);
      lwork = work_size(q);
    }
    over_batch(st.count, static_cast<double>(n) * n * n, [&](int64_t b0, int64_t b1) {
      std::vector<T> buf(static_cast<size_t>(n) * n), work(lwork);
      std::vector<int> ipiv(n);
      for (int64_t b = b0; b < b1; ++b) {
        st.load(b, buf.data());
        int info = 0;
        if (tri_) {
          lp::trtri(upper_ ? 'U' : 'L', n, buf.data(), n, &info);
          check_args(op(), "trtri", info);
        } else {
          lp::getrf(n, n, buf.data(), n, ipiv.data(), &info);
          check_args(op(), "getrf", info);
          if (info == 0) lp::getri(n, buf.data(), n, ipiv.data(), work.data(), lwork, &info);
          check_args(op(), "getri", info);
        }
        fails.info[b] = info;
        if (info == 0) store(buf.data(), n, n, n, dst + b * n * n, tri_ ? (upper_ ? 'U' : 'L') : 'A');
      }
    });
  });
  if (tri_) {
    fails.raise(op(), "a triangular matrix with no zero on its diagonal", [](int i) { return diag_zero(i, "A"); });
  } else {
    fails.raise(op(), "a non-singular matrix", [](int i) { return diag_zero(i, "U") + " in its LU factorization"; });
  }
}

void Cholesky::eval_cpu(const std::vector<array>& inputs, array& out) {
  // a: (batch..., N, N) any layout, its lower (upper) triangle read; out: row-major, triangular.
  const array& a = inputs[0];
  out.set_data(allocator::malloc(out.nbytes()));
  Stack st(a);
  const int n = st.n;
  if (out.size() == 0) return;
  const char uplo = upper_ ? 'U' : 'L';
  Failures fails(st.count);
  dispatch_lapack(op(), a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* dst = out.data<T>();
    over_batch(st.count, static_cast<double>(n) * n * n / 3, [&](int64_t b0, int64_t b1) {
      std::vector<T> buf(static_cast<size_t>(n) * n);
      for (int64_t b = b0; b < b1; ++b) {
        st.load(b, buf.data());
        int info = 0;
        lp::potrf(uplo, n, buf.data(), n, &info);
        check_args(op(), "potrf", info);
        fails.info[b] = info;
        if (info == 0) store(buf.data(), n, n, n, dst + b * n * n, uplo);
      }
    });
  });
  fails.raise(op(), "a symmetric positive definite matrix", [](int i) {
    return "one whose leading minor of order " + std::to_string(i) + " is not positive definite";
  });
}

void SolveTriangular::eval_cpu(const std::vector<array>& inputs, array& out) {
  // a: (batch..., N, N), b: (batch..., N, K), any layout, equal batch shapes; out: (batch..., N, K).
  const array& a = inputs[0];
  out.set_data(allocator::malloc(out.nbytes()));
  Stack sa(a), sb(inputs[1]);
  const int n = sa.n, k = sb.n;
  if (out.size() == 0) return;
  Failures fails(sa.count);
  dispatch_lapack(op(), a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* dst = out.data<T>();
    over_batch(sa.count, static_cast<double>(n) * n * k, [&](int64_t b0, int64_t b1) {
      std::vector<T> abuf(static_cast<size_t>(n) * n), bbuf(static_cast<size_t>(n) * k);
      for (int64_t b = b0; b < b1; ++b) {
        sa.load(b, abuf.data());
        sb.load(b, bbuf.data());
        int info = 0;
        lp::trtrs(upper_ ? 'U' : 'L', unit_ ? 'U' : 'N', n, k, abuf.data(), n, bbuf.data(), n, &info);
        check_args(op(), "trtrs", info);
        fails.info[b] = info;
        if (info == 0) store(bbuf.data(), n, n, k, dst + b * n * k);
      }
    });
  });
  // linalg::solve reaches this with U of the LU factorization: its zero pivot makes A singular.
  if (op() == "linalg::solve") {
    fails.raise(op(), "a non-singular matrix", [](int i) { return diag_zero(i, "U") + " in its LU factorization"; });
  } else {
    fails.raise(op(), "a triangular matrix with no zero on its diagonal", [](int i) { return diag_zero(i, "A"); });
  }
}

void LUF::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // a: (batch..., M, N) any layout; LU (batch..., M, N), pivots (batch..., K), perm (batch..., M).
  const array& a = inputs[0];
  for (auto& o : outputs) o.set_data(allocator::malloc(o.nbytes()));
  Stack st(a);
  const int m = st.m, n = st.n, k = std::min(m, n);
  dispatch_lapack(op(), a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* lu = outputs[0].data<T>();
    uint32_t* piv = outputs[1].data<uint32_t>();
    uint32_t* perm = outputs[2].data<uint32_t>();
    over_batch(st.count, static_cast<double>(m) * n * k, [&](int64_t b0, int64_t b1) {
      std::vector<T> buf(static_cast<size_t>(m) * n);
      std::vector<int> ipiv(std::max(k, 1)), rows(m);
      for (int64_t b = b0; b < b1; ++b) {
        if (k > 0) {
          st.load(b, buf.data());
          int info = 0;
          lp::getrf(m, n, buf.data(), m, ipiv.data(), &info);
          check_args(op(), "getrf", info);  // info > 0 (an exactly singular U) is a valid result
          store(buf.data(), m, m, n, lu + b * m * n);
        }
        // rows[j]: the row of A that the swaps brought to position j; perm inverts it.
        std::iota(rows.begin(), rows.end(), 0);
        for (int i = 0; i < k; ++i) {
          piv[b * k + i] = static_cast<uint32_t>(ipiv[i] - 1);
          std::swap(rows[i], rows[ipiv[i] - 1]);
        }
        for (int j = 0; j < m; ++j) perm[b * m + rows[j]] = static_cast<uint32_t>(j);
      }
    });
  });
}

void QRF::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // a: (batch..., M, N) any layout; Q (batch..., M, K), R (batch..., K, N) row-major.
  const array& a = inputs[0];
  for (auto& o : outputs) o.set_data(allocator::malloc(o.nbytes()));
  Stack st(a);
  const int m = st.m, n = st.n, k = std::min(m, n);
  if (k == 0) return;  // Q and R are empty
  dispatch_lapack(op(), a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* q = outputs[0].data<T>();
    T* r = outputs[1].data<T>();
    T q1, q2;
    int info = 0;
    lp::geqrf(m, n, nullptr, m, nullptr, &q1, -1, &info);
    lp::orgqr(m, k, k, nullptr, m, nullptr, &q2, -1, &info);
    const int lwork = std::max(work_size(q1), work_size(q2));
    over_batch(st.count, 2.0 * m * n * k, [&](int64_t b0, int64_t b1) {
      std::vector<T> buf(static_cast<size_t>(m) * n), tau(k), work(lwork);
      for (int64_t b = b0; b < b1; ++b) {
        st.load(b, buf.data());
        int info = 0;
        lp::geqrf(m, n, buf.data(), m, tau.data(), work.data(), lwork, &info);
        check_args(op(), "geqrf", info);
        store(buf.data(), m, k, n, r + b * k * n, 'U');  // R: the upper triangle of the first K rows
        lp::orgqr(m, k, k, buf.data(), m, tau.data(), work.data(), lwork, &info);
        check_args(op(), "orgqr", info);
        store(buf.data(), m, m, k, q + b * m * k);
      }
    });
  });
}

void SVD::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // a: (batch..., M, N) any layout; outputs row-major: {U (M, M), S (K), Vt (N, N)} or {S}.
  const array& a = inputs[0];
  for (auto& o : outputs) o.set_data(allocator::malloc(o.nbytes()));
  Stack st(a);
  const int m = st.m, n = st.n, k = std::min(m, n);
  const char job = compute_uv_ ? 'A' : 'N';
  Failures fails(st.count);
  dispatch_lapack(op(), a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* u = compute_uv_ ? outputs[0].data<T>() : nullptr;
    T* s = outputs[compute_uv_ ? 1 : 0].data<T>();
    T* vt = compute_uv_ ? outputs[2].data<T>() : nullptr;
    if (k == 0) {
      // No singular values; any orthonormal U and Vt will do: the identities.
      auto identity = [](T* dst, int d) {
        for (int i = 0; i < d; ++i) {
          for (int j = 0; j < d; ++j) dst[static_cast<int64_t>(i) * d + j] = T(i == j);
        }
      };
      for (int64_t b = 0; compute_uv_ && b < st.count; ++b) {
        identity(u + b * m * m, m);
        identity(vt + b * n * n, n);
      }
      return;
    }
    const int ldu = compute_uv_ ? m : 1, ldvt = compute_uv_ ? n : 1;
    T q;
    int info = 0;
    std::vector<int> iwork_q(8 * k);
    lp::gesdd(job, m, n, nullptr, m, nullptr, nullptr, ldu, nullptr, ldvt, &q, -1, iwork_q.data(), &info);
    const int lwork = work_size(q);
    over_batch(st.count, 4.0 * m * n * k, [&](int64_t b0, int64_t b1) {
      std::vector<T> buf(static_cast<size_t>(m) * n), ub(compute_uv_ ? static_cast<size_t>(m) * m : 1),
          vtb(compute_uv_ ? static_cast<size_t>(n) * n : 1), work(lwork);
      std::vector<int> iwork(8 * k);
      for (int64_t b = b0; b < b1; ++b) {
        st.load(b, buf.data());
        if (!finite_matrix(buf.data(), m, n)) {
          fails.info[b] = 1;
          continue;
        }
        int info = 0;
        lp::gesdd(job, m, n, buf.data(), m, s + b * k, ub.data(), ldu, vtb.data(), ldvt, work.data(), lwork,
                  iwork.data(), &info);
        check_args(op(), "gesdd", info);
        if (info > 0) {
          // Divide and conquer did not converge: QR iteration is slower but sturdier.
          st.load(b, buf.data());
          T q2;
          lp::gesvd(job, m, n, buf.data(), m, s + b * k, ub.data(), ldu, vtb.data(), ldvt, &q2, -1, &info);
          std::vector<T> work2(work_size(q2));
          lp::gesvd(job, m, n, buf.data(), m, s + b * k, ub.data(), ldu, vtb.data(), ldvt, work2.data(),
                    static_cast<int>(work2.size()), &info);
          check_args(op(), "gesvd", info);
          if (info > 0) {
            fails.info[b] = 2;
            continue;
          }
        }
        if (compute_uv_) {
          store(ub.data(), m, m, m, u + b * m * m);
          store(vtb.data(), n, n, n, vt + b * n * n);
        }
      }
    });
  });
  fails.raise(op(), "a matrix of finite values whose SVD converges",
              [](int i) { return i == 1 ? non_finite() : std::string("no convergence (LAPACK gesdd and gesvd)"); });
}

void Eig::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // a: (batch..., N, N) any layout; w (batch..., N) and [V (batch..., N, N)] complex64 row-major.
  const array& a = inputs[0];
  for (auto& o : outputs) o.set_data(allocator::malloc(o.nbytes()));
  Stack st(a);
  const int n = st.n;
  if (n == 0) return;
  const char jobvr = vectors_ ? 'V' : 'N';
  Failures fails(st.count);
  dispatch_lapack(op(), a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    complex64_t* w = outputs[0].data<complex64_t>();
    complex64_t* v = vectors_ ? outputs[1].data<complex64_t>() : nullptr;
    const int ldvr = vectors_ ? n : 1;
    T q;
    int info = 0;
    lp::geev(jobvr, n, nullptr, n, nullptr, nullptr, nullptr, ldvr, &q, -1, &info);
    const int lwork = work_size(q);
    over_batch(st.count, 10.0 * n * n * n, [&](int64_t b0, int64_t b1) {
      std::vector<T> buf(static_cast<size_t>(n) * n), wr(n), wi(n), vr(vectors_ ? static_cast<size_t>(n) * n : 1),
          work(lwork);
      for (int64_t b = b0; b < b1; ++b) {
        st.load(b, buf.data());
        if (!finite_matrix(buf.data(), n, n)) {
          fails.info[b] = -1;
          continue;
        }
        int info = 0;
        lp::geev(jobvr, n, buf.data(), n, wr.data(), wi.data(), vr.data(), ldvr, work.data(), lwork, &info);
        check_args(op(), "geev", info);
        if (info > 0) {
          fails.info[b] = info;
          continue;
        }
        for (int j = 0; j < n; ++j) w[b * n + j] = complex64_t(static_cast<float>(wr[j]), static_cast<float>(wi[j]));
        if (!vectors_) continue;
        complex64_t* vb = v + b * n * n;
        // A complex pair (wi[j] > 0, then its conjugate) keeps its vector's real and imaginary
        // parts in columns j and j + 1.
        for (int j = 0; j < n; ++j) {
          bool pair = wi[j] != T(0) && j + 1 < n;
          for (int i = 0; i < n; ++i) {
            auto re = static_cast<float>(vr[i + static_cast<int64_t>(j) * n]);
            auto im = pair ? static_cast<float>(vr[i + static_cast<int64_t>(j + 1) * n]) : 0.0f;
            vb[static_cast<int64_t>(i) * n + j] = complex64_t(re, im);
            if (pair) vb[static_cast<int64_t>(i) * n + j + 1] = complex64_t(re, -im);
          }
          if (pair) ++j;
        }
      }
    });
  });
  fails.raise(op(), "a matrix of finite values whose eigenvalues converge", [](int i) {
    return i < 0 ? non_finite() : "no convergence of the QR algorithm (LAPACK geev info " + std::to_string(i) + ")";
  });
}

void Eigh::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // a: (batch..., N, N) any layout, its lower (upper) triangle read; w (batch..., N) ascending,
  // [V (batch..., N, N) eigenvectors as columns], row-major.
  const array& a = inputs[0];
  for (auto& o : outputs) o.set_data(allocator::malloc(o.nbytes()));
  Stack st(a);
  const int n = st.n;
  if (n == 0) return;
  const char jobz = vectors_ ? 'V' : 'N', uplo = upper_ ? 'U' : 'L';
  Failures fails(st.count);
  dispatch_lapack(op(), a.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* w = outputs[0].data<T>();
    T* v = vectors_ ? outputs[1].data<T>() : nullptr;
    T q;
    int iq = 0, info = 0;
    lp::syevd(jobz, uplo, n, nullptr, n, nullptr, &q, -1, &iq, -1, &info);
    const int lwork = work_size(q), liwork = std::max(1, iq);
    over_batch(st.count, 4.0 * n * n * n, [&](int64_t b0, int64_t b1) {
      std::vector<T> buf(static_cast<size_t>(n) * n), work(lwork);
      std::vector<int> iwork(liwork);
      for (int64_t b = b0; b < b1; ++b) {
        st.load(b, buf.data());
        if (!finite_matrix(buf.data(), n, n, uplo)) {
          fails.info[b] = -1;
          continue;
        }
        int info = 0;
        lp::syevd(jobz, uplo, n, buf.data(), n, w + b * n, work.data(), lwork, iwork.data(), liwork, &info);
        check_args(op(), "syevd", info);
        fails.info[b] = info;
        if (info == 0 && vectors_) store(buf.data(), n, n, n, v + b * n * n);
      }
    });
  });
  fails.raise(op(), "a symmetric matrix of finite values whose eigenvalues converge", [](int i) {
    return i < 0 ? non_finite() : "no convergence (LAPACK syevd info " + std::to_string(i) + ")";
  });
}

}  // namespace mica
