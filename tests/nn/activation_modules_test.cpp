// Activation modules (mica/nn/layers/activations.h) against numbers printed by MLX 0.32 for the
// same inputs and arguments, against the functions they wrap, their state (only PReLU has a
// parameter), gradients through them (inputs, and PReLU's weight) against finite differences,
// and bad arguments.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>

#include "mica/nn.h"
#include "mica/nn/layers/activations.h"
#include "reference/reference.h"
#include "reference/transform_checks.h"

using namespace mica;
using mica::test::GradCase;
using mica::test::to_vector;

namespace {

// Printed by MLX 0.32 (nn.<Module>(args)(x)) for the inputs below.
// clang-format off
const std::map<std::string, std::vector<double>> kMlx = {
    {"celu05", {-0.4908422, -0.3767015, -0.09063461, 0, 0.3, 1.2, 3.5}},
    {"elu2", {-1.729329, -1.006829, -0.1903251, 0, 0.3, 1.2, 3.5}},
    {"leaky02", {-0.4, -0.14, -0.02, 0, 0.3, 1.2, 3.5}},
    {"hardshrink1", {-2, 0, 0, 0, 0, 1.2, 3.5}},
    {"softshrink1", {-1, 0, 0, 0, 0, 0.2, 2.5}},
    {"step05", {0, 0, 0, 0, 0, 1, 1}},
    {"gelu_precise", {-0.04540229, -0.1694299, -0.04601725, 0, 0.1853709, 1.061703, 3.499384}},
    {"gelu_tanh", {-0.04540229, -0.1694299, -0.04601725, 0, 0.1853709, 1.061703, 3.499384}},
    {"gelu_fast", {-0.06434137, -0.163106, -0.04575524, 0, 0.1874841, 1.062213, 3.490967}},
    {"gelu", {-0.04550016, -0.1693745, -0.04601721, 0, 0.1853734, 1.061916, 3.499186}},
    {"glu0", {0.3909965, 0.2497789, 0.1235551, 0.01647794}},
    {"softmax", {0.3516642, 0.2870127, 0.212557, 0.148766, 0.3574654, 0.2585697, 0.2036315, 0.1803334}},
    {"softmin", {0.1601646, 0.1962427, 0.2649837, 0.378609, 0.1633941, 0.2258878, 0.2868305, 0.3238876}},
    {"logsoftmax", {-1.045078, -1.248229, -1.548545, -1.90538, -1.028717, -1.35259, -1.591443, -1.712948}},
    {"prelu4", {0.921061, 0.7179106, 0.4175945, 0.06075888, -0.03043002, -0.06281736, -0.08670267, -0.09885319}},
    {"hardtanh", {-1, -1, -0.2, 0, 0.6, 1, 1}},
};
// clang-format on

// The inputs of the MLX script: xa, and x2[j] = cos(0.37 j + 0.4) of shape (2, 4).
array xa() { return array({-2.0f, -0.7f, -0.1f, 0.0f, 0.3f, 1.2f, 3.5f}); }
array x2() {
  std::vector<float> v(8);
  for (int j = 0; j < 8; ++j) v[j] = static_cast<float>(std::cos(0.37 * j + 0.4));
  return array(v.begin(), {2, 4}, float32);
}

testing::AssertionResult like_mlx(const std::string& key, const array& got) {
  auto r = test::all_close(to_vector(got), kMlx.at(key), 2e-5, 2e-6);
  if (!r) return testing::AssertionFailure() << key << ": " << r.message();
  return r;
}

using Make = std::function<std::shared_ptr<nn::Module>()>;
template <class M, class... A>
Make make(A... a) {
  return [=]() { return std::make_shared<M>(a...); };
}

// Every activation module: its name, a factory, and the function it must equal.
struct Row {
  std::string name;
  Make make;
  std::function<array(const array&)> fn;
};

std::vector<Row> rows() {
  return {
      {"CELU", make<nn::CELU>(0.7f), [](const array& x) { return nn::celu(x, 0.7f); }},
      {"ELU", make<nn::ELU>(1.3f), [](const array& x) { return nn::elu(x, 1.3f); }},
      {"GELU", make<nn::GELU>(), [](const array& x) { return nn::gelu(x); }},
      {"GLU", make<nn::GLU>(-1), [](const array& x) { return nn::glu(x, -1); }},
      {"SELU", make<nn::SELU>(), [](const array& x) { return nn::selu(x); }},
      {"HardShrink", make<nn::HardShrink>(0.3f), [](const array& x) { return nn::hard_shrink(x, 0.3f); }},
      {"Hardswish", make<nn::Hardswish>(), [](const array& x) { return nn::hardswish(x); }},
      {"HardTanh", make<nn::HardTanh>(), [](const array& x) { return nn::hard_tanh(x); }},
      {"LeakyReLU", make<nn::LeakyReLU>(0.1f), [](const array& x) { return nn::leaky_relu(x, 0.1f); }},
      {"LogSigmoid", make<nn::LogSigmoid>(), [](const array& x) { return nn::log_sigmoid(x); }},
      {"LogSoftmax", make<nn::LogSoftmax>(), [](const array& x) { return nn::log_softmax(x); }},
      {"Mish", make<nn::Mish>(), [](const array& x) { return nn::mish(x); }},
      {"PReLU", make<nn::PReLU>(), [](const array& x) { return nn::prelu(x, full({1}, 0.25f)); }},
      {"ReLU", make<nn::ReLU>(), [](const array& x) { return nn::relu(x); }},
      {"ReLU2", make<nn::ReLU2>(), [](const array& x) { return nn::relu2(x); }},
      {"ReLU6", make<nn::ReLU6>(), [](const array& x) { return nn::relu6(x); }},
      {"Sigmoid", make<nn::Sigmoid>(), [](const array& x) { return nn::sigmoid(x); }},
      {"SiLU", make<nn::SiLU>(), [](const array& x) { return nn::silu(x); }},
      {"Softmax", make<nn::Softmax>(), [](const array& x) { return nn::softmax(x); }},
      {"Softmin", make<nn::Softmin>(), [](const array& x) { return nn::softmin(x); }},
      {"Softplus", make<nn::Softplus>(), [](const array& x) { return nn::softplus(x); }},
      {"Softshrink", make<nn::Softshrink>(0.3f), [](const array& x) { return nn::softshrink(x, 0.3f); }},
      {"Softsign", make<nn::Softsign>(), [](const array& x) { return nn::softsign(x); }},
      {"Step", make<nn::Step>(0.2f), [](const array& x) { return nn::step(x, 0.2f); }},
      {"Tanh", make<nn::Tanh>(), [](const array& x) { return nn::tanh(x); }},
  };
}

}  // namespace

