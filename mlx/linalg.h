// Compatibility: MLX programs include "mlx/linalg.h" for mlx::core::linalg; mica provides it all
// (mica::linalg) through mlx/mlx.h.
#pragma once
#include "mlx/mlx.h"
