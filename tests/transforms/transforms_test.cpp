// The function transforms themselves: signatures, auxiliary outputs, composition, custom rules,
// checkpoint, memory of the backward pass, and bad input.
#include <gtest/gtest.h>

#include <cmath>

#include "reference/reference.h"

using namespace mica;
using mica::test::matches;
using mica::test::throws_op;
using mica::test::to_vector;

namespace {
std::vector<double> vals(const array& a) { return to_vector(a); }
}  // namespace

TEST(Vjp, VectorAndSingleArrayForms) {
  auto f = [](const std::vector<array>& x) { return std::vector<array>{x[0] * x[1], sin(x[0])}; };
  auto a = array({1.0f, 2.0f});
  auto b = array({3.0f, -1.0f});
  auto [outs, cts] = vjp(f, {a, b}, {array({1.0f, 1.0f}), array({2.0f, 0.5f})});
  ASSERT_EQ(outs.size(), 2u);
  ASSERT_EQ(cts.size(), 2u);
  EXPECT_TRUE(matches(outs[0], {2}, {3, -2}));
  // d/da: b * c0 + cos(a) * c1
  EXPECT_TRUE(matches(cts[0], {2}, {3 + std::cos(1.0) * 2, -1 + std::cos(2.0) * 0.5}, 1e-5));
  EXPECT_TRUE(matches(cts[1], {2}, {1, 2}));
  auto [o, g] = vjp([](const array& x) { return exp(x); }, array({0.0f, 1.0f}), array({1.0f, 2.0f}));
  EXPECT_TRUE(matches(g, {2}, {1, 2 * std::exp(1.0)}, 1e-5));
}

TEST(Jvp, VectorAndSingleArrayForms) {
  auto f = [](const std::vector<array>& x) { return std::vector<array>{x[0] * x[1]}; };
  auto [outs, ts] = jvp(f, {array({1.0f, 2.0f}), array({3.0f, 4.0f})}, {array({1.0f, 0.0f}), array({0.0f, 1.0f})});
  EXPECT_TRUE(matches(ts[0], {2}, {3, 2}));
  auto [o, t] = jvp([](const array& x) { return square(x); }, array({3.0f}), array({2.0f}));
  EXPECT_TRUE(matches(t, {1}, {12}));
  // An output that does not depend on the input has a zero tangent.
  auto [o2, t2] = jvp([](const std::vector<array>& x) { return std::vector<array>{array({5.0f, 6.0f})}; },
                      {array(1.0f)}, {array(1.0f)});
  EXPECT_TRUE(matches(t2[0], {2}, {0, 0}));
}

TEST(Grad, ArgnumsAndForms) {
  auto f = [](const std::vector<array>& x) { return sum(x[0] * x[0] * x[1]); };
  auto a = array({1.0f, 2.0f});
  auto b = array({3.0f, 5.0f});
  auto g = grad(f, {0, 1})({a, b});
  EXPECT_TRUE(matches(g[0], {2}, {6, 20}));
  EXPECT_TRUE(matches(g[1], {2}, {1, 4}));
  auto g1 = grad(f, 1)({a, b});
  ASSERT_EQ(g1.size(), 1u);
  EXPECT_TRUE(matches(g1[0], {2}, {1, 4}));
  auto [v, gs] = value_and_grad(std::function<array(const std::vector<array>&)>(f), std::vector<int>{0})({a, b});
  EXPECT_TRUE(matches(v, {}, {3 + 20}));
  EXPECT_TRUE(matches(gs[0], {2}, {6, 20}));
  auto [v1, g2] = value_and_grad([](const array& x) { return sum(exp(x)); })(array({0.0f}));
  EXPECT_TRUE(matches(v1, {}, {1}));
  EXPECT_TRUE(matches(g2, {1}, {1}));
  EXPECT_TRUE(matches(grad([](const array& x) { return sum(x * 3.0f); })(a), {2}, {3, 3}));
  // A primal that the output does not use gets zeros.
  auto gz = grad([](const std::vector<array>& x) { return sum(x[0]); }, {0, 1})({a, b});
  EXPECT_TRUE(matches(gz[1], {2}, {0, 0}));
}