TEST(ActivationModules, AllTwentyFiveWithNamesReprAndState) {
  auto all = rows();
  EXPECT_EQ(all.size(), 25u);  // MLX's 25 activation classes
  for (auto& r : all) {
    auto m = r.make();
    EXPECT_EQ(m->name(), r.name);
    EXPECT_EQ(m->repr(), r.name + "()");  // MLX prints no arguments for any activation
    auto keys = tree_flatten(m->parameters());
    if (r.name == "PReLU") {
      ASSERT_EQ(keys.size(), 1u);
      EXPECT_EQ(keys[0].first, "weight");
    } else {
      EXPECT_TRUE(keys.empty()) << r.name;
    }
  }
}

TEST(ActivationModules, EqualTheFunctionsTheyWrap) {
  array x = test::random_array({3, 6}, float32, -3.0, 3.0, 5);
  for (auto& r : rows()) {
    auto m = r.make();
    array got = (*m)(x);
    array want = r.fn(x);
    EXPECT_EQ(got.dtype(), want.dtype()) << r.name;
    EXPECT_TRUE(test::matches(got, want.shape(), to_vector(want), 0, 0)) << r.name;
  }
  EXPECT_EQ(nn::Step()(x).dtype(), int32);
}

TEST(ActivationModules, MatchMlxWithArguments) {
  EXPECT_TRUE(like_mlx("celu05", nn::CELU(0.5f)(xa())));
  EXPECT_TRUE(like_mlx("elu2", nn::ELU(2.0f)(xa())));
  EXPECT_TRUE(like_mlx("leaky02", nn::LeakyReLU(0.2f)(xa())));
  EXPECT_TRUE(like_mlx("hardshrink1", nn::HardShrink(1.0f)(xa())));
  EXPECT_TRUE(like_mlx("softshrink1", nn::Softshrink(1.0f)(xa())));
  EXPECT_TRUE(like_mlx("step05", nn::Step(0.5f)(xa())));
  EXPECT_TRUE(like_mlx("gelu", nn::GELU()(xa())));
  EXPECT_TRUE(like_mlx("gelu", nn::GELU("none")(xa())));
  EXPECT_TRUE(like_mlx("gelu_precise", nn::GELU("precise")(xa())));
  EXPECT_TRUE(like_mlx("gelu_tanh", nn::GELU("tanh")(xa())));
  EXPECT_TRUE(like_mlx("gelu_fast", nn::GELU("fast")(xa())));
  EXPECT_TRUE(like_mlx("glu0", nn::GLU(0)(x2())));
  EXPECT_TRUE(like_mlx("softmax", nn::Softmax()(x2())));
  EXPECT_TRUE(like_mlx("softmin", nn::Softmin()(x2())));
  EXPECT_TRUE(like_mlx("logsoftmax", nn::LogSoftmax()(x2())));
  EXPECT_TRUE(like_mlx("hardtanh", nn::HardTanh()(multiply(xa(), array(2.0f)))));
  nn::PReLU p({.num_parameters = 4, .init = 0.1f});
  EXPECT_TRUE(like_mlx("prelu4", p(x2())));
  EXPECT_EQ(nn::GLU(0)(x2()).shape(), (Shape{1, 4}));
}

