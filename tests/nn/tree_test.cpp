// mica::Tree and the tree utilities (spec/module.md §1-§2, acceptance examples E28-E30).
#include <map>
#include <sstream>
#include <thread>

#include "nn/nn_test_util.h"

namespace mica::nntest {
namespace {

using test::random_array;

struct Arrays {
  array x = random_array({2}, float32, -2, 2, 11);
  array y = random_array({2}, float32, -2, 2, 12);
  array z = random_array({3}, float32, -2, 2, 13);
  array u = random_array({2}, float32, -2, 2, 14);
  array v = random_array({2}, float32, -2, 2, 15);
  array w = random_array({2}, float32, -2, 2, 16);
};

using Keys = std::vector<std::string>;

// ---------------------------------------------------------------------------------------------
// Tree basics

TEST(Tree, KindsSizesAndAccess) {
  Arrays a;
  Tree n;
  EXPECT_TRUE(n.is_none());
  EXPECT_TRUE(n.empty());
  EXPECT_EQ(n.size(), 0u);
  EXPECT_EQ(n.kind(), Tree::Kind::none);

  Tree t = D{{"a", L{a.x, none}}, {"b", a.y}};
  EXPECT_TRUE(t.is_dict());
  EXPECT_FALSE(t.empty());
  EXPECT_EQ(t.size(), 2u);
  EXPECT_TRUE(t.contains("a"));
  EXPECT_FALSE(t.contains("c"));
  EXPECT_FALSE(t["a"].contains("0"));  // lists hold no keys
  EXPECT_TRUE(t["a"].is_list());
  EXPECT_EQ(t["a"].size(), 2u);
  EXPECT_TRUE(t["a"][0].is_array());
  EXPECT_EQ(t["a"][0].as_array().id(), a.x.id());
  EXPECT_TRUE(t["a"][1].is_none());
  EXPECT_EQ(t.at("b").as_array().id(), a.y.id());
  EXPECT_TRUE(Tree(D{}).empty());
  EXPECT_TRUE(Tree(L{}).empty());
  EXPECT_FALSE(Tree(a.x).empty());

  auto lin = std::make_shared<Linear>(2, 3);
  Tree m = lin;
  EXPECT_TRUE(m.is_module());
  EXPECT_TRUE(is_module(m));
  EXPECT_EQ(&m.as_module(), lin.get());
  EXPECT_EQ(m.module_ptr(), lin);
  EXPECT_EQ(m.kind_name(), "Linear");
  // at never inserts: a failed lookup leaves the dict as it was.
  EXPECT_THROW(t.at("zz"), KeyError);
  EXPECT_EQ(t.size(), 2u);
}

TEST(Tree, Errors) {
  Arrays a;
  Tree t = D{{"a", L{a.x}}};
  EXPECT_TRUE(throws_exactly<KeyError>([&] { t.at("nope"); }, "[Tree] Key \"nope\" not found."));
  EXPECT_TRUE(throws_exactly<KeyError>([&] { (void)std::as_const(t)["nope"]; }, "[Tree] Key \"nope\" not found."));
  EXPECT_TRUE(throws_exactly<std::out_of_range>([&] { t["a"][1]; },
                                                "[Tree] Index 1 is out of bounds for list of length 1."));
  EXPECT_TRUE(throws_exactly<std::out_of_range>([&] { t["a"][-1]; },
                                                "[Tree] Index -1 is out of bounds for list of length 1."));
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { t.as_list(); }, "[Tree] Expected list but found dict."));
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { t["a"].as_array(); }, "[Tree] Expected array but found list."));
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { t["a"][0].as_dict(); }, "[Tree] Expected dict but found array."));
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { Tree().as_module(); }, "[Tree] Expected module but found none."));
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { t[0]; }, "[Tree] Expected list but found dict."));
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { t["a"]["k"]; }, "[Tree] Expected dict but found list."));
  auto lin = std::make_shared<Linear>(2, 2);
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { Tree(lin).as_array(); }, "[Tree] Expected array but found Linear."));
  std::shared_ptr<Linear> null;
  EXPECT_THROW(Tree{null}, std::invalid_argument);
  EXPECT_THROW(Tree(std::shared_ptr<Module>()), std::invalid_argument);
}

