// RNN, GRU and LSTM (mica/nn/layers/recurrent.h): parameter names and shapes as MLX, outputs
// against numbers printed by MLX 0.32 for fixed weights and against double-precision loops
// written from the recurrences, gradients (inputs, initial states, every parameter) against
// finite differences, and bad arguments.
#include "nn/layer_checks.h"
#include "mica/nn/layers/recurrent.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>

#include "mica/nn.h"
#include "mica/nn/layers/activations.h"
#include "reference/reference.h"
#include "reference/transform_checks.h"

using namespace mica;
using mica::layertest::inp;
using mica::layertest::fill;
using mica::test::GradCase;
using mica::test::to_vector;

namespace {

// Printed by MLX 0.32 with the weights of fill() and the inputs of inp().
// clang-format off
const std::map<std::string, std::vector<double>> kMlx = {
    {"rnn", {0.5113699, 0.605238, -0.4447829, -0.8742169, 0.7294896, -0.1159745, -0.2525674, -0.6433366, 0.3992765, -0.5043612, -0.3349501, 0.01273797, -0.1591567, -0.7072829, -0.2832597, 0.2876082, -0.5715051, -0.4557644, -0.6645128, 0.6605127, -0.592527, 0.02534222, -0.7585281, 0.4350397}},
    {"rnn_h", {0.7863289, 0.2942309, -0.2212649, -0.8915927, 0.7484264, -0.1530317, -0.2248494, -0.6535639, 0.3990856, -0.5035284, -0.3366151, 0.01515757, -0.7252626, 0.1929215, -0.9158748, 0.9239102, -0.6397312, -0.4481878, -0.6111982, 0.547331, -0.5935419, 0.03356602, -0.7643874, 0.4495563}},
    {"rnn_relu_nobias", {0.8480499, 0.4309624, 0.1841529, 0, 0.7566306, 0, 0.5837001, 0, 0.2997601, 0, 0.5869423, 0, 0, 0.3231404, 0, 2.113183, 0, 0, 0.58199, 0.1065031, 0, 0, 0.2735585, 0.2199422}},
    {"gru", {-0.2872115, 0.07895459, 0.1550252, -0.258425, -0.1690759, 0.05908484, 0.1428234, -0.3318263, 0.1638075, -0.06573278, -0.1528744, -0.3371111, 0.3904744, -0.2235288, -0.4126142, -0.07837271, 0.5948675, -0.281913, -0.6618034, -0.1484023, 0.5402271, -0.2088862, -0.6566406, -0.230808}},
    {"gru_h", {-0.2735366, 0.3583525, 0.08907242, -0.4318796, -0.2276953, 0.264396, 0.07806533, -0.4180331, 0.1191808, 0.04391034, -0.2035298, -0.3916182, 0.480808, -0.8162861, -0.7621732, -0.9271953, 0.645737, -0.6093271, -0.7640258, -0.8969028, 0.4857037, -0.4285609, -0.658708, -0.8574516}},
    {"gru_nobias_h", {-0.1979007, 0.3736566, 0.2203436, -0.2104293, -0.2873026, 0.299244, 0.2529612, -0.05678511, -0.07154191, 0.01503201, -0.005502805, 0.04937767}},
    {"lstm_h", {-0.03090535, 0.124159, 0.1523616, -0.0657923, -0.006367532, 0.1561788, 0.1201786, -0.08627462, 0.1066569, 0.09165877, -0.03364832, -0.09649243, 0.1988314, -0.02462476, -0.09195183, -0.07174117, 0.2988298, -0.02067393, -0.1351977, -0.1189867, 0.2669318, 0.0116625, -0.1760603, -0.167688}},
    {"lstm_c", {-0.1515072, 0.3508574, 0.22776, -0.09695139, -0.02365112, 0.4078309, 0.2173305, -0.1349888, 0.2609475, 0.2152342, -0.08175629, -0.1755932, 0.36156, -0.05539807, -0.3023559, -0.1509928, 0.5378975, -0.04669378, -0.4549838, -0.288333, 0.5648721, 0.02736708, -0.4581893, -0.3959085}},
    {"lstm_hc_h", {-0.09086401, 0.03790491, -0.2362963, -0.3188768, -0.05378446, 0.08456449, -0.04927434, -0.2834657, 0.08713081, 0.05986221, -0.08628795, -0.2505679, 0.04367309, -0.1330082, -0.1146664, -0.249971, 0.2365994, -0.1412901, -0.1191252, -0.3277752, 0.2462551, -0.04736308, -0.1583398, -0.3339287}},
    {"lstm_hc_c", {-0.5291429, 0.1079603, -0.3352509, -0.6041531, -0.162172, 0.2641177, -0.07759609, -0.5320029, 0.190764, 0.1563585, -0.1909878, -0.52842, 0.05237409, -0.8875014, -0.2075524, -1.077358, 0.3868651, -0.3581115, -0.366179, -1.101299, 0.4804096, -0.1200138, -0.3784904, -1.066232}},
};
// clang-format on

testing::AssertionResult like_mlx(const std::string& key, const array& got) {
  auto r = test::all_close(to_vector(got), kMlx.at(key), 2e-5, 2e-5);
  if (!r) return testing::AssertionFailure() << key << ": " << r.message();
  return r;
}

std::vector<std::pair<std::string, Shape>> names_and_shapes(const nn::Module& m) {
  std::vector<std::pair<std::string, Shape>> out;
  for (auto& [p, a] : tree_flatten_arrays(m.parameters())) out.emplace_back(p, a.shape());
  return out;
}

using Mat = std::vector<double>;  // row-major

double sig(double v) { return 1.0 / (1.0 + std::exp(-v)); }

// (rows x cols) W times v (cols) + bias segment.
std::vector<double> matvec(const Mat& w, int rows, int cols, const std::vector<double>& v, int row0 = 0) {
  std::vector<double> out(rows, 0.0);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) out[r] += w[(row0 + r) * cols + c] * v[c];
  return out;
}

