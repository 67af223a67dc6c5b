// mica::distributed over several processes, the same program for both backends: under
// `mpirun -np 2` and `-np 3` with MPI (CPU arrays), and with MICA_TEST_BACKEND=nccl under
// tests/distributed/launch_local.sh (one process per GPU, GPU arrays) — see tests/CMakeLists.txt.
// Every rank makes deterministic data from its rank; the expected result of each collective is
// computed locally from every rank's data (small integers, so sums are exact in every dtype).
// Every rank runs the same tests in the same order and the job fails when any rank fails.
// `--stuck` and `--dead` run the watchdog cases instead (a rank that never joins the collective,
// or one that exits): ctest expects the abort message, within the timeout.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <complex>
#include <cstdlib>
#include <thread>

#include "mica/backend/gpu_info.h"
#include "mica/compile.h"
#include "mica/distributed/distributed.h"
#include "mica/nn/distributed.h"
#include "mica/nn/layers/distributed.h"
#include "mica/optim.h"
#include "reference/reference.h"

namespace mica::test {
namespace {

namespace dist = mica::distributed;
using C = std::complex<double>;

// "mpi" or "nccl" (MICA_TEST_BACKEND).
std::string backend() {
  const char* b = std::getenv("MICA_TEST_BACKEND");
  return b ? b : "mpi";
}
dist::Group world() { return dist::init(true, backend()); }

// Element i of rank r's data: small integers (non-negative for unsigned types); the imaginary
// part of complex data is another pattern.
C value(Dtype d, int64_t i, int r) {
  if (d == bool_) return (i + r) % 3 == 0 ? 1.0 : 0.0;
  double v = static_cast<double>((i * 7 + r * 5) % 11);
  if (kind(d) != Dtype::Kind::u) v -= 5;
  double im = d == complex64 ? static_cast<double>((i * 3 + r) % 5) - 2 : 0.0;
  return {v, im};
}

std::vector<C> values(Dtype d, int64_t n, int r) {
  std::vector<C> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(value(d, i, r));
  return v;
}

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int x : s) n *= x;
  return n;
}

array make(Dtype d, const std::vector<C>& v, const Shape& shape) {
  std::vector<float> re, im;
  for (auto& c : v) {
    re.push_back(static_cast<float>(c.real()));
    im.push_back(static_cast<float>(c.imag()));
  }
  array a = astype(array(re.begin(), shape, float32), d);
  if (d == complex64) a = add(a, multiply(array(im.begin(), shape, float32), array(complex64_t(0, 1))));
  return a;
}

array data(Dtype d, const Shape& shape, int r) { return make(d, values(d, numel(shape), r), shape); }

std::vector<C> read(const array& a) {
  auto re = to_vector(a);
  std::vector<double> im(re.size(), 0.0);
  if (a.dtype() == complex64) im = to_vector_imag(a);
  std::vector<C> v;
  for (size_t i = 0; i < re.size(); ++i) v.emplace_back(re[i], im[i]);
  return v;
}

bool less(const C& a, const C& b) { return a.real() < b.real() || (a.real() == b.real() && a.imag() < b.imag()); }

testing::AssertionResult same(const array& got, const Shape& shape, const std::vector<C>& want) {
  if (got.shape() != shape) return testing::AssertionFailure() << "shape " << mica::detail::shape_str(got.shape());
  auto g = read(got);
  for (size_t i = 0; i < want.size(); ++i) {
    if (g[i] != want[i]) {
      return testing::AssertionFailure() << got.dtype() << " element " << i << ": got " << g[i] << ", want " << want[i];
    }
  }
  return testing::AssertionSuccess();
}

const Shape kShape = {3, 5};

