// Transform rules of the fused ops (LayerNorm and RMSNorm with and without weight and bias, their
// fused backward nodes LayerNormVjp and RMSNormVjp, GELU, Rope, AdamStep, cross-entropy and its
// backward node CrossEntropyVjp): vjp vs finite differences
// for x, weight and bias, jvp/vjp adjoint, vmap vs loop (x batched, parameters batched, both);
// direct checks against the composition of plain ops.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>

#include "mica/primitives/fused.h"
#include "reference/reference.h"
#include "reference/transform_checks.h"

using namespace mica;
using mica::test::GradCase;

namespace {
std::vector<GradCase> cases() {
  std::vector<GradCase> c;
  for (Shape xs : {Shape{2, 3, 4}, Shape{5}}) {
    std::string tag = xs.size() == 1 ? "_1d" : "_3d";
    Shape ws{xs.back()};
    c.push_back({"layer_norm" + tag,
                 [](const std::vector<array>& x) { return fast::layer_norm(x[0], std::nullopt, std::nullopt, 1e-5f); },
                 {xs}});
    c.push_back({"layer_norm_weight" + tag,
                 [](const std::vector<array>& x) { return fast::layer_norm(x[0], x[1], std::nullopt, 1e-5f); },
                 {xs, ws}});
    c.push_back({"layer_norm_bias" + tag,
                 [](const std::vector<array>& x) { return fast::layer_norm(x[0], std::nullopt, x[1], 1e-5f); },
                 {xs, ws}});
    c.push_back({"layer_norm_weight_bias" + tag,
                 [](const std::vector<array>& x) { return fast::layer_norm(x[0], x[1], x[2], 1e-5f); },
                 {xs, ws, ws}});
    c.push_back({"rms_norm" + tag, [](const std::vector<array>& x) { return fast::rms_norm(x[0], std::nullopt, 1e-5f); },
                 {xs}});
    c.push_back({"rms_norm_weight" + tag, [](const std::vector<array>& x) { return fast::rms_norm(x[0], x[1], 1e-5f); },
                 {xs, ws}});
  }
  // A large eps changes the result noticeably: checks that the rules use it.
  c.push_back({"layer_norm_big_eps", [](const std::vector<array>& x) { return fast::layer_norm(x[0], x[1], x[2], 0.5f); },
               {{3, 4}, {4}, {4}}});
  c.push_back({"rms_norm_big_eps", [](const std::vector<array>& x) { return fast::rms_norm(x[0], x[1], 0.5f); },
               {{3, 4}, {4}}});
  // The weight only (x fixed), so vmap maps the parameters alone.
  c.push_back({"layer_norm_params_only",
               [](const std::vector<array>& x) {
                 array xs = mica::test::random_array({2, 4}, float64, -2, 2, 77);
                 return fast::layer_norm(xs, x[0], x[1], 1e-5f);
               },
               {{4}, {4}}});
  // LayerNorm's fused backward node (LayerNormVjp): a function of x, weight, bias and the
  // cotangent that returns its three cotangents, so its own rules run (grad of grad).
  c.push_back({"layer_norm_vjp",
               [](const std::vector<array>& x) {
                 auto ln = [](const std::vector<array>& a) {
                   return std::vector<array>{fast::layer_norm(a[0], a[1], a[2], 1e-5f)};
                 };
                 auto ct = vjp(ln, {x[0], x[1], x[2]}, {x[3]}).second;
                 return ct[0] + ct[1] * 2.0 + ct[2] * 3.0;
               },
               {{2, 3, 4}, {4}, {4}, {2, 3, 4}}});
  c.push_back({"layer_norm_vjp_no_weight",
               [](const std::vector<array>& x) {
                 auto ln = [](const std::vector<array>& a) {
                   return std::vector<array>{fast::layer_norm(a[0], std::nullopt, std::nullopt, 1e-5f)};
                 };
                 return vjp(ln, {x[0]}, {x[1]}).second[0];
               },
               {{3, 5}, {3, 5}}});
  // RMSNorm's fused backward node (RMSNormVjp), the same way.
  c.push_back({"rms_norm_vjp",
               [](const std::vector<array>& x) {
                 auto rn = [](const std::vector<array>& a) {
                   return std::vector<array>{fast::rms_norm(a[0], a[1], 1e-5f)};
                 };
                 auto ct = vjp(rn, {x[0], x[1]}, {x[2]}).second;
                 return ct[0] + ct[1] * 2.0;
               },
               {{2, 3, 4}, {4}, {2, 3, 4}}});
  c.push_back({"rms_norm_vjp_no_weight",
               [](const std::vector<array>& x) {
                 auto rn = [](const std::vector<array>& a) {
                   return std::vector<array>{fast::rms_norm(a[0], std::nullopt, 1e-5f)};
                 };
                 return vjp(rn, {x[0]}, {x[1]}).second[0];
               },
               {{3, 5}, {3, 5}}});
  // GELU, and its derivative (the Gelu node of order 1 its backward pass makes): the function
  // x -> d/dx sum(gelu(x)) runs the rules of the order-1 node.
  c.push_back({"gelu", [](const std::vector<array>& x) { return fast::gelu(x[0]); }, {{3, 4}}, -4, 4});
  c.push_back({"gelu_derivative",
               [](const std::vector<array>& x) { return grad([](const array& a) { return sum(fast::gelu(a)); })(x[0]); },
               {{3, 4}}, -4, 4});
  // The fused backward node g gelu'(x) (Gelu of order 1 with the cotangent as second input),
  // differentiated in both inputs; vmap with one input unbatched takes its composition.
  c.push_back({"gelu_vjp",
               [](const std::vector<array>& x) {
                 auto f = [](const std::vector<array>& a) { return std::vector<array>{fast::gelu(a[0])}; };
                 return vjp(f, {x[0]}, {x[1]}).second[0];
               },
               {{3, 4}, {3, 4}}, -4, 4});
  // Rope: part of the features turned (pairs split in halves), every feature turned (adjacent
  // pairs, one offset per batch entry: vmap moves the mapped axis behind the first), freqs.
  c.push_back({"rope", [](const std::vector<array>& x) { return fast::rope(x[0], 4, false, 10000.0f, 1.0f, 2); },
               {{2, 3, 6}}});
  c.push_back({"rope_traditional_offsets",
               [](const std::vector<array>& x) { return fast::rope(x[0], 6, true, 100.0f, 0.5f, array({1, 5})); },
               {{2, 3, 6}}});
  c.push_back({"rope_freqs",
               [](const std::vector<array>& x) {
                 return fast::rope(x[0], 4, false, std::nullopt, 1.0f, 0, array({1.0f, 4.0f}));
               },
               {{2, 2, 4}}});
  // AdamStep: all three outputs reach the result, so every input gets a cotangent; coef is
  // differentiated too (the learning rate, as in meta-learning).
  c.push_back({"adam_step",
               [](const std::vector<array>& x) {
                 auto r = fast::adam_step(x[0], x[1], x[2], abs(x[3]) + 0.5, x[4], 0.9, 0.99, 1e-3);
                 return r[0] + r[1] * 2.0 + r[2] * 3.0;
               },
               {{2, 3}, {2, 3}, {2, 3}, {2, 3}, {3}}, 0.2, 1.0});
  // Fused cross-entropy (targets fixed: one of them negative, one past the last class), with and
  // without label smoothing, and its backward node (CrossEntropyVjp) under grad of grad.
  c.push_back({"cross_entropy",
               [](const std::vector<array>& x) { return fast::cross_entropy(x[0], array({0, 4, -2})); }, {{3, 5}}});
  c.push_back({"cross_entropy_smooth_3d",
               [](const std::vector<array>& x) {
                 return fast::cross_entropy(x[0], array({1, 3, 0, 9, 2, -1}, {2, 3}), 0.2f);
               },
               {{2, 3, 4}}});
  c.push_back({"cross_entropy_vjp",
               [](const std::vector<array>& x) {
                 auto ce = [](const std::vector<array>& a) {
                   return std::vector<array>{fast::cross_entropy(a[0], array({2, 0, 1}), 0.1f)};
                 };
                 return vjp(ce, {x[0]}, {x[1]}).second[0];
               },
               {{3, 4}, {3}}});
  return c;
}
const std::vector<GradCase> kFused = cases();

// The norms as compositions of plain ops, for the direct checks.
array layer_norm_ref(const array& x, const array& w, const array& b, double eps) {
  array d = x - mean(x, -1, true);
  return d * rsqrt(mean(square(d), -1, true) + eps) * w + b;
}
array rms_norm_ref(const array& x, const array& w, double eps) {
  return x * rsqrt(mean(square(x), -1, true) + eps) * w;
}
}  // namespace

