// Transform rules of the indexing family: vjp vs finite differences, jvp/vjp adjoint and vmap
// vs a loop for take/gather, every scatter reduction, take/put_along_axis, scatter_add_axis
// and masked_scatter, with repeated, negative and out-of-range indices (gathers clamp them,
// scatters drop them); direct checks for batched indices, ties, zero factors and composition.
#include <gtest/gtest.h>

#include "reference/reference.h"
#include "reference/transform_checks.h"

using namespace mica;
using mica::test::GradCase;

namespace {
using Fn = std::function<array(const std::vector<array>&)>;

GradCase row(const std::string& name, Fn fn, std::vector<Shape> shapes, double lo = -2, double hi = 2) {
  return {name, std::move(fn), std::move(shapes), lo, hi};
}

std::vector<GradCase> cases() {
  std::vector<GradCase> c;
  // Gather: take along an axis (repeats, negative and clamped indices), flat take, windows.
  c.push_back(row("take_axis0_repeats", [](const std::vector<array>& x) { return take(x[0], array({3, 0, 3, 1}), 0); },
                  {{5, 3}}));
  c.push_back(row("take_axis1_2d_indices",
                  [](const std::vector<array>& x) { return take(x[0], array({0, 2, 1, 2}, {2, 2}, int32), -1); },
                  {{2, 3}}));
  c.push_back(row("take_negative_and_clamped",
                  [](const std::vector<array>& x) { return take(x[0], array({-1, 7, -9, 2}, int64), 0); }, {{4}}));
  c.push_back(row("take_flat_unsigned",
                  [](const std::vector<array>& x) { return take(x[0], array({5, 0, 5}, uint8)); }, {{2, 3}}));
  c.push_back(row("take_scalar_index", [](const std::vector<array>& x) { return take(x[0], 1, 1); }, {{3, 3}}));
  c.push_back(row("gather_windows",
                  [](const std::vector<array>& x) {
                    return gather(x[0], {array({0, 2, 3}), array({1, -1, 0})}, {0, 2}, {2, 3, 2});
                  },
                  {{4, 3, 3}}));
  c.push_back(row("gather_one_axis_2d",
                  [](const std::vector<array>& x) { return gather(x[0], array({1, 0, 1, 1}, {2, 2}, int32), 1, {2, 1}); },
                  {{2, 2}}));

  // Scatter, each reduction: unique, repeated, negative and dropped (out-of-range) indices.
  auto idx = [] { return array({1, -1, 1, 6, 0}); };  // 6 is dropped for a dim of 4
  c.push_back(row("scatter_set_unique",
                  [](const std::vector<array>& x) { return scatter(x[0], array({2, 0}), x[1], 0); }, {{4, 2}, {2, 1, 2}}));
  c.push_back(row("scatter_set_repeats_drops",
                  [idx](const std::vector<array>& x) { return scatter(x[0], idx(), x[1], 0); }, {{4, 2}, {5, 1, 2}}));
  c.push_back(row("scatter_add_repeats_drops",
                  [idx](const std::vector<array>& x) { return scatter_add(x[0], idx(), x[1], 0); }, {{4, 2}, {5, 1, 2}}));
  c.push_back(row("scatter_prod_repeats_drops",
                  [idx](const std::vector<array>& x) { return scatter_prod(x[0], idx(), x[1], 0); }, {{4, 2}, {5, 1, 2}}));
  c.push_back(row("scatter_max_repeats_drops",
                  [idx](const std::vector<array>& x) { return scatter_max(x[0], idx(), x[1], 0); }, {{4, 2}, {5, 1, 2}}));
  c.push_back(row("scatter_min_repeats_drops",
                  [idx](const std::vector<array>& x) { return scatter_min(x[0], idx(), x[1], 0); }, {{4, 2}, {5, 1, 2}}));
  // Two indexed axes, windows of 2x2 (a window past the edge is dropped).
  auto idx2 = [] { return std::vector<array>{array({0, 2, 1, 2}, {2, 2}, int32), array({1, 0, 2, 1}, {2, 2}, int32)}; };
  c.push_back(row("scatter_add_2axes_windows",
                  [idx2](const std::vector<array>& x) { return scatter_add(x[0], idx2(), x[1], {0, 1}); },
                  {{3, 3}, {2, 2, 2, 2}}));
  c.push_back(row("scatter_set_2axes_windows",
                  [idx2](const std::vector<array>& x) { return scatter(x[0], idx2(), x[1], {0, 1}); },
                  {{3, 3}, {2, 2, 2, 2}}));
  c.push_back(row("scatter_prod_2axes_windows",
                  [idx2](const std::vector<array>& x) { return scatter_prod(x[0], idx2(), x[1], {-2, -1}); },
                  {{3, 3}, {2, 2, 2, 2}}));
  c.push_back(row("scatter_max_2axes_windows",
                  [idx2](const std::vector<array>& x) { return scatter_max(x[0], idx2(), x[1], {0, 1}); },
                  {{3, 3}, {2, 2, 2, 2}}));

  // GatherAxis / ScatterAxis.
  c.push_back(row("take_along_axis0",
                  [](const std::vector<array>& x) { return take_along_axis(x[0], array({2, 0, 1, 1, 2, 2}, {2, 3}, int32), 0); },
                  {{3, 3}}));
  c.push_back(row("take_along_axis_clamped_broadcast",
                  [](const std::vector<array>& x) { return take_along_axis(x[0], array({-1, 5, 0, -7}, {1, 4}, int32), -1); },
                  {{3, 2}}));
  c.push_back(row("put_along_axis_repeats_drops",
                  [](const std::vector<array>& x) {
                    return put_along_axis(x[0], array({0, 2, 0, 9, 1, 1, -1, 0}, {2, 4}, int32), x[1], 1);
                  },
                  {{2, 3}, {2, 4}}));
  c.push_back(row("put_along_axis_broadcast_values",
                  [](const std::vector<array>& x) { return put_along_axis(x[0], array({2, 0}, {2, 1}, int32), x[1], 0); },
                  {{3, 2}, {2, 1}}));
  c.push_back(row("scatter_add_axis_repeats_drops",
                  [](const std::vector<array>& x) {
                    return scatter_add_axis(x[0], array({1, 1, -1, 3, 0, 1}, {3, 2}, int32), x[1], 0);
                  },
                  {{3, 2}, {3, 2}}));

  // MaskedScatter: a src shorter than the mask's count (reused cyclically), a 2-d src.
  c.push_back(row("masked_scatter_cyclic",
                  [](const std::vector<array>& x) {
                    array m = array({true, false, true, true, false, true, true, true}, {2, 4}, bool_);
                    return masked_scatter(x[0], m, x[1]);
                  },
                  {{2, 4}, {4}}));
  c.push_back(row("masked_scatter_broadcast_mask",
                  [](const std::vector<array>& x) { return masked_scatter(x[0], array({false, true, true}), x[1]); },
                  {{2, 3}, {2, 3}}));
  return c;
}
const std::vector<GradCase> kIndexing = cases();

testing::AssertionResult vmap_matches_loop(const Fn& f, const std::vector<array>& inputs, const std::vector<int>& in_axes,
                                           int out_axis = 0) {
  int b = -1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (in_axes[i] >= 0) b = inputs[i].shape(in_axes[i]);
  }
  auto got = vmap([&](const std::vector<array>& x) { return std::vector<array>{f(x)}; }, in_axes, {out_axis})(inputs)[0];
  std::vector<array> loop;
  for (int k = 0; k < b; ++k) {
    std::vector<array> xs;
    for (size_t i = 0; i < inputs.size(); ++i) xs.push_back(in_axes[i] < 0 ? inputs[i] : take(inputs[i], k, in_axes[i]));
    loop.push_back(f(xs));
  }
  array want = stack(loop, out_axis);
  if (got.shape() != want.shape()) return testing::AssertionFailure() << "shape " << got << " vs loop " << want;
  return mica::test::all_close(mica::test::to_vector(got), mica::test::to_vector(want), 1e-12, 1e-12);
}

