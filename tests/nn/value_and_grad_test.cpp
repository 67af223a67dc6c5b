// nn::value_and_grad and nn::checkpoint (spec/module.md §12, E13-E17): gradients for the
// trainable parameters only, checked against hand-computed values, and the model restored.
#include "nn/nn_test_util.h"

namespace mica::nntest {
namespace {

using Keys = std::vector<std::string>;
using test::all_close;
using test::random_array;

testing::AssertionResult has_values(const Tree& t, const Shape& shape, const std::vector<double>& want,
                                    double tol = 1e-5) {
  if (!t.is_array()) return testing::AssertionFailure() << "not an array: " << t;
  return test::matches(t.as_array(), shape, want, tol, tol);
}

// ---------------------------------------------------------------------------------------------
// E13, E16: a Linear with known weights

TEST(ValueAndGrad, E13Linear) {
  auto lin = make_lin();
  Module& model = *lin;
  auto loss = [&](const array& x) { return total(model(x)); };
  array xin = array({3.0f, 4.0f}, {1, 2});
  uintptr_t wid = (*lin)["weight"].as_array().id(), bid = (*lin)["bias"].as_array().id();

  auto vg = nn::value_and_grad(model, loss);
  auto [val, g] = vg(xin);
  EXPECT_NEAR(val.item<float>(), 11.5f, 1e-5);
  EXPECT_EQ(keys(g), (Keys{"weight", "bias"}));
  EXPECT_TRUE(has_values(g["weight"], {1, 2}, {3, 4}));
  EXPECT_TRUE(has_values(g["bias"], {1}, {1}));
  // The model holds the very same arrays again (V2).
  EXPECT_EQ((*lin)["weight"].as_array().id(), wid);
  EXPECT_EQ((*lin)["bias"].as_array().id(), bid);

  // Each call reads the trainable parameters again.
  lin->freeze({.keys = {"bias"}});
  auto g2 = vg(xin).second;
  EXPECT_EQ(keys(g2), (Keys{"weight"}));
  EXPECT_FALSE(g2.contains("bias"));
  EXPECT_TRUE(has_values(g2["weight"], {1, 2}, {3, 4}));
  EXPECT_EQ((*lin)["bias"].as_array().id(), bid);
}

TEST(ValueAndGrad, E16AuxOutputs) {
  auto lin = make_lin();
  auto fn = [&](const array& x) {
    array y = (*lin)(x);
    return std::vector<array>{total(y), y};
  };
  auto [vals, g] = nn::value_and_grad(*lin, fn)(array({3.0f, 4.0f}, {1, 2}));
  ASSERT_EQ(vals.size(), 2u);
  EXPECT_NEAR(vals[0].item<float>(), 11.5f, 1e-5);
  EXPECT_TRUE(test::matches(vals[1], {1, 1}, {11.5}));
  EXPECT_TRUE(has_values(g["weight"], {1, 2}, {3, 4}));
  EXPECT_TRUE(has_values(g["bias"], {1}, {1}));
}

// ---------------------------------------------------------------------------------------------
// E14: an MLP, gradients against a double-precision backward pass

struct MlpGrads {
  std::vector<double> w0, b0, w2, b2;
};

// loss = sum(W2 relu(W0 x + b0) + b2) over a batch x: (n, 4); W0 (8, 4), W2 (2, 8).
MlpGrads mlp_grads(const std::vector<double>& x, int n, const std::vector<double>& w0, const std::vector<double>& b0,
                   const std::vector<double>& w2) {
  const int in = 4, hid = 8, out = 2;
  MlpGrads g{std::vector<double>(hid * in), std::vector<double>(hid), std::vector<double>(out * hid),
             std::vector<double>(out, static_cast<double>(n))};
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < hid; ++j) {
      double h = b0[j];
      for (int k = 0; k < in; ++k) h += w0[j * in + k] * x[i * in + k];
      double r = h > 0 ? h : 0;
      double dr = 0;
      for (int o = 0; o < out; ++o) {
        g.w2[o * hid + j] += r;
        dr += w2[o * hid + j];
      }
      double dh = h > 0 ? dr : 0;
      g.b0[j] += dh;
      for (int k = 0; k < in; ++k) g.w0[j * in + k] += dh * x[i * in + k];
    }
  }
  return g;
}

