// Compatibility: MLX programs include "mlx/compile.h" for compile, disable_compile,
// enable_compile, set_compile_mode and CompileMode; mica provides them through mlx/mlx.h.
#pragma once
#include "mlx/mlx.h"