array rand(const Shape& s, uint32_t seed = 1) { return mica::test::random_array(s, float64, -2, 2, seed); }
array ints(const Shape& s, int lo, int hi, uint32_t seed) { return mica::test::random_array(s, int32, lo, hi, seed); }

// The in_axes combinations for (array, indices[, updates]) with B = 3 in front.
const std::vector<std::vector<int>> kAxes2 = {{0, 0}, {-1, 0}, {0, -1}};
}  // namespace

class IndexingRules : public mica::test::GradRules {};
MICA_GRAD_RULE_TESTS(IndexingRules, kIndexing);

TEST(IndexingRulesDirect, TakeAndGatherWithBatchedIndices) {
  Fn t = [](const std::vector<array>& v) { return take(v[0], v[1], 1); };
  array x = rand({3, 4, 5}), i = ints({3, 2, 3}, -6, 6, 1);
  for (auto& ax : kAxes2) {
    EXPECT_TRUE(vmap_matches_loop(t, {ax[0] < 0 ? take(x, 0, 0) : x, ax[1] < 0 ? take(i, 0, 0) : i}, ax));
  }
  EXPECT_TRUE(vmap_matches_loop(t, {moveaxis(x, 0, 2), moveaxis(i, 0, 1)}, {2, 1}, 1));
  Fn g = [](const std::vector<array>& v) { return gather(v[0], {v[1], v[2]}, {0, 2}, {2, 1, 2}); };
  array a = rand({3, 4, 2, 3}, 2);
  array i0 = ints({3, 5}, -4, 4, 3), i1 = ints({5}, 0, 3, 4);
  EXPECT_TRUE(vmap_matches_loop(g, {a, i0, i1}, {0, 0, -1}));
  EXPECT_TRUE(vmap_matches_loop(g, {take(a, 1, 0), i0, i1}, {-1, 0, -1}));
  EXPECT_TRUE(vmap_matches_loop(g, {a, take(i0, 2, 0), i1}, {0, -1, -1}));
  EXPECT_TRUE(vmap_matches_loop(g, {moveaxis(a, 0, 3), transpose(i0), broadcast_to(i1, {3, 5})}, {3, 1, 0}, 2));
}