class FusedRules : public mica::test::GradRules {};
MICA_GRAD_RULE_TESTS(FusedRules, kFused);

TEST(FusedRulesDirect, GradientsMatchTheComposition) {
  array x = mica::test::random_array({3, 6}, float64, -2, 2, 1);
  array w = mica::test::random_array({6}, float64, -2, 2, 2);
  array b = mica::test::random_array({6}, float64, -2, 2, 3);
  array v = mica::test::random_array({3, 6}, float64, -1, 1, 4);
  auto fused_ln = [](const std::vector<array>& a) {
    return std::vector<array>{fast::layer_norm(a[0], a[1], a[2], 1e-3f)};
  };
  auto ref_ln = [](const std::vector<array>& a) { return std::vector<array>{layer_norm_ref(a[0], a[1], a[2], 1e-3f)}; };
  auto got = vjp(fused_ln, {x, w, b}, {v}).second;
  auto want = vjp(ref_ln, {x, w, b}, {v}).second;
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(got[i].shape(), want[i].shape());
    EXPECT_TRUE(mica::test::all_close(mica::test::to_vector(got[i]), mica::test::to_vector(want[i]), 1e-10, 1e-12))
        << "input " << i;
  }
  auto fused_rms = [](const std::vector<array>& a) { return std::vector<array>{fast::rms_norm(a[0], a[1], 1e-3f)}; };
  auto ref_rms = [](const std::vector<array>& a) { return std::vector<array>{rms_norm_ref(a[0], a[1], 1e-3f)}; };
  auto got_r = vjp(fused_rms, {x, w}, {v}).second;
  auto want_r = vjp(ref_rms, {x, w}, {v}).second;
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(mica::test::all_close(mica::test::to_vector(got_r[i]), mica::test::to_vector(want_r[i]), 1e-10, 1e-12))
        << "input " << i;
  }
}

