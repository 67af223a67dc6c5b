// Transform rules of Convolution: conv1d/2d/3d, conv_general (asymmetric and negative padding,
// input dilation, flip) and the transposed convolutions, all of which build the one primitive.
// Rows check vjp against finite differences, the jvp/vjp adjoint identity and vmap against a
// loop; second-order rows differentiate the vjp itself (grad of grad, vmap of vjp).
#include <gtest/gtest.h>

#include "reference/reference.h"
#include "reference/transform_checks.h"

using namespace mica;
using mica::test::GradCase;

namespace {
using Fn = std::function<array(const std::vector<array>&)>;

// The cotangent of input `which` (0: input, 1: weight) of f(x, w) for cotangent v = x[2].
Fn vjp_of(Fn f, int which) {
  return [f, which](const std::vector<array>& x) {
    auto [outs, grads] = vjp([f](const std::vector<array>& in) { return std::vector<array>{f(in)}; },
                             std::vector<array>{x[0], x[1]}, std::vector<array>{x[2]});
    return grads[which];
  };
}

// Adds the first-order row and, when `second` is set, rows for the input and weight
// cotangents as functions of (x, w, v) (v has the output's shape `out`).
void add(std::vector<GradCase>& all, const std::string& name, Fn f, Shape x, Shape w, Shape out = {}) {
  all.push_back({name, f, {x, w}});
  if (!out.empty()) {
    all.push_back({name + "_vjp_input", vjp_of(f, 0), {x, w, out}});
    all.push_back({name + "_vjp_weight", vjp_of(f, 1), {x, w, out}});
  }
}

std::vector<GradCase> cases() {
  std::vector<GradCase> all;
  auto f = [](auto op) { return Fn([op](const std::vector<array>& x) { return op(x[0], x[1]); }); };
  // 1-D.
  add(all, "conv1d", f([](auto& x, auto& w) { return conv1d(x, w); }), {2, 7, 3}, {4, 3, 3}, {2, 5, 4});
  add(all, "conv1d_stride2", f([](auto& x, auto& w) { return conv1d(x, w, 2); }), {2, 8, 3}, {2, 3, 3}, {2, 3, 2});
  // Stride 3 over 8 inputs with a 3-tap kernel: the last two inputs are never read.
  add(all, "conv1d_stride3_unused_tail", f([](auto& x, auto& w) { return conv1d(x, w, 3); }), {1, 8, 2}, {2, 3, 2});
  add(all, "conv1d_padding2", f([](auto& x, auto& w) { return conv1d(x, w, 1, 2); }), {2, 5, 2}, {3, 3, 2});
  add(all, "conv1d_dilation2", f([](auto& x, auto& w) { return conv1d(x, w, 1, 0, 2); }), {2, 8, 2}, {3, 3, 2});
  add(all, "conv1d_groups2", f([](auto& x, auto& w) { return conv1d(x, w, 1, 0, 1, 2); }), {2, 6, 4}, {6, 3, 2},
      {2, 4, 6});
  add(all, "conv1d_depthwise", f([](auto& x, auto& w) { return conv1d(x, w, 1, 1, 1, 3); }), {1, 6, 3}, {3, 3, 1});
  add(all, "conv1d_all", f([](auto& x, auto& w) { return conv1d(x, w, 2, 1, 2, 2); }), {2, 9, 4}, {4, 3, 2},
      {2, 4, 4});
  add(all, "conv1d_kernel1", f([](auto& x, auto& w) { return conv1d(x, w); }), {2, 4, 3}, {5, 1, 3});
  // 2-D.
  add(all, "conv2d", f([](auto& x, auto& w) { return conv2d(x, w); }), {1, 4, 5, 2}, {3, 3, 2, 2});
  add(all, "conv2d_mixed", f([](auto& x, auto& w) { return conv2d(x, w, {2, 1}, {1, 0}, {1, 2}); }),
      {2, 5, 6, 2}, {2, 3, 2, 2}, {2, 3, 4, 2});
  add(all, "conv2d_groups2", f([](auto& x, auto& w) { return conv2d(x, w, {1, 1}, {1, 1}, {1, 1}, 2); }),
      {1, 4, 4, 4}, {4, 2, 3, 2});
  add(all, "conv2d_asym_padding",
      f([](auto& x, auto& w) { return conv_general(x, w, {1, 2}, {1, 0}, {0, 2}, {1, 1}, {1, 1}); }),
      {1, 4, 5, 2}, {2, 2, 3, 2}, {1, 4, 3, 2});
  add(all, "conv2d_input_dilation",
      f([](auto& x, auto& w) { return conv_general(x, w, {1}, {0}, {1}, {1}, {2, 1}); }), {1, 3, 4, 2},
      {2, 2, 2, 2}, {1, 5, 4, 2});
  add(all, "conv2d_flip", f([](auto& x, auto& w) { return conv_general(x, w, {}, {1}, {0}, {}, {}, 1, true); }),
      {1, 4, 4, 2}, {2, 3, 2, 2});
  add(all, "conv2d_negative_padding",
      f([](auto& x, auto& w) { return conv_general(x, w, {1}, {-1, 0}, {0, -1}, {1}, std::vector<int>{1}); }), {1, 6, 5, 2},
      {2, 2, 2, 2}, {1, 4, 3, 2});
  add(all, "conv_general_everything",
      f([](auto& x, auto& w) { return conv_general(x, w, {2, 1}, {2, 0}, {1, 1}, {1, 2}, {2, 1}, 2, true); }),
      {1, 3, 5, 4}, {4, 2, 2, 2});
  // 3-D.
  add(all, "conv3d", f([](auto& x, auto& w) { return conv3d(x, w, {1, 2, 1}, {1, 0, 1}); }), {1, 3, 4, 3, 2},
      {2, 2, 2, 2, 2}, {1, 4, 2, 4, 2});
  add(all, "conv3d_groups_dilation",
      f([](auto& x, auto& w) { return conv3d(x, w, {1, 1, 1}, {0, 1, 0}, {2, 1, 1}, 2); }), {1, 4, 3, 2, 2},
      {2, 2, 2, 1, 1});
  // Transposed convolutions (input dilation, flip and possibly negative padding underneath).
  add(all, "conv_transpose1d", f([](auto& x, auto& w) { return conv_transpose1d(x, w, 2, 1, 1, 1); }), {2, 4, 3},
      {2, 3, 3}, {2, 8, 2});
  add(all, "conv_transpose1d_groups_dilation",
      f([](auto& x, auto& w) { return conv_transpose1d(x, w, 3, 0, 2, 0, 2); }), {1, 3, 4}, {4, 2, 2});
  add(all, "conv_transpose1d_big_padding", f([](auto& x, auto& w) { return conv_transpose1d(x, w, 2, 3); }),
      {1, 5, 2}, {2, 3, 2});
  add(all, "conv_transpose2d",
      f([](auto& x, auto& w) { return conv_transpose2d(x, w, {2, 2}, {1, 0}, {1, 2}, {1, 0}); }), {1, 3, 3, 2},
      {2, 3, 2, 2});
  add(all, "conv_transpose3d", f([](auto& x, auto& w) { return conv_transpose3d(x, w, {2, 1, 2}); }),
      {1, 2, 2, 2, 2}, {2, 2, 2, 2, 2});
  return all;
}
const std::vector<GradCase> kConv = cases();

// vmap(fn, in_axes, {out_axis}) against a loop over the batch.
testing::AssertionResult vmap_loop(const Fn& fn, const std::vector<Shape>& shapes, const std::vector<int>& in_axes,
                                   int out_axis = 0) {
  const int B = 3;
  std::vector<array> batched;
  for (size_t i = 0; i < shapes.size(); ++i) {
    Shape s = shapes[i];
    if (in_axes[i] >= 0) s.insert(s.begin() + in_axes[i], B);
    batched.push_back(mica::test::random_array(s, float64, -2, 2, 40 + 7 * static_cast<uint32_t>(i)));
  }
  auto f = [&](const std::vector<array>& in) { return std::vector<array>{fn(in)}; };
  array got = vmap(f, in_axes, {out_axis})(batched)[0];
  std::vector<array> loop;
  for (int b = 0; b < B; ++b) {
    std::vector<array> xs;
    for (size_t i = 0; i < shapes.size(); ++i) xs.push_back(in_axes[i] < 0 ? batched[i] : take(batched[i], b, in_axes[i]));
    loop.push_back(fn(xs));
  }
  array want = stack(loop, out_axis < 0 ? static_cast<int>(loop[0].ndim()) + 1 + out_axis : out_axis);
  if (got.shape() != want.shape()) return testing::AssertionFailure() << "shape " << got << " vs loop " << want;
  return mica::test::all_close(mica::test::to_vector(got), mica::test::to_vector(want), 1e-12, 1e-12);
}
}  // namespace

