// nn::Module (spec/module.md §3-§11): the acceptance examples E1-E12 and E17-E27 with the
// exact error messages, plus Linear and Sequential against double-precision references.
#include <cmath>
#include <filesystem>
#include <fstream>

#include "nn/nn_test_util.h"

namespace mica::nntest {
namespace {

using Keys = std::vector<std::string>;
using test::random_array;

std::vector<std::string> trainable_keys(const Module& m) { return keys(m.trainable_parameters()); }

std::vector<std::string> module_paths(const Module& m) {
  std::vector<std::string> p;
  for (auto& [path, mod] : m.named_modules()) p.push_back(path);
  return p;
}

// Identity of every parameter (so "nothing changed" can be checked by id).
std::vector<std::pair<std::string, uintptr_t>> param_ids(const Module& m) {
  std::vector<std::pair<std::string, uintptr_t>> out;
  for (auto& [k, a] : tree_flatten_arrays(m.parameters())) out.emplace_back(k, a.id());
  return out;
}

// ---------------------------------------------------------------------------------------------
// §3 storage

TEST(ModuleState, NewModuleAndNames) {
  Module m;
  EXPECT_TRUE(m.state().empty());
  EXPECT_TRUE(m.training());
  EXPECT_EQ(m.name(), "Module");
  EXPECT_EQ(m.repr(), "Module()");
  EXPECT_EQ(trainable_keys(m), Keys{});
  EXPECT_EQ(Linear(2, 2).name(), "Linear");
  EXPECT_EQ(make_mlp()->name(), "Sequential");
  EXPECT_EQ(Probe().name(), "Probe");  // the default name() is the C++ class name
}

TEST(ModuleState, E4SetOrder) {
  array x = zeros({1}), y = ones({1}), z = zeros({2}), u = ones({2});
  Module m;
  m.set("a", x);
  m.set("b", y);
  m.set("c", z);
  m.set("a", u);
  EXPECT_EQ(keys(m.parameters()), (Keys{"a", "b", "c"}));
  EXPECT_EQ(m["a"].as_array().id(), u.id());
  m.set("a", none);
  EXPECT_FALSE(m.contains("a"));
  m.set("a", x);
  EXPECT_EQ(keys(m.parameters()), (Keys{"b", "c", "a"}));
  m.set("zz", none);  // removing an absent key is harmless
  EXPECT_EQ(m.state().size(), 3u);
}

TEST(ModuleState, M3LookupErrors) {
  auto mlp = make_mlp();
  Linear lin(2, 2);
  EXPECT_TRUE(throws_exactly<KeyError>([&] { lin["gamma"]; }, "Linear has no member \"gamma\"."));
  EXPECT_TRUE(throws_exactly<KeyError>([&] { lin.erase("gamma"); }, "Linear has no member \"gamma\"."));
  EXPECT_TRUE(throws_exactly<KeyError>([&] { lin.param("gamma"); }, "Linear has no member \"gamma\"."));
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { mlp->param("layers"); },
                                                    "Member \"layers\" of Sequential has the wrong type."));
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { lin.child("weight"); },
                                                    "Member \"weight\" of Linear has the wrong type."));
  Module holder;
  holder.set("relu", std::make_shared<ReLU>());
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { holder.child<Linear>("relu"); },
                                                    "Member \"relu\" of Module has the wrong type."));
  EXPECT_NE(holder.child<ReLU>("relu"), nullptr);
  EXPECT_NE(holder.child("relu"), nullptr);
  lin.erase("bias");
  EXPECT_FALSE(lin.contains("bias"));
  EXPECT_EQ(lin.extra_repr(), "input_dims=2, output_dims=2, bias=False");
  // A module without a forward says so.
  EXPECT_THROW(holder(ones({2})), std::invalid_argument);
}

TEST(ModuleState, ReturnedTreesAreFresh) {
  auto mlp = make_mlp();
  auto before = param_ids(*mlp);
  Tree p = mlp->parameters();
  p["layers"][0].as_dict().insert_or_assign("weight", zeros({1}));
  p["layers"].as_list().clear();
  Tree c = mlp->children();
  c.as_dict().clear();
  EXPECT_EQ(param_ids(*mlp), before);
  EXPECT_EQ(mlp->children()["layers"].size(), 3u);
}

// ---------------------------------------------------------------------------------------------
// §4 traversal: E1-E3, E21

TEST(ModuleTraversal, E1Parameters) {
  auto mlp = make_mlp();
  Tree p = mlp->parameters();
  EXPECT_EQ(keys(p), (Keys{"layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"}));
  EXPECT_EQ(p["layers"].size(), 3u);
  EXPECT_EQ(p["layers"][1], Tree(D{}));
  EXPECT_EQ(p["layers"][0]["weight"], (*mlp)["layers"][0].as_module()["weight"]);
  EXPECT_EQ(p["layers"][2]["weight"].as_array().shape(), (Shape{2, 8}));
}