TEST(ValueAndGrad, E14MlpStructureAndValues) {
  auto mlp = make_mlp();
  Module& model = *mlp;
  auto loss = [&](const array& x) { return total(model(x)); };
  auto& l0 = (*mlp)["layers"][0].as_module();
  auto& l2 = (*mlp)["layers"][2].as_module();

  Tree g = nn::value_and_grad(model, loss)(ones({1, 4})).second;
  EXPECT_EQ(keys(g).size(), 4u);
  EXPECT_EQ(g["layers"][1], Tree(D{}));

  array x = random_array({3, 4}, float32, -2, 2, 31);
  auto ref = mlp_grads(values(x), 3, values(l0.param("weight")), values(l0.param("bias")), values(l2.param("weight")));
  auto [val, g3] = nn::value_and_grad(model, loss)(x);
  EXPECT_NEAR(val.item<float>(), test::to_vector(total(model(x)))[0], 1e-4);
  EXPECT_TRUE(has_values(g3["layers"][0]["weight"], {8, 4}, ref.w0));
  EXPECT_TRUE(has_values(g3["layers"][0]["bias"], {8}, ref.b0));
  EXPECT_TRUE(has_values(g3["layers"][2]["weight"], {2, 8}, ref.w2));
  EXPECT_TRUE(has_values(g3["layers"][2]["bias"], {2}, ref.b2));

  mlp->freeze({.recurse = false, .keys = {"layers.0"}});
  Tree g4 = nn::value_and_grad(model, loss)(x).second;
  EXPECT_TRUE(g4["layers"][0].is_none());
  EXPECT_EQ(g4["layers"][1], Tree(D{}));
  EXPECT_EQ(keys(g4), (Keys{"layers.2.weight", "layers.2.bias"}));
  EXPECT_TRUE(has_values(g4["layers"][2]["weight"], {2, 8}, ref.w2));
}

// ---------------------------------------------------------------------------------------------
// E15: through lists, dicts and nested modules

struct Net : Module {
  Net() {
    set("blocks", L{std::make_shared<Linear>(2, 2)});
    set("head", D{{"out", std::make_shared<Linear>(2, 1)}});
  }
  array operator()(const array& x) override {
    array h = (*this)["blocks"][0].as_module()(x);
    return (*this)["head"]["out"].as_module()(h);
  }
};

TEST(ValueAndGrad, E15ThroughContainers) {
  Net net;
  net.apply([](const array& a) { return a.ndim() == 2 ? ones(a.shape()) : zeros(a.shape()); });
  auto [val, g] = nn::value_and_grad(net, [&](const array& x) { return total(net(x)); })(array({1.0f, 2.0f}, {1, 2}));
  EXPECT_NEAR(val.item<float>(), 6.0f, 1e-5);
  EXPECT_EQ(keys(g), (Keys{"blocks.0.weight", "blocks.0.bias", "head.out.weight", "head.out.bias"}));
  EXPECT_TRUE(has_values(g["blocks"][0]["weight"], {2, 2}, {1, 2, 1, 2}));
  EXPECT_TRUE(has_values(g["blocks"][0]["bias"], {2}, {1, 1}));
  EXPECT_TRUE(has_values(g["head"]["out"]["weight"], {1, 2}, {3, 3}));
  EXPECT_TRUE(has_values(g["head"]["out"]["bias"], {1}, {1}));
}

// ---------------------------------------------------------------------------------------------
// E17: a module shared by two paths

TEST(ValueAndGrad, E17SharedModule) {
  auto sh = std::make_shared<Linear>(2, 2);
  Module t;
  t.set("a", sh);
  t.set("b", sh);
  uintptr_t wid = (*sh)["weight"].as_array().id();
  auto fn = [&](const array& x) { return total((*sh)(x)); };
  auto [val, g] = nn::value_and_grad(t, fn)(array({3.0f, 4.0f}, {1, 2}));
  EXPECT_EQ(keys(g), (Keys{"a.weight", "a.bias", "b.weight", "b.bias"}));
  EXPECT_TRUE(has_values(g["a"]["weight"], {2, 2}, {0, 0, 0, 0}));
  EXPECT_TRUE(has_values(g["a"]["bias"], {2}, {0, 0}));
  EXPECT_TRUE(has_values(g["b"]["weight"], {2, 2}, {3, 4, 3, 4}));
  EXPECT_TRUE(has_values(g["b"]["bias"], {2}, {1, 1}));
  EXPECT_EQ((*sh)["weight"].as_array().id(), wid);
}

// ---------------------------------------------------------------------------------------------
// Constants, unused parameters, restoring, errors

struct WithConstants : Module {
  WithConstants() {
    set("w", array({2.0f, -1.0f}));
    set("unused", random_array({3}, float16, -1, 1, 4));
    set("frozen", array({5.0f, 7.0f}));
    set("_scale", array({10.0f, 100.0f}));
    freeze({.recurse = false, .keys = {"frozen"}});
  }
  // sum(w * frozen * _scale + w)
  array operator()(const array& x) override {
    return total(add(multiply(multiply(param("w"), param("frozen")), param("_scale")), multiply(param("w"), x)));
  }
};

