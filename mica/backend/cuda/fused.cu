// CUDA kernels of the fused family. TRANSITIONAL: each eval_gpu below still runs the CPU kernel
// (cu::cpu_fallback) until its GPU kernel replaces it.
#include "mica/backend/cuda/utils.h"
#include "mica/primitives/fused.h"

namespace mica {

void LayerNorm::eval_gpu(const std::vector<array>& inputs, array& out) {
  std::vector<array> outs{out};
  cu::cpu_fallback(*this, inputs, outs);
}

void LayerNormVjp::eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  cu::cpu_fallback(*this, inputs, outputs);
}

void RMSNorm::eval_gpu(const std::vector<array>& inputs, array& out) {
  std::vector<array> outs{out};
  cu::cpu_fallback(*this, inputs, outs);
}

void Gelu::eval_gpu(const std::vector<array>& inputs, array& out) {
  std::vector<array> outs{out};
  cu::cpu_fallback(*this, inputs, outs);
}

void AdamStep::eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  cu::cpu_fallback(*this, inputs, outputs);
}

}  // namespace mica