TEST(Ranks, Groups) {
  dist::Group w = world();
  // The launcher's own count (Open MPI's variable, else PMI's, else launch_local.sh's).
  const char* env = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (!env) env = std::getenv("PMI_SIZE");
  if (!env) env = std::getenv("MICA_WORLD_SIZE");
  ASSERT_TRUE(env);
  EXPECT_EQ(w.size(), std::atoi(env));
  EXPECT_EQ(w.backend(), backend());
  EXPECT_EQ(dist::init().raw_group(), w.raw_group());  // "any": MPI under mpirun, NCCL under the environment's launch
  EXPECT_TRUE(dist::is_available(backend()));
  dist::Group parity = w.split(w.rank() % 2);
  EXPECT_EQ(parity.size(), (w.size() + 1 - w.rank() % 2) / 2);
  EXPECT_EQ(parity.rank(), w.rank() / 2);
  dist::Group reversed = w.split(0, w.size() - w.rank());
  EXPECT_EQ(reversed.rank(), w.size() - 1 - w.rank());
  // Collectives over a subgroup: the ranks of one parity.
  array s = dist::all_sum(array(w.rank() + 1), parity);
  int want = 0;
  for (int r = w.rank() % 2; r < w.size(); r += 2) want += r + 1;
  EXPECT_EQ(s.item<int>(), want);
  array g = dist::all_gather(array(static_cast<float>(w.rank())), reversed);
  std::vector<C> order;
  for (int i = 0; i < w.size(); ++i) order.emplace_back(w.size() - 1 - i, 0);
  EXPECT_TRUE(same(g, {w.size()}, order));
  // clear_backends forgets init's choice: the next init settles on the world again (and the group
  // held before still works).
  dist::clear_backends();
  dist::Group again = dist::init();
  EXPECT_EQ(again.size(), w.size());
  EXPECT_EQ(again.rank(), w.rank());
  EXPECT_EQ(dist::all_sum(array(1), again).item<int>(), w.size());
  EXPECT_EQ(dist::all_sum(array(1), w).item<int>(), w.size());
}

TEST(Ranks, AllReduceEveryDtype) {
  dist::Group w = world();
  const int n = w.size();
  // A small shape and one of 5200 elements (20 KiB in float32, 41 KiB in complex64).
  for (const Shape& shape : {kShape, Shape{40, 130}}) {
    for (Dtype d : all_dtypes) {
      array x = data(d, shape, w.rank());
      std::vector<C> sum(numel(shape)), mx = values(d, numel(shape), 0), mn = mx;
      for (int r = 0; r < n; ++r) {
        auto v = values(d, numel(shape), r);
        for (size_t i = 0; i < v.size(); ++i) {
          sum[i] = d == bool_ ? C(sum[i].real() != 0 || v[i].real() != 0 ? 1 : 0) : sum[i] + v[i];
          if (less(mx[i], v[i])) mx[i] = v[i];
          if (less(v[i], mn[i])) mn[i] = v[i];
        }
      }
      EXPECT_TRUE(same(dist::all_sum(x), shape, sum)) << d << " " << shape.size();
      EXPECT_TRUE(same(dist::all_max(x), shape, mx)) << d;
      EXPECT_TRUE(same(dist::all_min(x), shape, mn)) << d;
      // A strided input and an input reduced in place (nothing else holds it).
      EXPECT_TRUE(same(transpose(dist::all_sum(transpose(x))), shape, sum)) << d;
      EXPECT_TRUE(same(dist::all_max(copy(data(d, shape, w.rank()))), shape, mx)) << d;
    }
  }
}

TEST(Ranks, AllMaxPropagatesNaN) {
  dist::Group w = world();
  for (Dtype d : {float16, bfloat16, float32, float64}) {
    array x = astype(array({w.rank() == 1 ? NAN : 1.0f, static_cast<float>(w.rank())}), d);
    array m = dist::all_max(x), mn = dist::all_min(x);
    EXPECT_TRUE(std::isnan(to_vector(m)[0])) << d;
    EXPECT_TRUE(std::isnan(to_vector(mn)[0])) << d;
    EXPECT_EQ(to_vector(m)[1], w.size() - 1) << d;
    EXPECT_EQ(to_vector(mn)[1], 0) << d;
  }
}

