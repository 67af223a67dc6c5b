// Compatibility: MLX programs include "mlx/einsum.h" for einsum and einsum_path.
#pragma once
#include "mlx/mlx.h"
