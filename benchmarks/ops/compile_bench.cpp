// compile on the CPU: fused elementwise chains against the machine's copy bandwidth (a plain
// two-thread loop over the same bytes, measured here) and against the same ops uncompiled, and a
// small-model training step (the 50-layer MLP of width 256, batch 32, AdamW) compiled and not.
// benchmarks/compare/compile_cpu.py runs PyTorch (eager and torch.compile) on the same cases in
// the same run and prints the ratios.
#include <cstdio>
#include <thread>
#include <vector>

#include "mica/mica.h"
#include "../compile_cases.h"
#include "bench.h"

using namespace mica;

namespace {
using mica_bench::gelu_bias;
using mica_bench::ln_residual;
}  // namespace

int main() {
  const int rows = 4096, cols = 4096;
  const double n = double(rows) * cols;
  array x = random::uniform({rows, cols}), r = random::uniform({rows, cols}), b = random::uniform({cols});
  array w = random::uniform({cols}), c = random::uniform({cols});
  eval(x, r, b, w, c);
  // The floor: read n floats, write n floats, two threads (the machine's cores). On a shared VM
  // the bandwidth drifts from second to second, so each chain's ratio uses copies timed between
  // its own runs.
  std::vector<float> src(x.data<float>(), x.data<float>() + rows * size_t(cols)), dst(src.size());
  auto copy = [&] {
    size_t half = src.size() / 2;
    std::thread t([&] {
      for (size_t i = 0; i < half; ++i) dst[i] = src[i] * 1.0001f;
    });
    for (size_t i = half; i < src.size(); ++i) dst[i] = src[i] * 1.0001f;
    t.join();
  };
  double t_copy = best_time(10, copy);
  report("copy_4096x4096", t_copy);
  std::printf("copy floor (two-thread loop, read + write): %.2f GB/s\n", 8 * n / t_copy / 1e9);

  // Each chain uncompiled and compiled, and its arithmetic floor: the compiled chain on 64 rows
  // (in cache), per element, times the element count.
  auto chain = [&](const char* name, const ArraysFn& fn, const std::vector<array>& in, double bytes) {
    auto compiled = compile(fn);
    double t_plain = best_time(5, [&] { eval(fn(in)); });
    eval(compiled(in));  // the first call compiles
    double t_comp = 1e30, t_copy_here = 1e30;
    for (int i = 0; i < 8; ++i) {  // alternating, best of each
      t_copy_here = std::min(t_copy_here, best_time(0, copy));
      t_comp = std::min(t_comp, best_time(0, [&] { eval(compiled(in)); }));
    }
    const double copy_bw = 8 * n / t_copy_here;
    std::vector<array> small;
    for (const auto& a : in) small.push_back(a.ndim() == 2 ? slice(a, {0, 0}, {64, cols}) : a);
    eval(small);
    double t_small = best_time(50, [&] { eval(compiled(small)); });
    double compute_floor = t_small / (64.0 * cols) * n;
    std::printf("%-12s uncompiled %7.2f ms   compiled %7.2f ms   speed-up %.2fx   compiled at %.2f of copy bandwidth "
                "(floor %.2f ms at %.1f GB/s); in cache %.2f ns/element, so %.2f ms (%.2f of it)\n",
                name, t_plain * 1e3, t_comp * 1e3, t_plain / t_comp, bytes / t_comp / copy_bw, bytes / copy_bw * 1e3,
                copy_bw / 1e9, t_small / (64.0 * cols) * 1e9, compute_floor * 1e3, compute_floor / t_comp);
    report((std::string(name) + "_plain").c_str(), t_plain);
    report((std::string(name) + "_compiled").c_str(), t_comp);
  };
  chain("gelu_bias", gelu_bias, {x, b}, 8 * n);
  chain("ln_residual", ln_residual, {x, r, w, c}, 12 * n);
  // The fused primitives mica has for these (one pass each) as a second reference.
  double t_fast = best_time(5, [&] { eval(nn::gelu_approx(x + b)); });
  std::printf("gelu_approx(x + b) through ops: %.2f ms\n", t_fast * 1e3);

  // The MLP training step: 50 Linear + ReLU layers, MSE loss, AdamW.
  for (bool compiled : {false, true}) {
    mica_bench::MlpStep step(compiled);
    array in = random::uniform({32, 256}), y = random::uniform({32, 256});
    auto run = [&] { step.run(in, y); };
    for (int i = 0; i < 3; ++i) run();
    double t = best_time(20, run);
    // The host's part: building the step's graph (uncompiled: every op; compiled: the replay,
    // reading and writing the captured state), without running it.
    double t_build = best_time(20, [&] {
      Tree before = compile_state_get(step.model);
      Tree opt_before = compile_state_get(step.opt);
      step.fn({in, y});
      compile_state_set(step.model, before);  // undo, so that the graph never runs
      compile_state_set(step.opt, opt_before);
    });
    std::printf("mlp50 step (%s): %.3f ms, of which building the graph %.3f ms\n", compiled ? "compiled" : "uncompiled",
                t * 1e3, t_build * 1e3);
    report(compiled ? "mlp50_step_compiled" : "mlp50_step_plain", t);
    report(compiled ? "mlp50_build_compiled" : "mlp50_build_plain", t_build);
  }
}