TEST(Ranks, AllGatherEveryDtype) {
  dist::Group w = world();
  for (Dtype d : all_dtypes) {
    std::vector<C> want;
    for (int r = 0; r < w.size(); ++r) {
      auto v = values(d, numel(kShape), r);
      want.insert(want.end(), v.begin(), v.end());
    }
    EXPECT_TRUE(same(dist::all_gather(data(d, kShape, w.rank())), {3 * w.size(), 5}, want)) << d;
    std::vector<C> scalars;
    for (int r = 0; r < w.size(); ++r) scalars.push_back(value(d, 0, r));
    EXPECT_TRUE(same(dist::all_gather(data(d, {}, w.rank())), {w.size()}, scalars)) << d;
  }
}

TEST(Ranks, SumScatterEveryDtype) {
  dist::Group w = world();
  const int n = w.size();
  Shape shape = {2 * n, 3};
  for (Dtype d : all_dtypes) {
    std::vector<C> sum(numel(shape));
    for (int r = 0; r < n; ++r) {
      auto v = values(d, numel(shape), r);
      for (size_t i = 0; i < v.size(); ++i)
        sum[i] = d == bool_ ? C(sum[i].real() != 0 || v[i].real() != 0 ? 1 : 0) : sum[i] + v[i];
    }
    std::vector<C> mine(sum.begin() + w.rank() * 6, sum.begin() + (w.rank() + 1) * 6);
    EXPECT_TRUE(same(dist::sum_scatter(data(d, shape, w.rank())), {2, 3}, mine)) << d;
  }
}

TEST(Ranks, SendRecvRing) {
  dist::Group w = world();
  const int n = w.size(), r = w.rank();
  const int next = (r + 1) % n, prev = (r + n - 1) % n;
  for (Dtype d : all_dtypes) {
    for (const Shape& shape : {Shape{3, 5}, Shape{1 << 18}}) {  // eager and rendezvous sizes
      array mine = data(d, shape, r);
      array in = dist::recv(shape, d, prev);
      // Even ranks send first, odd ranks receive first: no rank waits on a send that nobody takes.
      if (r % 2 == 0) {
        eval(dist::send(mine, next));
        eval(in);
      } else {
        eval(in);
        eval(dist::send(mine, next));
      }
      EXPECT_TRUE(same(in, shape, values(d, numel(shape), prev))) << d;
    }
  }
  // recv_like, and a strided array sent in row-major order.
  array t = transpose(data(float32, {5, 3}, r));
  array in = dist::recv_like(t, prev);
  if (r % 2 == 0) {
    eval(dist::send(t, next));
    eval(in);
  } else {
    eval(in);
    eval(dist::send(t, next));
  }
  EXPECT_TRUE(same(in, {3, 5}, read(transpose(data(float32, {5, 3}, prev)))));
}

