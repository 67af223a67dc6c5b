// Dropout, Dropout2d and Dropout3d against MLX: repr, identity in eval mode and for p = 0,
// masks equal to MLX's for the same seed (values printed by MLX 0.32), the keep rate and
// scaling of a large draw, whole channels dropped together, gradients through a fixed mask,
// and bad arguments.
#include <cmath>

#include "nn/layer_checks.h"

namespace mica::layertest {
namespace {

TEST(Dropout, ReprAndNoParameters) {
  EXPECT_EQ(nn::Dropout().repr(), "Dropout(p=0.5)");
  EXPECT_EQ(nn::Dropout(0.2).repr(), "Dropout(p=0.19999999999999996)");  // 1 - (1 - p), as MLX
  EXPECT_EQ(nn::Dropout(0.1).repr(), "Dropout(p=0.09999999999999998)");
  EXPECT_EQ(nn::Dropout(0.0).repr(), "Dropout(p=0.0)");
  EXPECT_EQ(nn::Dropout2d(0.3).repr(), "Dropout2d(p=0.30000000000000004)");
  EXPECT_EQ(nn::Dropout3d(0.7).repr(), "Dropout3d(p=0.7)");
  EXPECT_TRUE(keys(nn::Dropout().parameters()).empty());
  EXPECT_TRUE(keys(nn::Dropout2d().parameters()).empty());
  EXPECT_TRUE(keys(nn::Dropout3d().parameters()).empty());
}

TEST(Dropout, IdentityInEvalModeAndForZeroP) {
  array x = test::random_array({2, 3, 4, 5}, float32);
  nn::Dropout d(0.5);
  nn::Dropout2d d2(0.5);
  nn::Dropout3d d3(0.5);
  EXPECT_TRUE(d.training());
  d.eval();
  d2.eval();
  d3.eval();
  EXPECT_EQ(d(x).id(), x.id());
  EXPECT_EQ(d2(x).id(), x.id());
  EXPECT_EQ(d3(x).id(), x.id());
  nn::Dropout zero(0.0);
  EXPECT_EQ(zero(x).id(), x.id());
}

TEST(Dropout, MasksMatchMlxForTheSameSeed) {
  // mx.random.seed(42); nn.Dropout(0.5)(mx.arange(1, 13).astype(mx.float32))
  random::seed(42);
  nn::Dropout d(0.5);
  EXPECT_TRUE(test::matches(d(astype(arange(1, 13), float32)), {12},
                            {2.0, 0.0, 6.0, 0.0, 10.0, 0.0, 0.0, 0.0, 0.0, 0.0, 22.0, 24.0}));
  // mx.random.seed(7); nn.Dropout(0.25)(mx.arange(1, 11).astype(mx.float32))
  random::seed(7);
  nn::Dropout q(0.25);
  EXPECT_TRUE(test::matches(q(astype(arange(1, 11), float32)), {10},
                            {1.3333333730697632, 2.6666667461395264, 0.0, 5.333333492279053, 6.6666669845581055, 8.0,
                             9.333333969116211, 10.666666984558105, 12.0, 13.333333969116211}));
  // mx.random.seed(42); nn.Dropout2d(0.5)(mx.ones((2, 2, 2, 3))).reshape(2, -1)
  random::seed(42);
  nn::Dropout2d d2(0.5);
  std::vector<double> row = {2, 0, 0, 2, 0, 0, 2, 0, 0, 2, 0, 0}, want2;
  for (int i = 0; i < 2; ++i) want2.insert(want2.end(), row.begin(), row.end());
  EXPECT_TRUE(test::matches(reshape(d2(ones({2, 2, 2, 3})), {2, -1}), {2, 12}, want2));
  // mx.random.seed(7); nn.Dropout2d(0.5)(mx.ones((1, 2, 3))): 3-D input (H, W, C)
  random::seed(7);
  EXPECT_TRUE(test::matches(reshape(d2(ones({1, 2, 3})), {-1}), {6}, {2, 2, 0, 2, 2, 0}));
  // mx.random.seed(7); nn.Dropout3d(0.5)(mx.ones((2, 1, 1, 1, 4)))
  random::seed(7);
  nn::Dropout3d d3(0.5);
  EXPECT_TRUE(test::matches(reshape(d3(ones({2, 1, 1, 1, 4})), {-1}), {8}, {2, 0, 2, 0, 0, 2, 0, 0}));
}

TEST(Dropout, KeepRateAndScaling) {
  random::seed(3);
  array x = test::random_array({100, 100}, float32, 0.5, 2.0);
  auto xv = values(x);
  auto yv = values(nn::Dropout(0.3)(x));
  int zeros_seen = 0;
  for (size_t i = 0; i < xv.size(); ++i) {
    if (yv[i] == 0.0) {
      ++zeros_seen;
    } else {
      EXPECT_NEAR(yv[i], xv[i] / 0.7, 1e-5);
    }
  }
  EXPECT_NEAR(zeros_seen / 10000.0, 0.3, 0.03);
  // A fresh mask on every call.
  EXPECT_NE(values(nn::Dropout(0.5)(x)), values(nn::Dropout(0.5)(x)));
  // The dtype is kept.
  EXPECT_EQ(nn::Dropout(0.5)(astype(x, float16)).dtype(), float16);
}

// Whether each element was kept, for (lead, positions, C) viewed arrays: all positions of one
// (lead, channel) pair must agree.
void expect_channelwise(const array& y, int lead, int positions, int channels) {
  auto v = values(y);
  int kept_channels = 0;
  for (int n = 0; n < lead; ++n)
    for (int c = 0; c < channels; ++c) {
      bool kept = v[(n * positions) * channels + c] != 0.0;
      kept_channels += kept;
      for (int p = 0; p < positions; ++p) {
        double e = v[(n * positions + p) * channels + c];
        EXPECT_EQ(e != 0.0, kept);
        if (kept) EXPECT_NEAR(e, 2.0, 1e-6);
      }
    }
  EXPECT_GT(kept_channels, 0);
  EXPECT_LT(kept_channels, lead * channels);
}

TEST(Dropout, ChannelVariantsDropWholeChannels) {
  random::seed(11);
  nn::Dropout2d d2(0.5);
  expect_channelwise(d2(ones({4, 3, 5, 8})), 4, 15, 8);
  expect_channelwise(d2(ones({3, 5, 16})), 1, 15, 16);
  nn::Dropout3d d3(0.5);
  expect_channelwise(d3(ones({4, 2, 3, 2, 8})), 4, 12, 8);
  expect_channelwise(d3(ones({2, 3, 2, 16})), 1, 12, 16);
}

TEST(Dropout, GradientsThroughAFixedMask) {
  // Re-seeding inside the function keeps the mask fixed across the finite-difference calls.
  nn::Dropout d(0.4);
  nn::Dropout2d d2(0.4);
  nn::Dropout3d d3(0.4);
  EXPECT_TRUE(input_grad_ok("dropout", [&](const array& x) { random::seed(5); return d(x); }, {3, 4}));
  EXPECT_TRUE(input_grad_ok("dropout2d", [&](const array& x) { random::seed(5); return d2(x); }, {2, 2, 2, 3}));
  EXPECT_TRUE(input_grad_ok("dropout3d", [&](const array& x) { random::seed(5); return d3(x); }, {2, 2, 1, 2, 3}));
}

TEST(Dropout, BadArguments) {
  EXPECT_TRUE(rejects("Dropout", [] { nn::Dropout(1.0); }));
  EXPECT_TRUE(rejects("Dropout", [] { nn::Dropout(-0.1); }));
  EXPECT_TRUE(rejects("Dropout", [] { nn::Dropout(std::nan("")); }));
  EXPECT_TRUE(rejects("Dropout2d", [] { nn::Dropout2d(1.5); }));
  EXPECT_TRUE(rejects("Dropout3d", [] { nn::Dropout3d(1.0); }));
  nn::Dropout2d d2;
  nn::Dropout3d d3;
  EXPECT_TRUE(rejects("Dropout2d", [&] { d2(ones({2, 3})); }));
  EXPECT_TRUE(rejects("Dropout2d", [&] { d2(ones({1, 2, 2, 2, 3})); }));
  EXPECT_TRUE(rejects("Dropout3d", [&] { d3(ones({2, 2, 3})); }));
  EXPECT_TRUE(rejects("Dropout3d", [&] { d3(ones({1, 1, 2, 2, 2, 3})); }));
  d2.eval();  // the shape is checked in eval mode too, as MLX
  EXPECT_TRUE(rejects("Dropout2d", [&] { d2(ones({2, 3})); }));
}

}  // namespace
}  // namespace mica::layertest