TEST(ModuleTraversal, E2ProbeParameters) {
  Probe probe;
  Tree p = probe.parameters();
  EXPECT_EQ(keys(p), (Keys{"w", "d.x", "d._y", "d.sub.weight", "d.sub.bias", "l.0", "l.2.0"}));
  EXPECT_TRUE(p["l"][1].is_none());
  EXPECT_FALSE(p.contains("_cache"));
  EXPECT_FALSE(p.contains("_inner"));
}

TEST(ModuleTraversal, E3ProbeChildren) {
  Probe probe;
  Tree c = probe.children();
  EXPECT_EQ(c, Tree(D{{"d", D{{"x", none}, {"_y", none}, {"sub", probe.sub}}},
                      {"l", L{none, none, L{none}}},
                      {"_inner", probe.inner}}));
  EXPECT_EQ(keys(c), (Keys{"d.sub", "_inner"}));
  EXPECT_EQ(module_paths(probe), (Keys{"", "_inner", "d.sub"}));
}

TEST(ModuleTraversal, E21LeafModules) {
  Sequential s(std::make_shared<Sequential>(std::make_shared<ReLU>(), std::make_shared<ReLU>()),
               std::make_shared<Linear>(2, 2));
  EXPECT_EQ(keys(s.leaf_modules()), (Keys{"layers.0.layers.0", "layers.0.layers.1", "layers.1"}));
  Probe probe;
  EXPECT_EQ(keys(probe.leaf_modules()), (Keys{"d.sub", "_inner"}));
  EXPECT_EQ(probe.leaf_modules()["d"]["sub"].module_ptr(), probe.sub);
}

TEST(ModuleTraversal, FilterAndMapRules) {
  Probe probe;
  // A custom filter sees containers with dotted local keys; keys restart inside modules.
  std::vector<std::string> seen;
  probe.filter_and_map([&](const Module& owner, const std::string& k, const Tree&) {
    seen.push_back(owner.name() + ":" + k);
    return true;
  });
  EXPECT_EQ(seen, (Keys{"Probe:w", "Probe:_cache", "Probe:d", "Probe:d.x", "Probe:d._y", "Probe:d.sub", "Linear:weight",
                        "Linear:bias", "Probe:l", "Probe:l.0", "Probe:l.1", "Probe:l.2", "Probe:l.2.0", "Probe:_inner",
                        "Linear:weight", "Linear:bias"}));
  // map runs on leaves only.
  Tree shapes = probe.filter_and_map(Module::valid_parameter_filter, [](const Tree& t) {
    return t.is_array() ? Tree(array(static_cast<int>(t.as_array().size()))) : t;
  });
  EXPECT_EQ(shapes["d"]["sub"]["weight"].as_array().item<int>(), 6);
  // A custom is_leaf that lets a bare array reach the unwrap rules is an error (rule 5).
  EXPECT_TRUE(throws_exactly<std::runtime_error>(
      [&] {
        probe.filter_and_map(Module::valid_parameter_filter, {},
                             [](const Module&, const std::string&, const Tree&) { return false; });
      },
      "Unexpected leaf found while traversing the module"));
  EXPECT_TRUE(Module::valid_child_filter(probe, "_x", Tree(L{})));
  EXPECT_FALSE(Module::valid_child_filter(probe, "x", Tree(zeros({1}))));
  EXPECT_FALSE(Module::valid_parameter_filter(probe, "_x", Tree(zeros({1}))));
  EXPECT_FALSE(Module::valid_parameter_filter(probe, "x", Tree()));
}

// ---------------------------------------------------------------------------------------------
// E5 and §8 freeze / unfreeze: E6-E12

TEST(ModuleFreeze, E5TransformerBiases) {
  Transformer model;
  model.freeze();
  model.unfreeze({.keys = {"bias"}});
  auto t = trainable_keys(model);
  ASSERT_EQ(t.size(), 56u);
  for (auto& k : t) {
    EXPECT_TRUE(k.size() > 5 && k.compare(k.size() - 5, 5, ".bias") == 0) << k;
    EXPECT_EQ(k.find("attention"), std::string::npos) << k;
  }
  EXPECT_EQ(t.back(), "decoder.ln.bias");
  EXPECT_EQ((Keys(t.begin(), t.begin() + 4)), (Keys{"encoder.layers.0.ln1.bias", "encoder.layers.0.ln2.bias",
                                                     "encoder.layers.0.linear1.bias", "encoder.layers.0.linear2.bias"}));
  EXPECT_EQ(keys(model.parameters()).size(), 184u);
  EXPECT_EQ(model.trainable_parameters()["encoder"]["layers"][0]["attention"],
            Tree(D{{"query_proj", D{}}, {"key_proj", D{}}, {"value_proj", D{}}, {"out_proj", D{}}}));
}

TEST(ModuleFreeze, E6FreezeWeightTwice) {
  auto mlp = make_mlp();
  mlp->freeze({.keys = {"weight"}});
  mlp->freeze({.keys = {"weight"}});
  EXPECT_EQ(trainable_keys(*mlp), (Keys{"layers.0.bias", "layers.2.bias"}));
}