TEST(Ranks, MismatchedShapesThrowOnEveryRank) {
  dist::Group w = world();
  const int r = w.rank();
  auto expect_error = [&](const std::string& op, const std::function<array()>& f, const char* part) {
    try {
      eval(f());
      ADD_FAILURE() << op << ": no error on rank " << r;
    } catch (const std::runtime_error& e) {
      std::string msg = e.what();
      EXPECT_EQ(msg.rfind(std::string("[") + op + "] expected the same operation, shape and dtype", 0), 0u) << msg;
      EXPECT_NE(msg.find(part), std::string::npos) << msg;
    }
  };
  expect_error("all_sum", [&] { return dist::all_sum(zeros({r == 0 ? 3 : 4})); }, "all_sum of shape (3,) float32 on rank 0");
  expect_error("all_gather", [&] { return dist::all_gather(zeros({2}, r == 1 ? int32 : float32)); }, "int32 on rank 1");
  // Each rank names its own operation; every rank's message lists both.
  expect_error(r == 0 ? "all_max" : "all_min", [&] { return r == 0 ? dist::all_max(zeros({2})) : dist::all_min(zeros({2})); },
               "all_max of shape (2,) float32 on rank 0 and all_min of shape (2,) float32 on rank");
  expect_error("sum_scatter", [&] { return dist::sum_scatter(zeros({w.size() * (r == 0 ? 1 : 2)})); }, "on rank 0");
  // The group still works afterwards.
  EXPECT_EQ(dist::all_sum(array(1)).item<int>(), w.size());
  // recv of another shape than was sent: the receiver reports it, the sender carries on.
  if (r == 0) {
    eval(dist::send(zeros({2, 3}), 1));
  } else if (r == 1) {
    try {
      eval(dist::recv({3, 2}, float32, 0));
      ADD_FAILURE() << "recv: no error";
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()), "[recv] expected shape (3, 2) float32 from rank 0, got shape (2, 3) float32 (the "
                                       "sender sent another shape or dtype).");
    }
  }
  EXPECT_EQ(dist::all_sum(array(2)).item<int>(), 2 * w.size());
}

TEST(Ranks, Gradients) {
  dist::Group w = world();
  const int n = w.size(), r = w.rank();
  array x = data(float32, {4}, r);
  array wr = data(float32, {4}, r + 10);
  // all_sum (as MLX): the cotangent of the replicated output passes through unsummed.
  array g = grad([&](const array& a) { return sum(multiply(dist::all_sum(a), wr)); })(x);
  EXPECT_TRUE(same(g, {4}, values(float32, 4, r + 10)));
  // all_gather: this rank's block of the cotangent.
  array W = data(float32, {4 * n}, 99);
  array gg = grad([&](const array& a) { return sum(multiply(dist::all_gather(a), W)); })(x);
  auto Wv = values(float32, 4 * n, 99);
  EXPECT_TRUE(same(gg, {4}, std::vector<C>(Wv.begin() + 4 * r, Wv.begin() + 4 * (r + 1))));
  // sum_scatter: all_gather of the cotangent.
  array xs = data(float32, {2 * n}, r);
  array w2 = data(float32, {2}, r + 20);
  array gs = grad([&](const array& a) { return sum(multiply(dist::sum_scatter(a), w2)); })(xs);
  std::vector<C> gathered;
  for (int q = 0; q < n; ++q) {
    auto v = values(float32, 2, q + 20);
    gathered.insert(gathered.end(), v.begin(), v.end());
  }
  EXPECT_TRUE(same(gs, {2 * n}, gathered));
  // all_max / all_min: the cotangent goes to the rank holding the extreme; ties share it.
  array xm = array({static_cast<float>(r), 1.0f, 0.5f});
  array gm = grad([&](const array& a) { return sum(dist::all_max(a)); })(xm);
  EXPECT_TRUE(same(gm, {3}, {C(r == n - 1 ? 1 : 0), C(1.0f / n), C(1.0f / n)}));
  array gmin = grad([&](const array& a) { return sum(multiply(dist::all_min(a), array(2.0f))); })(xm);
  EXPECT_TRUE(same(gmin, {3}, {C(r == 0 ? 2 : 0), C(2.0f / n), C(2.0f / n)}));
  // jvp of all_sum: the sum of every rank's tangent.
  array t = data(float32, {4}, r + 30);
  std::vector<C> tsum(4);
  for (int q = 0; q < n; ++q) {
    auto v = values(float32, 4, q + 30);
    for (int i = 0; i < 4; ++i) tsum[i] += v[i];
  }
  EXPECT_TRUE(same(jvp([](const array& a) { return dist::all_sum(a); }, x, t).second, {4}, tsum));
}

