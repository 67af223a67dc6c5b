// CUDA kernels of the sort family. TRANSITIONAL: each eval_gpu below still runs the CPU kernel
// (cu::cpu_fallback) until its GPU kernel replaces it.
#include "mica/backend/cuda/utils.h"
#include "mica/primitives/sort.h"

namespace mica {

void Sort::eval_gpu(const std::vector<array>& inputs, array& out) {
  std::vector<array> outs{out};
  cu::cpu_fallback(*this, inputs, outs);
}

void ArgSort::eval_gpu(const std::vector<array>& inputs, array& out) {
  std::vector<array> outs{out};
  cu::cpu_fallback(*this, inputs, outs);
}

void Partition::eval_gpu(const std::vector<array>& inputs, array& out) {
  std::vector<array> outs{out};
  cu::cpu_fallback(*this, inputs, outs);
}

void ArgPartition::eval_gpu(const std::vector<array>& inputs, array& out) {
  std::vector<array> outs{out};
  cu::cpu_fallback(*this, inputs, outs);
}

}  // namespace mica
