// CPU kernels of the matmul family and the shared GEMM (gemm.h).
// Matmul: a (batch..., M, K), b (batch..., K, N), any strides (batch dims may be broadcast with
// stride 0); out (batch..., M, N) row-major. AddMM adds c (out's shape and dtype).
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "mica/backend/cpu/copy.h"
#include "mica/backend/cpu/gemm.h"
#include "mica/backend/cpu/parallel.h"
#include "mica/primitives/matmul.h"
#include "mica/types/cast.h"

namespace mica {

namespace cpu {

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (int64_t i = 0; i < M; ++i) {
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    }
    return;
  }
  // dnnl wants leading dims of at least the row length even when a dim is 1.
  lda = std::max(lda, trans_a ? M : K);
  ldb = std::max(ldb, trans_b ? K : N);
  dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (st != dnnl_success) {
    throw std::runtime_error("[matmul] dnnl_sgemm failed with status " + std::to_string(static_cast<int>(st)) + ".");
  }
}

namespace {
// Copies op(X) (rows x cols) into a row-major buffer.
template <typename T>
std::vector<T> pack_rows(bool trans, int64_t rows, int64_t cols, const T* x, int64_t ld) {
  std::vector<T> out(static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) out[i * cols + j] = trans ? x[j * ld + i] : x[i * ld + j];
  }
  return out;
}

