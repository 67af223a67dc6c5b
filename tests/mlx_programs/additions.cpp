// MLX-style program: the MLX 0.32 functions mica added last (number_of_elements in a shapeless
// compiled function, print options, the gated delta rule, Hadamard sizes 12 * 2^k, custom CUDA
// kernels' checks, metal_kernel without Metal, reductions without keepdims under shapeless
// compile, distributed::clear_backends), through MLX's headers only; values from MLX 0.32.
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "check.h"
#include "mlx/compile.h"
#include "mlx/distributed/distributed.h"
#include "mlx/fast.h"
#include "mlx/mlx.h"
#include "mlx/utils.h"

namespace mx = mlx::core;
using check::expect;
using check::values;

int main() {
  mx::set_default_device(mx::Device::cpu);
  // number_of_elements: the size along axes (1 / size when inverted), read again for each shape a
  // shapeless compiled function runs on.
  auto per_size = mx::compile(
      [](const std::vector<mx::array>& in) {
        return std::vector<mx::array>{
            mx::multiply(mx::sum(in[0], {0}, true), mx::number_of_elements(in[0], {0}, true, mx::float32))};
      },
      /*shapeless=*/true);
  expect(values(per_size({mx::ones({4, 2})})[0], {1, 1}, {1, 2}), "shapeless mean by number_of_elements, 4 rows");
  expect(values(per_size({mx::full({7, 2}, 3.0f)})[0], {3, 3}, {1, 2}), "shapeless mean by number_of_elements, 7 rows");
  expect(values(mx::number_of_elements(mx::zeros({2, 3, 4}), {0, 2}, false), {8}, {}), "number_of_elements");

  // Print options: fixed decimals, then back to the default.
  mx::set_printoptions(mx::PrintOptions{3});
  std::ostringstream fixed;
  fixed << mx::array({1.0f, 2.123456789f});
  expect(fixed.str() == "array([1.000, 2.123], dtype=float32)", "set_printoptions: " + fixed.str());
  mx::set_printoptions(mx::PrintOptions{});
  std::ostringstream plain;
  plain << mx::array({1.0f, 2.123456789f});
  expect(plain.str() == "array([1, 2.12346], dtype=float32)", "default print: " + plain.str());

  // The gated delta rule, one head: S = g S + b (v - S k) k^T, y = S q.
  mx::array q = mx::reshape(mx::array({1.0f, 0.0f, 0.0f, 1.0f}), {1, 2, 1, 2});
  mx::array k = mx::reshape(mx::array({1.0f, 0.0f, 0.0f, 1.0f}), {1, 2, 1, 2});
  mx::array v = mx::reshape(mx::array({2.0f, 3.0f}), {1, 2, 1, 1});
  mx::array g = mx::reshape(mx::array({0.5f, 0.5f}), {1, 2, 1});
  mx::array b = mx::reshape(mx::array({1.0f, 1.0f}), {1, 2, 1});
  auto out = mx::fast::gated_delta_update(q, k, v, g, b);
  // Step 1: S = [[2, 0]], y = 2; step 2: S = 0.5 S = [[1, 0]], S += (3 - 0) [0, 1] -> [[1, 3]], y = 3.
  expect(values(out[0], {2, 3}, {1, 2, 1, 1}) && values(out[1], {1, 3}, {1, 1, 1, 2}), "gated_delta_update");

  // Hadamard transform of 12 values (MLX's matrix of order 12).
  expect(values(mx::hadamard_transform(mx::ones({12}), 1.0f), {10, -2, 2, -2, 2, -2, 2, -2, 2, -2, 2, -2}, {12}),
         "hadamard_transform of 12");
  expect(values(mx::sum(mx::square(mx::hadamard_transform(mx::arange(24.0f)))), {4324}, {}),
         "hadamard_transform keeps the norm");

  // A custom CUDA kernel is refused on the CPU at the call.
  auto kernel = mx::fast::cuda_kernel("copy", {"inp"}, {"out"}, "out[0] = inp[0];");
  bool refused = false;
  try {
    kernel({mx::ones({1})}, {{1}}, {mx::float32}, {1, 1, 1}, {1, 1, 1}, {}, std::nullopt, false, mx::Device::cpu);
  } catch (const std::invalid_argument&) {
    refused = true;
  }
  expect(refused, "cuda_kernel on the CPU");

  // metal_kernel: made as in MLX without a Metal back-end; each call throws std::runtime_error.
  auto metal = mx::fast::metal_kernel("copy", {"inp"}, {"out"}, "out[0] = inp[0];", "", true, false,
                                      mx::CompileOptions{.math_mode = mx::MathMode::Fast});
  bool no_metal = false;
  try {
    metal({mx::ones({1})}, {{1}}, {mx::float32}, {1, 1, 1}, {1, 1, 1}, {}, std::nullopt, false, {});
  } catch (const std::runtime_error& e) {
    no_metal = std::string(e.what()).find("[metal_kernel]") == 0;
  }
  expect(no_metal, "metal_kernel call without Metal");

  // Reductions without keepdims in a shapeless compiled function (MLX's Squeeze primitive).
  auto row_means = mx::compile(
      [](const std::vector<mx::array>& in) { return std::vector<mx::array>{mx::mean(in[0], -1)}; }, true);
  expect(values(row_means({mx::ones({3, 4})})[0], {1, 1, 1}, {3}), "shapeless mean without keepdims, 3 rows");
  expect(values(row_means({mx::full({2, 5}, 2.0f)})[0], {2, 2}, {2}), "shapeless mean without keepdims, 2 rows");
  expect(mx::squeeze(mx::zeros({2, 1, 3})).shape() == mx::Shape{2, 3}, "squeeze");

  // clear_backends: init decides again (the size-1 group without a launcher).
  mx::distributed::clear_backends();
  expect(mx::distributed::init().size() == 1, "init after clear_backends");
  return check::failures == 0 ? 0 : 1;
}
