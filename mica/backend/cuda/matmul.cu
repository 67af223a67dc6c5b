// CUDA kernels of the matmul family (backend/cpu/matmul.cpp's twin), through cuBLASLt.
// Matmul: a (batch..., M, K), b (batch..., K, N), any strides (broadcast batch dims have stride
// 0); out (batch..., M, N) row-major. AddMM: alpha * a @ b + beta * c, c of out's shape (often a
// broadcast bias).
//
// mica's matrices are row-major and cuBLASLt's column-major, so each product is issued as its
// transpose: out^T (N x M, column-major = out row-major) = b^T a^T. A matrix whose last or
// second-to-last dim has unit stride is passed as it lies (a transposed view becomes cuBLASLt's
// op T, no copy); others are copied row-major first. Batch dims are merged where every operand
// allows it; the innermost merged run is one strided-batched call, any outer run a host loop.
// A bias c (a row vector broadcast over M and the batch, beta = 1) is added by cuBLASLt's bias
// epilogue; any other c is copied into out first and accumulated with beta.
//
// float32 runs in full float32 (CUBLAS_COMPUTE_32F) unless gpu::set_allow_tf32(true); the half
// types accumulate in float32, float64 in float64, complex64 in complex float32. Descriptors and
// the heuristic's algorithm are cached per shape, layout, dtype and pointer alignment; each
// stream keeps a 32 MiB workspace from mica's allocator.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "mica/backend/cuda/copy.h"
#include "mica/backend/cuda/device/elementwise.cuh"
#include "mica/backend/cuda/device/types.cuh"
#include "mica/backend/cuda/utils.h"
#include "mica/primitives/matmul.h"

namespace mica {

namespace {

#define MICA_CUBLAS_CHECK(call)                                                                             \
  do {                                                                                                      \
    cublasStatus_t mica_st_ = (call);                                                                       \
    if (mica_st_ != CUBLAS_STATUS_SUCCESS) {                                                                \
      throw std::runtime_error(std::string("[matmul] ") + #call + " failed: " +                             \
                               cublasLtGetStatusString(mica_st_) + " (" + __FILE__ + ":" +                  \
                               std::to_string(__LINE__) + ")");                                             \
    }                                                                                                       \
  } while (0)

constexpr size_t kWorkspace = size_t(32) << 20;  // cuBLAS's recommendation for Hopper

// How a rows x cols matrix with element strides (sr, sc) is passed: as it lies (row-major,
// trans = false) or as the transpose of a row-major matrix (trans = true), leading dim ld.
struct Layout {
  bool ok = false;
  bool trans = false;
  int64_t ld = 0;
};

Layout matrix_layout(int64_t rows, int64_t cols, int64_t sr, int64_t sc) {
  if ((sc == 1 || cols == 1) && (rows == 1 || sr >= std::max<int64_t>(cols, 1))) {
    return {true, false, rows == 1 ? std::max<int64_t>(cols, 1) : sr};
  }
  if ((sr == 1 || rows == 1) && (cols == 1 || sc >= std::max<int64_t>(rows, 1))) {
    return {true, true, cols == 1 ? std::max<int64_t>(rows, 1) : sc};
  }
  return {};
}

struct Types {
  cudaDataType_t data;
  cublasComputeType_t compute;
  cudaDataType_t scale;
};

Types types_of(Dtype d) {
  switch (d.val) {
    case Dtype::Val::float32:
      return {CUDA_R_32F, gpu::allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F, CUDA_R_32F};
    case Dtype::Val::float16: return {CUDA_R_16F, CUBLAS_COMPUTE_32F, CUDA_R_32F};
    case Dtype::Val::bfloat16: return {CUDA_R_16BF, CUBLAS_COMPUTE_32F, CUDA_R_32F};
    case Dtype::Val::float64: return {CUDA_R_64F, CUBLAS_COMPUTE_64F, CUDA_R_64F};
    case Dtype::Val::complex64: return {CUDA_C_32F, CUBLAS_COMPUTE_32F, CUDA_C_32F};
    default:
      throw std::runtime_error("[matmul] kernel got unsupported dtype " + dtype_to_string(d) +
                               " (the op should have rejected it).");
  }
}

// Largest power of two (up to 256) dividing every value: the alignment cuBLASLt may assume.
int64_t alignment(std::initializer_list<int64_t> values) {
  uint64_t bits = 256;
  for (int64_t v : values) bits |= static_cast<uint64_t>(v);
  return static_cast<int64_t>(bits & (~bits + 1));
}

// One cuBLASLt problem: everything the descriptors and the algorithm depend on.
struct Problem {
  int64_t dtype, compute, m, n, k, batch;
  int64_t trans_a, lda, stride_a, align_a;  // cuBLASLt's A (our b)
  int64_t trans_b, ldb, stride_b, align_b;  // cuBLASLt's B (our a)
  int64_t stride_c, align_c, bias, align_bias;
  auto key() const {
    return std::array<int64_t, 18>{dtype,   compute, m,        n,       k,        batch,   trans_a, lda,      stride_a,
                                   align_a, trans_b, ldb,      stride_b, align_b, stride_c, align_c, bias, align_bias};
  }
};

struct LayoutDeleter {
  void operator()(cublasLtMatrixLayoutOpaque_t* l) const { cublasLtMatrixLayoutDestroy(l); }
};
struct DescDeleter {
  void operator()(cublasLtMatmulDescOpaque_t* d) const { cublasLtMatmulDescDestroy(d); }
};
using LayoutPtr = std::unique_ptr<cublasLtMatrixLayoutOpaque_t, LayoutDeleter>;

struct Plan {
  std::unique_ptr<cublasLtMatmulDescOpaque_t, DescDeleter> desc;
  LayoutPtr a, b, c;
  cublasLtMatmulAlgo_t algo;
};

LayoutPtr make_layout(cudaDataType_t t, int64_t rows, int64_t cols, int64_t ld, int64_t batch, int64_t stride) {
  cublasLtMatrixLayout_t l = nullptr;
  MICA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l, t, static_cast<uint64_t>(rows), static_cast<uint64_t>(cols), ld));
  LayoutPtr p(l);
  if (batch > 1) {
    const int32_t count = static_cast<int32_t>(batch);
    MICA_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count));
    MICA_CUBLAS_CHECK(
        cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride));
  }
  return p;
}

