// Compatibility: MLX programs include "mlx/distributed/distributed.h" for
// mlx::core::distributed (Group, init, is_available), which is mica::distributed.
#pragma once
#include "mica/distributed/distributed.h"

namespace mlx {
namespace core = ::mica;
}  // namespace mlx
