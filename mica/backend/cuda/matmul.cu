// CUDA kernels of the matmul family. TRANSITIONAL: each eval_gpu below still runs the CPU kernel
// (cu::cpu_fallback) until its GPU kernel replaces it.
#include "mica/backend/cuda/utils.h"
#include "mica/primitives/matmul.h"

namespace mica {

void Matmul::eval_gpu(const std::vector<array>& inputs, array& out) {
  std::vector<array> outs{out};
  cu::cpu_fallback(*this, inputs, outs);
}

void AddMM::eval_gpu(const std::vector<array>& inputs, array& out) {
  std::vector<array> outs{out};
  cu::cpu_fallback(*this, inputs, outs);
}

}  // namespace mica