TEST(Grad, AuxiliaryOutputsAreReturnedNotDifferentiated) {
  // value_and_grad of a function returning (loss, aux...): grads are of the loss only.
  auto f = [](const std::vector<array>& x) {
    auto pred = x[0] * x[1];
    return std::vector<array>{sum(square(pred)), pred, array(7.0f)};
  };
  auto [outs, grads] = value_and_grad(f, 0)({array({1.0f, 2.0f}), array({3.0f, 1.0f})});
  ASSERT_EQ(outs.size(), 3u);
  EXPECT_TRUE(matches(outs[0], {}, {9 + 4}));
  EXPECT_TRUE(matches(outs[1], {2}, {3, 2}));
  EXPECT_TRUE(matches(outs[2], {}, {7}));
  EXPECT_TRUE(matches(grads[0], {2}, {2 * 3 * 3, 2 * 2 * 1}));
}

TEST(Compose, GradOfGrad) {
  // d2/dx2 sin(x) = -sin(x); d3/dx3 x^4 = 24 x.
  auto d2 = grad(grad([](const array& x) { return sin(x); }));
  EXPECT_TRUE(matches(d2(array(0.5f)), {}, {-std::sin(0.5)}, 1e-5));
  auto d3 = grad(grad(grad([](const array& x) { return x * x * x * x; })));
  EXPECT_TRUE(matches(d3(array(2.0f)), {}, {48}, 1e-5));
  // Mixed partials: d/dy d/dx (x^2 y^3) = 6 x y^2.
  auto dx = [](const std::vector<array>& v) { return grad([](const std::vector<array>& w) { return w[0] * w[0] * w[1] * w[1] * w[1]; }, 0)(v)[0]; };
  auto dydx = grad(dx, 1)({array(2.0f), array(3.0f)});
  EXPECT_TRUE(matches(dydx[0], {}, {6 * 2 * 9}, 1e-5));
}

TEST(Compose, VmapOfGradGivesPerExampleGradients) {
  // Per-example gradient of a squared-error loss w.r.t. the weights: 2 (w.x - y) x.
  auto w = array({0.5f, -1.0f, 2.0f});
  auto xs = mica::test::random_array({4, 3}, float32, -1, 1, 3);
  auto ys = mica::test::random_array({4}, float32, -1, 1, 4);
  auto loss = [](const std::vector<array>& a) { return square(sum(a[0] * a[1]) - a[2]); };
  auto per_example = vmap(grad(loss, 0), {-1, 0, 0});
  auto g = per_example({w, xs, ys})[0];
  ASSERT_EQ(g.shape(), Shape({4, 3}));
  auto xv = vals(xs), yv = vals(ys), wv = vals(w);
  std::vector<double> want;
  for (int i = 0; i < 4; ++i) {
    double r = -yv[i];
    for (int j = 0; j < 3; ++j) r += wv[j] * xv[i * 3 + j];
    for (int j = 0; j < 3; ++j) want.push_back(2 * r * xv[i * 3 + j]);
  }
  EXPECT_TRUE(matches(g, {4, 3}, want, 1e-5, 1e-5));
}

TEST(Compose, GradThroughVmap) {
  // sum over the batch of tanh(w * x_b): gradient w.r.t. w is sum_b x_b (1 - tanh^2).
  auto xs = array({0.1f, -0.4f, 0.7f});
  auto f = [xs](const array& w) {
    auto per = vmap([w](const array& x) { return tanh(w * x); });
    return sum(per(xs));
  };
  auto g = grad(f)(array(1.5f));
  double want = 0;
  for (double x : {0.1, -0.4, 0.7}) want += x * (1 - std::pow(std::tanh(1.5 * x), 2));
  EXPECT_TRUE(matches(g, {}, {want}, 1e-5));
}

