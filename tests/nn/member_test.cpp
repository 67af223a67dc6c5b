// Typed members (nn::Child, nn::ChildList, nn::Param): the key is named once, every use reads
// the module's state, so update / update_modules / load_weights / value_and_grad are honoured.
#include <filesystem>

#include "nn/nn_test_util.h"

namespace mica::nntest {
namespace {

using test::random_array;

struct MLP : Module {
  nn::Child<Linear> fc1{this, "fc1", 4, 8};
  nn::Child<Linear> fc2{this, "fc2", 8, 3};
  std::string name() const override { return "MLP"; }
  array operator()(const array& x) override { return fc2(maximum(fc1(x), array(0.0f))); }
};

// The same model written with strings, for reference.
struct StringMLP : Module {
  StringMLP() {
    set("fc1", std::make_shared<Linear>(4, 8));
    set("fc2", std::make_shared<Linear>(8, 3));
  }
  array operator()(const array& x) override { return call("fc2", maximum(call("fc1", x), array(0.0f))); }
};

// y = x * scale + shift, with an optional shift.
struct Affine : Module {
  nn::Param scale;
  nn::Param shift;
  Affine(int dims, bool with_shift)
      : scale(this, "scale", ones({dims})),
        shift(this, "shift", with_shift ? std::optional<array>(zeros({dims})) : std::nullopt) {}
  std::string name() const override { return "Affine"; }
  array operator()(const array& x) override { return shift ? x * scale + shift.get() : x * scale; }
};

// A module with a two-argument call.
struct Mix : Module {
  nn::Param w{this, "w", array({2.0f, 3.0f})};
  std::string name() const override { return "Mix"; }
  array operator()(const array& a, const array& b) const { return a * w + b; }
};

struct Holder : Module {
  nn::Child<Mix> mix{this, "mix"};
  nn::Child<Linear> head{this, "head", nullptr};  // optional, absent
  nn::ChildList<Linear> layers{this, "layers"};
  Holder() {
    layers.emplace_back(2, 2);
    layers.push_back(std::make_shared<Linear>(2, 2, false));
  }
  std::string name() const override { return "Holder"; }
};

// Replaces a Linear: doubles its input.
struct Twice : Module {
  std::string name() const override { return "Twice"; }
  array operator()(const array& x) override { return x * 2.0f; }
};

array dense(const array& x, Linear& l) { return addmm(l.param("bias"), x, transpose(l.param("weight"))); }

// Compile-time rules: members are not copyable, construction arguments are checked.
static_assert(!std::is_copy_constructible_v<nn::Child<Linear>>);
static_assert(!std::is_copy_constructible_v<nn::Param>);
static_assert(!std::is_copy_constructible_v<nn::ChildList<Linear>>);
static_assert(std::is_constructible_v<nn::Child<Linear>, Module*, std::string, int, int>);
static_assert(!std::is_constructible_v<nn::Child<Linear>, Module*, std::string, std::string>);
static_assert(!std::is_constructible_v<nn::Child<Linear>, Module*, std::string, std::shared_ptr<Twice>>);

TEST(Member, ChildStoresInDeclarationOrderAndRuns) {
  MLP m;
  EXPECT_EQ(keys(m.parameters()), (std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}));
  array x = random_array({5, 4}, float32, 1);
  array want = dense(maximum(dense(x, *m.fc1), array(0.0f)), *m.fc2);
  EXPECT_TRUE(allclose(m(x), want).item<bool>());
  EXPECT_EQ(m.fc1->param("weight").shape(), (Shape{8, 4}));
  EXPECT_EQ(m.fc1.key(), "fc1");
  EXPECT_TRUE(static_cast<bool>(m.fc1));
}

TEST(Member, UpdateIsHonoured) {
  MLP m;
  Tree p = m.parameters();
  p.at("fc2").at("weight") = zeros({3, 8});
  p.at("fc2").at("bias") = array({1.0f, 2.0f, 3.0f});
  m.update(p);
  array y = m(random_array({2, 4}, float32, 2));
  EXPECT_TRUE(array_equal(y, broadcast_to(array({1.0f, 2.0f, 3.0f}), {2, 3})).item<bool>());
}

TEST(Member, UpdateModulesSwapsTheClass) {
  MLP m;
  m.update_modules(Tree(D{{"fc2", Tree(std::make_shared<Twice>())}}));
  array x = random_array({2, 4}, float32, 3);
  // fc2(h) now runs Twice; fc1 is still the Linear.
  EXPECT_TRUE(allclose(m(x), maximum(dense(x, *m.fc1), array(0.0f)) * 2.0f).item<bool>());
  EXPECT_EQ(m.fc2.module().name(), "Twice");
  try {
    (void)m.fc2->param("weight");
    FAIL() << "expected a type error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("[MLP.fc2] expected a module of the declared class, got Twice"),
              std::string::npos)
        << e.what();
  }
}