TEST(IndexingRulesDirect, TakeAlongAxisWithBatchedIndices) {
  Fn f = [](const std::vector<array>& v) { return take_along_axis(v[0], v[1], 0); };
  array x = rand({3, 4, 2}, 5), i = ints({3, 6, 2}, -5, 5, 6);
  for (auto& ax : kAxes2) {
    EXPECT_TRUE(vmap_matches_loop(f, {ax[0] < 0 ? take(x, 0, 0) : x, ax[1] < 0 ? take(i, 0, 0) : i}, ax));
  }
  EXPECT_TRUE(vmap_matches_loop(f, {moveaxis(x, 0, 2), moveaxis(i, 0, 1)}, {2, 1}, 2));
}

TEST(IndexingRulesDirect, ScattersWithBatchedIndices) {
  using ScatterOp = array (*)(const array&, const array&, const array&, int, StreamOrDevice);
  array a = rand({3, 4, 2}, 7), u = rand({3, 5, 1, 2}, 8), i = ints({3, 5}, -5, 5, 9);
  for (ScatterOp op : {static_cast<ScatterOp>(scatter), static_cast<ScatterOp>(scatter_add),
                       static_cast<ScatterOp>(scatter_prod), static_cast<ScatterOp>(scatter_max),
                       static_cast<ScatterOp>(scatter_min)}) {
    Fn f = [op](const std::vector<array>& v) { return op(v[0], v[1], v[2], 0, {}); };
    for (std::vector<int> ax : {std::vector<int>{0, 0, 0}, {-1, 0, 0}, {0, 0, -1}, {-1, 0, -1}, {0, -1, 0}, {0, -1, -1}, {-1, -1, 0}}) {
      std::vector<array> in = {ax[0] < 0 ? take(a, 0, 0) : a, ax[1] < 0 ? take(i, 1, 0) : i, ax[2] < 0 ? take(u, 2, 0) : u};
      EXPECT_TRUE(vmap_matches_loop(f, in, ax));
    }
    EXPECT_TRUE(vmap_matches_loop(f, {moveaxis(a, 0, 1), transpose(i), moveaxis(u, 0, 3)}, {1, 1, 3}, 1));
  }
}

