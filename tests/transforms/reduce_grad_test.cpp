// Transform rules of the reduce family (Reduce, ArgReduce, Scan, Softmax, LogSumExp, Variance):
// vjp vs finite differences, jvp/vjp adjoint and vmap vs loop over many axes and flags; direct
// checks of ties (against MLX's values), zeros in products, integer outputs and compositions.
#include <gtest/gtest.h>

#include <cmath>

#include "reference/reference.h"
#include "reference/transform_checks.h"

using namespace mica;
using mica::test::GradCase;
using mica::test::matches;

namespace {
using Fn = std::function<array(const std::vector<array>&)>;

// x * f(x) where f(x) is an integer (or boolean) function of x turned into float64: the value
// depends on the integer op, the gradient flows only through the first factor.
Fn weighted(std::function<array(const array&)> f) {
  return [f](const std::vector<array>& x) { return x[0] * astype(f(x[0]), float64); };
}

std::vector<GradCase> reduce_cases() {
  std::vector<GradCase> c;
  // Sum, prod, max, min, mean over all axes, one axis, negative axes, several axes, keepdims.
  using Red = array (*)(const array&, const std::vector<int>&, bool, StreamOrDevice);
  for (auto [name, op] : std::vector<std::pair<std::string, Red>>{{"sum", sum}, {"prod", prod}, {"max", max},
                                                                  {"min", min}, {"mean", mean}}) {
    c.push_back({name + "_all", [op](const std::vector<array>& x) { return op(x[0], {0, 1}, false, {}); }, {{2, 3}}});
    c.push_back({name + "_axis0", [op](const std::vector<array>& x) { return op(x[0], {0}, false, {}); }, {{2, 3, 4}}});
    c.push_back({name + "_neg_axis", [op](const std::vector<array>& x) { return op(x[0], {-1}, false, {}); }, {{3, 4}}});
    c.push_back({name + "_axes02_keep", [op](const std::vector<array>& x) { return op(x[0], {0, 2}, true, {}); },
                 {{2, 3, 4}}});
    c.push_back({name + "_axes_neg", [op](const std::vector<array>& x) { return op(x[0], {-2, -1}, false, {}); },
                 {{2, 3, 2}}});
  }
  c.push_back({"sum_scalar_all", [](const std::vector<array>& x) { return sum(x[0]); }, {{5}}});
  c.push_back({"prod_long_axis", [](const std::vector<array>& x) { return prod(x[0], 1); }, {{2, 7}}, 0.5, 1.5});
  // all / any reach Reduce(And/Or): boolean outputs, no gradient.
  c.push_back({"all_axis", weighted([](const array& x) { return all(x > -1.5, -1, true); }), {{3, 4}}});
  c.push_back({"any_axes", weighted([](const array& x) { return any(x > 1.0, {0, 2}, true); }), {{2, 3, 4}}});
  c.push_back({"all_flat", weighted([](const array& x) { return all(x > -1.9); }), {{2, 3}}});
  // argmax / argmin: integer outputs.
  c.push_back({"argmax_axis1", weighted([](const array& x) { return argmax(x, 1, true); }), {{2, 3, 4}}});
  c.push_back({"argmin_axis0", weighted([](const array& x) { return argmin(x, 0, true); }), {{3, 4}}});
  c.push_back({"argmax_flat", weighted([](const array& x) { return argmax(x); }), {{2, 3}}});
  c.push_back({"argmin_neg", weighted([](const array& x) { return argmin(x, -1, true); }), {{2, 5}}});
  return c;
}

std::vector<GradCase> scan_cases() {
  std::vector<GradCase> c;
  using ScanOp = array (*)(const array&, int, bool, bool, StreamOrDevice);
  for (auto [name, op] : std::vector<std::pair<std::string, ScanOp>>{{"cumsum", cumsum},
                                                                     {"cumprod", cumprod},
                                                                     {"cummax", cummax},
                                                                     {"cummin", cummin},
                                                                     {"logcumsumexp", logcumsumexp}}) {
    struct Flags {
      const char* tag;
      int axis;
      bool reverse, inclusive;
    };
    for (Flags f : {Flags{"ax1", 1, false, true}, Flags{"ax0_rev", 0, true, true}, Flags{"ax1_excl", 1, false, false},
                    Flags{"neg_rev_excl", -1, true, false}, Flags{"ax0_excl", 0, false, false}}) {
      // Exclusive max/min/logaddexp scans start at an infinite identity: clamp it to a finite
      // value so that finite differences stay defined there.
      bool inf_min = !f.inclusive && (name == "cummax" || name == "logcumsumexp");
      bool inf_max = !f.inclusive && name == "cummin";
      c.push_back({name + "_" + f.tag,
                   [op, f, inf_min, inf_max](const std::vector<array>& x) {
                     array r = op(x[0], f.axis, f.reverse, f.inclusive, {});
                     if (inf_min) r = maximum(r, array(-10.0, float64));
                     if (inf_max) r = minimum(r, array(10.0, float64));
                     return r;
                   },
                   {{3, 5}}});
    }
    c.push_back({name + "_mid_axis_3d", [op](const std::vector<array>& x) { return op(x[0], 1, false, true, {}); },
                 {{2, 4, 3}}});
  }
  c.push_back({"cumsum_flat", [](const std::vector<array>& x) { return cumsum(x[0]); }, {{2, 3}}});
  c.push_back({"cumprod_flat_rev", [](const std::vector<array>& x) { return cumprod(x[0], true); }, {{2, 3}}});
  return c;
}

std::vector<GradCase> softmax_cases() {
  std::vector<GradCase> c;
  c.push_back({"softmax_last", [](const std::vector<array>& x) { return softmax(x[0], -1); }, {{2, 3, 4}}});
  c.push_back({"softmax_axis0", [](const std::vector<array>& x) { return softmax(x[0], 0); }, {{3, 4}}});
  c.push_back({"softmax_trailing", [](const std::vector<array>& x) { return softmax(x[0], {1, 2}); }, {{2, 3, 2}}});
  c.push_back({"softmax_all_precise", [](const std::vector<array>& x) { return softmax(x[0], true); }, {{2, 3}}});
  c.push_back({"softmax_1d", [](const std::vector<array>& x) { return softmax(x[0], 0); }, {{5}}, -4, 4});
  c.push_back({"logsumexp_last", [](const std::vector<array>& x) { return logsumexp(x[0], -1); }, {{2, 3, 4}}});
  c.push_back({"logsumexp_mid_keep", [](const std::vector<array>& x) { return logsumexp(x[0], 1, true); },
               {{2, 3, 4}}});
  c.push_back({"logsumexp_trailing", [](const std::vector<array>& x) { return logsumexp(x[0], {1, 2}); },
               {{2, 3, 2}}});
  c.push_back({"logsumexp_all", [](const std::vector<array>& x) { return logsumexp(x[0]); }, {{2, 3}}, -4, 4});
  c.push_back({"var_last", [](const std::vector<array>& x) { return var(x[0], -1); }, {{3, 4}}});
  c.push_back({"var_ddof1_keep", [](const std::vector<array>& x) { return var(x[0], {1, 2}, true, 1); }, {{2, 3, 4}}});
  c.push_back({"var_all", [](const std::vector<array>& x) { return var(x[0]); }, {{2, 3}}});
  c.push_back({"var_axis0", [](const std::vector<array>& x) { return var(x[0], 0, false, 2); }, {{4, 3}}});
  c.push_back({"std_last_ddof1", [](const std::vector<array>& x) { return mica::std(x[0], -1, false, 1); }, {{2, 5}}});
  return c;
}

const std::vector<GradCase> kReduce = reduce_cases();
const std::vector<GradCase> kScan = scan_cases();
const std::vector<GradCase> kSoftmax = softmax_cases();

// For functions affine in each input element (products, cumulative products) central
// differences are exact at any step, so the rules can be checked at points with zeros.
// Returns the Jacobian (output-major) by differences with step 0.5.
std::vector<std::vector<double>> multilinear_jacobian(const std::function<array(const array&)>& f, const array& x) {
  auto base = mica::test::to_vector(x);
  std::vector<std::vector<double>> jac;
  for (size_t j = 0; j < base.size(); ++j) {
    auto p = base, m = base;
    p[j] += 0.5;
    m[j] -= 0.5;
    auto fp = mica::test::to_vector(f(array(p.begin(), x.shape(), float64)));
    auto fm = mica::test::to_vector(f(array(m.begin(), x.shape(), float64)));
    if (jac.empty()) jac.assign(fp.size(), std::vector<double>(base.size()));
    for (size_t k = 0; k < fp.size(); ++k) jac[k][j] = fp[k] - fm[k];
  }
  return jac;
}

// vjp and jvp of f at x (which may hold zeros) against the exact Jacobian of a multilinear f.
void expect_exact_rules(const std::function<array(const array&)>& f, const array& x) {
  auto jac = multilinear_jacobian(f, x);
  array out = f(x);
  array v = mica::test::random_array(out.shape(), float64, -1, 1, 5);
  array u = mica::test::random_array(x.shape(), float64, -1, 1, 6);
  auto vv = mica::test::to_vector(v), uu = mica::test::to_vector(u);
  std::vector<double> jtv(uu.size(), 0.0), ju(vv.size(), 0.0);
  for (size_t k = 0; k < vv.size(); ++k) {
    for (size_t j = 0; j < uu.size(); ++j) {
      jtv[j] += jac[k][j] * vv[k];
      ju[k] += jac[k][j] * uu[j];
    }
  }
  EXPECT_TRUE(mica::test::all_close(mica::test::to_vector(vjp(f, x, v).second), jtv, 1e-12, 1e-12));
  EXPECT_TRUE(mica::test::all_close(mica::test::to_vector(jvp(f, x, u).second), ju, 1e-12, 1e-12));
}
}  // namespace

