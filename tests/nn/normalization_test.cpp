// LayerNorm, RMSNorm, GroupNorm, BatchNorm and InstanceNorm against MLX: parameter layout and
// order, repr (strings printed by MLX 0.32), outputs against double-precision loops and MLX
// values, BatchNorm's running statistics (frozen, updated by training calls, used in eval
// mode, through value_and_grad), gradients against finite differences, and bad arguments.
#include <cmath>

#include "nn/layer_checks.h"

namespace mica::layertest {
namespace {

using PS = std::pair<std::string, Shape>;

// Normalizes the groups of x given by group_of(flat index) -> group id (n_groups groups), then
// applies per-channel weight/bias (channel = flat % C) when given.
std::vector<double> normalize_ref(const std::vector<double>& x, int n_groups, const std::function<int(size_t)>& group_of,
                                  double eps, int channels, const std::vector<double>* w = nullptr,
                                  const std::vector<double>* b = nullptr, bool rms = false) {
  std::vector<double> sum(n_groups, 0.0), sq(n_groups, 0.0), cnt(n_groups, 0.0);
  for (size_t i = 0; i < x.size(); ++i) {
    int g = group_of(i);
    sum[g] += x[i];
    cnt[g] += 1;
  }
  for (size_t i = 0; i < x.size(); ++i) {
    int g = group_of(i);
    double c = rms ? x[i] : x[i] - sum[g] / cnt[g];
    sq[g] += c * c;
  }
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    int g = group_of(i);
    double m = rms ? 0.0 : sum[g] / cnt[g];
    double v = y[i] = (x[i] - m) / std::sqrt(sq[g] / cnt[g] + eps);
    size_t c = i % channels;
    if (w) y[i] = v * (*w)[c] + (b ? (*b)[c] : 0.0);
  }
  return y;
}

TEST(Normalization, ParametersAndRepr) {
  nn::LayerNorm ln(4);
  EXPECT_EQ(param_shapes(ln), (std::vector<PS>{{"weight", {4}}, {"bias", {4}}}));
  EXPECT_EQ(ln.repr(), "LayerNorm(4, eps=1e-05, affine=True)");
  nn::LayerNorm ln_na(4, {.eps = 1e-6, .affine = false});
  EXPECT_TRUE(keys(ln_na.parameters()).empty());
  EXPECT_EQ(ln_na.repr(), "LayerNorm(4, eps=1e-06, affine=False)");
  nn::LayerNorm ln_nb(4, {.bias = false});
  EXPECT_EQ(keys(ln_nb.parameters()), (Keys{"weight"}));
  EXPECT_EQ(ln_nb.repr(), "LayerNorm(4, eps=1e-05, affine=True)");

  nn::RMSNorm rms(8, 1e-6);
  EXPECT_EQ(param_shapes(rms), (std::vector<PS>{{"weight", {8}}}));
  EXPECT_EQ(rms.repr(), "RMSNorm(8, eps=1e-06)");

  nn::GroupNorm gn(2, 4);
  EXPECT_EQ(param_shapes(gn), (std::vector<PS>{{"bias", {4}}, {"weight", {4}}}));  // MLX's order
  EXPECT_EQ(gn.repr(), "GroupNorm(2, 4, eps=1e-05, affine=True, pytorch_compatible=False)");
  nn::GroupNorm gn2(3, 6, {.eps = 0.001, .affine = false, .pytorch_compatible = true});
  EXPECT_TRUE(keys(gn2.parameters()).empty());
  EXPECT_EQ(gn2.repr(), "GroupNorm(3, 6, eps=0.001, affine=False, pytorch_compatible=True)");

  nn::BatchNorm bn(4);
  EXPECT_EQ(param_shapes(bn),
            (std::vector<PS>{{"weight", {4}}, {"bias", {4}}, {"running_mean", {4}}, {"running_var", {4}}}));
  EXPECT_EQ(bn.repr(), "BatchNorm(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)");
  EXPECT_TRUE(test::matches(bn.param("running_mean"), {4}, {0, 0, 0, 0}));
  EXPECT_TRUE(test::matches(bn.param("running_var"), {4}, {1, 1, 1, 1}));
  nn::BatchNorm bn2(3, {.eps = 1e-3, .momentum = 0.2, .affine = false, .track_running_stats = false});
  EXPECT_TRUE(keys(bn2.parameters()).empty());
  EXPECT_EQ(bn2.repr(), "BatchNorm(3, eps=0.001, momentum=0.2, affine=False, track_running_stats=False)");

  nn::InstanceNorm in(4);
  EXPECT_TRUE(keys(in.parameters()).empty());
  EXPECT_EQ(in.repr(), "InstanceNorm(4, eps=1e-05, affine=False)");
  nn::InstanceNorm in2(2, {.eps = 1e-4, .affine = true});
  EXPECT_EQ(param_shapes(in2), (std::vector<PS>{{"weight", {2}}, {"bias", {2}}}));
  EXPECT_EQ(in2.repr(), "InstanceNorm(2, eps=0.0001, affine=True)");
}

TEST(Normalization, LayerNormAndRMSNormMatchReference) {
  array x = test::random_array({3, 2, 5}, float32, -2, 2, 1);
  array w = test::random_array({5}, float32, 0.5, 1.5, 2), b = test::random_array({5}, float32, -1, 1, 3);
  auto xv = values(x), wv = values(w), bv = values(b);
  auto row = [](size_t i) { return static_cast<int>(i / 5); };

  nn::LayerNorm ln(5);
  ln.update(D{{"weight", w}, {"bias", b}});
  EXPECT_TRUE(test::matches(ln(x), {3, 2, 5}, normalize_ref(xv, 6, row, 1e-5, 5, &wv, &bv), 1e-5, 1e-5));
  nn::LayerNorm ln_nb(5, {.bias = false});
  ln_nb.update(D{{"weight", w}});
  EXPECT_TRUE(test::matches(ln_nb(x), {3, 2, 5}, normalize_ref(xv, 6, row, 1e-5, 5, &wv), 1e-5, 1e-5));
  nn::LayerNorm ln_na(5, {.eps = 0.5, .affine = false});
  EXPECT_TRUE(test::matches(ln_na(x), {3, 2, 5}, normalize_ref(xv, 6, row, 0.5, 5), 1e-5, 1e-5));

  nn::RMSNorm rms(5, 1e-3);
  rms.update(D{{"weight", w}});
  EXPECT_TRUE(test::matches(rms(x), {3, 2, 5}, normalize_ref(xv, 6, row, 1e-3, 5, &wv, nullptr, true), 1e-5, 1e-5));
}

TEST(Normalization, GroupNormMatchesReferenceAndMlx) {
  // x (2, 3, 4): MLX puts feature c in group c % G; PyTorch groups consecutive features.
  array x = test::random_array({2, 3, 4}, float32, -2, 2, 4);
  array w = test::random_array({4}, float32, 0.5, 1.5, 5), b = test::random_array({4}, float32, -1, 1, 6);
  auto xv = values(x), wv = values(w), bv = values(b);
  nn::GroupNorm gn(2, 4);
  gn.update(D{{"weight", w}, {"bias", b}});
  auto interleaved = [](size_t i) { return static_cast<int>((i / 12) * 2 + (i % 4) % 2); };
  EXPECT_TRUE(test::matches(gn(x), {2, 3, 4}, normalize_ref(xv, 4, interleaved, 1e-5, 4, &wv, &bv), 1e-5, 1e-5));
  nn::GroupNorm pt(2, 4, {.pytorch_compatible = true});
  pt.update(D{{"weight", w}, {"bias", b}});
  auto consecutive = [](size_t i) { return static_cast<int>((i / 12) * 2 + (i % 4) / 2); };
  EXPECT_TRUE(test::matches(pt(x), {2, 3, 4}, normalize_ref(xv, 4, consecutive, 1e-5, 4, &wv, &bv), 1e-5, 1e-5));

  // MLX: x = arange(24).reshape(2, 3, 4); x = x * x * 0.1 - x; GroupNorm(2, 4)(x)[0] (both modes)
  array a = astype(reshape(arange(24), {2, 3, 4}), float32);
  a = a * a * 0.1 - a;
  EXPECT_TRUE(test::matches(take(nn::GroupNorm(2, 4)(a), 0, 0), {3, 4},
                            {1.3362993001937866, 0.27565798163414, -0.26725998520851135, -0.7167105674743652,
                             -1.0690397024154663, -1.0475002527236938, -1.0690394639968872, -0.7167105674743652,
                             -0.2672598659992218, 0.2756582796573639, 1.3362993001937866, 1.9296059608459473},
                            1e-4, 1e-4));
  EXPECT_TRUE(test::matches(take(nn::GroupNorm(2, 4, {.pytorch_compatible = true})(a), 0, 0), {3, 4},
                            {1.5615863800048828, 0.54561448097229, -0.32358479499816895, -0.7118862271308899,
                             -1.1476722955703735, -1.2605578899383545, -0.9448671340942383, -0.7118862271308899,
                             -0.24458587169647217, 0.5456148386001587, 0.9189801812171936, 1.7732439041137695},
                            1e-4, 1e-4));
  // MLX: InstanceNorm(4)(x)[0] for the same x.
  EXPECT_TRUE(test::matches(take(nn::InstanceNorm(4)(a), 0, 0), {3, 4},
                            {1.3362994194030762, 0.7071003913879395, -0.2672598958015442, -0.7071051001548767,
                             -1.0690395832061768, -1.4142009019851685, -1.0690394639968872, -0.7071051001548767,
                             -0.26725974678993225, 0.7071008682250977, 1.3362996578216553, 1.414210319519043},
                            1e-4, 1e-4));
}

TEST(Normalization, InstanceNormMatchesReference) {
  array x = test::random_array({2, 3, 2, 3}, float32, -2, 2, 7);  // (N, H, W, C)
  array w = test::random_array({3}, float32, 0.5, 1.5, 8), b = test::random_array({3}, float32, -1, 1, 9);
  auto xv = values(x), wv = values(w), bv = values(b);
  auto per_sample_channel = [](size_t i) { return static_cast<int>((i / 18) * 3 + i % 3); };
  nn::InstanceNorm in(3);
  EXPECT_TRUE(test::matches(in(x), {2, 3, 2, 3}, normalize_ref(xv, 6, per_sample_channel, 1e-5, 3), 1e-5, 1e-5));
  nn::InstanceNorm ina(3, {.eps = 0.1, .affine = true});
  ina.update(D{{"weight", w}, {"bias", b}});
  EXPECT_TRUE(test::matches(ina(x), {2, 3, 2, 3}, normalize_ref(xv, 6, per_sample_channel, 0.1, 3, &wv, &bv), 1e-5,
                            1e-5));
}

TEST(Normalization, BatchNormTrainingEvalAndRunningStats) {
  // MLX: x = [[1, 2, 3], [4, -1, 0.5], [2, 2, -3]]; bn = BatchNorm(3); bn(x); bn.running_*; bn.eval(); bn(x)
  array x = array({1.f, 2.f, 3.f, 4.f, -1.f, 0.5f, 2.f, 2.f, -3.f}, {3, 3});
  nn::BatchNorm bn(3);
  EXPECT_TRUE(test::matches(bn(x), {3, 3},
                            {-1.0690417289733887, 0.7071049809455872, 1.1513842344284058, 1.3363018035888672,
                             -1.4142099618911743, 0.13545696437358856, -0.26726052165031433, 0.7071049809455872,
                             -1.2868412733078003},
                            1e-5, 1e-5));
  EXPECT_TRUE(test::matches(bn.param("running_mean"), {3}, {0.23333334922790527, 0.10000000149011612, 0.01666666753590107}));
  EXPECT_TRUE(test::matches(bn.param("running_var"), {3}, {1.1333333253860474, 1.2000000476837158, 1.808333396911621}));
  bn.eval();
  EXPECT_TRUE(test::matches(bn(x), {3, 3},
                            {0.7201547026634216, 1.7344474792480469, 2.2185096740722656, 3.538151502609253,
                             -1.004153847694397, 0.35942333936691284, 1.659487009048462, 1.7344474792480469,
                             -2.243297576904297},
                            1e-5, 1e-5));
  // Eval calls leave the statistics alone.
  EXPECT_TRUE(test::matches(bn.param("running_mean"), {3}, {0.23333334922790527, 0.10000000149011612, 0.01666666753590107}));

  // 4-D input (N, H, W, C) against the reference, with affine parameters and momentum 0.3.
  array x4 = test::random_array({2, 3, 2, 4}, float32, -2, 2, 10);
  array w = test::random_array({4}, float32, 0.5, 1.5, 11), b = test::random_array({4}, float32, -1, 1, 12);
  auto xv = values(x4), wv = values(w), bv = values(b);
  nn::BatchNorm bn4(4, {.momentum = 0.3});
  bn4.update(D{{"weight", w}, {"bias", b}});
  auto channel = [](size_t i) { return static_cast<int>(i % 4); };
  EXPECT_TRUE(test::matches(bn4(x4), {2, 3, 2, 4}, normalize_ref(xv, 4, channel, 1e-5, 4, &wv, &bv), 1e-5, 1e-5));
  std::vector<double> mean_ref(4, 0.0), var_ref(4, 0.0);
  for (size_t i = 0; i < xv.size(); ++i) mean_ref[i % 4] += xv[i] / 12;
  for (size_t i = 0; i < xv.size(); ++i) var_ref[i % 4] += (xv[i] - mean_ref[i % 4]) * (xv[i] - mean_ref[i % 4]) / 11;
  for (int c = 0; c < 4; ++c) {
    mean_ref[c] = 0.3 * mean_ref[c];
    var_ref[c] = 0.7 + 0.3 * var_ref[c];
  }
  EXPECT_TRUE(test::matches(bn4.param("running_mean"), {4}, mean_ref, 1e-5, 1e-6));
  EXPECT_TRUE(test::matches(bn4.param("running_var"), {4}, var_ref, 1e-5, 1e-6));

  // Without running statistics, eval mode still uses the batch statistics.
  nn::BatchNorm plain(4, {.affine = false, .track_running_stats = false});
  plain.eval();
  EXPECT_TRUE(test::matches(plain(x4), {2, 3, 2, 4}, normalize_ref(xv, 4, channel, 1e-5, 4), 1e-5, 1e-5));
}

TEST(Normalization, BatchNormStatisticsStayFrozen) {
  nn::BatchNorm bn(3);
  EXPECT_EQ(keys(bn.trainable_parameters()), (Keys{"weight", "bias"}));
  bn.unfreeze();
  EXPECT_EQ(keys(bn.trainable_parameters()), (Keys{"weight", "bias"}));
  bn.unfreeze({.keys = {"running_mean"}});
  EXPECT_EQ(keys(bn.trainable_parameters()), (Keys{"weight", "bias"}));
  bn.freeze();
  EXPECT_TRUE(keys(bn.trainable_parameters()).empty());
  // E12: through a parent.
  nn::Sequential net(std::make_shared<nn::Linear>(4, 4), std::make_shared<nn::BatchNorm>(4));
  net.unfreeze();
  Keys all = keys(net.parameters());
  ASSERT_EQ(all.size(), 6u);
  EXPECT_EQ(all[4], "layers.1.running_mean");
  EXPECT_EQ(all[5], "layers.1.running_var");
  EXPECT_EQ(keys(net.trainable_parameters()),
            (Keys{"layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"}));
}

TEST(Normalization, BatchNormInsideValueAndGrad) {
  // A training step through nn::value_and_grad: gradients for weight and bias only, and the
  // running statistics written during the call are usable afterwards.
  nn::BatchNorm bn(3);
  bn.update(D{{"weight", array({1.f, 2.f, 3.f})}, {"bias", array({0.f, 1.f, 0.f})}});
  array x = array({1.f, 2.f, 3.f, 4.f, -1.f, 0.5f, 2.f, 2.f, -3.f}, {3, 3});
  array v = array({1.f, -2.f, 0.5f, 0.3f, 1.f, 2.f, -1.f, 0.f, 1.f}, {3, 3});
  auto loss = [&](const array& in) { return sum(multiply(bn(in), v)); };
  auto [val, g] = nn::value_and_grad(bn, loss)(x);
  EXPECT_EQ(keys(g), (Keys{"weight", "bias"}));
  EXPECT_TRUE(test::matches(g["bias"].as_array(), {3}, {0.3, -1.0, 3.5}, 1e-5, 1e-5));
  EXPECT_TRUE(test::matches(bn.param("running_mean"), {3}, {0.23333334922790527, 0.10000000149011612, 0.01666666753590107}));
  EXPECT_TRUE(test::matches(bn.param("running_var"), {3}, {1.1333333253860474, 1.2000000476837158, 1.808333396911621}));
}

TEST(Normalization, BatchNormAfterALayerInsideValueAndGrad) {
  // The batch statistics depend on the Linear's parameters, which value_and_grad traces; the
  // running statistics left in the model must still evaluate, to the same values as a plain call.
  auto make = [] {
    auto lin = std::make_shared<nn::Linear>(3, 3);
    lin->update(D{{"weight", array({0.5f, -1.f, 2.f, 1.f, 0.f, 1.f, -0.5f, 0.25f, 1.f}, {3, 3})},
                  {"bias", array({0.1f, 0.2f, 0.3f})}});
    return std::make_shared<nn::Sequential>(lin, std::make_shared<nn::BatchNorm>(3));
  };
  auto net = make(), twin = make();
  array x = test::random_array({4, 3}, float32, -2, 2, 13);
  auto [val, g] = nn::value_and_grad(*net, [&](const array& in) { return sum(square((*net)(in))); })(x);
  EXPECT_EQ(keys(g), (Keys{"layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"}));
  (*twin)(x);
  auto stats = [](nn::Sequential& s, const char* k) { return s["layers"].as_list()[1].as_module().param(k); };
  EXPECT_TRUE(test::matches(stats(*net, "running_mean"), {3}, values(stats(*twin, "running_mean")), 1e-6, 1e-6));
  EXPECT_TRUE(test::matches(stats(*net, "running_var"), {3}, values(stats(*twin, "running_var")), 1e-6, 1e-6));
  // And a second step starts from them.
  nn::value_and_grad(*net, [&](const array& in) { return sum(square((*net)(in))); })(x);
  (*twin)(x);
  EXPECT_TRUE(test::matches(stats(*net, "running_var"), {3}, values(stats(*twin, "running_var")), 1e-6, 1e-6));
}

TEST(Normalization, GradientsMatchFiniteDifferences) {
  {
    nn::LayerNorm m(4);
    m.set_dtype(float64);
    array x = test::random_array({2, 4}, float64, -1, 1, 3);
    EXPECT_TRUE(input_grad_ok("layer_norm_x", [&](const array& v) { return m(v); }, {2, 4}));
    EXPECT_TRUE(param_grad_ok("layer_norm_params", m, {"weight", "bias"}, [&] { return m(x); }));
  }
  {
    nn::RMSNorm m(4);
    m.set_dtype(float64);
    array x = test::random_array({3, 4}, float64, -1, 1, 4);
    EXPECT_TRUE(input_grad_ok("rms_norm_x", [&](const array& v) { return m(v); }, {3, 4}));
    EXPECT_TRUE(param_grad_ok("rms_norm_params", m, {"weight"}, [&] { return m(x); }));
  }
  for (bool pt : {false, true}) {
    nn::GroupNorm m(2, 4, {.pytorch_compatible = pt});
    m.set_dtype(float64);
    array x = test::random_array({2, 3, 4}, float64, -1, 1, 5);
    std::string n = pt ? "group_norm_pt" : "group_norm";
    EXPECT_TRUE(input_grad_ok(n + "_x", [&](const array& v) { return m(v); }, {2, 3, 4}));
    EXPECT_TRUE(param_grad_ok(n + "_params", m, {"bias", "weight"}, [&] { return m(x); }));
  }
  {
    nn::BatchNorm m(3);
    m.set_dtype(float64);
    array x = test::random_array({2, 2, 3}, float64, -1, 1, 6);
    EXPECT_TRUE(input_grad_ok("batch_norm_train_x", [&](const array& v) { return m(v); }, {2, 2, 3}));
    EXPECT_TRUE(param_grad_ok("batch_norm_params", m, {"weight", "bias"}, [&] { return m(x); }));
    m.eval();
    EXPECT_TRUE(input_grad_ok("batch_norm_eval_x", [&](const array& v) { return m(v); }, {2, 2, 3}));
  }
  {
    nn::InstanceNorm m(3, {.affine = true});
    m.set_dtype(float64);
    array x = test::random_array({2, 2, 2, 3}, float64, -1, 1, 7);
    EXPECT_TRUE(input_grad_ok("instance_norm_x", [&](const array& v) { return m(v); }, {2, 2, 2, 3}));
    EXPECT_TRUE(param_grad_ok("instance_norm_params", m, {"weight", "bias"}, [&] { return m(x); }));
  }
}

TEST(Normalization, BadArguments) {
  EXPECT_TRUE(rejects("LayerNorm", [] { nn::LayerNorm(4, {.eps = 0.0}); }));
  EXPECT_TRUE(rejects("LayerNorm", [] { nn::LayerNorm(0); }));
  EXPECT_TRUE(rejects("RMSNorm", [] { nn::RMSNorm(4, -1e-5); }));
  EXPECT_TRUE(rejects("GroupNorm", [] { nn::GroupNorm(2, 4, {.eps = 0.0}); }));
  EXPECT_TRUE(rejects("GroupNorm", [] { nn::GroupNorm(3, 4); }));  // 4 % 3
  EXPECT_TRUE(rejects("GroupNorm", [] { nn::GroupNorm(0, 4); }));
  EXPECT_TRUE(rejects("BatchNorm", [] { nn::BatchNorm(4, {.eps = -1.0}); }));
  EXPECT_TRUE(rejects("InstanceNorm", [] { nn::InstanceNorm(4, {.eps = 0.0}); }));

  nn::LayerNorm ln(4);
  EXPECT_TRUE(rejects("LayerNorm", [&] { ln(array(1.0f)); }));
  EXPECT_THROW(ln(ones({2, 3})), std::invalid_argument);  // fast::layer_norm rejects the weight size
  nn::GroupNorm gn(2, 4);
  EXPECT_TRUE(rejects("GroupNorm", [&] { gn(ones({2, 3, 6})); }));
  EXPECT_TRUE(rejects("GroupNorm", [&] { gn(ones({4})); }));
  nn::BatchNorm bn(3);
  EXPECT_TRUE(rejects("BatchNorm", [&] { bn(ones({2, 2, 2, 2, 3})); }));  // 5-D
  EXPECT_TRUE(rejects("BatchNorm", [&] { bn(ones({3})); }));              // 1-D
  EXPECT_TRUE(rejects("BatchNorm", [&] { bn(ones({2, 4})); }));           // wrong features
  EXPECT_TRUE(rejects("BatchNorm", [&] { bn(ones({1, 3})); }));           // one value per channel in training
  bn.eval();
  EXPECT_NO_THROW(bn(ones({1, 3})));
  nn::InstanceNorm in(3);
  EXPECT_TRUE(rejects("InstanceNorm", [&] { in(ones({2, 3})); }));
  EXPECT_TRUE(rejects("InstanceNorm", [&] { in(ones({2, 2, 4})); }));
}

}  // namespace
}  // namespace mica::layertest