// The process-wide handle, plan cache and per-stream workspaces. Calls are serialized: a plan's
// descriptor carries the bias pointer of the call using it.
struct Lt {
  std::mutex mu;
  cublasLtHandle_t handle = nullptr;
  std::map<std::array<int64_t, 18>, std::unique_ptr<Plan>> plans;
  std::map<int, allocator::Buffer> workspaces;

  static Lt& get() {
    static Lt* lt = new Lt;  // never destroyed: cuBLASLt may be gone at static destruction
    return *lt;
  }

  void* workspace(const Stream& s) {
    auto it = workspaces.find(s.index);
    if (it == workspaces.end()) it = workspaces.emplace(s.index, cu::malloc(kWorkspace, s)).first;
    return it->second.ptr;
  }

  // The cached plan of p; nullptr when p asks for the bias epilogue and cuBLASLt has no
  // algorithm with it for this problem (the caller then accumulates c instead).
  Plan* plan(const Problem& p, const Types& t) {
    auto key = p.key();
    if (auto it = plans.find(key); it != plans.end()) return it->second.get();
    if (!handle) MICA_CUBLAS_CHECK(cublasLtCreate(&handle));
    auto plan = std::make_unique<Plan>();
    cublasLtMatmulDesc_t d = nullptr;
    MICA_CUBLAS_CHECK(cublasLtMatmulDescCreate(&d, t.compute, t.scale));
    plan->desc.reset(d);
    const int32_t ta = p.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, tb = p.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    MICA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    MICA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    if (p.bias) {
      const cublasLtEpilogue_t e = CUBLASLT_EPILOGUE_BIAS;
      MICA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_EPILOGUE, &e, sizeof e));
      const int64_t zero = 0;  // one bias row for every matrix of the batch
      MICA_CUBLAS_CHECK(
          cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE, &zero, sizeof zero));
    }
    // cuBLASLt's A is op(A) m x k, B is op(B) k x n, C/D m x n.
    plan->a = make_layout(t.data, p.trans_a ? p.k : p.m, p.trans_a ? p.m : p.k, p.lda, p.batch, p.stride_a);
    plan->b = make_layout(t.data, p.trans_b ? p.n : p.k, p.trans_b ? p.k : p.n, p.ldb, p.batch, p.stride_b);
    plan->c = make_layout(t.data, p.m, p.n, p.m, p.batch, p.stride_c);

    cublasLtMatmulPreference_t pref = nullptr;
    MICA_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    std::unique_ptr<cublasLtMatmulPreferenceOpaque_t, decltype(&cublasLtMatmulPreferenceDestroy)> pref_guard(
        pref, &cublasLtMatmulPreferenceDestroy);
    const uint64_t ws = kWorkspace;
    MICA_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    const uint32_t al_a = static_cast<uint32_t>(p.align_a), al_b = static_cast<uint32_t>(p.align_b),
                   al_c = static_cast<uint32_t>(p.align_c);
    MICA_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof al_a));
    MICA_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof al_b));
    MICA_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c, sizeof al_c));
    MICA_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_c, sizeof al_c));
    cublasLtMatmulHeuristicResult_t res{};
    int found = 0;
    const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(handle, d, plan->a.get(), plan->b.get(), plan->c.get(),
                                                             plan->c.get(), pref, 1, &res, &found);
    if (p.bias && (st == CUBLAS_STATUS_NOT_SUPPORTED || (st == CUBLAS_STATUS_SUCCESS && found == 0))) {
      plans[key] = nullptr;
      return nullptr;
    }
    MICA_CUBLAS_CHECK(st);
    if (found == 0) {
      throw std::runtime_error("[matmul] cuBLASLt has no algorithm for a (" + std::to_string(p.n) + " x " +
                               std::to_string(p.k) + ") @ (" + std::to_string(p.k) + " x " + std::to_string(p.m) +
                               ") product of this dtype and layout.");
    }
    plan->algo = res.algo;
    return (plans[key] = std::move(plan)).get();
  }
};