class ReduceRules : public mica::test::GradRules {};
MICA_GRAD_RULE_TESTS(ReduceRules, kReduce);
class ScanRules : public mica::test::GradRules {};
MICA_GRAD_RULE_TESTS(ScanRules, kScan);
class SoftmaxRules : public mica::test::GradRules {};
MICA_GRAD_RULE_TESTS(SoftmaxRules, kSoftmax);

TEST(ReduceRulesDirect, MaxMinTiesShareTheCotangent) {
  // Values from MLX 0.32: tied extremes split the gradient evenly.
  EXPECT_TRUE(matches(grad([](const array& a) { return max(a); })(array({1.0, 3.0, 3.0, 2.0}, float64)), {4},
                      {0, 0.5, 0.5, 0}));
  EXPECT_TRUE(matches(grad([](const array& a) { return max(a); })(array({1.0, 3.0, 3.0, 2.0}, {2, 2}, float64)),
                      {2, 2}, {0, 0.5, 0.5, 0}));
  EXPECT_TRUE(matches(grad([](const array& a) { return min(a); })(array({1.0, 1.0, 3.0}, float64)), {3},
                      {0.5, 0.5, 0}));
  auto g = grad([](const array& a) { return sum(max(a, 0)); })(array({3.0, 2.0, 3.0, 2.0}, {2, 2}, float64));
  EXPECT_TRUE(matches(g, {2, 2}, {0.5, 0.5, 0.5, 0.5}));
  auto g3 = grad([](const array& a) { return sum(max(a, 1) * array({1.0, 2.0}, float64)); })(
      array({1.0, 4.0, 4.0, 4.0, 0.0, 2.0}, {2, 3}, float64));
  EXPECT_TRUE(matches(g3, {2, 3}, {0, 0.5, 0.5, 2, 0, 0}));
}

