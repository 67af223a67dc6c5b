// A tour of mica's array core: creation, lazy ops, evaluation, dtypes, random numbers.
// The training program replaces this as the main job once nn and optimizers land.
#include <iostream>

#include "mica/mica.h"

namespace mx = mica;

int main() {
  // Arrays are built from scalars, lists, or data with a shape.
  mx::array x({1.0f, 2.0f, 3.0f, 4.0f}, {2, 2});
  std::cout << "x = " << x << "\n";

  // Ops only record a graph; printing or eval() computes it.
  auto y = mx::exp(x) * 2.0f + 1.0f;
  std::cout << "y is evaluated: " << std::boolalpha << y.is_available() << "\n";
  mx::eval(y);
  std::cout << "y = " << y << "\n";

  // Broadcasting and reductions.
  auto col = mx::sum(x, 1, true);
  std::cout << "x / row sums = " << x / col << "\n";
  std::cout << "mean = " << mx::mean(x).item<float>() << ", var = " << mx::var(x).item<float>() << "\n";

  // Weakly typed scalars keep the array's dtype.
  auto h = mx::astype(x, mx::float16) * 2.0;
  std::cout << "float16 * 2.0 has dtype " << h.dtype() << "\n";

  // Views: transpose and slicing share the buffer.
  std::cout << "x.T = " << mx::transpose(x) << "\n";
  std::cout << "every other of arange(10) = " << mx::slice(mx::arange(10), {0}, {10}, {2}) << "\n";

  // Random numbers with explicit keys are reproducible.
  auto key = mx::random::key(0);
  auto w = mx::random::normal({3, 3}, mx::float32, 0.0f, 1.0f, key);
  std::cout << "normal(key(0)) = " << w << "\n";
  std::cout << "w @ w.T = " << mx::matmul(w, mx::transpose(w)) << "\n";
  std::cout << "softmax(x) = " << mx::softmax(x, -1) << "\n";
  return 0;
}