// Collectives inside compile: traced once, replayed (never merged as common subexpressions: two
// equal all_sums are two transfers), with gradients through the compiled function.
TEST(Ranks, CollectivesInsideCompile) {
  dist::Group w = world();
  const int n = w.size(), r = w.rank();
  auto f = [&](const std::vector<array>& in) {
    array s = dist::all_sum(multiply(in[0], in[0]), w);
    array t = dist::all_sum(multiply(in[0], in[0]), w);
    return std::vector<array>{add(s, t), dist::all_gather(in[0], w)};
  };
  auto cf = compile(f);
  for (int call = 0; call < 3; ++call) {
    array x = data(float32, {4}, r + call);
    auto out = cf({x});
    std::vector<C> want(4), gathered;
    for (int q = 0; q < n; ++q) {
      auto v = values(float32, 4, q + call);
      for (int i = 0; i < 4; ++i) want[i] += 2.0 * v[i] * v[i];
      gathered.insert(gathered.end(), v.begin(), v.end());
    }
    EXPECT_TRUE(same(out[0], {4}, want)) << call;
    EXPECT_TRUE(same(out[1], {4 * n}, gathered)) << call;
  }
  // grad of a compiled function with an all_sum: the cotangent passes through (MLX's rule).
  auto g = grad([&](const array& a) {
    return sum(compile([&](const std::vector<array>& in) { return std::vector<array>{dist::all_sum(in[0], w)}; })({a})[0]);
  });
  array x = data(float32, {3}, r);
  EXPECT_TRUE(same(g(x), {3}, {C(1), C(1), C(1)}));
}

TEST(Ranks, AverageGradients) {
  dist::Group w = world();
  const int n = w.size(), r = w.rank();
  Tree grads = Tree::Dict{{"a", multiply(data(float32, {3, 4}, 1), array(static_cast<float>(r + 1)))},
                          {"b", Tree::List{multiply(data(float32, {5}, 2), array(static_cast<float>(r + 1))),
                                           multiply(data(float64, {2}, 3), array(static_cast<double>(r + 1), float64))}}};
  double k = (n + 1) / 2.0;  // mean of 1..n
  for (int64_t size : {int64_t{32} << 20, int64_t{20}, int64_t{0}}) {
    Tree avg = nn::average_gradients(grads, {.all_reduce_size = size});
    auto scaled = [&](Dtype d, int64_t m, int seed) {
      auto v = values(d, m, seed);
      for (auto& c : v) c *= k;
      return v;
    };
    EXPECT_TRUE(same(avg["a"].as_array(), {3, 4}, scaled(float32, 12, 1))) << size;
    EXPECT_TRUE(same(avg["b"][0].as_array(), {5}, scaled(float32, 5, 2))) << size;
    EXPECT_EQ(avg["b"][1].as_array().dtype(), float64);
    EXPECT_TRUE(same(avg["b"][1].as_array(), {2}, scaled(float64, 2, 3))) << size;
  }
}

TEST(Ranks, ShardedLinearPair) {
  dist::Group w = world();
  const int n = w.size(), r = w.rank();
  random::seed(5);  // the same layers on every rank
  auto up = std::make_shared<nn::Linear>(4, 2 * n);
  auto down = std::make_shared<nn::Linear>(2 * n, 3);
  array x = random::normal({2, 4});
  auto up_s = nn::shard_linear(*up, "all-to-sharded");
  auto down_s = nn::shard_linear(*down, "sharded-to-all");
  array h = (*up_s)(x);
  array full_h = (*up)(x);
  EXPECT_TRUE(matches(h, {2, 2}, to_vector(slice(full_h, {0, 2 * r}, {2, 2 * r + 2})), 1e-5, 1e-5));
  EXPECT_TRUE(matches((*down_s)(h), {2, 3}, to_vector((*down)(full_h)), 1e-5, 1e-5));
  // The input's gradient through the pair equals the unsharded one on every rank.
  auto f_sharded = [&](const array& a) { return sum((*down_s)((*up_s)(a))); };
  auto f_full = [&](const array& a) { return sum((*down)((*up)(a))); };
  EXPECT_TRUE(matches(grad(f_sharded)(x), {2, 4}, to_vector(grad(f_full)(x)), 1e-5, 1e-5));
}

