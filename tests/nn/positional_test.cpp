// RoPE, ALiBi and SinusoidalPositionalEncoding (mica/nn/layers/positional.h): against
// double-precision loops written from the definitions, against numbers printed by MLX 0.32 for
// the same inputs, gradients against finite differences, and bad arguments.
#include "nn/layer_checks.h"
#include "mica/nn/layers/positional.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <numbers>

#include "mica/nn.h"
#include "reference/reference.h"
#include "reference/transform_checks.h"

using namespace mica;
using mica::layertest::inp;
using mica::test::GradCase;
using mica::test::to_vector;

namespace {

// Printed by MLX 0.32 for the inputs below (see inp()).
// clang-format off
const std::map<std::string, std::vector<double>> kMlx = {
    {"rope4", {0.9553365, 0.7838216, 0.5062203, 0.1601043, -0.207681, -0.5473577, 0.3963392, -0.9596381, -1.220595, -0.8927221, -0.6536436, -0.3357384, -0.6429214, 0.3689879, -0.2638765, 0.9151956, 0.9980045, 0.9533004, 0.7795717, 0.5003315, 0.1533739, -0.2143422, -0.5530481, -0.8169015, 0.2161828, -0.9856358, -1.29178, -0.6583602, -0.3293115, 0.03441891, -0.9916405, 0.6791989, -0.02109009, 1.012197, 0.9512201, 0.7752855, 0.4944196, 0.1466363, -0.2209935, -0.5587129, -0.8208131, -0.9718201, 0.005692303, -0.8733318, -1.181706, -0.3316191, 0.04122872, 0.3997466, -1.201215, 0.8941067, 0.2246556, 0.96717, 0.7709633, 0.4884847, 0.1398919, -0.2276345, -0.5643517, -0.8246865, -0.9734039, -0.9903756, -0.2055969, -0.6384844, -0.9058187, 0.04165395, 0.4059838, 0.708983, -1.242239, 0.9835559, 0.4388782, 0.7864324, 0.482527, 0.133141}},
    {"rope4_trad_off2", {-1.110287, 0.5425001, 0.5029172, 0.170196, -0.207681, -0.5473577, 0.9414936, 0.844101, -0.9660628, -0.9124694, -0.6536436, -0.3357384, 0.2750012, -0.2739952, 0.6575671, 0.9346766, 0.9980045, 0.9533004, -0.7793664, 0.5006511, 0.1576298, -0.2112321, -0.5530481, -0.8169015, 1.100497, 0.8453275, -0.8600161, -0.6745713, -0.3293115, 0.03441891, 0.2720335, -0.7548915, 0.8698186, 1.034022, 0.9512201, 0.7752855, -0.3390871, 0.3885522, -0.2097758, -0.5630208, -0.8208131, -0.9718201, 1.105082, 0.72794, -0.6332944, -0.3420192, 0.04122872, 0.3997466, 0.2308948, -1.129864, 0.9600197, 0.9882767, 0.7709633, 0.4884847, 0.1487719, 0.2219327, -0.5477463, -0.8358079, -0.9734039, -0.9903756, 0.9546047, 0.50841, -0.3177106, 0.03852405, 0.4059838, 0.708983, 0.1573576, -1.346296, 0.9155136, 0.8038591, 0.482527, 0.133141}},
    {"rope6_base_scale", {0.7616286, 0.8016068, 0.5187859, 0.5985175, -0.1222058, -0.535463, 0.3038474, -0.8063903, -0.9763507, -1.161206, -0.8455827, -0.3814511, -0.9034068, 0.05023676, 0.626417, 0.09174179, 1.069311, 0.9992998, 0.7868996, 0.5568916, 0.1722895, 0.1856436, -0.4960501, -0.8131223, 0.02147311, -0.8988323, -0.8805126, -1.166758, -0.5338051, -0.006443128, -0.9680762, 0.3610276, 0.8543321, 0.46313, 1.124058, 0.8367466, 0.7017552, 0.2340348, -0.1983821, -0.2532793, -0.80029, -0.9766867, -0.2639143, -0.8651525, -0.6611236, -1.008594, -0.1471255, 0.3694689, -0.8969077, 0.6211601, 0.9623699, 0.7695331, 1.021081, 0.5567834, 0.5181425, -0.121661, -0.5412172, -0.6566628, -0.9922355, -1.003205, -0.5122699, -0.7100772, -0.3489676, -0.7089062, 0.2601984, 0.6935381, -0.6998879, 0.7941331, 0.9353706, 0.9679576, 0.7748284, 0.1986939}},
    {"alibi_slope8", {0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625}},
    {"alibi_slope6", {0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125}},
    {"alibi_matrix", {-0.0625, 0, -0.0625, -0.125, -0.125, -0.0625, 0, -0.0625, -0.00390625, 0, -0.00390625, -0.0078125, -0.0078125, -0.00390625, 0, -0.00390625}},
    {"alibi_call", {1.155938, 0.58075, -0.1980402, -0.9584856, -1.481123, -1.811756, -0.5258588, -0.8883821, -1.13848, -1.235018, -1.157647, -0.924123}},
    {"sin6", {0, 0, 0, 0.5773503, 0.5773503, 0.5773503, 0.575904, 0.008659929, 8.660256e-05, 0.04084014, 0.5772853, 0.5773503, 0.08147567, 0.01731791, 0.0001732051, -0.5715724, 0.5770905, 0.5773502}},
    {"sin6_opts", {1, 1, 1, 0, 0, 0, 1, 0.2356927, 0.995562, 4.76995e-08, 0.9718276, 0.09410832, 1, -0.8888979, 0.9822872, 9.5399e-08, 0.4581054, 0.1873813}},
    {"sin2", {0, 1, 0.997495, 0.0707372, 0.14112, -0.9899925}},
};
// clang-format on

// inp(shape, s)[j] = cos(0.37 j + s), as the MLX script builds its inputs.
testing::AssertionResult like_mlx(const std::string& key, const array& got, double tol = 2e-5) {
  auto r = test::all_close(to_vector(got), kMlx.at(key), tol, tol);
  if (!r) return testing::AssertionFailure() << key << ": " << r.message();
  return r;
}

// RoPE from the definition: x (..., L, D) row-major; pairs (i, i + dims/2) or (2i, 2i + 1)
// rotated by (offset + p) scale base^(-2i/dims).
std::vector<double> rope_ref(const std::vector<double>& x, const Shape& shape, int dims, bool traditional, double base,
                             double scale, int offset) {
  int D = shape.back(), L = shape[shape.size() - 2];
  size_t rows = x.size() / D;
  std::vector<double> out = x;
  for (size_t r = 0; r < rows; ++r) {
    int p = static_cast<int>(r % L);
    for (int i = 0; i < dims / 2; ++i) {
      double theta = (offset + p) * scale * std::pow(base, -2.0 * i / dims);
      int a = traditional ? 2 * i : i;
      int b = traditional ? 2 * i + 1 : i + dims / 2;
      double x1 = x[r * D + a], x2 = x[r * D + b];
      out[r * D + a] = x1 * std::cos(theta) - x2 * std::sin(theta);
      out[r * D + b] = x1 * std::sin(theta) + x2 * std::cos(theta);
    }
  }
  return out;
}

}  // namespace