TEST(ModuleFreeze, E7NonRecursive) {
  auto mlp = make_mlp();
  mlp->freeze({.recurse = false});
  EXPECT_EQ(trainable_keys(*mlp).size(), 4u);
  mlp->freeze({.recurse = false, .keys = {"layers.0"}});
  auto& l2 = (*mlp)["layers"][2].as_module();
  EXPECT_EQ(mlp->trainable_parameters(),
            Tree(D{{"layers", L{none, D{}, D{{"weight", l2["weight"]}, {"bias", l2["bias"]}}}}}));
}

TEST(ModuleFreeze, E8DottedKeys) {
  Probe probe;
  probe.freeze({.recurse = false, .keys = {"d.x"}});
  Tree t = probe.trainable_parameters();
  EXPECT_TRUE(t["d"]["x"].is_none());
  EXPECT_EQ(keys(t), (Keys{"w", "d._y", "d.sub.weight", "d.sub.bias", "l.0", "l.2.0"}));
  probe.unfreeze();
  probe.freeze({.recurse = false, .keys = {"d"}});
  EXPECT_EQ(trainable_keys(probe), (Keys{"w", "l.0", "l.2.0"}));
}

TEST(ModuleFreeze, E9KeysAreStoredAsGiven) {
  Probe probe;
  probe.freeze();
  EXPECT_EQ(trainable_keys(probe), Keys{});
  probe.unfreeze({.keys = {"d"}});
  EXPECT_EQ(trainable_keys(probe), Keys{});
  probe.unfreeze({.recurse = false, .keys = {"d.x"}});
  EXPECT_EQ(trainable_keys(probe), (Keys{"d.x"}));
  // freeze() reached the underscore child too: it is a child even though it has no parameters.
  EXPECT_EQ(trainable_keys(*probe.inner), Keys{});
}

TEST(ModuleFreeze, E10Strict) {
  Sequential s(std::make_shared<Linear>(3, 3, false), std::make_shared<Linear>(3, 3));
  s.freeze({.keys = {"bias"}, .strict = true});
  for (auto& k : trainable_keys(s)) EXPECT_EQ(k.find("bias"), std::string::npos) << k;
  EXPECT_EQ(trainable_keys(s), (Keys{"layers.0.weight", "layers.1.weight"}));
  EXPECT_TRUE(throws_exactly<KeyError>([&] { s.freeze({.keys = {"gamma"}, .strict = true}); },
                                       "Module doesn't contain member gamma."));
  EXPECT_TRUE(throws_exactly<KeyError>([&] { s.freeze({.recurse = false, .keys = {"bias"}, .strict = true}); },
                                       "Module doesn't contain member bias."));
  EXPECT_NO_THROW(s.freeze({.recurse = false, .keys = {"layers.1"}, .strict = true}));
  EXPECT_TRUE(throws_exactly<KeyError>(
      [&] { s.freeze({.recurse = false, .keys = {"layers.1.bias"}, .strict = true}); },
      "Module doesn't contain member layers.1.bias."));
  // All keys are checked before anything changes.
  Sequential s2(std::make_shared<Linear>(3, 3));
  EXPECT_THROW(s2.freeze({.keys = {"weight", "gamma"}, .strict = true}), KeyError);
  EXPECT_EQ(trainable_keys(s2).size(), 2u);
  // Strict unfreeze; strict without keys is not checked.
  EXPECT_THROW(s2.unfreeze({.keys = {"gamma"}, .strict = true}), KeyError);
  EXPECT_NO_THROW(s2.freeze({.strict = true}));
  EXPECT_EQ(trainable_keys(s2), Keys{});
  EXPECT_NO_THROW(s2.unfreeze({.keys = {"layers.5"}, .strict = false}));
  EXPECT_THROW(s2.unfreeze({.recurse = false, .keys = {"layers.5"}, .strict = true}), KeyError);
}

TEST(ModuleFreeze, E11ThroughAChild) {
  auto mlp = make_mlp();
  mlp->freeze();
  (*mlp)["layers"][2].module_ptr()->unfreeze({.keys = {"weight"}});
  EXPECT_EQ(trainable_keys(*mlp), (Keys{"layers.2.weight"}));
  mlp->unfreeze({.recurse = false, .keys = {"bias"}});
  EXPECT_EQ(trainable_keys(*mlp), (Keys{"layers.2.weight"}));
}

TEST(ModuleFreeze, E12BatchNormStatsStayFrozen) {
  Sequential net(std::make_shared<Linear>(4, 4), std::make_shared<BatchNorm>(4));
  net.unfreeze();
  auto p = keys(net.parameters());
  ASSERT_GE(p.size(), 2u);
  EXPECT_EQ((Keys(p.end() - 2, p.end())), (Keys{"layers.1.running_mean", "layers.1.running_var"}));
  EXPECT_EQ(trainable_keys(net), (Keys{"layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"}));
}

// ---------------------------------------------------------------------------------------------
// §6 update: E18, E19