TEST(ValueAndGrad, ConstantsAndUnusedParameters) {
  WithConstants m;
  auto [val, g] = nn::value_and_grad(m, [&](const array& x) { return m(x); })(array({1.0f, 3.0f}));
  // value = 2*5*10 + (-1)*7*100 + 2*1 + (-1)*3 = 100 - 700 + 2 - 3
  EXPECT_NEAR(val.item<float>(), -601.0f, 1e-3);
  EXPECT_EQ(keys(g), (Keys{"w", "unused"}));
  // d/dw = frozen * _scale + x
  EXPECT_TRUE(has_values(g["w"], {2}, {51, 703}));
  // An unused trainable array gets zeros of its own shape and dtype.
  EXPECT_EQ(g["unused"].as_array().dtype(), float16);
  EXPECT_TRUE(has_values(g["unused"], {3}, {0, 0, 0}));
}

TEST(ValueAndGrad, RestoresOnThrowAndKeepsReassignedLocations) {
  auto lin = make_lin();
  uintptr_t wid = (*lin)["weight"].as_array().id(), bid = (*lin)["bias"].as_array().id();
  auto failing = nn::value_and_grad(*lin, [&](const array& x) -> array {
    (void)(*lin)(x);
    throw std::runtime_error("boom");
  });
  EXPECT_THROW(failing(ones({1, 2})), std::runtime_error);
  EXPECT_EQ((*lin)["weight"].as_array().id(), wid);
  EXPECT_EQ((*lin)["bias"].as_array().id(), bid);

  // A location fn reassigns (like running statistics) keeps fn's value.
  array fresh = array({9.0f});
  auto reassign = nn::value_and_grad(*lin, [&](const array& x) {
    array y = total((*lin)(x));
    lin->update(D{{"bias", fresh}});
    return y;
  });
  auto [val, g] = reassign(array({3.0f, 4.0f}, {1, 2}));
  EXPECT_NEAR(val.item<float>(), 11.5f, 1e-5);
  EXPECT_EQ((*lin)["bias"].as_array().id(), fresh.id());
  EXPECT_EQ((*lin)["weight"].as_array().id(), wid);
  EXPECT_TRUE(has_values(g["weight"], {1, 2}, {3, 4}));
}

TEST(ValueAndGrad, NothingTrainable) {
  auto mlp = make_mlp();
  mlp->freeze();
  auto [val, g] = nn::value_and_grad(*mlp, [&](const array& x) { return total((*mlp)(x)); })(ones({1, 4}));
  EXPECT_EQ(val.ndim(), 0u);
  EXPECT_EQ(g, mlp->trainable_parameters());
  EXPECT_EQ(g, Tree(D{{"layers", L{D{}, D{}, D{}}}}));
}

TEST(ValueAndGrad, Errors) {
  auto lin = make_lin();
  // A non-scalar loss is a user error of the transform.
  auto vg = nn::value_and_grad(*lin, [&](const array& x) { return (*lin)(x); });
  EXPECT_THROW(vg(ones({2, 2})), std::invalid_argument);
  uintptr_t wid = (*lin)["weight"].as_array().id();
  EXPECT_EQ((*lin)["weight"].as_array().id(), wid);
  // A shape error inside fn propagates and the model is restored.
  auto bad = nn::value_and_grad(*lin, [&](const array& x) { return total((*lin)(x)); });
  EXPECT_THROW(bad(ones({1, 3})), std::invalid_argument);
  EXPECT_EQ((*lin)["weight"].as_array().id(), wid);
}

// ---------------------------------------------------------------------------------------------
// nn::checkpoint (V5)

TEST(Checkpoint, SameValueAndGradients) {
  auto mlp = make_mlp();
  array x = random_array({3, 4}, float32, -2, 2, 41);
  auto plain = nn::value_and_grad(*mlp, [&](const array& in) { return total((*mlp)(in)); })(x);
  auto ck = nn::checkpoint(*mlp);
  auto ids = tree_flatten_arrays(mlp->parameters());
  auto with_ck = nn::value_and_grad(*mlp, [&](const array& in) { return total(ck(in)); })(x);
  EXPECT_NEAR(plain.first.item<float>(), with_ck.first.item<float>(), 1e-4);
  EXPECT_TRUE(tree_allclose(plain.second, with_ck.second, 1e-5, 1e-5));
  auto after = tree_flatten_arrays(mlp->parameters());
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i].second.id(), after[i].second.id());
  // Outside a transform the checkpointed call is just the forward.
  EXPECT_TRUE(test::matches(ck(x), {3, 2}, values((*mlp)(x)), 1e-6, 1e-6));
}

}  // namespace
}  // namespace mica::nntest