TEST(FusedRulesDirect, Float32GradientsAndSecondOrder) {
  // float32 inputs keep their dtype through the rules.
  array x = mica::test::random_array({2, 5}, float32, -2, 2, 5);
  array w = mica::test::random_array({5}, float32, -2, 2, 6);
  auto g = grad([](const std::vector<array>& a) { return sum(square(fast::rms_norm(a[0], a[1], 1e-5f))); }, {0, 1})(
      {x, w});
  EXPECT_EQ(g[0].dtype(), float32);
  EXPECT_EQ(g[1].dtype(), float32);
  // Second order: the Hessian-vector product of the composition and of the fused op agree.
  array x64 = astype(x, float64), u = mica::test::random_array({2, 5}, float64, -1, 1, 8);
  auto hvp = [&](auto norm) {
    return grad([&](const array& a) { return sum(grad([&](const array& b) { return sum(sin(norm(b))); })(a) * u); })(
        x64);
  };
  array wb = astype(w, float64), bb = mica::test::random_array({5}, float64, -2, 2, 9);
  auto got = hvp([&](const array& a) { return fast::layer_norm(a, wb, bb, 1e-5f); });
  auto want = hvp([&](const array& a) { return layer_norm_ref(a, wb, bb, 1e-5f); });
  EXPECT_TRUE(mica::test::all_close(mica::test::to_vector(got), mica::test::to_vector(want), 1e-9, 1e-10));
}

TEST(FusedRulesDirect, LayerNormBackwardInLowPrecision) {
  // The fused backward computes rows in float (halves) and matches the composition.
  for (Dtype dt : {float32, float16, bfloat16}) {
    array x = astype(mica::test::random_array({5, 64}, float32, -2, 2, 12), dt);
    array w = astype(mica::test::random_array({64}, float32, -2, 2, 13), dt);
    array v = astype(mica::test::random_array({5, 64}, float32, -1, 1, 14), dt);
    auto fused = [](const std::vector<array>& a) { return std::vector<array>{fast::layer_norm(a[0], a[1], a[1], 1e-5f)}; };
    auto got = vjp(fused, {x, w}, {v}).second;
    auto want = vjp([](const std::vector<array>& a) { return std::vector<array>{layer_norm_ref(a[0], a[1], a[1], 1e-5)}; },
                    {astype(x, float64), astype(w, float64)}, {astype(v, float64)})
                    .second;
    double tol = dt == float32 ? 1e-4 : dt == float16 ? 2e-2 : 1e-1;
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(got[i].dtype(), dt);
      EXPECT_TRUE(mica::test::all_close(mica::test::to_vector(got[i]), mica::test::to_vector(want[i]), tol, tol))
          << dt << " input " << i;
    }
  }
}

