// Transform rules of the movement family: vjp vs finite differences, jvp/vjp adjoint and vmap
// vs a loop for reshape, transpose, broadcast, copy, as_strided, slices (static and dynamic),
// slice updates, concatenation and every pad mode; direct checks for what the table cannot
// express (View, batched start indices, composed transforms, opt-out messages).
#include <gtest/gtest.h>

#include "reference/reference.h"
#include "reference/transform_checks.h"

using namespace mica;
using mica::test::GradCase;

namespace {
using Fn = std::function<array(const std::vector<array>&)>;

GradCase row(const std::string& name, Fn fn, std::vector<Shape> shapes) { return {name, std::move(fn), std::move(shapes)}; }

std::vector<GradCase> cases() {
  std::vector<GradCase> c;
  // Reshape, Transpose, Broadcast, Copy (rules written before; rows here exercise them).
  c.push_back(row("reshape", [](const std::vector<array>& x) { return reshape(x[0], {3, 4}); }, {{2, 6}}));
  c.push_back(row("reshape_infer_3d", [](const std::vector<array>& x) { return reshape(x[0], {2, -1, 2}); }, {{4, 3}}));
  c.push_back(row("flatten_expand_squeeze",
                  [](const std::vector<array>& x) { return squeeze(expand_dims(flatten(x[0], 1, 2), 0), 0); },
                  {{2, 3, 2}}));
  c.push_back(row("transpose_3d", [](const std::vector<array>& x) { return transpose(x[0], {2, 0, 1}); }, {{2, 3, 4}}));
  c.push_back(row("swapaxes_negative", [](const std::vector<array>& x) { return swapaxes(x[0], -1, 0); }, {{3, 2, 2}}));
  c.push_back(row("transpose_then_reshape",
                  [](const std::vector<array>& x) { return reshape(transpose(x[0]), {6}); }, {{2, 3}}));
  c.push_back(row("broadcast_row", [](const std::vector<array>& x) { return broadcast_to(x[0], {2, 3}); }, {{3}}));
  c.push_back(row("broadcast_middle", [](const std::vector<array>& x) { return broadcast_to(x[0], {4, 2, 3, 3}); },
                  {{2, 1, 3}}));
  c.push_back(row("broadcast_scalar", [](const std::vector<array>& x) { return broadcast_to(x[0], {2, 2}); }, {{}}));
  c.push_back(row("copy", [](const std::vector<array>& x) { return copy(x[0]) * x[0]; }, {{2, 3}}));
  c.push_back(row("contiguous_of_transpose", [](const std::vector<array>& x) { return contiguous(transpose(x[0])); },
                  {{3, 2}}));
  c.push_back(row("repeat_tile", [](const std::vector<array>& x) { return tile(repeat(x[0], 2, 1), {2, 1}); }, {{2, 3}}));

  // AsStrided: overlapping windows, offsets, zero and negative strides, a non-contiguous input.
  c.push_back(row("as_strided_windows", [](const std::vector<array>& x) { return as_strided(x[0], {4, 3}, {1, 1}, 0); },
                  {{6}}));
  c.push_back(row("as_strided_offset_stride",
                  [](const std::vector<array>& x) { return as_strided(x[0], {2, 3}, {4, 2}, 1); }, {{2, 5}}));
  c.push_back(row("as_strided_zero_stride",
                  [](const std::vector<array>& x) { return as_strided(x[0], {3, 2}, {0, 3}, 2); }, {{6}}));
  c.push_back(row("as_strided_negative_stride",
                  [](const std::vector<array>& x) { return as_strided(x[0], {3, 2}, {-2, 1}, 4); }, {{3, 2}}));
  c.push_back(row("as_strided_of_transpose",
                  [](const std::vector<array>& x) { return as_strided(transpose(x[0]), {2, 2}, {3, 1}, 1); },
                  {{2, 3}}));

  // Slice: plain, stepped, reversed, Python-style negative bounds, empty.
  c.push_back(row("slice_plain", [](const std::vector<array>& x) { return slice(x[0], {1, 0}, {3, 5}); }, {{4, 5}}));
  c.push_back(row("slice_steps", [](const std::vector<array>& x) { return slice(x[0], {0, 1}, {5, 5}, {2, 3}); },
                  {{5, 5}}));
  c.push_back(row("slice_reverse", [](const std::vector<array>& x) { return flip(x[0], 1); }, {{2, 4}}));
  c.push_back(row("slice_negative_bounds",
                  [](const std::vector<array>& x) { return slice(x[0], {-1, -2}, {-4, 6}, {-1, 1}); }, {{4, 3}}));
  c.push_back(row("slice_empty", [](const std::vector<array>& x) { return slice(x[0], {2, 0}, {2, 3}) + 1.0; },
                  {{3, 3}}));
  c.push_back(row("split_unstack",
                  [](const std::vector<array>& x) {
                    auto parts = split(x[0], Shape{1, 3}, 1);
                    auto rows = unstack(x[0], 0);
                    return parts[0] * parts[2] + sum(parts[1], 1, true) + rows[1];
                  },
                  {{2, 4}}));
  c.push_back(row("diagonal", [](const std::vector<array>& x) { return diagonal(x[0], 1); }, {{3, 4}}));

  // SliceUpdate: both inputs differentiated; strided, reversed, broadcast updates.
  c.push_back(row("slice_update", [](const std::vector<array>& x) { return slice_update(x[0], x[1], {1, 0}, {3, 5}); },
                  {{4, 5}, {2, 5}}));
  c.push_back(row("slice_update_strided",
                  [](const std::vector<array>& x) { return slice_update(x[0], x[1], {3, 0}, {-5, 4}, {-2, 2}); },
                  {{4, 4}, {2, 2}}));
  c.push_back(row("slice_update_broadcast",
                  [](const std::vector<array>& x) { return slice_update(x[0], x[1], {0, 1}, {3, 3}); },
                  {{3, 4}, {1, 2}}));

  // DynamicSlice / DynamicSliceUpdate with constant starts (negative and clamped ones too).
  c.push_back(row("dynamic_slice",
                  [](const std::vector<array>& x) { return slice(x[0], array({1, -3}), {0, 1}, {2, 3}); }, {{4, 5}}));
  c.push_back(row("dynamic_slice_clamped",
                  [](const std::vector<array>& x) { return slice(x[0], array(7), {1}, {3, 2, 2}); }, {{3, 4, 2}}));
  c.push_back(row("dynamic_slice_update",
                  [](const std::vector<array>& x) { return slice_update(x[0], x[1], array({2, -2}), {0, 1}); },
                  {{4, 5}, {2, 3}}));
  c.push_back(row("dynamic_slice_update_clamped_axis",
                  [](const std::vector<array>& x) { return slice_update(x[0], x[1], array({9}, int64), {-1}); },
                  {{3, 5}, {3, 2}}));

  // Concatenate (and stack, which concatenates expanded inputs).
  c.push_back(row("concatenate_axis1",
                  [](const std::vector<array>& x) { return concatenate({x[0], x[1], x[2]}, 1); },
                  {{2, 1}, {2, 3}, {2, 2}}));
  c.push_back(row("concatenate_negative_axis",
                  [](const std::vector<array>& x) { return concatenate({x[0], x[1]}, -2); }, {{1, 3}, {2, 3}}));
  c.push_back(row("concatenate_same_input",
                  [](const std::vector<array>& x) { return concatenate({x[0], x[0] * x[0]}, 0); }, {{3}}));
  c.push_back(row("stack_axis1", [](const std::vector<array>& x) { return stack({x[0], x[1]}, 1); }, {{2, 3}, {2, 3}}));
  c.push_back(row("roll", [](const std::vector<array>& x) { return roll(x[0], 2, 1); }, {{2, 5}}));

  // Pad: constant with a differentiated pad value, edge/reflect/symmetric with widths beyond
  // the axis, several axes, an empty input (all pad value).
  c.push_back(row("pad_constant_value",
                  [](const std::vector<array>& x) { return pad(x[0], {0, 1}, {1, 0}, {2, 1}, x[1]); }, {{2, 3}, {}}));
  c.push_back(row("pad_constant_negative_axis",
                  [](const std::vector<array>& x) { return pad(x[0], {-1}, {0}, {2}, array(0.5)); }, {{3, 2}}));
  c.push_back(row("pad_edge", [](const std::vector<array>& x) { return pad(x[0], {{2, 3}}, array(0.0), "edge"); },
                  {{4}}));
  c.push_back(row("pad_edge_value_unused",
                  [](const std::vector<array>& x) { return pad(x[0], {1, 0}, {1, 2}, {0, 1}, x[1], "edge"); },
                  {{2, 3}, {}}));
  c.push_back(row("pad_reflect_wide",
                  [](const std::vector<array>& x) { return pad(x[0], {{4, 5}}, array(0.0), "reflect"); }, {{3}}));
  c.push_back(row("pad_reflect_2d",
                  [](const std::vector<array>& x) { return pad(x[0], {{1, 2}, {2, 1}}, array(0.0), "reflect"); },
                  {{3, 3}}));
  c.push_back(row("pad_symmetric",
                  [](const std::vector<array>& x) { return pad(x[0], {{3, 4}, {0, 1}}, array(0.0), "symmetric"); },
                  {{2, 3}}));
  c.push_back(row("pad_edge_empty_input",
                  [](const std::vector<array>& x) { return pad(x[0], {0}, {1}, {1}, x[1], "edge"); }, {{0, 3}, {}}));
  return c;
}
const std::vector<GradCase> kMovement = cases();

// vmap of f over `inputs` (any dtypes) equals stacking f over the batch.
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

array rand(const Shape& s, uint32_t seed) { return mica::test::random_array(s, float64, -2, 2, seed); }
}  // namespace