TEST(Compose, JvpOfVjp) {
  // f(x) = x^3 elementwise; vjp gives 3 x^2 c; its jvp in x along u is 6 x u c.
  auto x = array({1.0f, 2.0f});
  auto c = array({1.0f, -1.0f});
  auto u = array({0.5f, 2.0f});
  auto vjp_fn = [c](const array& p) { return vjp([](const array& y) { return y * y * y; }, p, c).second; };
  auto [o, t] = jvp(vjp_fn, x, u);
  EXPECT_TRUE(matches(o, {2}, {3, -12}));
  EXPECT_TRUE(matches(t, {2}, {6 * 1 * 0.5 * 1, 6 * 2 * 2 * -1.0}));
}

TEST(Compose, VmapOfVmapAndAxes) {
  auto x = mica::test::random_array({2, 3, 4}, float32, -1, 1, 9);
  auto inner = vmap([](const array& r) { return sum(r * r); });  // over rows of a (3, 4) matrix
  auto outer = vmap(inner, 2, 1);                               // over the last axis of x
  auto got = outer(x);                                          // (2, 4): sum over axis 1
  auto want = sum(x * x, 1);
  EXPECT_TRUE(mica::test::all_close(vals(got), vals(want), 1e-5, 1e-6));
  EXPECT_EQ(got.shape(), Shape({2, 4}));
  // An unmapped output is broadcast along the batch.
  auto c = vmap([](const std::vector<array>& a) { return std::vector<array>{array(2.0f)}; }, {0}, {0})({x})[0];
  EXPECT_TRUE(matches(c, {2}, {2, 2}));
  // Two-argument form.
  auto mul = vmap([](const array& a, const array& b) { return a * b; }, 0, 1);
  auto m = mul(array({1.0f, 2.0f}, {2, 1}), array({3.0f, 4.0f}, {1, 2}));
  EXPECT_TRUE(matches(m, {2, 1}, {3, 8}));
}

TEST(Custom, CustomVjpReplacesTheGradient) {
  int calls = 0;
  auto f = custom_vjp([](const std::vector<array>& x) { return std::vector<array>{sin(x[0])}; },
                      [&calls](const std::vector<array>& primals, const std::vector<array>& cts,
                               const std::vector<array>& outs) {
                        ++calls;
                        // A deliberately different rule: 2 * cotangent * output.
                        return std::vector<array>{2.0f * cts[0] * outs[0]};
                      });
  auto x = array({0.3f, 1.0f});
  auto g = grad([&](const array& a) { return sum(f({a})[0]); })(x);
  EXPECT_TRUE(matches(g, {2}, {2 * std::sin(0.3), 2 * std::sin(1.0)}, 1e-5));
  EXPECT_EQ(calls, 1);
  // The forward value is the function's.
  EXPECT_TRUE(matches(f({x})[0], {2}, {std::sin(0.3), std::sin(1.0)}, 1e-6));
  // jvp and vmap fall back to the function itself.
  auto [o, t] = jvp([&](const array& a) { return f({a})[0]; }, x, array({1.0f, 1.0f}));
  EXPECT_TRUE(matches(t, {2}, {std::cos(0.3), std::cos(1.0)}, 1e-5));
  auto v = vmap([&](const array& a) { return f({a})[0]; })(array({0.3f, 1.0f}, {2, 1}));
  EXPECT_TRUE(matches(v, {2, 1}, {std::sin(0.3), std::sin(1.0)}, 1e-6));
}

TEST(Custom, CustomFunctionJvpAndVmapOverrides) {
  bool jvp_called = false, vmap_called = false;
  auto f = custom_function(
      [](const std::vector<array>& x) { return std::vector<array>{x[0] * 3.0f}; }, std::nullopt,
      [&](const std::vector<array>& primals, const std::vector<array>& tangents, const std::vector<int>& argnums) {
        jvp_called = true;
        EXPECT_EQ(argnums, std::vector<int>({0}));
        return std::vector<array>{tangents[0] * 10.0f};
      },
      [&](const std::vector<array>& inputs, const std::vector<int>& axes) {
        vmap_called = true;
        return std::make_pair(std::vector<array>{inputs[0] * 100.0f}, std::vector<int>{axes[0]});
      });
  auto x = array({1.0f, 2.0f});
  auto [o, t] = jvp([&](const array& a) { return f({a})[0]; }, x, array({1.0f, 1.0f}));
  EXPECT_TRUE(jvp_called);
  EXPECT_TRUE(matches(o, {2}, {3, 6}));
  EXPECT_TRUE(matches(t, {2}, {10, 10}));
  auto v = vmap([&](const array& a) { return f({a})[0]; })(x);
  EXPECT_TRUE(vmap_called);
  EXPECT_TRUE(matches(v, {2}, {100, 200}));
  // No vjp override: the gradient is the function's own.
  auto g = grad([&](const array& a) { return sum(f({a})[0]); })(x);
  EXPECT_TRUE(matches(g, {2}, {3, 3}));
}

