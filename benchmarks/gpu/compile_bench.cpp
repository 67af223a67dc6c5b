// compile on the GPU (family "compile"): the 50-layer MLP training step (width 256, batch 32,
// MSE, AdamW) uncompiled and compiled, timed as a user sees it (building or replaying the step's
// graph, then eval of the loss and every parameter: host time included), and two elementwise
// chains of 8192 x 8192 float32 uncompiled and compiled (fused into one generated kernel),
// whose bytes (read x once, write once) give their fraction of copy bandwidth. PyTorch's side
// (benchmarks/compare/gpu_torch/compile.py): the MLP step eager (…_plain) and replayed from a
// captured CUDA graph (…_compiled); the chains eager in both rows.
#include "benchmarks/compile_cases.h"
#include "benchmarks/gpu/bench.h"

using namespace mica;

namespace {
using mica_bench::gelu_bias;
using mica_bench::ln_residual;

double median_wall(int reps, const std::function<void()>& f) {
  std::vector<double> t;
  for (int r = 0; r < reps + 3; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r >= 3) t.push_back(s);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}
}  // namespace

MICA_GPU_BENCH(compile) {
  using mica_bench::report;
  for (bool compiled : {false, true}) {
    mica_bench::MlpStep step(compiled);
    array in = random::uniform({32, 256}), y = random::uniform({32, 256});
    eval(in, y);
    auto run = [&] { step.run(in, y); };
    report(compiled ? "mlp50_step_compiled" : "mlp50_step_plain", median_wall(30, run), 0);
  }
  const int n = 8192;
  array x = random::uniform({n, n}), r = random::uniform({n, n}), b = random::uniform({n});
  array w = random::uniform({n}), c = random::uniform({n});
  eval(x, r, b, w, c);
  const double bytes = 8.0 * n * n;
  auto chain = [&](const char* name, const ArraysFn& fn, const std::vector<array>& ins, double moved) {
    auto compiled = compile(fn);
    report(std::string(name) + "_plain", mica_bench::median_seconds([&] { return fn(ins)[0]; }), moved);
    report(std::string(name) + "_compiled", mica_bench::median_seconds([&] { return compiled(ins)[0]; }), moved);
  };
  chain("gelu_bias_chain", gelu_bias, {x, b}, bytes);
  chain("ln_residual_chain", ln_residual, {x, r, w, c}, 1.5 * bytes);
}