class MovementRules : public mica::test::GradRules {};
MICA_GRAD_RULE_TESTS(MovementRules, kMovement);

TEST(MovementRulesDirect, ViewHasVmapButNoDerivative) {
  // float32 -> int16 doubles the last axis; float64 -> int64 keeps it. Batch axes 0 and last.
  auto x = mica::test::random_array({3, 2, 4}, float32, -2, 2, 3);
  Fn half = [](const std::vector<array>& v) { return view(v[0], int16); };
  EXPECT_TRUE(vmap_matches_loop(half, {x}, {0}));
  EXPECT_TRUE(vmap_matches_loop(half, {x}, {2}, 1));
  Fn same = [](const std::vector<array>& v) { return view(v[0], int64); };
  EXPECT_TRUE(vmap_matches_loop(same, {rand({2, 3}, 4)}, {1}));
  // As MLX: reinterpreting bits has no vjp or jvp; the error names the reason.
  auto f = [](const array& v) { return sum(astype(view(v, int64), float64)); };
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>("vjp", [&] { grad(f)(rand({3}, 5)); }));
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>(
      "jvp", [&] { jvp([](const array& v) { return view(v, int64); }, rand({3}, 5), rand({3}, 6)); }));
  try {
    grad(f)(rand({3}, 5));
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("no derivative"), std::string::npos) << e.what();
  }
}