// ZeRO-1: every rank keeps 1/N of AdamW's state, and the weights follow plain data-parallel
// AdamW (average_gradients, clip_grad_norm, AdamW) to float tolerance: only the order of the
// gradient sums differs (sum_scatter versus all_sum, the clip norm summed per shard).
TEST(Ranks, ShardedOptimizer) {
  dist::Group w = world();
  const int n = w.size(), r = w.rank();
  random::seed(11);  // the same parameters on every rank
  // 15 + 7 + 1 = 23 float32 and 6 float64 elements: neither divides by 2 or 3 (padding is used).
  Tree params = Tree::Dict{{"w", random::normal({3, 5})},
                           {"b", Tree::List{random::normal({7}), random::normal({1})}},
                           {"d", astype(random::normal({2, 3}), float64)}};
  auto adamw = [] {
    return std::make_shared<optim::AdamW>(1e-2f, optim::AdamWOptions{.weight_decay = 0.1, .bias_correction = true});
  };
  // Gradients that differ by rank and step and depend on the parameters.
  auto grads_of = [&](const Tree& p, int step) {
    return tree_map([&](const Tree& leaf) -> Tree {
      const array& a = leaf.as_array();
      return sin(add(multiply(a, array(static_cast<float>(r + 1), a.dtype())), array(static_cast<float>(step), a.dtype())));
    }, p);
  };
  auto flat_of = [](const Tree& t) {
    std::vector<double> v;
    for (auto& [k, a] : tree_flatten_arrays(t)) {
      auto x = to_vector(a);
      v.insert(v.end(), x.begin(), x.end());
    }
    return v;
  };
  // With the gradients' norm clipped (as mica-train runs it) and without (Adam is nearly blind
  // to the gradients' scale, so only the unclipped state shows a missing division by N).
  for (float clip : {0.5f, 0.0f}) {
    optim::ShardedOptimizer sharded(adamw(), {.group = w, .max_grad_norm = clip});
    auto plain = adamw();
    Tree p_sh = params, p_dp = params;
    for (int step = 0; step < 4; ++step) {
      p_sh = sharded.apply_gradients(grads_of(p_sh, step), p_sh);
      Tree avg = nn::average_gradients(grads_of(p_dp, step), w);
      p_dp = plain->apply_gradients(clip > 0 ? optim::clip_grad_norm(avg, clip).first : avg, p_dp);
      EXPECT_TRUE(all_close(flat_of(p_sh), flat_of(p_dp), 1e-5, 1e-6)) << "clip " << clip << " step " << step;
      // The same weights to the bit on every rank: every rank's copy gathered and compared.
      for (auto& [k, a] : tree_flatten_arrays(p_sh)) {
        array all = dist::all_gather(reshape(a, {1, static_cast<int>(a.size())}), w);
        for (int q = 1; q < n; ++q)
          EXPECT_TRUE(array_equal(take(all, array(q), 0), take(all, array(0), 0)).item<bool>()) << k << " rank " << q;
      }
    }
    EXPECT_TRUE(all_close(flat_of(sharded.gather_state()), flat_of(plain->state()), 1e-4, 1e-7)) << "clip " << clip;
  }
  optim::ShardedOptimizer sharded(adamw(), {.group = w});
  auto plain = adamw();
  Tree p_sh = params;
  for (int step = 0; step < 4; ++step) {
    Tree g = grads_of(p_sh, step);
    plain->apply_gradients(nn::average_gradients(g, w), p_sh);
    p_sh = sharded.apply_gradients(g, p_sh);
  }
  // Each rank holds ceil(23 / n) + ceil(6 / n) elements of m and of v; plain AdamW 2 * 29.
  const int f32 = (23 + n - 1) / n, f64 = (6 + n - 1) / n;
  EXPECT_EQ(sharded.state_elements(), 2 * (f32 + f64));
  EXPECT_EQ(sharded.state()["float32"]["m"].as_array().shape(), Shape({f32}));
  EXPECT_EQ(sharded.state()["float64"]["v"].as_array().shape(), Shape({f64}));
  EXPECT_EQ(sharded.step().item<uint64_t>(), 4u);
  // gather_state: AdamW's own layout, equal to the plain optimizer's state.
  Tree whole = sharded.gather_state();
  for (const char* key : {"w.m", "w.v", "b.0.m", "b.1.v", "d.m", "d.v"}) {
    std::string k = key;
    auto find = [&](const Tree& t) {
      for (auto& [path, a] : tree_flatten_arrays(t))
        if (path == k) return a;
      throw std::runtime_error("no state entry " + k);
    };
    array got = find(whole), want = find(plain->state());
    EXPECT_TRUE(matches(got, want.shape(), to_vector(want), 1e-4, 1e-7)) << k;
  }
  // scatter_state of the gathered state into a fresh wrapper continues to the same bits.
  optim::ShardedOptimizer resumed(adamw(), {.group = w});
  resumed.scatter_state(whole);
  Tree g = grads_of(p_sh, 4);
  Tree next = sharded.apply_gradients(g, p_sh), next_resumed = resumed.apply_gradients(g, p_sh);
  EXPECT_EQ(flat_of(next), flat_of(next_resumed));
  // Misuse: a shape-dependent optimizer, other parameters, a state entry of the wrong shape.
  EXPECT_THROW(optim::ShardedOptimizer(std::make_shared<optim::Adafactor>()), std::invalid_argument);
  EXPECT_THROW(sharded.apply_gradients(Tree::Dict{{"w", g["w"]}}, p_sh), std::invalid_argument);
  Tree bad = plain->state();
  bad.as_dict().insert_or_assign("d", Tree::Dict{{"m", zeros({3, 2}, float64)}, {"v", zeros({2, 3}, float64)}});
  optim::ShardedOptimizer other(adamw(), {.group = w});
  other.init(params);
  EXPECT_THROW(other.scatter_state(bad), std::invalid_argument);
}

}  // namespace
}  // namespace mica::test

