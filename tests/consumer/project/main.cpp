#include <iostream>

#include "mlx/mlx.h"

namespace mx = mlx::core;

int main() {
  mx::array a({1, 2, 3});
  mx::array b({4, 5, 6});
  std::cout << a + b << std::endl;
  return 0;
}
