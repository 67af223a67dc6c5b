// Transform rules of fast::scaled_dot_product_attention and of its fused backward node
// (ScaledDotProductAttentionVjp): vjp vs finite differences, jvp/vjp adjoint and vmap vs loop
// over masks, causal alignments, grouped heads and sinks; gradients of q, k, v and sinks
// against value_and_grad of the composition of plain ops in float64 and float32, the mask's
// (absent) gradient, vmap over an extra batch axis, jvp, second order, and MLX's gradients.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <tuple>

#include "mica/mica.h"
#include "reference/reference.h"
#include "reference/transform_checks.h"

using namespace mica;
using mica::test::GradCase;

namespace {
using Vec = std::vector<double>;

// softmax(q k^T * scale + mask) v in plain ops (kv heads repeated for the query heads), with
// MLX's rules: a false bool entry or a causally hidden key scores finfo(dtype).min.
array composed(const array& q, const array& k, const array& v, double scale, bool causal,
               const std::optional<array>& mask = std::nullopt, const std::optional<array>& sinks = std::nullopt) {
  const int r = q.shape(1) / k.shape(1), lq = q.shape(2), lkv = k.shape(2);
  array kr = repeat(k, r, 1), vr = repeat(v, r, 1);
  array s = matmul(q, swapaxes(kr, -1, -2)) * scale;
  const array low(finfo(q.dtype()).min, q.dtype());
  if (causal) {
    s = where(greater_equal(expand_dims(arange(lq) + (lkv - lq), 1), expand_dims(arange(lkv), 0)), s, low);
  }
  if (mask) s = mask->dtype() == bool_ ? where(*mask, s, low) : s + *mask;
  if (sinks) {
    Shape col = s.shape();
    col.back() = 1;
    s = concatenate({broadcast_to(reshape(*sinks, {1, q.shape(1), 1, 1}), col), s}, -1);
  }
  array p = softmax(s, -1, true);
  if (sinks) {
    Shape start(4, 0);
    start.back() = 1;
    p = slice(p, start, p.shape());
  }
  return matmul(p, vr);
}

const array kBoolMask = mica::test::random_array({3, 5}, bool_, 0, 1.5, 41);
const array kAddMask = mica::test::random_array({2, 1, 3, 5}, float64, -1, 1, 42);

std::vector<GradCase> cases() {
  std::vector<GradCase> c;
  const Shape q{1, 2, 3, 4}, k{1, 2, 5, 4}, v{1, 2, 5, 3};
  auto sdpa = [](const std::string& mode, std::optional<array> mask = std::nullopt) {
    return [mode, mask](const std::vector<array>& x) {
      std::optional<array> sinks = x.size() > 3 ? std::optional<array>(x[3]) : std::nullopt;
      return fast::scaled_dot_product_attention(x[0], x[1], x[2], 0.6f, mode, mask, sinks);
    };
  };
  c.push_back({"plain", sdpa(""), {q, k, v}});
  c.push_back({"gqa_causal", sdpa("causal"), {{2, 4, 3, 4}, {2, 2, 5, 4}, {2, 2, 5, 3}}});
  c.push_back({"causal_more_queries", sdpa("causal"), {{1, 2, 5, 4}, {1, 1, 3, 4}, {1, 1, 3, 2}}});
  c.push_back({"bool_mask", sdpa("", kBoolMask), {q, k, v}});
  c.push_back({"additive_mask", sdpa("", kAddMask), {{2, 2, 3, 4}, {2, 2, 5, 4}, {2, 2, 5, 3}}});
  c.push_back({"sinks", sdpa(""), {q, k, v, {2}}});
  c.push_back({"sinks_bool_mask_gqa", sdpa("", kBoolMask), {{1, 4, 3, 4}, {1, 2, 5, 4}, {1, 2, 5, 3}, {4}}});
  // The fused backward node: a function of q, k, v, [sinks] and the cotangent that returns a mix
  // of its outputs, so its own rules run (grad of grad, jvp of vjp, vmap of vjp).
  auto vjp_of = [](const std::string& mode, std::optional<array> mask, bool sinks) {
    return [mode, mask, sinks](const std::vector<array>& x) {
      auto f = [&](const std::vector<array>& a) {
        return std::vector<array>{fast::scaled_dot_product_attention(
            a[0], a[1], a[2], 0.6f, mode, mask, sinks ? std::optional<array>(a[3]) : std::nullopt)};
      };
      std::vector<array> prim(x.begin(), x.end() - 1);
      auto ct = vjp(f, prim, {x.back()}).second;
      array r = sum(ct[0]) + sum(ct[1] * ct[1]) + sum(ct[2]) * 2.0;
      if (sinks) r = r + sum(ct[3] * 3.0);
      return r;
    };
  };
  c.push_back({"vjp_node", vjp_of("causal", std::nullopt, false), {q, k, v, {1, 2, 3, 3}}});
  c.push_back({"vjp_node_mask_sinks", vjp_of("", kBoolMask, true), {q, k, v, {2}, {1, 2, 3, 3}}});
  return c;
}
const std::vector<GradCase> kAttention = cases();

void expect_close(const array& got, const array& want, double tol, const std::string& what) {
  EXPECT_EQ(got.shape(), want.shape()) << what;
  EXPECT_TRUE(mica::test::all_close(mica::test::to_vector(got), mica::test::to_vector(want), tol, tol)) << what;
}
}  // namespace