TEST(Tree, OrderedDictOrder) {
  Arrays a;
  D d{{"a", a.x}, {"b", a.y}, {"c", a.z}};
  d.insert_or_assign("a", a.u);  // existing key keeps its place
  EXPECT_EQ(d.keys(), (Keys{"a", "b", "c"}));
  EXPECT_EQ(d.at("a").as_array().id(), a.u.id());
  d.insert_or_assign("d", a.v);  // new key is appended
  EXPECT_EQ(d.keys(), (Keys{"a", "b", "c", "d"}));
  EXPECT_TRUE(d.erase("b"));
  EXPECT_FALSE(d.erase("b"));
  EXPECT_EQ(d.keys(), (Keys{"a", "c", "d"}));
  d.insert_or_assign("b", a.w);
  EXPECT_EQ(d.keys(), (Keys{"a", "c", "d", "b"}));
  // A repeated key in an initializer list keeps its first position and last value.
  D r{{"k", a.x}, {"j", a.y}, {"k", a.z}};
  EXPECT_EQ(r.keys(), (Keys{"k", "j"}));
  EXPECT_EQ(r.at("k").as_array().id(), a.z.id());
  EXPECT_THROW(r.at("q"), KeyError);
}

TEST(Tree, CopyDuplicatesContainersAndSharesLeaves) {
  Arrays a;
  auto lin = std::make_shared<Linear>(2, 2);
  Tree t = D{{"l", L{a.x, lin}}, {"d", D{{"y", a.y}}}};
  Tree c = t;
  EXPECT_EQ(c, t);
  c["l"].as_list().push_back(a.z);
  c["d"].as_dict().insert_or_assign("q", a.u);
  c["l"][0] = a.v;
  EXPECT_EQ(t["l"].size(), 2u);
  EXPECT_FALSE(t["d"].contains("q"));
  EXPECT_EQ(t["l"][0].as_array().id(), a.x.id());
  EXPECT_EQ(c["l"][1].module_ptr(), lin);  // module pointer shared
  EXPECT_EQ(c["d"]["y"].as_array().id(), a.y.id());
}

TEST(Tree, AssignFromOwnSubtreeAndMove) {
  Arrays a;
  Tree t = D{{"enc", D{{"w", a.x}, {"l", L{a.y}}}}, {"b", a.z}};
  t = t["enc"];  // the source lives inside the destination
  EXPECT_EQ(t, Tree(D{{"w", a.x}, {"l", L{a.y}}}));
  t = std::move(t["l"]);
  EXPECT_EQ(t, Tree(L{a.y}));
  t = t[0];
  EXPECT_EQ(t, Tree(a.y));
  Tree m = D{{"k", a.u}};
  Tree n = std::move(m);
  EXPECT_TRUE(m.is_none());  // a moved-from tree is none
  EXPECT_EQ(n, Tree(D{{"k", a.u}}));
  const Tree& self = n;
  n = self;
  EXPECT_EQ(n, Tree(D{{"k", a.u}}));
  n = a.v;
  EXPECT_EQ(n, Tree(a.v));
}

TEST(Tree, Equality) {
  Arrays a;
  auto l1 = std::make_shared<Linear>(2, 2);
  auto l2 = std::make_shared<Linear>(2, 2);
  EXPECT_EQ(Tree(a.x), Tree(a.x));
  EXPECT_NE(Tree(a.x), Tree(a.y));
  array copy = a.x;  // same node: equal
  EXPECT_EQ(Tree(copy), Tree(a.x));
  EXPECT_NE(Tree(add(a.x, array(0.0f))), Tree(a.x));  // equal values, another node
  EXPECT_EQ(Tree(l1), Tree(l1));
  EXPECT_NE(Tree(l1), Tree(l2));
  // none, {} and [] are distinct.
  EXPECT_NE(Tree(), Tree(D{}));
  EXPECT_NE(Tree(), Tree(L{}));
  EXPECT_NE(Tree(D{}), Tree(L{}));
  // Dict key order matters.
  EXPECT_NE(Tree(D{{"a", a.x}, {"b", a.y}}), Tree(D{{"b", a.y}, {"a", a.x}}));
  EXPECT_EQ(Tree(D{{"a", L{a.x, none}}}), Tree(D{{"a", L{a.x, none}}}));
  EXPECT_NE(Tree(L{a.x}), Tree(L{a.x, none}));
}

