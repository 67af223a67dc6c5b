// compile: compiled equals uncompiled (elementwise chains, broadcasts, strided inputs, the
// blocked CPU kernel, dtypes, multi-output and non-elementwise nodes, whole training steps with
// captured model and optimizer state and random ops), the cache (hits, retracing on shape and
// dtype, shapeless), the simplifications (constant folding, common subexpressions, no-op nodes),
// composition with grad/jvp/vmap in both orders, modes, and errors.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <functional>
#include <thread>
#include <cstdlib>
#include <string>

#include "mica/mica.h"
#include "mica/primitives/compiled.h"
#include "reference/reference.h"

using namespace mica;
using mica::test::close;
using mica::test::random_array;
using mica::test::to_vector;

namespace {

// GELU (tanh form) of x + b in plain ops: six elementwise nodes and a broadcast bias.
std::vector<array> gelu_bias(const std::vector<array>& in) {
  array x = in[0] + in[1];
  array inner = (x + x * x * x * 0.044715f) * 0.7978845608f;
  return {x * (tanh(inner) + 1.0f) * 0.5f};
}

// (x + r - mean) / sqrt(var + eps) * w + b in plain ops (a reduction between two chains).
std::vector<array> ln_residual(const std::vector<array>& in) {
  array h = in[0] + in[1];
  array mu = mean(h, -1, true);
  array d = h - mu;
  array var = mean(d * d, -1, true);
  return {d * rsqrt(var + 1e-5f) * in[2] + in[3], h};
}

uint64_t traces() { return detail::compile_stats().traces; }
uint64_t replays() { return detail::compile_stats().replays; }

// The CPU's compile (kernels, interpreter, counters); compile_gpu_test covers GPU streams. The
// suite's GPU run (MICA_TEST_DEVICE=gpu) makes the GPU the default device: put the CPU back.
struct CompileTest : testing::Test {
  Device saved = default_device();
  void SetUp() override {
    enable_compile();
    set_default_device(Device::cpu);
  }
  void TearDown() override {
    enable_compile();
    set_default_device(saved);
  }
};

TEST_F(CompileTest, EqualsUncompiledAndCaches) {
  auto f = compile(gelu_bias);
  array x = random_array({8, 33}, float32, -3, 3, 1), b = random_array({33}, float32, -1, 1, 2);
  const uint64_t t0 = traces(), r0 = replays();
  auto out = f({x, b});
  EXPECT_EQ(traces(), t0 + 1);
  EXPECT_TRUE(close(out[0], gelu_bias({x, b})[0]));
  // Same signature: replayed, not traced.
  array x2 = random_array({8, 33}, float32, -3, 3, 3);
  EXPECT_TRUE(close(f({x2, b})[0], gelu_bias({x2, b})[0]));
  EXPECT_EQ(traces(), t0 + 1);
  EXPECT_EQ(replays(), r0 + 1);
  // A new shape or dtype traces again; the old entry still answers.
  array x3 = random_array({4, 33}, float32, -3, 3, 4);
  EXPECT_TRUE(close(f({x3, b})[0], gelu_bias({x3, b})[0]));
  EXPECT_EQ(traces(), t0 + 2);
  array xb = astype(x, bfloat16), bb = astype(b, bfloat16);
  EXPECT_TRUE(close(f({xb, bb})[0], gelu_bias({xb, bb})[0], 1e-2));
  EXPECT_EQ(traces(), t0 + 3);
  f({x, b});
  EXPECT_EQ(traces(), t0 + 3);
}

// True unless this run asked for the interpreter (MICA_CPU_JIT=0: the compile_test_interpreter test).
bool generator_on() {
  const char* v = std::getenv("MICA_CPU_JIT");
  return !(v && std::string(v) == "0");
}

TEST_F(CompileTest, FusedBlocksBroadcastsAndStridedInputs) {
  // Large enough for the blocked kernel; the bias broadcasts, one input is a transposed view.
  auto f = compile(gelu_bias);
  const uint64_t fused0 = detail::compile_stats().fused;
  const int64_t generated0 = detail::compiled_cpu_generated_runs();
  for (Shape s : {Shape{300, 257}, Shape{3, 50000}, Shape{70000}, Shape{2, 3, 40, 129}}) {
    array x = random_array(s, float32, -3, 3, 5);
    array b = random_array({s.back()}, float32, -1, 1, 6);
    EXPECT_TRUE(close(f({x, b})[0], gelu_bias({x, b})[0])) << s.size();
    if (s.size() == 2) {
      array xt = transpose(random_array({s.back(), s[0]}, float32, -3, 3, 7));
      EXPECT_TRUE(close(f({xt, b})[0], gelu_bias({xt, b})[0]));
    }
    array scalar = array(0.25f);
    EXPECT_TRUE(close(f({x, scalar})[0], gelu_bias({x, scalar})[0]));
    // Every input constant along the rows (a broadcast scalar): each element is still written.
    array flat = broadcast_to(array(1.5f), s);
    EXPECT_TRUE(close(f({flat, scalar})[0], gelu_bias({flat, scalar})[0]));
  }
  EXPECT_GT(detail::compile_stats().fused, fused0);
  // The generated kernels ran (a failed build would fall back to the interpreter silently).
  if (generator_on()) EXPECT_GT(detail::compiled_cpu_generated_runs(), generated0 + 8);
  else EXPECT_EQ(detail::compiled_cpu_generated_runs(), generated0);
  // float16 and a chain that changes dtype inside the fused node.
  auto g = compile([](const std::vector<array>& in) {
    return std::vector<array>{astype(exp(astype(in[0], float32)) * 2.0f, float16) + in[0]};
  });
  array h = random_array({200, 300}, float16, -2, 2, 8);
  EXPECT_TRUE(close(g({h})[0], astype(exp(astype(h, float32)) * 2.0f, float16) + h, 1e-3));
}

TEST_F(CompileTest, ReductionsAndSeveralOutputs) {
  auto f = compile(ln_residual);
  for (Shape s : {Shape{4, 64}, Shape{64, 768}}) {
    std::vector<array> in{random_array(s, float32, -2, 2, 9), random_array(s, float32, -2, 2, 10),
                          random_array({s.back()}, float32, 0.5, 1.5, 11), random_array({s.back()}, float32, -1, 1, 12)};
    auto got = f(in);
    auto want = ln_residual(in);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_TRUE(close(got[0], want[0], 1e-5));
    EXPECT_TRUE(close(got[1], want[1]));
  }
}

TEST_F(CompileTest, FusedSums) {
  // Sums over trailing axes and per-row values join fused groups; cheap values read by several
  // groups are copied into each (layer norm of x + r as one node).
  auto ln = [](const std::vector<array>& in) { return std::vector<array>{ln_residual(in)[0]}; };
  auto sums = [](const std::vector<array>& in) {
    array d = in[0] - in[1];
    return std::vector<array>{sum(d * d), sum(d * 2.0f, std::vector<int>{1, 2}, true), mean(exp(in[0]), -1)};
  };
  for (Shape s : {Shape{3, 4, 40}, Shape{64, 8, 1000}}) {
    std::vector<array> in{random_array(s, float32, -2, 2, 40), random_array(s, float32, -2, 2, 41),
                          random_array({s.back()}, float32, 0.5, 1.5, 42), random_array({s.back()}, float32, -1, 1, 43)};
    const int64_t generated0 = detail::compiled_cpu_generated_runs();
    EXPECT_TRUE(close(compile(ln)(in)[0], ln(in)[0], 1e-5));
    EXPECT_EQ(detail::compile_stats().last_nodes, 1u);  // both sums and every elementwise op in one node
    EXPECT_EQ(detail::compiled_cpu_generated_runs(), generated0 + (generator_on() ? 1 : 0));
    auto got = compile(sums)(in);
    auto want = sums(in);
    for (size_t k = 0; k < got.size(); ++k) EXPECT_TRUE(close(got[k], want[k], 1e-4)) << k;
    // A broadcast row and a transposed (strided) input.
    std::vector<array> tin{transpose(random_array({s[2], s[1], s[0]}, float32, -2, 2, 44)), in[2]};
    EXPECT_TRUE(close(compile(sums)(tin)[0], sums(tin)[0], 1e-4));
  }
  // float64 sums stay float64.
  array a = random_array({5, 3, 300}, float64, -1, 1, 45), b = random_array({5, 3, 300}, float64, -1, 1, 46);
  auto got = compile(sums)({a, b});
  EXPECT_EQ(got[0].dtype(), float64);
  EXPECT_TRUE(close(got[0], sums({a, b})[0], 1e-12));
}

// The CUDA kernels the GPU would generate for fused nodes compile (NVRTC, for sm_90; no GPU
// needed): elementwise chains in float32 and float16, and row kernels with sums (whole-row
// output, per-row outputs, sums over two axes, an input of one value per row, a row repeated).
TEST_F(CompileTest, GeneratedCudaSourcesCompile) {
  auto per_row = [](const std::vector<array>& in) {
    array e = exp(in[0] - in[1]);
    return std::vector<array>{sqrt(sum(e * e / sum(e, {-2, -1}, true), {-2, -1}, true))};
  };
  auto sums = [](const std::vector<array>& in) {
    array d = in[0] - in[1];
    return std::vector<array>{sum(d * 2.0f, std::vector<int>{1, 2}, true), mean(exp(in[0]), -1)};
  };
  struct Case {
    std::function<std::vector<array>(const std::vector<array>&)> f;
    std::vector<array> in;
  };
  const Shape s{6, 7, 33};
  std::vector<Case> cases{
      {gelu_bias, {random_array(s, float32, -2, 2, 1), random_array({33}, float32, -1, 1, 2)}},
      {gelu_bias, {astype(random_array(s, float32, -2, 2, 1), float16), astype(random_array({33}, float32, -1, 1, 2), float16)}},
      {[](const std::vector<array>& in) { return std::vector<array>{ln_residual(in)[0]}; },
       {random_array(s, float32, -2, 2, 3), random_array(s, float32, -2, 2, 4), random_array({33}, float32, 0.5, 1.5, 5),
        random_array({33}, float32, -1, 1, 6)}},
      {per_row, {random_array(s, float32, -2, 2, 7), random_array({6, 1, 1}, float32, -1, 1, 8)}},
      {sums, {random_array(s, float32, -2, 2, 9), random_array(s, float32, -2, 2, 10)}},
      {sums, {random_array(s, float64, -2, 2, 9), random_array(s, float64, -2, 2, 10)}},
  };
  int checked = 0;
  for (auto& c : cases) {
    eval(c.in);
    auto outs = compile(c.f)(c.in);
    // Every fused node of the graph, its inputs evaluated (their layouts pick the kernel).
    std::vector<array> stack(outs.begin(), outs.end());
    while (!stack.empty()) {
      array a = stack.back();
      stack.pop_back();
      if (!a.has_primitive()) continue;
      for (const auto& in : a.inputs()) stack.push_back(in);
      auto* fused = dynamic_cast<const Compiled*>(&a.primitive());
      if (!fused) continue;
      eval(a.inputs());
      std::string why = detail::compiled_gpu_source_check(*fused, a.inputs(), a, "sm_90");
      if (why == "no CUDA") GTEST_SKIP() << "a build without CUDA";
      EXPECT_EQ(why, "") << "case " << &c - cases.data();
      ++checked;
    }
  }
  EXPECT_GE(checked, static_cast<int>(cases.size()));
}

// Every op family through compile: the replayed graph (primitives shared between replays, some
// fused) gives the uncompiled answers on random inputs, twice (the second call replays).
TEST_F(CompileTest, EveryOpFamily) {
  using Fn = std::function<std::vector<array>(const std::vector<array>&)>;
  array m = random_array({6, 8}, float32, -2, 2, 50), v = random_array({8}, float32, -1, 1, 51);
  array sq = random_array({4, 4}, float32, -1, 1, 52);
  sq = matmul(sq, transpose(sq)) + eye(4) * 4.0f;  // symmetric positive definite
  array idx = array({3, 0, 5, 1}, int32);
  array img = random_array({2, 9, 3}, float32, -1, 1, 53), ker = random_array({4, 3, 3}, float32, -1, 1, 54);
  array q = random_array({1, 2, 5, 8}, float32, -1, 1, 55), k = random_array({1, 2, 7, 8}, float32, -1, 1, 56);
  array w = random_array({16, 64}, float32, -1, 1, 57), xq = random_array({3, 64}, float32, -1, 1, 58);
  std::vector<std::pair<const char*, std::pair<Fn, std::vector<array>>>> cases = {
      {"unary, binary", {[](auto& in) { return std::vector<array>{maximum(abs(in[0]) - 1.0f, sin(in[0]) * in[1])}; }, {m, v}}},
      {"reduce", {[](auto& in) {
                    return std::vector<array>{sum(in[0], 0), argmax(in[0], 1), logsumexp(in[0], -1), var(in[0], 0),
                                              cumsum(in[0], 1), softmax(in[0], -1)};
                  }, {m}}},
      {"movement", {[](auto& in) {
                      return std::vector<array>{concatenate({in[0], in[0] * 2.0f}, 0), transpose(in[0]),
                                                slice(in[0], {1, 2}, {5, 7}), pad(in[0], 2), reshape(in[0], {4, 12})};
                    }, {m}}},
      {"indexing", {[](auto& in) {
                      return std::vector<array>{take(in[0], in[1], 0), take_along_axis(in[0], argsort(in[0], 1), 1),
                                                scatter_add(in[0], in[1], ones({4, 1, 8}), 0)};
                    }, {m, idx}}},
      {"sort", {[](auto& in) { return std::vector<array>{sort(in[0], 1), argsort(in[0], 0), topk(in[0], 3, 1)}; }, {m}}},
      {"matmul", {[](auto& in) { return std::vector<array>{matmul(in[0], transpose(in[0])), addmm(in[1], in[0], transpose(in[0]))}; },
                  {m, zeros({6, 6})}}},
      {"conv", {[](auto& in) { return std::vector<array>{conv1d(in[0], in[1], 2, 1)}; }, {img, ker}}},
      {"linalg", {[](auto& in) { return std::vector<array>{linalg::inv(in[0]), linalg::cholesky(in[0]), linalg::qr(in[0]).second}; },
                  {sq}}},
      {"fft", {[](auto& in) { return std::vector<array>{abs(fft::rfft(in[0], -1)), real(fft::ifft(fft::fft(in[0])))}; }, {m}}},
      {"fused", {[](auto& in) {
                   return std::vector<array>{fast::layer_norm(in[0], in[1], in[1], 1e-5f), fast::rms_norm(in[0], in[1], 1e-5f),
                                             nn::gelu(in[0])};
                 }, {m, v}}},
      {"attention", {[](auto& in) {
                       return std::vector<array>{fast::scaled_dot_product_attention(in[0], in[1], in[1], 0.35f, "causal")};
                     }, {q, k}}},
      {"quantized", {[](auto& in) {
                       auto qw = quantize(in[0], 32, 4);
                       return std::vector<array>{quantized_matmul(in[1], qw[0], qw[1], qw[2], true, 32, 4)};
                     }, {w, xq}}},
      {"random", {[](auto& in) { return std::vector<array>{in[0] + random::normal({6, 8}, float32, std::nullopt, std::nullopt, random::key(1))}; },
                  {m}}},
  };
  for (auto& [name, c] : cases) {
    auto& [fn, in] = c;
    auto want = fn(in);
    auto f = compile(fn);
    for (int call = 0; call < 2; ++call) {
      auto got = f(in);
      ASSERT_EQ(got.size(), want.size()) << name;
      for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(close(got[i], want[i], 1e-5)) << name << " output " << i;
    }
  }
}

TEST_F(CompileTest, CalledFromSeveralThreads) {
  // One compiled function, traced and replayed from two threads at once (the first calls race
  // to trace; the cache is shared).
  auto f = compile(gelu_bias);
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        array x = random_array({16, 40 + t}, float32, -2, 2, 60 + i), b = random_array({40 + t}, float32, -1, 1, 61);
        if (!close(f({x, b})[0], gelu_bias({x, b})[0])) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST_F(CompileTest, IdentityConstantAndInputOutputs) {
  auto f = compile([](const std::vector<array>& in) {
    return std::vector<array>{in[0], ones({3}) * 2.0f, in[1] * 1.0f};
  });
  array a = random_array({3}, float32, -1, 1, 13), b = random_array({2, 2}, float32, -1, 1, 14);
  auto out = f({a, b});
  EXPECT_TRUE(out[0].is_same(a) || close(out[0], a));
  EXPECT_TRUE(close(out[1], array({2.0f, 2.0f, 2.0f})));
  EXPECT_TRUE(close(out[2], b));
}

TEST_F(CompileTest, SimplifiesTheGraph) {
  // Common subexpressions, folded constants and no-op casts and reshapes leave two nodes:
  // exp(x) once and the sum; with fusion they become one node.
  auto fn = [](const std::vector<array>& in) {
    array c = ones({4}) * 3.0f;  // no input: folded
    array e1 = exp(astype(in[0], float32)), e2 = exp(reshape(in[0], {4}));
    return std::vector<array>{e1 + e2 * c};
  };
  array x = random_array({4}, float32, -1, 1, 15);
  array want = fn({x})[0];
  for (auto [mode, nodes] : {std::pair{CompileMode::no_simplify, -1}, std::pair{CompileMode::no_fuse, 3},
                             std::pair{CompileMode::enabled, 1}}) {
    set_compile_mode(mode);
    auto f = compile(fn);
    EXPECT_TRUE(close(f({x})[0], want));
    if (nodes >= 0) EXPECT_EQ(detail::compile_stats().last_nodes, static_cast<uint64_t>(nodes));
    else EXPECT_GT(detail::compile_stats().last_nodes, 3u);
  }
}

// mean and var divide by the size of the shape they run on, not the traced one; reductions
// that drop their axes end in a Squeeze, whose shape follows from its input's.
TEST_F(CompileTest, ShapelessMeanReadsTheShape) {
  auto fn = [](const std::vector<array>& in) {
    return std::vector<array>{mean(in[0], 0, true), var(in[0], 0, true), mean(in[0], {0, 1}, true),
                              mean(in[0], 0),       var(in[0], -1),       sum(in[0]),
                              logsumexp(in[0], -1), max(in[0], 0),        argmax(in[0], 1)};
  };
  auto f = compile(fn, /*shapeless=*/true);
  const uint64_t t0 = traces();
  for (int n : {3, 8, 1000}) {
    array x = random_array({n, 2}, float32, -3, 3, 30 + n);
    auto got = f({x});
    auto want = fn({x});
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(got[i].shape(), want[i].shape()) << n << " " << i;
      EXPECT_TRUE(close(got[i], want[i], 1e-5)) << n << " " << i;
    }
  }
  EXPECT_EQ(traces(), t0 + 1);
}

// squeeze and expand_dims replay on other shapes; their rules (vjp, jvp, vmap) are each other.
TEST_F(CompileTest, ShapelessSqueezeExpandDimsAndTheirRules) {
  auto fn = [](const std::vector<array>& in) {
    array y = expand_dims(squeeze(in[0], 1), {0, 2});  // (n, 1, m) -> (n, m) -> (1, n, 1, m)
    return std::vector<array>{y * 2.0f, squeeze(sum(in[0], {0}, true))};
  };
  auto f = compile(fn, true);
  const uint64_t t0 = traces();
  for (auto [n, m] : {std::pair{2, 3}, std::pair{5, 7}}) {
    array x = random_array({n, 1, m}, float32, -1, 1, 40 + n);
    auto got = f({x}), want = fn({x});
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(got[i].shape(), want[i].shape()) << n;
      EXPECT_TRUE(close(got[i], want[i])) << n;
    }
  }
  EXPECT_EQ(traces(), t0 + 1);
  array x = random_array({4, 1, 3}, float32, -1, 1, 50), c = random_array({4, 3}, float32, -1, 1, 51);
  std::function<array(const std::vector<array>&)> loss = [&](const std::vector<array>& in) {
    return sum(squeeze(in[0], 1) * c) + sum(expand_dims(in[0], {0, 3}) * 3.0f);
  };
  array g = grad(loss)({x})[0];
  EXPECT_TRUE(close(g, reshape(c, {4, 1, 3}) + 3.0f));
  auto [outs, tans] = jvp([](const std::vector<array>& in) { return std::vector<array>{expand_dims(squeeze(in[0], 1), 2)}; },
                          {x}, {x * 2.0f});
  EXPECT_EQ(tans[0].shape(), (Shape{4, 3, 1}));
  EXPECT_TRUE(close(tans[0], reshape(x * 2.0f, {4, 3, 1})));
  array batch = random_array({4, 2, 1, 3}, float32, -1, 1, 52);  // examples along axis 1
  auto vm = vmap([](const std::vector<array>& in) { return std::vector<array>{expand_dims(squeeze(in[0], 1), 0)}; },
                 {1}, {0})({batch});
  EXPECT_EQ(vm[0].shape(), (Shape{2, 1, 4, 3}));
  EXPECT_TRUE(close(vm[0], expand_dims(squeeze(transpose(batch, {1, 0, 2, 3}), 2), 1)));
}

