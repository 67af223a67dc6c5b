// Row-major GEMM used by the CPU matmul and conv kernels:
//   C (M x N, leading dim ldc) = alpha * op(A) @ op(B) + beta * C
// op(A) is M x K: A is stored M x K with leading dim lda, or K x M when trans_a (likewise B).
// beta == 0 overwrites C without reading it. M, N or K may be 0.
#pragma once
#include <cstdint>

#include "mica/types/half_types.h"

namespace mica::cpu {

/** float32 through oneDNN's dnnl_sgemm, which runs its own (OpenMP) threads; call it from the
 * evaluating thread, not from inside parallel_for. */
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
/** float64: packed panels and a register-tiled micro-kernel, row blocks split over parallel_for. */
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
          const double* B, int64_t ldb, double beta, double* C, int64_t ldc);
/** complex64: a cache-blocked loop nest, rows split over parallel_for. */
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, complex64_t alpha, const complex64_t* A,
          int64_t lda, const complex64_t* B, int64_t ldb, complex64_t beta, complex64_t* C, int64_t ldc);

}  // namespace mica::cpu