TEST(Tree, Printing) {
  Arrays a;
  auto lin = std::make_shared<Linear>(2, 2);
  Tree t = D{{"a", L{a.x, none}}, {"m", lin}, {"e", D{}}};
  std::ostringstream os;
  os << t;
  EXPECT_EQ(os.str(), "{a: [array((2,), float32), none], m: <Linear>, e: {}}");
}

// ---------------------------------------------------------------------------------------------
// E28: tree_flatten

TEST(TreeFlatten, E28) {
  Arrays a;
  auto f = tree_flatten(D{{"a", L{a.x, D{}}}, {"b", none}, {"c", D{{"d", a.y}}}});
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].first, "a.0");
  EXPECT_EQ(f[0].second.as_array().id(), a.x.id());
  EXPECT_EQ(f[1].first, "c.d");
  EXPECT_EQ(f[1].second.as_array().id(), a.y.id());

  auto p = tree_flatten(L{L{a.x}}, "p");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].first, "p.0.0");
  auto r = tree_flatten(a.x);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].first, "");
  EXPECT_EQ(tree_flatten(a.x, "root")[0].first, "root");
  EXPECT_TRUE(tree_flatten(none).empty());
  EXPECT_TRUE(tree_flatten(D{}).empty());
  EXPECT_TRUE(tree_flatten(L{none, L{}, D{}}).empty());
}

TEST(TreeFlatten, ModulesAreLeavesAndIsLeaf) {
  Arrays a;
  auto lin = std::make_shared<Linear>(2, 2);
  auto f = tree_flatten(D{{"m", lin}, {"l", L{a.x, D{{"k", a.y}}}}});
  EXPECT_EQ(keys(D{{"m", lin}, {"l", L{a.x, D{{"k", a.y}}}}}), (Keys{"m", "l.0", "l.1.k"}));
  EXPECT_EQ(f[0].second.module_ptr(), lin);
  // is_leaf stops the descent at dicts.
  auto g = tree_flatten(D{{"l", L{a.x, D{{"k", a.y}}}}}, "", [](const Tree& t) { return t.is_dict() && t.contains("k"); });
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[1].first, "l.1");
  EXPECT_TRUE(g[1].second.is_dict());

  auto arrays = tree_flatten_arrays(D{{"l", L{a.x, D{{"k", a.y}}}}}, "p");
  ASSERT_EQ(arrays.size(), 2u);
  EXPECT_EQ(arrays[0].first, "p.l.0");
  EXPECT_EQ(arrays[1].second.id(), a.y.id());
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { tree_flatten_arrays(D{{"m", lin}}); },
                                                    "[tree_flatten] The argument should contain only arrays"));
}

// ---------------------------------------------------------------------------------------------
// E29: tree_unflatten

TEST(TreeUnflatten, E29) {
  Arrays a;
  EXPECT_EQ(tree_unflatten(Flat{{"h.1", a.x}, {"h.3", a.y}}), Tree(D{{"h", L{none, a.x, none, a.y}}}));
  EXPECT_EQ(tree_unflatten(Flat{{"2", a.z}, {"0", a.x}}), Tree(L{a.x, none, a.z}));
  EXPECT_EQ(tree_unflatten(Flat{{"01", a.x}, {"2", a.y}}), Tree(D{{"01", a.x}, {"2", a.y}}));
  EXPECT_EQ(tree_unflatten(Flat{}), Tree(D{}));
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { tree_unflatten(Flat{{"w", a.x}, {"w.g", a.y}}); },
                                                    "[tree_unflatten] Key \"w\" is both a leaf and a prefix."));
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { tree_unflatten(Flat{{"a.b", a.x}, {"a.b", a.y}}); },
                                                    "[tree_unflatten] Duplicate key \"a.b\"."));
}