TEST(IndexingRulesDirect, AlongAxisScattersWithBatchedIndices) {
  array a = rand({3, 2, 4}, 10), v = rand({3, 2, 5}, 11), i = ints({3, 2, 5}, -5, 5, 12);
  for (bool add : {false, true}) {
    Fn f = [add](const std::vector<array>& x) {
      return add ? scatter_add_axis(x[0], x[1], x[2], -1) : put_along_axis(x[0], x[1], x[2], -1);
    };
    for (std::vector<int> ax : {std::vector<int>{0, 0, 0}, {-1, 0, 0}, {0, 0, -1}, {0, -1, 0}, {-1, -1, 0}}) {
      std::vector<array> in = {ax[0] < 0 ? take(a, 0, 0) : a, ax[1] < 0 ? take(i, 1, 0) : i, ax[2] < 0 ? take(v, 2, 0) : v};
      EXPECT_TRUE(vmap_matches_loop(f, in, ax));
    }
    EXPECT_TRUE(vmap_matches_loop(f, {moveaxis(a, 0, 2), moveaxis(i, 0, 1), v}, {2, 1, 0}, 1));
  }
}

TEST(IndexingRulesDirect, MaskedScatterWithBatchedMaskAndSource) {
  Fn f = [](const std::vector<array>& v) { return masked_scatter(v[0], v[1], v[2]); };
  array a = rand({3, 2, 3}, 13), s = rand({3, 4}, 14);
  array m = greater(rand({3, 2, 3}, 15), array(0.0));
  for (std::vector<int> ax : {std::vector<int>{0, 0, 0}, {-1, 0, 0}, {0, -1, 0}, {0, 0, -1}, {-1, -1, 0}, {0, -1, -1}}) {
    std::vector<array> in = {ax[0] < 0 ? take(a, 0, 0) : a, ax[1] < 0 ? take(m, 1, 0) : m, ax[2] < 0 ? take(s, 2, 0) : s};
    EXPECT_TRUE(vmap_matches_loop(f, in, ax));
  }
  EXPECT_TRUE(vmap_matches_loop(f, {moveaxis(a, 0, 2), moveaxis(m, 0, 1), transpose(s)}, {2, 1, 1}, 1));
  // A mask computed from the batched input, and an empty src (a unchanged).
  Fn g = [](const std::vector<array>& v) { return masked_scatter(v[0], v[0] > 0.0, v[1]); };
  EXPECT_TRUE(vmap_matches_loop(g, {a, s}, {0, 0}));
  EXPECT_TRUE(vmap_matches_loop(g, {a, zeros({3, 0}, float64)}, {0, 0}));
}

TEST(IndexingRulesDirect, ScatterSetGradientGoesToTheLastWriter) {
  // Indices [0, 2, 0]: update 2 overwrites update 0 (mica's scatter: later updates win), so
  // update 0 gets no gradient. (MLX gives the overwritten update the cotangent too.)
  array x = array({1.0, 2.0, 3.0, 4.0}, float64), w = array({1.0, 2.0, 3.0, 4.0}, float64);
  auto f = [&](const array& u) { return sum(put_along_axis(x, array({0, 2, 0}), u, 0) * w); };
  EXPECT_TRUE(mica::test::matches(grad(f)(array({10.0, 20.0, 30.0}, float64)), {3}, {0, 3, 1}, 0, 0));
  auto g = [&](const array& u) { return sum(scatter(x, array({0, 2, 0}), reshape(u, {3, 1}), 0) * w); };
  EXPECT_TRUE(mica::test::matches(grad(g)(array({10.0, 20.0, 30.0}, float64)), {3}, {0, 3, 1}, 0, 0));
}

