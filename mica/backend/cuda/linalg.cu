// GPU kernels of the linalg family (backend/cpu/linalg.cpp's twin) for the batched
// factorizations training code calls per step: general inverse through cuBLAS's batched LU
// (getrfBatched + getriBatched) and Cholesky through cuSOLVER's potrfBatched. Each matrix is
// first copied column-major (so the factorization is LAPACK's, on the same matrix as the CPU's:
// the same pivots, the same failing index in errors), and the result copied back row-major with
// the other triangle zeroed where the CPU zeroes it. A failed factorization (info != 0) throws the
// CPU's message after the kernel (the host reads the infos: these ops synchronize). Triangular
// inverses, solve_triangular and the other factorizations run their CPU kernels (built without
// cuSOLVER: backend/cuda/no_cusolver).
#include <cublas_v2.h>
#include <cusolverDn.h>

#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "mica/backend/cuda/copy.h"
#include "mica/backend/cuda/device/elementwise.cuh"
#include "mica/backend/cuda/utils.h"
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
  MICA_LINALG_CHECK(cusolverDnSetStream(h.solver, s));
  return h.solver;
}

// dst[b] = src[b] transposed, batch of n x n matrices; `tri`: 'A' all, 'L' / 'U' keep the lower
// / upper triangle of the (row-major) result and zero the rest.
template <typename T>
__global__ void transpose_batch(const T* __restrict__ src, T* __restrict__ dst, int64_t count, int n, char tri) {
  const int64_t per = int64_t(n) * n, total = count * per;
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < total; k += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = k / per, r = k % per;
    const int i = static_cast<int>(r / n), j = static_cast<int>(r % n);  // dst element (i, j), row-major
    const bool keep = tri == 'A' || (tri == 'L' && j <= i) || (tri == 'U' && j >= i);
    dst[k] = keep ? src[b * per + int64_t(j) * n + i] : T(0);
  }
}

// Batched pointers: matrix b at base + b * n * n, as a device array.
template <typename T>
struct Pointers {
  cu::Scratch buf;
  Pointers(T* base, int64_t count, int n, const Stream& s) : buf(static_cast<size_t>(count) * sizeof(T*), s) {
    std::vector<T*> host(static_cast<size_t>(count));
    for (int64_t b = 0; b < count; ++b) host[b] = base + b * int64_t(n) * n;
    // From pageable memory: the copy completes before the call returns (host may go).
    MICA_CUDA_CHECK(cudaMemcpyAsync(buf.get(), host.data(), host.size() * sizeof(T*), cudaMemcpyHostToDevice,
                                    cu::stream(s)));
  }
  T** get() const { return static_cast<T**>(buf.get()); }
};

// Throws the CPU kernel's message for the first matrix whose info is not 0.
template <typename What>
void raise(const std::string& op, const std::vector<int>& info, const std::string& want, What what) {
  for (size_t b = 0; b < info.size(); ++b) {
    if (info[b] == 0) continue;
    std::string where = info.size() > 1 ? " in matrix " + std::to_string(b) + " of the batch" : "";
    throw std::runtime_error("[" + op + "] expected " + want + ", got " + what(info[b]) + where + ".");
  }
}

std::vector<int> read_infos(const cu::Scratch& dev, int64_t count, cudaStream_t cs) {
  std::vector<int> info(static_cast<size_t>(count));
  MICA_CUDA_CHECK(cudaMemcpyAsync(info.data(), dev.get(), info.size() * sizeof(int), cudaMemcpyDeviceToHost, cs));
  MICA_CUDA_CHECK(cudaStreamSynchronize(cs));
  return info;
}

// a (batch..., n, n) prepared on the GPU -> a column-major copy of each matrix.
template <typename T>
array column_major(const array& a, int64_t count, int n, const Stream& s) {
  array x = cu::ensure_row_contiguous(a, s);
  array cm(a.shape(), a.dtype(), nullptr, {});
  cu::alloc_output(cm, s);
  const int64_t total = count * n * n;
  transpose_batch<T><<<cu::grid_for(total), cu::kBlock, 0, cu::stream(s)>>>(cu::ptr<T>(x), cu::ptr<T>(cm), count, n, 'A');
  cu::check_launch("linalg");
  return cm;
}

