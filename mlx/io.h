// Compatibility: MLX programs include "mlx/io.h"; mica provides it all through mlx/mlx.h.
#pragma once
#include "mlx/mlx.h"