TEST(ModuleUpdate, E18Errors) {
  auto mlp = make_mlp();
  array x = ones({2});
  auto before = param_ids(*mlp);
  std::vector<std::pair<Tree, std::string>> cases = {
      {D{{"layers", L{D{{"scale", x}}}}}, "Module does not have parameter named \"scale\"."},
      {D{{"layers", L{D{}, D{}, D{}, D{}}}}, "List index 3 is out of bounds for destination of length 3."},
      {D{{"layers", L{D{{"weight", L{x}}}}}}, "Received invalid type: list."},
      {D{{"layers", L{x}}}, "Received invalid type: array."},
      {Tree(L{D{}}), "Received invalid type: list."},
  };
  for (auto& [params, msg] : cases) {
    EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { mlp->update(params); }, msg)) << params;
    EXPECT_NO_THROW(mlp->update(params, false)) << params;
    EXPECT_EQ(param_ids(*mlp), before) << params;
  }
  EXPECT_NO_THROW(mlp->update(D{}));
  EXPECT_NO_THROW(mlp->update(none));
  EXPECT_EQ(param_ids(*mlp), before);
}

TEST(ModuleUpdate, E19PartialUpdates) {
  auto mlp = make_mlp();
  mlp->update(D{{"layers", L{D{{"weight", zeros({5, 5})}}}}});
  EXPECT_EQ((*mlp)["layers"][0].as_module().repr(), "Linear(input_dims=5, output_dims=5, bias=True)");
  auto before = param_ids(*mlp);
  array y = random_array({2}, float32, -1, 1, 3);
  mlp->update(D{{"layers", L{none, none, D{{"bias", y}}}}});
  auto after = param_ids(*mlp);
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].first, before[i].first);  // key order unchanged
    if (after[i].first == "layers.2.bias") EXPECT_EQ(after[i].second, y.id());
    else EXPECT_EQ(after[i].second, before[i].second) << after[i].first;
  }
  EXPECT_EQ((*mlp)["layers"][2].as_module().state().keys(), (Keys{"weight", "bias"}));
  Probe probe;
  array z = ones({2});
  EXPECT_NO_THROW(probe.update(D{{"_cache", z}}));
  EXPECT_EQ(probe["_cache"].as_array().id(), z.id());
}

TEST(ModuleUpdate, StrictIsAllOrNothingAndNonStrictNeverOverwritesWithContainers) {
  auto mlp = make_mlp();
  auto before = param_ids(*mlp);
  // The first write is valid, the error comes later: nothing may be written.
  EXPECT_THROW(mlp->update(D{{"layers", L{D{{"weight", zeros({8, 4})}}, D{}, D{}, D{}}}}), std::invalid_argument);
  EXPECT_EQ(param_ids(*mlp), before);
  // Non-strict keeps the valid writes and skips the rest; a container never replaces an array.
  array w = zeros({8, 4});
  mlp->update(D{{"layers", L{D{{"weight", w}, {"bias", D{{"x", w}}}}, D{{"nope", w}}, D{}, D{}}}}, false);
  EXPECT_EQ((*mlp)["layers"][0].as_module()["weight"].as_array().id(), w.id());
  EXPECT_TRUE((*mlp)["layers"][0].as_module()["bias"].is_array());
  // Frozen entries are written too, and neither shape nor dtype is checked.
  mlp->freeze();
  array b = ones({7}, float16);
  mlp->update(D{{"layers", L{D{{"bias", b}}}}});
  EXPECT_EQ((*mlp)["layers"][0].as_module()["bias"].as_array().id(), b.id());
  // A module path in a dict with a missing dotted key names the local key.
  Probe probe;
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { probe.update(D{{"d", D{{"q", w}}}}); },
                                                    "Module does not have parameter named \"d.q\"."));
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { probe.update(D{{"l", L{none, w}}}); },
                                                    "Received invalid type: array."));
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { probe.update(D{{"l", D{{"0", w}}}}); },
                                                    "Module does not have parameter named \"l.0\"."));
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { probe.update(D{{"d", D{{"sub", D{{"gamma", w}}}}}}); },
                                                    "Module does not have parameter named \"gamma\"."));
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { probe.update(Tree(w)); }, "Received invalid type: array."));
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { probe.update(D{{"w", probe.sub}}); },
                                                    "Received invalid type: Linear."));
}

// ---------------------------------------------------------------------------------------------
// §7 update_modules: E20

