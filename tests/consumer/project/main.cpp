// An outside program written the way MLX's C++ examples are: MLX's headers and namespace.
#include <iostream>

#include "mlx/array.h"
#include "mlx/dtype.h"
#include "mlx/linalg.h"
#include "mlx/ops.h"
#include "mlx/random.h"
#include "mlx/transforms.h"

namespace mx = mlx::core;

int main() {
  mx::array x(1.0);
  if (x.dtype() != mx::float32 || x.ndim() != 0 || x.size() != 1) return 1;
  x = mx::array({1.0f, 2.0f, 3.0f, 4.0f}, {2, 2});
  auto z = x + mx::ones({2, 2});
  mx::eval(z);
  if (z.shape(0) != 2 || mx::sum(z).item<float>() != 14.0f) return 1;
  auto w = mx::random::normal({2, 2}, mx::float32, 0.0f, 1.0f, mx::random::key(0));
  auto m = mx::matmul(z, w);
  mx::eval({m});
  // mlx::core::linalg, through LAPACK (mica's private dependency).
  auto sq = mx::array({4.0f, 1.0f, 1.0f, 3.0f}, {2, 2});
  if (mx::linalg::det(sq).item<float>() != 11.0f) return 1;
  if (mx::linalg::inv(sq).shape(0) != 2) return 1;
  mx::array a({1, 2, 3});
  mx::array b({4, 5, 6});
  std::cout << a + b << std::endl;
  return 0;
}