// RMSNormVjp's outputs against the gradient of the composition of plain ops (float64), over
// dtypes, with and without a weight, 1-d to 3-d inputs, rows long enough to be split among
// threads, and no rows at all (dweight is then zero).
TEST(FusedRulesDirect, RMSNormVjpMatchesTheComposition) {
  for (Dtype dt : {float64, float32, float16, bfloat16}) {
    for (Shape xs : {Shape{7}, Shape{3, 6}, Shape{2, 3, 5}, Shape{300, 40}, Shape{0, 4}}) {
      const int n = xs.back();
      array x = astype(mica::test::random_array(xs, float32, -2, 2, 21), dt);
      array w = astype(mica::test::random_array({n}, float32, -2, 2, 22), dt);
      array v = astype(mica::test::random_array(xs, float32, -1, 1, 23), dt);
      for (bool has_w : {true, false}) {
        std::vector<array> prim{x};
        if (has_w) prim.push_back(w);
        auto fused = [&](const std::vector<array>& a) {
          return std::vector<array>{fast::rms_norm(a[0], has_w ? std::optional<array>(a[1]) : std::nullopt, 1e-5f)};
        };
        auto ref = [&](const std::vector<array>& a) {
          return std::vector<array>{rms_norm_ref(a[0], has_w ? a[1] : ones({n}, float64), 1e-5)};
        };
        std::vector<array> prim64;
        for (const auto& p : prim) prim64.push_back(astype(p, float64));
        auto got = vjp(fused, prim, {v}).second;
        auto want = vjp(ref, prim64, {astype(v, float64)}).second;
        double tol = dt == float64 ? 1e-10 : dt == float32 ? 1e-4 : dt == float16 ? 2e-2 : 1e-1;
        for (size_t i = 0; i < got.size(); ++i) {
          EXPECT_EQ(got[i].dtype(), dt);
          EXPECT_EQ(got[i].shape(), prim[i].shape());
          // dweight sums over the rows: its tolerance grows with their number.
          double t = i == 1 ? tol * std::max(1.0, std::sqrt(xs.size() > 1 ? double(xs[0]) : 1.0)) : tol;
          EXPECT_TRUE(mica::test::all_close(mica::test::to_vector(got[i]), mica::test::to_vector(want[i]), t, t))
              << dt << " " << xs.size() << "-d n=" << n << (has_w ? " weight" : "") << " output " << i;
        }
      }
    }
  }
  // The node itself, called on both outputs: dweight without a weight is the gradient of a unit
  // weight, sum over rows of g x r.
  array x = mica::test::random_array({4, 6}, float64, -2, 2, 24);
  array g = mica::test::random_array({4, 6}, float64, -1, 1, 25);
  auto outs = array::make_arrays({{4, 6}, {6}}, {float64, float64},
                                 std::make_shared<RMSNormVjp>(default_stream(default_device()), 1e-5f, false), {x, g});
  auto want = vjp([](const std::vector<array>& a) { return std::vector<array>{rms_norm_ref(a[0], a[1], 1e-5)}; },
                  {x, ones({6}, float64)}, {g})
                  .second;
  EXPECT_TRUE(mica::test::all_close(mica::test::to_vector(outs[0]), mica::test::to_vector(want[0]), 1e-10, 1e-12));
  EXPECT_TRUE(mica::test::all_close(mica::test::to_vector(outs[1]), mica::test::to_vector(want[1]), 1e-10, 1e-12));
}

TEST(FusedRulesDirect, PerExampleWeightGradients) {
  // vmap of grad over a batch of inputs with a shared weight.
  array xs = mica::test::random_array({4, 3, 5}, float64, -2, 2, 10);
  array w = mica::test::random_array({5}, float64, -2, 2, 11);
  auto loss = [](const std::vector<array>& a) { return sum(square(fast::layer_norm(a[0], a[1], std::nullopt, 1e-5f))); };
  auto per = vmap(
      [&](const std::vector<array>& a) { return grad(loss, 1)(a); }, {0, -1})({xs, w})[0];
  ASSERT_EQ(per.shape(), Shape({4, 5}));
  for (int b = 0; b < 4; ++b) {
    auto one = grad(loss, 1)({take(xs, b, 0), w})[0];
    EXPECT_TRUE(mica::test::all_close(mica::test::to_vector(take(per, b, 0)), mica::test::to_vector(one), 1e-12, 1e-12));
  }
}

// The fused cross-entropy against the composition lse(x) - (1 - s) x[t] - s mean(x), forward
// and gradient, in float64 and in bfloat16; targets batched under vmap.
namespace {
testing::AssertionResult close(const array& got, const array& want, double rtol, double atol) {
  if (got.shape() != want.shape()) return testing::AssertionFailure() << "shapes differ";
  return mica::test::all_close(mica::test::to_vector(got), mica::test::to_vector(want), rtol, atol);
}
}  // namespace