TEST(ModuleUpdateModules, E20) {
  auto mlp = make_mlp();
  mlp->update_modules(D{{"layers", L{none, std::make_shared<GELU>()}}});
  EXPECT_NE(mlp->repr().find("(layers.1): GELU()"), std::string::npos) << mlp->repr();
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { mlp->update_modules(D{{"blocks", L{}}}); },
                                                    "Module does not have sub-module named \"blocks\"."));
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { mlp->update_modules(D{{"layers", L{ones({2})}}}); },
                                                    "Received invalid type: array."));
  Tree too_long = D{{"layers", L{none, none, none, std::make_shared<ReLU>()}}};
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { mlp->update_modules(too_long); },
                                                    "List index 3 is out of bounds for destination of length 3."));
  EXPECT_NO_THROW(mlp->update_modules(too_long, false));
  EXPECT_EQ((*mlp)["layers"].size(), 3u);
  auto repr = mlp->repr();
  auto ids = param_ids(*mlp);
  EXPECT_NO_THROW(mlp->update_modules(mlp->leaf_modules()));
  EXPECT_NO_THROW(mlp->update_modules(D{}));
  EXPECT_NO_THROW(mlp->update_modules(none));
  EXPECT_EQ(mlp->repr(), repr);
  EXPECT_EQ(param_ids(*mlp), ids);
  // Top-level values that are not dicts; a module over an array.
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { mlp->update_modules(L{std::make_shared<ReLU>()}); },
                                                    "Received invalid type: list."));
  Linear lin(2, 2);
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { lin.update_modules(D{{"weight", std::make_shared<ReLU>()}}); },
                                                    "Received invalid type: ReLU."));
  // All or nothing: the valid first replacement is not made.
  auto first = (*mlp)["layers"][0].module_ptr();
  EXPECT_THROW(mlp->update_modules(D{{"layers", L{std::make_shared<ReLU>(), none, none, std::make_shared<ReLU>()}}}),
               std::invalid_argument);
  EXPECT_EQ((*mlp)["layers"][0].module_ptr(), first);
}

// A layer swapped in by update_modules is what the parent calls next (M4).
struct Scaled : Module {
  explicit Scaled(std::shared_ptr<Module> base) { set("base", std::move(base)); }
  array operator()(const array& x) override { return multiply(call("base", x), array(2.0f)); }
};

TEST(ModuleUpdateModules, SwappedLayerIsCalled) {
  auto mlp = make_mlp();
  array x = random_array({3, 4}, float32, -1, 1, 5);
  auto y0 = values((*mlp)(x));
  auto last = (*mlp)["layers"][2].module_ptr();
  mlp->update_modules(D{{"layers", L{none, none, std::make_shared<Scaled>(last)}}});
  auto y1 = values((*mlp)(x));
  for (auto& v : y0) v *= 2;
  EXPECT_TRUE(test::all_close(y1, y0, 1e-6, 1e-6));
  EXPECT_EQ(keys(mlp->parameters()).back(), "layers.2.base.bias");
}

// ---------------------------------------------------------------------------------------------
// §5 walks and §11 printing: E22, E23

struct Net2 : Module {
  Net2() {
    set("stem", std::make_shared<Linear>(4, 8));
    set("blocks", L{std::make_shared<Sequential>(std::make_shared<Linear>(8, 8), std::make_shared<ReLU>()),
                    std::make_shared<Linear>(8, 8, false)});
    set("head", D{{"cls", std::make_shared<Linear>(8, 3)}});
    set("scale", ones({1}));
  }
};

TEST(ModuleWalk, E22OrderAndRepr) {
  Net2 net2;
  EXPECT_EQ(module_paths(net2),
            (Keys{"", "head.cls", "blocks.1", "blocks.0", "blocks.0.layers.1", "blocks.0.layers.0", "stem"}));
  EXPECT_EQ(net2.repr(),
            "Net2(\n"
            "  (stem): Linear(input_dims=4, output_dims=8, bias=True)\n"
            "  (blocks.0): Sequential(\n"
            "    (layers.0): Linear(input_dims=8, output_dims=8, bias=True)\n"
            "    (layers.1): ReLU()\n"
            "  )\n"
            "  (blocks.1): Linear(input_dims=8, output_dims=8, bias=False)\n"
            "  (head.cls): Linear(input_dims=8, output_dims=3, bias=True)\n"
            ")");
  std::ostringstream os;
  os << net2;
  EXPECT_EQ(os.str(), net2.repr());
  EXPECT_EQ(Sequential().repr(), "Sequential()");
  // apply_to_modules passes the same paths and modules.
  std::vector<std::string> paths;
  std::vector<Module*> mods;
  net2.apply_to_modules([&](const std::string& p, Module& m) {
    paths.push_back(p);
    mods.push_back(&m);
  });
  EXPECT_EQ(paths, module_paths(net2));
  EXPECT_EQ(mods, net2.modules());
  EXPECT_EQ(mods[0], &net2);
}

TEST(ModuleWalk, E17SharedModuleKeysAndPaths) {
  auto sh = std::make_shared<Linear>(2, 2);
  Module t;
  t.set("a", sh);
  t.set("b", sh);
  EXPECT_EQ(keys(t.parameters()), (Keys{"a.weight", "a.bias", "b.weight", "b.bias"}));
  auto nm = t.named_modules();
  ASSERT_EQ(nm.size(), 3u);
  EXPECT_EQ(nm[1].first, "b");
  EXPECT_EQ(nm[2].first, "a");
  EXPECT_EQ(nm[1].second, sh.get());
  EXPECT_EQ(nm[2].second, sh.get());
}

