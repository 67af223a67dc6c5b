// Conv1d/2d/3d and ConvTranspose1d/2d/3d against MLX: parameter layout, repr (strings printed
// by MLX 0.32), seeded initialization, outputs against double-precision loops (stride,
// padding, dilation, groups, output_padding), gradients against finite differences for the
// input, weight and bias, and bad arguments.
#include <cmath>

#include "nn/layer_checks.h"

namespace mica::layertest {
namespace {

using PS = std::pair<std::string, Shape>;


struct ConvRef {
  std::vector<double> out;
  Shape shape;
};

// Channels-last cross-correlation: x (N, *S, Ci), w (Co, *K, Ci / groups).
ConvRef conv_ref(const array& x, const array& w, const std::vector<int>& stride, const std::vector<int>& pad,
                 const std::vector<int>& dil, int groups) {
  auto xv = values(x), wv = values(w);
  const Shape xs = x.shape(), ws = w.shape();
  const int d = static_cast<int>(xs.size()) - 2, co = ws[0], cig = ws.back(), cog = co / groups;
  Shape os{xs[0]}, ks(ws.begin() + 1, ws.end() - 1);
  for (int i = 0; i < d; ++i) os.push_back((xs[1 + i] + 2 * pad[i] - dil[i] * (ks[i] - 1) - 1) / stride[i] + 1);
  os.push_back(co);
  ConvRef r{std::vector<double>(flat(std::vector<int>(os.size(), 0), os)), os};
  size_t total = 1;
  for (int s : os) total *= s;
  r.out.assign(total, 0.0);
  for_each_index(os, [&](const std::vector<int>& o) {
    int oc = o.back(), g = oc / cog;
    double s = 0;
    for_each_index(ks, [&](const std::vector<int>& k) {
      std::vector<int> xi{o[0]};
      for (int i = 0; i < d; ++i) {
        int p = o[1 + i] * stride[i] - pad[i] + k[i] * dil[i];
        if (p < 0 || p >= xs[1 + i]) return;
        xi.push_back(p);
      }
      xi.push_back(0);
      std::vector<int> wi{oc};
      wi.insert(wi.end(), k.begin(), k.end());
      wi.push_back(0);
      for (int c = 0; c < cig; ++c) {
        xi.back() = g * cig + c;
        wi.back() = c;
        s += xv[flat(xi, xs)] * wv[flat(wi, ws)];
      }
    });
    r.out[flat(o, os)] = s;
  });
  return r;
}

// Transposed convolution: out[n, i * s - p + k * d, co] += sum_ci w[co, k, ci] x[n, i, ci].
ConvRef conv_transpose_ref(const array& x, const array& w, const std::vector<int>& stride, const std::vector<int>& pad,
                           const std::vector<int>& dil, const std::vector<int>& out_pad) {
  auto xv = values(x), wv = values(w);
  const Shape xs = x.shape(), ws = w.shape();
  const int d = static_cast<int>(xs.size()) - 2, co = ws[0], ci = ws.back();
  Shape os{xs[0]}, ks(ws.begin() + 1, ws.end() - 1);
  for (int i = 0; i < d; ++i) {
    os.push_back((xs[1 + i] - 1) * stride[i] - 2 * pad[i] + dil[i] * (ks[i] - 1) + out_pad[i] + 1);
  }
  os.push_back(co);
  size_t total = 1;
  for (int s : os) total *= s;
  ConvRef r{std::vector<double>(total, 0.0), os};
  Shape in_pos(xs.begin(), xs.end() - 1);
  for_each_index(in_pos, [&](const std::vector<int>& i) {
    for_each_index(ks, [&](const std::vector<int>& k) {
      std::vector<int> oi{i[0]};
      for (int a = 0; a < d; ++a) {
        int p = i[1 + a] * stride[a] - pad[a] + k[a] * dil[a];
        if (p < 0 || p >= os[1 + a]) return;
        oi.push_back(p);
      }
      oi.push_back(0);
      std::vector<int> xi = i, wi{0};
      xi.push_back(0);
      wi.insert(wi.end(), k.begin(), k.end());
      wi.push_back(0);
      for (int o = 0; o < co; ++o) {
        oi.back() = o;
        wi[0] = o;
        double s = 0;
        for (int c = 0; c < ci; ++c) {
          xi.back() = c;
          wi.back() = c;
          s += xv[flat(xi, xs)] * wv[flat(wi, ws)];
        }
        r.out[flat(oi, os)] += s;
      }
    });
  });
  return r;
}

// Adds the bias (last axis) to a reference.
void add_bias(ConvRef& r, const array& b) {
  auto bv = values(b);
  for (size_t i = 0; i < r.out.size(); ++i) r.out[i] += bv[i % bv.size()];
}

// Writes random weight (and bias) into the layer; returns them.
std::pair<array, array> randomize(nn::Module& m, uint32_t seed) {
  array w = test::random_array(m.param("weight").shape(), float32, -1, 1, seed);
  array b = m.contains("bias") ? test::random_array(m.param("bias").shape(), float32, -1, 1, seed + 1) : array(0.0f);
  if (m.contains("bias")) {
    m.update(D{{"weight", w}, {"bias", b}});
  } else {
    m.update(D{{"weight", w}});
  }
  return {w, b};
}

TEST(Convolution, ParametersAndRepr) {
  nn::Conv1d c1(4, 6, 3, {.stride = 2, .padding = 1, .dilation = 2, .groups = 2, .bias = false});
  EXPECT_EQ(param_shapes(c1), (std::vector<PS>{{"weight", {6, 3, 2}}}));
  EXPECT_EQ(c1.repr(), "Conv1d(4, 6, kernel_size=3, stride=2, padding=1, dilation=2, groups=2, bias=False)");

  nn::Conv2d c2(2, 4, {3, 2}, {.stride = {1, 2}, .padding = 1, .dilation = {2, 1}});
  EXPECT_EQ(param_shapes(c2), (std::vector<PS>{{"weight", {4, 3, 2, 2}}, {"bias", {4}}}));
  EXPECT_EQ(c2.repr(),
            "Conv2d(2, 4, kernel_size=(3, 2), stride=(1, 2), padding=(1, 1), dilation=(2, 1), groups=1, bias=True)");
  EXPECT_EQ(nn::Conv2d(2, 4, 3).repr(),
            "Conv2d(2, 4, kernel_size=(3, 3), stride=(1, 1), padding=(0, 0), dilation=1, groups=1, bias=True)");

  nn::Conv3d c3(2, 4, {1, 2, 3}, {.dilation = 2});
  EXPECT_EQ(param_shapes(c3), (std::vector<PS>{{"weight", {4, 1, 2, 3, 2}}, {"bias", {4}}}));
  EXPECT_EQ(c3.repr(), "Conv3d(2, 4, kernel_size=(1, 2, 3), stride=(1, 1, 1), padding=(0, 0, 0), dilation=2, bias=True)");

  nn::ConvTranspose1d t1(3, 5, 2, {.stride = 2, .output_padding = 1});
  EXPECT_EQ(param_shapes(t1), (std::vector<PS>{{"weight", {5, 2, 3}}, {"bias", {5}}}));
  EXPECT_EQ(t1.repr(),
            "ConvTranspose1d(3, 5, kernel_size=2, stride=2, padding=0, dilation=1, output_padding=1, bias=True)");

  nn::ConvTranspose2d t2(2, 4, {3, 2}, {.padding = {1, 0}, .dilation = {1, 2}, .bias = false});
  EXPECT_EQ(param_shapes(t2), (std::vector<PS>{{"weight", {4, 3, 2, 2}}}));
  EXPECT_EQ(t2.repr(),
            "ConvTranspose2d(2, 4, kernel_size=(3, 2), stride=(1, 1), padding=(1, 0), dilation=(1, 2), "
            "output_padding=(0, 0), bias=False)");

  nn::ConvTranspose3d t3(2, 4, 2);
  EXPECT_EQ(param_shapes(t3), (std::vector<PS>{{"weight", {4, 2, 2, 2, 2}}, {"bias", {4}}}));
  EXPECT_EQ(t3.repr(),
            "ConvTranspose3d(2, 4, kernel_size=(2, 2, 2), stride=(1, 1, 1), padding=(0, 0, 0), dilation=1, "
            "output_padding=(0, 0, 0), bias=True)");
}

TEST(Convolution, InitializationMatchesMlx) {
  // mx.random.seed(42); nn.Conv2d(2, 2, (1, 2)).weight.flatten() (and the same for
  // nn.ConvTranspose1d(2, 2, 2): both draw uniform(-1/2, 1/2) of 8 values).
  std::vector<double> want = {-0.2773505449295044, 0.3067859411239624,  -0.05678737163543701, -0.2698885202407837,
                              0.2512603998184204,  0.15976840257644653, -0.48838213086128235, -0.14390242099761963};
  random::seed(42);
  nn::Conv2d c(2, 2, {1, 2});
  EXPECT_TRUE(test::matches(c.param("weight"), {2, 1, 2, 2}, want));
  EXPECT_TRUE(test::matches(c.param("bias"), {2}, {0, 0}));
  random::seed(42);
  nn::ConvTranspose1d t(2, 2, 2);
  EXPECT_TRUE(test::matches(t.param("weight"), {2, 2, 2}, want));
  // Bounds: 1/sqrt(in / groups * prod(kernel)).
  nn::Conv2d g(8, 4, 3, {.groups = 2});
  for (double w : values(g.param("weight"))) EXPECT_LE(std::abs(w), 1.0 / 6.0);
}

struct Conv1dOptionsRow {
  int s, p, d, g;
};

TEST(Convolution, Conv1dMatchesReference) {
  for (auto o : {Conv1dOptionsRow{1, 0, 1, 1}, Conv1dOptionsRow{2, 1, 2, 2}, Conv1dOptionsRow{3, 2, 1, 4}}) {
    nn::Conv1d c(4, 8, 3, {.stride = o.s, .padding = o.p, .dilation = o.d, .groups = o.g});
    auto [w, b] = randomize(c, 3);
    array x = test::random_array({2, 9, 4}, float32, -1, 1, 4);
    auto r = conv_ref(x, w, {o.s}, {o.p}, {o.d}, o.g);
    add_bias(r, b);
    EXPECT_TRUE(test::matches(c(x), r.shape, r.out, 1e-5, 1e-5)) << o.s << o.p << o.d << o.g;
  }
}

TEST(Convolution, Conv2dAndConv3dMatchReference) {
  nn::Conv2d c2(4, 6, {3, 2}, {.stride = {2, 1}, .padding = {1, 2}, .dilation = {1, 2}, .groups = 2});
  auto [w2, b2] = randomize(c2, 5);
  array x2 = test::random_array({2, 7, 6, 4}, float32, -1, 1, 6);
  auto r2 = conv_ref(x2, w2, {2, 1}, {1, 2}, {1, 2}, 2);
  add_bias(r2, b2);
  EXPECT_TRUE(test::matches(c2(x2), r2.shape, r2.out, 1e-5, 1e-5));

  nn::Conv2d nb(3, 2, 2, {.bias = false});
  auto [wn, bn] = randomize(nb, 7);
  array xn = test::random_array({1, 4, 5, 3}, float32, -1, 1, 8);
  auto rn = conv_ref(xn, wn, {1, 1}, {0, 0}, {1, 1}, 1);
  EXPECT_TRUE(test::matches(nb(xn), rn.shape, rn.out, 1e-5, 1e-5));

  nn::Conv3d c3(3, 4, {2, 3, 2}, {.stride = {1, 2, 1}, .padding = {1, 0, 1}, .dilation = {2, 1, 1}});
  auto [w3, b3] = randomize(c3, 9);
  array x3 = test::random_array({2, 4, 5, 3, 3}, float32, -1, 1, 10);
  auto r3 = conv_ref(x3, w3, {1, 2, 1}, {1, 0, 1}, {2, 1, 1}, 1);
  add_bias(r3, b3);
  EXPECT_TRUE(test::matches(c3(x3), r3.shape, r3.out, 1e-5, 1e-5));
}

TEST(Convolution, TransposedMatchReference) {
  nn::ConvTranspose1d t1(3, 4, 3, {.stride = 2, .padding = 1, .dilation = 2, .output_padding = 1});
  auto [w1, b1] = randomize(t1, 11);
  array x1 = test::random_array({2, 5, 3}, float32, -1, 1, 12);
  auto r1 = conv_transpose_ref(x1, w1, {2}, {1}, {2}, {1});
  add_bias(r1, b1);
  EXPECT_TRUE(test::matches(t1(x1), r1.shape, r1.out, 1e-5, 1e-5));

  nn::ConvTranspose2d t2(2, 3, {2, 3}, {.stride = {2, 1}, .padding = {0, 1}, .output_padding = {1, 0}});
  auto [w2, b2] = randomize(t2, 13);
  array x2 = test::random_array({2, 3, 4, 2}, float32, -1, 1, 14);
  auto r2 = conv_transpose_ref(x2, w2, {2, 1}, {0, 1}, {1, 1}, {1, 0});
  add_bias(r2, b2);
  EXPECT_TRUE(test::matches(t2(x2), r2.shape, r2.out, 1e-5, 1e-5));

  nn::ConvTranspose3d t3(2, 2, 2, {.stride = 2, .dilation = {1, 1, 2}, .bias = false});
  auto [w3, b3] = randomize(t3, 15);
  array x3 = test::random_array({1, 2, 3, 2, 2}, float32, -1, 1, 16);
  auto r3 = conv_transpose_ref(x3, w3, {2, 2, 2}, {0, 0, 0}, {1, 1, 2}, {0, 0, 0});
  EXPECT_TRUE(test::matches(t3(x3), r3.shape, r3.out, 1e-5, 1e-5));
}

TEST(Convolution, GradientsMatchFiniteDifferences) {
  {
    nn::Conv1d c(4, 2, 2, {.stride = 2, .padding = 1, .dilation = 1, .groups = 2});
    c.set_dtype(float64);
    array x = test::random_array({2, 5, 4}, float64, -1, 1, 3);
    EXPECT_TRUE(input_grad_ok("conv1d_x", [&](const array& v) { return c(v); }, {2, 5, 4}));
    EXPECT_TRUE(param_grad_ok("conv1d_params", c, {"weight", "bias"}, [&] { return c(x); }));
  }
  {
    nn::Conv2d c(2, 3, {2, 3}, {.stride = {1, 2}, .padding = 1, .dilation = {2, 1}});
    c.set_dtype(float64);
    array x = test::random_array({1, 4, 5, 2}, float64, -1, 1, 4);
    EXPECT_TRUE(input_grad_ok("conv2d_x", [&](const array& v) { return c(v); }, {1, 4, 5, 2}));
    EXPECT_TRUE(param_grad_ok("conv2d_params", c, {"weight", "bias"}, [&] { return c(x); }));
  }
  {
    nn::Conv3d c(2, 2, 2, {.padding = {0, 1, 0}});
    c.set_dtype(float64);
    array x = test::random_array({1, 3, 2, 3, 2}, float64, -1, 1, 5);
    EXPECT_TRUE(input_grad_ok("conv3d_x", [&](const array& v) { return c(v); }, {1, 3, 2, 3, 2}));
    EXPECT_TRUE(param_grad_ok("conv3d_params", c, {"weight", "bias"}, [&] { return c(x); }));
  }
  {
    nn::ConvTranspose1d c(2, 3, 3, {.stride = 2, .padding = 1, .output_padding = 1});
    c.set_dtype(float64);
    array x = test::random_array({2, 3, 2}, float64, -1, 1, 6);
    EXPECT_TRUE(input_grad_ok("conv_transpose1d_x", [&](const array& v) { return c(v); }, {2, 3, 2}));
    EXPECT_TRUE(param_grad_ok("conv_transpose1d_params", c, {"weight", "bias"}, [&] { return c(x); }));
  }
  {
    nn::ConvTranspose2d c(2, 2, 2, {.stride = {2, 1}, .dilation = {1, 2}});
    c.set_dtype(float64);
    array x = test::random_array({1, 2, 3, 2}, float64, -1, 1, 7);
    EXPECT_TRUE(input_grad_ok("conv_transpose2d_x", [&](const array& v) { return c(v); }, {1, 2, 3, 2}));
    EXPECT_TRUE(param_grad_ok("conv_transpose2d_params", c, {"weight", "bias"}, [&] { return c(x); }));
  }
  {
    nn::ConvTranspose3d c(1, 2, 2, {.stride = 2});
    c.set_dtype(float64);
    array x = test::random_array({1, 2, 1, 2, 1}, float64, -1, 1, 8);
    EXPECT_TRUE(input_grad_ok("conv_transpose3d_x", [&](const array& v) { return c(v); }, {1, 2, 1, 2, 1}));
    EXPECT_TRUE(param_grad_ok("conv_transpose3d_params", c, {"weight", "bias"}, [&] { return c(x); }));
  }
}

TEST(Convolution, ReadsWeightsFromTheState) {
  // A weight written with update() is what the next call uses (and what repr reports).
  nn::Conv1d c(2, 3, 2);
  c.update(D{{"weight", ones({5, 3, 2})}, {"bias", zeros({5})}});
  EXPECT_EQ(c.repr(), "Conv1d(2, 5, kernel_size=3, stride=1, padding=0, dilation=1, groups=1, bias=True)");
  array y = c(ones({1, 4, 2}));
  EXPECT_TRUE(test::matches(y, {1, 2, 5}, std::vector<double>(10, 6.0)));
}

TEST(Convolution, BadArguments) {
  EXPECT_TRUE(rejects("Conv1d", [] { nn::Conv1d(3, 4, 2, {.groups = 2}); }));  // in % groups
  EXPECT_TRUE(rejects("Conv1d", [] { nn::Conv1d(4, 3, 2, {.groups = 2}); }));  // out % groups
  EXPECT_TRUE(rejects("Conv1d", [] { nn::Conv1d(0, 3, 2); }));
  EXPECT_TRUE(rejects("Conv1d", [] { nn::Conv1d(2, 3, 0); }));
  EXPECT_TRUE(rejects("Conv1d", [] { nn::Conv1d(2, 3, 2, {.stride = 0}); }));
  EXPECT_TRUE(rejects("Conv1d", [] { nn::Conv1d(2, 3, 2, {.padding = -1}); }));
  EXPECT_TRUE(rejects("Conv1d", [] { nn::Conv1d(2, 3, 2, {.dilation = 0}); }));
  EXPECT_TRUE(rejects("Conv2d", [] { nn::Conv2d(2, 3, {2, 2, 2}); }));          // kernel of 3 values
  EXPECT_TRUE(rejects("Conv2d", [] { nn::Conv2d(2, 3, 2, {.stride = {1, 2, 3}}); }));
  EXPECT_TRUE(rejects("Conv2d", [] { nn::Conv2d(2, 3, 2, {.padding = {1, -1}}); }));
  EXPECT_TRUE(rejects("Conv2d", [] { nn::Conv2d(2, 3, 2, {.groups = 0}); }));
  EXPECT_TRUE(rejects("Conv3d", [] { nn::Conv3d(2, 3, {2, 2}); }));
  EXPECT_TRUE(rejects("ConvTranspose1d", [] { nn::ConvTranspose1d(2, 3, 2, {.output_padding = -1}); }));
  EXPECT_TRUE(rejects("ConvTranspose2d", [] { nn::ConvTranspose2d(2, 3, 2, {.output_padding = {1, 1, 1}}); }));
  EXPECT_TRUE(rejects("ConvTranspose3d", [] { nn::ConvTranspose3d(2, 3, {0, 1, 1}); }));

  nn::Conv1d c1(2, 3, 2);
  nn::Conv2d c2(2, 3, 2);
  nn::Conv3d c3(2, 3, 2);
  nn::ConvTranspose2d t2(2, 3, 2);
  EXPECT_TRUE(rejects("Conv1d", [&] { c1(ones({1, 5, 3})); }));        // wrong channels
  EXPECT_TRUE(rejects("Conv1d", [&] { c1(ones({5, 2})); }));           // no batch axis
  EXPECT_TRUE(rejects("Conv2d", [&] { c2(ones({1, 5, 2})); }));
  EXPECT_TRUE(rejects("Conv3d", [&] { c3(ones({1, 4, 4, 4, 3})); }));
  EXPECT_TRUE(rejects("ConvTranspose2d", [&] { t2(ones({1, 4, 4, 3})); }));
  // The conv op itself rejects an input smaller than the kernel.
  EXPECT_THROW(c2(ones({1, 1, 4, 2})), std::invalid_argument);
}

}  // namespace
}  // namespace mica::layertest
