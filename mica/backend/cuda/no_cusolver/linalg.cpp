// CUDA builds without cuSOLVER or cuBLAS's batched LU (CMake found no CUDA::cusolver or
// CUDA::cublas): Inverse and Cholesky run their CPU kernels for a GPU stream.
#include "mica/backend/cuda/utils.h"
#include "mica/primitives/linalg.h"

namespace mica {

void Inverse::eval_gpu(const std::vector<array>& inputs, array& out) {
  std::vector<array> outs{out};
  cu::cpu_fallback(*this, inputs, outs);
}

void Cholesky::eval_gpu(const std::vector<array>& inputs, array& out) {
  std::vector<array> outs{out};
  cu::cpu_fallback(*this, inputs, outs);
}

}  // namespace mica
