// nn activations, losses and initializers against values computed by MLX 0.32 on the same
// inputs (printed by a short mlx script; the numbers are pasted below).
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "mica/nn/activations.h"
#include "mica/nn/init.h"
#include "mica/nn/losses.h"
#include "reference/reference.h"

using namespace mica;
namespace L = mica::nn::losses;
using L::Reduction;
using mica::test::matches;
using mica::test::throws_op;
using mica::test::to_vector;

namespace {
const std::map<std::string, std::vector<double>> kMlx = {
    {"ce_idx", {0.2413113, 0.2090207, 1.497576}},
    {"ce_probs", {0.9913113, 0.6790208, 1.167576}},
    {"ce_w_mean", {1.113658}},
    {"ce_smooth", {0.3913113, 0.3656874, 1.46091}},
    {"ce_axis0_sum", {2.076491}},
    {"bce_logits", {0.974077, 1.463282, 0.1269281, 0.8543553}},
    {"bce_probs", {0.212345}},
    {"bce_w", {4.416058}},
    {"l1", {0.725}},
    {"l1_none", {0.4, 1, 0.5, 0.9999999}},
    {"mse", {0.6025}},
    {"mse_sum", {2.41}},
    {"nll", {0.2413113, 0.2090207, 1.497576}},
    {"gnll", {0.1915867}},
    {"gnll_full", {0.732365, 1.455004, 0.7392195, 1.515512}},
    {"kl", {0.4060475, 0.3414673, 0.04585105}},
    {"smooth_l1", {0.16, 0.75, 0.25, 0.7499999}},
    {"triplet", {0, 1.642417}},
    {"triplet_p1", {0.85}},
    {"hinge", {0.5, 0, 3, 0.7}},
    {"huber", {0.08000001, 0.375, 0.125, 0.375}},
    {"logcosh", {0.07795346, 0.4337808, 0.1201145, 0.4337808}},
    {"cos", {0.9285713, 0.9428091}},
    {"cos_ax0", {0.8251065}},
    {"margin", {0, 0, 0.5}},
    {"act_relu", {0, 0, 0, 0, 0.3, 1.2, 3.5}},
    {"act_relu2", {0, 0, 0, 0, 0.09, 1.44, 12.25}},
    {"act_relu6", {0, 0, 0, 0, 0.3, 1.2, 3.5}},
    {"act_leaky_relu", {-0.02, -0.007, -0.001, 0, 0.3, 1.2, 3.5}},
    {"act_elu", {-0.8646647, -0.5034147, -0.09516257, 0, 0.3, 1.2, 3.5}},
    {"act_celu", {-0.8646647, -0.5034147, -0.09516257, 0, 0.3, 1.2, 3.5}},
    {"act_selu", {-1.520162, -0.8850504, -0.1673048, 0, 0.31521, 1.26084, 3.67745}},
    {"act_gelu", {-0.04550016, -0.1693745, -0.04601721, 0, 0.1853734, 1.061916, 3.499186}},
    {"act_gelu_approx", {-0.04540229, -0.1694299, -0.04601725, 0, 0.1853709, 1.061703, 3.499384}},
    {"act_gelu_fast_approx", {-0.06434137, -0.163106, -0.04575524, 0, 0.1874841, 1.062213, 3.490967}},
    {"act_sigmoid", {0.1192029, 0.3318122, 0.4750208, 0.5, 0.5744425, 0.7685248, 0.9706877}},
    {"act_silu", {-0.2384059, -0.2322686, -0.04750208, 0, 0.1723328, 0.9222298, 3.397407}},
    {"act_log_sigmoid", {-2.126928, -1.103186, -0.7443967, -0.6931472, -0.5543553, -0.2632824, -0.02975042}},
    {"act_softplus", {0.126928, 0.4031861, 0.6443967, 0.6931472, 0.8543553, 1.463282, 3.52975}},
    {"act_mish", {-0.2525015, -0.2678702, -0.05678857, 0, 0.2080014, 1.077946, 3.493991}},
    {"act_hardswish", {-0.3333333, -0.2683333, -0.04833334, 0, 0.165, 0.84, 3.5}},
    {"act_hard_tanh", {-1, -0.7, -0.1, 0, 0.3, 1, 1}},
    {"act_hard_shrink", {-2, -0.7, 0, 0, 0, 1.2, 3.5}},
    {"act_softshrink", {-1.5, -0.2, 0, 0, 0, 0.7, 3}},
    {"act_softsign", {-0.6666667, -0.4117647, -0.09090909, 0, 0.2307692, 0.5454546, 0.7777778}},
    {"act_step", {0, 0, 0, 1, 1, 1, 1}},
    {"act_tanh", {-0.9640276, -0.6043677, -0.099668, 0, 0.2913126, 0.8336546, 0.9981779}},
    {"act_softmax", {0.003356348, 0.01231544, 0.02244019, 0.02480024, 0.03347682, 0.08233972, 0.8212712}},
    {"act_softmin", {0.5873566, 0.1600733, 0.08785011, 0.07949007, 0.0588877, 0.02394194, 0.002400392}},
    {"act_log_softmax", {-5.696902, -4.396902, -3.796902, -3.696902, -3.396902, -2.496902, -0.1969019}},
    {"act_glu", {0.6224593, -1.148885}},
    {"act_prelu", {-0.5, -0.175, -0.025, 0, 0.3, 1.2, 3.5}},
    {"act_elu2", {-1.729329, -1.006829, -0.1903251, 0, 0.3, 1.2, 3.5}},
    {"act_celu05", {-0.4908422, -0.3767015, -0.09063461, 0, 0.3, 1.2, 3.5}},
    {"act_leaky02", {-0.4, -0.14, -0.02, 0, 0.3, 1.2, 3.5}},
};

testing::AssertionResult like_mlx(const std::string& key, const array& got) {
  auto r = mica::test::all_close(to_vector(got), kMlx.at(key), 2e-5, 2e-6);
  if (!r) return testing::AssertionFailure() << key << ": " << r.message();
  return r;
}

const array kLogits = array({2.0f, -1.0f, 0.5f, -1.0f, 2.0f, 0.3f, 0.1f, 0.2f, -0.4f}, {3, 3});
const array kTgt = array({0, 1, 2});
const array kProbs = array({0.7f, 0.2f, 0.1f, 0.1f, 0.8f, 0.1f, 0.3f, 0.3f, 0.4f}, {3, 3});
const array kX = array({0.5f, -1.2f, 2.0f, 0.3f}, {2, 2});
const array kY = array({0.1f, -0.2f, 1.5f, 1.3f}, {2, 2});
const array kP = array({0.2f, 0.9f, 0.6f, 0.01f}, {2, 2});
const array kB = array({0.0f, 1.0f, 1.0f, 0.0f}, {2, 2});
const array kV = array({0.5f, 1.5f, 0.2f, 2.0f}, {2, 2});
const array kA = array({0.1f, 0.2f, 0.3f, 1.0f, -1.0f, 0.5f}, {2, 3});
const array kPos = array({0.2f, 0.1f, 0.3f, 0.5f, -0.5f, 0.0f}, {2, 3});
const array kNeg = array({1.0f, 0.0f, -1.0f, 1.0f, -1.2f, 0.4f}, {2, 3});
}  // namespace