// Blocked loop nest for types dnnl has no GEMM for. Each task owns a band of rows of C; within
// it, a kKBlock x kNBlock panel of B is reused by every 4-row strip of the band (L2-sized),
// and the 4 x kNBlock strip of C stays in L1 while k runs.
template <typename T>
void gemm_blocked(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                  const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
  }
  if (K == 0 || alpha == T(0)) return;
  std::vector<T> pa, pb;
  if (trans_a) pa = pack_rows(true, M, K, A, lda), A = pa.data(), lda = K;
  if (trans_b) pb = pack_rows(true, K, N, B, ldb), B = pb.data(), ldb = N;
  constexpr int64_t kNBlock = 256, kKBlock = 128, kRows = 4;
  int64_t strips = (M + kRows - 1) / kRows;
  int64_t grain = std::max<int64_t>(1, (int64_t{1} << 18) / std::max<int64_t>(1, N * K * kRows));
  cpu::parallel_for(strips, grain, [&](int64_t s0, int64_t s1) {
    int64_t r0 = s0 * kRows, r1 = std::min(M, s1 * kRows);
    for (int64_t j0 = 0; j0 < N; j0 += kNBlock) {
      int64_t nb = std::min(kNBlock, N - j0);
      for (int64_t k0 = 0; k0 < K; k0 += kKBlock) {
        int64_t k1 = std::min(K, k0 + kKBlock);
        int64_t i = r0;
        for (; i + kRows <= r1; i += kRows) {
          T* c0 = C + i * ldc + j0;
          T* c1 = c0 + ldc;
          T* c2 = c1 + ldc;
          T* c3 = c2 + ldc;
          for (int64_t k = k0; k < k1; ++k) {
            T a0 = alpha * A[i * lda + k], a1 = alpha * A[(i + 1) * lda + k];
            T a2 = alpha * A[(i + 2) * lda + k], a3 = alpha * A[(i + 3) * lda + k];
            const T* b = B + k * ldb + j0;
            for (int64_t j = 0; j < nb; ++j) {
              T bj = b[j];
              c0[j] += a0 * bj;
              c1[j] += a1 * bj;
              c2[j] += a2 * bj;
              c3[j] += a3 * bj;
            }
          }
        }
        for (; i < r1; ++i) {
          T* c = C + i * ldc + j0;
          for (int64_t k = k0; k < k1; ++k) {
            T a = alpha * A[i * lda + k];
            const T* b = B + k * ldb + j0;
            for (int64_t j = 0; j < nb; ++j) c[j] += a * b[j];
          }
        }
      }
    }
  });
}
}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
          const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  gemm_blocked(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, complex64_t alpha, const complex64_t* A,
          int64_t lda, const complex64_t* B, int64_t ldb, complex64_t beta, complex64_t* C, int64_t ldc) {
  gemm_blocked(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace cpu

namespace {

// How a rows x cols matrix with element strides (sr, sc) can be handed to a GEMM directly.
struct Layout {
  bool ok = false;
  bool trans = false;
  int64_t ld = 0;
};

Layout blas_layout(int64_t rows, int64_t cols, int64_t sr, int64_t sc) {
  if ((sc == 1 || cols == 1) && (rows == 1 || sr >= std::max<int64_t>(cols, 1))) {
    return {true, false, rows == 1 ? std::max<int64_t>(cols, 1) : sr};
  }
  if ((sr == 1 || rows == 1) && (cols == 1 || sc >= std::max<int64_t>(rows, 1))) {
    return {true, true, cols == 1 ? std::max<int64_t>(rows, 1) : sc};
  }
  return {};
}

// Element offset of each matrix of x (batch..., r, c), batch index in row-major order.
std::vector<int64_t> batch_offsets(const array& x, int64_t count) {
  int nb = static_cast<int>(x.ndim()) - 2;
  std::vector<int64_t> off(static_cast<size_t>(count));
  std::vector<int> idx(std::max(nb, 0), 0);
  int64_t o = 0;
  for (int64_t i = 0; i < count; ++i) {
    off[i] = o;
    for (int d = nb - 1; d >= 0; --d) {
      o += x.strides()[d];
      if (++idx[d] < x.shape(d)) break;
      o -= x.strides()[d] * x.shape(d);
      idx[d] = 0;
    }
  }
  return off;
}

// Copies a strided rows x cols matrix into a row-major buffer of type To.
template <typename To, typename From>
void pack(const From* src, int64_t rows, int64_t cols, int64_t sr, int64_t sc, To* dst) {
  for (int64_t i = 0; i < rows; ++i) {
    const From* s = src + i * sr;
    To* d = dst + i * cols;
    for (int64_t j = 0; j < cols; ++j) d[j] = cast_to<To>(s[j * sc]);
  }
}

// out = alpha * a @ b + beta * out for every matrix of the batch; T is the storage type and Acc
// the type the GEMM runs in (float for the half types).
template <typename T, typename Acc>
void batched_gemm(const array& a, const array& b, array& out, float alpha, float beta) {
  int nd = static_cast<int>(out.ndim());
  int64_t M = out.shape(nd - 2), N = out.shape(nd - 1), K = a.shape(nd - 1);
  int64_t count = static_cast<int64_t>(out.size()) / (M * N);
  Layout la = blas_layout(M, K, a.strides()[nd - 2], a.strides()[nd - 1]);
  Layout lb = blas_layout(K, N, b.strides()[nd - 2], b.strides()[nd - 1]);
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* pc = out.data<T>();
  constexpr bool direct = std::is_same_v<T, Acc>;
  Acc al = static_cast<Acc>(alpha), be = static_cast<Acc>(beta);
  if constexpr (direct) {
    // One matrix b shared by stacked row-major a's: a single (count * M) x K product.
    bool b_shared = true;
    for (int d = 0; d < nd - 2; ++d) b_shared = b_shared && b.strides()[d] == 0;
    if (count > 1 && b_shared && a.flags().row_contiguous && lb.ok) {
      cpu::gemm(false, lb.trans, count * M, N, K, al, pa, K, pb, lb.ld, be, pc, N);
      return;
    }
  }
  std::vector<int64_t> oa = batch_offsets(a, count), ob = batch_offsets(b, count);
  std::vector<Acc> ba, bb, bc;
  for (int64_t i = 0; i < count; ++i) {
    const T* A = pa + oa[i];
    const T* B = pb + ob[i];
    T* C = pc + i * M * N;
    const Acc* ga;
    const Acc* gb;
    Layout ga_l = la, gb_l = lb;
    if (direct && la.ok) {
      ga = reinterpret_cast<const Acc*>(A);
    } else {
      ba.resize(M * K);
      pack(A, M, K, a.strides()[nd - 2], a.strides()[nd - 1], ba.data());
      ga = ba.data(), ga_l = {true, false, K};
    }
    if (direct && lb.ok) {
      gb = reinterpret_cast<const Acc*>(B);
    } else {
      bb.resize(K * N);
      pack(B, K, N, b.strides()[nd - 2], b.strides()[nd - 1], bb.data());
      gb = bb.data(), gb_l = {true, false, N};
    }
    if constexpr (direct) {
      cpu::gemm(ga_l.trans, gb_l.trans, M, N, K, al, ga, ga_l.ld, gb, gb_l.ld, be, C, N);
    } else {
      bc.resize(M * N);
      if (beta != 0.0f) pack(C, M, N, N, 1, bc.data());
      cpu::gemm(ga_l.trans, gb_l.trans, M, N, K, al, ga, ga_l.ld, gb, gb_l.ld, be, bc.data(), N);
      pack(bc.data(), M, N, N, 1, C);
    }
  }
}

// Fills out (already holding c when beta != 0) with alpha * a @ b + beta * out.
void matmul_into(const array& a, const array& b, array& out, float alpha, float beta) {
  if (out.size() == 0) return;
  switch (out.dtype().val) {
    case Dtype::Val::float32: return batched_gemm<float, float>(a, b, out, alpha, beta);
    case Dtype::Val::float16: return batched_gemm<float16_t, float>(a, b, out, alpha, beta);
    case Dtype::Val::bfloat16: return batched_gemm<bfloat16_t, float>(a, b, out, alpha, beta);
    case Dtype::Val::float64: return batched_gemm<double, double>(a, b, out, alpha, beta);
    case Dtype::Val::complex64: return batched_gemm<complex64_t, complex64_t>(a, b, out, alpha, beta);
    default:
      throw std::runtime_error("[matmul] kernel got unsupported dtype " + dtype_to_string(out.dtype()) +
                               " (the op should have rejected it).");
  }
}

}  // namespace

void Matmul::eval_cpu(const std::vector<array>& inputs, array& out) {
  out.set_data(allocator::malloc(out.nbytes()));
  matmul_into(inputs[0], inputs[1], out, 1.0f, 0.0f);
}

void AddMM::eval_cpu(const std::vector<array>& inputs, array& out) {
  out.set_data(allocator::malloc(out.nbytes()));
  if (beta_ != 0.0f) cpu::copy_into(inputs[2], out);
  matmul_into(inputs[0], inputs[1], out, alpha_, beta_);
}

}  // namespace mica
