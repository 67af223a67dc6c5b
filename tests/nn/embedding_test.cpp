// Embedding against MLX: layout, repr, seeded initialization (values printed by MLX 0.32),
// lookups and as_linear against loops, gradients against finite differences, bad arguments.
#include <cmath>

#include "nn/layer_checks.h"

namespace mica::layertest {
namespace {

TEST(Embedding, ParametersAndRepr) {
  nn::Embedding e(5, 3);
  auto ps = param_shapes(e);
  ASSERT_EQ(ps.size(), 1u);
  EXPECT_EQ(ps[0], (std::pair<std::string, Shape>{"weight", {5, 3}}));
  EXPECT_EQ(e.repr(), "Embedding(5, 3)");
  EXPECT_EQ(e.param("weight").dtype(), float32);
}

TEST(Embedding, InitializationMatchesMlx) {
  // mx.random.seed(42); nn.Embedding(3, 2).weight.flatten()
  random::seed(42);
  nn::Embedding e(3, 2);
  EXPECT_TRUE(test::matches(e.param("weight"), {3, 2},
                            {-0.3913041353225708, 0.6677088737487793, 0.10279996693134308, -0.4079834520816803,
                             0.7956268787384033, 0.7628867626190186}));
  // N(0, 1/sqrt(dims)): the sample standard deviation of a large table is close to 1/4.
  nn::Embedding big(500, 16);
  auto w = values(big.param("weight"));
  double s = 0, s2 = 0;
  for (double v : w) s += v, s2 += v * v;
  double m = s / w.size(), sd = std::sqrt(s2 / w.size() - m * m);
  EXPECT_NEAR(m, 0.0, 0.01);
  EXPECT_NEAR(sd, 0.25, 0.01);
}

TEST(Embedding, LookupAndAsLinearMatchReference) {
  nn::Embedding e(6, 4);
  array w = test::random_array({6, 4}, float32, -1, 1, 3);
  e.update(D{{"weight", w}});
  auto wv = values(w);
  std::vector<int32_t> idx = {5, 0, 2, 2, 1, 3};
  for (Dtype dt : {int32, uint8, int64}) {
    array x = astype(array(idx.begin(), {2, 3}, int32), dt);
    std::vector<double> want;
    for (int i : idx)
      for (int d = 0; d < 4; ++d) want.push_back(wv[i * 4 + d]);
    EXPECT_TRUE(test::matches(e(x), {2, 3, 4}, want)) << dt;
  }
  array x = test::random_array({3, 4}, float32, -2, 2, 4);
  auto xv = values(x);
  std::vector<double> want(18, 0.0);
  for (int b = 0; b < 3; ++b)
    for (int n = 0; n < 6; ++n)
      for (int d = 0; d < 4; ++d) want[b * 6 + n] += xv[b * 4 + d] * wv[n * 4 + d];
  EXPECT_TRUE(test::matches(e.as_linear(x), {3, 6}, want, 1e-5, 1e-5));
}

TEST(Embedding, GradientsMatchFiniteDifferences) {
  nn::Embedding e(5, 3);
  e.set_dtype(float64);
  array idx = array({4, 1, 1, 0}, {2, 2}, int32);  // a repeated row accumulates
  EXPECT_TRUE(param_grad_ok("embedding_weight", e, {"weight"}, [&] { return e(idx); }));
  array x = test::random_array({2, 3}, float64, -1, 1, 5);
  EXPECT_TRUE(param_grad_ok("as_linear_weight", e, {"weight"}, [&] { return e.as_linear(x); }));
  EXPECT_TRUE(input_grad_ok("as_linear_x", [&](const array& v) { return e.as_linear(v); }, {2, 3}));
}

TEST(Embedding, BadArguments) {
  EXPECT_TRUE(rejects("Embedding", [] { nn::Embedding(0, 3); }));
  EXPECT_TRUE(rejects("Embedding", [] { nn::Embedding(3, -2); }));
  nn::Embedding e(5, 3);
  EXPECT_TRUE(rejects("Embedding", [&] { e(ones({2}, float32)); }));     // float indices
  EXPECT_TRUE(rejects("Embedding", [&] { e(array({true, false})); }));   // bool indices
  EXPECT_TRUE(rejects("Embedding", [&] { e.as_linear(ones({2, 4})); }));  // wrong feature size
  EXPECT_TRUE(rejects("Embedding", [&] { e.as_linear(array(1.0f)); }));
}

}  // namespace
}  // namespace mica::layertest
