// CUDA kernels of the indexing family. TRANSITIONAL: each eval_gpu below still runs the CPU kernel
// (cu::cpu_fallback) until its GPU kernel replaces it.
#include "mica/backend/cuda/utils.h"
#include "mica/primitives/indexing.h"

namespace mica {

void Gather::eval_gpu(const std::vector<array>& inputs, array& out) {
  std::vector<array> outs{out};
  cu::cpu_fallback(*this, inputs, outs);
}

void Scatter::eval_gpu(const std::vector<array>& inputs, array& out) {
  std::vector<array> outs{out};
  cu::cpu_fallback(*this, inputs, outs);
}

void GatherAxis::eval_gpu(const std::vector<array>& inputs, array& out) {
  std::vector<array> outs{out};
  cu::cpu_fallback(*this, inputs, outs);
}

void ScatterAxis::eval_gpu(const std::vector<array>& inputs, array& out) {
  std::vector<array> outs{out};
  cu::cpu_fallback(*this, inputs, outs);
}

void MaskedScatter::eval_gpu(const std::vector<array>& inputs, array& out) {
  std::vector<array> outs{out};
  cu::cpu_fallback(*this, inputs, outs);
}

}  // namespace mica
