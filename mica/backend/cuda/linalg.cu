// GPU kernels of the linalg family (backend/cpu/linalg.cpp's twin) through cuBLAS and cuSOLVER:
//  - inverse: cuBLAS's batched LU (getrfBatched + getriBatched), triangular inverses through
//    trsm against the identity; cholesky: potrfBatched;
//  - solve_triangular: cuBLAS's trsmBatched on the row-major data as it is (see solve_triangular);
//  - lu_factor: getrf per matrix (64-bit API), the pivots and the permutation by a kernel;
//  - qr: geqrf + orgqr per matrix; svd: gesvd per matrix (its rows >= columns restriction met by
//    factoring Aᵀ when A is wide); eigh: syevBatched over the whole batch; eig: geev per matrix
//    in real arithmetic, unpacked to complex64 as the CPU unpacks LAPACK's geev.
// Matrices are copied column-major first where the routine overwrites its input (so the
// factorization is LAPACK's, on the same matrix as the CPU's: the same pivots, the same failing
// index in errors), and results copied back row-major with the other triangle zeroed where the
// CPU zeroes it. Failures (info != 0, a zero on a triangular diagonal, NaN or inf entries where
// the CPU refuses them) throw the CPU's message after the kernels: these ops synchronize to read
// the infos, as PyTorch's do. Builds without cuSOLVER run all of these on the CPU
// (backend/cuda/no_cusolver).
#include <cublas_v2.h>
#include <cusolverDn.h>

#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "mica/backend/cuda/copy.h"
#include "mica/backend/cuda/device/elementwise.cuh"
#include "mica/backend/cuda/device/types.cuh"
#include "mica/backend/cuda/utils.h"
#include "mica/backend/linalg_failures.h"
#include "mica/primitives/linalg.h"