TEST(TreeUnflatten, MoreCases) {
  Arrays a;
  // A single item with key "" is the value itself.
  EXPECT_EQ(tree_unflatten(Flat{{"", a.x}}), Tree(a.x));
  // Non-canonical indices make dicts.
  EXPECT_TRUE(tree_unflatten(Flat{{"-1", a.x}}).is_dict());
  EXPECT_TRUE(tree_unflatten(Flat{{" 1", a.x}}).is_dict());
  EXPECT_TRUE(tree_unflatten(Flat{{"0", a.x}, {"a", a.y}}).is_dict());
  // Dicts keep first-appearance order; groups are recursive.
  Tree t = tree_unflatten(Flat{{"b.x", a.x}, {"a", a.y}, {"b.y.0", a.z}});
  EXPECT_EQ(t, Tree(D{{"b", D{{"x", a.x}, {"y", L{a.z}}}}, {"a", a.y}}));
  // The prefix-clash error names the full path, either order.
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { tree_unflatten(Flat{{"m.l.0.w", a.x}, {"m.l.0", a.y}}); },
                                                    "[tree_unflatten] Key \"m.l.0\" is both a leaf and a prefix."));
  // Absurd list indices (a corrupt checkpoint) are refused rather than allocated.
  EXPECT_THROW(tree_unflatten(Flat{{"layers.99999999999.w", a.x}}), std::invalid_argument);
  // Overloads: (key, array) pairs and maps.
  std::vector<std::pair<std::string, array>> pairs{{"l.1", a.x}, {"l.0", a.y}};
  EXPECT_EQ(tree_unflatten(pairs), Tree(D{{"l", L{a.y, a.x}}}));
  std::map<std::string, array> m{{"b", a.x}, {"a.k", a.y}};
  EXPECT_EQ(tree_unflatten(m), Tree(D{{"a", D{{"k", a.y}}}, {"b", a.x}}));
  std::unordered_map<std::string, array> um{{"q", a.z}};
  EXPECT_EQ(tree_unflatten(um), Tree(D{{"q", a.z}}));
}

TEST(TreeUnflatten, RoundTrip) {
  Arrays a;
  auto lin = std::make_shared<Linear>(2, 2);
  Tree t = D{{"enc", D{{"layers", L{D{{"w", a.x}, {"b", a.y}}, D{{"w", a.z}}}}}}, {"m", lin}, {"s", a.u}};
  EXPECT_EQ(tree_unflatten(tree_flatten(t)), t);
  // Empty subtrees and trailing gaps are lost.
  Tree lossy = D{{"a", L{a.x, D{}, D{}}}, {"b", D{}}};
  EXPECT_EQ(tree_unflatten(tree_flatten(lossy)), Tree(D{{"a", L{a.x}}}));
}

// ---------------------------------------------------------------------------------------------
// E30: tree_map, tree_map_with_path, tree_reduce, tree_merge

Tree add_leaves(const Tree& t, const std::vector<Tree>& rest) { return add(t.as_array(), rest[0].as_array()); }