struct Seq {
  int N, L, D, H;
};

std::vector<double> row(const std::vector<double>& x, size_t start, int n) {
  return std::vector<double>(x.begin() + start, x.begin() + start + n);
}

// Elman RNN with tanh, optional bias and initial hidden state (N, H).
std::vector<double> rnn_ref(const Seq& s, const Mat& x, const Mat& wxh, const Mat& whh, const Mat* bias,
                            const Mat* h0) {
  std::vector<double> out;
  for (int n = 0; n < s.N; ++n) {
    std::vector<double> h = h0 ? row(*h0, n * s.H, s.H) : std::vector<double>();
    for (int t = 0; t < s.L; ++t) {
      auto pre = matvec(wxh, s.H, s.D, row(x, (n * s.L + t) * s.D, s.D));
      if (bias)
        for (int i = 0; i < s.H; ++i) pre[i] += (*bias)[i];
      if (!h.empty()) {
        auto hh = matvec(whh, s.H, s.H, h);
        for (int i = 0; i < s.H; ++i) pre[i] += hh[i];
      }
      h.assign(s.H, 0.0);
      for (int i = 0; i < s.H; ++i) h[i] = std::tanh(pre[i]);
      out.insert(out.end(), h.begin(), h.end());
    }
  }
  return out;
}

// GRU with gates r, z, n: n = tanh(xn + bn + r (Whn h + bhn)); h' = (1 - z) n + z h.
std::vector<double> gru_ref(const Seq& s, const Mat& x, const Mat& wx, const Mat& wh, const Mat& b, const Mat& bhn,
                            const Mat* h0) {
  std::vector<double> out;
  int H = s.H;
  for (int n = 0; n < s.N; ++n) {
    bool has_h = h0 != nullptr;
    std::vector<double> h = h0 ? row(*h0, n * H, H) : std::vector<double>(H, 0.0);
    for (int t = 0; t < s.L; ++t) {
      auto xp = matvec(wx, 3 * H, s.D, row(x, (n * s.L + t) * s.D, s.D));
      auto hp = matvec(wh, 3 * H, H, h);
      std::vector<double> next(H);
      for (int i = 0; i < H; ++i) {
        double r = sig(xp[i] + b[i] + (has_h ? hp[i] : 0.0));
        double z = sig(xp[H + i] + b[H + i] + (has_h ? hp[H + i] : 0.0));
        double nn_ = std::tanh(xp[2 * H + i] + b[2 * H + i] + r * ((has_h ? hp[2 * H + i] : 0.0) + bhn[i]));
        next[i] = (1 - z) * nn_ + z * h[i];
      }
      h = next;
      has_h = true;
      out.insert(out.end(), h.begin(), h.end());
    }
  }
  return out;
}

