// MLX-style program: mlx/compile.h as MLX programs use it — compile of a std::function, of a
// capture-less lambda and of a function pointer, shapeless compile, the compile modes and
// disable/enable — each checked against the uncompiled answers.
#include <cmath>
#include <functional>
#include <vector>

#include "check.h"
#include "mlx/compile.h"
#include "mlx/mlx.h"

namespace mx = mlx::core;
using check::expect;
using check::values;

namespace {
std::vector<mx::array> gelu(const std::vector<mx::array>& in) {
  auto x = in[0];
  return {x * (1.0f + mx::erf(x / std::sqrt(2.0f))) * 0.5f};
}
}  // namespace

int main() {
  mx::array x({-2.0f, -0.5f, 0.0f, 0.5f, 2.0f});
  std::vector<double> want;
  for (double v : {-2.0, -0.5, 0.0, 0.5, 2.0}) want.push_back(v * (1 + std::erf(v / std::sqrt(2.0))) / 2);

  // A function pointer (MLX's overload keyed by the pointer).
  auto f = mx::compile(gelu);
  expect(values(f({x})[0], want, {5}, 1e-6), "compile(function pointer)");
  expect(values(f({x})[0], want, {5}, 1e-6), "the second call replays");

  // A capture-less lambda and a std::function with state.
  auto sq = mx::compile([](const std::vector<mx::array>& in) { return std::vector<mx::array>{in[0] * in[0] + 1.0f}; });
  expect(values(sq({x})[0], {5, 1.25, 1, 1.25, 5}, {5}), "compile(lambda)");
  float scale = 3.0f;
  std::function<std::vector<mx::array>(const std::vector<mx::array>&)> scaled =
      [scale](const std::vector<mx::array>& in) { return std::vector<mx::array>{in[0] * scale + in[1]}; };
  auto sc = mx::compile(scaled);
  expect(values(sc({x, mx::array(1.0f)})[0], {-5, -0.5, 1, 2.5, 7}, {5}), "compile(std::function)");

  // Shapeless: a new shape does not retrace, and the answer follows the new shape.
  auto sl = mx::compile(scaled, /*shapeless=*/true);
  expect(values(sl({x, mx::array(0.0f)})[0], {-6, -1.5, 0, 1.5, 6}, {5}), "shapeless, first shape");
  expect(values(sl({mx::ones({2, 5}), mx::array(0.0f)})[0], std::vector<double>(10, 3), {2, 5}), "shapeless, new shape");

  // Modes and disable/enable keep the answers.
  for (auto mode : {mx::CompileMode::disabled, mx::CompileMode::no_simplify, mx::CompileMode::no_fuse,
                    mx::CompileMode::enabled}) {
    mx::set_compile_mode(mode);
    auto g = mx::compile([](const std::vector<mx::array>& in) {
      auto e = mx::exp(in[0]);
      return std::vector<mx::array>{e + mx::exp(in[0])};  // a common subexpression
    });
    expect(values(g({mx::array({0.0f, 1.0f})})[0], {2, 2 * std::exp(1.0)}, {2}, 1e-6), "compile mode");
  }
  mx::disable_compile();
  expect(values(mx::compile(gelu)({x})[0], want, {5}, 1e-6), "disabled: the function runs as is");
  mx::enable_compile();

  // grad of a compiled function.
  auto loss = mx::compile([](const std::vector<mx::array>& in) { return std::vector<mx::array>{mx::sum(in[0] * in[0])}; });
  auto dg = mx::grad([&](const mx::array& a) { return loss({a})[0]; })(x);
  expect(values(dg, {-4, -1, 0, 1, 4}, {5}), "grad of a compiled function");
  return check::finish("compile");
}
