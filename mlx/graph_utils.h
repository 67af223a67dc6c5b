// Compatibility: MLX programs include "mlx/graph_utils.h" for print_graph and export_to_dot;
// mica provides them (mica/graph_utils.h) through mlx/mlx.h.
#pragma once
#include "mlx/mlx.h"