class ConvRules : public mica::test::GradRules {};
MICA_GRAD_RULE_TESTS(ConvRules, kConv);

// The table's vmap check batches both inputs or only the weight; these batch only the input
// (folded into the convolution's batch), at several axes, for every row.
TEST(ConvVmap, InputOnlyBatched) {
  for (auto& c : kConv) {
    if (c.shapes.size() != 2) continue;
    int nd = static_cast<int>(c.shapes[0].size());
    for (int ax : {0, 1, nd}) {
      EXPECT_TRUE(vmap_loop(c.fn, c.shapes, {ax, -1})) << c.name << " input axis " << ax;
    }
  }
}

TEST(ConvVmap, WeightOnlyBatchedAtInnerAxes) {
  for (auto& c : kConv) {
    if (c.shapes.size() != 2) continue;
    int nd = static_cast<int>(c.shapes[1].size());
    EXPECT_TRUE(vmap_loop(c.fn, c.shapes, {-1, 1}, -1)) << c.name;
    EXPECT_TRUE(vmap_loop(c.fn, c.shapes, {-1, nd})) << c.name;
    EXPECT_TRUE(vmap_loop(c.fn, c.shapes, {1, nd - 1}, 1)) << c.name;
  }
}

// Per-example weight gradients: vmap over (x_i, v_i) of the vjp with a shared weight.
TEST(ConvVmap, PerExampleWeightGradients) {
  auto conv = [](const std::vector<array>& in) {
    return std::vector<array>{conv2d(in[0], in[1], {2, 1}, {1, 1}, {1, 1}, 2)};
  };
  auto per_example = [&](const std::vector<array>& in) {
    // in: x (1, 5, 4, 4), w (4, 3, 2, 2), v (1, 3, 5, 4).
    return std::vector<array>{vjp(conv, {in[0], in[1]}, {in[2]}).second[1]};
  };
  array x = mica::test::random_array({3, 1, 5, 4, 4}, float64, -1, 1, 3);
  array w = mica::test::random_array({4, 3, 2, 2}, float64, -1, 1, 4);
  array v = mica::test::random_array({3, 1, 3, 5, 4}, float64, -1, 1, 5);
  array got = vmap(per_example, {0, -1, 0})({x, w, v})[0];
  ASSERT_EQ(got.shape(), Shape({3, 4, 3, 2, 2}));
  for (int b = 0; b < 3; ++b) {
    array want = per_example({take(x, b, 0), w, take(v, b, 0)})[0];
    EXPECT_TRUE(mica::test::all_close(mica::test::to_vector(take(got, b, 0)), mica::test::to_vector(want), 1e-12,
                                      1e-12));
  }
  // The sum over the batch is the gradient of the batched convolution.
  auto [outs, full] = vjp(conv, {reshape(x, {3, 5, 4, 4}), w}, {reshape(v, {3, 3, 5, 4})});
  EXPECT_TRUE(mica::test::all_close(mica::test::to_vector(sum(got, 0)), mica::test::to_vector(full[1]), 1e-10,
                                    1e-10));
}

