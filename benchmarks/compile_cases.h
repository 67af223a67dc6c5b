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

}  // namespace mica_bench