TEST(IndexingRulesDirect, ScatterMaxTiesEachGetTheCotangent) {
  // As MLX: every element equal to the maximum receives the whole cotangent.
  array x = array({1.0, 2.0, 3.0, 4.0}, float64), w = array({1.0, 2.0, 3.0, 4.0}, float64);
  array i = array({0, 2, 0});
  auto fu = [&](const array& u) { return sum(scatter_max(x, i, reshape(u, {3, 1}), 0) * w); };
  EXPECT_TRUE(mica::test::matches(grad(fu)(array({1.0, 3.0, 1.0}, float64)), {3}, {1, 3, 1}, 0, 0));
  auto fx = [&](const array& a) { return sum(scatter_max(a, i, array({1.0, 3.0, 1.0}, {3, 1}, float64), 0) * w); };
  EXPECT_TRUE(mica::test::matches(grad(fx)(x), {4}, {1, 2, 3, 4}, 0, 0));
  // No ties: only the winner.
  auto fm = [&](const array& u) { return sum(scatter_min(x, i, reshape(u, {3, 1}), 0) * w); };
  EXPECT_TRUE(mica::test::matches(grad(fm)(array({-1.0, 0.0, -2.0}, float64)), {3}, {0, 3, 1}, 0, 0));
}

TEST(IndexingRulesDirect, ScatterProdGradientWithZeroFactors) {
  // out[p] = a[p] * prod of the updates at p; d/du_k = a[p] * prod of the others at p, which is
  // non-zero for the single zero factor at a position and zero when there are two.
  array a = array({2.0, 3.0, 5.0}, float64);
  array i = array({0, 0, 1, 1, 2});
  array u = array({0.0, 4.0, 0.0, 0.0, 7.0}, {5, 1}, float64);
  auto f = [&](const std::vector<array>& v) { return sum(scatter_prod(v[0], i, v[1], 0) * array({1.0, 10.0, 100.0}, float64)); };
  auto g = grad(f, std::vector<int>{0, 1})({a, u});
  EXPECT_TRUE(mica::test::matches(g[0], {3}, {0, 0, 700}, 1e-12, 0));
  EXPECT_TRUE(mica::test::matches(g[1], {5, 1}, {2 * 4.0, 0, 0, 0, 500}, 1e-12, 0));
  // jvp agrees with the same partials.
  auto h = [&](const std::vector<array>& v) { return std::vector<array>{scatter_prod(v[0], i, v[1], 0)}; };
  auto [o, t] = jvp(h, {a, u}, {zeros({3}, float64), array({1.0, 1.0, 1.0, 1.0, 1.0}, {5, 1}, float64)});
  EXPECT_TRUE(mica::test::matches(t[0], {3}, {8, 0, 5}, 1e-12, 0));
}

TEST(IndexingRulesDirect, PerExampleGradientsWithBatchedIndices) {
  // vmap of grad runs the batched rules of the vjp graphs: scatter-adds with batched indices
  // and updates, and the winner bookkeeping of scatter (set).
  auto loss = [](const std::vector<array>& v) {
    array y = take(v[0], v[1], 0);
    array z = put_along_axis(v[0], v[1], y * y, 0);
    array w = scatter_max(v[0], v[1], expand_dims(y, 1) * 0.5, 0);
    return sum(sin(z) * take(y, 0, 0) + w * take(take_along_axis(v[0], v[1], 0), 0, 0));
  };
  Fn per = [&](const std::vector<array>& v) { return grad(loss, 0)({v[0], v[1]})[0]; };
  array x = rand({3, 4}, 16), i = ints({3, 3}, -4, 3, 17);
  EXPECT_TRUE(vmap_matches_loop(per, {x, i}, {0, 0}));
  EXPECT_TRUE(vmap_matches_loop(per, {x, take(i, 0, 0)}, {0, -1}));
  // masked_scatter inside: the gradient to src under vmap.
  auto ms = [](const std::vector<array>& v) { return sum(square(masked_scatter(v[1], v[1] > 0.0, v[0]))); };
  Fn mper = [&](const std::vector<array>& v) { return grad(ms, 0)({v[0], v[1]})[0]; };
  EXPECT_TRUE(vmap_matches_loop(mper, {rand({3, 2}, 18), rand({3, 5}, 19)}, {0, 0}));
}