namespace mica {

namespace {

void check(cublasStatus_t s, const char* call) {
  if (s != CUBLAS_STATUS_SUCCESS) {
    throw std::runtime_error(std::string("[linalg] ") + call + " failed with cuBLAS status " + std::to_string(static_cast<int>(s)) + ".");
  }
}
void check(cusolverStatus_t s, const char* call) {
  if (s != CUSOLVER_STATUS_SUCCESS) {
    throw std::runtime_error(std::string("[linalg] ") + call + " failed with cuSOLVER status " +
                             std::to_string(static_cast<int>(s)) + ".");
  }
}
#define MICA_LINALG_CHECK(call) check((call), #call)

// The process's cuBLAS and cuSOLVER handles. A handle carries one stream, so a caller holds the
// lock from binding its stream until its last call (as matmul.cu and cudnn.cpp serialize theirs).
struct Handles {
  std::mutex mu;
  cublasHandle_t blas = nullptr;
  cusolverDnHandle_t solver = nullptr;
  cusolverDnParams_t params = nullptr;  // the 64-bit API's options (defaults)
};
Handles& handles() {
  static Handles* h = new Handles();
  return *h;
}
cublasHandle_t cublas_locked(cudaStream_t s) {
  Handles& h = handles();
  if (!h.blas) MICA_LINALG_CHECK(cublasCreate(&h.blas));
  MICA_LINALG_CHECK(cublasSetStream(h.blas, s));
  return h.blas;
}
cusolverDnHandle_t cusolver_locked(cudaStream_t s) {
  Handles& h = handles();
  if (!h.solver) MICA_LINALG_CHECK(cusolverDnCreate(&h.solver));
  if (!h.params) MICA_LINALG_CHECK(cusolverDnCreateParams(&h.params));
  MICA_LINALG_CHECK(cusolverDnSetStream(h.solver, s));
  return h.solver;
}

template <typename T>
constexpr cudaDataType data_type() {
  return std::is_same_v<T, float> ? CUDA_R_32F : CUDA_R_64F;
}

// Device and host workspaces of a 64-bit cuSOLVER call (sizes from its _bufferSize query).
struct Workspace {
  cu::Scratch dev;
  std::vector<char> host;
  Workspace(size_t d, size_t h, const Stream& s) : dev(std::max<size_t>(d, 1), s), host(std::max<size_t>(h, 1)) {}
};

// dst[b] (R x C, row-major) from the column-major src[b] (leading dimension ld, matrices
// `stride` apart): dst[b][i][j] = src[b][i + j ld]. `tri`: 'A' all, 'L' / 'U' keep the lower /
// upper triangle of dst and zero the rest. Row-major to column-major is the same with R and C
// swapped (a row-major matrix read column-major is its transpose).
template <typename T>
__global__ void from_column_major(const T* __restrict__ src, int64_t ld, int64_t stride, T* __restrict__ dst,
                                  int64_t count, int rows, int cols, char tri) {
  const int64_t per = int64_t(rows) * cols, total = count * per;
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < total; k += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = k / per, r = k % per;
    const int i = static_cast<int>(r / cols), j = static_cast<int>(r % cols);
    const bool keep = tri == 'A' || (tri == 'L' && j <= i) || (tri == 'U' && j >= i);
    dst[k] = keep ? src[b * stride + int64_t(j) * ld + i] : T(0);
  }
}

template <typename T>
void launch_from_column_major(const T* src, int64_t ld, int64_t stride, T* dst, int64_t count, int rows, int cols,
                              char tri, const Stream& s) {
  const int64_t total = count * rows * cols;
  if (total == 0) return;
  from_column_major<T><<<cu::grid_for(total), cu::kBlock, 0, cu::stream(s)>>>(src, ld, stride, dst, count, rows, cols,
                                                                              tri);
  cu::check_launch("linalg");
}

// Batched pointers: matrix b at base + b * stride, as a device array.
template <typename T>
struct Pointers {
  cu::Scratch buf;
  Pointers(T* base, int64_t count, int64_t stride, const Stream& s) : buf(static_cast<size_t>(count) * sizeof(T*), s) {
    std::vector<T*> host(static_cast<size_t>(count));
    for (int64_t b = 0; b < count; ++b) host[b] = base + b * stride;
    // From pageable memory: the copy completes before the call returns (host may go).
    MICA_CUDA_CHECK(cudaMemcpyAsync(buf.get(), host.data(), host.size() * sizeof(T*), cudaMemcpyHostToDevice,
                                    cu::stream(s)));
  }
  T** get() const { return static_cast<T**>(buf.get()); }
};

// The CPU kernels' messages for failing matrices.
using linalg_failures::diag_zero;
using linalg_failures::non_finite;
using linalg_failures::raise;

std::vector<int> read_infos(const cu::Scratch& dev, int64_t count, cudaStream_t cs) {
  std::vector<int> info(static_cast<size_t>(count));
  MICA_CUDA_CHECK(cudaMemcpyAsync(info.data(), dev.get(), info.size() * sizeof(int), cudaMemcpyDeviceToHost, cs));
  MICA_CUDA_CHECK(cudaStreamSynchronize(cs));
  return info;
}

// a (batch..., m, n) prepared on the GPU -> a column-major copy of each matrix (leading
// dimension m), as an array of a's shape.
template <typename T>
array column_major(const array& a, const Stream& s) {
  array x = cu::ensure_row_contiguous(a, s);
  array cm(a.shape(), a.dtype(), nullptr, {});
  cu::alloc_output(cm, s);
  const int m = a.shape(-2), n = a.shape(-1);
  const int64_t count = static_cast<int64_t>(a.size()) / (int64_t(m) * n);
  launch_from_column_major<T>(cu::ptr<T>(x), n, int64_t(m) * n, cu::ptr<T>(cm), count, n, m, 'A', s);
  return cm;
}

int64_t matrices(const array& a) {
  const int64_t per = int64_t(a.shape(-2)) * a.shape(-1);
  return per == 0 ? 0 : static_cast<int64_t>(a.size()) / per;
}

template <typename T>
void inverse(const std::string& op, const array& a, array& out, const Stream& s) {
  const int n = a.shape(-1);
  const int64_t count = static_cast<int64_t>(a.size() / (int64_t(n) * n));
  cudaStream_t cs = cu::stream(s);
  array lu = column_major<T>(a, s);
  array inv(a.shape(), a.dtype(), nullptr, {});
  cu::alloc_output(inv, s);
  cu::Scratch pivots(static_cast<size_t>(count) * n * sizeof(int), s), infos(static_cast<size_t>(count) * sizeof(int), s);
  Pointers<T> pa(cu::ptr<T>(lu), count, int64_t(n) * n, s), pc(cu::ptr<T>(inv), count, int64_t(n) * n, s);
  std::lock_guard<std::mutex> lk(handles().mu);
  cublasHandle_t h = cublas_locked(cs);
  auto* piv = static_cast<int*>(pivots.get());
  auto* inf = static_cast<int*>(infos.get());
  if constexpr (std::is_same_v<T, float>) {
    MICA_LINALG_CHECK(cublasSgetrfBatched(h, n, pa.get(), n, piv, inf, static_cast<int>(count)));
  } else {
    MICA_LINALG_CHECK(cublasDgetrfBatched(h, n, pa.get(), n, piv, inf, static_cast<int>(count)));
  }
  raise(op, read_infos(infos, count, cs), "a non-singular matrix",
        [](int i) { return diag_zero(i, "U") + " in its LU factorization"; });
  if constexpr (std::is_same_v<T, float>) {
    MICA_LINALG_CHECK(cublasSgetriBatched(h, n, const_cast<const float**>(pa.get()), n, piv, pc.get(), n, inf,
                                          static_cast<int>(count)));
  } else {
    MICA_LINALG_CHECK(cublasDgetriBatched(h, n, const_cast<const double**>(pa.get()), n, piv, pc.get(), n, inf,
                                          static_cast<int>(count)));
  }
  cu::alloc_output(out, s);
  launch_from_column_major<T>(cu::ptr<T>(inv), n, int64_t(n) * n, cu::ptr<T>(out), count, n, n, 'A', s);
}

template <typename T>
void cholesky(const std::string& op, const array& a, array& out, bool upper, const Stream& s) {
  const int n = a.shape(-1);
  const int64_t count = static_cast<int64_t>(a.size() / (int64_t(n) * n));
  cudaStream_t cs = cu::stream(s);
  array f = column_major<T>(a, s);
  cu::Scratch infos(static_cast<size_t>(count) * sizeof(int), s);
  Pointers<T> pa(cu::ptr<T>(f), count, int64_t(n) * n, s);
  const cublasFillMode_t fill = upper ? CUBLAS_FILL_MODE_UPPER : CUBLAS_FILL_MODE_LOWER;
  std::lock_guard<std::mutex> lk(handles().mu);
  cusolverDnHandle_t h = cusolver_locked(cs);
  auto* inf = static_cast<int*>(infos.get());
  if constexpr (std::is_same_v<T, float>) {
    MICA_LINALG_CHECK(cusolverDnSpotrfBatched(h, fill, n, pa.get(), n, inf, static_cast<int>(count)));
  } else {
    MICA_LINALG_CHECK(cusolverDnDpotrfBatched(h, fill, n, pa.get(), n, inf, static_cast<int>(count)));
  }
  raise(op, read_infos(infos, count, cs), "a symmetric positive definite matrix", [](int i) {
    return "one whose leading minor of order " + std::to_string(i) + " is not positive definite";
  });
  cu::alloc_output(out, s);
  launch_from_column_major<T>(cu::ptr<T>(f), n, int64_t(n) * n, cu::ptr<T>(out), count, n, n, upper ? 'U' : 'L', s);
}

// info[b] = 1 + the first i with a[b][i][i] == 0 (row-major n x n matrices), else 0.
template <typename T>
__global__ void zero_diagonal(const T* __restrict__ a, int64_t count, int n, int* __restrict__ info) {
  const int64_t b = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (b >= count) return;
  int first = 0;
  for (int i = 0; i < n && first == 0; ++i) {
    if (a[b * n * n + int64_t(i) * n + i] == T(0)) first = i + 1;
  }
  info[b] = first;
}

// info[b] = 1 if matrix b (row-major m x n; `tri` 'L' / 'U': only that triangle) holds a NaN or
// an inf; info must start at 0.
template <typename T>
__global__ void non_finite_entries(const T* __restrict__ a, int64_t count, int m, int n, char tri,
                                   int* __restrict__ info) {
  const int64_t per = int64_t(m) * n, total = count * per;
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < total; k += int64_t(gridDim.x) * blockDim.x) {
    const int i = static_cast<int>((k % per) / n), j = static_cast<int>(k % n);
    if ((tri == 'L' && j > i) || (tri == 'U' && j < i)) continue;
    if (!isfinite(a[k])) info[k / per] = 1;
  }
}

