// Optimizers and schedules against MLX 0.32 over several steps (fixtures printed by a short
// mlx script running the same problem; pasted below), plus the tree mechanics of spec §13.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "mica/nn.h"
#include "mica/optim.h"
#include "mica/primitives/primitive.h"
#include "reference/reference.h"

using namespace mica;
using mica::test::throws_op;
using mica::test::to_vector;
namespace O = mica::optim;

namespace {
const std::map<std::string, std::vector<double>> kMlx = {
  {"sgd", {0.220028326, -0.177088231, -0.120860398, 0.893153429, 0.0984930694, -0.364896923, 0.031071987, -0.0319199935}},
  {"sgd_mom", {-0.124557875, 0.831778288, -0.574466527, -0.468581289, 1.13771534, -0.932609379, -0.301647216, 0.176123157}},
  {"sgd_nesterov", {0.101852298, 0.169942841, -0.277438015, 0.426954001, 0.456544757, -0.561277866, -0.0828014463, 0.0392509103}},
  {"rmsprop", {0.398646981, -0.895159662, 0.147321969, 1.89469802, -0.645119786, -0.00348075666, 0.198727831, -0.102305226}},
  {"adagrad", {0.235628873, -0.693888426, -0.0308798254, 1.68883777, -0.443432838, -0.190563843, 0.0365580469, 0.0188723318}},
  {"adadelta", {0.477529049, -0.977318525, 0.227451757, 1.97728896, -0.727316022, 0.0774034485, 0.277533919, -0.177729189}},
  {"adam", {0.268617213, -0.765022874, 0.0170109868, 1.76469064, -0.514992654, -0.13381511, 0.0687205195, 0.0252612978}},
  {"adam_bc", {0.450237066, -0.950074673, 0.20017527, 1.95005333, -0.700072825, 0.0501378998, 0.250240982, -0.150409341}},
  {"adamw", {0.266607642, -0.760467887, 0.0161905102, 1.75515521, -0.511676967, -0.133904353, 0.0676745102, 0.0257803015}},
  {"adamax", {0.473949164, -0.973746538, 0.223875195, 1.97371781, -0.723744094, 0.0738286898, 0.273953795, -0.17413868}},
  {"lion", {0.447604954, -0.945110023, 0.19885239, 1.9401201, -0.696357548, 0.0496009067, 0.248602971, -0.149101883}},
  {"adafactor", {0.472216249, -0.945061028, 0.222081527, 1.94495404, -0.674217761, 0.0719597191, 0.287563592, -0.187602967}},
  {"adafactor_b1", {0.490096867, -0.980402648, 0.241304636, 1.97548819, -0.726087332, 0.0920350328, 0.296281189, -0.196409494}},
  {"muon", {0.474592119, -0.924197793, 0.217920795, 1.89981186, -0.674653947, 0.0566579252, 0.285399884, -0.190872654}},
  {"sgd_cosine", {0.310904026, -0.444795758, -0.000624032691, 1.25810075, -0.176936045, -0.214146659, 0.11994791, -0.0874674469}},
  {"adam_join", {0.388256669, -0.887738645, 0.13804318, 1.88768101, -0.637733579, -0.0120763043, 0.188270405, -0.0889470354}},
  {"multi", {0.268617213, -0.765022874, 0.0170109868, 1.76469064, -0.514992654, -0.13381511, 0.031071987, -0.0319199935}},
  {"step_decay", {0.100000001, 0.100000001, 0.0500000007, 0.0500000007, 0.0250000004, 0.0250000004, 0.0125000002}},
  {"exp_decay", {0.100000001, 0.0899999961, 0.0809999928, 0.0728999898, 0.0656099916, 0.0590489917, 0.0531440936}},
  {"cosine", {0.100000001, 0.0914057642, 0.0689057633, 0.0410942324, 0.0185942352, 0.00999999978, 0.00999999978}},
  {"linear", {0.100000001, 0.075000003, 0.0500000007, 0.0249999985, 0, 0, 0}},
};

Tree params0() {
  return Tree(Tree::Dict{{"w", array({0.5f, -1.0f, 0.25f, 2.0f, -0.75f, 0.1f}, {3, 2})},
                         {"b", array({0.3f, -0.2f})}});
}

// Five steps of the problem the fixtures ran: g = 2 (p - t) (+ 0.1 sin(w) for w).
std::vector<double> run(O::Optimizer& opt, int steps = 5) {
  array tw = array({0.1f, 0.2f, -0.3f, 0.4f, 0.5f, -0.6f}, {3, 2});
  array tb = array({-0.1f, 0.05f});
  Tree p = params0();
  for (int i = 0; i < steps; ++i) {
    array w = p.at("w").as_array(), b = p.at("b").as_array();
    Tree g(Tree::Dict{{"w", 2.0f * (w - tw) + 0.1f * sin(w)}, {"b", 2.0f * (b - tb)}});
    p = opt.apply_gradients(g, p);
    eval(p);
  }
  auto v = to_vector(p.at("w").as_array());
  auto b = to_vector(p.at("b").as_array());
  v.insert(v.end(), b.begin(), b.end());
  return v;
}

testing::AssertionResult like_mlx(const std::string& key, const std::vector<double>& got, double rtol = 1e-6) {
  auto r = mica::test::all_close(got, kMlx.at(key), rtol, 1e-7);
  if (!r) return testing::AssertionFailure() << key << ": " << r.message();
  return r;
}
}  // namespace