TEST(Losses, MatchMlx) {
  EXPECT_TRUE(like_mlx("ce_idx", L::cross_entropy(kLogits, kTgt)));
  EXPECT_TRUE(like_mlx("ce_probs", L::cross_entropy(kLogits, kProbs)));
  EXPECT_TRUE(like_mlx("ce_w_mean", L::cross_entropy(kLogits, kTgt, {.weights = array({1.0f, 0.5f, 2.0f}), .reduction = Reduction::mean})));
  EXPECT_TRUE(like_mlx("ce_smooth", L::cross_entropy(kLogits, kTgt, {.label_smoothing = 0.1f})));
  EXPECT_TRUE(like_mlx("ce_axis0_sum", L::cross_entropy(kLogits, kTgt, {.axis = 0, .reduction = Reduction::sum})));
  EXPECT_TRUE(like_mlx("bce_logits", L::binary_cross_entropy(kX, kB, {.reduction = Reduction::none})));
  EXPECT_TRUE(like_mlx("bce_probs", L::binary_cross_entropy(kP, kB, {.with_logits = false})));
  EXPECT_TRUE(like_mlx("bce_w", L::binary_cross_entropy(kX, kB, {.weights = kV, .reduction = Reduction::sum})));
  EXPECT_TRUE(like_mlx("l1", L::l1_loss(kX, kY)));
  EXPECT_TRUE(like_mlx("l1_none", L::l1_loss(kX, kY, Reduction::none)));
  EXPECT_TRUE(like_mlx("mse", L::mse_loss(kX, kY)));
  EXPECT_TRUE(like_mlx("mse_sum", L::mse_loss(kX, kY, Reduction::sum)));
  EXPECT_TRUE(like_mlx("nll", L::nll_loss(nn::log_softmax(kLogits), kTgt)));
  EXPECT_TRUE(like_mlx("gnll", L::gaussian_nll_loss(kX, kY, kV)));
  EXPECT_TRUE(like_mlx("gnll_full", L::gaussian_nll_loss(kX, kY, kV, {.full = true, .reduction = Reduction::none})));
  EXPECT_TRUE(like_mlx("kl", L::kl_div_loss(nn::log_softmax(kLogits), nn::log_softmax(kProbs))));
  EXPECT_TRUE(like_mlx("smooth_l1", L::smooth_l1_loss(kX, kY, {.beta = 0.5f, .reduction = Reduction::none})));
  EXPECT_TRUE(like_mlx("triplet", L::triplet_loss(kA, kPos, kNeg)));
  EXPECT_TRUE(like_mlx("triplet_p1", L::triplet_loss(kA, kPos, kNeg, {.p = 1, .margin = 0.5f, .reduction = Reduction::mean})));
  EXPECT_TRUE(like_mlx("hinge", L::hinge_loss(kX, array({1.0f, -1.0f, -1.0f, 1.0f}, {2, 2}))));
  EXPECT_TRUE(like_mlx("huber", L::huber_loss(kX, kY, {.delta = 0.5f})));
  EXPECT_TRUE(like_mlx("logcosh", L::log_cosh_loss(kX, kY)));
  EXPECT_TRUE(like_mlx("cos", L::cosine_similarity_loss(kA, kPos)));
  EXPECT_TRUE(like_mlx("cos_ax0", L::cosine_similarity_loss(kA, kPos, {.axis = 0, .reduction = Reduction::mean})));
  EXPECT_TRUE(like_mlx("margin", L::margin_ranking_loss(array({0.5f, 1.0f, -0.3f}), array({0.2f, 1.5f, 0.1f}),
                                                        array({1.0f, -1.0f, 1.0f}), {.margin = 0.1f})));
}