// LAPACK's 1-based pivots (64-bit) of each matrix -> pivots counted from 0 and the permutation
// with A = L[perm] U, as the CPU kernel computes them; rows: m scratch values per matrix.
__global__ void lu_permutation(const int64_t* __restrict__ ipiv, int64_t count, int m, int k, uint32_t* __restrict__ piv,
                               uint32_t* __restrict__ perm, uint32_t* __restrict__ rows) {
  const int64_t b = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (b >= count) return;
  uint32_t* r = rows + b * m;
  for (int j = 0; j < m; ++j) r[j] = static_cast<uint32_t>(j);
  for (int i = 0; i < k; ++i) {
    const int64_t p = ipiv[b * k + i] - 1;
    piv[b * k + i] = static_cast<uint32_t>(p);
    const uint32_t t = r[i];
    r[i] = r[p];
    r[p] = t;
  }
  for (int j = 0; j < m; ++j) perm[b * m + r[j]] = static_cast<uint32_t>(j);
}

unsigned blocks_for(int64_t count) { return static_cast<unsigned>((count + 127) / 128); }

// T X = B for the row-major B already in out (N x K per matrix), in place: the zero-diagonal
// check (unless `unit`), then trsm. The row-major B read column-major is Bᵀ and the row-major T
// is Tᵀ there, so trsm solves Xᵀ Tᵀ = Bᵀ from the right, with Tᵀ's triangle the other one of T's.
template <typename T>
void solve_in_place(const std::string& op, const array& a, array& out, bool upper, bool unit, const Stream& s) {
  const int n = a.shape(-1), k = out.shape(-1);
  const int64_t count = matrices(a);
  cudaStream_t cs = cu::stream(s);
  array t = cu::ensure_row_contiguous(a, s);
  if (!unit) {
    cu::Scratch infos(static_cast<size_t>(count) * sizeof(int), s);
    zero_diagonal<T><<<blocks_for(count), 128, 0, cs>>>(cu::ptr<T>(t), count, n, static_cast<int*>(infos.get()));
    cu::check_launch(op.c_str());
    if (op == "linalg::solve") {
      raise(op, read_infos(infos, count, cs), "a non-singular matrix",
            [](int i) { return diag_zero(i, "U") + " in its LU factorization"; });
    } else {
      raise(op, read_infos(infos, count, cs), "a triangular matrix with no zero on its diagonal",
            [](int i) { return diag_zero(i, "A"); });
    }
  }
  Pointers<T> pa(cu::ptr<T>(t), count, int64_t(n) * n, s), pb(cu::ptr<T>(out), count, int64_t(n) * k, s);
  const T one = 1;
  const cublasFillMode_t fill = upper ? CUBLAS_FILL_MODE_LOWER : CUBLAS_FILL_MODE_UPPER;
  const cublasDiagType_t diag = unit ? CUBLAS_DIAG_UNIT : CUBLAS_DIAG_NON_UNIT;
  std::lock_guard<std::mutex> lk(handles().mu);
  cublasHandle_t h = cublas_locked(cs);
  if constexpr (std::is_same_v<T, float>) {
    MICA_LINALG_CHECK(cublasStrsmBatched(h, CUBLAS_SIDE_RIGHT, fill, CUBLAS_OP_N, diag, k, n, &one, pa.get(), n, pb.get(),
                                         k, static_cast<int>(count)));
  } else {
    MICA_LINALG_CHECK(cublasDtrsmBatched(h, CUBLAS_SIDE_RIGHT, fill, CUBLAS_OP_N, diag, k, n, &one, pa.get(), n, pb.get(),
                                         k, static_cast<int>(count)));
  }
}

