// Tests of mica::fast::scaled_dot_product_attention against a double-precision loop reference
// (softmax(q k^T * scale + mask) v with MLX's masking rules): grouped-query heads, causal masks
// of every alignment, bool and additive masks broadcast from smaller shapes, sinks, fully masked
// rows, head sizes 64/80/128 with lengths that are not multiples of the tiles, half dtypes,
// non-contiguous inputs, empty arrays, numbers computed by real MLX, and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>

#include "mica/mica.h"
#include "reference/reference.h"

namespace mica::test {
namespace {

using Vec = std::vector<double>;

struct Dims {
  int b, nq, nkv, lq, lkv, d, dv;
};

// The reference: for each (batch, head, query) a softmax over the keys (and the sink) in double.
// A false bool mask entry or a causally hidden key scores `lowest` (MLX's finfo(dtype).min).
Vec ref_attention(const Vec& q, const Vec& k, const Vec& v, const Dims& a, double scale, const Vec* mask,
                  const Shape& mshape, bool bool_mask, bool causal, const Vec* sinks, double lowest) {
  Vec out(static_cast<size_t>(a.b) * a.nq * a.lq * a.dv, 0.0);
  const Shape full{a.b, a.nq, a.lq, a.lkv};
  std::vector<double> s(a.lkv);
  for (int b = 0; b < a.b; ++b) {
    for (int h = 0; h < a.nq; ++h) {
      const int kh = h / (a.nq / a.nkv);
      for (int i = 0; i < a.lq; ++i) {
        double mx = sinks ? (*sinks)[h] : -std::numeric_limits<double>::infinity();
        for (int j = 0; j < a.lkv; ++j) {
          double dot = 0;
          for (int c = 0; c < a.d; ++c) {
            dot += q[((size_t(b) * a.nq + h) * a.lq + i) * a.d + c] * k[((size_t(b) * a.nkv + kh) * a.lkv + j) * a.d + c];
          }
          s[j] = dot * scale;
          if (mask) {
            size_t flat = ((size_t(b) * a.nq + h) * a.lq + i) * a.lkv + j;
            double m = (*mask)[broadcast_index(flat, full, mshape)];
            s[j] = bool_mask ? (m != 0 ? s[j] : lowest) : s[j] + m;
          }
          if (causal && j > i + a.lkv - a.lq) s[j] = lowest;
          mx = std::max(mx, s[j]);
        }
        if (a.lkv == 0) continue;
        double den = sinks ? std::exp((*sinks)[h] - mx) : 0.0;
        for (int j = 0; j < a.lkv; ++j) den += std::exp(s[j] - mx);
        for (int j = 0; j < a.lkv; ++j) {
          double p = std::exp(s[j] - mx) / den;
          for (int c = 0; c < a.dv; ++c) {
            out[((size_t(b) * a.nq + h) * a.lq + i) * a.dv + c] += p * v[((size_t(b) * a.nkv + kh) * a.lkv + j) * a.dv + c];
          }
        }
      }
    }
  }
  return out;
}

struct Case {
  Dims a;
  Dtype dt = float32;
  std::string mode;           // "" or "causal"
  std::optional<array> mask;  // any shape broadcastable to (B, N_q, L_q, L_kv)
  bool sinks = false;
  uint32_t seed = 1;
};

// Runs one case against the reference; tolerance scaled from the dtype's.
testing::AssertionResult check(const Case& c, double tol_scale = 8) {
  const Dims& a = c.a;
  array q = random_array({a.b, a.nq, a.lq, a.d}, c.dt, -1, 1, c.seed);
  array k = random_array({a.b, a.nkv, a.lkv, a.d}, c.dt, -1, 1, c.seed + 1);
  array v = random_array({a.b, a.nkv, a.lkv, a.dv}, c.dt, -1, 1, c.seed + 2);
  std::optional<array> sk;
  if (c.sinks) sk = random_array({a.nq}, c.dt, -1, 1, c.seed + 3);
  const double scale = 1.0 / std::sqrt(static_cast<double>(std::max(a.d, 1)));
  array got = fast::scaled_dot_product_attention(q, k, v, static_cast<float>(scale), c.mode, c.mask, sk);
  if (got.dtype() != c.dt) return testing::AssertionFailure() << "dtype " << got.dtype();
  Vec mv, sv;
  if (c.mask) mv = to_vector(*c.mask);
  if (sk) sv = to_vector(*sk);
  Vec want = ref_attention(to_vector(q), to_vector(k), to_vector(v), a, static_cast<float>(scale), c.mask ? &mv : nullptr,
                           c.mask ? c.mask->shape() : Shape{}, c.mask && c.mask->dtype() == bool_, c.mode == "causal",
                           sk ? &sv : nullptr, finfo(c.dt).min);
  const double tol = tol_for(c.dt) * tol_scale;
  return matches(got, {a.b, a.nq, a.lq, a.dv}, want, tol, tol);
}

TEST(ScaledDotProductAttention, NoMaskAndGroupedHeads) {
  EXPECT_TRUE(check({{2, 4, 4, 5, 7, 8, 6}}));
  EXPECT_TRUE(check({{2, 4, 2, 5, 7, 8, 6}}));   // GQA: two query heads per kv head
  EXPECT_TRUE(check({{1, 6, 1, 3, 9, 16, 16}}));  // MQA
  EXPECT_TRUE(check({{1, 2, 2, 1, 1, 3, 2}}));
}

TEST(ScaledDotProductAttention, Causal) {
  for (Dims a : {Dims{1, 2, 1, 3, 7, 8, 8}, Dims{2, 4, 2, 9, 9, 8, 5}, Dims{1, 2, 2, 1, 6, 8, 8},
                 Dims{1, 2, 1, 8, 3, 4, 4}, Dims{1, 2, 2, 200, 200, 16, 16}, Dims{1, 1, 1, 70, 300, 16, 16},
                 Dims{1, 1, 1, 300, 70, 16, 16}}) {
    EXPECT_TRUE(check({a, float32, "causal"})) << a.lq << " queries, " << a.lkv << " keys";
    EXPECT_TRUE(check({a, float32, "causal", std::nullopt, true})) << a.lq << " queries, " << a.lkv << " keys, sinks";
  }
}

TEST(ScaledDotProductAttention, BoolAndAdditiveMasks) {
  const Dims a{2, 4, 2, 5, 7, 8, 6};
  for (Shape ms : {Shape{5, 7}, Shape{7}, Shape{2, 1, 5, 7}, Shape{4, 1, 7}, Shape{1, 4, 5, 1}, Shape{2, 4, 5, 7}}) {
    EXPECT_TRUE(check({a, float32, "", random_array(ms, bool_, 0, 1.4, 5)})) << detail::shape_str(ms);
    EXPECT_TRUE(check({a, float32, "", random_array(ms, float32, -2, 2, 6)})) << detail::shape_str(ms);
    EXPECT_TRUE(check({a, float32, "", random_array(ms, bool_, 0, 1.4, 7), true})) << detail::shape_str(ms);
  }
  // An integer mask promotes to float32 and is added.
  EXPECT_TRUE(check({a, float32, "", random_array({5, 7}, int32, -3, 3, 8)}));
  // "array" is MLX's C++ name for an explicit mask.
  array q = random_array({1, 1, 2, 4}, float32, -1, 1, 9);
  array m = random_array({2, 3}, float32, -1, 1, 10);
  array k = random_array({1, 1, 3, 4}, float32, -1, 1, 11);
  EXPECT_TRUE(array_equal(fast::scaled_dot_product_attention(q, k, k, 0.5f, "array", m),
                          fast::scaled_dot_product_attention(q, k, k, 0.5f, "", m))
                  .item<bool>());
}

TEST(ScaledDotProductAttention, FullyMaskedRows) {
  const Dims a{1, 2, 2, 3, 5, 4, 4};
  // A bool row with no true entry averages every value (as MLX's where(mask, s, min)).
  array bm = array({true, false, true, false, false, false, false, false, false, false, true, true, false, true, true},
                   {3, 5});
  EXPECT_TRUE(check({a, float32, "", bm}));
  EXPECT_TRUE(check({a, float32, "", bm, true}));  // with sinks: the row is ~0
  EXPECT_TRUE(check({a, float64, "", bm}));
  EXPECT_TRUE(check({a, bfloat16, "", bm}));
  EXPECT_TRUE(check({a, float16, "", bm}));
  // An additive row of -inf is NaN, as softmax of all -inf.
  const double inf = std::numeric_limits<double>::infinity();
  Vec am(15, 0.0);
  for (int j = 5; j < 10; ++j) am[j] = -inf;
  am[0] = -inf;
  EXPECT_TRUE(check({a, float32, "", array(am.begin(), {3, 5}, float32)}));
  // Causal with more queries than keys: the first L_q - L_kv rows see no key.
  EXPECT_TRUE(check({{1, 1, 1, 150, 20, 8, 8}, float32, "causal"}));
}

TEST(ScaledDotProductAttention, HeadSizesAndTileRemainders) {
  for (int d : {64, 80, 128}) {
    for (auto [lq, lkv] : {std::pair{100, 150}, std::pair{129, 257}, std::pair{1, 300}}) {
      EXPECT_TRUE(check({{1, 4, 2, lq, lkv, d, d}, float32, "", std::nullopt, false, 3}, 16)) << d << " " << lq;
      EXPECT_TRUE(check({{1, 2, 2, lq, lkv, d, d}, float32, "causal", std::nullopt, false, 4}, 16)) << d << " " << lq;
    }
  }
  EXPECT_TRUE(check({{1, 2, 1, 65, 129, 64, 40}, float32, "", random_array({65, 129}, float32, -1, 1, 5)}, 16));
}

TEST(ScaledDotProductAttention, Dtypes) {
  for (Dtype dt : {float16, bfloat16, float64}) {
    EXPECT_TRUE(check({{2, 4, 2, 33, 70, 64, 64}, dt}, 4)) << dt;
    EXPECT_TRUE(check({{1, 2, 1, 70, 70, 32, 32}, dt, "causal", std::nullopt, true}, 4)) << dt;
    EXPECT_TRUE(check({{1, 2, 2, 9, 11, 8, 8}, dt, "", astype(random_array({9, 11}, float32, -2, 2, 3), dt)}, 4)) << dt;
  }
  // Mixed inputs promote: float16 queries with float32 keys and values give float32.
  array q = random_array({1, 1, 2, 4}, float16, -1, 1, 1);
  array k = random_array({1, 1, 3, 4}, float32, -1, 1, 2);
  EXPECT_EQ(fast::scaled_dot_product_attention(q, k, k, 0.5f).dtype(), float32);
  // An additive float16 mask on float32 inputs promotes.
  EXPECT_EQ(fast::scaled_dot_product_attention(k, k, k, 0.5f, "", random_array({3, 3}, float16, -1, 1, 3)).dtype(),
            float32);
}

TEST(ScaledDotProductAttention, NonContiguousInputs) {
  // The layout nn::MultiHeadAttention makes: (B, L, N, D) viewed as (B, N, L, D), and a sliced key.
  array qs = random_array({2, 7, 4, 8}, float32, -1, 1, 1);
  array ks = random_array({2, 12, 2, 16}, float32, -1, 1, 2);
  array q = transpose(qs, {0, 2, 1, 3});
  array k = slice(transpose(ks, {0, 2, 1, 3}), {0, 0, 0, 0}, {2, 2, 12, 8});
  array v = slice(transpose(ks, {0, 2, 1, 3}), {0, 0, 0, 8}, {2, 2, 12, 16});
  array mask = transpose(random_array({9, 7}, bool_, 0, 1.5, 3), {1, 0});  // (7, 9) view
  mask = slice(mask, {0, 0}, {7, 9}, {1, 1});
  array m12 = concatenate({mask, ones({7, 3}, bool_)}, 1);
  array got = fast::scaled_dot_product_attention(q, k, v, 0.3f, "", m12);
  array want = fast::scaled_dot_product_attention(contiguous(q), contiguous(k), contiguous(v), 0.3f, "", contiguous(m12));
  EXPECT_TRUE(all_close(to_vector(got), to_vector(want), 1e-6, 1e-6));
  Dims a{2, 4, 2, 7, 12, 8, 8};
  Vec mv = to_vector(m12);
  EXPECT_TRUE(matches(got, {2, 4, 7, 8},
                      ref_attention(to_vector(q), to_vector(k), to_vector(v), a, 0.3f, &mv, {7, 12}, true, false,
                                    nullptr, finfo(float32).min),
                      1e-5, 1e-5));
}

TEST(ScaledDotProductAttention, EmptyArrays) {
  array q = random_array({1, 2, 3, 4}, float32, -1, 1, 1);
  array k = random_array({1, 2, 5, 4}, float32, -1, 1, 2);
  array k0 = zeros({1, 2, 0, 4});
  // No keys: zeros (an empty sum), with or without sinks.
  EXPECT_TRUE(matches(fast::scaled_dot_product_attention(q, k0, k0, 0.5f), {1, 2, 3, 4}, Vec(24, 0.0)));
  EXPECT_TRUE(matches(fast::scaled_dot_product_attention(q, k0, k0, 0.5f, "", std::nullopt, ones({2})), {1, 2, 3, 4},
                      Vec(24, 0.0)));
  EXPECT_EQ(fast::scaled_dot_product_attention(zeros({1, 2, 0, 4}), k, k, 0.5f, "causal").shape(), Shape({1, 2, 0, 4}));
  EXPECT_EQ(fast::scaled_dot_product_attention(zeros({0, 2, 3, 4}), zeros({0, 2, 5, 4}), zeros({0, 2, 5, 4}), 0.5f)
                .shape(),
            Shape({0, 2, 3, 4}));
  // No head dimension: every score is 0, so each row averages the values.
  array v = random_array({1, 2, 5, 3}, float32, -1, 1, 3);
  array got = fast::scaled_dot_product_attention(zeros({1, 2, 3, 0}), zeros({1, 2, 5, 0}), v, 0.5f);
  EXPECT_TRUE(all_close(to_vector(got), to_vector(broadcast_to(mean(v, 2, true), {1, 2, 3, 3})), 1e-6, 1e-6));
}

// Numbers from MLX 0.32.4 (mlx.core.fast.scaled_dot_product_attention on its CPU, inputs
// a * sin(f i + p) in float32), generated by a script run beside mica, not by mica.
array det(const Shape& shape, double f, double p, double amp = 1.0) {
  size_t n = 1;
  for (int d : shape) n *= d;
  Vec v(n);
  for (size_t i = 0; i < n; ++i) v[i] = amp * std::sin(f * double(i) + p);
  return array(v.begin(), shape, float32);
}

TEST(ScaledDotProductAttention, MatchesMLX) {
  const Vec kMlxCausalGqa = {-0.1011403, 0.05782626, 0.2160939, -0.1011403, 0.05782626, 0.2160939, -0.5841275,
                             -0.4289283, -0.2685443, -0.3817925, -0.2224981, -0.06051423, -0.150328, 0.008790269,
                             0.1678022,  -0.1011403, 0.05782626, 0.2160939, -0.1011403, 0.05782626, 0.2160939,
                             -0.5841275, -0.4289283, -0.2685443, -0.3612548, -0.2015448, -0.03939854, -0.1569023,
                             0.002921738, 0.1627105};
  const Vec kMlxBoolSinks = {0.02594254, 0.1358568, 0.2441288, 0.3494499, 0,         0,         0,         0,
                             0.4399382,  0.517167,  0.5881442, 0.6520122, 1.285684,  1.283468,  1.265737,  1.232707,
                             0,          0,         0,         0,         0.6729643, 0.5476303, 0.4156767, 0.2786985};
  const Vec kMlxAdditiveF16 = {
      0.5351562,  0.5561523,  0.5712891,   0.5791016,   0.5800781,  0.5737305,  0.5610352,  0.5410156,
      0.5307617,  0.4538574,  0.371582,    0.284668,    0.194458,   0.1016235,  0.007980347, -0.08587646,
      -0.1234741, 0.0001010895, 0.1238403, 0.2462158,   0.3654785,  0.4802246,  0.5893555,  0.6914062,
      -0.3718262, -0.3120117, -0.2484131,  -0.1815186,  -0.1126099, -0.04214478, 0.02857971, 0.09918213,
      0.65625,    0.7216797,  0.777832,    0.824707,    0.8613281,  0.8881836,  0.9042969,  0.9091797,
      -1.009766,  -1.040039,  -1.057617,   -1.061523,   -1.053711,  -1.032227,  -0.9990234, -0.953125};
  // GQA with a causal mask and more queries than keys (rows 0 and 1 see no key).
  array got = fast::scaled_dot_product_attention(det({1, 2, 5, 4}, 0.37, 0.1), det({1, 1, 3, 4}, 0.23, 0.5),
                                                 det({1, 1, 3, 3}, 0.11, -0.4, 1.5), 0.35f, "causal");
  EXPECT_TRUE(matches(got, {1, 2, 5, 3}, kMlxCausalGqa, 2e-6, 2e-6));
  // A bool mask with a fully hidden row, and sinks.
  array bm = array({true, false, true, true, false, false, false, false, true, true, false, true}, {3, 4});
  got = fast::scaled_dot_product_attention(det({1, 2, 3, 4}, 0.37, 0.1), det({1, 2, 4, 4}, 0.23, 0.5),
                                           det({1, 2, 4, 4}, 0.11, -0.4, 1.5), 0.5f, "", bm, array({0.3f, -0.7f}));
  EXPECT_TRUE(matches(got, {1, 2, 3, 4}, kMlxBoolSinks, 2e-6, 2e-6));
  // float16 with an additive mask: MLX's CPU forms the scores in float16, mica in float32.
  got = fast::scaled_dot_product_attention(astype(det({1, 2, 3, 8}, 0.37, 0.1), float16),
                                           astype(det({1, 2, 5, 8}, 0.23, 0.5), float16),
                                           astype(det({1, 2, 5, 8}, 0.11, -0.4, 1.5), float16), 0.25f, "",
                                           astype(det({3, 5}, 0.71, 0.3, 2.0), float16));
  EXPECT_EQ(got.dtype(), float16);
  EXPECT_TRUE(matches(got, {1, 2, 3, 8}, kMlxAdditiveF16, 4e-3, 4e-3));
}

TEST(ScaledDotProductAttention, BadInput) {
  array q = ones({1, 4, 3, 8}), k = ones({1, 2, 5, 8}), v = ones({1, 2, 5, 6});
  auto sdpa = [](const array& a, const array& b, const array& c, const std::string& mode = "",
                 const std::optional<array>& m = std::nullopt, const std::optional<array>& s = std::nullopt) {
    return [=] { fast::scaled_dot_product_attention(a, b, c, 0.5f, mode, m, s); };
  };
  const char* op = "scaled_dot_product_attention";
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, sdpa(ones({4, 3, 8}), k, v)));          // rank
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, sdpa(q, ones({2, 2, 5, 8}), v)));      // batch
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, sdpa(q, ones({1, 2, 5, 7}), v)));      // head dim
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, sdpa(q, k, ones({1, 2, 4, 6}))));      // values' length
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, sdpa(q, k, ones({1, 1, 5, 6}))));      // values' heads
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, sdpa(ones({1, 3, 3, 8}), k, v)));      // N_q % N_kv
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, sdpa(astype(q, int32), astype(k, int32), astype(v, int32))));
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, sdpa(astype(q, complex64), k, v)));
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, sdpa(q, k, v, "upper")));
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, sdpa(q, k, v, "causal", ones({3, 5}))));
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, sdpa(q, k, v, "array")));
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, sdpa(q, k, v, "", ones({4, 5}))));             // mask shape
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, sdpa(q, k, v, "", ones({2, 4, 3, 5}))));       // mask batch
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, sdpa(q, k, v, "", ones({1, 1, 1, 3, 5}))));    // mask rank
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, sdpa(q, k, v, "", ones({3, 5}, float64))));    // mask dtype
  EXPECT_TRUE(throws_op<std::invalid_argument>(
      op, sdpa(astype(q, float16), astype(k, float16), astype(v, float16), "", ones({3, 5}))));  // float32 on float16
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, sdpa(q, k, v, "", std::nullopt, ones({2}))));   // sinks shape
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, sdpa(q, k, v, "", std::nullopt, ones({1, 4})))); // sinks rank
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, sdpa(q, k, v, "", std::nullopt, ones({4}, float64))));
}

}  // namespace
}  // namespace mica::test
