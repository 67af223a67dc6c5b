// The array core: construction, dtypes, printing, lazy evaluation, memory, devices, threads.
#include <random>
#include <sstream>
#include <thread>

#include "reference/reference.h"

namespace mica {
namespace {
using test::matches;

std::string str(const array& a) {
  std::ostringstream os;
  os << a;
  return os.str();
}

TEST(Array, Construction) {
  array s(3.5f);
  EXPECT_EQ(s.ndim(), 0u);
  EXPECT_EQ(s.dtype(), float32);
  EXPECT_EQ(s.item<float>(), 3.5f);
  EXPECT_EQ(array(1.0).dtype(), float32);
  EXPECT_EQ(array(7).dtype(), int32);
  EXPECT_EQ(array(true).dtype(), bool_);
  array l({1, 2, 3});
  EXPECT_EQ(l.dtype(), int32);
  EXPECT_EQ(l.shape(), (Shape{3}));
  array f({1.0f, 2.0f, 3.0f, 4.0f}, {2, 2});
  EXPECT_EQ(f.shape(), (Shape{2, 2}));
  EXPECT_EQ(f.strides(), (Strides{2, 1}));
  EXPECT_EQ(f.size(), 4u);
  EXPECT_EQ(f.itemsize(), 4u);
  EXPECT_EQ(f.nbytes(), 16u);
  EXPECT_EQ(f.shape(-1), 2);
  std::vector<double> v = {1, 2, 3, 4, 5, 6};
  array fromit(v.begin(), {2, 3}, float16);
  EXPECT_EQ(fromit.dtype(), float16);
  EXPECT_TRUE(matches(fromit, {2, 3}, v));
  EXPECT_EQ(f.data<float>()[3], 4.0f);
}

TEST(Array, ItemChecksSize) {
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("item", [] { array({1, 2}).item<int>(); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("array", [] { array({1.0f, 2.0f}, Shape{3}); }));
  EXPECT_TRUE(test::throws_op<std::out_of_range>("shape", [] { array({1, 2}).shape(2); }));
}

TEST(Dtype, PromotionAndCategories) {
  EXPECT_EQ(promote_types(uint8, int8), int16);
  EXPECT_EQ(promote_types(uint64, int8), float32);
  EXPECT_EQ(promote_types(int64, float16), float16);
  EXPECT_EQ(promote_types(bfloat16, float16), float32);
  EXPECT_EQ(promote_types(bool_, bool_), bool_);
  EXPECT_EQ(promote_types(complex64, float64), complex64);
  EXPECT_TRUE(issubdtype(float32, floating));
  EXPECT_TRUE(issubdtype(bfloat16, inexact));
  EXPECT_TRUE(issubdtype(int8, signedinteger));
  EXPECT_TRUE(issubdtype(uint16, integer));
  EXPECT_TRUE(issubdtype(complex64, complexfloating));
  EXPECT_TRUE(issubdtype(complex64, number));
  EXPECT_FALSE(issubdtype(bool_, number));
  EXPECT_TRUE(issubdtype(bool_, generic));
  EXPECT_FALSE(issubdtype(int32, floating));
  EXPECT_TRUE(issubdtype(floating, inexact));
  EXPECT_TRUE(issubdtype(float32, float32));
  EXPECT_FALSE(issubdtype(float32, float16));
  EXPECT_EQ(finfo(float16).max, 65504.0);
  EXPECT_EQ(finfo(float32).eps, std::numeric_limits<float>::epsilon());
  EXPECT_EQ(finfo(bfloat16).min, -3.3895313892515355e38);
  EXPECT_EQ(iinfo(int8).min, -128);
  EXPECT_EQ(iinfo(uint32).max, 4294967295u);
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("finfo", [] { finfo f(int32); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("iinfo", [] { iinfo f(float32); }));
}

// result_type folds promote_types over the arrays, starting from bool (MLX's rule), and agrees
// with the dtype the arithmetic ops produce.
TEST(Dtype, ResultType) {
  auto z = [](Dtype d) { return zeros({2}, d); };
  EXPECT_EQ(result_type({z(uint8), z(int8), z(float16)}), float16);
  EXPECT_EQ(result_type({z(int32), z(bfloat16)}), bfloat16);
  EXPECT_EQ(result_type({z(uint32), z(int64)}), int64);
  EXPECT_EQ(result_type({z(bool_), z(uint16)}), uint16);
  EXPECT_EQ(result_type({z(uint64), z(int8), z(float64)}), float64);
  EXPECT_EQ(result_type({z(complex64)}), complex64);
  EXPECT_EQ(result_type(std::vector<array>{}), bool_);
  EXPECT_EQ(result_type(z(uint8), z(int8)), int16);
  EXPECT_EQ(result_type(z(uint8), z(int8), z(bfloat16)), bfloat16);
  for (Dtype a : all_dtypes) {
    for (Dtype b : all_dtypes) {
      EXPECT_EQ(result_type({z(a), z(b)}), promote_types(a, b)) << a << " " << b;
      EXPECT_EQ(result_type({z(a), z(b)}), add(z(a), z(b)).dtype()) << a << " " << b;
    }
  }
}

TEST(Dtype, HalfConversionsRoundToNearestEven) {
  EXPECT_EQ(static_cast<float>(float16_t(1.0f + 1.0f / 2048)), 1.0f);   // tie -> even
  EXPECT_EQ(static_cast<float>(float16_t(65520.0f)), INFINITY);
  EXPECT_EQ(static_cast<float>(float16_t(5.96e-8f)), 5.9604644775390625e-8f);
  EXPECT_TRUE(std::isnan(static_cast<float>(float16_t(NAN))));
  EXPECT_EQ(static_cast<float>(bfloat16_t(1.00390625f)), 1.0f);         // tie -> even
  EXPECT_EQ(static_cast<float>(bfloat16_t(3.0f)), 3.0f);
  for (int i = -2048; i <= 2048; ++i) EXPECT_EQ(static_cast<float>(float16_t(static_cast<float>(i))), i);
}

TEST(Array, PrintsLikeMlx) {
  EXPECT_EQ(str(array({1, 2, 3, 4}, {2, 2})), "array([[1, 2],\n       [3, 4]], dtype=int32)");
  EXPECT_EQ(str(array({1.5f, 2.0f})), "array([1.5, 2], dtype=float32)");
  EXPECT_EQ(str(array(true)), "array(True, dtype=bool)");
  EXPECT_EQ(str(array(3.0f) * 2), "array(6, dtype=float32)");
  EXPECT_EQ(str(array({1.123456789f, 2.0f})), "array([1.12346, 2], dtype=float32)");
  EXPECT_EQ(str(zeros({0, 3})), "array([], dtype=float32)");
  EXPECT_EQ(str(array({1e10f, 1.0f})), "array([1e+10, 1], dtype=float32)");
  EXPECT_EQ(str(array({complex64_t(1, 2), complex64_t(3, -1)})), "array([1+2j, 3-1j], dtype=complex64)");
  EXPECT_EQ(str(array({NAN, INFINITY, -INFINITY, 1e-8f})), "array([nan, inf, -inf, 1e-08], dtype=float32)");
  EXPECT_EQ(str(arange(2000)), "array([0, 1, 2, ..., 1997, 1998, 1999], dtype=int32)");
  EXPECT_EQ(str(reshape(arange(24), {2, 3, 4})),
            "array([[[0, 1, 2, 3],\n        [4, 5, 6, 7],\n        [8, 9, 10, 11]],\n"
            "       [[12, 13, 14, 15],\n        [16, 17, 18, 19],\n        [20, 21, 22, 23]]], dtype=int32)");
  EXPECT_EQ(str(array({1, 2}, int8)), "array([1, 2], dtype=int8)");
}

// set_printoptions (MLX's values for precision 3 and 0) and the global formatter's bool spelling.
TEST(Array, PrintOptions) {
  struct Restore {
    PrintFormatter saved = get_global_formatter();
    ~Restore() { get_global_formatter() = saved; }
  } restore;
  array x({1.0f, 2.123456789f, 1e-8f, 3.5e10f, NAN});
  set_printoptions({3});
  EXPECT_EQ(str(x), "array([1.000, 2.123, 0.000, 35000000512.000, nan], dtype=float32)");
  EXPECT_EQ(str(array({1, 2})), "array([1, 2], dtype=int32)");
  EXPECT_EQ(str(array({complex64_t(1.5f, 2.0f)})), "array([1.500+2.000j], dtype=complex64)");
  EXPECT_EQ(str(astype(array({1.23456f}), bfloat16)), "array([1.234], dtype=bfloat16)");
  EXPECT_EQ(str(array(2.0f)), "array(2.000, dtype=float32)");
  set_printoptions({0});
  EXPECT_EQ(str(x), "array([1, 2, 0, 35000000512, nan], dtype=float32)");
  // The stream's own formatting is left as it was.
  std::ostringstream os;
  os << x << " " << 0.5;
  EXPECT_EQ(os.str(), "array([1, 2, 0, 35000000512, nan], dtype=float32) 0.5");
  set_printoptions({});
  EXPECT_EQ(str(x), "array([1, 2.12346, 1e-08, 3.5e+10, nan], dtype=float32)");
  get_global_formatter().capitalize_bool = false;
  EXPECT_EQ(str(array({true, false})), "array([true, false], dtype=bool)");
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("set_printoptions", [] { set_printoptions({-2}); }));
}

TEST(Eval, LazyUntilAsked) {
  auto a = array({1.0f, 2.0f});
  auto b = exp(a);
  EXPECT_FALSE(b.is_available());
  EXPECT_TRUE(b.has_primitive());
  eval(b);
  EXPECT_TRUE(b.is_available());
  // Evaluated arrays release their inputs.
  EXPECT_FALSE(b.has_primitive());
  EXPECT_TRUE(b.inputs().empty());
  EXPECT_TRUE(matches(add(b, b), {2}, {2 * std::exp(1.0), 2 * std::exp(2.0)}, 1e-6, 0));
}

TEST(Eval, MillionOpChainDoesNotRecurse) {
  auto x = array(0.0f);
  for (int i = 0; i < 1000000; ++i) x = add(x, array(1.0f));
  EXPECT_EQ(x.item<float>(), 1000000.0f);
  // An unevaluated chain is also released without recursion.
  auto y = array(0.0f);
  for (int i = 0; i < 1000000; ++i) y = multiply(y, array(1.0f));
}

TEST(Eval, MultiOutputNodesShareTheirInputs) {
  // divmod's two outputs: one input list, the other output as sibling, both released by eval.
  auto a = array({7.0f, -7.0f, 9.5f}), b = array({2.0f, 2.0f, 4.0f});
  auto qr = divmod(multiply(a, array(1.0f)), b);  // its first input: a temporary nothing else holds
  const array& q = qr[0];
  const array& r = qr[1];
  EXPECT_EQ(q.inputs().size(), 2u);
  EXPECT_EQ(&q.inputs(), &r.inputs());
  ASSERT_EQ(r.siblings().size(), 1u);
  EXPECT_TRUE(r.siblings()[0].is_same(q));
  ASSERT_EQ(r.outputs().size(), 2u);
  EXPECT_TRUE(r.outputs()[0].is_same(q) && r.outputs()[1].is_same(r));
  // DivMod reads its inputs again for the second output: eval must not let the first take them.
  eval(r);
  EXPECT_TRUE(q.is_available());
  EXPECT_TRUE(q.inputs().empty() && r.inputs().empty() && !r.has_siblings() && !q.has_siblings());
  EXPECT_TRUE(matches(q, {3}, {3, -4, 2}, 0, 0));
  EXPECT_TRUE(matches(r, {3}, {1, 1, 1.5}, 0, 0));
  // A node held through its second output only still evaluates; one held by nothing is released.
  array r2 = divmod(a, b)[1];
  EXPECT_TRUE(matches(r2, {3}, {1, 1, 1.5}, 0, 0));
  for (int i = 0; i < 3; ++i) divmod(a, b);
}

TEST(Eval, MultiOutputNodeLifetimes) {
  // One AdamStep node of 5 parameters (15 outputs): random subsets of its outputs kept (some
  // through a consumer), the rest released unevaluated, the kept ones evaluated in a random order,
  // one at a time or together; every value as the node of each parameter alone gives it.
  const int k = 5;
  std::vector<array> p, g, m, v;
  for (int i = 0; i < k; ++i) {
    p.push_back(test::random_array({3, 4}, float32, -2, 2, 10 + i));
    g.push_back(test::random_array({3, 4}, float32, -2, 2, 20 + i));
    m.push_back(test::random_array({3, 4}, float32, -2, 2, 30 + i));
    v.push_back(test::random_array({3, 4}, float32, 0, 2, 40 + i));
  }
  array coef = array({0.01f, 1.0f, 0.999f});
  std::vector<array> want;
  for (int i = 0; i < k; ++i) {
    for (auto& o : fast::adam_step(p[i], g[i], m[i], v[i], coef, 0.9, 0.999, 1e-8)) want.push_back(o);
  }
  eval(want);
  std::mt19937 rng(5);
  for (int round = 0; round < 60; ++round) {
    std::vector<int> kept;
    std::vector<array> held;
    {
      std::vector<array> outs = fast::adam_step(p, g, m, v, coef, 0.9, 0.999, 1e-8);
      for (int j = 0; j < 3 * k; ++j) {
        if (rng() % 2) continue;
        kept.push_back(j);
        held.push_back(rng() % 3 == 0 ? multiply(outs[j], array(1.0f)) : outs[j]);
      }
    }  // the outputs not kept are released here, before anything is evaluated
    std::vector<size_t> order(held.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    if (rng() % 2) {
      for (size_t i : order) eval(held[i]);
    } else {
      eval(held);
    }
    for (size_t i = 0; i < held.size(); ++i) {
      EXPECT_TRUE(test::close(held[i], want[kept[i]], 0)) << "round " << round << ", output " << kept[i];
    }
  }
}

TEST(Eval, DonatesBuffers) {
  auto a = exp(test::random_array({1 << 16}, float32));
  eval(a);
  const void* p = a.data<void>();
  // a's only owner is the next node, so its buffer is reused by the result.
  a = sin(a);
  eval(a);
  EXPECT_EQ(a.data<void>(), p);
  auto held = exp(a);
  eval(held);
  EXPECT_NE(held.data<void>(), a.data<void>());  // a is still held here: no donation
}

TEST(Eval, AsyncEvalAndThreads) {
  auto a = exp(arange(0.0, 10.0, 1.0));
  async_eval({a});
  EXPECT_TRUE(matches(a, {10}, test::map_ref({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, [](double v) { return std::exp(v); }), 1e-6, 0));
  synchronize();
  std::vector<std::thread> ts;
  std::vector<float> results(4);
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([t, &results] {
      auto x = full({100}, array(static_cast<float>(t)));
      for (int i = 0; i < 200; ++i) x = add(x, array(1.0f));
      results[t] = sum(x, false).item<float>();
    });
  }
  for (auto& t : ts) t.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(results[t], 100.0f * (t + 200));
}

TEST(Memory, CountersTrackBuffers) {
  reset_peak_memory();
  size_t before = get_active_memory();
  {
    auto a = zeros({1 << 20}, float32) + 1.0f;
    eval(a);
    EXPECT_GE(get_active_memory(), before + (4u << 20));
  }
  EXPECT_LE(get_active_memory(), before);
  EXPECT_GE(get_peak_memory(), before + (4u << 20));
  clear_cache();
  EXPECT_EQ(get_cache_memory(), 0u);
}

TEST(Device, CpuAlwaysGpuWhenPresent) {
  EXPECT_TRUE(is_available(Device::cpu));
  EXPECT_EQ(is_available(Device::gpu), device_count(Device::gpu) > 0);
  auto s = new_stream(Device::cpu);
  auto x = add(array(1), array(2), s);
  EXPECT_EQ(x.item<int>(), 3);
  EXPECT_EQ(add(array(1), array(2), Device::cpu).item<int>(), 3);
  synchronize(s);
  if (is_available(Device::gpu)) {
    // A GPU is present (a CUDA build on a machine with a driver): ops run there too.
    EXPECT_EQ(add(array(1), array(2), Device::gpu).item<int>(), 3);
    return;
  }
  EXPECT_EQ(default_device(), Device(Device::cpu));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("set_default_device", [] { set_default_device(Device::gpu); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("default_stream", [] { add(array(1), array(2), Device::gpu); }));
}

}  // namespace
}  // namespace mica