TEST(Optimizers, MatchMlxOverFiveSteps) {
  O::SGD sgd(0.1f);
  EXPECT_TRUE(like_mlx("sgd", run(sgd)));
  O::SGD sgd_mom(0.1f, {.momentum = 0.9, .weight_decay = 0.01, .dampening = 0.1});
  EXPECT_TRUE(like_mlx("sgd_mom", run(sgd_mom)));
  O::SGD nesterov(0.05f, {.momentum = 0.8, .nesterov = true});
  EXPECT_TRUE(like_mlx("sgd_nesterov", run(nesterov)));
  O::RMSprop rms(0.01f, {.alpha = 0.9});
  EXPECT_TRUE(like_mlx("rmsprop", run(rms)));
  O::Adagrad adagrad(0.1f);
  EXPECT_TRUE(like_mlx("adagrad", run(adagrad)));
  O::AdaDelta adadelta(1.0f, {.rho = 0.95});
  EXPECT_TRUE(like_mlx("adadelta", run(adadelta)));
  O::Adam adam(0.01f);
  EXPECT_TRUE(like_mlx("adam", run(adam)));
  O::Adam adam_bc(0.01f, {.betas = {0.8, 0.99}, .bias_correction = true});
  EXPECT_TRUE(like_mlx("adam_bc", run(adam_bc)));
  O::AdamW adamw(0.01f, {.weight_decay = 0.1});
  EXPECT_TRUE(like_mlx("adamw", run(adamw)));
  O::Adamax adamax(0.02f);
  EXPECT_TRUE(like_mlx("adamax", run(adamax)));
  O::Lion lion(0.01f, {.weight_decay = 0.1});
  EXPECT_TRUE(like_mlx("lion", run(lion)));
  O::Adafactor adafactor;
  EXPECT_TRUE(like_mlx("adafactor", run(adafactor)));
  O::Adafactor adafactor_b1({.learning_rate = 0.01f, .beta_1 = 0.9, .weight_decay = 0.1, .relative_step = false});
  EXPECT_TRUE(like_mlx("adafactor_b1", run(adafactor_b1)));
  O::Muon muon(0.02f);
  EXPECT_TRUE(like_mlx("muon", run(muon), 1e-5));
}

