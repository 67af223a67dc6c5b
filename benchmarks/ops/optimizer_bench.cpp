// An eager Adam step over 148 float32 parameters of 16 x 16 (GPT-2's parameter count, small
// enough that the graph's bookkeeping, not the arithmetic, is the cost): fast::adam_step with a
// node per parameter (the layout before grouping, the peer), nodes of 48 (what optim::Adam/AdamW
// build) and one node for all, with the same coefficients; and optim::AdamW's whole step for
// context. Per step: graph building and eval, best of 5 runs of 50 steps.
// Usage: optimizer_bench [parameters]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "benchmarks/ops/bench.h"
#include "mica/fast.h"
#include "mica/mica.h"
#include "mica/optim.h"

namespace mx = mica;

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 148, steps = 50;
  mx::Tree::Dict params, grads;
  std::vector<mx::array> ps, gs, ms, vs;
  for (int i = 0; i < n; ++i) {
    const std::string key = "p" + std::to_string(1000 + i);
    ps.push_back(mx::random::normal({16, 16}));
    gs.push_back(mx::random::normal({16, 16}));
    ms.push_back(mx::zeros({16, 16}));
    vs.push_back(mx::zeros({16, 16}));
    params.insert_or_assign(key, ps.back());
    grads.insert_or_assign(key, gs.back());
  }
  mx::optim::AdamW opt(1e-3f);
  mx::Tree p = params, g = grads;
  auto grouped = [&] {
    for (int s = 0; s < steps; ++s) {
      p = opt.apply_gradients(g, p);
      std::vector<mx::array> all;
      for (auto& [k, a] : mx::tree_flatten_arrays(p)) all.push_back(a);
      for (auto& [k, a] : mx::tree_flatten_arrays(opt.state())) all.push_back(a);
      mx::eval(all);
    }
  };
  mx::array lr = mx::array(1e-3f);
  mx::array coef = mx::concatenate({mx::reshape(lr, {1}), mx::array({1.0f}), mx::reshape(1.0f - lr * 0.01, {1})});
  mx::eval(coef);
  // Nodes of `per` parameters each (1: the layout before grouping; 48: the optimizer's).
  auto nodes_of = [&](size_t per) {
    return [&, per] {
      for (int s = 0; s < steps; ++s) {
        std::vector<mx::array> all;
        for (size_t b = 0; b < ps.size(); b += per) {
          const size_t e = std::min(ps.size(), b + per);
          auto part = [&](std::vector<mx::array>& v) { return std::vector<mx::array>(v.begin() + b, v.begin() + e); };
          auto r = mx::fast::adam_step(part(ps), part(gs), part(ms), part(vs), coef, 0.9, 0.999, 1e-8);
          for (size_t i = b; i < e; ++i) {
            ps[i] = r[3 * (i - b)], ms[i] = r[3 * (i - b) + 1], vs[i] = r[3 * (i - b) + 2];
          }
          all.insert(all.end(), r.begin(), r.end());
        }
        mx::eval(all);
      }
    };
  };
  const double t_opt = best_time(5, grouped) / steps;
  const double t_one = best_time(5, nodes_of(1)) / steps, t_group = best_time(5, nodes_of(48)) / steps;
  const double t_all = best_time(5, nodes_of(ps.size())) / steps;
  report("adamw_step", t_opt);
  report("adam_step_nodes_of_1", t_one);
  report("adam_step_nodes_of_48", t_group);
  report("adam_step_one_node", t_all);
  std::printf("%d parameters of 16 x 16, per step: AdamW (nodes of 48, with the optimizer's tree work) %.3f ms; "
              "fast::adam_step alone: a node per parameter %.3f ms, nodes of 48 %.3f ms (%.2fx), one node %.3f ms "
              "(%.2fx)\n",
              n, t_opt * 1e3, t_one * 1e3, t_group * 1e3, t_one / t_group, t_all * 1e3, t_one / t_all);
}
