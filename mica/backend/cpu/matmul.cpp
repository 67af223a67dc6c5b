// CPU kernels of the matmul family and the shared GEMM (gemm.h).
// Matmul: a (batch..., M, K), b (batch..., K, N), any strides (batch dims may be broadcast with
// stride 0); out (batch..., M, N) row-major. AddMM adds c (out's shape and dtype).
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
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

namespace {
// oneDNN runs its GEMM on OpenMP threads. mica keeps the threading to itself: every dnnl_sgemm
// call runs on one thread (the OpenMP team size is a per-thread setting, restored afterwards)
// and gemm() below splits large products over mica's pool. Two thread pools taking turns on
// the same cores cost ~20% of a training step (OpenMP's workers spin after each call while
// mica's elementwise kernels wait for the cores).
void sgemm_one_thread(char ta, char tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                      const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  const int prev = omp_get_max_threads();
  if (prev != 1) omp_set_num_threads(1);
  dnnl_status_t st = dnnl_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (prev != 1) omp_set_num_threads(prev);
  if (st != dnnl_success) {
    throw std::runtime_error("[matmul] dnnl_sgemm failed with status " + std::to_string(static_cast<int>(st)) + ".");
  }
}
}  // namespace

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
  const char ta = trans_a ? 'T' : 'N', tb = trans_b ? 'T' : 'N';
  // Below ~4 MFLOP a split costs more than it saves; inside a parallel_for we are one of its
  // threads already.
  const int threads = num_threads();
  if (threads == 1 || in_parallel() || 2.0 * double(M) * double(N) * double(K) < 4e6 || std::max(M, N) < 32) {
    sgemm_one_thread(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  // Split the longer side of C into one band per thread (multiples of 16 rows/columns).
  const bool rows = M >= N;
  const int64_t len = rows ? M : N;
  const int64_t band = (len / threads + 15) / 16 * 16;
  const int64_t parts = (len + band - 1) / band;
  parallel_for(parts, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t b = p * band, n = std::min(band, len - b);
      if (rows) {
        sgemm_one_thread(ta, tb, n, N, K, alpha, trans_a ? A + b : A + b * lda, lda, B, ldb, beta, C + b * ldc, ldc);
      } else {
        sgemm_one_thread(ta, tb, M, n, K, alpha, A, lda, trans_b ? B + b * ldb : B + b, ldb, beta, C + b, ldc);
      }
    }
  });
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