// T X = B into out (a copy of B).
template <typename T>
void solve_triangular(const std::string& op, const array& a, const array& b, array& out, bool upper, bool unit,
                      const Stream& s) {
  cu::alloc_output(out, s);
  if (out.size() == 0) return;
  cu::copy_into(b, out, s);
  solve_in_place<T>(op, a, out, upper, unit, s);
}

// I (count, n, n), row-major.
template <typename T>
__global__ void identities(T* __restrict__ dst, int64_t count, int n) {
  const int64_t per = int64_t(n) * n, total = count * per;
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < total; k += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = k % per;
    dst[k] = r / n == r % n ? T(1) : T(0);
  }
}

// The inverse of a's lower (upper) triangle: T X = I solved in place.
template <typename T>
void triangular_inverse(const std::string& op, const array& a, array& out, bool upper, const Stream& s) {
  cu::alloc_output(out, s);
  const int n = a.shape(-1);
  const int64_t count = matrices(a);
  if (out.size() == 0) return;
  identities<T><<<cu::grid_for(count * n * n), cu::kBlock, 0, cu::stream(s)>>>(cu::ptr<T>(out), count, n);
  cu::check_launch(op.c_str());
  solve_in_place<T>(op, a, out, upper, false, s);
}

template <typename T>
void lu_factor(const array& a, std::vector<array>& outputs, const Stream& s) {
  const int m = a.shape(-2), n = a.shape(-1), k = std::min(m, n);
  const int64_t count = matrices(a);
  cudaStream_t cs = cu::stream(s);
  for (auto& o : outputs) cu::alloc_output(o, s);
  if (count == 0) return;
  cu::Scratch ipiv(static_cast<size_t>(std::max<int64_t>(count * k, 1)) * sizeof(int64_t), s),
      infos(static_cast<size_t>(count) * sizeof(int), s),
      rows(static_cast<size_t>(std::max(count * m, int64_t(1))) * sizeof(uint32_t), s);
  auto* pv = static_cast<int64_t*>(ipiv.get());
  if (k > 0) {
    array cm = column_major<T>(a, s);
    std::lock_guard<std::mutex> lk(handles().mu);
    cusolverDnHandle_t h = cusolver_locked(cs);
    cusolverDnParams_t params = handles().params;
    size_t dev = 0, host = 0;
    MICA_LINALG_CHECK(cusolverDnXgetrf_bufferSize(h, params, m, n, data_type<T>(), cu::ptr<T>(cm), m, data_type<T>(), &dev,
                                                  &host));
    Workspace ws(dev, host, s);
    for (int64_t b = 0; b < count; ++b) {
      // info > 0 (an exactly singular U) is a valid result, as on the CPU.
      MICA_LINALG_CHECK(cusolverDnXgetrf(h, params, m, n, data_type<T>(), cu::ptr<T>(cm) + b * m * n, m, pv + b * k,
                                         data_type<T>(), ws.dev.get(), dev, ws.host.data(), host,
                                         static_cast<int*>(infos.get()) + b));
    }
    launch_from_column_major<T>(cu::ptr<T>(cm), m, int64_t(m) * n, cu::ptr<T>(outputs[0]), count, m, n, 'A', s);
  }
  lu_permutation<<<blocks_for(count), 128, 0, cs>>>(pv, count, m, k, cu::ptr<uint32_t>(outputs[1]),
                                                   cu::ptr<uint32_t>(outputs[2]), static_cast<uint32_t*>(rows.get()));
  cu::check_launch("linalg::lu_factor");
}