TEST(ReduceRulesDirect, MaxMinJvpTakesTheFirstTie) {
  // As MLX 0.32: the jvp reads the tangent of the first extreme in row-major order.
  auto t = array({1.0, 10.0, 100.0, 1000.0}, float64);
  EXPECT_TRUE(matches(jvp([](const array& a) { return max(a); }, array({1.0, 3.0, 3.0, 2.0}, float64), t).second, {},
                      {10}));
  EXPECT_TRUE(matches(jvp([](const array& a) { return max(a); }, array({1.0, 3.0, 3.0, 2.0}, {2, 2}, float64),
                          reshape(t, {2, 2}))
                          .second,
                      {}, {10}));
  EXPECT_TRUE(matches(jvp([](const array& a) { return max(a, 0); }, array({3.0, 2.0, 3.0, 2.0}, {2, 2}, float64),
                          reshape(t, {2, 2}))
                          .second,
                      {2}, {1, 10}));
  EXPECT_TRUE(matches(jvp([](const array& a) { return min(a, {0, 2}); },
                          array({5.0, 1.0, 2.0, 7.0, 1.0, 9.0, 1.0, 3.0}, {2, 2, 2}, float64),
                          reshape(arange(1.0, 9.0, float64), {2, 2, 2}))
                          .second,
                      {2}, {2, 7}));
}