// LSTM with gates i, f, g, o; returns hidden states then cell states.
std::pair<std::vector<double>, std::vector<double>> lstm_ref(const Seq& s, const Mat& x, const Mat& wx, const Mat& wh,
                                                             const Mat& bias, const Mat* h0, const Mat* c0) {
  std::vector<double> hs, cs;
  int H = s.H;
  for (int n = 0; n < s.N; ++n) {
    std::vector<double> h = h0 ? row(*h0, n * H, H) : std::vector<double>(H, 0.0);
    std::vector<double> c = c0 ? row(*c0, n * H, H) : std::vector<double>(H, 0.0);
    for (int t = 0; t < s.L; ++t) {
      auto xp = matvec(wx, 4 * H, s.D, row(x, (n * s.L + t) * s.D, s.D));
      auto hp = matvec(wh, 4 * H, H, h);
      for (int i = 0; i < H; ++i) {
        auto g = [&](int k) { return xp[k * H + i] + bias[k * H + i] + hp[k * H + i]; };
        c[i] = sig(g(1)) * c[i] + sig(g(0)) * std::tanh(g(2));
        h[i] = sig(g(3)) * std::tanh(c[i]);
      }
      hs.insert(hs.end(), h.begin(), h.end());
      cs.insert(cs.end(), c.begin(), c.end());
    }
  }
  return {hs, cs};
}

// A GradCase over the layer's parameters (written with update) and the given extra inputs.
template <class F>
GradCase param_case(const std::string& name, std::shared_ptr<nn::Module> m, F run, std::vector<Shape> extra = {}) {
  auto flat = tree_flatten_arrays(m->parameters());
  std::vector<Shape> shapes;
  for (auto& [p, a] : flat) shapes.push_back(a.shape());
  size_t np = shapes.size();
  shapes.insert(shapes.end(), extra.begin(), extra.end());
  std::vector<std::string> paths;
  for (auto& [p, a] : flat) paths.push_back(p);
  GradCase c{name,
             [m, run, paths, np](const std::vector<array>& in) {
               std::vector<std::pair<std::string, array>> items;
               for (size_t i = 0; i < np; ++i) items.emplace_back(paths[i], in[i]);
               m->update(tree_unflatten(items));
               return run(std::vector<array>(in.begin() + np, in.end()));
             },
             shapes};
  c.lo = -1.0;
  c.hi = 1.0;
  c.rtol = 1e-5;
  c.atol = 1e-7;
  return c;
}

}  // namespace

TEST(Recurrent, ParameterNamesShapesAndRepr) {
  using NS = std::vector<std::pair<std::string, Shape>>;
  nn::RNN rnn(3, 4);
  EXPECT_EQ(names_and_shapes(rnn), (NS{{"Wxh", {4, 3}}, {"Whh", {4, 4}}, {"bias", {4}}}));
  EXPECT_EQ(rnn.repr(), "RNN(input_dims=3, hidden_size=4, nonlinearity=tanh, bias=True)");
  nn::RNN rnn2(3, 4, {.bias = false, .nonlinearity = nn::relu});
  EXPECT_EQ(names_and_shapes(rnn2), (NS{{"Wxh", {4, 3}}, {"Whh", {4, 4}}}));
  EXPECT_EQ(rnn2.repr(), "RNN(input_dims=3, hidden_size=4, nonlinearity=<function>, bias=False)");
  nn::GRU gru(3, 4);
  EXPECT_EQ(names_and_shapes(gru), (NS{{"Wx", {12, 3}}, {"Wh", {12, 4}}, {"b", {12}}, {"bhn", {4}}}));
  EXPECT_EQ(gru.repr(), "GRU(input_dims=3, hidden_size=4, bias=True)");
  EXPECT_EQ(names_and_shapes(nn::GRU(3, 4, false)), (NS{{"Wx", {12, 3}}, {"Wh", {12, 4}}}));
  nn::LSTM lstm(3, 4);
  EXPECT_EQ(names_and_shapes(lstm), (NS{{"Wx", {16, 3}}, {"Wh", {16, 4}}, {"bias", {16}}}));
  EXPECT_EQ(nn::LSTM(3, 4, false).repr(), "LSTM(input_dims=3, hidden_size=4, bias=False)");
  // Uniform in [-1/sqrt(H), 1/sqrt(H)), spread over the range.
  nn::LSTM big(8, 16);
  auto w = to_vector(big.param("Wx"));
  double lo = 1, hi = -1;
  for (double v : w) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  EXPECT_GE(lo, -0.25);
  EXPECT_LT(hi, 0.25);
  EXPECT_LT(lo, -0.2);
  EXPECT_GT(hi, 0.2);
}