struct CountingMode : Module {
  int calls = 0;
  void set_training_mode(bool mode) override {
    ++calls;
    Module::set_training_mode(mode);
  }
};

TEST(ModuleWalk, E23TrainEval) {
  auto mlp = make_mlp();
  mlp->freeze().unfreeze().eval();
  auto mods = mlp->modules();
  ASSERT_EQ(mods.size(), 4u);
  for (auto* m : mods) EXPECT_FALSE(m->training());
  mlp->train();
  for (auto* m : mods) EXPECT_TRUE(m->training());
  // train calls the override on every module, underscore children included.
  Module root;
  auto c = std::make_shared<CountingMode>();
  root.set("_hidden", D{{"c", c}});
  root.eval();
  EXPECT_EQ(c->calls, 1);
  EXPECT_FALSE(c->training());
  EXPECT_NE(root.repr().find("(_hidden.c): CountingMode()"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// §9 apply / set_dtype: E24

struct Typed : Module {
  Typed() {
    set("w", ones({2}));
    set("idx", array({1, 2}, int32));
    set("_c", ones({2}));
  }
};

TEST(ModuleApply, E24SetDtype) {
  Typed m;
  auto& self = m.set_dtype(bfloat16);
  EXPECT_EQ(&self, &m);
  EXPECT_EQ(m["w"].as_array().dtype(), bfloat16);
  EXPECT_EQ(m["idx"].as_array().dtype(), int32);
  EXPECT_EQ(m["_c"].as_array().dtype(), float32);
  auto ids = param_ids(m);
  m.set_dtype(float16, [](Dtype) { return false; });
  EXPECT_EQ(param_ids(m), ids);
  EXPECT_EQ(m["w"].as_array().dtype(), bfloat16);
  m.set_dtype(int16, {});
  EXPECT_EQ(m["w"].as_array().dtype(), int16);
  EXPECT_EQ(m["idx"].as_array().dtype(), int16);
  EXPECT_EQ(m["_c"].as_array().dtype(), float32);
  EXPECT_EQ(values(m["idx"].as_array()), (std::vector<double>{1, 2}));
}

TEST(ModuleApply, ApplyMapsSelectedArrays) {
  auto mlp = make_mlp();
  mlp->freeze();  // frozen arrays are mapped too
  auto w = values((*mlp)["layers"][0].as_module().param("weight"));
  mlp->apply([](const array& a) { return multiply(a, array(3.0f)); });
  auto w3 = values((*mlp)["layers"][0].as_module().param("weight"));
  for (auto& v : w) v *= 3;
  EXPECT_TRUE(test::all_close(w3, w, 1e-6, 1e-6));
  // A custom filter selects by local key; it must accept containers to reach inside.
  Probe probe;
  auto ids = param_ids(probe);
  probe.apply([](const array& a) { return add(a, array(1.0f)); },
              [](const Module&, const std::string& k, const Tree& v) { return v.is_module() || k == "d" || k == "bias"; });
  auto after = param_ids(probe);
  for (size_t i = 0; i < ids.size(); ++i) {
    bool changed = after[i].first == "d.sub.bias";
    EXPECT_EQ(after[i].second != ids[i].second, changed) << after[i].first;
  }
  EXPECT_EQ(values(probe["_cache"].as_array()), (std::vector<double>{0, 0}));
}

// ---------------------------------------------------------------------------------------------
// §10 weights I/O: E25-E27

std::filesystem::path temp_dir() {
  auto d = std::filesystem::temp_directory_path() / ("mica_module_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d;
}

TEST(ModuleWeights, E25StrictErrors) {
  Linear lin(3, 2);
  auto ids = param_ids(lin);
  EXPECT_TRUE(throws_exactly<std::invalid_argument>(
      [&] {
        lin.load_weights({{"weight", ones({2, 3})}, {"bias", zeros({2})}, {"scale", ones({1})}, {"alpha", ones({1})}});
      },
      "Received 2 parameters not in model: \nalpha,\nscale."));
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { lin.load_weights({{"weight", ones({2, 3})}}); },
                                                    "Missing 1 parameters: \nbias."));
  EXPECT_TRUE(throws_exactly<std::invalid_argument>(
      [&] { lin.load_weights({{"weight", ones({2, 3})}, {"bias", zeros({2, 1})}}); },
      "Expected shape (2,) but received shape (2, 1) for parameter bias"));
  // Extra keys are reported even when keys are also missing.
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { lin.load_weights({{"zeta", ones({1})}}); },
                                                    "Received 1 parameters not in model: \nzeta."));
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { lin.load_weights(std::vector<std::pair<std::string, array>>{}); },
                                                    "Missing 2 parameters: \nbias,\nweight."));
  EXPECT_EQ(param_ids(lin), ids);  // every failure left the model unchanged
  // Duplicate keys are an error of tree_unflatten, also before anything is written.
  EXPECT_THROW(lin.load_weights({{"weight", ones({2, 3})}, {"bias", zeros({2})}, {"bias", zeros({2})}}),
               std::invalid_argument);
  EXPECT_EQ(param_ids(lin), ids);
  // dtype is not checked: a float16 bias loads and stays float16.
  array b16 = zeros({2}, float16);
  lin.load_weights({{"weight", ones({2, 3})}, {"bias", b16}});
  EXPECT_EQ(lin["bias"].as_array().dtype(), float16);
  EXPECT_EQ(lin["bias"].as_array().id(), b16.id());
  // Frozen parameters are required like the others.
  lin.freeze();
  EXPECT_THROW(lin.load_weights({{"weight", ones({2, 3})}}), std::invalid_argument);
}