TEST(ReduceRulesDirect, ProdHandlesZeros) {
  // Values from MLX 0.32.
  auto g = [](const array& x) { return grad([](const array& a) { return prod(a); })(x); };
  EXPECT_TRUE(matches(g(array({2.0, 0.0, 3.0}, float64)), {3}, {0, 6, 0}));
  EXPECT_TRUE(matches(g(array({2.0, 0.0, 3.0, 0.0}, float64)), {4}, {0, 0, 0, 0}));
  auto g2 = grad([](const array& a) { return sum(prod(a, 1)); })(array({2.0, 0.0, 3.0, 1.0, 2.0, 3.0}, {2, 3}, float64));
  EXPECT_TRUE(matches(g2, {2, 3}, {0, 6, 0, 6, 3, 2}));
  auto [o, t] = jvp([](const array& a) { return prod(a); }, array({2.0, 0.0, 3.0}, float64), array({1.0, 1.0, 1.0}, float64));
  EXPECT_TRUE(matches(t, {}, {6}));
  // Exact rules at points with one and two zeros, over several axes.
  std::vector<double> v = {1.5, 0.0, -2.0, 0.5, 3.0, 1.0, 0.0, 2.0, -1.0, 0.0, 2.5, 1.0};
  array x(v.begin(), {2, 3, 2}, float64);
  expect_exact_rules([](const array& a) { return prod(a, {0, 2}); }, x);
  expect_exact_rules([](const array& a) { return prod(a, 1, true); }, x);
  expect_exact_rules([](const array& a) { return prod(a); }, x);
}

TEST(ReduceRulesDirect, CumprodHandlesZeros) {
  // MLX 0.32: d/dx sum(cumprod([2, 0, 3, 4])) = [1, 32, 0, 0].
  auto g = grad([](const array& a) { return sum(cumprod(a)); })(array({2.0, 0.0, 3.0, 4.0}, float64));
  EXPECT_TRUE(matches(g, {4}, {1, 32, 0, 0}));
  std::vector<double> v = {2.0, 0.0, 3.0, -1.5, 0.0, 0.5, 1.0, 2.0, -0.5, 1.5, 0.0, 3.0};
  array x(v.begin(), {2, 6}, float64);
  for (bool reverse : {false, true}) {
    for (bool inclusive : {true, false}) {
      SCOPED_TRACE(std::string("reverse ") + (reverse ? "1" : "0") + " inclusive " + (inclusive ? "1" : "0"));
      expect_exact_rules([=](const array& a) { return cumprod(a, 1, reverse, inclusive); }, x);
      expect_exact_rules([=](const array& a) { return cumprod(a, 0, reverse, inclusive); }, x);
    }
  }
}