TEST(Custom, BadCustomVjpIsReported) {
  auto f = custom_vjp([](const std::vector<array>& x) { return std::vector<array>{x[0] + x[1]}; },
                      [](const std::vector<array>&, const std::vector<array>& cts, const std::vector<array>&) {
                        return std::vector<array>{cts[0]};  // one cotangent for two arguments
                      });
  auto loss = [&](const std::vector<array>& a) { return sum(f(a)[0]); };
  EXPECT_TRUE(throws_op<std::invalid_argument>("custom_vjp", [&] { grad(loss, {0, 1})({array({1.0f}), array({2.0f})}); }));
}

namespace {
array mlp(const std::vector<array>& params, array h) {
  for (auto& w : params) h = maximum(matmul(h, w), array(0.0f)) + 0.01f * h;
  return h;
}
}  // namespace

TEST(Checkpoint, SameGradientsAsWithout) {
  std::vector<array> ws;
  for (int i = 0; i < 4; ++i) ws.push_back(mica::test::random_array({8, 8}, float32, -0.5, 0.5, 40 + i));
  auto x = mica::test::random_array({5, 8}, float32, -1, 1, 50);
  auto plain = [&](const std::vector<array>& p) { return sum(square(mlp(p, x))); };
  auto block = checkpoint([&](const std::vector<array>& p) { return std::vector<array>{mlp(p, x)}; });
  auto ckpt = [&](const std::vector<array>& p) { return sum(square(block(p)[0])); };
  std::vector<int> all = {0, 1, 2, 3};
  auto g1 = grad(plain, all)(ws);
  auto g2 = grad(ckpt, all)(ws);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(mica::test::all_close(vals(g2[i]), vals(g1[i]), 1e-5, 1e-6)) << i;
}

// The recomputation runs in the mixed precision of the forward call, whose Autocast scope has
// ended when the backward pass is built (as in a training step): the same bfloat16 products, so
// the same gradients as without checkpointing.
TEST(Checkpoint, RecomputesUnderTheForwardsAutocast) {
  std::vector<array> ws;
  for (int i = 0; i < 3; ++i) ws.push_back(mica::test::random_array({16, 16}, float32, -0.5, 0.5, 60 + i));
  auto x = mica::test::random_array({5, 16}, float32, -1, 1, 70);
  auto block = checkpoint([&](const std::vector<array>& p) { return std::vector<array>{mlp(p, x)}; });
  auto plain = [&](const std::vector<array>& p) {
    Autocast scope(bfloat16);
    return sum(square(mlp(p, x)));
  };
  auto ckpt = [&](const std::vector<array>& p) {
    Autocast scope(bfloat16);
    return sum(square(block(p)[0]));
  };
  std::vector<int> all = {0, 1, 2};
  auto g1 = grad(plain, all)(ws);
  auto g2 = grad(ckpt, all)(ws);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(mica::test::all_close(vals(g2[i]), vals(g1[i]), 0, 0)) << i;
}