class AttentionRules : public mica::test::GradRules {};
MICA_GRAD_RULE_TESTS(AttentionRules, kAttention);

// Gradients of q, k, v and sinks through the fused backward against those of the composition.
TEST(AttentionRulesDirect, GradientsMatchTheComposition) {
  struct Row {
    int nq, nkv, lq, lkv, d;
    std::string mode;
    int mask;  // 0 none, 1 bool (L_q, L_kv), 2 additive (B, 1, L_q, L_kv)
    bool sinks;
  };
  const Row rows[] = {{2, 2, 6, 6, 8, "", 0, false},     {4, 2, 5, 9, 8, "causal", 0, false},
                      {2, 1, 9, 4, 8, "causal", 0, true}, {2, 1, 9, 4, 8, "causal", 0, false},
                      {2, 2, 1, 7, 8, "causal", 0, false},
                      {4, 1, 5, 7, 16, "", 1, true},      {2, 2, 5, 7, 8, "", 2, false},
                      {2, 2, 70, 130, 64, "causal", 0, true}, {2, 1, 67, 67, 80, "", 1, false}};
  for (Dtype dt : {float64, float32}) {
    for (const Row& r : rows) {
      const int B = 2;
      array q = mica::test::random_array({B, r.nq, r.lq, r.d}, dt, -1, 1, 1);
      array k = mica::test::random_array({B, r.nkv, r.lkv, r.d}, dt, -1, 1, 2);
      array v = mica::test::random_array({B, r.nkv, r.lkv, r.d}, dt, -1, 1, 3);
      array s = mica::test::random_array({r.nq}, dt, -1, 1, 4);
      array w = mica::test::random_array({B, r.nq, r.lq, r.d}, dt, -1, 1, 5);
      std::optional<array> mask;
      if (r.mask == 1) mask = mica::test::random_array({r.lq, r.lkv}, bool_, 0, 1.3, 6);
      if (r.mask == 2) mask = mica::test::random_array({B, 1, r.lq, r.lkv}, dt, -2, 2, 7);
      const float scale = 1.0f / std::sqrt(float(r.d));
      auto loss = [&](bool fused) {
        return [&, fused](const std::vector<array>& x) {
          std::optional<array> sk = r.sinks ? std::optional<array>(x[3]) : std::nullopt;
          array o = fused ? fast::scaled_dot_product_attention(x[0], x[1], x[2], scale, r.mode, mask, sk)
                          : composed(x[0], x[1], x[2], scale, r.mode == "causal", mask, sk);
          return sum(o * w);
        };
      };
      std::vector<array> in{q, k, v, s};
      std::vector<int> argnums{0, 1, 2};
      if (r.sinks) argnums.push_back(3);
      auto [lf, gf] = value_and_grad(loss(true), argnums)(in);
      // The reference runs in float64 whatever the dtype.
      std::vector<array> in64;
      for (auto& a : in) in64.push_back(astype(a, float64));
      if (mask && mask->dtype() != bool_) mask = astype(*mask, float64);
      auto [lc, gc] = value_and_grad(loss(false), argnums)(in64);
      const double tol = dt == float64 ? 1e-10 : 2e-4;
      std::string tag = std::string(dtype_to_string(dt)) + " " + std::to_string(r.lq) + "x" + std::to_string(r.lkv) +
                        " " + r.mode + (r.sinks ? " sinks" : "") + " mask " + std::to_string(r.mask);
      expect_close(lf, lc, tol, tag + " loss");
      for (size_t i = 0; i < gf.size(); ++i) {
        EXPECT_EQ(gf[i].dtype(), dt);
        expect_close(gf[i], gc[i], tol, tag + " grad " + std::to_string(i));
      }
    }
  }
}