TEST(ReduceRulesDirect, CummaxCumminTiesGoToTheLatest) {
  // Values from MLX 0.32: the cotangent of each output goes to the latest tie in scan order.
  auto c = array({1.0, 10.0, 100.0, 1000.0, 10000.0}, float64);
  auto x = array({2.0, 1.0, 3.0, 3.0, 0.0}, float64);
  EXPECT_TRUE(matches(vjp([](const array& a) { return cummax(a); }, x, c).second, {5}, {11, 0, 100, 11000, 0}));
  EXPECT_TRUE(matches(vjp([](const array& a) { return cummax(a, 0, false, false); }, x, c).second, {5},
                      {110, 0, 1000, 10000, 0}));
  auto y = array({2.0, 1.0, 3.0, 1.0, 5.0}, float64);
  EXPECT_TRUE(matches(vjp([](const array& a) { return cummin(a, 0, true); }, y, c).second, {5},
                      {0, 11, 0, 1100, 10000}));
  // The jvp reads the same sources, so jvp and vjp stay adjoint on ties.
  EXPECT_TRUE(matches(jvp([](const array& a) { return cummax(a); }, x, c).second, {5}, {1, 1, 100, 1000, 1000}));
  EXPECT_TRUE(matches(jvp([](const array& a) { return cummin(a, 0, true, false); }, y, c).second, {5},
                      {10, 1000, 1000, 10000, 0}));
}

TEST(ReduceRulesDirect, LogcumsumexpOverAWideRange) {
  // MLX 0.32 gives [1, 1, 2, 0]; nothing overflows although exp(200) does not fit in float32.
  auto x = array({-200.0, 1.0, 100.0, 0.0}, float64);
  auto g = grad([](const array& a) { return sum(logcumsumexp(a)); })(x);
  EXPECT_TRUE(matches(g, {4}, {1, 1, 2, 0}, 1e-9, 1e-9));
  auto [o, t] = jvp([](const array& a) { return logcumsumexp(a); }, x, array({1.0, -1.0, 1.0, 1.0}, float64));
  EXPECT_TRUE(matches(t, {4}, {1, -1, 1, 1}, 1e-9, 1e-9));
  auto g32 = grad([](const array& a) { return sum(logcumsumexp(a, 0, true)); })(array({-200.0f, 1.0f, 100.0f, 0.0f}));
  EXPECT_TRUE(matches(g32, {4}, {0, 0, 3, 1}, 1e-5, 1e-5));
}

TEST(ReduceRulesDirect, IntegerOutputsCarryNoGradient) {
  auto x = mica::test::random_array({3, 4}, float64, -2, 2, 3);
  auto f = [](const array& a) { return sum(astype(argmax(a, 0), float64)) + sum(astype(any(a > 0.0, 1), float64)); };
  auto g = grad(f)(x);
  EXPECT_EQ(g.dtype(), float64);
  EXPECT_TRUE(matches(g, {3, 4}, std::vector<double>(12, 0.0)));
  auto [o, t] = jvp([](const array& a) { return argmin(a, 1); }, x, ones_like(x));
  EXPECT_EQ(t.dtype(), uint32);
  EXPECT_TRUE(matches(t, {3}, {0, 0, 0}));
  auto [o2, t2] = jvp([](const array& a) { return all(a > 0.0, 0); }, x, ones_like(x));
  EXPECT_EQ(t2.dtype(), bool_);
  EXPECT_EQ(t2.shape(), Shape({4}));
}