TEST(Losses, HandComputed) {
  // Cross entropy of uniform logits over 4 classes is log 4 whatever the target.
  auto ce = L::cross_entropy(zeros({2, 4}), array({3, 0}), {.reduction = Reduction::mean});
  EXPECT_TRUE(matches(ce, {}, {std::log(4.0)}, 1e-6));
  // mse of (1, 2) vs (0, 0): (1 + 4) / 2.
  EXPECT_TRUE(matches(L::mse_loss(array({1.0f, 2.0f}), array({0.0f, 0.0f})), {}, {2.5}));
}

TEST(Losses, GradientOfCrossEntropyIsSoftmaxMinusOneHot) {
  auto g = grad([](const array& z) { return L::cross_entropy(z, array({2}), {.reduction = Reduction::sum}); })(
      array({0.5f, -1.0f, 2.0f}, {1, 3}));
  double e0 = std::exp(0.5), e1 = std::exp(-1.0), e2 = std::exp(2.0), s = e0 + e1 + e2;
  EXPECT_TRUE(matches(g, {1, 3}, {e0 / s, e1 / s, e2 / s - 1}, 1e-5));
}

TEST(Losses, BadInput) {
  EXPECT_TRUE(throws_op<std::invalid_argument>("mse_loss", [] { L::mse_loss(kX, kA); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("mse_loss", [] { L::mse_loss(kX, kY, static_cast<Reduction>(7)); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("cross_entropy", [] { L::cross_entropy(kLogits, array({0, 1})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("cross_entropy", [] {
    L::cross_entropy(kLogits, kTgt, {.label_smoothing = 1.0f});
  }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("cross_entropy", [] {
    L::cross_entropy(kLogits, kTgt, {.weights = array({1.0f, 2.0f})});
  }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("binary_cross_entropy", [] { L::binary_cross_entropy(kX, kTgt); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("gaussian_nll_loss", [] { L::gaussian_nll_loss(kX, kY, kA); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("margin_ranking_loss", [] {
    L::margin_ranking_loss(kX, kY, array({1.0f}));
  }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("nll_loss", [] { L::nll_loss(kLogits, array({0})); }));
}

TEST(Activations, MatchMlx) {
  const array z = array({-2.0f, -0.7f, -0.1f, 0.0f, 0.3f, 1.2f, 3.5f});
  using F = array (*)(const array&);
  const std::vector<std::pair<std::string, F>> plain = {
      {"relu", nn::relu},       {"relu2", nn::relu2},         {"relu6", nn::relu6},
      {"selu", nn::selu},       {"gelu", nn::gelu},           {"gelu_approx", nn::gelu_approx},
      {"gelu_fast_approx", nn::gelu_fast_approx},             {"sigmoid", nn::sigmoid},
      {"silu", nn::silu},       {"log_sigmoid", nn::log_sigmoid}, {"softplus", nn::softplus},
      {"mish", nn::mish},       {"hardswish", nn::hardswish}, {"softsign", nn::softsign},
      {"tanh", nn::tanh}};
  for (auto& [name, f] : plain) EXPECT_TRUE(like_mlx("act_" + name, f(z)));
  EXPECT_TRUE(like_mlx("act_leaky_relu", nn::leaky_relu(z)));
  EXPECT_TRUE(like_mlx("act_leaky02", nn::leaky_relu(z, 0.2f)));
  EXPECT_TRUE(like_mlx("act_elu", nn::elu(z)));
  EXPECT_TRUE(like_mlx("act_elu2", nn::elu(z, 2.0f)));
  EXPECT_TRUE(like_mlx("act_celu", nn::celu(z)));
  EXPECT_TRUE(like_mlx("act_celu05", nn::celu(z, 0.5f)));
  EXPECT_TRUE(like_mlx("act_hard_tanh", nn::hard_tanh(z)));
  EXPECT_TRUE(like_mlx("act_hard_shrink", nn::hard_shrink(z)));
  EXPECT_TRUE(like_mlx("act_softshrink", nn::softshrink(z)));
  EXPECT_TRUE(like_mlx("act_step", nn::step(z)));
  EXPECT_EQ(nn::step(z).dtype(), int32);
  EXPECT_TRUE(like_mlx("act_softmax", nn::softmax(z)));
  EXPECT_TRUE(like_mlx("act_softmin", nn::softmin(z)));
  EXPECT_TRUE(like_mlx("act_log_softmax", nn::log_softmax(z)));
  EXPECT_TRUE(like_mlx("act_glu", nn::glu(array({1.0f, -2.0f, 0.5f, 0.3f}, {1, 4}))));
  EXPECT_TRUE(like_mlx("act_prelu", nn::prelu(z, array({0.25f}))));
  EXPECT_TRUE(throws_op<std::invalid_argument>("glu", [] { nn::glu(array({1.0f, 2.0f, 3.0f})); }));
}

TEST(Init, ShapesAndStatistics) {
  namespace I = mica::nn::init;
  auto w = zeros({256, 128});
  auto c = I::constant(0.5f)(w);
  EXPECT_TRUE(matches(max(abs(c - 0.5f)), {}, {0}));
  auto check_stats = [&](const array& a, double want_mean, double want_std, double tol) {
    auto v = to_vector(a);
    double m = 0, s = 0;
    for (double x : v) m += x;
    m /= v.size();
    for (double x : v) s += (x - m) * (x - m);
    s = std::sqrt(s / v.size());
    EXPECT_NEAR(m, want_mean, tol);
    EXPECT_NEAR(s, want_std, tol);
  };
  check_stats(I::normal({.mean = 1.0f, .std = 2.0f})(w), 1.0, 2.0, 0.05);
  check_stats(I::uniform({.low = -1.0f, .high = 3.0f})(w), 1.0, 4.0 / std::sqrt(12.0), 0.03);
  // fan_in 128, fan_out 256.
  check_stats(I::glorot_normal()(w), 0, std::sqrt(2.0 / 384), 0.003);
  check_stats(I::glorot_uniform()(w, 2.0f), 0, 2 * std::sqrt(6.0 / 384) / std::sqrt(3.0), 0.003);
  check_stats(I::he_normal()(w), 0, std::sqrt(1.0 / 128), 0.003);
  check_stats(I::he_uniform()(w, {.mode = I::FanMode::fan_out}), 0, std::sqrt(3.0 / 256) / std::sqrt(3.0), 0.003);
  EXPECT_TRUE(matches(I::identity()(zeros({3, 3})), {3, 3}, {1, 0, 0, 0, 1, 0, 0, 0, 1}));
  // sparse: exactly ceil(0.25 * 8) = 2 zeros per row.
  auto sp = to_vector(I::sparse(0.25f)(zeros({5, 8})));
  for (int r = 0; r < 5; ++r) {
    int z = 0;
    for (int j = 0; j < 8; ++j) z += sp[r * 8 + j] == 0.0;
    EXPECT_EQ(z, 2) << r;
  }
  // orthogonal: Q^T Q = gain^2 I for a tall matrix, Q Q^T = gain^2 I for a wide one.
  auto q = I::orthogonal({.gain = 2.0f})(zeros({6, 4}));
  auto qtq = matmul(transpose(q), q);
  std::vector<double> want(16, 0.0);
  for (int i = 0; i < 4; ++i) want[i * 5] = 4;
  EXPECT_TRUE(matches(qtq, {4, 4}, want, 1e-5, 1e-5));
  auto q2 = I::orthogonal()(zeros({3, 5}));
  EXPECT_TRUE(matches(matmul(q2, transpose(q2)), {3, 3}, {1, 0, 0, 0, 1, 0, 0, 0, 1}, 1e-5, 1e-5));
}

TEST(Init, BadInput) {
  namespace I = mica::nn::init;
  EXPECT_TRUE(throws_op<std::invalid_argument>("glorot_normal", [] { I::glorot_normal()(zeros({4})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("he_uniform", [] { I::he_uniform()(zeros({4, 4}), {.mode = static_cast<I::FanMode>(5)}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("identity", [] { I::identity()(zeros({2, 3})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("orthogonal", [] { I::orthogonal()(zeros({2, 3, 4})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("sparse", [] { I::sparse(1.5f); }));
}
