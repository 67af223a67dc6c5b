// MLX-style program: the rest of MLX's public headers: streams and StreamContext, the backend
// queries, random with keys, fast ops, linalg, einsum, file formats and graph export.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <unordered_map>

#include "check.h"
#include "mlx/backend/cuda/cuda.h"
#include "mlx/backend/metal/metal.h"
#include "mlx/compile.h"
#include "mlx/einsum.h"
#include "mlx/export.h"
#include "mlx/fast.h"
#include "mlx/graph_utils.h"
#include "mlx/io.h"
#include "mlx/linalg.h"
#include "mlx/mlx.h"
#include "mlx/random.h"
#include "mlx/stream.h"

namespace mx = mlx::core;
using check::expect;
using check::values;

int main() {
  // Streams: a context makes a new CPU stream the default and gives the old one back.
  const mx::Stream before = mx::default_stream(mx::Device::cpu);
  mx::Stream s = mx::new_stream(mx::Device::cpu);
  {
    mx::StreamContext ctx(s);
    expect(mx::default_stream(mx::Device::cpu) == s, "StreamContext sets the stream");
    expect(values(mx::exp(mx::array(0.0f)), {1}, {}), "computing inside a StreamContext");
  }
  expect(mx::default_stream(mx::Device::cpu) == before, "StreamContext restores the stream");
  expect(mx::cu::is_available() == mx::is_available(mx::Device::gpu) && !mx::metal::is_available(),
         "backend queries");
  // random with explicit keys: the same key, the same draws.
  auto k = mx::random::key(7);
  mx::array u1 = mx::random::uniform({4}, mx::float32, k), u2 = mx::random::uniform({4}, mx::float32, k);
  expect(mx::array_equal(u1, u2).item<bool>(), "random::uniform with one key twice");
  expect(mx::all(mx::logical_and(u1 >= 0.0f, u1 < 1.0f)).item<bool>(), "uniform in [0, 1)");
  // fast: rms_norm of (3, 4) is x / sqrt(mean(x^2) + eps).
  mx::array x({3.0f, 4.0f}, {1, 2});
  expect(values(mx::fast::rms_norm(x, std::nullopt, 0.0f), {3 / std::sqrt(12.5), 4 / std::sqrt(12.5)}, {1, 2}),
         "fast::rms_norm");
  // linalg: det and inverse of [[4, 1], [1, 3]].
  mx::array sq({4.0f, 1.0f, 1.0f, 3.0f}, {2, 2});
  expect(values(mx::linalg::det(sq), {11}, {}), "linalg::det");
  expect(values(mx::linalg::inv(sq), {3.0 / 11, -1.0 / 11, -1.0 / 11, 4.0 / 11}, {2, 2}), "linalg::inv");
  expect(values(mx::linalg::norm(mx::array({3.0f, 4.0f})), {5}, {}), "linalg::norm");
  // einsum and its contraction order.
  auto [path, report] = mx::einsum_path("ij,jk,kl->il", {mx::ones({2, 3}), mx::ones({3, 4}), mx::ones({4, 5})});
  expect(path == std::vector<std::vector<int>>{{1, 2}, {0, 1}} && report.find("Optimized FLOP count:  180") != std::string::npos,
         "einsum_path");
  expect(values(mx::einsum("ij,jk->ik", {sq, sq}), {17, 7, 7, 10}, {2, 2}), "einsum");
  // Files: safetensors and npy round trips.
  auto dir = std::filesystem::temp_directory_path() / ("mlx_program_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  mx::save_safetensors((dir / "w.safetensors").string(), {{"w", sq}, {"b", mx::array({1, 2, 3})}});
  auto [loaded, meta] = mx::load_safetensors((dir / "w.safetensors").string());
  expect(loaded.size() == 2 && mx::array_equal(loaded.at("w"), sq).item<bool>(), "safetensors round trip");
  mx::save((dir / "a.npy").string(), sq);
  expect(mx::array_equal(mx::load((dir / "a.npy").string()), sq).item<bool>(), "npy round trip");
  std::filesystem::remove_all(dir);
  // Graph export.
  std::ostringstream dot;
  mx::export_to_dot(dot, mx::exp(sq) + 1.0f);
  expect(dot.str().find("digraph") != std::string::npos && dot.str().find("Exp") != std::string::npos,
         "export_to_dot");
  return check::finish("headers");
}
