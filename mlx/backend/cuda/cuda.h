// Compatibility: MLX programs ask `mlx::core::cu::is_available()` whether CUDA can run.
#pragma once
#include "mlx/mlx.h"