TEST(ModuleWeights, E26NonStrict) {
  Linear lin(3, 2);
  array w = ones({2, 3});
  lin.load_weights({{"weight", w}, {"wieght", ones({9})}}, false);
  EXPECT_EQ(lin["weight"].as_array().id(), w.id());
  Sequential s(std::make_shared<Linear>(2, 2));
  array w0 = random_array({2, 2}, float32, -1, 1, 7);
  s.load_weights({{"layers.0.weight", w0}, {"layers.0.bias", zeros({2})}, {"layers.1.weight", ones({2, 2})},
                  {"layers.1.bias", ones({2})}},
                 false);
  EXPECT_EQ(s["layers"].size(), 1u);
  EXPECT_EQ(s["layers"][0].as_module()["weight"].as_array().id(), w0.id());
  lin.load_weights({{"bias", zeros({7})}}, false);
  EXPECT_EQ(lin["bias"].as_array().shape(), (Shape{7}));
  EXPECT_NO_THROW(lin.load_weights(std::vector<std::pair<std::string, array>>{}, false));
}

void expect_bit_equal(const Module& a, const Module& b) {
  auto pa = tree_flatten_arrays(a.parameters());
  auto pb = tree_flatten_arrays(b.parameters());
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i].first, pb[i].first);
    array x = pa[i].second, y = pb[i].second;
    EXPECT_EQ(x.dtype(), y.dtype());
    ASSERT_EQ(x.shape(), y.shape());
    EXPECT_TRUE(array_equal(x, y).item<bool>()) << pa[i].first;
    EXPECT_NE(x.id(), y.id());
  }
}

TEST(ModuleWeights, E27SaveAndLoad) {
  auto dir = temp_dir();
  auto mlp = make_mlp();
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { mlp->save_weights("m.pt"); },
                                                    "Unsupported file extension for m.pt. Use '.npz' or '.safetensors'."));
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { mlp->load_weights("m.gguf"); },
                                                    "Unsupported file extension for m.gguf. Use '.npz' or '.safetensors'."));
  mlp->freeze();  // frozen parameters are saved too
  for (const char* name : {"m.safetensors", "m.npz"}) {
    std::string path = (dir / name).string();
    mlp->save_weights(path);
    auto fresh = make_mlp();
    fresh->load_weights(path);
    expect_bit_equal(*mlp, *fresh);
    std::unordered_map<std::string, array> file =
        std::string(name).ends_with(".npz") ? load_npz(path) : load_safetensors(path).first;
    std::vector<std::string> file_keys;
    for (auto& [k, v] : file) file_keys.push_back(k);
    std::sort(file_keys.begin(), file_keys.end());
    EXPECT_EQ(file_keys, (Keys{"layers.0.bias", "layers.0.weight", "layers.2.bias", "layers.2.weight"})) << name;
  }
  // _ entries are not saved; a shared array is written once per path.
  Probe probe;
  std::string ppath = (dir / "probe.safetensors").string();
  probe.save_weights(ppath);
  EXPECT_EQ(load_safetensors(ppath).first.size(), keys(probe.parameters()).size());
  std::filesystem::remove_all(dir);
}

TEST(ModuleWeights, CorruptOrMismatchedFileLeavesModelUnchanged) {
  auto dir = temp_dir();
  auto mlp = make_mlp();
  auto ids = param_ids(*mlp);
  std::string bad = (dir / "bad.safetensors").string();
  {
    std::ofstream f(bad, std::ios::binary);
    f << "this is not a safetensors file at all";
  }
  EXPECT_ANY_THROW(mlp->load_weights(bad));
  EXPECT_EQ(param_ids(*mlp), ids);
  std::string badz = (dir / "bad.npz").string();
  {
    std::ofstream f(badz, std::ios::binary);
    f << "PK\x03\x04 truncated";
  }
  EXPECT_ANY_THROW(mlp->load_weights(badz));
  EXPECT_EQ(param_ids(*mlp), ids);
  EXPECT_ANY_THROW(mlp->load_weights((dir / "missing.npz").string()));
  // A truncated copy of a good file.
  std::string good = (dir / "good.safetensors").string();
  mlp->save_weights(good);
  auto size = std::filesystem::file_size(good);
  std::filesystem::resize_file(good, size - 7);
  EXPECT_ANY_THROW(mlp->load_weights(good));
  EXPECT_EQ(param_ids(*mlp), ids);
  // A well-formed file of another model: a clear error and no change.
  Sequential other(std::make_shared<Linear>(4, 3));
  std::string wrong = (dir / "wrong.npz").string();
  other.save_weights(wrong);
  EXPECT_THROW(mlp->load_weights(wrong), std::invalid_argument);
  EXPECT_EQ(param_ids(*mlp), ids);
  std::filesystem::remove_all(dir);
}

