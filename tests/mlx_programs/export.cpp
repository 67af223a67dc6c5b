// MLX-style program: mlx/export.h as MLX programs use it — export_function of a function of
// positional inputs, of named inputs (Kwargs) and of both, import_function and calls of the
// imported function, an exporter adding two traces to one file, a shapeless export called with
// a new shape, and the errors for inputs that match no trace and for a missing file.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "check.h"
#include "mlx/export.h"
#include "mlx/mlx.h"

namespace mx = mlx::core;
using check::expect;
using check::values;

namespace {
template <class F>
bool throws(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument&) {
    return true;
  } catch (const std::runtime_error&) {
    return true;
  }
  return false;
}
}  // namespace

int main() {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("mica_mlx_export_" + std::to_string(getpid()));
  fs::create_directories(dir);
  auto file = [&](const char* name) { return (dir / name).string(); };

  // A small layer with captured weights: the weights travel in the file.
  mx::array w = mx::array({1.0f, -1.0f, 0.5f, 2.0f, 0.0f, 1.0f}, {3, 2});
  mx::array b = mx::array({0.5f, -0.5f});
  auto layer = [w, b](const mx::Args& args) { return std::vector<mx::array>{mx::maximum(mx::matmul(args[0], w) + b, mx::array(0.0f))}; };
  mx::export_function(file("layer.mlxfn"), layer, {mx::zeros({1, 3})});
  auto imported = mx::import_function(file("layer.mlxfn"));
  mx::array x = mx::array({1.0f, 2.0f, 3.0f}, {1, 3});
  // x @ w + b = [1 + 1 + 0, -1 + 4 + 3] + [0.5, -0.5] = [2.5, 5.5]
  expect(values(imported({x})[0], {2.5, 5.5}, {1, 2}), "imported layer, positional inputs");
  expect(values(imported(mx::Args{x})[0], {2.5, 5.5}, {1, 2}), "imported layer, an Args vector");
  expect(throws([&] { imported({mx::zeros({2, 3})}); }), "a shape that matches no trace throws");
  expect(throws([&] { imported({mx::zeros({1, 3}, mx::int32)}); }), "a dtype that matches no trace throws");

  // Named inputs, and positional with named together.
  auto named = [](const mx::Kwargs& kw) { return std::vector<mx::array>{kw.at("a") - kw.at("b")}; };
  mx::export_function(file("named.mlxfn"), named, mx::Kwargs{{"a", mx::zeros({2})}, {"b", mx::zeros({2})}});
  auto f_named = mx::import_function(file("named.mlxfn"));
  expect(values(f_named(mx::Kwargs{{"a", mx::array({3.0f, 4.0f})}, {"b", mx::array({1.0f, 1.0f})}})[0], {2, 3}, {2}),
         "imported function of named inputs");
  auto mixed = [](const mx::Args& args, const mx::Kwargs& kw) {
    return std::vector<mx::array>{args[0] * kw.at("scale"), mx::sum(args[0])};
  };
  mx::export_function(file("mixed.mlxfn"), mixed, {mx::zeros({3})}, {{"scale", mx::array(1.0f)}});
  auto f_mixed = mx::import_function(file("mixed.mlxfn"));
  auto outs = f_mixed({mx::array({1.0f, 2.0f, 3.0f})}, {{"scale", mx::array(2.0f)}});
  expect(outs.size() == 2 && values(outs[0], {2, 4, 6}, {3}) && values(outs[1], {6}, {}),
         "imported function of positional and named inputs, two outputs");

  // An exporter: two traces (two input shapes) in one file.
  {
    auto ex = mx::exporter(file("two.mlxfn"), [](const mx::Args& args) {
      return std::vector<mx::array>{mx::sum(mx::square(args[0]))};
    });
    ex({mx::zeros({2})});
    ex({mx::zeros({2, 2})});
    ex.close();
  }
  auto f_two = mx::import_function(file("two.mlxfn"));
  expect(values(f_two({mx::array({1.0f, 2.0f})})[0], {5}, {}), "exporter: first trace");
  expect(values(f_two({mx::array({1.0f, 2.0f, 3.0f, 4.0f}, {2, 2})})[0], {30}, {}), "exporter: second trace");
  expect(throws([&] { f_two({mx::zeros({3})}); }), "exporter: a third shape throws");

  // Shapeless: one trace serves every shape with the same number of dimensions.
  auto scale = [](const mx::Args& args) { return std::vector<mx::array>{mx::exp(args[0]) * 2.0f}; };
  mx::export_function(file("shapeless.mlxfn"), scale, {mx::zeros({2})}, /*shapeless=*/true);
  auto f_sl = mx::import_function(file("shapeless.mlxfn"));
  expect(values(f_sl({mx::array({0.0f, 1.0f, 2.0f})})[0], {2, 2 * std::exp(1.0), 2 * std::exp(2.0)}, {3}, 1e-6),
         "shapeless import on a new shape");

  // Imported functions compose with the transforms.
  auto g = mx::grad([&](const mx::array& v) { return mx::sum(f_sl({v})[0]); });
  expect(values(g(mx::array({0.0f, 1.0f})), {2, 2 * std::exp(1.0)}, {2}, 1e-6), "grad of an imported function");

  expect(throws([&] { mx::import_function(file("missing.mlxfn")); }), "a missing file throws");
  fs::remove_all(dir);
  return check::finish("export");
}