TEST(ReduceRulesDirect, IntegerOutputsVmapLikeALoop) {
  auto x = mica::test::random_array({3, 4, 5}, float64, -2, 2, 9);
  for (int in_axis : {0, 1, 2}) {
    auto got = vmap([](const array& a) { return argmax(a, -1); }, in_axis)(x);
    auto got_all = vmap([](const array& a) { return any(a > 1.5, 0); }, in_axis)(x);
    std::vector<array> want, want_all;
    for (int b = 0; b < x.shape(in_axis); ++b) {
      want.push_back(argmax(take(x, b, in_axis), -1));
      want_all.push_back(any(take(x, b, in_axis) > 1.5, 0));
    }
    EXPECT_EQ(got.dtype(), uint32);
    EXPECT_TRUE(array_equal(got, stack(want, 0)).item<bool>()) << "in_axis " << in_axis;
    EXPECT_TRUE(array_equal(got_all, stack(want_all, 0)).item<bool>()) << "in_axis " << in_axis;
  }
}

TEST(ReduceRulesDirect, Compositions) {
  // Hessian-vector product of logsumexp: (diag(s) - s s^T) u.
  auto x = array({0.3, -1.2, 2.0, 0.5}, float64);
  auto u = array({1.0, -2.0, 0.5, 3.0}, float64);
  auto hvp = grad([&](const array& a) { return sum(grad([](const array& b) { return logsumexp(b); })(a) * u); })(x);
  auto s = mica::test::to_vector(softmax(x, 0));
  auto uu = mica::test::to_vector(u);
  double su = 0;
  for (size_t i = 0; i < 4; ++i) su += s[i] * uu[i];
  std::vector<double> want(4);
  for (size_t i = 0; i < 4; ++i) want[i] = s[i] * uu[i] - s[i] * su;
  EXPECT_TRUE(matches(hvp, {4}, want, 1e-10, 1e-12));
  // Per-example gradients: vmap of grad of max and of a softmax-weighted sum.
  auto xs = mica::test::random_array({3, 5}, float64, -2, 2, 21);
  auto per = vmap(grad([](const array& a) { return max(a) + sum(softmax(a, 0) * a); }))(xs);
  for (int b = 0; b < 3; ++b) {
    auto one = grad([](const array& a) { return max(a) + sum(softmax(a, 0) * a); })(take(xs, b, 0));
    EXPECT_TRUE(mica::test::all_close(mica::test::to_vector(take(per, b, 0)), mica::test::to_vector(one), 1e-12, 1e-12));
  }
  // jvp of a vjp: the second derivative of var along a direction.
  auto [o, t] = jvp([](const array& a) { return grad([](const array& b) { return var(b, 0); })(a); }, x, u);
  std::vector<double> wt(4);
  double mu = 0;
  for (double v : uu) mu += v / 4;
  for (size_t i = 0; i < 4; ++i) wt[i] = 2.0 * (uu[i] - mu) / 4;
  EXPECT_TRUE(matches(t, {4}, wt, 1e-12, 1e-12));
}

TEST(ReduceRulesDirect, BadInput) {
  auto x = array({1.0, 2.0, 3.0}, float64);
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>("grad", [&] {
    grad([](const array& a) { return cumsum(a); })(x);
  }));
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>("vmap", [&] {
    vmap([](const array& a) { return sum(a); }, 1)(x);
  }));
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>("vmap", [&] {
    vmap([](const std::vector<array>& a) { return std::vector<array>{softmax(a[0] + a[1], 0)}; })(
        {ones({2, 3}, float64), ones({3, 3}, float64)});
  }));
  // An axis that is valid for the batched array but not for one batch element.
  EXPECT_TRUE(mica::test::throws_op<std::out_of_range>("cumsum", [&] {
    vmap([](const array& a) { return cumsum(a, 1); })(ones({2, 3}, float64));
  }));
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>("max", [&] {
    grad([](const array& a) { return sum(max(a, 1)); })(ones({2, 0}, float64));
  }));
}