TEST_F(CompileTest, Shapeless) {
  auto f = compile(gelu_bias, /*shapeless=*/true);
  const uint64_t t0 = traces();
  for (int n : {3, 17, 100000}) {
    array x = random_array({2, n}, float32, -3, 3, 16), b = random_array({n}, float32, -1, 1, 17);
    EXPECT_TRUE(close(f({x, b})[0], gelu_bias({x, b})[0]));
  }
  EXPECT_EQ(traces(), t0 + 1);
  // A broadcast that appears only for some shapes: (n,) + (1,).
  array x = random_array({2, 5}, float32, -3, 3, 18), b1 = random_array({1}, float32, -1, 1, 19);
  EXPECT_TRUE(close(f({x, b1})[0], gelu_bias({x, b1})[0]));
  EXPECT_EQ(traces(), t0 + 1);
  // The number of dimensions retraces.
  array x3 = random_array({2, 2, 5}, float32, -3, 3, 20);
  EXPECT_TRUE(close(f({x3, b1})[0], gelu_bias({x3, b1})[0]));
  EXPECT_EQ(traces(), t0 + 2);
  // Reductions and matmul infer their shapes; a reshape cannot.
  auto g = compile([](const std::vector<array>& in) { return std::vector<array>{sum(matmul(in[0], in[1]) * 2.0f, -1, true)}; },
                   true);
  for (int m : {2, 9}) {
    array a = random_array({m, 4}, float32, -1, 1, 21), w = random_array({4, m + 1}, float32, -1, 1, 22);
    EXPECT_TRUE(close(g({a, w})[0], sum(matmul(a, w) * 2.0f, -1, true), 1e-5));
  }
  auto h = compile([](const std::vector<array>& in) { return std::vector<array>{reshape(in[0], {-1})}; }, true);
  EXPECT_THROW(
      {
        try {
          h({random_array({2, 3}, float32)});
        } catch (const std::invalid_argument& e) {
          EXPECT_NE(std::string(e.what()).find("[compile]"), std::string::npos) << e.what();
          throw;
        }
      },
      std::invalid_argument);
}