TEST(MovementRulesDirect, AsStridedVmapOverTheLastAxis) {
  // A batch axis that is not in front makes the batched input non-contiguous.
  Fn f = [](const std::vector<array>& v) { return as_strided(v[0], {2, 2}, {2, 1}, 1); };
  EXPECT_TRUE(vmap_matches_loop(f, {rand({5, 3}, 7)}, {1}, 1));
}

TEST(MovementRulesDirect, DynamicSliceWithBatchedStarts) {
  Fn f = [](const std::vector<array>& v) { return slice(v[0], v[1], {0, 2}, {2, 3, 2}); };
  array x = rand({3, 4, 3, 5}, 8);  // batch 3 in front
  array start = array({0, 1, 3, -1, -7, 2}, {3, 2}, int32);
  EXPECT_TRUE(vmap_matches_loop(f, {x, start}, {0, 0}));
  EXPECT_TRUE(vmap_matches_loop(f, {take(x, 1, 0), start}, {-1, 0}));
  EXPECT_TRUE(vmap_matches_loop(f, {moveaxis(x, 0, 2), transpose(start)}, {2, 1}, 2));
  // A single sliced axis with 0-d starts per batch element.
  Fn g = [](const std::vector<array>& v) { return slice(v[0], v[1], {1}, {2, 2}); };
  EXPECT_TRUE(vmap_matches_loop(g, {rand({3, 2, 5}, 9), array({4, -1, 1}, int64)}, {0, 0}));
}

