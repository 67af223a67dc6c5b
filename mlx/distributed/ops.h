// Compatibility: MLX programs include "mlx/distributed/ops.h" for the collectives (all_sum,
// all_gather, send, recv, ...), declared with the group in mica/distributed/distributed.h.
#pragma once
#include "mlx/distributed/distributed.h"
