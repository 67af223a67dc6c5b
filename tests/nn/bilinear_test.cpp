// Identity and Bilinear against MLX: parameter layout, repr, seeded initialization (values
// printed by MLX 0.32), outputs against a double-precision loop, gradients against finite
// differences, and bad arguments.
#include <cmath>

#include "nn/layer_checks.h"

namespace mica::layertest {
namespace {

TEST(Identity, PassesItsInputThroughAndIgnoresArguments) {
  nn::Identity id(3, "anything", 2.5);
  EXPECT_EQ(id.repr(), "Identity()");
  EXPECT_TRUE(keys(id.parameters()).empty());
  array x = test::random_array({2, 3}, float32);
  array y = id(x);
  EXPECT_EQ(y.id(), x.id());
  EXPECT_TRUE(input_grad_ok("identity", [&](const array& v) { return id(v); }, {2, 3}));
}

TEST(Bilinear, ParametersAndRepr) {
  nn::Bilinear b(2, 3, 4);
  auto ps = param_shapes(b);
  ASSERT_EQ(ps.size(), 2u);
  EXPECT_EQ(ps[0], (std::pair<std::string, Shape>{"weight", {4, 3, 2}}));
  EXPECT_EQ(ps[1], (std::pair<std::string, Shape>{"bias", {4}}));
  EXPECT_EQ(b.repr(), "Bilinear(input1_dims=2, input2_dims=3, output_dims=4, bias=True)");
  nn::Bilinear nb(2, 3, 4, false);
  EXPECT_EQ(keys(nb.parameters()), (Keys{"weight"}));
  EXPECT_EQ(nb.repr(), "Bilinear(input1_dims=2, input2_dims=3, output_dims=4, bias=False)");
  EXPECT_EQ(keys(b.trainable_parameters()), (Keys{"weight", "bias"}));
}

TEST(Bilinear, InitializationMatchesMlx) {
  // mx.random.seed(42); nn.Bilinear(2, 3, 2): weight.flatten(), bias.
  random::seed(42);
  nn::Bilinear b(2, 3, 2);
  EXPECT_TRUE(test::matches(b.param("weight"), {2, 3, 2},
                            {-0.36927664279937744, 0.6584016680717468, -0.21789729595184326, 0.22116684913635254,
                             -0.38904979825019836, 0.41855567693710327, 0.3777020573616028, 0.003480255603790283,
                             0.12714439630508423, 0.5120728611946106, -0.6510062217712402, -0.6783740520477295}));
  EXPECT_TRUE(test::matches(b.param("bias"), {2}, {0.05247288942337036, -0.5598890781402588}));
  // Bounds: uniform in [-1/sqrt(in1), 1/sqrt(in1)).
  nn::Bilinear big(4, 5, 30);
  for (double w : values(big.param("weight"))) EXPECT_LE(std::abs(w), 0.5);
}

// y[b, o] = sum_ij x1[b, i] w[o, j, i] x2[b, j] + bias[o]
std::vector<double> bilinear_ref(const std::vector<double>& x1, const std::vector<double>& x2,
                                 const std::vector<double>& w, const std::vector<double>* bias, int n, int in1,
                                 int in2, int out) {
  std::vector<double> y(static_cast<size_t>(n * out));
  for (int b = 0; b < n; ++b)
    for (int o = 0; o < out; ++o) {
      double s = bias ? (*bias)[o] : 0.0;
      for (int j = 0; j < in2; ++j)
        for (int i = 0; i < in1; ++i) s += x1[b * in1 + i] * w[(o * in2 + j) * in1 + i] * x2[b * in2 + j];
      y[b * out + o] = s;
    }
  return y;
}

TEST(Bilinear, OutputMatchesReference) {
  nn::Bilinear b(3, 4, 5);
  array w = test::random_array({5, 4, 3}, float32, -1, 1, 3), bias = test::random_array({5}, float32, -1, 1, 4);
  b.update(D{{"weight", w}, {"bias", bias}});
  array x1 = test::random_array({2, 3, 3}, float32, -2, 2, 5), x2 = test::random_array({2, 3, 4}, float32, -2, 2, 6);
  auto bv = values(bias);
  auto want = bilinear_ref(values(x1), values(x2), values(w), &bv, 6, 3, 4, 5);
  EXPECT_TRUE(test::matches(b(x1, x2), {2, 3, 5}, want, 1e-5, 1e-5));

  nn::Bilinear nb(3, 4, 5, false);
  nb.update(D{{"weight", w}});
  auto want_nb = bilinear_ref(values(x1), values(x2), values(w), nullptr, 6, 3, 4, 5);
  EXPECT_TRUE(test::matches(nb(x1, x2), {2, 3, 5}, want_nb, 1e-5, 1e-5));
}

TEST(Bilinear, GradientsMatchFiniteDifferences) {
  nn::Bilinear b(3, 2, 4);
  b.set_dtype(float64);
  array x1 = test::random_array({2, 3}, float64, -1, 1, 8), x2 = test::random_array({2, 2}, float64, -1, 1, 9);
  EXPECT_TRUE(input_grad_ok("bilinear_dx1", [&](const array& v) { return b(v, x2); }, {2, 3}));
  EXPECT_TRUE(input_grad_ok("bilinear_dx2", [&](const array& v) { return b(x1, v); }, {2, 2}));
  EXPECT_TRUE(param_grad_ok("bilinear_params", b, {"weight", "bias"}, [&] { return b(x1, x2); }));
}

TEST(Bilinear, BadArguments) {
  EXPECT_TRUE(rejects("Bilinear", [] { nn::Bilinear(0, 2, 3); }));
  EXPECT_TRUE(rejects("Bilinear", [] { nn::Bilinear(2, 2, -1); }));
  nn::Bilinear b(2, 3, 4);
  array x1 = ones({5, 2}), x2 = ones({5, 3});
  EXPECT_TRUE(rejects("Bilinear", [&] { b(ones({5, 3}), x2); }));        // wrong input1 features
  EXPECT_TRUE(rejects("Bilinear", [&] { b(x1, ones({5, 2})); }));        // wrong input2 features
  EXPECT_TRUE(rejects("Bilinear", [&] { b(x1, ones({4, 3})); }));        // different leading dims
  EXPECT_TRUE(rejects("Bilinear", [&] { b(array(1.0f), x2); }));         // a scalar
  EXPECT_THROW(b(x1), std::invalid_argument);                            // Bilinear takes two inputs
}

}  // namespace
}  // namespace mica::layertest