// -- RoPE ---------------------------------------------------------------------------------------

TEST(RoPE, ReprAndNoParameters) {
  nn::RoPE r(4);
  EXPECT_EQ(r.repr(), "RoPE(4, traditional=False)");
  EXPECT_EQ(nn::RoPE(8, {.traditional = true}).repr(), "RoPE(8, traditional=True)");
  EXPECT_TRUE(tree_flatten(r.parameters()).empty());
}

TEST(RoPE, MatchesMlx) {
  array x = inp({2, 2, 3, 6}, 0.3);
  EXPECT_TRUE(like_mlx("rope4", nn::RoPE(4)(x)));
  EXPECT_TRUE(like_mlx("rope4_trad_off2", nn::RoPE(4, {.traditional = true})(x, 2)));
  EXPECT_TRUE(like_mlx("rope6_base_scale", nn::RoPE(6, {.base = 100.0f, .scale = 0.5f})(x, 1)));
}

TEST(RoPE, MatchesDefinition) {
  Shape shape{2, 5, 8};
  array x = test::random_array(shape, float64, -2.0, 2.0, 3);
  auto xv = to_vector(x);
  for (bool trad : {false, true}) {
    for (int dims : {4, 8}) {
      nn::RoPE r(dims, {.traditional = trad, .base = 500.0f, .scale = 0.75f});
      array y = r(x, 3);
      EXPECT_EQ(y.dtype(), float64);
      EXPECT_TRUE(test::matches(y, shape, rope_ref(xv, shape, dims, trad, 500.0, 0.75, 3), 1e-12, 1e-12))
          << "traditional=" << trad << " dims=" << dims;
    }
  }
  // Half precision keeps its dtype.
  array h = nn::RoPE(4)(astype(x, float16));
  EXPECT_EQ(h.dtype(), float16);
  EXPECT_TRUE(test::matches(h, shape, rope_ref(xv, shape, 4, false, 10000.0, 1.0, 0), 5e-3, 5e-3));
}