// One kv head in one batch (its keys split among the threads, each with its own dQ), more
// query rows than a backward tile, and a single query over many keys.
TEST(AttentionRulesDirect, LongSequencesAndSplitKeys) {
  struct Row {
    int lq, lkv;
    std::string mode;
    bool sinks;
  };
  for (const Row& r : {Row{600, 300, "causal", true}, Row{600, 300, "", false}, Row{300, 600, "causal", false},
                       Row{1, 700, "", true}}) {
    array q = mica::test::random_array({1, 2, r.lq, 16}, float64, -1, 1, 1);
    array k = mica::test::random_array({1, 1, r.lkv, 16}, float64, -1, 1, 2);
    array v = mica::test::random_array({1, 1, r.lkv, 8}, float64, -1, 1, 3);
    array s = mica::test::random_array({2}, float64, -1, 1, 4);
    array w = mica::test::random_array({1, 2, r.lq, 8}, float64, -1, 1, 5);
    auto loss = [&](bool fused) {
      return [&, fused](const std::vector<array>& x) {
        std::optional<array> sk = r.sinks ? std::optional<array>(x[3]) : std::nullopt;
        array o = fused ? fast::scaled_dot_product_attention(x[0], x[1], x[2], 0.25f, r.mode, std::nullopt, sk)
                        : composed(x[0], x[1], x[2], 0.25f, r.mode == "causal", std::nullopt, sk);
        return sum(o * w);
      };
    };
    std::vector<int> argnums{0, 1, 2};
    if (r.sinks) argnums.push_back(3);
    auto gf = grad(loss(true), argnums)({q, k, v, s});
    auto gc = grad(loss(false), argnums)({q, k, v, s});
    for (size_t i = 0; i < gf.size(); ++i) {
      expect_close(gf[i], gc[i], 1e-10, std::to_string(r.lq) + "x" + std::to_string(r.lkv) + " grad " + std::to_string(i));
    }
  }
}

TEST(AttentionRulesDirect, HalfPrecisionBackward) {
  // 50 queries on 40 keys: the first 10 rows see no key (they average all values).
  for (auto [dt, lq, lkv] : {std::tuple{float16, 40, 50}, std::tuple{bfloat16, 40, 50}, std::tuple{float16, 50, 40},
                             std::tuple{bfloat16, 50, 40}}) {
    array q = astype(mica::test::random_array({1, 4, lq, 32}, float32, -1, 1, 1), dt);
    array k = astype(mica::test::random_array({1, 2, lkv, 32}, float32, -1, 1, 2), dt);
    array v = astype(mica::test::random_array({1, 2, lkv, 32}, float32, -1, 1, 3), dt);
    array w = astype(mica::test::random_array({1, 4, lq, 32}, float32, -1, 1, 4), dt);
    auto f = [&](bool fused) {
      return [&, fused](const std::vector<array>& x) {
        array o = fused ? fast::scaled_dot_product_attention(x[0], x[1], x[2], 0.2f, "causal")
                        : composed(x[0], x[1], x[2], 0.2, true);
        return sum(o * astype(w, o.dtype()));
      };
    };
    auto gf = grad(f(true), {0, 1, 2})({q, k, v});
    auto gc = grad(f(false), {0, 1, 2})({astype(q, float64), astype(k, float64), astype(v, float64)});
    const double tol = dt == float16 ? 1e-2 : 6e-2;
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(gf[i].dtype(), dt);
      expect_close(gf[i], gc[i], tol, std::string(dtype_to_string(dt)) + " grad " + std::to_string(i));
    }
  }
}

