// CUDA builds without cuSOLVER or cuBLAS (CMake found no CUDA::cusolver or CUDA::cublas): the
// linalg primitives with a GPU kernel in backend/cuda/linalg.cu run their CPU kernels instead.
#include "mica/backend/cuda/on_host.h"
#include "mica/primitives/linalg.h"

namespace mica {

MICA_EVAL_GPU_ON_HOST_U(Inverse)
MICA_EVAL_GPU_ON_HOST_U(Cholesky)
MICA_EVAL_GPU_ON_HOST_U(SolveTriangular)
MICA_EVAL_GPU_ON_HOST_M(LUF)
MICA_EVAL_GPU_ON_HOST_M(QRF)
MICA_EVAL_GPU_ON_HOST_M(SVD)
MICA_EVAL_GPU_ON_HOST_M(Eig)
MICA_EVAL_GPU_ON_HOST_M(Eigh)

}  // namespace mica