TEST(Recurrent, MatchMlx) {
  array x = inp({2, 3, 2}, 0.2), h0 = inp({2, 4}, 0.9), c0 = inp({2, 4}, 1.7);
  nn::RNN rnn(2, 4);
  fill(rnn);
  EXPECT_TRUE(like_mlx("rnn", rnn(x)));
  EXPECT_TRUE(like_mlx("rnn_h", rnn(x, h0)));
  nn::RNN rnn_relu(2, 4, {.bias = false, .nonlinearity = nn::relu});
  fill(rnn_relu);
  EXPECT_TRUE(like_mlx("rnn_relu_nobias", rnn_relu(x, h0)));
  nn::GRU gru(2, 4);
  fill(gru);
  EXPECT_TRUE(like_mlx("gru", gru(x)));
  EXPECT_TRUE(like_mlx("gru_h", gru(x, h0)));
  nn::GRU gru_nb(2, 4, false);
  fill(gru_nb);
  array x0 = reshape(slice(x, {0, 0, 0}, {1, 3, 2}), {3, 2});
  array h00 = reshape(slice(h0, {0, 0}, {1, 4}), {4});
  array y = gru_nb(x0, h00);  // unbatched
  EXPECT_EQ(y.shape(), (Shape{3, 4}));
  EXPECT_TRUE(like_mlx("gru_nobias_h", y));
  nn::LSTM lstm(2, 4);
  fill(lstm);
  auto [h, c] = lstm(x);
  EXPECT_TRUE(like_mlx("lstm_h", h));
  EXPECT_TRUE(like_mlx("lstm_c", c));
  auto [h2, c2] = lstm(x, h0, c0);
  EXPECT_TRUE(like_mlx("lstm_hc_h", h2));
  EXPECT_TRUE(like_mlx("lstm_hc_c", c2));
}

TEST(Recurrent, MatchDoubleLoops) {
  Seq s{2, 4, 3, 5};
  array x = test::random_array({s.N, s.L, s.D}, float64, -1.0, 1.0, 21);
  array h0 = test::random_array({s.N, s.H}, float64, -1.0, 1.0, 22);
  array c0 = test::random_array({s.N, s.H}, float64, -1.0, 1.0, 23);
  auto xv = to_vector(x), hv = to_vector(h0), cv = to_vector(c0);
  Shape out{s.N, s.L, s.H};

  nn::RNN rnn(s.D, s.H);
  rnn.set_dtype(float64);
  auto wxh = to_vector(rnn.param("Wxh")), whh = to_vector(rnn.param("Whh")), rb = to_vector(rnn.param("bias"));
  EXPECT_TRUE(test::matches(rnn(x), out, rnn_ref(s, xv, wxh, whh, &rb, nullptr), 1e-12, 1e-12));
  EXPECT_TRUE(test::matches(rnn(x, h0), out, rnn_ref(s, xv, wxh, whh, &rb, &hv), 1e-12, 1e-12));

  nn::GRU gru(s.D, s.H);
  gru.set_dtype(float64);
  auto gwx = to_vector(gru.param("Wx")), gwh = to_vector(gru.param("Wh"));
  auto gb = to_vector(gru.param("b")), gbhn = to_vector(gru.param("bhn"));
  EXPECT_TRUE(test::matches(gru(x), out, gru_ref(s, xv, gwx, gwh, gb, gbhn, nullptr), 1e-12, 1e-12));
  EXPECT_TRUE(test::matches(gru(x, h0), out, gru_ref(s, xv, gwx, gwh, gb, gbhn, &hv), 1e-12, 1e-12));

  nn::LSTM lstm(s.D, s.H);
  lstm.set_dtype(float64);
  auto lwx = to_vector(lstm.param("Wx")), lwh = to_vector(lstm.param("Wh")), lb = to_vector(lstm.param("bias"));
  auto [h, c] = lstm(x, h0, c0);
  auto [rh, rc] = lstm_ref(s, xv, lwx, lwh, lb, &hv, &cv);
  EXPECT_TRUE(test::matches(h, out, rh, 1e-12, 1e-12));
  EXPECT_TRUE(test::matches(c, out, rc, 1e-12, 1e-12));
  auto [h1, c1] = lstm(x);
  auto [rh1, rc1] = lstm_ref(s, xv, lwx, lwh, lb, nullptr, nullptr);
  EXPECT_TRUE(test::matches(h1, out, rh1, 1e-12, 1e-12));
  EXPECT_TRUE(test::matches(c1, out, rc1, 1e-12, 1e-12));
}

TEST(Recurrent, UnbatchedEqualsBatchedRowAndEmptySequence) {
  nn::GRU gru(3, 4);
  array x = test::random_array({2, 5, 3}, float32, -1.0, 1.0, 30);
  array row1 = reshape(slice(x, {1, 0, 0}, {2, 5, 3}), {5, 3});
  array full_out = gru(x);
  EXPECT_TRUE(test::matches(gru(row1), {5, 4}, to_vector(slice(full_out, {1, 0, 0}, {2, 5, 4})), 1e-6, 1e-6));
  EXPECT_EQ(nn::RNN(3, 4)(zeros({2, 0, 3})).shape(), (Shape{2, 0, 4}));
  auto [h, c] = nn::LSTM(3, 4)(zeros({0, 3}));
  EXPECT_EQ(h.shape(), (Shape{0, 4}));
  EXPECT_EQ(c.shape(), (Shape{0, 4}));
}