TEST(RoPE, GradientMatchesFiniteDifferences) {
  for (bool trad : {false, true}) {
    auto r = std::make_shared<nn::RoPE>(4, nn::RoPEOptions{.traditional = trad});
    GradCase c{"rope", [r](const std::vector<array>& in) { return (*r)(in[0], 1); }, {{1, 3, 6}}};
    EXPECT_TRUE(test::vjp_matches_finite_differences(c)) << trad;
  }
}

TEST(RoPE, BadArguments) {
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("RoPE", [] { nn::RoPE(3); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("RoPE", [] { nn::RoPE(0); }));
  nn::RoPE r(4);
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("RoPE", [&] { r(zeros({3, 4})); }));            // 2-D
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("RoPE", [&] { r(zeros({1, 3, 2})); }));         // dims > D
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("RoPE", [&] { r(zeros({1, 3, 4}, int32)); }));  // not floating
}

// -- ALiBi --------------------------------------------------------------------------------------

TEST(ALiBi, SlopesAndMatrixMatchMlx) {
  EXPECT_EQ(nn::ALiBi().repr(), "ALiBi()");
  array s8 = nn::ALiBi::create_alibi_slope(8);
  EXPECT_EQ(s8.shape(), (Shape{8, 1, 1}));
  EXPECT_TRUE(like_mlx("alibi_slope8", s8));
  EXPECT_TRUE(like_mlx("alibi_slope6", nn::ALiBi::create_alibi_slope(6)));
  array m = nn::ALiBi::create_alibi_matrix(3, 4, 2, 1);
  EXPECT_EQ(m.shape(), (Shape{1, 2, 2, 4}));
  EXPECT_EQ(m.dtype(), float32);
  EXPECT_TRUE(like_mlx("alibi_matrix", m));
  EXPECT_EQ(nn::ALiBi::create_alibi_matrix(2, 2, 4, 0, float16).dtype(), float16);
}

TEST(ALiBi, CallMatchesMlxAndDefinition) {
  array scores = inp({1, 2, 2, 3}, 0.7);
  array mask = inp({2, 3}, 1.1);
  nn::ALiBi alibi;
  EXPECT_TRUE(like_mlx("alibi_call", alibi(scores, 1, mask)));
  // Without offset and mask: scores[b, h, i, j] - slope_h |i - j| with slopes 2^-8/H (h + 1).
  array x = test::random_array({2, 4, 3, 5}, float64, -1.0, 1.0, 4);
  auto xv = to_vector(x);
  std::vector<double> want(xv.size());
  for (size_t f = 0; f < xv.size(); ++f) {
    int j = f % 5, i = (f / 5) % 3, h = (f / 15) % 4;
    want[f] = xv[f] - std::pow(2.0, -2.0 * (h + 1)) * std::abs(i - j);
  }
  array y = alibi(x);
  EXPECT_EQ(y.dtype(), float64);
  EXPECT_TRUE(test::matches(y, {2, 4, 3, 5}, want, 1e-12, 1e-12));
}

TEST(ALiBi, GradientMatchesFiniteDifferences) {
  auto a = std::make_shared<nn::ALiBi>();
  GradCase c{"alibi", [a](const std::vector<array>& in) { return (*a)(in[0], 2, in[1]); }, {{1, 3, 2, 4}, {2, 4}}};
  EXPECT_TRUE(test::vjp_matches_finite_differences(c));
}