template <typename T>
void inverse(const std::string& op, const array& a, array& out, const Stream& s) {
  const int n = a.shape(-1);
  const int64_t count = static_cast<int64_t>(a.size() / (int64_t(n) * n));
  cudaStream_t cs = cu::stream(s);
  array lu = column_major<T>(a, count, n, s);
  array inv(a.shape(), a.dtype(), nullptr, {});
  cu::alloc_output(inv, s);
  cu::Scratch pivots(static_cast<size_t>(count) * n * sizeof(int), s), infos(static_cast<size_t>(count) * sizeof(int), s);
  Pointers<T> pa(cu::ptr<T>(lu), count, n, s), pc(cu::ptr<T>(inv), count, n, s);
  std::lock_guard<std::mutex> lk(handles().mu);
  cublasHandle_t h = cublas_locked(cs);
  auto* piv = static_cast<int*>(pivots.get());
  auto* inf = static_cast<int*>(infos.get());
  if constexpr (std::is_same_v<T, float>) {
    MICA_LINALG_CHECK(cublasSgetrfBatched(h, n, pa.get(), n, piv, inf, static_cast<int>(count)));
  } else {
    MICA_LINALG_CHECK(cublasDgetrfBatched(h, n, pa.get(), n, piv, inf, static_cast<int>(count)));
  }
  raise(op, read_infos(infos, count, cs), "a non-singular matrix", [](int i) {
    return "a zero U[" + std::to_string(i - 1) + "][" + std::to_string(i - 1) + "] in its LU factorization";
  });
  if constexpr (std::is_same_v<T, float>) {
    MICA_LINALG_CHECK(cublasSgetriBatched(h, n, const_cast<const float**>(pa.get()), n, piv, pc.get(), n, inf,
                                          static_cast<int>(count)));
  } else {
    MICA_LINALG_CHECK(cublasDgetriBatched(h, n, const_cast<const double**>(pa.get()), n, piv, pc.get(), n, inf,
                                          static_cast<int>(count)));
  }
  cu::alloc_output(out, s);
  const int64_t total = count * n * n;
  transpose_batch<T><<<cu::grid_for(total), cu::kBlock, 0, cs>>>(cu::ptr<T>(inv), cu::ptr<T>(out), count, n, 'A');
  cu::check_launch(op.c_str());
}

template <typename T>
void cholesky(const std::string& op, const array& a, array& out, bool upper, const Stream& s) {
  const int n = a.shape(-1);
  const int64_t count = static_cast<int64_t>(a.size() / (int64_t(n) * n));
  cudaStream_t cs = cu::stream(s);
  array f = column_major<T>(a, count, n, s);
  cu::Scratch infos(static_cast<size_t>(count) * sizeof(int), s);
  Pointers<T> pa(cu::ptr<T>(f), count, n, s);
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
  const int64_t total = count * n * n;
  transpose_batch<T><<<cu::grid_for(total), cu::kBlock, 0, cs>>>(cu::ptr<T>(f), cu::ptr<T>(out), count, n,
                                                               upper ? 'U' : 'L');
  cu::check_launch(op.c_str());
}

}  // namespace

void Inverse::eval_gpu(const std::vector<array>& inputs, array& out) {
  // a: (batch..., N, N) any layout, float32/float64; out: row-major.
  const array& a = inputs[0];
  if (tri_) {  // (empty outputs never reach a kernel: eval skips them)
    std::vector<array> outs{out};
    cu::cpu_fallback(*this, inputs, outs);
    return;
  }
  const Stream& s = stream();
  cu::prepare(a, s);
  if (a.dtype() == float32) inverse<float>(op(), a, out, s);
  else inverse<double>(op(), a, out, s);
}

void Cholesky::eval_gpu(const std::vector<array>& inputs, array& out) {
  // a: (batch..., N, N) any layout, its lower (upper) triangle read; out: row-major, triangular.
  const array& a = inputs[0];
  const Stream& s = stream();
  cu::prepare(a, s);
  if (a.dtype() == float32) cholesky<float>(op(), a, out, upper_, s);
  else cholesky<double>(op(), a, out, upper_, s);
}

}  // namespace mica