TEST(TreeMap, E30AddWithRest) {
  Arrays a;
  Tree out = tree_map(add_leaves, D{{"p", L{a.x, a.y}}}, {D{{"p", L{a.u, a.v, a.w}}, {"q", a.z}}});
  ASSERT_TRUE(out.is_dict());
  EXPECT_EQ(out.as_dict().keys(), (Keys{"p"}));
  ASSERT_EQ(out["p"].size(), 2u);
  auto xs = values(a.x), ys = values(a.y), us = values(a.u), vs = values(a.v);
  std::vector<double> want0{xs[0] + us[0], xs[1] + us[1]}, want1{ys[0] + vs[0], ys[1] + vs[1]};
  EXPECT_TRUE(test::all_close(values(out["p"][0].as_array()), want0, 1e-6, 1e-6));
  EXPECT_TRUE(test::all_close(values(out["p"][1].as_array()), want1, 1e-6, 1e-6));

  EXPECT_TRUE(throws_exactly<KeyError>([&] { tree_map(add_leaves, D{{"p", L{a.x, a.y}}}, {D{{"q", a.z}}}); },
                                       "[tree_map] Key \"p\" is missing from an additional tree."));
  // {Tree(L{...})}: a bare {L{...}} would copy the list itself as the vector of rest trees.
  EXPECT_TRUE(throws_exactly<std::out_of_range>([&] { tree_map(add_leaves, L{a.x, a.y}, {Tree(L{a.u})}); },
                                                "[tree_map] Index 1 is missing from an additional tree."));
  EXPECT_TRUE(throws_exactly<std::invalid_argument>(
      [&] { tree_map(add_leaves, D{{"p", L{a.x}}}, {D{{"p", D{{"0", a.u}}}}}); },
      "[tree_map] Additional input tree is not a valid prefix of the first tree."));
  EXPECT_TRUE(throws_exactly<std::invalid_argument>(
      [&] { tree_map(add_leaves, L{a.x}, {a.u}); },
      "[tree_map] Additional input tree is not a valid prefix of the first tree."));
}

TEST(TreeMap, StructureNoneAndLeafContainers) {
  Arrays a;
  int calls = 0;
  auto neg = [&](const Tree& t) {
    ++calls;
    return Tree(negative(t.as_array()));
  };
  Tree src = D{{"a", L{a.x, none, L{}}}, {"b", D{}}, {"c", none}};
  Tree out = tree_map(neg, src);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(out["a"].size(), 3u);
  EXPECT_TRUE(out["a"][1].is_none());
  EXPECT_EQ(out["a"][2], Tree(L{}));
  EXPECT_EQ(out["b"], Tree(D{}));
  EXPECT_TRUE(out["c"].is_none());
  auto want = values(a.x);
  for (auto& v : want) v = -v;
  EXPECT_TRUE(test::all_close(values(out["a"][0].as_array()), want, 0, 0));

  // fn may return any tree; a rest container at a leaf position is handed over as is.
  Tree got = tree_map([](const Tree& t, const std::vector<Tree>& r) { return Tree(L{t, r[0]}); }, D{{"k", a.x}},
                      {D{{"k", D{{"deep", a.y}}}}});
  EXPECT_EQ(got, Tree(D{{"k", L{a.x, D{{"deep", a.y}}}}}));
  // Modules are leaves.
  auto lin = std::make_shared<Linear>(2, 2);
  Tree names = tree_map([](const Tree& t) { return Tree(D{{t.kind_name(), t}}); }, L{lin});
  EXPECT_EQ(names, Tree(L{D{{"Linear", lin}}}));
  // is_leaf hands whole containers to fn.
  Tree sizes = tree_map([](const Tree& t) { return Tree(array(static_cast<int>(t.size()))); },
                        D{{"l", L{a.x, a.y}}}, [](const Tree& t) { return t.is_list(); });
  EXPECT_EQ(sizes["l"].as_array().item<int>(), 2);
}

TEST(TreeMap, WithPath) {
  Arrays a;
  std::vector<std::string> visited;
  auto rec = [&](const std::string& p, const Tree& t, const std::vector<Tree>&) {
    visited.push_back(p);
    return t;
  };
  Tree out = tree_map_with_path(rec, D{{"m", L{D{{"w", a.x}, {"b", a.y}}, none}}, {"s", a.z}});
  EXPECT_EQ(visited, (Keys{"m.0.w", "m.0.b", "s"}));
  EXPECT_TRUE(out["m"][1].is_none());
  visited.clear();
  tree_map_with_path(rec, D{{"a", L{a.x}}}, {}, {}, "root");
  EXPECT_EQ(visited, (Keys{"root.a.0"}));
  visited.clear();
  tree_map_with_path(rec, a.x, {}, {}, "root");
  EXPECT_EQ(visited, (Keys{"root"}));
  // Rest trees work with paths too, with the same errors.
  EXPECT_THROW(tree_map_with_path(rec, D{{"a", a.x}}, {D{}}), KeyError);
}

