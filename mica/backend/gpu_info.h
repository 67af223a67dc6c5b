// What the GPU backend reports; backend/no_cuda provides the version for builds without CUDA.
#pragma once

namespace mica::gpu {
/** Number of usable GPUs (0 without a GPU backend). */
int device_count();
}  // namespace mica::gpu