template <typename T>
void qr(const array& a, std::vector<array>& outputs, const Stream& s) {
  const int m = a.shape(-2), n = a.shape(-1), k = std::min(m, n);
  const int64_t count = matrices(a);
  cudaStream_t cs = cu::stream(s);
  for (auto& o : outputs) cu::alloc_output(o, s);
  if (count == 0 || k == 0) return;
  array cm = column_major<T>(a, s);
  T* base = cu::ptr<T>(cm);
  cu::Scratch tau(static_cast<size_t>(count * k) * sizeof(T), s), infos(static_cast<size_t>(count) * sizeof(int), s);
  T* tp = static_cast<T*>(tau.get());
  int* inf = static_cast<int*>(infos.get());
  std::lock_guard<std::mutex> lk(handles().mu);
  cusolverDnHandle_t h = cusolver_locked(cs);
  cusolverDnParams_t params = handles().params;
  size_t dev = 0, host = 0;
  MICA_LINALG_CHECK(cusolverDnXgeqrf_bufferSize(h, params, m, n, data_type<T>(), base, m, data_type<T>(), tp,
                                                data_type<T>(), &dev, &host));
  int lwork = 0;
  if constexpr (std::is_same_v<T, float>) {
    MICA_LINALG_CHECK(cusolverDnSorgqr_bufferSize(h, m, k, k, base, m, tp, &lwork));
  } else {
    MICA_LINALG_CHECK(cusolverDnDorgqr_bufferSize(h, m, k, k, base, m, tp, &lwork));
  }
  Workspace ws(std::max(dev, static_cast<size_t>(lwork) * sizeof(T)), host, s);
  for (int64_t b = 0; b < count; ++b) {
    MICA_LINALG_CHECK(cusolverDnXgeqrf(h, params, m, n, data_type<T>(), base + b * m * n, m, data_type<T>(), tp + b * k,
                                       data_type<T>(), ws.dev.get(), dev, ws.host.data(), host, inf + b));
  }
  // R: the upper triangle of the first K rows, before orgqr overwrites them with Q.
  launch_from_column_major<T>(base, m, int64_t(m) * n, cu::ptr<T>(outputs[1]), count, k, n, 'U', s);
  for (int64_t b = 0; b < count; ++b) {
    if constexpr (std::is_same_v<T, float>) {
      MICA_LINALG_CHECK(cusolverDnSorgqr(h, m, k, k, base + b * m * n, m, tp + b * k, static_cast<T*>(ws.dev.get()), lwork,
                                         inf + b));
    } else {
      MICA_LINALG_CHECK(cusolverDnDorgqr(h, m, k, k, base + b * m * n, m, tp + b * k, static_cast<T*>(ws.dev.get()), lwork,
                                         inf + b));
    }
  }
  launch_from_column_major<T>(base, m, int64_t(m) * n, cu::ptr<T>(outputs[0]), count, m, k, 'A', s);
}

// Non-finite entries -> info 1 per matrix (a zeroed info buffer of `count` ints).
template <typename T>
void mark_non_finite(const array& x, int64_t count, int m, int n, char tri, int* info, const Stream& s) {
  cudaStream_t cs = cu::stream(s);
  MICA_CUDA_CHECK(cudaMemsetAsync(info, 0, static_cast<size_t>(count) * sizeof(int), cs));
  non_finite_entries<T><<<cu::grid_for(count * m * n), cu::kBlock, 0, cs>>>(cu::ptr<T>(x), count, m, n, tri, info);
  cu::check_launch("linalg");
}

