// The cases both compile benchmarks run (benchmarks/ops/compile_bench.cpp on the CPU,
// benchmarks/gpu/compile_bench.cpp on the GPU): a GELU-with-bias chain, layer norm plus residual
// written op by op, and the 50-layer MLP (width 256) of the training-step case.
#pragma once
#include <vector>

#include "mica/mica.h"

namespace mica_bench {

inline std::vector<mica::array> gelu_bias(const std::vector<mica::array>& in) {
  mica::array x = in[0] + in[1];
  mica::array inner = (x + x * x * x * 0.044715f) * 0.7978845608f;
  return {x * (mica::tanh(inner) + 1.0f) * 0.5f};
}

inline std::vector<mica::array> ln_residual(const std::vector<mica::array>& in) {
  mica::array h = in[0] + in[1];
  mica::array mu = mica::mean(h, -1, true);
  mica::array d = h - mu;
  mica::array var = mica::mean(d * d, -1, true);
  return {d * mica::rsqrt(var + 1e-5f) * in[2] + in[3]};
}

struct Mlp : mica::nn::Module {
  mica::nn::ChildList<mica::nn::Linear> layers{this, "layers"};
  Mlp() {
    for (int i = 0; i < 50; ++i) layers.emplace_back(256, 256);
  }
  mica::array operator()(const mica::array& x) override {
    mica::array h = x;
    for (size_t i = 0; i < layers.size(); ++i) h = mica::nn::relu(layers[i](h));
    return h;
  }
};

/** The MLP's training step (MSE loss, AdamW at 1e-3, weights from seed 0), compiled with the model
 *  and the optimizer as captured state or not. */
struct MlpStep {
  int seeded = (mica::random::seed(0), 0);  // before the layers draw their weights
  Mlp model;
  mica::optim::AdamW opt{1e-3f};
  mica::ArraysFn fn;
  explicit MlpStep(bool compiled) {
    auto vg = mica::nn::value_and_grad(model, [this](const mica::array& in, const mica::array& y) {
      return mica::nn::losses::mse_loss(model(in), y);
    });
    auto step = [this, vg](const std::vector<mica::array>& in) {
      auto [loss, grads] = vg(in[0], in[1]);
      opt.update(model, grads);
      return std::vector<mica::array>{loss};
    };
    fn = compiled ? mica::compile(step, mica::CompileOptions{.inputs = {model, opt}, .outputs = {model, opt}})
                  : mica::ArraysFn(step);
  }
  MlpStep(const MlpStep&) = delete;
  MlpStep& operator=(const MlpStep&) = delete;
  /** One step on (x, y), evaluated with every parameter. */
  void run(const mica::array& x, const mica::array& y) {
    auto l = fn({x, y});
    std::vector<mica::array> outs{l[0]};
    for (auto& [k, a] : mica::tree_flatten_arrays(model.parameters())) outs.push_back(a);
    mica::eval(outs);
    mica::synchronize();  // a step replayed from a CUDA graph returns before the GPU is done
  }
};

}  // namespace mica_bench
