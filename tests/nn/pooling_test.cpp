// MaxPool1d/2d/3d and AvgPool1d/2d/3d against MLX: repr (strings printed by MLX 0.32), outputs
// against double-precision loops and MLX values (overlapping and tiling windows, padding that
// counts in the average), gradients against finite differences, and bad arguments.
#include <cmath>
#include <limits>

#include "nn/layer_checks.h"

namespace mica::layertest {
namespace {

using nn::IntOrTuple;

// Max or mean over windows of x (N, *S, C) padded by -inf (max) or 0 (mean) on both sides.
std::pair<Shape, std::vector<double>> pool_ref(const array& x, bool is_max, const std::vector<int>& k,
                                               const std::vector<int>& s, const std::vector<int>& p) {
  auto xv = values(x);
  const Shape xs = x.shape();
  const int d = static_cast<int>(k.size());
  Shape os{xs[0]};
  for (int i = 0; i < d; ++i) os.push_back((xs[1 + i] + 2 * p[i] - k[i]) / s[i] + 1);
  os.push_back(xs.back());
  std::vector<double> out;
  Shape ks(k.begin(), k.end());
  for_each_index(os, [&](const std::vector<int>& o) {
    double acc = is_max ? -std::numeric_limits<double>::infinity() : 0.0;
    int count = 0;
    for_each_index(ks, [&](const std::vector<int>& w) {
      ++count;
      std::vector<int> xi{o[0]};
      for (int i = 0; i < d; ++i) {
        int pos = o[1 + i] * s[i] - p[i] + w[i];
        if (pos < 0 || pos >= xs[1 + i]) return;  // padding: -inf never wins, 0 adds nothing
        xi.push_back(pos);
      }
      xi.push_back(o.back());
      double v = xv[flat(xi, xs)];
      acc = is_max ? std::max(acc, v) : acc + v;
    });
    out.push_back(is_max ? acc : acc / count);
  });
  return {os, out};
}

TEST(Pooling, ReprAndNoParameters) {
  EXPECT_EQ(nn::MaxPool1d(3).repr(), "MaxPool1d(kernel_size=(3,), stride=(3,), padding=(0,))");
  EXPECT_EQ(nn::MaxPool1d(3, {.stride = 1, .padding = 1}).repr(), "MaxPool1d(kernel_size=(3,), stride=(1,), padding=(1,))");
  EXPECT_EQ(nn::MaxPool2d({2, 3}, {.stride = {1, 2}, .padding = {1, 0}}).repr(),
            "MaxPool2d(kernel_size=(2, 3), stride=(1, 2), padding=(1, 0))");
  EXPECT_EQ(nn::MaxPool3d(2, {.padding = 1}).repr(),
            "MaxPool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2), padding=(1, 1, 1))");
  EXPECT_EQ(nn::AvgPool1d({2}).repr(), "AvgPool1d(kernel_size=(2,), stride=(2,), padding=(0,))");
  EXPECT_EQ(nn::AvgPool2d(2, {.stride = 1}).repr(), "AvgPool2d(kernel_size=(2, 2), stride=(1, 1), padding=(0, 0))");
  EXPECT_EQ(nn::AvgPool3d({1, 2, 2}, {.stride = 1}).repr(),
            "AvgPool3d(kernel_size=(1, 2, 2), stride=(1, 1, 1), padding=(0, 0, 0))");
  EXPECT_TRUE(keys(nn::MaxPool2d(2).parameters()).empty());
  EXPECT_TRUE(keys(nn::AvgPool2d(2).parameters()).empty());
}

TEST(Pooling, MatchesMlxValues) {
  // x = [[[1, -2], [3, 4], [-5, 6], [7, -8], [2, 1]]]
  array x = array({1.f, -2.f, 3.f, 4.f, -5.f, 6.f, 7.f, -8.f, 2.f, 1.f}, {1, 5, 2});
  EXPECT_TRUE(test::matches(nn::MaxPool1d(2, {.stride = 1, .padding = 1})(x), {1, 6, 2},
                            {1, -2, 3, 4, 3, 6, 7, 6, 7, 1, 2, 1}));
  EXPECT_TRUE(test::matches(nn::AvgPool1d(2, {.stride = 1, .padding = 1})(x), {1, 6, 2},
                            {0.5, -1, 2, 1, -1, 5, 1, -1, 4.5, -3.5, 1, 0.5}));
  EXPECT_TRUE(test::matches(nn::AvgPool1d(3, {.stride = 2})(x), {1, 2, 2},
                            {-0.3333333432674408, 2.6666667461395264, 1.3333333730697632, -0.3333333432674408}));
}

struct PoolRow {
  int dims;
  std::vector<int> k, s, p;
  Shape x;
};

std::shared_ptr<nn::Module> make_pool(bool is_max, const PoolRow& r) {
  IntOrTuple k(r.k), s(r.s), p(r.p);
  nn::PoolOptions o{.stride = s, .padding = p};
  if (r.dims == 1) return is_max ? std::shared_ptr<nn::Module>(std::make_shared<nn::MaxPool1d>(k, o)) : std::make_shared<nn::AvgPool1d>(k, o);
  if (r.dims == 2) return is_max ? std::shared_ptr<nn::Module>(std::make_shared<nn::MaxPool2d>(k, o)) : std::make_shared<nn::AvgPool2d>(k, o);
  return is_max ? std::shared_ptr<nn::Module>(std::make_shared<nn::MaxPool3d>(k, o)) : std::make_shared<nn::AvgPool3d>(k, o);
}

const std::vector<PoolRow> kRows = {
    {1, {3}, {3}, {0}, {2, 9, 3}},                      // tiling windows (reshape path)
    {1, {3}, {2}, {1}, {2, 8, 3}},                      // overlapping, padded
    {2, {2, 2}, {2, 2}, {0, 0}, {2, 4, 6, 3}},          // tiling
    {2, {3, 2}, {1, 2}, {1, 0}, {1, 5, 5, 2}},          // mixed
    {2, {2, 2}, {2, 2}, {0, 0}, {1, 5, 4, 2}},          // stride = kernel but not tiling (5 % 2)
    {3, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}, {1, 4, 2, 4, 2}},
    {3, {2, 3, 1}, {1, 2, 1}, {1, 1, 0}, {2, 3, 4, 2, 2}},
};

TEST(Pooling, MatchesReference) {
  for (bool is_max : {true, false}) {
    for (size_t i = 0; i < kRows.size(); ++i) {
      const PoolRow& r = kRows[i];
      auto layer = make_pool(is_max, r);
      array x = test::random_array(r.x, float32, -2, 2, static_cast<uint32_t>(i + 1));
      auto [shape, want] = pool_ref(x, is_max, r.k, r.s, r.p);
      EXPECT_TRUE(test::matches((*layer)(x), shape, want, 1e-6, 1e-6)) << (is_max ? "max" : "avg") << " row " << i;
    }
  }
  // A non-contiguous (transposed) input goes through the as_strided path correctly.
  array xt = transpose(test::random_array({2, 3, 8}, float32, -2, 2, 21), {0, 2, 1});  // (2, 8, 3)
  for (bool is_max : {true, false}) {
    auto layer = make_pool(is_max, kRows[1]);
    auto [shape, want] = pool_ref(xt, is_max, kRows[1].k, kRows[1].s, kRows[1].p);
    EXPECT_TRUE(test::matches((*layer)(xt), shape, want, 1e-6, 1e-6)) << "transposed input";
    auto tiled = make_pool(is_max, PoolRow{1, {2}, {2}, {0}, {}});
    auto [shape2, want2] = pool_ref(xt, is_max, {2}, {2}, {0});
    EXPECT_TRUE(test::matches((*tiled)(xt), shape2, want2, 1e-6, 1e-6)) << "transposed input, tiling";
  }
  // Integer inputs: max keeps the dtype (padding can never win), mean gives float32.
  array xi = array({3, -7, 2, 9, -1, 4}, {1, 6, 1}, int32);
  array m = nn::MaxPool1d(2, {.stride = 2, .padding = 1})(xi);
  EXPECT_EQ(m.dtype(), int32);
  EXPECT_TRUE(test::matches(m, {1, 4, 1}, {3, 2, 9, 4}));
  EXPECT_EQ(nn::AvgPool1d(2)(xi).dtype(), float32);
}

TEST(Pooling, GradientsMatchFiniteDifferences) {
  for (bool is_max : {true, false}) {
    for (size_t i = 0; i < kRows.size(); ++i) {
      PoolRow r = kRows[i];
      r.x[0] = 1;  // keep the finite-difference loops short
      auto layer = make_pool(is_max, r);
      std::string name = std::string(is_max ? "max" : "avg") + "_row" + std::to_string(i);
      // Random inputs have no ties, so max is differentiable at the sample point.
      EXPECT_TRUE(input_grad_ok(name, [&](const array& v) { return (*layer)(v); }, r.x));
    }
  }
}

TEST(Pooling, BadArguments) {
  EXPECT_TRUE(rejects("MaxPool2d", [] { nn::MaxPool2d({1, 2, 3}); }));
  EXPECT_TRUE(rejects("MaxPool1d", [] { nn::MaxPool1d(0); }));
  EXPECT_TRUE(rejects("AvgPool2d", [] { nn::AvgPool2d(2, {.stride = 0}); }));
  EXPECT_TRUE(rejects("AvgPool3d", [] { nn::AvgPool3d(2, {.stride = {1, 1}}); }));
  EXPECT_TRUE(rejects("MaxPool3d", [] { nn::MaxPool3d(2, {.padding = -1}); }));
  EXPECT_TRUE(rejects("AvgPool1d", [] { nn::AvgPool1d(IntOrTuple{}); }));
  nn::MaxPool2d p(2);
  EXPECT_TRUE(rejects("MaxPool2d", [&] { p(ones({4, 4, 3})); }));        // no batch axis
  EXPECT_TRUE(rejects("MaxPool2d", [&] { p(ones({1, 4, 4, 3, 1})); }));  // too many axes
  EXPECT_TRUE(rejects("MaxPool2d", [&] { p(ones({1, 1, 4, 3})); }));     // smaller than the kernel
  nn::AvgPool1d a(4);
  EXPECT_TRUE(rejects("AvgPool1d", [&] { a(ones({1, 2, 1})); }));
}

}  // namespace
}  // namespace mica::layertest