template <typename T>
void svd(const std::string& op, const array& a, std::vector<array>& outputs, bool uv, const Stream& s) {
  const int m = a.shape(-2), n = a.shape(-1), k = std::min(m, n);
  const int64_t count = matrices(a);
  cudaStream_t cs = cu::stream(s);
  for (auto& o : outputs) cu::alloc_output(o, s);
  if (count == 0) return;
  array x = cu::ensure_row_contiguous(a, s);
  cu::Scratch infos(static_cast<size_t>(count) * sizeof(int), s), fails(static_cast<size_t>(count) * sizeof(int), s);
  mark_non_finite<T>(x, count, m, n, 'A', static_cast<int*>(fails.get()), s);
  raise(op, read_infos(fails, count, cs), "a matrix of finite values whose SVD converges",
        [](int) { return non_finite(); });
  // gesvd needs rows >= columns: a tall A is copied column-major (m x n); a wide A read
  // column-major is Aᵀ (n x m) = U' S V'ᵀ, so A = V' S U'ᵀ: gesvd writes V'ᵀ (column-major)
  // where U goes (read row-major it is V') and U' where Vᵀ goes.
  const bool tall = m >= n;
  const int rows = tall ? m : n, cols = tall ? n : m;
  array work = tall ? column_major<T>(x, s) : array(a.shape(), a.dtype(), nullptr, {});
  if (!tall) {
    cu::alloc_output(work, s);
    cu::copy_into(x, work, s);
  }
  // A tall A's vectors come column-major: into ucm and vcm, transposed into U and Vt after.
  array ucm = outputs[0], vcm = outputs[0];
  if (tall && uv) {
    ucm = array(outputs[0].shape(), a.dtype(), nullptr, {});
    vcm = array(outputs[2].shape(), a.dtype(), nullptr, {});
    cu::alloc_output(ucm, s);
    cu::alloc_output(vcm, s);
  }
  T* sv = cu::ptr<T>(outputs[uv ? 1 : 0]);
  // Where gesvd writes its left (rows x rows) and right (cols x cols) vectors.
  T* left = !uv ? nullptr : tall ? cu::ptr<T>(ucm) : cu::ptr<T>(outputs[2]);
  T* right = !uv ? nullptr : tall ? cu::ptr<T>(vcm) : cu::ptr<T>(outputs[0]);
  const signed char job = uv ? 'A' : 'N';
  const int64_t ldl = uv ? rows : 1, ldr = uv ? cols : 1;
  {
    std::lock_guard<std::mutex> lk(handles().mu);
    cusolverDnHandle_t h = cusolver_locked(cs);
    cusolverDnParams_t params = handles().params;
    size_t dev = 0, host = 0;
    MICA_LINALG_CHECK(cusolverDnXgesvd_bufferSize(h, params, job, job, rows, cols, data_type<T>(), cu::ptr<T>(work), rows,
                                                  data_type<T>(), sv, data_type<T>(), left, ldl, data_type<T>(), right, ldr,
                                                  data_type<T>(), &dev, &host));
    Workspace ws(dev, host, s);
    for (int64_t b = 0; b < count; ++b) {
      MICA_LINALG_CHECK(cusolverDnXgesvd(h, params, job, job, rows, cols, data_type<T>(), cu::ptr<T>(work) + b * m * n, rows,
                                         data_type<T>(), sv + b * k, data_type<T>(),
                                         uv ? left + b * rows * rows : nullptr, ldl, data_type<T>(),
                                         uv ? right + b * cols * cols : nullptr, ldr, data_type<T>(), ws.dev.get(), dev,
                                         ws.host.data(), host, static_cast<int*>(infos.get()) + b));
    }
  }
  raise(op, read_infos(infos, count, cs), "a matrix of finite values whose SVD converges",
        [](int) { return std::string("no convergence (cuSOLVER gesvd)"); });
  if (tall && uv) {
    launch_from_column_major<T>(cu::ptr<T>(ucm), m, int64_t(m) * m, cu::ptr<T>(outputs[0]), count, m, m, 'A', s);
    launch_from_column_major<T>(cu::ptr<T>(vcm), n, int64_t(n) * n, cu::ptr<T>(outputs[2]), count, n, n, 'A', s);
  }
}

template <typename T>
void eigh(const std::string& op, const array& a, std::vector<array>& outputs, bool upper, bool vectors, const Stream& s) {
  const int n = a.shape(-1);
  const int64_t count = matrices(a);
  cudaStream_t cs = cu::stream(s);
  for (auto& o : outputs) cu::alloc_output(o, s);
  if (count == 0 || n == 0) return;
  // The row-major copy read column-major is Aᵀ: A's lower triangle is its upper one.
  array x(a.shape(), a.dtype(), nullptr, {});
  cu::alloc_output(x, s);
  cu::copy_into(a, x, s);
  cu::Scratch infos(static_cast<size_t>(count) * sizeof(int), s);
  int* inf = static_cast<int*>(infos.get());
  mark_non_finite<T>(x, count, n, n, upper ? 'U' : 'L', inf, s);
  const std::string want = "a symmetric matrix of finite values whose eigenvalues converge";
  raise(op, read_infos(infos, count, cs), want, [](int) { return non_finite(); });
  const cusolverEigMode_t jobz = vectors ? CUSOLVER_EIG_MODE_VECTOR : CUSOLVER_EIG_MODE_NOVECTOR;
  const cublasFillMode_t fill = upper ? CUBLAS_FILL_MODE_LOWER : CUBLAS_FILL_MODE_UPPER;
  {
    std::lock_guard<std::mutex> lk(handles().mu);
    cusolverDnHandle_t h = cusolver_locked(cs);
    cusolverDnParams_t params = handles().params;
    size_t dev = 0, host = 0;
    MICA_LINALG_CHECK(cusolverDnXsyevBatched_bufferSize(h, params, jobz, fill, n, data_type<T>(), cu::ptr<T>(x), n,
                                                        data_type<T>(), cu::ptr<T>(outputs[0]), data_type<T>(), &dev,
                                                        &host, count));
    Workspace ws(dev, host, s);
    MICA_LINALG_CHECK(cusolverDnXsyevBatched(h, params, jobz, fill, n, data_type<T>(), cu::ptr<T>(x), n, data_type<T>(),
                                             cu::ptr<T>(outputs[0]), data_type<T>(), ws.dev.get(), dev, ws.host.data(),
                                             host, inf, count));
  }
  raise(op, read_infos(infos, count, cs), want,
        [](int i) { return "no convergence (cuSOLVER syevBatched info " + std::to_string(i) + ")"; });
  if (vectors) launch_from_column_major<T>(cu::ptr<T>(x), n, int64_t(n) * n, cu::ptr<T>(outputs[1]), count, n, n, 'A', s);
}