// The weight cotangent checked against a direct double loop (independent of the conv kernel):
// dw[co, k, ci] = sum_{n, o} v[n, o, co] * x[n, o * stride - pad + k * dil, ci].
TEST(ConvVjp, WeightCotangentMatchesLoop) {
  const int N = 2, L = 9, C = 3, O = 2, K = 3, stride = 2, pad = 1, dil = 2;
  array x = mica::test::random_array({N, L, C}, float64, -1, 1, 8);
  array w = mica::test::random_array({O, K, C}, float64, -1, 1, 9);
  array out = conv1d(x, w, stride, pad, dil);
  int P = out.shape(1);
  array v = mica::test::random_array(out.shape(), float64, -1, 1, 10);
  auto f = [&](const std::vector<array>& in) { return std::vector<array>{conv1d(in[0], in[1], stride, pad, dil)}; };
  auto grads = vjp(f, {x, w}, {v}).second;
  auto xv = mica::test::to_vector(x), vv = mica::test::to_vector(v);
  std::vector<double> dw(O * K * C, 0.0), dx(N * L * C, 0.0);
  auto wv = mica::test::to_vector(w);
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < P; ++o)
      for (int co = 0; co < O; ++co)
        for (int k = 0; k < K; ++k) {
          int q = o * stride - pad + k * dil;
          if (q < 0 || q >= L) continue;
          for (int ci = 0; ci < C; ++ci) {
            dw[(co * K + k) * C + ci] += vv[(n * P + o) * O + co] * xv[(n * L + q) * C + ci];
            dx[(n * L + q) * C + ci] += vv[(n * P + o) * O + co] * wv[(co * K + k) * C + ci];
          }
        }
  EXPECT_TRUE(mica::test::matches(grads[0], x.shape(), dx, 1e-12, 1e-12));
  EXPECT_TRUE(mica::test::matches(grads[1], w.shape(), dw, 1e-12, 1e-12));
}