TEST(Optimizers, SchedulesMatchMlx) {
  O::SGD sgd(O::cosine_decay(0.1f, 4, 0.01));
  EXPECT_TRUE(like_mlx("sgd_cosine", run(sgd)));
  O::Adam adam(O::join_schedules({O::linear_schedule(0.0f, 0.01, 2), O::exponential_decay(0.01, 0.5)}, {2}));
  EXPECT_TRUE(like_mlx("adam_join", run(adam)));
  std::vector<std::pair<std::string, O::Schedule>> scheds = {{"step_decay", O::step_decay(0.1f, 0.5f, 2)},
                                                             {"exp_decay", O::exponential_decay(0.1f, 0.9f)},
                                                             {"cosine", O::cosine_decay(0.1f, 5, 0.01f)},
                                                             {"linear", O::linear_schedule(0.1f, 0.0f, 4)}};
  for (auto& [name, s] : scheds) {
    std::vector<double> v;
    for (int i = 0; i < 7; ++i) v.push_back(s(array(uint64_t(i), uint64)).item<float>());
    EXPECT_TRUE(like_mlx(name, v));
  }
  EXPECT_TRUE(throws_op<std::invalid_argument>("linear_schedule", [] { O::linear_schedule(0.1f, 0.0f, 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("join_schedules", [] {
    O::join_schedules({O::exponential_decay(0.1f, 0.9f)}, {3});
  }));
}

TEST(Optimizers, MultiOptimizerSplitsByFilter) {
  auto adam = std::make_shared<O::Adam>(0.01f);
  auto sgd = std::make_shared<O::SGD>(0.1f);
  O::MultiOptimizer multi({adam, sgd}, {[](const std::string&, const array& a) { return a.ndim() >= 2; }});
  EXPECT_TRUE(like_mlx("multi", run(multi)));
  EXPECT_EQ(multi.state().at("states").size(), 2u);
  EXPECT_EQ(adam->step().item<uint64_t>(), 5u);
  EXPECT_EQ(sgd->step().item<uint64_t>(), 5u);
  EXPECT_TRUE(adam->state().contains("w"));
  EXPECT_FALSE(adam->state().contains("b"));
  EXPECT_TRUE(sgd->state().contains("b"));
  try {
    O::MultiOptimizer bad({adam, sgd}, {});
    ADD_FAILURE() << "no throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "Given 0 filters but 1 needed.");
  }
}

TEST(Optimizers, StateLayoutAndStep) {
  O::Adam adam(0.01f);
  adam.init(params0());
  auto keys = [](const Tree& t) {
    std::vector<std::string> k;
    for (auto& [path, leaf] : tree_flatten(t)) k.push_back(path);
    return k;
  };
  EXPECT_EQ(keys(adam.state()), (std::vector<std::string>{"step", "learning_rate", "w.m", "w.v", "b.m", "b.v"}));
  EXPECT_EQ(adam.step().dtype(), uint64);
  EXPECT_EQ(adam.learning_rate().dtype(), float32);
  // init is idempotent: existing state is kept.
  array m_before = adam.state().at("w").at("m").as_array();
  adam.init(params0());
  EXPECT_TRUE(adam.state().at("w").at("m").as_array().is_same(m_before));
  adam.set_learning_rate(0.5f);
  EXPECT_FLOAT_EQ(adam.learning_rate().item<float>(), 0.5f);
  // A top-level parameter named like a state entry is rejected.
  O::SGD sgd(0.1f);
  try {
    sgd.init(Tree(Tree::Dict{{"step", array(1.0f)}}));
    ADD_FAILURE() << "no throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "[Optimizer] Parameter name \"step\" is reserved for optimizer state.");
  }
  EXPECT_THROW(sgd.set_state(Tree(Tree::Dict{{"learning_rate", array(1.0f)}})), std::invalid_argument);
  // float16 parameters stay float16.
  O::Adam half(0.01f);
  Tree p16(Tree::Dict{{"w", array({1.0f, 2.0f}, float16)}});
  Tree out = half.apply_gradients(Tree(Tree::Dict{{"w", array({0.5f, 0.5f}, float16)}}), p16);
  EXPECT_EQ(out.at("w").as_array().dtype(), float16);
}

TEST(Optimizers, UpdateTrainsOnlyTrainableParameters) {
  // spec E33: a Linear with its bias frozen; SGD moves only the weight.
  auto lin = std::make_shared<nn::Linear>(2, 1);
  lin->update(Tree(Tree::Dict{{"weight", array({0.5f, 1.0f}, {1, 2})}, {"bias", array({0.25f})}}));
  array bias_before = lin->param("bias");
  lin->freeze({.keys = {"bias"}});
  auto loss = [&](const array& x) { return sum((*lin)(x)); };
  auto vg = nn::value_and_grad(*lin, loss);
  O::SGD opt(0.1f);
  opt.update(*lin, vg(array({-2.0f, -6.0f}, {1, 2})).second);
  EXPECT_TRUE(mica::test::matches(lin->param("weight"), {1, 2}, {0.7, 1.6}));
  EXPECT_TRUE(lin->param("bias").is_same(bias_before));
  try {
    opt.update(*lin, Tree(Tree::Dict{{"bias", ones({1})}}));
    ADD_FAILURE() << "no throw";
  } catch (const KeyError& e) {
    EXPECT_STREQ(e.what(), "[tree_map] Key \"bias\" is missing from an additional tree.");
  }
}

TEST(Optimizers, ClipGradNorm) {
  Tree g(Tree::Dict{{"a", array({3.0f, 0.0f})}, {"b", Tree(Tree::List{array({4.0f})})}});
  auto [clipped, total] = O::clip_grad_norm(g, 1.0f);
  EXPECT_NEAR(total.item<float>(), 5.0f, 1e-6);
  EXPECT_TRUE(mica::test::matches(clipped.at("a").as_array(), {2}, {0.6, 0}, 1e-5));
  EXPECT_TRUE(mica::test::matches(clipped.at("b").at(0).as_array(), {1}, {0.8}, 1e-5));
  auto [same, t2] = O::clip_grad_norm(g, 10.0f);
  EXPECT_TRUE(mica::test::matches(same.at("a").as_array(), {2}, {3, 0}));
  try {
    O::clip_grad_norm(g, -0.5f);
    ADD_FAILURE() << "no throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "max_norm should be >=0, -0.5 was provided instead");
  }
}

TEST(Optimizers, BadHyperParameters) {
  EXPECT_TRUE(throws_op<std::invalid_argument>("Adam", [] { O::Adam(0.1f, {.betas = {1.0, 0.9}}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("SGD", [] { O::SGD(0.1f, {.nesterov = true}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("RMSprop", [] { O::RMSprop(0.1f, {.alpha = -1.0}); }));
  // eps must be positive for the three whose update divides by sqrt(v) + eps (MLX refuses 0 too).
  for (double eps : {0.0, -1e-3}) {
    EXPECT_TRUE(throws_op<std::invalid_argument>("RMSprop", [eps] { O::RMSprop(0.1f, {.eps = eps}); }));
    EXPECT_TRUE(throws_op<std::invalid_argument>("Adagrad", [eps] { O::Adagrad(0.1f, eps); }));
    EXPECT_TRUE(throws_op<std::invalid_argument>("AdaDelta", [eps] { O::AdaDelta(0.1f, {.eps = eps}); }));
  }
  EXPECT_NO_THROW(O::Adam(0.1f, {.eps = 0.0}));  // Adam allows eps == 0, as MLX
  EXPECT_TRUE(throws_op<std::invalid_argument>("Adafactor", [] { O::Adafactor({.relative_step = false}); }));
}

TEST(Optimizers, AdamUpdatesParametersInFewNodes) {
  // AdamW over a tree of float32 and float64 leaves (and a bfloat16 one, which takes the
  // composition): one AdamStep node per dtype (up to 48 parameters each), values equal bit for
  // bit to fast::adam_step run on each leaf alone with the same coefficients.
  Tree params = Tree::Dict{{"a", array({1.0f, -2.0f, 3.0f})},
                           {"b", Tree::List{array({0.5f, 0.25f}), reshape(array({1.0f, 2.0f, 3.0f, 4.0f}), {2, 2})}},
                           {"c", array({1.0, 2.0})},
                           {"d", array({2.0, -1.0, 0.5})},
                           {"h", astype(array({1.0f, 2.0f}), bfloat16)}};
  Tree grads = tree_map(
      [](const Tree& t, const std::vector<Tree>&) -> Tree {
        return astype(multiply(t.as_array(), array(0.3f)), t.as_array().dtype());
      },
      params, {});
  const float lr = 0.01f;
  const double wd = 0.1;
  O::AdamW opt(lr, {.weight_decay = wd});
  Tree a = params;
  auto ref = tree_flatten_arrays(params), g = tree_flatten_arrays(grads);
  std::vector<array> m, v;
  for (auto& [path, x] : ref) {
    m.push_back(zeros_like(x));
    v.push_back(zeros_like(x));
  }
  for (int step = 0; step < 3; ++step) {
    a = opt.apply_gradients(grads, a);
    for (size_t i = 0; i < ref.size(); ++i) {
      const Dtype dt = ref[i].second.dtype();
      if (dt == bfloat16) continue;
      array lr_t = astype(array(lr), dt);
      array coef = concatenate({reshape(lr_t, {1}), reshape(array(1.0, dt), {1}), reshape(1.0f - lr_t * wd, {1})});
      auto r = fast::adam_step(ref[i].second, g[i].second, m[i], v[i], coef, 0.9, 0.999, 1e-8);
      ref[i].second = r[0];
      m[i] = r[1];
      v[i] = r[2];
    }
  }
  auto leaves = tree_flatten_arrays(a);
  ASSERT_EQ(leaves.size(), ref.size());
  const Primitive* f32 = nullptr;
  const Primitive* f64 = nullptr;
  for (size_t i = 0; i < leaves.size(); ++i) {
    const array& x = leaves[i].second;
    if (ref[i].second.dtype() == bfloat16) {
      EXPECT_EQ(x.dtype(), bfloat16) << "the composition keeps the parameter's dtype";
      continue;
    }
    ASSERT_TRUE(x.has_primitive()) << leaves[i].first;
    EXPECT_EQ(std::string(x.primitive().name()), "AdamStep") << leaves[i].first;
    const Primitive*& first = x.dtype() == float32 ? f32 : f64;
    if (!first) first = &x.primitive();
    EXPECT_EQ(&x.primitive(), first) << leaves[i].first << ": one node per dtype";
  }
  EXPECT_NE(f32, f64);
  // 100 float32 parameters: nodes of 48, 48 and 4.
  Tree::Dict many;
  for (int i = 0; i < 100; ++i) many.insert_or_assign("w" + std::to_string(100 + i), array({float(i), 1.0f}));
  O::Adam adam(0.1f);
  auto stepped = tree_flatten_arrays(adam.apply_gradients(Tree(many), Tree(many)));
  std::map<const Primitive*, int> per_node;
  for (auto& [path, x] : stepped) ++per_node[&x.primitive()];
  std::vector<int> sizes;
  for (auto& [node, count] : per_node) sizes.push_back(count);
  std::sort(sizes.begin(), sizes.end());
  EXPECT_EQ(sizes, (std::vector<int>{4, 48, 48}));
  for (size_t i = 0; i < leaves.size(); ++i) {  // (evaluating detaches the nodes: checked above first)
    if (ref[i].second.dtype() != bfloat16) EXPECT_EQ(to_vector(leaves[i].second), to_vector(ref[i].second)) << leaves[i].first;
  }
}
