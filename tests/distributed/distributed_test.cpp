// mica::distributed in one process: the size-1 group (every collective is the identity, init's
// errors, the per-backend availability) and, through a "mirror" backend written here, the
// primitives' kernels and rules on a group of two: its rank 0 pretends that rank 1 holds the same
// data, so all_sum doubles, all_max is the identity, all_gather repeats x, and send/recv go
// through a mailbox. The real transfers are checked under mpirun (and NCCL) by ranks.cpp.
#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <map>

#include "mica/distributed/backend.h"
#include "mica/distributed/distributed.h"
#include "mica/nn/distributed.h"
#include "mica/nn/layers/distributed.h"
#include "mica/optim/sharded.h"
#include "reference/reference.h"

namespace mica::test {
namespace {

namespace dist = mica::distributed;
using dist::detail::ReduceOp;

// Rank 0 of two ranks that hold the same data.
class MirrorGroup : public dist::detail::GroupImpl {
 public:
  std::string backend() const override { return "mirror"; }
  int rank() const override { return 0; }
  int size() const override { return 2; }
  std::shared_ptr<GroupImpl> split(int, int) override { return dist::detail::singleton_group(); }
  void all_reduce(const array& in, array& out, ReduceOp op) override {
    ++all_reduce_calls;
    bytes.push_back(in.nbytes());
    if (op == ReduceOp::sum) twice(in, out.data<void>(), in.size());
    else copy(in.data<void>(), out.data<void>(), in.nbytes());
  }
  void all_gather(const array& in, array& out) override {
    copy(in.data<void>(), out.data<char>(), in.nbytes());
    copy(in.data<void>(), out.data<char>() + in.nbytes(), in.nbytes());
  }
  void reduce_scatter(const array& in, array& out, ReduceOp) override { twice(in, out.data<void>(), out.size()); }
  void send(const array& in, int) override {
    mailbox.emplace_back(in.data<char>(), in.data<char>() + in.nbytes());
  }
  void recv(array& out, int) override {
    if (mailbox.empty() || mailbox.front().size() != out.nbytes()) throw std::runtime_error("[recv] mirror: no message");
    copy(mailbox.front().data(), out.data<void>(), out.nbytes());
    mailbox.pop_front();
  }
  int all_reduce_calls = 0;
  std::vector<size_t> bytes;
  std::deque<std::vector<char>> mailbox;