// geev's real outputs -> complex64 (as the CPU kernel unpacks them): w[j] = wr[j] + i wi[j]; a
// complex pair (wi[j] > 0, then its conjugate) keeps its vector's real and imaginary parts in
// columns j and j + 1 of vr (column-major), so column j is vr_j + i vr_j+1 and column j + 1 its
// conjugate. One thread per element of the (count, n, n) vectors (or of w when `v` is null).
template <typename T>
__global__ void unpack_eig(const T* __restrict__ wri, const T* __restrict__ vr, int64_t count, int n, cu::complex64* __restrict__ w,
                           cu::complex64* __restrict__ v) {
  const int64_t per = v ? int64_t(n) * n : n, total = count * per;
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < total; k += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = k / per;
    const int i = v ? static_cast<int>((k % per) / n) : 0, j = static_cast<int>(k % n);
    const T* wr = wri + b * 2 * n;
    const T* wi = wr + n;
    if (i == 0) w[b * n + j] = cu::complex64(static_cast<float>(wr[j]), static_cast<float>(wi[j]));
    if (!v) continue;
    const T* col = vr + b * n * n;
    float re = static_cast<float>(col[int64_t(j) * n + i]), im = 0.0f;
    if (wi[j] > T(0) && j + 1 < n) {
      im = static_cast<float>(col[int64_t(j + 1) * n + i]);
    } else if (wi[j] < T(0) && j > 0) {
      re = static_cast<float>(col[int64_t(j - 1) * n + i]);
      im = -static_cast<float>(col[int64_t(j) * n + i]);
    }
    v[k] = cu::complex64(re, im);
  }
}

template <typename T>
void eig(const std::string& op, const array& a, std::vector<array>& outputs, bool vectors, const Stream& s) {
  const int n = a.shape(-1);
  const int64_t count = matrices(a);
  cudaStream_t cs = cu::stream(s);
  for (auto& o : outputs) cu::alloc_output(o, s);
  if (count == 0 || n == 0) return;
  array x = column_major<T>(a, s);
  cu::Scratch infos(static_cast<size_t>(count) * sizeof(int), s);
  int* inf = static_cast<int*>(infos.get());
  mark_non_finite<T>(x, count, n, n, 'A', inf, s);
  const std::string want = "a matrix of finite values whose eigenvalues converge";
  raise(op, read_infos(infos, count, cs), want, [](int) { return non_finite(); });
  cu::Scratch wri(static_cast<size_t>(count) * 2 * n * sizeof(T), s),
      vr(vectors ? static_cast<size_t>(count) * n * n * sizeof(T) : 1, s);
  T* wp = static_cast<T*>(wri.get());
  T* vp = vectors ? static_cast<T*>(vr.get()) : nullptr;
  const cusolverEigMode_t jobvr = vectors ? CUSOLVER_EIG_MODE_VECTOR : CUSOLVER_EIG_MODE_NOVECTOR;
  const int64_t ldvr = vectors ? n : 1;
  {
    std::lock_guard<std::mutex> lk(handles().mu);
    cusolverDnHandle_t h = cusolver_locked(cs);
    cusolverDnParams_t params = handles().params;
    size_t dev = 0, host = 0;
    MICA_LINALG_CHECK(cusolverDnXgeev_bufferSize(h, params, CUSOLVER_EIG_MODE_NOVECTOR, jobvr, n, data_type<T>(), cu::ptr<T>(x),
                                                 n, data_type<T>(), wp, data_type<T>(), nullptr, 1, data_type<T>(), vp, ldvr,
                                                 data_type<T>(), &dev, &host));
    Workspace ws(dev, host, s);
    for (int64_t b = 0; b < count; ++b) {
      MICA_LINALG_CHECK(cusolverDnXgeev(h, params, CUSOLVER_EIG_MODE_NOVECTOR, jobvr, n, data_type<T>(),
                                        cu::ptr<T>(x) + b * n * n, n, data_type<T>(), wp + b * 2 * n, data_type<T>(), nullptr,
                                        1, data_type<T>(), vectors ? vp + b * n * n : nullptr, ldvr, data_type<T>(),
                                        ws.dev.get(), dev, ws.host.data(), host, inf + b));
    }
  }
  raise(op, read_infos(infos, count, cs), want, [](int i) {
    return "no convergence of the QR algorithm (cuSOLVER geev info " + std::to_string(i) + ")";
  });
  const int64_t total = count * (vectors ? int64_t(n) * n : n);
  unpack_eig<T><<<cu::grid_for(total), cu::kBlock, 0, cs>>>(wp, vp, count, n, cu::ptr<cu::complex64>(outputs[0]),
                                                          vectors ? cu::ptr<cu::complex64>(outputs[1]) : nullptr);
  cu::check_launch(op.c_str());
}

}  // namespace