TEST_F(CompileTest, DisabledCallsTheFunction) {
  auto f = compile(gelu_bias);
  array x = random_array({3, 4}, float32), b = random_array({4}, float32);
  disable_compile();
  const uint64_t t0 = traces(), r0 = replays();
  EXPECT_TRUE(close(f({x, b})[0], gelu_bias({x, b})[0]));
  EXPECT_EQ(traces(), t0);
  EXPECT_EQ(replays(), r0);
  EXPECT_EQ(compile_mode(), CompileMode::disabled);
  enable_compile();
  f({x, b});
  EXPECT_EQ(traces(), t0 + 1);
}

std::vector<array> square_plus_one(const std::vector<array>& in) { return {in[0] * in[0] + 1.0f}; }

TEST_F(CompileTest, PlainFunctionsShareACache) {
  array x = random_array({5}, float32);
  const uint64_t t0 = traces();
  compile(square_plus_one)({x});
  compile(square_plus_one)({x});
  EXPECT_EQ(traces(), t0 + 1);
  auto lam = compile([](const std::vector<array>& in) { return std::vector<array>{in[0] - 1.0f}; });
  EXPECT_TRUE(close(lam({x})[0], x - 1.0f));
}

TEST_F(CompileTest, ComposesWithTransforms) {
  auto loss = [](const std::vector<array>& in) {
    auto y = gelu_bias(in)[0];
    return std::vector<array>{sum(y * y)};
  };
  array x = random_array({6, 40}, float32, -2, 2, 23), b = random_array({40}, float32, -1, 1, 24);
  auto want = value_and_grad(loss, std::vector<int>{0, 1})({x, b});
  // grad of compiled: the replayed graph (a fused node) is differentiated.
  auto g1 = value_and_grad(compile(loss), std::vector<int>{0, 1})({x, b});
  // compiled grad: the backward graph is traced and fused too.
  auto g2 = compile([&](const std::vector<array>& in) {
    auto [v, g] = value_and_grad(loss, std::vector<int>{0, 1})(in);
    return std::vector<array>{v[0], g[0], g[1]};
  })({x, b});
  EXPECT_TRUE(close(g1.first[0], want.first[0], 1e-5));
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(close(g1.second[i], want.second[i], 1e-5));
    EXPECT_TRUE(close(g2[1 + i], want.second[i], 1e-5));
  }
  // jvp through the fused node.
  array t = random_array({6, 40}, float32, -1, 1, 25), tb = zeros({40});
  auto j1 = jvp(compile(gelu_bias), {x, b}, {t, tb});
  auto j0 = jvp(gelu_bias, {x, b}, {t, tb});
  EXPECT_TRUE(close(j1.second[0], j0.second[0], 1e-5));
  // vmap of compiled, and compiled vmap.
  array xs = random_array({3, 6, 40}, float32, -2, 2, 26);
  auto v0 = vmap(ArraysFn(gelu_bias), {0, -1})({xs, b});
  auto v1 = vmap(compile(gelu_bias), {0, -1})({xs, b});
  auto v2 = compile(vmap(ArraysFn(gelu_bias), {0, -1}))({xs, b});
  EXPECT_TRUE(close(v1[0], v0[0]));
  EXPECT_TRUE(close(v2[0], v0[0]));
}