 private:
  static void copy(const void* src, void* dst, size_t n) {
    if (n) std::memcpy(dst, src, n);
  }
  // dst[i] = 2 * in[i] for the first n elements.
  static void twice(const array& in, void* dst, size_t n) {
    auto run = [&](auto tag) {
      using T = decltype(tag);
      const T* a = in.data<T>();
      T* b = static_cast<T*>(dst);
      for (size_t i = 0; i < n; ++i) b[i] = T(static_cast<float>(a[i]) * 2.0f);
    };
    switch (in.dtype().val) {
      case Dtype::Val::float32: return run(float{});
      case Dtype::Val::float16: return run(float16_t{});
      case Dtype::Val::bfloat16: return run(bfloat16_t{});
      case Dtype::Val::int32: return run(int32_t{});
      case Dtype::Val::float64: {
        const double* a = in.data<double>();
        for (size_t i = 0; i < n; ++i) static_cast<double*>(dst)[i] = 2 * a[i];
        return;
      }
      default: throw std::runtime_error("mirror: dtype not supported");
    }
  }
};

struct Mirror {
  std::shared_ptr<MirrorGroup> impl = std::make_shared<MirrorGroup>();
  dist::Group group{impl};
};

std::vector<double> times(std::vector<double> v, double k) {
  for (auto& x : v) x *= k;
  return v;
}

// ---- the size-1 group ----

TEST(Distributed, InitWithoutLauncherIsSingleton) {
  dist::Group g = dist::init();
  EXPECT_EQ(g.size(), 1);
  EXPECT_EQ(g.rank(), 0);
  EXPECT_EQ(g.backend(), "singleton");
  EXPECT_EQ(dist::init().raw_group(), g.raw_group());  // initialized once
  dist::Group sub = g.split(3);
  EXPECT_EQ(sub.size(), 1);
  EXPECT_EQ(sub.rank(), 0);
}

TEST(Distributed, Availability) {
  EXPECT_EQ(dist::is_available(), dist::is_available("mpi"));
  EXPECT_EQ(dist::is_available("any"), dist::is_available());
  EXPECT_FALSE(dist::is_available("nccl"));
  EXPECT_TRUE(throws_op<std::invalid_argument>("distributed::is_available", [] { dist::is_available("gloo"); }));
}

TEST(Distributed, InitErrors) {
  EXPECT_TRUE(throws_op<std::invalid_argument>("distributed::init", [] { dist::init(false, "gloo"); }));
  // Not started by mpirun: strict "any" has nothing to initialize.
  EXPECT_TRUE(throws_op<std::runtime_error>("distributed::init", [] { dist::init(true); }));
  EXPECT_TRUE(throws_op<std::runtime_error>("distributed::init", [] { dist::init(true, "nccl"); }));
  EXPECT_EQ(dist::init(false).size(), 1);  // a cached size-1 group does not satisfy a strict call either
  EXPECT_TRUE(throws_op<std::runtime_error>("distributed::init", [] { dist::init(true); }));
  EXPECT_EQ(dist::init(false, "nccl").size(), 1);
  EXPECT_TRUE(throws_op<std::invalid_argument>("Group::split", [] { dist::init().split(-1); }));
}

TEST(Distributed, SingletonCollectivesAreIdentity) {
  array x = random_array({3, 4}, float32);
  for (const array& y : {dist::all_sum(x), dist::all_max(x), dist::all_min(x), dist::all_gather(x), dist::sum_scatter(x)}) {
    EXPECT_TRUE(y.is_same(x));
  }
  array s = array(2.5f);
  EXPECT_TRUE(dist::all_gather(s).is_same(s));
  EXPECT_TRUE(dist::sum_scatter(array({1, 2, 3}, int32)).shape() == Shape{3});  // no divisibility to check
  // With every dtype, and an explicit group and stream.
  for (Dtype d : all_dtypes) {
    array a = random_array({5}, d);
    EXPECT_TRUE(dist::all_sum(a, dist::init(), Device::cpu).is_same(a)) << d;
  }
}

TEST(Distributed, SingletonSendRecvThrow) {
  array x = array({1.0f, 2.0f});
  EXPECT_TRUE(throws_op<std::invalid_argument>("send", [&] { dist::send(x, 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("recv", [&] { dist::recv({2}, float32, 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("recv", [&] { dist::recv_like(x, 0); }));
}

TEST(Distributed, SingletonGradsAndAverage) {
  array x = random_array({4}, float32);
  auto g = grad([](const array& a) { return sum(multiply(dist::all_sum(a), a)); })(x);
  EXPECT_TRUE(matches(g, {4}, times(to_vector(x), 2.0)));
  Tree grads = Tree::Dict{{"w", x}, {"b", Tree::List{x, x}}};
  Tree avg = nn::average_gradients(grads);
  EXPECT_TRUE(avg == grads);  // same arrays: nothing to average over one process
}

// ---- a group of two (the mirror backend) ----

TEST(Distributed, MirrorAllReduceKernels) {
  Mirror m;
  for (Dtype d : {float32, float16, bfloat16, float64, int32}) {
    array x = random_array({3, 5}, d);
    EXPECT_TRUE(matches(dist::all_sum(x, m.group), {3, 5}, times(to_vector(x), 2), 0, 0)) << d;
    EXPECT_TRUE(matches(dist::all_max(x, m.group), {3, 5}, to_vector(x), 0, 0)) << d;
    EXPECT_TRUE(matches(dist::all_min(x, m.group), {3, 5}, to_vector(x), 0, 0)) << d;
  }
  // A strided input (transposed) is made contiguous first; a temporary input is reduced in place.
  array x = random_array({4, 3}, float32);
  array xt = transpose(x);
  EXPECT_TRUE(matches(dist::all_sum(xt, m.group), {3, 4}, times(to_vector(xt), 2)));
  EXPECT_TRUE(matches(dist::all_sum(add(x, x), m.group), {4, 3}, times(to_vector(x), 4)));
  // Scalars and empty arrays.
  EXPECT_EQ(dist::all_sum(array(1.5f), m.group).item<float>(), 3.0f);
  EXPECT_EQ(dist::all_sum(zeros({0, 3}), m.group).shape(), (Shape{0, 3}));
}

TEST(Distributed, MirrorGatherScatter) {
  Mirror m;
  array x = random_array({2, 3}, float32);
  auto xv = to_vector(x);
  std::vector<double> twice_x = xv;
  twice_x.insert(twice_x.end(), xv.begin(), xv.end());
  EXPECT_TRUE(matches(dist::all_gather(x, m.group), {4, 3}, twice_x, 0, 0));
  EXPECT_TRUE(matches(dist::all_gather(array(7.0f), m.group), {2}, {7, 7}, 0, 0));
  array y = random_array({4, 2}, float32);
  auto yv = to_vector(y);
  std::vector<double> first(yv.begin(), yv.begin() + 4);
  EXPECT_TRUE(matches(dist::sum_scatter(y, m.group), {2, 2}, times(first, 2), 0, 0));
  EXPECT_TRUE(throws_op<std::invalid_argument>("sum_scatter", [&] { dist::sum_scatter(random_array({3, 2}, float32), m.group); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("sum_scatter", [&] { dist::sum_scatter(array(1.0f), m.group); }));
}

TEST(Distributed, MirrorSendRecv) {
  Mirror m;
  array x = random_array({2, 3}, int32, -50, 50);
  array sent = dist::send(x, 1, m.group);
  EXPECT_EQ(sent.shape(), x.shape());
  EXPECT_TRUE(matches(sent, {2, 3}, to_vector(x), 0, 0));  // evaluating sends; the output is x
  EXPECT_EQ(m.impl->mailbox.size(), 1u);
  array got = dist::recv_like(x, 1, m.group);
  EXPECT_TRUE(matches(got, {2, 3}, to_vector(x), 0, 0));
  // Strided data is sent in row-major order.
  array xt = transpose(random_array({3, 2}, float32));
  eval(dist::send(xt, 1, m.group));
  EXPECT_TRUE(matches(dist::recv({2, 3}, float32, 1, m.group), {2, 3}, to_vector(xt), 0, 0));
  EXPECT_TRUE(throws_op<std::invalid_argument>("send", [&] { dist::send(x, 0, m.group); }));  // to itself
  EXPECT_TRUE(throws_op<std::invalid_argument>("send", [&] { dist::send(x, 2, m.group); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("recv", [&] { dist::recv({2}, float32, -1, m.group); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("recv", [&] { dist::recv({-2}, float32, 1, m.group); }));
}

TEST(Distributed, MirrorGradients) {
  Mirror m;
  dist::Group g = m.group;
  array x = random_array({4, 2}, float32);
  array w = random_array({8, 2}, float32);
  auto wv = to_vector(w);
  // all_sum: as MLX, the vjp passes the (replicated) cotangent through, not summed again.
  auto gs = grad([&](const array& a) { return sum(multiply(dist::all_sum(a, g), w)); })(random_array({8, 2}, float32));
  EXPECT_TRUE(matches(gs, {8, 2}, wv));
  // all_max with every rank tied: the two ranks share the cotangent.
  auto gm = grad([&](const array& a) { return sum(dist::all_max(a, g)); })(x);
  EXPECT_TRUE(matches(gm, {4, 2}, std::vector<double>(8, 0.5)));
  // all_gather: the rank's block of the cotangent.
  auto gg = grad([&](const array& a) { return sum(multiply(dist::all_gather(a, g), w)); })(x);
  EXPECT_TRUE(matches(gg, {4, 2}, std::vector<double>(wv.begin(), wv.begin() + 8)));
  // sum_scatter: all_gather of the cotangent.
  array w2 = random_array({2, 2}, float32);
  auto w2v = to_vector(w2);
  auto gsc = grad([&](const array& a) { return sum(multiply(dist::sum_scatter(a, g), w2)); })(x);
  std::vector<double> want = w2v;
  want.insert(want.end(), w2v.begin(), w2v.end());
  EXPECT_TRUE(matches(gsc, {4, 2}, want));
  // Integer inputs carry no gradient.
  auto [out, ct] = vjp([&](const array& a) { return dist::all_sum(a, g); }, array({1, 2}, int32), array({1, 1}, int32));
  EXPECT_TRUE(matches(ct, {2}, {0, 0}, 0, 0));
}

TEST(Distributed, MirrorJvp) {
  Mirror m;
  dist::Group g = m.group;
  array x = random_array({4, 2}, float32);
  array t = random_array({4, 2}, float32, -1, 1, 7);
  auto tv = to_vector(t);
  EXPECT_TRUE(matches(jvp([&](const array& a) { return dist::all_sum(a, g); }, x, t).second, {4, 2}, times(tv, 2)));
  EXPECT_TRUE(matches(jvp([&](const array& a) { return dist::all_min(a, g); }, x, t).second, {4, 2}, tv));
  std::vector<double> tt = tv;
  tt.insert(tt.end(), tv.begin(), tv.end());
  EXPECT_TRUE(matches(jvp([&](const array& a) { return dist::all_gather(a, g); }, x, t).second, {8, 2}, tt));
  std::vector<double> half(tv.begin(), tv.begin() + 4);
  EXPECT_TRUE(matches(jvp([&](const array& a) { return dist::sum_scatter(a, g); }, x, t).second, {2, 2}, times(half, 2)));
}

TEST(Distributed, MirrorVmap) {
  Mirror m;
  dist::Group g = m.group;
  array x = random_array({3, 4, 2}, float32);  // batch of 3 along axis 0
  auto xv = to_vector(x);
  EXPECT_TRUE(matches(vmap([&](const array& a) { return dist::all_sum(a, g); })(x), {3, 4, 2}, times(xv, 2)));
  // all_gather per sample: (4, 2) -> (8, 2), the sample repeated.
  array ag = vmap([&](const array& a) { return dist::all_gather(a, g); })(x);
  std::vector<double> want;
  for (int b = 0; b < 3; ++b)
    for (int rep = 0; rep < 2; ++rep) want.insert(want.end(), xv.begin() + b * 8, xv.begin() + (b + 1) * 8);
  EXPECT_TRUE(matches(ag, {3, 8, 2}, want));
  // Batched scalars gather to (B, size).
  array sc = vmap([&](const array& a) { return dist::all_gather(a, g); })(array({1.0f, 2.0f, 3.0f}));
  EXPECT_TRUE(matches(sc, {3, 2}, {1, 1, 2, 2, 3, 3}));
  // sum_scatter per sample: (4, 2) -> (2, 2) = 2 * rows 0..1 of the sample; batch along axis 1.
  array rs = vmap([&](const array& a) { return dist::sum_scatter(a, g); }, 1)(transpose(x, {1, 0, 2}));
  std::vector<double> want_rs;
  for (int b = 0; b < 3; ++b)
    for (int i = 0; i < 4; ++i) want_rs.push_back(2 * xv[b * 8 + i]);
  EXPECT_TRUE(matches(rs, {3, 2, 2}, want_rs));
}

TEST(Distributed, AverageGradientsPacks) {
  Mirror m;
  Tree::List grads;
  for (int i = 0; i < 10; ++i) grads.push_back(multiply(ones({10}), array(static_cast<float>(i))));
  auto check = [&](const Tree& avg) {
    ASSERT_TRUE(avg.is_list());
    ASSERT_EQ(avg.size(), 10u);
    for (int i = 0; i < 10; ++i) EXPECT_TRUE(matches(avg[i].as_array(), {10}, std::vector<double>(10, i))) << i;
  };
  check(nn::average_gradients(Tree(grads), m.group));
  EXPECT_EQ(m.impl->all_reduce_calls, 1);  // 400 bytes in one message
  m.impl->all_reduce_calls = 0;
  check(nn::average_gradients(Tree(grads), m.group, {.all_reduce_size = 4 * 50}));
  EXPECT_EQ(m.impl->all_reduce_calls, 2);  // packs of 5 arrays
  m.impl->all_reduce_calls = 0;
  check(nn::average_gradients(Tree(grads), {.group = m.group, .all_reduce_size = 0}));
  EXPECT_EQ(m.impl->all_reduce_calls, 10);
}

TEST(Distributed, AverageGradientsStructureAndDtypes) {
  Mirror m;
  array a = random_array({3, 2}, float32), b = random_array({4}, float64), c = random_array({5}, float32);
  array d = random_array({}, bfloat16);
  Tree grads = Tree::Dict{{"layers", Tree::List{Tree::Dict{{"w", a}, {"b", b}}, Tree::Dict{{"w", c}}}}, {"s", d}};
  Tree avg = nn::average_gradients(grads, m.group);
  eval(avg);
  EXPECT_EQ(m.impl->all_reduce_calls, 3);  // one pack per dtype
  EXPECT_TRUE(matches(avg["layers"][0]["w"].as_array(), {3, 2}, to_vector(a)));
  EXPECT_EQ(avg["layers"][0]["b"].as_array().dtype(), float64);
  EXPECT_TRUE(matches(avg["layers"][0]["b"].as_array(), {4}, to_vector(b)));
  EXPECT_TRUE(matches(avg["layers"][1]["w"].as_array(), {5}, to_vector(c)));
  EXPECT_EQ(avg["s"].as_array().dtype(), bfloat16);
  EXPECT_TRUE(matches(avg["s"].as_array(), {}, to_vector(d)));
  // Communicating in bfloat16: one message of 2-byte elements, results cast back.
  m.impl->all_reduce_calls = 0;
  m.impl->bytes.clear();
  Tree avg16 = nn::average_gradients(grads, m.group, {.communication_type = bfloat16});
  eval(avg16);
  EXPECT_EQ(m.impl->all_reduce_calls, 1);
  EXPECT_EQ(m.impl->bytes, std::vector<size_t>{(6 + 4 + 5 + 1) * 2});
  EXPECT_EQ(avg16["layers"][0]["b"].as_array().dtype(), float64);
  EXPECT_TRUE(matches(avg16["layers"][0]["w"].as_array(), {3, 2}, to_vector(a), 1e-2, 1e-2));
  EXPECT_TRUE(throws_op<std::invalid_argument>("tree_flatten", [&] { nn::average_gradients(Tree::List{std::make_shared<nn::Linear>(2, 2)}, m.group); }));
}

TEST(Distributed, ShardedLinearLayers) {
  Mirror m;
  dist::Group g = m.group;
  auto lin = std::make_shared<nn::Linear>(4, 8);
  array x = random_array({3, 4}, float32);
  // all-to-sharded: rank 0 keeps output features 0..3.
  auto up = nn::AllToShardedLinear::from_linear(*lin, {.group = g});
  EXPECT_EQ(up->param("weight").shape(), (Shape{4, 4}));
  EXPECT_EQ(up->param("bias").shape(), (Shape{4}));
  EXPECT_EQ(up->extra_repr(), "input_dims=4, output_dims=8, bias=True");
  array full = (*lin)(x);
  EXPECT_TRUE(matches((*up)(x), {3, 4}, to_vector(slice(full, {0, 0}, {3, 4})), 1e-5, 1e-5));
  // Its input's gradient is all_summed (the mirror doubles it).
  array gx = grad([&](const array& a) { return sum((*up)(a)); })(x);
  array want_gx = multiply(array(2.0f), matmul(ones({3, 4}), up->param("weight")));
  EXPECT_TRUE(matches(gx, {3, 4}, to_vector(want_gx), 1e-5, 1e-5));
  // sharded-to-all: rank 0 keeps input features 0..3 of the weight and the whole bias.
  auto down_lin = std::make_shared<nn::Linear>(8, 4);
  auto down = std::dynamic_pointer_cast<nn::ShardedToAllLinear>(nn::shard_linear(*down_lin, "sharded-to-all", {.group = g}));
  ASSERT_TRUE(down);
  EXPECT_EQ(down->param("weight").shape(), (Shape{4, 4}));
  EXPECT_EQ(down->param("bias").shape(), (Shape{4}));
  EXPECT_EQ(down->extra_repr(), "input_dims=8, output_dims=4, bias=True");
  array h = random_array({3, 4}, float32);
  array w0 = slice(down_lin->param("weight"), {0, 0}, {4, 4});
  array want = add(multiply(array(2.0f), matmul(h, transpose(w0))), down_lin->param("bias"));
  EXPECT_TRUE(matches((*down)(h), {3, 4}, to_vector(want), 1e-5, 1e-5));
  // Segments: a fused (3 * 4, 4) projection keeps rows 0..1, 4..5 and 8..9.
  auto qkv = std::make_shared<nn::Linear>(4, 12, false);
  auto sq = nn::AllToShardedLinear::from_linear(*qkv, {.segments = 3, .group = g});
  array wq = qkv->param("weight");
  array want_w = concatenate({slice(wq, {0, 0}, {2, 4}), slice(wq, {4, 0}, {6, 4}), slice(wq, {8, 0}, {10, 4})}, 0);
  EXPECT_TRUE(matches(sq->param("weight"), {6, 4}, to_vector(want_w), 0, 0));
  EXPECT_FALSE(sq->contains("bias"));
  // Split indices as segments, and shard_inplace on a module.
  auto inplace = std::make_shared<nn::Linear>(4, 8);
  array w_before = inplace->param("weight");
  nn::shard_inplace(*inplace, "all-to-sharded", {.segments = std::vector<int>{4}, .group = g});
  array want_ip = concatenate({slice(w_before, {0, 0}, {2, 4}), slice(w_before, {4, 0}, {6, 4})}, 0);
  EXPECT_TRUE(matches(inplace->param("weight"), {4, 4}, to_vector(want_ip), 0, 0));
  // Bad arguments.
  EXPECT_TRUE(throws_op<std::invalid_argument>("AllToShardedLinear", [&] { nn::AllToShardedLinear(4, 7, {.group = g}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("ShardedToAllLinear", [&] { nn::ShardedToAllLinear(5, 4, {.group = g}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("shard_linear", [&] { nn::shard_linear(*lin, "rows", {.group = g}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("shard_inplace", [&] { nn::shard_inplace(*lin, "rows", {.group = g}); }));
  auto odd = std::make_shared<nn::Linear>(4, 6);
  EXPECT_TRUE(throws_op<std::invalid_argument>("shard_inplace", [&] { nn::shard_inplace(*odd, "all-to-sharded", {.segments = 2, .group = g}); }));
}

TEST(Distributed, ShardedLayersOnSingletonMatchLinear) {
  auto lin = std::make_shared<nn::Linear>(6, 4);
  array x = random_array({2, 6}, float32);
  auto a = nn::shard_linear(*lin, "all-to-sharded");
  auto b = nn::shard_linear(*lin, "sharded-to-all");
  EXPECT_TRUE(matches((*a)(x), {2, 4}, to_vector((*lin)(x)), 1e-6, 1e-6));
  EXPECT_TRUE(matches((*b)(x), {2, 4}, to_vector((*lin)(x)), 1e-6, 1e-6));
}

// ShardedOptimizer on the size-1 group: one shard holding everything, the inner AdamW's results;
// the flat state converts back to AdamW's own layout. (Sharding proper: ranks.cpp.)
TEST(Distributed, ShardedOptimizerOnSingletonIsTheInnerOptimizer) {
  random::seed(3);
  Tree params = Tree::Dict{{"w", random::normal({4, 3})}, {"b", Tree::List{random::normal({5})}},
                           {"h", astype(random::normal({2}), float16)}};
  auto adamw = [] { return std::make_shared<optim::AdamW>(1e-2f, optim::AdamWOptions{.weight_decay = 0.1}); };
  optim::ShardedOptimizer sharded(adamw(), {.group = dist::init()});
  auto plain = adamw();
  Tree p_sh = params, p_pl = params;
  for (int step = 0; step < 3; ++step) {
    Tree g = tree_map([&](const Tree& leaf) -> Tree { return cos(multiply(leaf.as_array(), array(step + 1.0f, leaf.as_array().dtype()))); }, p_pl);
    p_sh = sharded.apply_gradients(g, p_sh);
    p_pl = plain->apply_gradients(g, p_pl);
    std::map<std::string, array> got_by_path;
    for (auto& [k, a] : tree_flatten_arrays(p_sh)) got_by_path.emplace(k, a);
    for (auto& [k, a] : tree_flatten_arrays(p_pl)) {
      const array& got = got_by_path.at(k);
      EXPECT_EQ(got.dtype(), a.dtype()) << k;
      EXPECT_TRUE(matches(got, a.shape(), to_vector(a), 1e-6, 1e-6)) << k << " step " << step;
    }
  }
  // One bucket per dtype, in first-appearance order: float32 (12 + 5) and float16 (2).
  EXPECT_EQ(sharded.state()["float32"]["m"].as_array().shape(), Shape({17}));
  EXPECT_EQ(sharded.state()["float16"]["v"].as_array().dtype(), float16);
  EXPECT_EQ(sharded.state_elements(), 2 * (17 + 2));
  Tree whole = sharded.gather_state();
  EXPECT_TRUE(matches(whole["b"][0]["v"].as_array(), {5}, to_vector(plain->state()["b"][0]["v"].as_array()), 1e-6, 1e-9));
  EXPECT_EQ(whole["step"].as_array().item<uint64_t>(), 3u);
  EXPECT_THROW(optim::ShardedOptimizer(std::make_shared<optim::Muon>(1e-2f)), std::invalid_argument);
  EXPECT_THROW(optim::ShardedOptimizer(adamw(), {.max_grad_norm = -1.0f}), std::invalid_argument);
  EXPECT_THROW(sharded.scatter_state(Tree::Dict{}), std::invalid_argument);
}

}  // namespace
}  // namespace mica::test
