// Transform rules of the sort family (Sort, ArgSort, Partition, ArgPartition): vjp vs finite
// differences, jvp/vjp adjoint and vmap vs loop over axes and kth; direct checks that the
// gradient is the cotangent permuted back, that ties follow the stable argsort (as MLX), and
// that integer outputs carry no gradient but vmap like a loop.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <map>

#include "reference/reference.h"
#include "reference/transform_checks.h"

using namespace mica;
using mica::test::GradCase;
using mica::test::matches;

namespace {
using Fn = std::function<array(const std::vector<array>&)>;

// x * f(x) with f integer-valued: the gradient flows through the first factor only.
Fn weighted(std::function<array(const array&)> f) {
  return [f](const std::vector<array>& x) { return x[0] * astype(f(x[0]), float64); };
}

std::vector<GradCase> cases() {
  std::vector<GradCase> c;
  c.push_back({"sort_axis0", [](const std::vector<array>& x) { return sort(x[0], 0); }, {{4, 3}}});
  c.push_back({"sort_last", [](const std::vector<array>& x) { return sort(x[0], -1); }, {{3, 5}}});
  c.push_back({"sort_mid_3d", [](const std::vector<array>& x) { return sort(x[0], 1); }, {{2, 4, 3}}});
  c.push_back({"sort_flat", [](const std::vector<array>& x) { return sort(x[0]); }, {{2, 3}}});
  c.push_back({"sort_then_scale", [](const std::vector<array>& x) { return sort(x[0], 0) * arange(1.0, 7.0, float64); },
               {{6}}});
  c.push_back({"partition_last", [](const std::vector<array>& x) { return partition(x[0], 2, -1); }, {{3, 6}}});
  c.push_back({"partition_neg_kth_axis0", [](const std::vector<array>& x) { return partition(x[0], -1, 0); },
               {{5, 3}}});
  c.push_back({"partition_kth0_mid", [](const std::vector<array>& x) { return partition(x[0], 0, 1); }, {{2, 4, 3}}});
  c.push_back({"partition_flat", [](const std::vector<array>& x) { return partition(x[0], 3); }, {{2, 4}}});
  c.push_back({"argsort_last", weighted([](const array& x) { return argsort(x, -1); }), {{3, 4}}});
  c.push_back({"argsort_axis0", weighted([](const array& x) { return argsort(x, 0); }), {{4, 3}}});
  c.push_back({"argsort_flat", weighted([](const array& x) { return reshape(argsort(x), {2, 3}); }), {{2, 3}}});
  c.push_back({"argpartition_last", weighted([](const array& x) { return argpartition(x, 1, -1); }), {{3, 5}}});
  c.push_back({"argpartition_axis0", weighted([](const array& x) { return argpartition(x, -2, 0); }), {{4, 3}}});
  return c;
}
const std::vector<GradCase> kSort = cases();
}  // namespace

class SortRules : public mica::test::GradRules {};
MICA_GRAD_RULE_TESTS(SortRules, kSort);

TEST(SortRulesDirect, TiesFollowTheStableArgsort) {
  // Values from MLX 0.32.
  auto x = array({2.0, 1.0, 2.0, 0.0}, float64);
  auto c = array({1.0, 10.0, 100.0, 1000.0}, float64);
  EXPECT_TRUE(matches(vjp([](const array& a) { return sort(a); }, x, c).second, {4}, {100, 10, 1000, 1}));
  EXPECT_TRUE(matches(jvp([](const array& a) { return sort(a); }, x, c).second, {4}, {1000, 10, 1, 100}));
}

TEST(SortRulesDirect, GradientIsTheCotangentPermutedBack) {
  array x = mica::test::random_array({3, 7}, float64, -2, 2, 4);
  array c = mica::test::random_array({3, 7}, float64, -1, 1, 5);
  auto xv = mica::test::to_vector(x), cv = mica::test::to_vector(c);
  for (int kth : {-1, 0, 3, 6}) {
    bool is_sort = kth < 0;
    auto f = [=](const array& a) { return is_sort ? sort(a, 1) : partition(a, kth, 1); };
    array out = f(x);
    auto ov = mica::test::to_vector(out);
    auto g = mica::test::to_vector(vjp(f, x, c).second);
    auto t = mica::test::to_vector(jvp(f, x, c).second);
    // Each output element came from the input element with its value (the values are distinct):
    // the vjp sends c there and the jvp reads the tangent from there.
    for (int r = 0; r < 3; ++r) {
      for (int j = 0; j < 7; ++j) {
        int src = -1;
        for (int i = 0; i < 7; ++i) {
          if (xv[r * 7 + i] == ov[r * 7 + j]) src = i;
        }
        ASSERT_GE(src, 0);
        EXPECT_EQ(g[r * 7 + src], cv[r * 7 + j]) << "kth " << kth;
        EXPECT_EQ(t[r * 7 + j], cv[r * 7 + src]) << "kth " << kth;
      }
    }
  }
}