TEST(Recurrent, InputAndStateGradientsMatchFiniteDifferences) {
  auto rnn = std::make_shared<nn::RNN>(3, 4);
  rnn->set_dtype(float64);
  EXPECT_TRUE(test::vjp_matches_finite_differences(
      {"rnn_x_h", [rnn](const std::vector<array>& in) { return (*rnn)(in[0], in[1]); }, {{2, 3, 3}, {2, 4}}}));
  auto gru = std::make_shared<nn::GRU>(3, 4);
  gru->set_dtype(float64);
  EXPECT_TRUE(test::vjp_matches_finite_differences(
      {"gru_x_h", [gru](const std::vector<array>& in) { return (*gru)(in[0], in[1]); }, {{2, 3, 3}, {2, 4}}}));
  auto lstm = std::make_shared<nn::LSTM>(3, 4);
  lstm->set_dtype(float64);
  // Both outputs: hidden states plus twice the cell states.
  EXPECT_TRUE(test::vjp_matches_finite_differences({"lstm_x_h_c",
                                                    [lstm](const std::vector<array>& in) {
                                                      auto [h, c] = (*lstm)(in[0], in[1], in[2]);
                                                      return add(h, multiply(c, array(2.0, float64)));
                                                    },
                                                    {{2, 3, 3}, {2, 4}, {2, 4}}}));
}

TEST(Recurrent, ParameterGradientsMatchFiniteDifferences) {
  array x = test::random_array({2, 3, 3}, float64, -1.0, 1.0, 40);
  array h0 = test::random_array({2, 4}, float64, -1.0, 1.0, 41);
  std::shared_ptr<nn::Module> rnn = std::make_shared<nn::RNN>(3, 4);
  EXPECT_TRUE(
      test::vjp_matches_finite_differences(param_case("rnn_params", rnn, [rnn, x, h0](const std::vector<array>&) {
        return (*std::static_pointer_cast<nn::RNN>(rnn))(x, h0);
      })));
  std::shared_ptr<nn::Module> gru = std::make_shared<nn::GRU>(3, 4);
  EXPECT_TRUE(
      test::vjp_matches_finite_differences(param_case("gru_params", gru, [gru, x, h0](const std::vector<array>&) {
        return (*std::static_pointer_cast<nn::GRU>(gru))(x, h0);
      })));
  // Without an initial state the first step skips Wh (and uses bhn alone in the n gate).
  EXPECT_TRUE(
      test::vjp_matches_finite_differences(param_case("gru_params_no_h", gru, [gru, x](const std::vector<array>&) {
        return (*std::static_pointer_cast<nn::GRU>(gru))(x);
      })));
  std::shared_ptr<nn::Module> lstm = std::make_shared<nn::LSTM>(3, 4);
  EXPECT_TRUE(
      test::vjp_matches_finite_differences(param_case("lstm_params", lstm, [lstm, x](const std::vector<array>&) {
        auto [h, c] = (*std::static_pointer_cast<nn::LSTM>(lstm))(x);
        return add(h, c);
      })));
}

TEST(Recurrent, BadArguments) {
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("RNN", [] { nn::RNN(0, 4); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("GRU", [] { nn::GRU(3, 0); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("LSTM", [] { nn::LSTM(-1, 2); }));
  nn::RNN rnn(3, 4);
  nn::GRU gru(3, 4);
  nn::LSTM lstm(3, 4);
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("RNN", [&] { rnn(zeros({3})); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("RNN", [&] { rnn(zeros({1, 2, 3, 3})); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("RNN", [&] { rnn(zeros({2, 5, 2})); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("RNN", [&] { rnn(zeros({2, 5, 3}), zeros({2, 5})); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("GRU", [&] { gru(zeros({2, 5, 3}), zeros({3, 4})); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("GRU", [&] { gru(zeros({5, 4})); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("LSTM", [&] {
    lstm(zeros({2, 5, 3}), zeros({2, 4}), zeros({2, 3}));
  }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("LSTM", [&] { lstm(zeros({5, 3}), zeros({2, 4})); }));
  // LSTM has no one-array call (it returns two arrays); through the base class it throws.
  nn::Module& base = lstm;
  EXPECT_THROW(base(zeros({5, 3})), std::invalid_argument);
}