TEST(AttentionRulesDirect, MaskGetsNoGradient) {
  array q = mica::test::random_array({1, 2, 3, 4}, float64, -1, 1, 1);
  array k = mica::test::random_array({1, 2, 5, 4}, float64, -1, 1, 2);
  array m = mica::test::random_array({3, 5}, float64, -1, 1, 3);
  auto g = grad([&](const std::vector<array>& x) { return sum(fast::scaled_dot_product_attention(x[0], x[1], x[1], 0.5f, "", x[2])); },
                {0, 2})({q, k, m});
  EXPECT_TRUE(mica::test::all_close(mica::test::to_vector(g[1]), Vec(15, 0.0), 0, 0));
  // The tangent of the mask is ignored as well.
  auto [o, t] = jvp([&](const std::vector<array>& x) {
    return std::vector<array>{fast::scaled_dot_product_attention(q, k, k, 0.5f, "", x[0])};
  }, {m}, {ones_like(m)});
  EXPECT_TRUE(mica::test::all_close(mica::test::to_vector(t[0]), Vec(24, 0.0), 0, 0));
}

TEST(AttentionRulesDirect, VmapOverAnExtraBatchAxis) {
  // Per-example attention over a leading axis of 3: q, k, v and an additive mask all mapped, or
  // only q, or the sinks mapped (which takes the composition).
  array qs = mica::test::random_array({3, 2, 4, 6, 8}, float32, -1, 1, 1);
  array ks = mica::test::random_array({3, 2, 2, 9, 8}, float32, -1, 1, 2);
  array vs = mica::test::random_array({3, 2, 2, 9, 8}, float32, -1, 1, 3);
  array ms = mica::test::random_array({3, 1, 4, 6, 9}, float32, -1, 1, 4);
  array ss = mica::test::random_array({3, 4}, float32, -1, 1, 5);
  auto f = [](const std::vector<array>& x) {
    return std::vector<array>{fast::scaled_dot_product_attention(x[0], x[1], x[2], 0.3f, "", x[3], x[4])};
  };
  for (std::vector<int> axes : {std::vector<int>{0, 0, 0, 0, -1}, std::vector<int>{0, -1, -1, -1, -1},
                                std::vector<int>{-1, 0, 0, -1, 0}, std::vector<int>{0, 0, 0, 0, 0}}) {
    std::vector<array> in{qs, ks, vs, ms, ss};
    for (size_t i = 0; i < 5; ++i) {
      if (axes[i] < 0) in[i] = take(in[i], 1, 0);
    }
    array got = vmap(f, axes, {0})(in)[0];
    ASSERT_EQ(got.shape(), Shape({3, 2, 4, 6, 8}));
    for (int b = 0; b < 3; ++b) {
      std::vector<array> one = in;
      for (size_t i = 0; i < 5; ++i) {
        if (axes[i] >= 0) one[i] = take(in[i], b, 0);
      }
      expect_close(take(got, b, 0), f(one)[0], 1e-5, "axes " + std::to_string(axes[0]) + std::to_string(axes[4]));
    }
  }
  // Per-example gradients: vmap of grad.
  auto loss = [](const std::vector<array>& x) {
    return sum(square(fast::scaled_dot_product_attention(x[0], x[1], x[2], 0.3f, "causal")));
  };
  auto per = vmap([&](const std::vector<array>& x) { return grad(loss, {0, 1, 2})(x); }, {0, 0, 0})({qs, ks, vs});
  for (int b = 0; b < 3; ++b) {
    auto one = grad(loss, {0, 1, 2})({take(qs, b, 0), take(ks, b, 0), take(vs, b, 0)});
    for (int i = 0; i < 3; ++i) expect_close(take(per[i], b, 0), one[i], 1e-5, "per-example grad");
  }
}