TEST(SortRulesDirect, PartitionWithTiesSendsEachCotangentToAnEqualValue) {
  // With ties the kernel's arrangement is its own; each cotangent must still reach an input
  // element of the same value in the same line, once.
  for (uint32_t seed : {1u, 2u, 3u}) {
    array x = floor(mica::test::random_array({4, 33}, float64, -3, 3, seed));
    array c = reshape(arange(1.0, 4.0 * 33.0 + 1.0, float64), {4, 33});  // distinct, exact sums
    for (int kth : {0, 3, 5, 16, 32}) {
      for (int axis : {0, 1}) {
        if (kth >= x.shape(axis)) continue;
        auto f = [=](const array& a) { return partition(a, kth, axis); };
        array out = f(x);
        array g = vjp(f, x, c).second;
        array t = jvp(f, x, c).second;
        auto xv = mica::test::to_vector(x), ov = mica::test::to_vector(out), cv = mica::test::to_vector(c);
        auto gv = mica::test::to_vector(g), tv = mica::test::to_vector(t);
        // Per line along the axis and per value: the gradient sums to the cotangents there, and
        // the jvp is the same pairing (the out-side tangents permute the in-side ones).
        std::map<std::pair<size_t, double>, std::array<std::vector<double>, 4>> groups;
        for (size_t i = 0; i < xv.size(); ++i) {
          size_t line = axis == 1 ? i / 33 : i % 33;
          auto& in = groups[{line, xv[i]}];
          in[0].push_back(gv[i]);
          in[1].push_back(cv[i]);
          auto& on = groups[{line, ov[i]}];
          on[2].push_back(cv[i]);
          on[3].push_back(tv[i]);
        }
        for (auto& [key, gr] : groups) {
          for (auto& v : gr) std::sort(v.begin(), v.end());
          EXPECT_EQ(gr[0], gr[2]) << "seed " << seed << " kth " << kth << " axis " << axis << " value " << key.second;
          EXPECT_EQ(gr[1], gr[3]) << "seed " << seed << " kth " << kth << " axis " << axis << " value " << key.second;
        }
        // A permutation of the cotangent.
        std::sort(gv.begin(), gv.end());
        EXPECT_EQ(gv, cv);
      }
    }
  }
}

TEST(SortRulesDirect, IntegerOutputsCarryNoGradient) {
  array x = mica::test::random_array({3, 4}, float64, -2, 2, 6);
  auto g = grad([](const array& a) {
    return sum(astype(argsort(a, 0), float64)) + sum(astype(argpartition(a, 1, 1), float64));
  })(x);
  EXPECT_TRUE(matches(g, {3, 4}, std::vector<double>(12, 0.0)));
  auto [o, t] = jvp([](const array& a) { return argsort(a, 1); }, x, ones_like(x));
  EXPECT_EQ(t.dtype(), uint32);
  EXPECT_TRUE(matches(t, {3, 4}, std::vector<double>(12, 0.0)));
  auto [o2, t2] = jvp([](const array& a) { return argpartition(a, 2, 0); }, x, ones_like(x));
  EXPECT_EQ(t2.dtype(), uint32);
  EXPECT_EQ(t2.shape(), Shape({3, 4}));
}

TEST(SortRulesDirect, IntegerOutputsVmapLikeALoop) {
  array x = mica::test::random_array({3, 4, 5}, float64, -2, 2, 7);
  for (int in_axis : {0, 1, 2}) {
    auto fa = [](const array& a) { return argsort(a, 0); };
    auto fp = [](const array& a) { return argpartition(a, -2, -1); };
    std::vector<array> wa, wp;
    for (int b = 0; b < x.shape(in_axis); ++b) {
      wa.push_back(fa(take(x, b, in_axis)));
      wp.push_back(fp(take(x, b, in_axis)));
    }
    for (int out_axis : {0, 2}) {
      auto ga = vmap(fa, in_axis, out_axis)(x);
      auto gp = vmap(fp, in_axis, out_axis)(x);
      EXPECT_EQ(ga.dtype(), uint32);
      EXPECT_TRUE(array_equal(ga, stack(wa, out_axis)).item<bool>()) << "in_axis " << in_axis;
      EXPECT_TRUE(array_equal(gp, stack(wp, out_axis)).item<bool>()) << "in_axis " << in_axis;
    }
  }
}

TEST(SortRulesDirect, BadInput) {
  array x = ones({2, 3}, float64);
  // kth is checked against one batch element's axis, not the batched array's.
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>("partition", [&] {
    vmap([](const array& a) { return partition(a, 2, 0); }, 1)(x);
  }));
  EXPECT_TRUE(mica::test::throws_op<std::out_of_range>("sort", [&] {
    vmap([](const array& a) { return sort(a, 1); })(x);
  }));
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>("vmap", [&] {
    vmap([](const array& a) { return sort(a, 0); }, 2)(x);
  }));
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>("grad", [&] {
    grad([](const array& a) { return sort(a); })(x);
  }));
}