TEST_F(CompileTest, ErrorsNameTheOp) {
  auto f = compile([](const std::vector<array>& in) { return std::vector<array>{in[0] + in[1]}; });
  std::string compiled, plain;
  try {
    f({zeros({2, 3}), zeros({4})});
  } catch (const std::invalid_argument& e) {
    compiled = e.what();
  }
  try {
    (void)(zeros({2, 3}) + zeros({4}));
  } catch (const std::invalid_argument& e) {
    plain = e.what();
  }
  EXPECT_FALSE(plain.empty());
  EXPECT_EQ(compiled, plain);
  // A traced function that reads a value cannot be compiled: the error says so.
  auto g = compile([](const std::vector<array>& in) { return std::vector<array>{in[0] * in[0].item<float>()}; });
  try {
    g({array(2.0f)});
    ADD_FAILURE() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("compile"), std::string::npos) << e.what();
  }
}

TEST_F(CompileTest, RandomOpsDrawFreshNumbersEachCall) {
  auto f = compile([](const std::vector<array>& in) {
    return std::vector<array>{in[0] + random::uniform({4}), random::normal({2})};
  });
  array x = zeros({4});
  random::seed(7);
  auto a = f({x});
  auto b = f({x});
  EXPECT_FALSE(close(a[0], b[0]));
  // The same seed gives the uncompiled function's numbers.
  random::seed(7);
  array u = x + random::uniform({4});
  array nrm = random::normal({2});
  EXPECT_TRUE(close(a[0], u));
  EXPECT_TRUE(close(a[1], nrm));
}

