// Shared by the nn tests: small stand-in layers with MLX's names and state layout (the real
// activation, norm and attention layers come with later work; these only need the layout and,
// for ReLU, a forward), the spec's fixtures, and helpers.
#pragma once
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "mica/nn.h"
#include "reference/reference.h"

namespace mica::nntest {

using nn::Linear;
using nn::Module;
using nn::Sequential;
using D = Tree::Dict;
using L = Tree::List;
inline const Tree none{};

/** The keys of tree_flatten(t). */
inline std::vector<std::string> keys(const Tree& t) {
  std::vector<std::string> k;
  for (auto& [p, v] : tree_flatten(t)) k.push_back(p);
  return k;
}

/** The spec's loss reduction: sum of all elements. */
inline array total(const array& y) { return sum(y); }

/** max(x, 0). */
struct ReLU : Module {
  std::string name() const override { return "ReLU"; }
  array operator()(const array& x) override { return maximum(x, array(0.0f)); }
};

/** A stateless activation module (only its name matters to these tests). */
struct GELU : Module {
  std::string name() const override { return "GELU"; }
  array operator()(const array& x) override { return multiply(x, sigmoid(multiply(x, array(1.702f)))); }
};

/** Stateless, as MLX's Dropout. */
struct Dropout : Module {
  std::string name() const override { return "Dropout"; }
  array operator()(const array& x) override { return x; }
};

/** weight and bias, as MLX's LayerNorm. */
struct LayerNorm : Module {
  explicit LayerNorm(int dims) {
    set("weight", ones({dims}));
    set("bias", zeros({dims}));
  }
  std::string name() const override { return "LayerNorm"; }
};

/** MLX's BatchNorm layout: weight, bias, running_mean, running_var; the statistics stay frozen
 *  through unfreeze() (the override F5 asks for). */
struct BatchNorm : Module {
  explicit BatchNorm(int dims) {
    set("weight", ones({dims}));
    set("bias", zeros({dims}));
    set("running_mean", zeros({dims}));
    set("running_var", ones({dims}));
    freeze({.recurse = false, .keys = {"running_mean", "running_var"}});
  }
  std::string name() const override { return "BatchNorm"; }

 protected:
  void unfreeze_self(const std::vector<std::string>& keys) override {
    Module::unfreeze_self(keys);
    Module::freeze_self({"running_mean", "running_var"});
  }
};

/** MLX's MultiHeadAttention layout (projections without bias). */
struct MultiHeadAttention : Module {
  explicit MultiHeadAttention(int dims) {
    for (const char* k : {"query_proj", "key_proj", "value_proj", "out_proj"}) set(k, std::make_shared<Linear>(dims, dims, false));
  }
  std::string name() const override { return "MultiHeadAttention"; }
};

struct TransformerEncoderLayer : Module {
  TransformerEncoderLayer(int dims, int mlp_dims) {
    set("attention", std::make_shared<MultiHeadAttention>(dims));
    set("ln1", std::make_shared<LayerNorm>(dims));
    set("ln2", std::make_shared<LayerNorm>(dims));
    set("linear1", std::make_shared<Linear>(dims, mlp_dims));
    set("linear2", std::make_shared<Linear>(mlp_dims, dims));
    set("dropout1", std::make_shared<Dropout>());
    set("dropout2", std::make_shared<Dropout>());
  }
};

struct TransformerDecoderLayer : Module {
  TransformerDecoderLayer(int dims, int mlp_dims) {
    set("self_attention", std::make_shared<MultiHeadAttention>(dims));
    set("cross_attention", std::make_shared<MultiHeadAttention>(dims));
    set("ln1", std::make_shared<LayerNorm>(dims));
    set("ln2", std::make_shared<LayerNorm>(dims));
    set("ln3", std::make_shared<LayerNorm>(dims));
    set("linear1", std::make_shared<Linear>(dims, mlp_dims));
    set("linear2", std::make_shared<Linear>(mlp_dims, dims));
    set("dropout1", std::make_shared<Dropout>());
    set("dropout2", std::make_shared<Dropout>());
    set("dropout3", std::make_shared<Dropout>());
  }
};

template <class Layer>
struct Stack : Module {
  Stack(int n, int dims, int mlp_dims) {
    L layers;
    for (int i = 0; i < n; ++i) layers.emplace_back(std::make_shared<Layer>(dims, mlp_dims));
    set("layers", layers);
    set("ln", std::make_shared<LayerNorm>(dims));
  }
};

/** MLX's Transformer layout with its defaults: 512 dims, 6 + 6 layers, MLP of 2048. */
struct Transformer : Module {
  Transformer(int dims = 512, int layers = 6, int mlp_dims = 2048) {
    set("encoder", std::make_shared<Stack<TransformerEncoderLayer>>(layers, dims, mlp_dims));
    set("decoder", std::make_shared<Stack<TransformerDecoderLayer>>(layers, dims, mlp_dims));
  }
};

/** mlp = Sequential(Linear(4, 8), ReLU(), Linear(8, 2)). */
inline std::shared_ptr<Sequential> make_mlp() {
  return std::make_shared<Sequential>(std::make_shared<Linear>(4, 8), std::make_shared<ReLU>(), std::make_shared<Linear>(8, 2));
}

/** The spec's probe module. */
struct Probe : Module {
  std::shared_ptr<Linear> sub = std::make_shared<Linear>(2, 3);
  std::shared_ptr<Linear> inner = std::make_shared<Linear>(3, 3);
  Probe() {
    set("w", zeros({2}));
    set("_cache", zeros({2}));
    set("d", D{{"x", ones({2})}, {"_y", ones({2})}, {"sub", sub}});
    set("l", L{ones({1}), none, L{ones({1})}});
    set("_inner", inner);
  }
};

/** lin = Linear(2, 1) with weight [[1, 2]] and bias [0.5]. */
inline std::shared_ptr<Linear> make_lin() {
  auto lin = std::make_shared<Linear>(2, 1);
  lin->update(D{{"weight", array({1.0f, 2.0f}, {1, 2})}, {"bias", array({0.5f})}});
  return lin;
}

/** Values of an array as doubles. */
inline std::vector<double> values(const array& a) { return test::to_vector(a); }

/** True if f throws E with exactly `msg` as what(). */
template <class E, class F>
testing::AssertionResult throws_exactly(F&& f, const std::string& msg) {
  try {
    f();
  } catch (const E& e) {
    if (msg == e.what()) return testing::AssertionSuccess();
    return testing::AssertionFailure() << "message was '" << e.what() << "', expected '" << msg << "'";
  } catch (const std::exception& e) {
    return testing::AssertionFailure() << "threw another exception type: " << e.what();
  }
  return testing::AssertionFailure() << "did not throw";
}

}  // namespace mica::nntest