// out[i] *= beta (K = 0 products: out = beta * c).
template <typename T>
__global__ void scale_kernel(T* y, int64_t n, float beta) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    y[i] = cu::cast<T>(cu::cast<cu::compute_t<T>>(y[i]) * cu::compute_t<T>(beta));
  }
}

// A run of merged batch dims: extent and the element stride of a, b and out along it.
struct BatchDim {
  int64_t n, sa, sb, so;
};

// Batch dims of out merged where a, b and out all step evenly across them, size-1 dims dropped.
std::vector<BatchDim> batch_dims(const array& a, const array& b, const Strides& so) {
  std::vector<BatchDim> dims;
  const int nb = static_cast<int>(so.size()) - 2;
  for (int d = 0; d < nb; ++d) {
    const int64_t n = a.shape(d);
    if (n == 1) continue;
    BatchDim cur{n, a.strides()[d], b.strides()[d], so[d]};
    if (!dims.empty()) {
      BatchDim& last = dims.back();
      if (last.sa == cur.sa * n && last.sb == cur.sb * n && last.so == cur.so * n) {
        last = {last.n * n, cur.sa, cur.sb, cur.so};
        continue;
      }
    }
    dims.push_back(cur);
  }
  return dims;
}

// out = alpha * a @ b (+ beta * c when c is given); c: out's shape, any layout.
void matmul_gpu(const Stream& s, array a, array b, array& out, float alpha, float beta, const array* c) {
  std::vector<array> ins{a, b};
  if (c) ins.push_back(*c);
  cu::prepare(ins, s);
  cu::alloc_output(out, s);
  if (out.size() == 0) return;
  const int nd = static_cast<int>(out.ndim());
  const int64_t M = out.shape(nd - 2), N = out.shape(nd - 1), K = a.shape(nd - 1);
  const Dtype dt = out.dtype();
  const int64_t es = static_cast<int64_t>(out.itemsize());
  cudaStream_t cs = cu::stream(s);
  if (K == 0) {  // out = beta * c, or zeros
    if (!c || beta == 0.0f) {
      MICA_CUDA_CHECK(cudaMemsetAsync(cu::ptr(out), 0, out.nbytes(), cs));
      return;
    }
    cu::copy_into(*c, out, s);
    if (beta != 1.0f) {
      const int64_t n = static_cast<int64_t>(out.size());
      cu::dispatch(dt, [&](auto tag) {
        using T = typename decltype(tag)::type;
        if constexpr (cu::is_float_v<T> || cu::is_complex_v<T>) {
          scale_kernel<T><<<cu::grid_for(n), cu::kBlock, 0, cs>>>(cu::ptr<T>(out), n, beta);
        }
      });
      cu::check_launch("addmm");
    }
    return;
  }
  // A bias row: c broadcast over M and every batch dim with unit stride along N, added by the
  // epilogue where cuBLASLt has it. Any other c is copied into out and accumulated (cuBLASLt's
  // C = D = out).
  bool bias = false;
  if (c && beta == 1.0f) {
    bias = (c->strides()[nd - 1] == 1 || N == 1) && (c->strides()[nd - 2] == 0 || M == 1);
    for (int d = 0; d < nd - 2; ++d) bias = bias && (c->strides()[d] == 0 || out.shape(d) == 1);
    bias = bias && alignment({reinterpret_cast<int64_t>(cu::ptr(*c))}) >= 16;
  }
  auto la = matrix_layout(M, K, a.strides()[nd - 2], a.strides()[nd - 1]);
  if (!la.ok) {
    a = cu::ensure_row_contiguous(a, s);
    la = matrix_layout(M, K, a.strides()[nd - 2], a.strides()[nd - 1]);
  }
  auto lb = matrix_layout(K, N, b.strides()[nd - 2], b.strides()[nd - 1]);
  if (!lb.ok) {
    b = cu::ensure_row_contiguous(b, s);
    lb = matrix_layout(K, N, b.strides()[nd - 2], b.strides()[nd - 1]);
  }
  const std::vector<BatchDim> dims = batch_dims(a, b, out.strides());
  BatchDim inner = dims.empty() ? BatchDim{1, 0, 0, M * N} : dims.back();
  int64_t outer = 1;
  for (size_t i = 0; i + 1 < dims.size(); ++i) outer *= dims[i].n;
  // One b for a stack of row-major a's (a Linear layer over (batch, tokens, features)): a single
  // (n * M) x K product, so the bias epilogue and the bigger tiles apply.
  int64_t rows = M;
  if (inner.n > 1 && inner.sb == 0 && !la.trans && inner.sa == M * la.ld && inner.so == M * N) {
    rows = M * inner.n;
    inner = {1, 0, 0, rows * N};
  }

  const Types t = types_of(dt);
  char* pa = cu::ptr<char>(a);
  char* pb = cu::ptr<char>(b);
  char* po = cu::ptr<char>(out);
  // Offsets of the outer loop's matrices, for the alignment every call must meet.
  std::vector<std::array<int64_t, 3>> offs(static_cast<size_t>(outer));
  int64_t or_a = 0, or_b = 0, or_o = 0;
  for (int64_t i = 0; i < outer; ++i) {
    int64_t rest = i, oa = 0, ob = 0, oo = 0;
    for (size_t d = dims.empty() ? 0 : dims.size() - 1; d-- > 0;) {
      const int64_t j = rest % dims[d].n;
      rest /= dims[d].n;
      oa += j * dims[d].sa, ob += j * dims[d].sb, oo += j * dims[d].so;
    }
    offs[static_cast<size_t>(i)] = {oa * es, ob * es, oo * es};
    or_a |= oa * es, or_b |= ob * es, or_o |= oo * es;
  }
  Problem p{};
  p.dtype = static_cast<int64_t>(dt.val), p.compute = t.compute;
  p.m = N, p.n = rows, p.k = K, p.batch = inner.n;
  p.trans_a = lb.trans, p.lda = lb.ld, p.stride_a = inner.sb;
  p.trans_b = la.trans, p.ldb = la.ld, p.stride_b = inner.sa;
  p.stride_c = inner.so;
  p.align_a = alignment({reinterpret_cast<int64_t>(pb), inner.sb * es, lb.ld * es, or_b});
  p.align_b = alignment({reinterpret_cast<int64_t>(pa), inner.sa * es, la.ld * es, or_a});
  p.align_c = alignment({reinterpret_cast<int64_t>(po), inner.so * es, N * es, or_o});

  Lt& lt = Lt::get();
  std::lock_guard<std::mutex> lock(lt.mu);
  Plan* plan = nullptr;
  if (bias) {
    p.bias = 1, p.align_bias = 16;
    plan = lt.plan(p, t);
    if (!plan) bias = false, p.bias = 0, p.align_bias = 0;
  }
  if (!plan) plan = lt.plan(p, t);
  const bool accumulate = c && !bias && beta != 0.0f;
  if (accumulate) cu::copy_into(*c, out, s);
  if (!accumulate) beta = 0.0f;
  const float alpha_f = alpha, beta_f = beta;
  const double alpha_d = alpha, beta_d = beta;
  const float2 alpha_c{alpha, 0.0f}, beta_c{beta, 0.0f};
  const void* al = t.scale == CUDA_R_64F ? static_cast<const void*>(&alpha_d)
                   : t.scale == CUDA_C_32F ? static_cast<const void*>(&alpha_c)
                                           : static_cast<const void*>(&alpha_f);
  const void* be = t.scale == CUDA_R_64F ? static_cast<const void*>(&beta_d)
                   : t.scale == CUDA_C_32F ? static_cast<const void*>(&beta_c)
                                           : static_cast<const void*>(&beta_f);
  void* ws = lt.workspace(s);
  if (bias) {
    const char* pbias = cu::ptr<char>(*c);
    MICA_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(plan->desc.get(), CUBLASLT_MATMUL_DESC_BIAS_POINTER, &pbias, sizeof pbias));
  }
  for (const auto& o : offs) {
    void* d = po + o[2];
    MICA_CUBLAS_CHECK(cublasLtMatmul(lt.handle, plan->desc.get(), al, pb + o[1], plan->a.get(), pa + o[0],
                                     plan->b.get(), be, d, plan->c.get(), d, plan->c.get(), &plan->algo, ws,
                                     kWorkspace, cs));
  }
}

}  // namespace

void Matmul::eval_gpu(const std::vector<array>& inputs, array& out) {
  matmul_gpu(stream(), inputs[0], inputs[1], out, 1.0f, 0.0f, nullptr);
}

void AddMM::eval_gpu(const std::vector<array>& inputs, array& out) {
  matmul_gpu(stream(), inputs[0], inputs[1], out, alpha_, beta_, &inputs[2]);
}

}  // namespace mica