int main(int argc, char** argv) {
  namespace dist = mica::distributed;
  testing::InitGoogleTest(&argc, argv);
  std::string backend = mica::test::backend();
  if (backend == "nccl") {
    // One GPU per process: skipped (ctest's code 77, on every rank) with fewer GPUs than ranks.
    const char* n = std::getenv("MICA_WORLD_SIZE");
    if (!dist::is_available("nccl") || mica::gpu::device_count() < (n ? std::atoi(n) : 1)) {
      std::printf("ranks: fewer GPUs (%d) than ranks; skipped\n", mica::gpu::device_count());
      return 77;
    }
    mica::set_default_device(mica::Device(mica::Device::gpu));
  }
  dist::Group w = dist::init(true, backend);
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "--stuck" || mode == "--dead") {
    // Rank 1 never joins the all_sum (it sleeps, or exits): the others must not hang.
    if (w.rank() == 1) {
      if (mode == "--dead") std::_Exit(0);
      std::this_thread::sleep_for(std::chrono::seconds(600));
    }
    eval(dist::all_sum(mica::array(1.0f), w));
    std::printf("rank %d: the all_sum returned without rank 1\n", w.rank());
    return 1;
  }
  if (w.rank() != 0) GTEST_FLAG_SET(brief, true);  // failures only: rank 0 prints the summary
  int rc = RUN_ALL_TESTS();
  // The job fails when any rank failed.
  int any = dist::all_max(mica::array(rc), w).item<int>();
  if (w.rank() == 0) {
    std::printf("ranks (%s): %d ranks, %s\n", backend.c_str(), w.size(), any ? "FAILED on some rank" : "all passed");
  }
  return any;
}