TEST(TreeReduce, E30SizesOfMlpParameters) {
  auto mlp = make_mlp();
  int n = tree_reduce<int>([](int acc, const Tree& t) { return acc + static_cast<int>(t.as_array().size()); },
                           mlp->parameters(), 0);
  EXPECT_EQ(n, 58);  // 4*8 + 8 + 8*2 + 2
}

TEST(TreeReduce, OrderInitAndEmpty) {
  Arrays a;
  Tree t = D{{"b", L{a.x, D{{"c", a.y}}}}, {"a", a.z}};
  auto order = tree_reduce<std::string>([](std::string acc, const Tree& l) { return acc + std::to_string(l.as_array().size()); },
                                        t, "");
  EXPECT_EQ(order, "223");
  EXPECT_EQ(tree_reduce<int>([](int acc, const Tree&) { return acc + 1; }, D{{"e", L{}}}, 7), 7);
  EXPECT_FALSE(tree_reduce([](Tree acc, const Tree&) { return acc; }, Tree(D{{"e", none}})).has_value());
  auto first = tree_reduce([](Tree acc, const Tree& l) { return Tree(add(acc.as_array(), l.as_array())); }, Tree(L{a.x, a.y, a.u}));
  ASSERT_TRUE(first.has_value());
  auto xs = values(a.x), ys = values(a.y), us = values(a.u);
  EXPECT_TRUE(test::all_close(values(first->as_array()), {xs[0] + ys[0] + us[0], xs[1] + ys[1] + us[1]}, 1e-6, 1e-6));
  auto single = tree_reduce([](Tree, const Tree&) -> Tree { throw std::logic_error("not called"); }, Tree(L{a.x}));
  EXPECT_EQ(*single, Tree(a.x));
}

TEST(TreeMerge, E30) {
  Arrays a;
  EXPECT_EQ(tree_merge(D{{"a", L{a.x, none}}}, D{{"a", L{none, a.y}}, {"b", a.z}}),
            Tree(D{{"a", L{a.x, a.y}}, {"b", a.z}}));
  EXPECT_TRUE(throws_exactly<std::invalid_argument>(
      [&] { tree_merge(D{{"a", a.x}}, D{{"a", a.y}}); },
      "Trees contain elements at the same locations but no merge function was provided"));
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { tree_merge(D{}, L{}); }, "Cannot merge dict with list"));
  EXPECT_TRUE(throws_exactly<std::invalid_argument>([&] { tree_merge(L{}, D{}); }, "Cannot merge list with dict"));
  EXPECT_EQ(tree_merge(D{{"k", D{}}}, D{{"k", D{}}}), Tree(D{{"k", D{}}}));
}

TEST(TreeMerge, EmptySidesOrderAndMergeFn) {
  Arrays a;
  EXPECT_EQ(tree_merge(none, none), Tree());
  EXPECT_EQ(tree_merge(none, D{}), Tree(D{}));
  EXPECT_EQ(tree_merge(L{}, none), Tree(L{}));
  EXPECT_EQ(tree_merge(none, a.x), Tree(a.x));
  EXPECT_EQ(tree_merge(L{}, a.x), Tree(a.x));
  EXPECT_EQ(tree_merge(a.y, D{}), Tree(a.y));
  // Keys: a's order, then b's new keys.
  Tree m = tree_merge(D{{"z", a.x}, {"a", a.y}}, D{{"q", a.z}, {"z", none}});
  EXPECT_EQ(m.as_dict().keys(), (Keys{"z", "a", "q"}));
  // Lists merge to the longer length.
  EXPECT_EQ(tree_merge(L{a.x}, L{none, none, a.y}), Tree(L{a.x, none, a.y}));
  // merge_fn gets two non-empty sides, never an empty one.
  int calls = 0;
  auto pick_b = [&](const Tree& x, const Tree& y) {
    ++calls;
    EXPECT_FALSE(x.empty());
    EXPECT_FALSE(y.empty());
    return y;
  };
  Tree r = tree_merge(D{{"a", a.x}, {"l", L{a.u, L{}}}, {"d", D{{"k", a.v}}}},
                      D{{"a", a.y}, {"l", L{none, none}}, {"d", L{a.w}}}, pick_b);
  EXPECT_EQ(calls, 2);  // a (two leaves) and d (dict vs list)
  EXPECT_EQ(r, Tree(D{{"a", a.y}, {"l", L{a.u, L{}}}, {"d", L{a.w}}}));
}

