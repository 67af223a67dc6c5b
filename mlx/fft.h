// Compatibility: MLX programs include "mlx/fft.h" for mlx::core::fft, which is mica::fft.
#pragma once
#include "mica/fft.h"

namespace mlx {
namespace core = ::mica;
}  // namespace mlx