void Inverse::eval_gpu(const std::vector<array>& inputs, array& out) {
  // a: (batch..., N, N) any layout, float32/float64; out: row-major.
  const array& a = inputs[0];
  const Stream& s = stream();
  cu::prepare(a, s);
  if (tri_) {
    if (a.dtype() == float32) triangular_inverse<float>(op(), a, out, upper_, s);
    else triangular_inverse<double>(op(), a, out, upper_, s);
  } else if (a.dtype() == float32) {
    inverse<float>(op(), a, out, s);
  } else {
    inverse<double>(op(), a, out, s);
  }
}

void Cholesky::eval_gpu(const std::vector<array>& inputs, array& out) {
  // a: (batch..., N, N) any layout, its lower (upper) triangle read; out: row-major, triangular.
  const array& a = inputs[0];
  const Stream& s = stream();
  cu::prepare(a, s);
  if (a.dtype() == float32) cholesky<float>(op(), a, out, upper_, s);
  else cholesky<double>(op(), a, out, upper_, s);
}


void SolveTriangular::eval_gpu(const std::vector<array>& inputs, array& out) {
  // a: (batch..., N, N), b: (batch..., N, K), any layout, equal batch shapes; out row-major.
  const Stream& s = stream();
  cu::prepare(inputs, s);
  if (inputs[0].dtype() == float32) solve_triangular<float>(op(), inputs[0], inputs[1], out, upper_, unit_, s);
  else solve_triangular<double>(op(), inputs[0], inputs[1], out, upper_, unit_, s);
}

void LUF::eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // a: (batch..., M, N) any layout; LU (batch..., M, N), pivots (batch..., K), perm (batch..., M).
  const Stream& s = stream();
  cu::prepare(inputs, s);
  if (inputs[0].dtype() == float32) lu_factor<float>(inputs[0], outputs, s);
  else lu_factor<double>(inputs[0], outputs, s);
}

void QRF::eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // a: (batch..., M, N) any layout; Q (batch..., M, K), R (batch..., K, N) row-major.
  const Stream& s = stream();
  cu::prepare(inputs, s);
  if (inputs[0].dtype() == float32) qr<float>(inputs[0], outputs, s);
  else qr<double>(inputs[0], outputs, s);
}

void SVD::eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // a: (batch..., M, N) any layout; outputs row-major: {U (M, M), S (K), Vt (N, N)} or {S}.
  const array& a = inputs[0];
  if (std::min(a.shape(-2), a.shape(-1)) == 0) return cu::cpu_fallback(*this, inputs, outputs);  // identities
  const Stream& s = stream();
  cu::prepare(inputs, s);
  if (a.dtype() == float32) svd<float>(op(), a, outputs, compute_uv_, s);
  else svd<double>(op(), a, outputs, compute_uv_, s);
}

void Eig::eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // a: (batch..., N, N) any layout; w (batch..., N) and [V (batch..., N, N)] complex64 row-major.
  const Stream& s = stream();
  cu::prepare(inputs, s);
  if (inputs[0].dtype() == float32) eig<float>(op(), inputs[0], outputs, vectors_, s);
  else eig<double>(op(), inputs[0], outputs, vectors_, s);
}

void Eigh::eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // a: (batch..., N, N) any layout, its lower (upper) triangle read; w ascending, [V] row-major.
  const Stream& s = stream();
  cu::prepare(inputs, s);
  if (inputs[0].dtype() == float32) eigh<float>(op(), inputs[0], outputs, upper_, vectors_, s);
  else eigh<double>(op(), inputs[0], outputs, upper_, vectors_, s);
}

}  // namespace mica