// A two-layer MLP with dropout, trained by AdamW: the compiled step (model and optimizer state
// captured) gives the uncompiled step's losses and weights.
struct Mlp : nn::Module {
  nn::Child<nn::Linear> fc1{this, "fc1", 12, 32};
  nn::Child<nn::Dropout> drop{this, "drop", 0.25};
  nn::Child<nn::Linear> fc2{this, "fc2", 32, 3};
  array operator()(const array& x) override { return fc2(drop(nn::gelu(fc1(x)))); }
};

TEST_F(CompileTest, TrainingStepWithCapturedState) {
  auto run = [](bool compiled) {
    random::seed(3);
    Mlp model;
    model.fc1->freeze({.keys = {"bias"}});  // a frozen entry is state too
    optim::AdamW opt(1e-2f);
    auto vg = nn::value_and_grad(model, [&](const array& x, const array& y) {
      return nn::losses::cross_entropy(model(x), y, {.reduction = nn::losses::Reduction::mean});
    });
    auto step = [&](const std::vector<array>& in) {
      auto [loss, grads] = vg(in[0], in[1]);
      opt.update(model, grads);
      return std::vector<array>{loss};
    };
    ArraysFn fn = compiled ? compile(step, CompileOptions{.inputs = {model, opt}, .outputs = {model, opt}}) : ArraysFn(step);
    std::vector<double> losses;
    for (int i = 0; i < 5; ++i) {
      array x = random_array({16, 12}, float32, -1, 1, 100 + i);
      array y = astype(random_array({16}, float32, 0, 2.99, 200 + i), int32);
      losses.push_back(fn({x, y})[0].item<float>());
      eval(model.parameters());
    }
    auto params = tree_flatten_arrays(model.parameters());
    params.emplace_back("step", opt.step());
    return std::pair{losses, params};
  };
  const uint64_t t0 = traces();
  auto [l0, p0] = run(false);
  auto [l1, p1] = run(true);
  EXPECT_LE(traces(), t0 + 2);  // the first call (optimizer state appears), then one more at most
  ASSERT_EQ(l0.size(), l1.size());
  for (size_t i = 0; i < l0.size(); ++i) EXPECT_NEAR(l0[i], l1[i], 1e-5 * std::max(1.0, std::abs(l0[i]))) << i;
  ASSERT_EQ(p0.size(), p1.size());
  for (size_t i = 0; i < p0.size(); ++i) {
    EXPECT_EQ(p0[i].first, p1[i].first);
    EXPECT_TRUE(close(astype(p1[i].second, float32), astype(p0[i].second, float32), 1e-5)) << p0[i].first;
  }
}

}  // namespace

namespace {
TEST_F(CompileTest, ModuleModeAndFreezingRetrace) {
  random::seed(4);
  Mlp model;
  auto f = compile([&](const std::vector<array>& in) { return std::vector<array>{model(in[0])}; },
                   CompileOptions{.inputs = {model}});
  array x = random_array({4, 12}, float32, -1, 1, 30);
  f({x});
  const uint64_t t0 = traces();
  f({x});
  EXPECT_EQ(traces(), t0);
  model.eval();  // dropout off: a new trace, and the output is the model's
  EXPECT_TRUE(close(f({x})[0], model(x), 1e-6));
  EXPECT_EQ(traces(), t0 + 1);
  model.freeze();
  f({x});
  EXPECT_EQ(traces(), t0 + 2);
}
}  // namespace
