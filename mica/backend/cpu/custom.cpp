// CPU kernels of the custom family: outputs alias inputs computed elsewhere; a CUDA kernel has none.
#include <stdexcept>

#include "mica/primitives/custom.h"

namespace mica {

// outputs[i] aliases inputs[i] (the user function's outputs), any layout.
void CustomTransforms::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  for (size_t i = 0; i < outputs.size(); ++i) outputs[i].copy_shared_buffer(inputs[i]);
}

// outputs[i] aliases inputs[i]; the trailing dependencies are only waited for.
void Depends::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  for (size_t i = 0; i < outputs.size(); ++i) outputs[i].copy_shared_buffer(inputs[i]);
}

// A CUDA kernel has no CPU form; the ops refuse CPU streams, so this runs only for a node made
// by hand.
void CustomKernel::eval_cpu(const std::vector<array>&, std::vector<array>&) {
  throw std::invalid_argument("[" + spec().op + "] expected a GPU stream (a CUDA kernel runs on the GPU), got the CPU.");
}

}  // namespace mica