TEST(AttentionRulesDirect, JvpAndSecondOrder) {
  array q = mica::test::random_array({1, 4, 5, 6}, float64, -1, 1, 1);
  array k = mica::test::random_array({1, 2, 7, 6}, float64, -1, 1, 2);
  array v = mica::test::random_array({1, 2, 7, 6}, float64, -1, 1, 3);
  array s = mica::test::random_array({4}, float64, -1, 1, 4);
  std::vector<array> tan;
  for (int i = 0; i < 4; ++i) tan.push_back(mica::test::random_array(std::vector<array>{q, k, v, s}[i].shape(), float64, -1, 1, 10 + i));
  auto f = [](bool fused) {
    return [fused](const std::vector<array>& x) {
      return std::vector<array>{fused ? fast::scaled_dot_product_attention(x[0], x[1], x[2], 0.4f, "causal", std::nullopt, x[3])
                                      : composed(x[0], x[1], x[2], 0.4f, true, std::nullopt, x[3])};
    };
  };
  expect_close(jvp(f(true), {q, k, v, s}, tan).second[0], jvp(f(false), {q, k, v, s}, tan).second[0], 1e-10, "jvp");
  // Hessian-vector product (grad of grad through ScaledDotProductAttentionVjp's rules).
  auto hvp = [&](bool fused) {
    auto inner = [fused, &f](const std::vector<array>& x) { return sum(sin(f(fused)(x)[0])); };
    return grad([&](const std::vector<array>& x) {
      auto g = grad(inner, {0, 1, 2, 3})(x);
      array r = sum(g[0] * tan[0]);
      for (int i = 1; i < 4; ++i) r = r + sum(g[i] * tan[i]);
      return r;
    }, {0, 1, 2, 3})({q, k, v, s});
  };
  auto hf = hvp(true), hc = hvp(false);
  for (int i = 0; i < 4; ++i) expect_close(hf[i], hc[i], 1e-9, "hvp " + std::to_string(i));
}

// Gradients from MLX 0.32.4 on its CPU (see tests/ops/attention_test.cpp for the inputs).
TEST(AttentionRulesDirect, GradientsMatchMLX) {
  auto det = [](const Shape& shape, double f, double p, double amp = 1.0) {
    size_t n = 1;
    for (int d : shape) n *= d;
    Vec v(n);
    for (size_t i = 0; i < n; ++i) v[i] = amp * std::sin(f * double(i) + p);
    return array(v.begin(), shape, float32);
  };
  const Vec kDq = {0.009337248, -0.123757, -0.2503334, -0.3637254, 0, 0, 0, 0, 0.1812555, 0.3165369, 0.435147,
                   0.5308393, -0.2307209, -0.2768074, -0.3083152, -0.323585, 0, 0, 0, 0, 0.1170072, 0.1202228,
                   0.1171066, 0.1078228};
  const Vec kDk = {-0.01744155, -0.1864094, -0.3301477, -0.429202, 0.003917727, -0.01367206, -0.02941139,
                   -0.04117003, 0.02422202, 0.1098813, 0.1806686, 0.2270033, -0.0236253, 0.1979542, 0.3927415,
                   0.5343731, -0.2900819, -0.2917283, -0.2538905, -0.1816899, -0.05728787, -0.06106666, -0.05658036,
                   -0.04443617, 0.06256877, 0.06227412, 0.05355097, 0.03757994, 0.08247644, 0.08440152, 0.07490325,
                   0.05526717};
  const Vec kDv = {-0.03143594, 0.1702514, 0.3252241, 0.3909599, -0.1129704, -0.1134244, -0.08275633, -0.0293811,
                   0.04807384, 0.1613686, 0.230386, 0.2361889, -0.388343, -0.3466085, -0.2097694, -0.0153726,
                   0.169341, 0.505291, 0.7025964, 0.707119, -0.05049152, -0.04862114, -0.03340981, -0.009031295,
                   0.03853305, 0.101811, 0.1371534, 0.1348629, -0.7914419, -0.7442703, -0.4928814, -0.1062527};
  const Vec kDsinks = {0.3523873, -0.1311248};
  array bm = array({true, false, true, true, false, false, false, false, true, true, false, true}, {3, 4});
  array w = det({1, 2, 3, 4}, 0.53, 0.2);
  auto g = grad([&](const std::vector<array>& x) {
    return sum(fast::scaled_dot_product_attention(x[0], x[1], x[2], 0.5f, "", bm, x[3]) * w);
  }, {0, 1, 2, 3})({det({1, 2, 3, 4}, 0.37, 0.1), det({1, 2, 4, 4}, 0.23, 0.5), det({1, 2, 4, 4}, 0.11, -0.4, 1.5),
                    array({0.3f, -0.7f})});
  const Vec* want[] = {&kDq, &kDk, &kDv, &kDsinks};
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(mica::test::all_close(mica::test::to_vector(g[i]), *want[i], 1e-5, 1e-6)) << "grad " << i;
  }
}
