// CUDA builds without cuSOLVER or cuBLAS (CMake found no CUDA::cusolver or CUDA::cublas): the
// linalg primitives with a GPU kernel in backend/cuda/linalg.cu run their CPU kernels instead.
#include "mica/backend/cuda/utils.h"
#include "mica/primitives/linalg.h"

namespace mica {

#define MICA_LINALG_ON_HOST_U(NAME)                                   \
  void NAME::eval_gpu(const std::vector<array>& inputs, array& out) { \
    std::vector<array> outs{out};                                     \
    cu::cpu_fallback(*this, inputs, outs);                            \
  }
#define MICA_LINALG_ON_HOST_M(NAME)                                                     \
  void NAME::eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) { \
    cu::cpu_fallback(*this, inputs, outputs);                                           \
  }
MICA_LINALG_ON_HOST_U(Inverse)
MICA_LINALG_ON_HOST_U(Cholesky)
MICA_LINALG_ON_HOST_U(SolveTriangular)
MICA_LINALG_ON_HOST_M(LUF)
MICA_LINALG_ON_HOST_M(QRF)
MICA_LINALG_ON_HOST_M(SVD)
MICA_LINALG_ON_HOST_M(Eig)
MICA_LINALG_ON_HOST_M(Eigh)

}  // namespace mica
