// Transform rules of Matmul and AddMM: plain, batched and broadcast batch dims, 1-D operands
// (which the ops reshape around the primitive), alpha/beta of addmm, and the products built on
// matmul (inner, tensordot). Second-order rows differentiate the vjp itself.
#include <gtest/gtest.h>

#include "reference/reference.h"
#include "reference/transform_checks.h"

using namespace mica;
using mica::test::GradCase;

namespace {
using Fn = std::function<array(const std::vector<array>&)>;

// Cotangent `which` of f at x[0..n) for the cotangent x[n].
Fn vjp_of(Fn f, size_t n, int which) {
  return [f, n, which](const std::vector<array>& x) {
    std::vector<array> primals(x.begin(), x.begin() + n);
    auto [outs, grads] = vjp([f](const std::vector<array>& in) { return std::vector<array>{f(in)}; }, primals, {x[n]});
    return grads[which];
  };
}

std::vector<GradCase> cases() {
  std::vector<GradCase> all;
  Fn mm = [](const std::vector<array>& x) { return matmul(x[0], x[1]); };
  all.push_back({"matmul_2d", mm, {{2, 3}, {3, 4}}});
  all.push_back({"matmul_batched", mm, {{2, 2, 3}, {2, 3, 4}}});
  all.push_back({"matmul_broadcast_batch", mm, {{2, 1, 2, 3}, {3, 3, 2}}});
  all.push_back({"matmul_shared_right", mm, {{3, 2, 3}, {3, 2}}});
  all.push_back({"matmul_vector_left", mm, {{3}, {3, 4}}});
  all.push_back({"matmul_vector_right", mm, {{2, 3}, {3}}});
  all.push_back({"matmul_dot", mm, {{4}, {4}}});
  all.push_back({"matmul_batched_vector", mm, {{2, 2, 3}, {3}}});
  all.push_back({"matmul_vector_batched", mm, {{3}, {2, 3, 2}}});
  all.push_back({"matmul_inner_dim1", mm, {{3, 1}, {1, 2}}});
  all.push_back({"matmul_nonlinear", [](const std::vector<array>& x) { return tanh(matmul(x[0], tanh(x[1]))); },
                 {{2, 3}, {3, 2}}});
  auto addmm_fn = [](float alpha, float beta) {
    return Fn([alpha, beta](const std::vector<array>& x) { return addmm(x[0], x[1], x[2], alpha, beta); });
  };
  all.push_back({"addmm", addmm_fn(1.0f, 1.0f), {{2, 4}, {2, 3}, {3, 4}}});
  all.push_back({"addmm_alpha_beta", addmm_fn(1.5f, -0.5f), {{2, 4}, {2, 3}, {3, 4}}});
  all.push_back({"addmm_beta0", addmm_fn(2.0f, 0.0f), {{2, 4}, {2, 3}, {3, 4}}});
  all.push_back({"addmm_row_c", addmm_fn(0.5f, 2.0f), {{4}, {2, 3}, {3, 4}}});
  all.push_back({"addmm_scalar_c", addmm_fn(1.0f, 3.0f), {{}, {2, 3}, {3, 4}}});
  all.push_back({"addmm_batched", addmm_fn(0.75f, 1.25f), {{2, 1, 4}, {2, 2, 3}, {2, 3, 4}}});
  all.push_back({"addmm_broadcast_batch", addmm_fn(1.0f, 0.5f), {{2, 4}, {2, 2, 3}, {3, 4}}});
  all.push_back({"addmm_vectors", addmm_fn(2.0f, 0.5f), {{4}, {3}, {3, 4}}});
  all.push_back({"inner", [](const std::vector<array>& x) { return inner(x[0], x[1]); }, {{2, 3}, {4, 3}}});
  all.push_back({"tensordot", [](const std::vector<array>& x) { return tensordot(x[0], x[1], {0, 2}, {1, 0}); },
                 {{2, 3, 2}, {2, 2, 3}}});
  // Second order: the cotangents of a and b as functions of (a, b, v); vjp of a vjp is grad of
  // grad, and the vmap check batches a vjp.
  all.push_back({"matmul_vjp_a", vjp_of(mm, 2, 0), {{2, 2, 3}, {2, 3, 4}, {2, 2, 4}}});
  all.push_back({"matmul_vjp_b", vjp_of(mm, 2, 1), {{2, 3}, {3, 4}, {2, 4}}});
  all.push_back({"addmm_vjp_a", vjp_of(addmm_fn(1.5f, 0.5f), 3, 1), {{2, 4}, {2, 3}, {3, 4}, {2, 4}}});
  all.push_back({"addmm_vjp_b", vjp_of(addmm_fn(1.5f, 0.5f), 3, 2), {{2, 4}, {2, 3}, {3, 4}, {2, 4}}});
  return all;
}
const std::vector<GradCase> kMatmul = cases();

// vmap(fn, in_axes, {out_axis}) against a loop over the batch.
testing::AssertionResult vmap_loop(const Fn& fn, const std::vector<Shape>& shapes, const std::vector<int>& in_axes,
                                   int out_axis = 0) {
  const int B = 3;
  std::vector<array> batched;
  for (size_t i = 0; i < shapes.size(); ++i) {
    Shape s = shapes[i];
    if (in_axes[i] >= 0) s.insert(s.begin() + in_axes[i], B);
    batched.push_back(mica::test::random_array(s, float64, -2, 2, 50 + 7 * static_cast<uint32_t>(i)));
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

class MatmulRules : public mica::test::GradRules {};
MICA_GRAD_RULE_TESTS(MatmulRules, kMatmul);

// Every pattern of mapped and unmapped operands (the table checks only a few), at inner axes.
TEST(MatmulVmap, EveryMappingPattern) {
  for (auto& c : kMatmul) {
    size_t n = c.shapes.size();
    for (unsigned mask = 1; mask < (1u << n); ++mask) {
      std::vector<int> axes(n, -1);
      for (size_t i = 0; i < n; ++i) {
        if (mask & (1u << i)) axes[i] = static_cast<int>(c.shapes[i].size() + i) % (c.shapes[i].size() + 1);
      }
      EXPECT_TRUE(vmap_loop(c.fn, c.shapes, axes)) << c.name << " mask " << mask;
    }
  }
}

// The cotangents against double loops: da = alpha v b^T, db = alpha a^T v, dc = beta v
// summed over the rows that c was broadcast to.
TEST(AddMMVjp, MatchesLoops) {
  const int M = 3, K = 4, N = 2;
  const float alpha = 1.5f, beta = -0.25f;
  array a = mica::test::random_array({M, K}, float64, -1, 1, 1);
  array b = mica::test::random_array({K, N}, float64, -1, 1, 2);
  array c = mica::test::random_array({N}, float64, -1, 1, 3);
  array v = mica::test::random_array({M, N}, float64, -1, 1, 4);
  auto f = [&](const std::vector<array>& in) { return std::vector<array>{addmm(in[0], in[1], in[2], alpha, beta)}; };
  auto g = vjp(f, {c, a, b}, {v}).second;
  auto av = mica::test::to_vector(a), bv = mica::test::to_vector(b), vv = mica::test::to_vector(v);
  std::vector<double> da(M * K, 0), db(K * N, 0), dc(N, 0);
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      dc[j] += double(beta) * vv[i * N + j];
      for (int k = 0; k < K; ++k) {
        da[i * K + k] += double(alpha) * vv[i * N + j] * bv[k * N + j];
        db[k * N + j] += double(alpha) * av[i * K + k] * vv[i * N + j];
      }
    }
  EXPECT_TRUE(mica::test::matches(g[0], {N}, dc, 1e-12, 1e-12));
  EXPECT_TRUE(mica::test::matches(g[1], {M, K}, da, 1e-12, 1e-12));
  EXPECT_TRUE(mica::test::matches(g[2], {K, N}, db, 1e-12, 1e-12));
}

// Gradients keep the inputs' dtype (float32 here; the table runs in float64).
TEST(MatmulVjp, KeepsDtype) {
  array a = mica::test::random_array({2, 3}, float32, -1, 1, 1);
  array b = mica::test::random_array({3, 2}, float32, -1, 1, 2);
  array c = mica::test::random_array({2, 2}, float32, -1, 1, 3);
  auto f = [](const std::vector<array>& in) { return std::vector<array>{addmm(in[0], in[1], in[2], 2.0f, 0.5f)}; };
  auto g = vjp(f, {c, a, b}, {ones({2, 2}, float32)}).second;
  for (auto& x : g) EXPECT_EQ(x.dtype(), float32);
  EXPECT_TRUE(mica::test::matches(g[0], {2, 2}, std::vector<double>(4, 0.5)));
  auto t = jvp(f, {c, a, b}, {ones({2, 2}, float32), zeros({2, 3}, float32), zeros({3, 2}, float32)}).second;
  EXPECT_EQ(t[0].dtype(), float32);
  EXPECT_TRUE(mica::test::matches(t[0], {2, 2}, std::vector<double>(4, 0.5)));
}

TEST(MatmulVjp, EmptyContraction) {
  // K == 0: the product is zeros and so are both cotangents.
  auto f = [](const std::vector<array>& in) { return std::vector<array>{matmul(in[0], in[1])}; };
  array v = mica::test::random_array({2, 3}, float64, -1, 1, 1);
  auto g = vjp(f, {zeros({2, 0}, float64), zeros({0, 3}, float64)}, {v}).second;
  EXPECT_TRUE(mica::test::matches(g[0], {2, 0}, {}));
  EXPECT_TRUE(mica::test::matches(g[1], {0, 3}, {}));
}

TEST(MatmulRulesBadInput, ClearErrors) {
  array a = mica::test::random_array({2, 3}, float64, -1, 1, 1);
  array b = mica::test::random_array({3, 4}, float64, -1, 1, 2);
  auto f = [](const std::vector<array>& in) { return std::vector<array>{matmul(in[0], in[1])}; };
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>("vjp", [&] { vjp(f, {a, b}, {zeros({4, 2})}); }));
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>("jvp", [&] { jvp(f, {a, b}, {zeros({2, 3})}); }));
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>(
      "grad", [&] { grad(std::function<array(const std::vector<array>&)>(
                        [](const std::vector<array>& in) { return matmul(in[0], in[1]); }))({a, b}); }));
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>(
      "grad", [&] { grad(std::function<array(const std::vector<array>&)>(
                        [](const std::vector<array>& in) { return sum(matmul(in[0], in[1])); }), {0, 0})({a, b}); }));
  array ab = mica::test::random_array({3, 2, 3}, float64, -1, 1, 3);
  array bb = mica::test::random_array({2, 3, 4}, float64, -1, 1, 4);
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>("vmap", [&] { vmap(f, {0, 0})({ab, bb}); }));
  // A per-example contraction mismatch is the op's error, raised while vmap traces.
  array bad = mica::test::random_array({3, 2, 2}, float64, -1, 1, 5);
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>("matmul", [&] { vmap(f, {0, 0})({ab, bad}); }));
}