TEST(Checkpoint, ComposesWithHigherOrderTransforms) {
  // f(x) = sum(sin(x)^2) through a checkpointed block: grad of grad, jvp of grad and vmap of
  // grad recompute through the depends node.
  auto block = checkpoint([](const std::vector<array>& v) { return std::vector<array>{square(sin(v[0]))}; });
  auto f = [&](const array& x) { return sum(block({x})[0]); };
  auto x = array({0.3f, -0.8f, 1.1f});
  auto xv = vals(x);
  // d/dx sin^2 = sin 2x; d2/dx2 = 2 cos 2x (diagonal Hessian).
  auto g = grad(f);
  EXPECT_TRUE(matches(g(x), {3}, {std::sin(0.6), std::sin(-1.6), std::sin(2.2)}, 1e-5, 1e-6));
  auto hess_diag_sum = grad([&](const array& y) { return sum(g(y)); })(x);
  EXPECT_TRUE(matches(hess_diag_sum, {3}, {2 * std::cos(0.6), 2 * std::cos(-1.6), 2 * std::cos(2.2)}, 1e-5, 1e-5));
  auto [gx, hv] = jvp(g, x, array({1.0f, 0.0f, 2.0f}));
  EXPECT_TRUE(matches(hv, {3}, {2 * std::cos(0.6), 0, 4 * std::cos(2.2)}, 1e-5, 1e-5));
  auto per_row = vmap(g)(array({0.3f, -0.8f, 1.1f, 0.5f, 0.2f, -0.1f}, {2, 3}));
  EXPECT_TRUE(matches(per_row, {2, 3},
                      {std::sin(0.6), std::sin(-1.6), std::sin(2.2), std::sin(1.0), std::sin(0.4), std::sin(-0.2)},
                      1e-5, 1e-6));
  (void)xv;
}

TEST(Memory, BackwardReleasesActivationsAsItWalks) {
  // A 100-layer MLP: the peak while evaluating its gradient is bounded by the weights' grads
  // plus a small multiple of the forward's activations.
  const int L = 100, B = 256, H = 64;
  std::vector<array> ws;
  for (int i = 0; i < L; ++i) ws.push_back(mica::test::random_array({H, H}, float32, -0.2, 0.2, 100 + i));
  auto x = mica::test::random_array({B, H}, float32, -1, 1, 7);
  eval(ws);
  eval(x);
  std::vector<int> all(L);
  for (int i = 0; i < L; ++i) all[i] = i;
  auto loss = [&](const std::vector<array>& p) { return sum(mlp(p, x)); };
  size_t act_layer = size_t(B) * H * sizeof(float);
  size_t activations = act_layer * L;            // the layer outputs of the forward
  size_t grads_bytes = size_t(H) * H * sizeof(float) * L;

  // The forward alone keeps no activations; measure its peak for reference (after one untimed
  // forward, so that on a GPU the weights' device copies exist before the measurement).
  eval(loss(ws));
  reset_peak_memory();
  size_t base = get_active_memory();
  {
    auto out = loss(ws);
    eval(out);
  }
  size_t forward_peak = get_peak_memory() - base;

  reset_peak_memory();
  base = get_active_memory();
  size_t grad_peak;
  {
    auto g = grad(loss, all)(ws);
    eval(g);
    grad_peak = get_peak_memory() - base;
  }
  std::printf("activations %.1f MB, grads %.1f MB, forward peak %.1f MB, backward peak %.1f MB (%.2fx activations "
              "beyond the grads)\n",
              activations / 1e6, grads_bytes / 1e6, forward_peak / 1e6, grad_peak / 1e6,
              (double(grad_peak) - double(grads_bytes)) / double(activations));
  EXPECT_LT(grad_peak, grads_bytes + 3 * activations);
  EXPECT_LT(forward_peak, 10 * act_layer);
}

