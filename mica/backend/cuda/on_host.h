// eval_gpu definitions that run a primitive's CPU kernel for a GPU stream (cu::cpu_fallback):
// the registry's F column (backend/cuda/fallback.cpp) and the builds without a CUDA library a
// family's kernels need (backend/cuda/no_cusolver).
#pragma once
#include <vector>

#include "mica/backend/cuda/utils.h"

/** eval_gpu of a one-output primitive NAME on the host. */
#define MICA_EVAL_GPU_ON_HOST_U(NAME)                                 \
  void NAME::eval_gpu(const std::vector<array>& inputs, array& out) { \
    std::vector<array> outs{out};                                     \
    cu::cpu_fallback(*this, inputs, outs);                            \
  }
/** eval_gpu of a several-output primitive NAME on the host. */
#define MICA_EVAL_GPU_ON_HOST_M(NAME)                                                   \
  void NAME::eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) { \
    cu::cpu_fallback(*this, inputs, outputs);                                           \
  }