TEST(ALiBi, BadArguments) {
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("ALiBi", [] { nn::ALiBi::create_alibi_slope(0); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("ALiBi", [] { nn::ALiBi::create_alibi_matrix(2, 3, 2, 3); }));
  nn::ALiBi a;
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("ALiBi", [&] { a(zeros({4})); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("ALiBi", [&] { a(zeros({1, 2, 2, 2}), -1); }));
  EXPECT_THROW(a(zeros({1, 2, 2, 2}), 0, zeros({3, 3})), std::invalid_argument);  // mask does not broadcast
}

// -- SinusoidalPositionalEncoding ----------------------------------------------------------------

TEST(SinusoidalPositionalEncoding, StateReprAndMlxValues) {
  nn::SinusoidalPositionalEncoding pe(6);
  EXPECT_EQ(pe.repr(), "SinusoidalPositionalEncoding()");
  EXPECT_TRUE(tree_flatten(pe.parameters()).empty());  // _sigmas is private
  EXPECT_TRUE(pe.contains("_sigmas"));
  EXPECT_EQ(pe.param("_sigmas").shape(), (Shape{3}));
  array pos = array({0.0f, 1.5f, 3.0f});
  array y = pe(pos);
  EXPECT_EQ(y.shape(), (Shape{3, 6}));
  EXPECT_TRUE(like_mlx("sin6", y));
  nn::SinusoidalPositionalEncoding opts(
      6, {.min_freq = 0.01f, .max_freq = 2.0f, .scale = 1.0f, .cos_first = true, .full_turns = true});
  EXPECT_TRUE(like_mlx("sin6_opts", opts(pos), 5e-5));
  EXPECT_TRUE(like_mlx("sin2", nn::SinusoidalPositionalEncoding(2)(pos)));
}

TEST(SinusoidalPositionalEncoding, MatchesDefinition) {
  // dims 8: sigma_i = exp(log(max) + (i / 3) (log(min) - log(max))), y = [sin(x s), cos(x s)] sqrt(2/8).
  array x = test::random_array({2, 3}, float64, 0.0, 20.0, 6);
  auto xv = to_vector(x);
  std::vector<double> want;
  for (double v : xv) {
    std::vector<double> s, c;
    for (int i = 0; i < 4; ++i) {
      double sigma = std::exp(std::log(1.0) + (i / 3.0) * (std::log(1e-4) - std::log(1.0)));
      s.push_back(std::sin(v * sigma) * 0.5);
      c.push_back(std::cos(v * sigma) * 0.5);
    }
    want.insert(want.end(), s.begin(), s.end());
    want.insert(want.end(), c.begin(), c.end());
  }
  array y = nn::SinusoidalPositionalEncoding(8)(x);
  EXPECT_EQ(y.dtype(), float64);
  EXPECT_TRUE(test::matches(y, {2, 3, 8}, want, 1e-6, 1e-6));
  // Integer positions give float32.
  EXPECT_EQ(nn::SinusoidalPositionalEncoding(8)(arange(4)).dtype(), float32);
}

TEST(SinusoidalPositionalEncoding, GradientMatchesFiniteDifferences) {
  auto pe = std::make_shared<nn::SinusoidalPositionalEncoding>(6);
  // _sigmas stays float32 (private, so set_dtype leaves it); float64 positions promote.
  GradCase c{"sinusoidal", [pe](const std::vector<array>& in) { return (*pe)(in[0]); }, {{2, 2}}};
  EXPECT_TRUE(test::vjp_matches_finite_differences(c));
}

TEST(SinusoidalPositionalEncoding, BadArguments) {
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("SinusoidalPositionalEncoding",
                                                     [] { nn::SinusoidalPositionalEncoding(5); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("SinusoidalPositionalEncoding",
                                                     [] { nn::SinusoidalPositionalEncoding(0); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("SinusoidalPositionalEncoding",
                                                     [] { nn::SinusoidalPositionalEncoding(4, {.min_freq = 0.0f}); }));
}
