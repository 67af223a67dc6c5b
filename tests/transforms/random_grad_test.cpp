// Transform rules of RandomBits (integer output: zero cotangents and tangents; vmap over keys)
// and of Arange, which has no inputs and so opts out of every rule (the transforms never reach
// it: a function that builds an arange is still differentiable and vmappable).
#include <gtest/gtest.h>

#include "mica/primitives/primitive.h"
#include "reference/reference.h"

using namespace mica;

namespace {
std::vector<double> values(const array& a) { return mica::test::to_vector(a); }
}  // namespace

// vjp through a draw from a traced key: the key's cotangent is zeros (uint32, its shape), the
// other input's is the usual one.
TEST(RandomBitsRules, VjpGivesZeroKeyCotangent) {
  array key = random::key(42);
  array x = mica::test::random_array({2, 3}, float64, -1, 1, 1);
  auto f = [](const std::vector<array>& in) {
    return std::vector<array>{in[1] * astype(random::bits({2, 3}, 2, in[0]), float64)};
  };
  array v = mica::test::random_array({2, 3}, float64, -1, 1, 2);
  auto [outs, grads] = vjp(f, {key, x}, {v});
  ASSERT_EQ(grads[0].shape(), Shape({2}));
  EXPECT_EQ(grads[0].dtype(), uint32);
  EXPECT_EQ(values(grads[0]), std::vector<double>({0, 0}));
  // d/dx (x * bits) = bits.
  auto bits = values(random::bits({2, 3}, 2, key));
  auto want = values(v);
  for (size_t i = 0; i < want.size(); ++i) want[i] *= bits[i];
  EXPECT_TRUE(mica::test::matches(grads[1], {2, 3}, want, 1e-12, 1e-12));
  // The bits are the same ones the forward drew.
  EXPECT_TRUE(mica::test::matches(outs[0], {2, 3}, [&] {
    auto xv = values(x);
    for (size_t i = 0; i < xv.size(); ++i) xv[i] *= bits[i];
    return xv;
  }()));
}

// Batched keys (k, 2) (made by vmap) give (k, shape...) bits; differentiating the vmapped
// function gives the keys a zero cotangent of their shape.
TEST(RandomBitsRules, VjpWithBatchedKeys) {
  array keys = random::split(random::key(3), 4);
  auto f = [](const std::vector<array>& in) {
    return std::vector<array>{astype(random::bits({2}, 1, in[0]), float64) + in[1]};
  };
  auto batched = vmap(f, {0, -1});
  array x = mica::test::random_array({2}, float64, -1, 1, 1);
  auto [outs, grads] = vjp(batched, {keys, x}, {ones({4, 2}, float64)});
  ASSERT_EQ(outs[0].shape(), Shape({4, 2}));
  EXPECT_TRUE(mica::test::matches(grads[0], {4, 2}, std::vector<double>(8, 0.0)));
  EXPECT_EQ(grads[0].dtype(), uint32);
  EXPECT_TRUE(mica::test::matches(grads[1], {2}, {4, 4}));
}

// jvp: the bits' tangent is zeros of their shape and dtype, whatever the key's tangent
// (batched keys through vmap, then a single key).
TEST(RandomBitsRules, JvpGivesZeroTangent) {
  array keys = random::split(random::key(7), 3);
  auto f = [](const std::vector<array>& in) { return std::vector<array>{random::bits({2, 2}, 2, in[0])}; };
  array t = full({3, 2}, array(5u, uint32));
  auto [outs, tangents] = jvp(vmap(f, {0}), {keys}, {t});
  ASSERT_EQ(tangents[0].shape(), Shape({3, 2, 2}));
  EXPECT_EQ(tangents[0].dtype(), uint16);
  EXPECT_EQ(values(tangents[0]), std::vector<double>(12, 0.0));
  EXPECT_EQ(outs[0].dtype(), uint16);
  // Through a float function of the bits the tangent is still zero.
  auto g = [](const std::vector<array>& in) {
    return std::vector<array>{astype(random::bits({3}, 4, in[0]), float64) * 2.0};
  };
  auto [o2, t2] = jvp(g, {random::key(1)}, {full({2}, array(1u, uint32))});
  EXPECT_TRUE(mica::test::matches(t2[0], {3}, {0, 0, 0}));
}