TEST(ConvVjp, EmptyBatch) {
  array x = zeros({0, 5, 2}, float64);
  array w = mica::test::random_array({3, 2, 2}, float64, -1, 1, 2);
  auto f = [](const std::vector<array>& in) { return std::vector<array>{conv1d(in[0], in[1])}; };
  auto grads = vjp(f, {x, w}, {zeros({0, 4, 3}, float64)}).second;
  EXPECT_TRUE(mica::test::matches(grads[0], {0, 5, 2}, {}));
  EXPECT_TRUE(mica::test::matches(grads[1], {3, 2, 2}, std::vector<double>(12, 0.0)));
}

TEST(ConvRulesBadInput, ClearErrors) {
  array x = mica::test::random_array({2, 6, 2}, float64, -1, 1, 1);
  array w = mica::test::random_array({3, 3, 2}, float64, -1, 1, 2);
  auto f = [](const std::vector<array>& in) { return std::vector<array>{conv1d(in[0], in[1])}; };
  // A cotangent of the wrong shape.
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>("vjp", [&] { vjp(f, {x, w}, {zeros({2, 5, 3})}); }));
  // grad of a non-scalar convolution.
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>(
      "grad", [&] { grad(std::function<array(const std::vector<array>&)>(
                [](const std::vector<array>& in) { return conv1d(in[0], in[1]); }))({x, w}); }));
  // vmap with batch sizes that disagree, and an axis out of range.
  array xb = mica::test::random_array({3, 2, 6, 2}, float64, -1, 1, 3);
  array wb = mica::test::random_array({4, 3, 3, 2}, float64, -1, 1, 4);
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>("vmap", [&] { vmap(f, {0, 0})({xb, wb}); }));
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>("vmap", [&] { vmap(f, {4, -1})({xb, w}); }));
  // Per-example shapes the op rejects are reported by the op while vmap traces it.
  array xc = mica::test::random_array({3, 2, 6, 5}, float64, -1, 1, 5);
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>("conv1d", [&] { vmap(f, {0, -1})({xc, w}); }));
}
