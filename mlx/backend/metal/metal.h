// Compatibility: MLX programs ask `mlx::core::metal::is_available()`; mica has no Metal backend.
#pragma once
#include "mlx/mlx.h"
