// Builds with CUDA but without cuDNN: fused attention is never chosen for a GPU stream (the
// composition runs instead); a node that reaches the GPU anyway (a transform's) runs on the CPU.
#include "mica/backend/cuda/utils.h"
#include "mica/backend/gpu_info.h"
#include "mica/primitives/attention.h"

namespace mica {

void ScaledDotProductAttention::eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  cu::cpu_fallback(*this, inputs, outputs);
}
void ScaledDotProductAttentionVjp::eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  cu::cpu_fallback(*this, inputs, outputs);
}

namespace gpu {
bool fused_attention_supported(const AttentionCase&) { return false; }
}  // namespace gpu

}  // namespace mica
