// Compatibility: MLX programs include "mlx/export.h" for export_function, import_function,
// exporter, Args and Kwargs; mica provides them through mlx/mlx.h (mica/export.h).
#pragma once
#include "mlx/mlx.h"