// ---------------------------------------------------------------------------------------------
// Layers: Linear and Sequential against double-precision loops; a user MLP in a few lines.

// y[i][o] = sum_k x[i][k] * w[o][k] + b[o]
std::vector<double> linear_ref(const std::vector<double>& x, const std::vector<double>& w, const std::vector<double>& b,
                               int n, int in, int out) {
  std::vector<double> y(static_cast<size_t>(n * out));
  for (int i = 0; i < n; ++i)
    for (int o = 0; o < out; ++o) {
      double s = b.empty() ? 0.0 : b[o];
      for (int k = 0; k < in; ++k) s += x[i * in + k] * w[o * in + k];
      y[i * out + o] = s;
    }
  return y;
}

TEST(Layers, LinearInitAndForward) {
  Linear lin(16, 5);
  array w = lin.param("weight"), b = lin.param("bias");
  EXPECT_EQ(w.shape(), (Shape{5, 16}));
  EXPECT_EQ(b.shape(), (Shape{5}));
  EXPECT_EQ(w.dtype(), float32);
  double bound = 1.0 / std::sqrt(16.0);
  auto wv = values(w), bv = values(b);
  double lo = 1, hi = -1;
  for (double v : wv) {
    EXPECT_LE(std::fabs(v), bound);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  EXPECT_LT(lo, -bound / 2);  // spread over the range, not a constant
  EXPECT_GT(hi, bound / 2);
  for (double v : bv) EXPECT_LE(std::fabs(v), bound);
  EXPECT_EQ(lin.extra_repr(), "input_dims=16, output_dims=5, bias=True");

  array x = random_array({3, 16}, float32, -2, 2, 9);
  EXPECT_TRUE(test::matches(lin(x), {3, 5}, linear_ref(values(x), wv, bv, 3, 16, 5), 1e-5, 1e-5));
  Linear nob(16, 5, false);
  EXPECT_FALSE(nob.contains("bias"));
  EXPECT_TRUE(test::matches(nob(x), {3, 5}, linear_ref(values(x), values(nob.param("weight")), {}, 3, 16, 5), 1e-5, 1e-5));
  // Batched input (2, 3, 16).
  array xb = random_array({2, 3, 16}, float32, -2, 2, 10);
  EXPECT_TRUE(test::matches(lin(xb), {2, 3, 5}, linear_ref(values(xb), wv, bv, 6, 16, 5), 1e-5, 1e-5));
  // Bad input.
  EXPECT_THROW(lin(random_array({3, 7}, float32)), std::invalid_argument);
  EXPECT_THROW(Linear(-1, 3), std::invalid_argument);
  EXPECT_THROW(Sequential(std::vector<std::shared_ptr<Module>>{nullptr}), std::invalid_argument);
}

// The "two-layer MLP in about ten lines" of the issue.
struct MLP : Module {
  MLP(int in, int hidden, int out) {
    set("fc1", std::make_shared<Linear>(in, hidden));
    set("fc2", std::make_shared<Linear>(hidden, out));
  }
  array operator()(const array& x) override { return call("fc2", maximum(call("fc1", x), array(0.0f))); }
};

TEST(Layers, UserMlpAndSequentialMatchReference) {
  MLP m(4, 6, 3);
  array x = random_array({5, 4}, float32, -2, 2, 21);
  auto& fc1 = *m.child<Linear>("fc1");
  auto& fc2 = *m.child<Linear>("fc2");
  auto h = linear_ref(values(x), values(fc1.param("weight")), values(fc1.param("bias")), 5, 4, 6);
  for (auto& v : h) v = std::max(v, 0.0);
  auto want = linear_ref(h, values(fc2.param("weight")), values(fc2.param("bias")), 5, 6, 3);
  EXPECT_TRUE(test::matches(m(x), {5, 3}, want, 1e-5, 1e-5));
  EXPECT_EQ(keys(m.parameters()), (Keys{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}));

  // The same network as a Sequential reading the same arrays.
  Sequential s(m.child<Linear>("fc1"), std::make_shared<ReLU>(), m.child<Linear>("fc2"));
  EXPECT_TRUE(test::matches(s(x), {5, 3}, want, 1e-5, 1e-5));
  // After update() the forward uses the new arrays (state is the only source of truth).
  m.update(D{{"fc2", D{{"bias", ones({3})}}}});
  auto want2 = linear_ref(h, values(fc2.param("weight")), std::vector<double>(3, 1.0), 5, 6, 3);
  EXPECT_TRUE(test::matches(m(x), {5, 3}, want2, 1e-5, 1e-5));
}

}  // namespace
}  // namespace mica::nntest
