// Compatibility header: programs written against MLX's C++ API (namespace mlx::core) compile
// against mica with this header and mica's link line.
#pragma once
#include "mica/graph_utils.h"
#include "mica/mica.h"
#include "mlx/fft.h"

namespace mlx {
namespace core = ::mica;
}  // namespace mlx