TEST(ActivationModules, PReLUWeightIsTrainableAndReadFromTheState) {
  nn::PReLU p({.num_parameters = 3, .init = 0.5f});
  EXPECT_TRUE(test::matches(p.param("weight"), {3}, {0.5, 0.5, 0.5}));
  EXPECT_EQ(tree_flatten(p.trainable_parameters()).size(), 1u);
  p.update(Tree::Dict{{"weight", array({0.1f, 0.2f, 0.3f})}});
  array x = array({-1.0f, -2.0f, 4.0f, -3.0f, 1.0f, -1.0f}, {2, 3});
  EXPECT_TRUE(test::matches(p(x), {2, 3}, {-0.1, -0.4, 4, -0.3, 1, -0.3}));
  p.freeze();
  EXPECT_TRUE(tree_flatten(p.trainable_parameters()).empty());
}

TEST(ActivationModules, InputGradientsMatchFiniteDifferences) {
  for (auto& r : rows()) {
    if (r.name == "Step") continue;  // piecewise constant, integer output
    auto m = r.make();
    m->set_dtype(float64);
    GradCase c{r.name, [m](const std::vector<array>& in) { return (*m)(in[0]); }, {{2, 4}}};
    c.rtol = 1e-4;
    c.atol = 1e-6;
    EXPECT_TRUE(test::vjp_matches_finite_differences(c)) << r.name;
  }
}

TEST(ActivationModules, PReLUWeightGradientMatchesFiniteDifferences) {
  auto p = std::make_shared<nn::PReLU>(nn::PReLUOptions{.num_parameters = 3});
  p->set_dtype(float64);
  array x = test::random_array({4, 3}, float64, -2.0, 2.0, 9);
  GradCase c{"prelu_weight",
             [p, x](const std::vector<array>& in) {
               p->update(Tree::Dict{{"weight", in[0]}});
               return (*p)(x);
             },
             {{3}}};
  EXPECT_TRUE(test::vjp_matches_finite_differences(c));
  // And through nn::value_and_grad: d sum(prelu(x, w)) / dw_j = sum of min(x, 0) in column j.
  auto p2 = std::make_shared<nn::PReLU>(nn::PReLUOptions{.num_parameters = 3});
  array xf = array({-1.0f, 2.0f, -3.0f, -4.0f, -5.0f, 6.0f}, {2, 3});
  auto [val, g] = nn::value_and_grad(*p2, [&](const array& in) { return sum((*p2)(in)); })(xf);
  EXPECT_TRUE(test::matches(g["weight"].as_array(), {3}, {-5, -5, -3}));
}

TEST(ActivationModules, BadArguments) {
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("GELU", [] { nn::GELU("erf"); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("PReLU", [] { nn::PReLU({.num_parameters = 0}); }));
  // Errors of the wrapped functions surface when the module runs.
  EXPECT_THROW(nn::GLU(0)(array({1.0f, 2.0f, 3.0f})), std::invalid_argument);
  EXPECT_THROW(nn::GLU(3)(x2()), std::out_of_range);  // axis out of range
  nn::PReLU p({.num_parameters = 3});
  EXPECT_THROW(p(x2()), std::invalid_argument);  // 3 slopes do not broadcast against 4 features
}