TEST(Errors, GradAndVmapBadInput) {
  auto f = [](const std::vector<array>& x) { return x[0] * x[1]; };
  auto a = array({1.0f, 2.0f});
  // Non-scalar output.
  EXPECT_TRUE(throws_op<std::invalid_argument>("grad", [&] { grad(f, 0)({a, a}); }));
  // argnums out of range, negative, repeated, empty.
  auto s = [](const std::vector<array>& x) { return sum(x[0] * x[1]); };
  EXPECT_TRUE(throws_op<std::invalid_argument>("grad", [&] { grad(s, 2)({a, a}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("grad", [&] { grad(s, -1)({a, a}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("grad", [&] { grad(s, {0, 0})({a, a}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("grad", [&] { grad(s, std::vector<int>{})({a, a}); }));
  // vjp/jvp with mismatched cotangents/tangents.
  auto g = [](const std::vector<array>& x) { return std::vector<array>{x[0] * 2.0f}; };
  EXPECT_TRUE(throws_op<std::invalid_argument>("vjp", [&] { vjp(g, {a}, {array(1.0f)}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("vjp", [&] { vjp(g, {a}, {a, a}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("jvp", [&] { jvp(g, {a}, {array({1.0f, 2.0f, 3.0f})}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("jvp", [&] { jvp(g, {a}, {}); }));
  // vmap: axis out of range, batch sizes that disagree, nothing mapped, wrong in_axes count,
  // output axis out of range, evaluating a traced input.
  auto h = [](const std::vector<array>& x) { return std::vector<array>{x[0] + x[1]}; };
  auto m = array({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}, {3, 2});
  EXPECT_TRUE(throws_op<std::invalid_argument>("vmap", [&] { vmap(h, {2, 0})({m, m}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("vmap", [&] { vmap(h, {0, 1})({m, m}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("vmap", [&] { vmap(h, {-1, -1})({m, m}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("vmap", [&] { vmap(h, {0})({m, m}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("vmap", [&] { vmap(h, {0, 0}, {3})({m, m}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("vmap", [&] { vmap(h, {0, 0}, {0, 0})({m, m}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("eval", [&] {
    vmap([](const array& x) { return array(sum(x).item<float>()); })(m);
  }));
}

// Out-of-range in_axes / out_axes entries, negative or positive, in every vmap form, are
// std::invalid_argument before anything is traced or evaluated; in-range negative axes count
// from the end (-1 alone means "not mapped").
TEST(Errors, VmapAxesOutOfRange) {
  auto h = [](const std::vector<array>& x) { return std::vector<array>{x[0] * 2.0f}; };
  auto m = array({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f}, {3, 2});
  for (int ax : {2, 3, -3, 100, INT32_MAX, INT32_MIN}) {
    EXPECT_TRUE(throws_op<std::invalid_argument>("vmap", [&] { vmap(h, {ax})({m}); })) << ax;
    EXPECT_TRUE(throws_op<std::invalid_argument>("vmap", [&] { vmap([](const array& x) { return -x; }, ax, 0)(m); }))
        << ax;
    EXPECT_TRUE(throws_op<std::invalid_argument>(
        "vmap", [&] { vmap([](const array& a, const array& b) { return a + b; }, 0, ax)(m, m); }))
        << ax;
  }
  // The batched output has 2 dimensions: out axes in [-2, 2).
  for (int ax : {2, -3, 50, INT32_MAX, INT32_MIN}) {
    EXPECT_TRUE(throws_op<std::invalid_argument>("vmap", [&] { vmap(h, {0}, {ax})({m}); })) << ax;
    EXPECT_TRUE(throws_op<std::invalid_argument>("vmap", [&] { vmap([](const array& x) { return -x; }, 0, ax)(m); }))
        << ax;
  }
  // A scalar input has no axis to map; an unmapped scalar output gains only the batch axis.
  EXPECT_TRUE(throws_op<std::invalid_argument>("vmap", [&] { vmap(h, {0})({array(1.0f)}); }));
  auto c = [](const std::vector<array>&) { return std::vector<array>{array(1.0f)}; };
  EXPECT_TRUE(throws_op<std::invalid_argument>("vmap", [&] { vmap(c, {0}, {1})({m}); }));
  EXPECT_TRUE(matches(vmap(c, {0}, {-1})({m})[0], {3}, {1, 1, 1}));
  // In range: -2 is axis 0 of the input; out axis -1 puts the batch last.
  EXPECT_TRUE(matches(vmap(h, {-2}, {-1})({m})[0], {2, 3}, {2, 6, 10, 4, 8, 12}));
  EXPECT_TRUE(matches(vmap(h, {1}, {0})({m})[0], {2, 3}, {2, 6, 10, 4, 8, 12}));
}