// vmap over keys at any axis equals drawing with each key in turn; an unmapped key gives every
// batch member the same bits.
TEST(RandomBitsRules, VmapMatchesLoop) {
  array keys = random::split(random::key(11), 3);  // (3, 2)
  auto f = [](const std::vector<array>& in) { return std::vector<array>{random::bits({2, 3}, 4, in[0])}; };
  for (int ax : {0, 1}) {
    array k = ax == 0 ? keys : transpose(keys);
    for (int out_axis : {0, -1}) {
      array got = vmap(f, {ax}, {out_axis})({k})[0];
      std::vector<array> loop;
      for (int b = 0; b < 3; ++b) loop.push_back(f({take(keys, b, 0)})[0]);
      array want = stack(loop, out_axis == 0 ? 0 : 2);
      ASSERT_EQ(got.shape(), want.shape()) << "axis " << ax;
      EXPECT_EQ(values(got), values(want)) << "axis " << ax << " out_axis " << out_axis;
    }
  }
  // Unmapped key beside a mapped float input.
  auto g = [](const std::vector<array>& in) {
    return std::vector<array>{in[1] + astype(random::bits({2}, 1, in[0]), float64)};
  };
  array key = random::key(5);
  array x = mica::test::random_array({3, 2}, float64, -1, 1, 9);
  array got = vmap(g, {-1, 0})({key, x})[0];
  auto bits = values(random::bits({2}, 1, key));
  auto want = values(x);
  for (size_t i = 0; i < want.size(); ++i) want[i] += bits[i % 2];
  EXPECT_TRUE(mica::test::matches(got, {3, 2}, want, 1e-12, 1e-12));
}

// vmap of a per-example vjp through a draw (the key's zero cotangent, batched).
TEST(RandomBitsRules, VmapOfVjp) {
  auto f = [](const std::vector<array>& in) {
    return std::vector<array>{in[1] * astype(random::bits({2}, 2, in[0]), float64)};
  };
  auto per_example = [&](const std::vector<array>& in) {
    auto g = vjp(f, {in[0], in[1]}, {ones({2}, float64)}).second;
    return std::vector<array>{astype(g[0], float64), g[1]};
  };
  array keys = random::split(random::key(17), 3);
  array x = mica::test::random_array({3, 2}, float64, -1, 1, 2);
  auto got = vmap(per_example, {0, 0})({keys, x});
  EXPECT_TRUE(mica::test::matches(got[0], {3, 2}, std::vector<double>(6, 0.0)));
  for (int b = 0; b < 3; ++b) {
    EXPECT_EQ(values(take(got[1], b, 0)), values(astype(random::bits({2}, 2, take(keys, b, 0)), float64)));
  }
}

TEST(RandomBitsRules, BadInput) {
  auto f = [](const std::vector<array>& in) { return std::vector<array>{random::bits({2}, 4, in[0])}; };
  array keys = random::split(random::key(1), 3);
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>("vmap", [&] { vmap(f, {2})({keys}); }));
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>("jvp", [&] { jvp(f, {keys}, {zeros({2}, uint32)}); }));
}

// Arange: a constant inside transformed functions; its rules are reasoned opt-outs.
TEST(ArangeRules, ConstantUnderTransforms) {
  auto f = [](const std::vector<array>& in) { return std::vector<array>{in[0] * arange(1.0, 4.0, 1.0, float64)}; };
  array x = mica::test::random_array({3}, float64, -1, 1, 1);
  auto g = vjp(f, {x}, {ones({3}, float64)}).second;
  EXPECT_TRUE(mica::test::matches(g[0], {3}, {1, 2, 3}, 1e-12, 1e-12));
  auto t = jvp(f, {x}, {ones({3}, float64)}).second;
  EXPECT_TRUE(mica::test::matches(t[0], {3}, {1, 2, 3}, 1e-12, 1e-12));
  array xb = mica::test::random_array({2, 3}, float64, -1, 1, 2);
  array got = vmap(f, {0})({xb})[0];
  auto want = values(xb);
  for (size_t i = 0; i < want.size(); ++i) want[i] *= double(i % 3 + 1);
  EXPECT_TRUE(mica::test::matches(got, {2, 3}, want, 1e-12, 1e-12));
  // A function that returns only an arange: vmap broadcasts it, vjp gives no gradient.
  auto h = [](const std::vector<array>&) { return std::vector<array>{arange(0.0, 3.0, 1.0, float64)}; };
  EXPECT_TRUE(mica::test::matches(vmap(h, {0})({xb})[0], {2, 3}, {0, 1, 2, 0, 1, 2}));
  EXPECT_TRUE(mica::test::matches(vjp(h, {x}, {ones({3}, float64)}).second[0], {3}, {0, 0, 0}));
}

TEST(ArangeRules, OptOutsCarryReasons) {
  auto& m = detail::rule_opt_outs();
  for (const char* rule : {"vjp", "jvp", "vmap"}) {
    auto it = m.find(std::string(rule) + ":Arange");
    ASSERT_NE(it, m.end()) << rule;
    EXPECT_NE(it->second.find("no inputs"), std::string::npos) << it->second;
  }
  // Calling a rule directly names the primitive and the reason.
  array a = arange(0.0, 3.0, 1.0);
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>("vjp", [&] { a.primitive().vjp({}, {a}, {}, {a}); }));
  try {
    a.primitive().vmap({}, {});
    ADD_FAILURE() << "vmap rule of Arange did not throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("Arange (no inputs"), std::string::npos) << e.what();
  }
}
