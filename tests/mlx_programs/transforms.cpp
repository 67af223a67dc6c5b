// MLX-style program: grad, value_and_grad, vjp, jvp and vmap through MLX's C++ overloads, on
// functions whose derivatives are known in closed form.
#include <vector>

#include "check.h"
#include "mlx/mlx.h"
#include "mlx/transforms.h"

namespace mx = mlx::core;
using check::expect;
using check::values;

int main() {
  // f(x) = sum(x^3): grad 3 x^2.
  auto f = [](const mx::array& x) { return mx::sum(x * x * x); };
  mx::array x({1.0f, 2.0f, -1.0f});
  expect(values(mx::grad(f)(x), {3, 12, 3}, {3}), "grad");
  auto [v, g] = mx::value_and_grad(f)(x);
  expect(values(v, {8}, {}) && values(g, {3, 12, 3}, {3}), "value_and_grad");
  // Two arguments, gradient with respect to both: f(a, b) = sum(a * b).
  auto f2 = [](const std::vector<mx::array>& in) { return mx::sum(in[0] * in[1]); };
  mx::array a({1.0f, 2.0f}), b({3.0f, 4.0f});
  auto grads = mx::grad(f2, std::vector<int>{0, 1})({a, b});
  expect(grads.size() == 2 && values(grads[0], {3, 4}, {2}) && values(grads[1], {1, 2}, {2}), "grad argnums {0, 1}");
  // vjp and jvp of sin.
  auto s = [](const std::vector<mx::array>& in) { return std::vector<mx::array>{mx::sin(in[0])}; };
  mx::array p({0.0f, 1.0f});
  auto [outs, cot] = mx::vjp(s, {p}, {mx::array({1.0f, 2.0f})});
  expect(values(outs[0], {0, 0.8414709848}, {2}) && values(cot[0], {1, 2 * 0.5403023059}, {2}), "vjp");
  auto [outs2, tan] = mx::jvp(s, {p}, {mx::array({3.0f, 1.0f})});
  expect(values(tan[0], {3, 0.5403023059}, {2}), "jvp");
  auto [o1, c1] = mx::vjp([](const mx::array& z) { return mx::exp(z); }, mx::array(0.0f), mx::array(2.0f));
  expect(values(c1, {2}, {}), "vjp single-array overload");
  // vmap: a row-wise dot product over a batch, in_axes (0, 0); a matrix-vector product with
  // the vector unbatched.
  auto dot = [](const mx::array& u, const mx::array& w) { return mx::sum(u * w); };
  mx::array U({1.0f, 2.0f, 3.0f, 4.0f}, {2, 2}), W({1.0f, 1.0f, 2.0f, 0.0f}, {2, 2});
  expect(values(mx::vmap(dot)(U, W), {3, 6}, {2}), "vmap of a two-argument function");
  auto mv = mx::vmap(
      [](const std::vector<mx::array>& in) { return std::vector<mx::array>{mx::sum(in[0] * in[1])}; }, {0, -1});
  expect(values(mv({U, mx::array({1.0f, -1.0f})})[0], {-1, -1}, {2}), "vmap with an unbatched input");
  // Out-of-range axes are invalid_argument, as MLX.
  bool threw = false;
  try {
    mx::vmap([](const mx::array& z) { return z * 2.0f; }, 3)(U);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  expect(threw, "vmap with in_axis 3 of a 2-d input throws invalid_argument");
  // Integer floor_divide under vmap stays integer.
  auto fd = mx::vmap([](const mx::array& z) { return mx::floor_divide(z, mx::array(2)); });
  mx::array q = fd(mx::array({7, -7, 4}, {3, 1}));
  expect(q.dtype() == mx::int32 && values(q, {3, -4, 2}, {3, 1}), "floor_divide under vmap");
  return check::finish("transforms");
}
