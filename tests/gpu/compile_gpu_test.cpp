// compile on GPU streams: fused elementwise chains as NVRTC kernels (backend/cuda/compiled.cpp)
// against the same ops uncompiled on the GPU (each its own kernel: equal up to the math
// library's rounding) and on the CPU, in float32, bfloat16 and float16, with whole, single-value
// and row-repeated inputs; layouts the kernel does not take (transposed) run the steps one by
// one; chains with sums over the trailing axes (layer norm plus residual, a softmax-like row
// chain, a per-row output) as row kernels; gradients through a compiled function; a whole
// training step compiled on the GPU; compiled calls relaunched as CUDA graphs (equal to the
// same calls without graphs, bit for bit, with arguments, host scalars and random keys that
// change each call, and state the caller still holds).
#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "gpu/gpu_checks.h"
#include "mica/backend/gpu_graph.h"
#include "mica/mica.h"

namespace mica::test {
namespace {

std::vector<array> chain(const std::vector<array>& in) {
  array x = in[0] + in[1];
  array inner = (x + x * x * x * 0.044715f) * 0.7978845608f;
  array g = x * (tanh(inner) + 1.0f) * 0.5f;
  return {maximum(g, sigmoid(x) * in[1]) - rsqrt(abs(x) + 1.0f)};
}

struct CompileGpu : testing::Test {
  void SetUp() override {
    detail::set_gpu_fusion(true);
    gpu::set_graphs(true);  // every repeated call below goes through a CUDA graph
    enable_compile();
  }
  void TearDown() override {
    detail::set_gpu_fusion(true);
    gpu::set_graphs(true);
    set_default_device(Device::cpu);
  }
};

TEST_F(CompileGpu, FusedChainsMatchUnfused) {
  MICA_REQUIRE_GPU();
  for (Dtype d : {float32, bfloat16, float16}) {
    for (Shape s : {Shape{7, 129}, Shape{300, 1000}, Shape{5000}}) {
      array x = random_input(s, d, -3, 3, 1), b = random_input({s.back()}, d, -1, 1, 2);
      const int64_t launches = detail::compiled_gpu_generated_launches();
      set_default_device(Device::gpu);
      auto f = compile(chain);
      array got = f({x, b})[0], plain = chain({x, b})[0];
      eval(got, plain);
      EXPECT_GT(detail::compiled_gpu_generated_launches(), launches) << d << " " << s.size();
      EXPECT_TRUE(same_values(got, plain, 1e-6, 1e-6)) << d;
      array again = f({x, b})[0];  // the replay reuses the kernel
      EXPECT_TRUE(same_values(again, plain, 1e-6, 1e-6)) << d;
      set_default_device(Device::cpu);
      array cpu = chain({x, b})[0];
      EXPECT_TRUE(same_values(got, cpu, 1e-5, 1e-5)) << d;
    }
  }
}

std::vector<array> ln_residual(const std::vector<array>& in) {
  array h = in[0] + in[1];
  array mu = mean(h, -1, true);
  array d = h - mu;
  array var = mean(d * d, -1, true);
  return {d * rsqrt(var + 1e-5f) * in[2] + in[3]};
}
// Sums over the last two axes, an input of one value per row, and a per-row output.
std::vector<array> row_stats(const std::vector<array>& in) {
  array e = exp(in[0] - in[1]);
  array total = sum(e, {-2, -1}, true);
  return {sqrt(sum(e * e / total, {-2, -1}, true)) + in[1]};
}

TEST_F(CompileGpu, RowSumsAsRowKernels) {
  MICA_REQUIRE_GPU();
  for (Shape s : {Shape{3, 17}, Shape{64, 1000}, Shape{2, 5, 4096}, Shape{1, 30000}}) {
    const int cols = s.back();
    array x = random_input(s, float32, -3, 3, 5), r = random_input(s, float32, -1, 1, 6);
    array w = random_input({cols}, float32, 0.5, 1.5, 7), c = random_input({cols}, float32, -1, 1, 8);
    set_default_device(Device::gpu);
    const int64_t launches = detail::compiled_gpu_generated_launches();
    auto f = compile(ln_residual);
    array got = f({x, r, w, c})[0], plain = ln_residual({x, r, w, c})[0];
    eval(got, plain);
    EXPECT_GT(detail::compiled_gpu_generated_launches(), launches) << s.size() << " " << cols;
    EXPECT_TRUE(same_values(got, plain, 1e-4, 1e-4)) << cols;
    EXPECT_TRUE(same_values(f({x, r, w, c})[0], plain, 1e-4, 1e-4)) << cols;
    set_default_device(Device::cpu);
    EXPECT_TRUE(same_values(got, ln_residual({x, r, w, c})[0], 1e-4, 1e-4)) << cols;
  }
  Shape s{6, 7, 33};
  array x = random_input(s, float32, -2, 2, 9);
  array m = random_input({6, 1, 1}, float32, -1, 1, 10);  // one value per row
  set_default_device(Device::gpu);
  const int64_t launches = detail::compiled_gpu_generated_launches();
  array got = compile(row_stats)({x, m})[0];
  eval(got);
  EXPECT_GT(detail::compiled_gpu_generated_launches(), launches);
  EXPECT_EQ(got.shape(), Shape({6, 1, 1}));
  set_default_device(Device::cpu);
  EXPECT_TRUE(same_values(got, row_stats({x, m})[0], 1e-5, 1e-5));
}

TEST_F(CompileGpu, OtherLayoutsRunTheSteps) {
  MICA_REQUIRE_GPU();
  set_default_device(Device::gpu);
  array x = transpose(random_input({129, 7}, float32, -3, 3, 3)), b = random_input({129}, float32, -1, 1, 4);
  auto f = compile(chain);
  EXPECT_TRUE(same_values(f({x, b})[0], chain({x, b})[0], 1e-6, 1e-6));
}

TEST_F(CompileGpu, GradientsAndATrainingStep) {
  MICA_REQUIRE_GPU();
  set_default_device(Device::gpu);
  array x = random_input({64, 256}, float32, -2, 2, 5), b = random_input({256}, float32, -1, 1, 6);
  auto loss = [](const std::vector<array>& in) { return std::vector<array>{sum(chain(in)[0])}; };
  auto want = value_and_grad(loss, std::vector<int>{0, 1})({x, b});
  auto got = value_and_grad(compile(loss), std::vector<int>{0, 1})({x, b});
  EXPECT_TRUE(same_values(got.first[0], want.first[0], 1e-5, 1e-4));
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(same_values(got.second[i], want.second[i], 1e-5, 1e-5));
  // An MLP step with AdamW, compiled with its state captured, against the same step uncompiled.
  auto run = [&](bool compiled) {
    random::seed(1);
    nn::Sequential model(std::make_shared<nn::Linear>(256, 256), std::make_shared<nn::GELU>(),
                         std::make_shared<nn::Linear>(256, 16));
    optim::AdamW opt(1e-2f);
    auto vg = nn::value_and_grad(model, [&](const array& in) { return mean(square(model(in))); });
    auto step = [&](const std::vector<array>& in) {
      auto [l, g] = vg(in[0]);
      opt.update(model, g);
      return std::vector<array>{l};
    };
    ArraysFn fn = compiled ? compile(step, CompileOptions{.inputs = {model, opt}, .outputs = {model, opt}}) : ArraysFn(step);
    std::vector<float> losses;
    for (int i = 0; i < 4; ++i) losses.push_back(fn({x})[0].item<float>());
    return losses;
  };
  auto plain = run(false), comp = run(true);
  for (size_t i = 0; i < plain.size(); ++i) EXPECT_NEAR(plain[i], comp[i], 1e-5 * std::max(1.0f, std::abs(plain[i])));
}

// A small MLP trained with AdamW by a compiled step whose state (parameters, moments, step
// count) is captured: losses and final parameters after `steps` calls.
struct Trained {
  std::vector<float> losses;
  std::vector<array> params;
};
Trained train_mlp(bool graphs, int steps, bool hold_old_params) {
  gpu::set_graphs(graphs);
  random::seed(7);
  nn::Sequential model(std::make_shared<nn::Linear>(64, 128), std::make_shared<nn::GELU>(),
                       std::make_shared<nn::Linear>(128, 128), std::make_shared<nn::ReLU>(),
                       std::make_shared<nn::Linear>(128, 8));
  optim::AdamW opt(1e-2f);
  auto vg = nn::value_and_grad(model, [&](const array& in, const array& y) { return mean(square(model(in) - y)); });
  auto step = [&](const std::vector<array>& in) {
    auto [l, g] = vg(in[0], in[1]);
    opt.update(model, g);
    return std::vector<array>{l};
  };
  ArraysFn fn = compile(step, CompileOptions{.inputs = {model, opt}, .outputs = {model, opt}});
  Trained t;
  std::vector<array> held;
  for (int i = 0; i < steps; ++i) {
    // New arguments every call (staged into the graph's buffers).
    array x = random_input({32, 64}, float32, -1, 1, 100 + i), y = random_input({32, 8}, float32, -1, 1, 200 + i);
    if (hold_old_params && i == 3) {
      for (auto& [k, a] : tree_flatten_arrays(model.parameters())) held.push_back(a);
    }
    t.losses.push_back(fn({x, y})[0].item<float>());
  }
  for (auto& [k, a] : tree_flatten_arrays(model.parameters())) t.params.push_back(a);
  eval(t.params);
  if (hold_old_params) {
    // What the caller held from before call 4 keeps the values of 3 steps: the graph did not
    // write it.
    gpu::set_graphs(false);
    random::seed(7);
    Trained ref = train_mlp(false, 3, false);
    gpu::set_graphs(graphs);
    for (size_t k = 0; k < held.size(); ++k) EXPECT_TRUE(same_values(held[k], ref.params[k], 0, 0)) << k;
  }
  return t;
}

TEST_F(CompileGpu, CudaGraphTrainingStepEqualsUncaptured) {
  MICA_REQUIRE_GPU();
  set_default_device(Device::gpu);
  Trained want = train_mlp(false, 8, false);
  const int64_t before = gpu::graph_launches();
  Trained got = train_mlp(true, 8, false);
  // Call 1 traces (AdamW has no moments yet), call 2 traces again (now it has), call 3 captures
  // and launches, calls 4..8 relaunch.
  EXPECT_EQ(gpu::graph_launches() - before, 6);
  ASSERT_EQ(got.losses.size(), want.losses.size());
  for (size_t i = 0; i < want.losses.size(); ++i) EXPECT_EQ(got.losses[i], want.losses[i]) << i;
  for (size_t k = 0; k < want.params.size(); ++k) EXPECT_TRUE(same_values(got.params[k], want.params[k], 0, 0)) << k;
}

TEST_F(CompileGpu, CudaGraphLeavesHeldStateAlone) {
  MICA_REQUIRE_GPU();
  set_default_device(Device::gpu);
  Trained want = train_mlp(false, 6, false);
  Trained got = train_mlp(true, 6, true);
  for (size_t i = 0; i < want.losses.size(); ++i) EXPECT_EQ(got.losses[i], want.losses[i]) << i;
  for (size_t k = 0; k < want.params.size(); ++k) EXPECT_TRUE(same_values(got.params[k], want.params[k], 0, 0)) << k;
}

TEST_F(CompileGpu, CudaGraphArgumentsScalarsAndKeysFollowEachCall) {
  MICA_REQUIRE_GPU();
  set_default_device(Device::gpu);
  auto f = [](const std::vector<array>& in) {
    return std::vector<array>{exp(in[0]) * in[1] + random::normal(in[0].shape()), sum(in[0], -1)};
  };
  auto run = [&](bool graphs, bool compiled) {
    gpu::set_graphs(graphs);
    random::seed(11);
    ArraysFn fn = compiled ? compile(f) : ArraysFn(f);
    std::vector<array> outs;
    for (int i = 0; i < 5; ++i) {
      array x = random_input({16, 33}, float32, -1, 1, 300 + i);
      array s(0.5f + static_cast<float>(i));  // a host scalar, another value each call
      for (auto& o : fn({x, s})) outs.push_back(o);
    }
    eval(outs);
    return outs;
  };
  auto want = run(false, true);
  const int64_t before = gpu::graph_launches();
  auto got = run(true, true);
  EXPECT_EQ(gpu::graph_launches() - before, 4);
  for (size_t k = 0; k < want.size(); ++k) EXPECT_TRUE(same_values(got[k], want[k], 0, 0)) << k;
  auto plain = run(false, false);  // the keys drawn as uncompiled
  for (size_t k = 0; k < want.size(); ++k) EXPECT_TRUE(same_values(got[k], plain[k], 1e-6, 1e-6)) << k;
}

}  // namespace
TEST_F(CompileGpu, CudaGraphSkippedWhenCopiesOutweighLaunches) {
  MICA_REQUIRE_GPU();
  set_default_device(Device::gpu);
  // One fused kernel over 64 MB of new argument each call: staging it into the graph and
  // copying the result out would cost more than the one launch a graph saves.
  auto f = [](const std::vector<array>& in) { return std::vector<array>{exp(in[0]) * 2.0f + 1.0f}; };
  gpu::set_graphs(true);
  ArraysFn fn = compile(f);
  const int64_t before = gpu::graph_launches();
  for (int i = 0; i < 4; ++i) {
    array x = random_input({4096, 4096}, float32, -1, 1, 400 + i);
    EXPECT_TRUE(same_values(fn({x})[0], f({x})[0], 1e-6, 1e-6)) << i;
  }
  EXPECT_EQ(gpu::graph_launches() - before, 0);
}

}  // namespace mica::test
