// Tree operations on a GPT-2-sized module (148 arrays, MLX's GPT-2 layout: wte, wpe,
// h.0..h.11.{ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj}, ln_f): microseconds
// per call of parameters(), update(parameters) and freeze() + unfreeze({.keys = {"bias"}}).
// Targets: < 20, < 20 and < 60 us; MLX's Python takes about 117, 36 and 624 us
// (tree_bench_mlx.py measures it on this machine).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <vector>

#include "mica/mica.h"
#include "mica/nn.h"

namespace {
using namespace mica;
using nn::Linear;
using nn::Module;

// The parameters are lazy (never evaluated): tree operations only move handles.
struct Embedding : Module {
  Embedding(int n, int d) { set("weight", zeros({n, d})); }
};
struct LayerNorm : Module {
  explicit LayerNorm(int d) {
    set("weight", ones({d}));
    set("bias", zeros({d}));
  }
};
struct Attention : Module {
  explicit Attention(int d) {
    set("c_attn", std::make_shared<Linear>(d, 3 * d));
    set("c_proj", std::make_shared<Linear>(d, d));
  }
};
struct MLP : Module {
  explicit MLP(int d) {
    set("c_fc", std::make_shared<Linear>(d, 4 * d));
    set("c_proj", std::make_shared<Linear>(4 * d, d));
  }
};
struct Block : Module {
  explicit Block(int d) {
    set("ln_1", std::make_shared<LayerNorm>(d));
    set("attn", std::make_shared<Attention>(d));
    set("ln_2", std::make_shared<LayerNorm>(d));
    set("mlp", std::make_shared<MLP>(d));
  }
};
struct GPT2 : Module {
  GPT2(int vocab = 50257, int ctx = 1024, int d = 768, int layers = 12) {
    set("wte", std::make_shared<Embedding>(vocab, d));
    set("wpe", std::make_shared<Embedding>(ctx, d));
    Tree::List h;
    for (int i = 0; i < layers; ++i) h.emplace_back(std::make_shared<Block>(d));
    set("h", std::move(h));
    set("ln_f", std::make_shared<LayerNorm>(d));
  }
};

// Best and median of `rounds` rounds of `iters` calls, in microseconds per call.
template <class F>
std::pair<double, double> time_us(F&& f, int rounds = 30, int iters = 200) {
  for (int i = 0; i < iters; ++i) f();  // warm-up
  std::vector<double> per_call;
  for (int r = 0; r < rounds; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) f();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    per_call.push_back(s * 1e6 / iters);
  }
  std::sort(per_call.begin(), per_call.end());
  return {per_call.front(), per_call[per_call.size() / 2]};
}

void row(const char* name, std::pair<double, double> t, double target, double mlx) {
  std::printf("%-28s %8.2f %8.2f %8.0f %8.0f   %s\n", name, t.first, t.second, target, mlx,
              t.second < target ? "ok" : "SLOW");
  std::printf("RESULT tree_%s %.9g\n", name, t.second * 1e-6);
}
}  // namespace

int main() {
  GPT2 model;
  Tree params = model.parameters();
  std::size_t n = tree_flatten(params).size();
  std::printf("GPT-2 tree: %zu arrays, %zu modules\n", n, model.modules().size());
  std::printf("%-28s %8s %8s %8s %8s\n", "operation (us per call)", "best", "median", "target", "MLX py");
  std::size_t sink = 0;
  row("parameters", time_us([&] { sink += model.parameters().size(); }), 20, 117);
  row("update", time_us([&] { model.update(params); }), 20, 36);
  row("freeze_unfreeze_bias", time_us([&] {
        model.freeze();
        model.unfreeze({.keys = {"bias"}});
      }),
      60, 624);
  auto t = tree_flatten(model.trainable_parameters());
  std::printf("trainable after freeze + unfreeze(bias): %zu arrays (sink %zu)\n", t.size(), sink);
  return 0;
}