namespace {
// float64: packed panels and a 6 x 8 register-tile micro-kernel (GCC vector extensions, which
// become AVX2 FMAs under x86-64-v3). B is packed per (kKC x kNC) panel by the calling thread;
// each task packs a kMC x kKC block of A and sweeps the panel's 8-column strips.
using v4d = double __attribute__((vector_size(32)));
constexpr int64_t kMR = 6, kNR = 8, kKC = 256, kMC = 72, kNC = 1024;

// C[mr x nr] += alpha * sum_k a[k][0..5] (x) b[k][0..7]; a, b packed (zero-padded) strips.
void kernel_6x8(int64_t kc, const double* a, const double* b, double alpha, double* c, int64_t ldc, int64_t mr,
                int64_t nr) {
  v4d acc[kMR][2];
  for (auto& r : acc) r[0] = r[1] = v4d{0, 0, 0, 0};
  for (int64_t k = 0; k < kc; ++k) {
    v4d b0, b1;
    std::memcpy(&b0, b + kNR * k, sizeof b0);
    std::memcpy(&b1, b + kNR * k + 4, sizeof b1);
    for (int r = 0; r < kMR; ++r) {
      double x = a[kMR * k + r];
      v4d av = {x, x, x, x};
      acc[r][0] += av * b0;
      acc[r][1] += av * b1;
    }
  }
  v4d al = {alpha, alpha, alpha, alpha};
  if (mr == kMR && nr == kNR) {
    for (int r = 0; r < kMR; ++r) {
      v4d c0, c1;
      std::memcpy(&c0, c + r * ldc, sizeof c0);
      std::memcpy(&c1, c + r * ldc + 4, sizeof c1);
      c0 += al * acc[r][0];
      c1 += al * acc[r][1];
      std::memcpy(c + r * ldc, &c0, sizeof c0);
      std::memcpy(c + r * ldc + 4, &c1, sizeof c1);
    }
    return;
  }
  double tile[kMR][kNR];
  for (int r = 0; r < kMR; ++r) {
    std::memcpy(&tile[r][0], &acc[r][0], sizeof(v4d));
    std::memcpy(&tile[r][4], &acc[r][1], sizeof(v4d));
  }
  for (int64_t r = 0; r < mr; ++r) {
    for (int64_t j = 0; j < nr; ++j) c[r * ldc + j] += alpha * tile[r][j];
  }
}

// Element (i, j) of op(X) for a row-major X with leading dim ld.
inline double at(const double* x, int64_t ld, bool trans, int64_t i, int64_t j) {
  return trans ? x[j * ld + i] : x[i * ld + j];
}

void gemm_f64(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
              int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0 ? 0.0 : beta * C[i * ldc + j];
  }
  if (K == 0 || alpha == 0.0) return;
  std::vector<double> bpack(static_cast<size_t>(kKC * (kNC + kNR)));
  for (int64_t jc = 0; jc < N; jc += kNC) {
    int64_t nc = std::min(kNC, N - jc);
    int64_t strips = (nc + kNR - 1) / kNR;
    for (int64_t pc = 0; pc < K; pc += kKC) {
      int64_t kc = std::min(kKC, K - pc);
      // B panel: strip s holds op(B)[pc:pc+kc, jc+8s : jc+8s+8] as kc rows of 8 (zero-padded).
      for (int64_t s = 0; s < strips; ++s) {
        double* dst = bpack.data() + s * kc * kNR;
        for (int64_t k = 0; k < kc; ++k) {
          for (int64_t j = 0; j < kNR; ++j) {
            int64_t col = jc + s * kNR + j;
            dst[k * kNR + j] = col < N ? at(B, ldb, trans_b, pc + k, col) : 0.0;
          }
        }
      }
      // Tasks: blocks of kMC rows, split further over strips when there are fewer blocks than threads.
      int64_t mblocks = (M + kMC - 1) / kMC;
      int64_t jparts = std::clamp<int64_t>(cpu::num_threads() / mblocks, 1, strips);
      int64_t per_part = (strips + jparts - 1) / jparts;
      int64_t grain = std::max<int64_t>(1, (int64_t{1} << 20) / std::max<int64_t>(1, kMC * kc * nc / jparts));
      cpu::parallel_for(mblocks * jparts, grain, [&](int64_t t0, int64_t t1) {
        std::vector<double> apack(static_cast<size_t>((kMC + kMR) * kc));
        for (int64_t t = t0; t < t1; ++t) {
          int64_t ic = (t / jparts) * kMC, mc = std::min(kMC, M - ic);
          int64_t s0 = (t % jparts) * per_part, s1 = std::min(strips, s0 + per_part);
          int64_t rstrips = (mc + kMR - 1) / kMR;
          for (int64_t rs = 0; rs < rstrips; ++rs) {
            double* dst = apack.data() + rs * kc * kMR;
            for (int64_t k = 0; k < kc; ++k) {
              for (int64_t r = 0; r < kMR; ++r) {
                int64_t row = ic + rs * kMR + r;
                dst[k * kMR + r] = row < ic + mc ? at(A, lda, trans_a, row, pc + k) : 0.0;
              }
            }
          }
          for (int64_t s = s0; s < s1; ++s) {
            int64_t j = jc + s * kNR, nr = std::min(kNR, N - j);
            for (int64_t rs = 0; rs < rstrips; ++rs) {
              int64_t i = ic + rs * kMR, mr = std::min(kMR, ic + mc - i);
              kernel_6x8(kc, apack.data() + rs * kc * kMR, bpack.data() + s * kc * kNR, alpha, C + i * ldc + j, ldc,
                         mr, nr);
            }
          }
        }
      });
    }
  }
}
}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
          const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  gemm_f64(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
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
  // One matrix per task when there are enough of them (each GEMM then runs on one thread);
  // otherwise the matrices go in turn and each GEMM splits itself.
  auto run = [&](int64_t i0, int64_t i1) {
    std::vector<Acc> ba, bb, bc;
    for (int64_t i = i0; i < i1; ++i) {
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
  };
  if (count >= cpu::num_threads()) {
    cpu::parallel_for(count, 1, run);
  } else {
    run(0, count);
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