TEST(MovementRulesDirect, DynamicSliceUpdateWithBatchedStarts) {
  Fn f = [](const std::vector<array>& v) { return slice_update(v[0], v[1], v[2], {0, 1}); };
  array src = rand({3, 4, 5}, 10), upd = rand({3, 2, 3}, 11);
  array start = array({1, 1, -1, 4, 8, -9}, {3, 2}, int32);
  EXPECT_TRUE(vmap_matches_loop(f, {src, upd, start}, {0, 0, 0}));
  EXPECT_TRUE(vmap_matches_loop(f, {take(src, 0, 0), upd, start}, {-1, 0, 0}));
  EXPECT_TRUE(vmap_matches_loop(f, {src, take(upd, 2, 0), start}, {0, -1, 0}, 1));
  EXPECT_TRUE(vmap_matches_loop(f, {moveaxis(src, 0, 2), upd, transpose(start)}, {2, 0, 1}));
  // Unbatched start, batched source only.
  EXPECT_TRUE(vmap_matches_loop(f, {src, take(upd, 1, 0), array({2, 2})}, {0, -1, -1}));
}

TEST(MovementRulesDirect, PadWithBatchedValueInEveryMode) {
  for (const char* mode : {"constant", "edge", "reflect", "symmetric"}) {
    Fn f = [mode](const std::vector<array>& v) { return pad(v[0], {1}, {2}, {3}, v[1], mode); };
    EXPECT_TRUE(vmap_matches_loop(f, {rand({3, 2, 3}, 12), rand({3}, 13)}, {0, 0})) << mode;
    EXPECT_TRUE(vmap_matches_loop(f, {rand({2, 3}, 14), rand({3}, 15)}, {-1, 0})) << mode;
  }
}

TEST(MovementRulesDirect, PerExampleGradients) {
  // vmap of grad runs the batched rules of the vjp graphs (slice updates, scatter-adds, pads).
  auto loss = [](const std::vector<array>& v) {
    array x = v[0];
    array y = concatenate({slice(x, {1}, {4}), pad(x, {{1, 2}}, array(0.0), "reflect"), flatten(as_strided(x, {2, 2}, {1, 2}, 0))}, 0);
    return sum(square(y) * sin(y));
  };
  auto g = grad(loss, 0);
  Fn per = [&](const std::vector<array>& v) { return g({v[0]})[0]; };
  EXPECT_TRUE(vmap_matches_loop(per, {rand({3, 5}, 16)}, {0}));
  EXPECT_TRUE(vmap_matches_loop(per, {rand({5, 3}, 17)}, {1}));
  // The gradient through a dynamic slice with a batched start.
  auto dyn = [](const std::vector<array>& v) { return sum(exp(slice(v[0], v[1], {0}, {2, 3}))); };
  Fn dper = [&](const std::vector<array>& v) { return grad(dyn, 0)({v[0], v[1]})[0]; };
  EXPECT_TRUE(vmap_matches_loop(dper, {rand({3, 4, 3}, 18), array({0, 3, -1}, int32)}, {0, 0}));
}

TEST(MovementRulesDirect, SecondDerivativeThroughSlicesAndPads) {
  // f(x) = sum(pad(x[1:], edge)^3): d2f/dx2 is diagonal with 6 * count * x (count: copies).
  auto f = [](const array& x) { return sum(power(pad(slice(x, {1}, {4}), {{2, 1}}, array(0.0), "edge"), array(3.0))); };
  array x = array({0.5, -1.0, 2.0, 1.5}, float64);
  array h = grad([&](const array& v) { return sum(grad(f)(v) * array({1.0, 2.0, 3.0, 4.0}, float64)); })(x);
  // copies of x[1], x[2], x[3]: 3, 1, 2; x[0] is cut away.
  EXPECT_TRUE(mica::test::matches(h, {4}, {0, 6 * 3 * -1.0 * 2, 6 * 1 * 2.0 * 3, 6 * 2 * 1.5 * 4}, 1e-12, 1e-12));
  // jvp of the vjp equals the same Hessian-vector product.
  auto [o, t] = jvp([&](const array& v) { return grad(f)(v); }, x, array({1.0, 2.0, 3.0, 4.0}, float64));
  EXPECT_TRUE(mica::test::matches(t, {4}, {0, -36, 36, 72}, 1e-12, 1e-12));
}