TEST(Member, GradientsMatchTheStringForm) {
  MLP typed;
  StringMLP strings;
  strings.update(typed.parameters());
  array x = random_array({6, 4}, float32, 4);
  auto loss = [&](Module& m) { return [&m, &x]() { return sum(square(m(x))); }; };
  auto [l1, g1] = nn::value_and_grad(typed, loss(typed))();
  auto [l2, g2] = nn::value_and_grad(strings, loss(strings))();
  EXPECT_TRUE(allclose(l1, l2).item<bool>());
  auto f1 = tree_flatten_arrays(g1), f2 = tree_flatten_arrays(g2);
  ASSERT_EQ(f1.size(), 4u);
  ASSERT_EQ(f1.size(), f2.size());
  for (size_t i = 0; i < f1.size(); ++i) {
    EXPECT_EQ(f1[i].first, f2[i].first);
    EXPECT_TRUE(allclose(f1[i].second, f2[i].second).item<bool>()) << f1[i].first;
    EXPECT_GT(sum(abs(f1[i].second)).item<float>(), 0.0f) << f1[i].first;
  }
  // The originals are back in the state after the transform.
  EXPECT_EQ(typed.fc1->param("weight").id(), typed.parameters().at("fc1").at("weight").as_array().id());
}

TEST(Member, LoadWeightsIsHonoured) {
  MLP a, b;
  auto path = std::filesystem::temp_directory_path() / "mica_member_test.safetensors";
  a.save_weights(path.string());
  b.load_weights(path.string());
  std::filesystem::remove(path);
  array x = random_array({3, 4}, float32, 5);
  EXPECT_TRUE(array_equal(a(x), b(x)).item<bool>());
}

TEST(Member, ParamOptionalAndAssignment) {
  Affine with(3, true), without(3, false);
  EXPECT_EQ(keys(with.parameters()), (std::vector<std::string>{"scale", "shift"}));
  EXPECT_EQ(keys(without.parameters()), (std::vector<std::string>{"scale"}));
  EXPECT_TRUE(static_cast<bool>(with.shift));
  EXPECT_FALSE(static_cast<bool>(without.shift));
  array x = array({1.0f, 2.0f, 3.0f});
  without.scale = array({2.0f, 2.0f, 2.0f});
  EXPECT_TRUE(array_equal(without(x), array({2.0f, 4.0f, 6.0f})).item<bool>());
  without.shift = array({1.0f, 1.0f, 1.0f});  // sets the optional entry later
  EXPECT_EQ(keys(without.parameters()), (std::vector<std::string>{"scale", "shift"}));
  EXPECT_TRUE(array_equal(without(x), array({3.0f, 5.0f, 7.0f})).item<bool>());
  without.freeze({.keys = {"shift"}});
  EXPECT_EQ(keys(without.trainable_parameters()), (std::vector<std::string>{"scale"}));
  try {
    (void)with.scale.get();
    with.erase("scale");
    (void)with.scale.get();
    FAIL() << "expected a KeyError";
  } catch (const KeyError& e) {
    EXPECT_NE(std::string(e.what()).find("[Affine.scale] expected an entry"), std::string::npos) << e.what();
  }
}

TEST(Member, ListsAndManyArgumentCalls) {
  Holder h;
  EXPECT_EQ(keys(h.parameters()),
            (std::vector<std::string>{"mix.w", "layers.0.weight", "layers.0.bias", "layers.1.weight"}));
  EXPECT_FALSE(static_cast<bool>(h.head));
  EXPECT_THROW((void)h.head(array({1.0f, 2.0f})), KeyError);
  EXPECT_EQ(h.layers.size(), 2u);
  EXPECT_FALSE(h.layers[1].contains("bias"));
  array y = h.mix(array({1.0f, 1.0f}), array({0.5f, 0.5f}));
  EXPECT_TRUE(array_equal(y, array({2.5f, 3.5f})).item<bool>());
  // update reaches list entries; update_modules can swap one, and typed access then refuses it.
  Tree p = h.parameters();
  p.at("layers").as_list()[1].at("weight") = eye(2);
  h.update(p);
  EXPECT_TRUE(array_equal(h.layers[1](array({4.0f, 5.0f})), array({4.0f, 5.0f})).item<bool>());
  h.update_modules(Tree(D{{"layers", Tree(L{Tree(D{}), Tree(std::make_shared<Twice>())})}}));
  EXPECT_EQ(h.layers.module(1).name(), "Twice");
  EXPECT_THROW((void)h.layers[1], std::invalid_argument);
  EXPECT_THROW((void)h.layers.module(2), std::out_of_range);
  h.head = std::make_shared<Linear>(2, 1);
  EXPECT_EQ(h.head(array({1.0f, 2.0f})).shape(), (Shape{1}));
  h.head = nullptr;
  EXPECT_FALSE(h.contains("head"));
}

}  // namespace
}  // namespace mica::nntest