TEST(IndexingRulesDirect, SecondDerivativeThroughGatherAndScatter) {
  // f(x) = sum(take(x, i)^3) with i = [0, 2, 0]: d2f/dx2 = diag(6 * count * x).
  array i = array({0, 2, 0});
  auto f = [&](const array& x) { return sum(power(take(x, i, 0), array(3.0))); };
  array x = array({0.5, -1.0, 2.0}, float64), v = array({1.0, 2.0, 3.0}, float64);
  array h = grad([&](const array& y) { return sum(grad(f)(y) * v); })(x);
  EXPECT_TRUE(mica::test::matches(h, {3}, {6 * 2 * 0.5 * 1, 0, 6 * 1 * 2.0 * 3}, 1e-12, 1e-12));
  auto [o, t] = jvp([&](const array& y) { return grad(f)(y); }, x, v);
  EXPECT_TRUE(mica::test::matches(t, {3}, {6, 0, 36}, 1e-12, 1e-12));
}

TEST(IndexingRulesDirect, BadInputStillFailsUnderTransforms) {
  // Op errors surface with the op's name while a transform traces the function.
  auto bad_take = [](const array& x) { return sum(take(x, array({0.5f}), 0)); };
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>("take", [&] { grad(bad_take)(rand({3}, 20)); }));
  auto bad_scatter = [](const array& x) { return sum(scatter_add(x, array({0}), zeros({2, 2}, float64), 0)); };
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>("scatter_add", [&] { grad(bad_scatter)(rand({3}, 21)); }));
  Fn f = [](const std::vector<array>& v) { return take(v[0], v[1], 0); };
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>(
      "vmap", [&] { vmap([&](const std::vector<array>& v) { return std::vector<array>{f(v)}; }, {0, 0})(
                        {rand({3, 4}, 22), ints({2, 2}, 0, 3, 23)}); }));
}

TEST(IndexingRulesDirect, IndicesComputedFromTheInputGetNoGradient) {
  // out_j = x[(x_j > 0)] * x_j: the indices depend on x but are piecewise constant.
  auto f = [](const array& x) { return take(x, astype(x > 0.0, int32), 0) * x; };
  array x = array({-1.5, 2.0, 0.5, -0.25}, float64);  // indices [0, 1, 1, 0]
  array w = array({1.0, 2.0, 3.0, 4.0}, float64);
  // d/dx_k sum_j w_j x[i_j] x_j = sum_{j: i_j = k} w_j x_j + w_k x[i_k]
  std::vector<double> want = {1 * -1.5 + 4 * -0.25 + 1 * -1.5, 2 * 2.0 + 3 * 0.5 + 2 * 2.0, 3 * 2.0, 4 * -1.5};
  EXPECT_TRUE(mica::test::matches(vjp(f, x, w).second, {4}, want, 1e-12, 1e-12));
  auto [o, t] = jvp(f, x, w);
  // sum_j w-direction: t_j = w[i_j] x_j + x[i_j] w_j
  EXPECT_TRUE(mica::test::matches(t, {4}, {1 * -1.5 + -1.5 * 1, 2 * 2.0 + 2.0 * 2, 2 * 0.5 + 2.0 * 3, 1 * -0.25 + -1.5 * 4},
                                  1e-12, 1e-12));
  Fn g = [&](const std::vector<array>& v) { return vjp(f, v[0], v[1]).second; };
  EXPECT_TRUE(vmap_matches_loop(g, {rand({3, 4}, 24), rand({3, 4}, 25)}, {0, 0}));
}
