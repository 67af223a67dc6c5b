// compile on GPU streams: fused elementwise chains as NVRTC kernels (backend/cuda/compiled.cpp)
// against the same ops uncompiled on the GPU (each its own kernel: equal up to the math
// library's rounding) and on the CPU, in float32, bfloat16 and float16, with whole, single-value
// and row-repeated inputs; layouts the kernel does not take (transposed) run the steps one by
// one; chains with sums over the trailing axes (layer norm plus residual, a softmax-like row
// chain, a per-row output) as row kernels; gradients through a compiled function; a whole
// training step compiled on the GPU.
#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "gpu/gpu_checks.h"
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
    enable_compile();
  }
  void TearDown() override {
    detail::set_gpu_fusion(true);
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

}  // namespace
}  // namespace mica::test