TEST(FusedRulesDirect, CrossEntropyMatchesTheComposition) {
  array t = array({3, 0, 6, -7, 2, 5}, {2, 3});  // -7 counts from the end (0), 6 clamps to 4
  array tc = array({3, 0, 4, 0, 2, 4}, {2, 3});
  for (float s : {0.0f, 0.3f}) {
    auto ref = [&](const array& x) {
      array xt = squeeze(take_along_axis(x, expand_dims(tc, -1), -1), -1);
      return logsumexp(x, -1) - xt * (1.0 - s) - mean(x, -1) * static_cast<double>(s);
    };
    array x = mica::test::random_array({2, 3, 5}, float64, -3, 3, 7);
    EXPECT_TRUE(close(fast::cross_entropy(x, t, s), ref(x), 1e-12, 1e-12)) << s;
    auto g = grad([&](const array& a) { return sum(fast::cross_entropy(a, t, s) * reshape(arange(6.0), {2, 3})); })(x);
    auto gr = grad([&](const array& a) { return sum(ref(a) * reshape(arange(6.0), {2, 3})); })(x);
    EXPECT_TRUE(close(g, gr, 1e-12, 1e-12)) << s;
    array xb = astype(x, bfloat16);
    array lb = fast::cross_entropy(xb, t, s);
    EXPECT_EQ(lb.dtype(), bfloat16);
    EXPECT_TRUE(close(astype(lb, float64), ref(astype(xb, float64)), 2e-2, 2e-2)) << s;
  }
  // Targets batched (and logits not): each batch element against its own targets.
  array x = mica::test::random_array({3, 5}, float64, -3, 3, 8);
  array tb = array({0, 1, 2, 4, 3, 2}, {2, 3});
  array out = vmap([&](const std::vector<array>& a) { return std::vector<array>{fast::cross_entropy(x, a[0])}; },
                   {0})({tb})[0];
  for (int b = 0; b < 2; ++b) {
    array tt = squeeze(slice(tb, {b, 0}, {b + 1, 3}), 0);
    EXPECT_TRUE(close(squeeze(slice(out, {b, 0}, {b + 1, 3}), 0), fast::cross_entropy(x, tt), 1e-12,
                                    1e-12));
  }
  // An infinite logit makes its row's loss infinite (lse - x[t] with lse = inf, as MLX's
  // logsumexp - take_along_axis composition gives); other rows are untouched.
  array xi = array({1.0, std::numeric_limits<double>::infinity(), 2.0, 0.5, 0.25, 3.0}, {2, 3}, float64);
  auto li = mica::test::to_vector(fast::cross_entropy(xi, array({0, 1})));
  EXPECT_TRUE(std::isinf(li[0]) && li[0] > 0);
  EXPECT_NEAR(li[1], std::log(std::exp(0.5) + std::exp(0.25) + std::exp(3.0)) - 0.25, 1e-12);
}

TEST(FusedRulesDirect, BadInput) {
  array x = ones({2, 4}, float64);
  // A weight batched with a size that disagrees with x's batch.
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>("vmap", [&] {
    vmap([](const std::vector<array>& a) { return std::vector<array>{fast::rms_norm(a[0], a[1], 1e-5f)}; })(
        {x, ones({3, 4}, float64)});
  }));
  // Per batch element the weight has the wrong size.
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>("layer_norm", [&] {
    vmap([](const std::vector<array>& a) {
      return std::vector<array>{fast::layer_norm(a[0], a[1], std::nullopt, 1e-5f)};
    })({x, ones({2, 3}, float64)});
  }));
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>("grad", [&] {
    grad([](const array& a) { return fast::rms_norm(a, std::nullopt, 1e-5f); })(x);
  }));
  using mica::test::throws_op;
  EXPECT_TRUE(throws_op<std::invalid_argument>("cross_entropy", [&] { fast::cross_entropy(x, array({1, 2, 3})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("cross_entropy", [&] { fast::cross_entropy(x, array({1.0f, 2.0f})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("cross_entropy", [&] { fast::cross_entropy(x, array({1, 2}), 1.0f); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("cross_entropy", [&] { fast::cross_entropy(ones({2, 0}), array({0, 0})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("cross_entropy", [&] { fast::cross_entropy(array(1.0f), array(0)); }));
}