TEST(TreeHelpers, TreesCrossThreads) {
  // Dict storage comes from per-thread free lists: trees built on one thread and destroyed on
  // another, and threads that exit holding blocks, must be fine (run under valgrind/ASan too).
  Arrays a;
  std::vector<Tree> made(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto mlp = make_mlp();
      for (int i = 0; i < 50; ++i) made[t] = mlp->parameters();
      made[t].as_dict().insert_or_assign("x", a.x);
    });
  }
  for (auto& th : threads) th.join();
  for (auto& m : made) {
    EXPECT_EQ(keys(m), (Keys{"layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias", "x"}));
  }
  made.clear();
}

TEST(TreeHelpers, AllcloseAndEval) {
  Arrays a;
  Tree t = D{{"a", L{a.x, none}}, {"b", a.z}};
  Tree same = D{{"a", L{add(a.x, array(0.0f)), none}}, {"b", multiply(a.z, array(1.0f))}};
  eval(same);
  EXPECT_TRUE(same["b"].as_array().is_available());
  EXPECT_TRUE(tree_allclose(t, same));
  EXPECT_FALSE(tree_allclose(t, D{{"a", L{a.y, none}}, {"b", a.z}}));
  EXPECT_FALSE(tree_allclose(t, D{{"a", L{a.x}}, {"b", a.z}}));
  EXPECT_FALSE(tree_allclose(t, D{{"b", a.z}, {"a", L{a.x, none}}}));
  EXPECT_FALSE(tree_allclose(Tree(a.x), Tree(a.z)));  // shapes differ
}

// V6: the core transforms take trees of arrays.
TEST(TreeTransforms, GradHasTheArgumentsStructure) {
  Arrays a;
  Tree params = D{{"w", a.x}, {"b", L{a.z, none}}};
  auto loss = [](const Tree& p) { return sum(square(p["w"].as_array())) + sum(p["b"][0].as_array() * 3.0f); };
  auto [value, g] = value_and_grad(loss)(params);
  std::vector<double> x = test::to_vector(a.x), z = test::to_vector(a.z);
  double want = 0;
  for (double v : x) want += v * v;
  for (double v : z) want += 3 * v;
  EXPECT_NEAR(value.item<float>(), want, 1e-5);
  ASSERT_TRUE(g.is_dict());
  EXPECT_EQ(g.as_dict().keys(), (Keys{"w", "b"}));
  EXPECT_TRUE(test::all_close(test::to_vector(g["w"].as_array()), {2 * x[0], 2 * x[1]}, 1e-6, 1e-6));
  EXPECT_TRUE(test::all_close(test::to_vector(g["b"][0].as_array()), {3, 3, 3}, 1e-6, 1e-6));
  EXPECT_TRUE(g["b"][1].is_none());
  // grad alone, of a function that ignores a leaf: that leaf's gradient is zeros.
  Tree gw = grad([](const Tree& p) { return sum(p["w"].as_array()); })(params);
  EXPECT_TRUE(test::all_close(test::to_vector(gw["b"][0].as_array()), {0, 0, 0}, 0, 0));
  // A module leaf in the differentiated argument is an error (V6).
  Tree with_module = D{{"w", a.x}, {"m", std::make_shared<Linear>(2, 2)}};
  try {
    grad(loss)(with_module);
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "[tree_flatten] The argument should contain only arrays");
  }
}

}  // namespace
}  // namespace mica::nntest
