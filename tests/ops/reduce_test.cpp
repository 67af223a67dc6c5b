// Tests of the reduce family: reductions, arg-reductions, var/std, logsumexp, softmax and scans
// against double-precision references, over dtypes, axes, keepdims, views and empty arrays.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

#include "mica/mica.h"
#include "reference/reference.h"

namespace mica::test {
namespace {

using Vec = std::vector<double>;
using GroupFn = std::function<double(const Vec&)>;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<int> norm_axes(std::vector<int> axes, int nd) {
  for (auto& a : axes) a = a < 0 ? a + nd : a;
  std::sort(axes.begin(), axes.end());
  return axes;
}
Shape keep(Shape s, const std::vector<int>& ax) {
  for (int a : ax) s[a] = 1;
  return s;
}
Shape drop(const Shape& s, const std::vector<int>& ax) {
  Shape out;
  for (size_t d = 0; d < s.size(); ++d) {
    if (std::find(ax.begin(), ax.end(), static_cast<int>(d)) == ax.end()) out.push_back(s[d]);
  }
  return out;
}
size_t numel(const Shape& s) {
  size_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

// Applies f to the elements of x (row-major, `shape`) grouped by output position; the result
// is row-major in the keepdims shape.
Vec ref_groups(const Vec& x, const Shape& shape, const std::vector<int>& ax, const GroupFn& f) {
  Shape out = keep(shape, ax);
  std::vector<Vec> groups(numel(out));
  int nd = static_cast<int>(shape.size());
  for (size_t i = 0; i < x.size(); ++i) {
    size_t rem = i, o = 0, stride = 1;
    for (int d = nd - 1; d >= 0; --d) {
      size_t idx = rem % shape[d];
      rem /= shape[d];
      if (out[d] != 1) o += idx * stride;
      stride *= out[d];
    }
    groups[o].push_back(x[i]);
  }
  Vec r(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) r[g] = f(groups[g]);
  return r;
}

double g_sum(const Vec& v) { return std::accumulate(v.begin(), v.end(), 0.0); }
double g_prod(const Vec& v) { return std::accumulate(v.begin(), v.end(), 1.0, std::multiplies<>()); }
double g_max(const Vec& v) {
  double m = -kInf;
  for (double x : v) {
    if (std::isnan(x)) return kNaN;
    m = std::max(m, x);
  }
  return m;
}
double g_min(const Vec& v) {
  double m = kInf;
  for (double x : v) {
    if (std::isnan(x)) return kNaN;
    m = std::min(m, x);
  }
  return m;
}
double g_all(const Vec& v) { return std::all_of(v.begin(), v.end(), [](double x) { return x != 0; }); }
double g_any(const Vec& v) { return std::any_of(v.begin(), v.end(), [](double x) { return x != 0; }); }
double g_mean(const Vec& v) { return g_sum(v) / v.size(); }
GroupFn g_var(int ddof) {
  return [ddof](const Vec& v) {
    double m = g_mean(v), ss = 0;
    for (double x : v) ss += (x - m) * (x - m);
    return ss / std::max<double>(static_cast<double>(v.size()) - ddof, 0.0);
  };
}
double g_lse(const Vec& v) {
  double m = g_max(v);
  if (std::isinf(m) || std::isnan(m)) return m;
  double s = 0;
  for (double x : v) s += std::exp(x - m);
  return m + std::log(s);
}
double g_argmax(const Vec& v) {
  size_t best = 0;
  for (size_t i = 1; i < v.size(); ++i) {
    if (std::isnan(v[best])) break;
    if (std::isnan(v[i]) || v[i] > v[best]) best = i;
  }
  return static_cast<double>(best);
}
double g_argmin(const Vec& v) {
  size_t best = 0;
  for (size_t i = 1; i < v.size(); ++i) {
    if (std::isnan(v[best])) break;
    if (std::isnan(v[i]) || v[i] < v[best]) best = i;
  }
  return static_cast<double>(best);
}

// Tolerance for a reduction of n elements of magnitude <= 2 in dtype d.
double red_atol(Dtype d, size_t n) { return tol_for(d) * 2.0 * std::max<size_t>(n, 1) + tol_for(d); }

// An operation under test, with its reference.
struct Case {
  const char* name;
  std::function<array(const array&, const std::vector<int>&, bool)> op;
  GroupFn ref;
};

std::vector<Case> basic_cases() {
  return {
      {"sum", [](const array& a, const std::vector<int>& ax, bool k) { return sum(a, ax, k); }, g_sum},
      {"max", [](const array& a, const std::vector<int>& ax, bool k) { return max(a, ax, k); }, g_max},
      {"min", [](const array& a, const std::vector<int>& ax, bool k) { return min(a, ax, k); }, g_min},
      {"all", [](const array& a, const std::vector<int>& ax, bool k) { return all(a, ax, k); }, g_all},
      {"any", [](const array& a, const std::vector<int>& ax, bool k) { return any(a, ax, k); }, g_any},
      {"mean", [](const array& a, const std::vector<int>& ax, bool k) { return mean(a, ax, k); }, g_mean},
  };
}

void check_case(const Case& c, const array& x, const std::vector<int>& axes, bool keepdims, double extra_tol = 0) {
  Vec xv = to_vector(x);
  auto ax = norm_axes(axes, static_cast<int>(x.ndim()));
  Vec want = ref_groups(xv, x.shape(), ax, c.ref);
  array got = c.op(x, axes, keepdims);
  size_t n = 1;
  for (int a : ax) n *= x.shape()[a];
  Dtype td = got.dtype();
  double rtol = tol_for(td) * 4 + extra_tol, atol = red_atol(td, n) + extra_tol;
  Shape shape = keepdims ? keep(x.shape(), ax) : drop(x.shape(), ax);
  EXPECT_TRUE(matches(got, shape, want, rtol, atol))
      << c.name << " dtype " << x.dtype() << " shape " << detail::shape_str(x.shape()) << " axes " << ax.size()
      << " keepdims " << keepdims;
}

TEST(Reduce, BasicAcrossDtypesAxesKeepdims) {
  Shape shape{3, 4, 5};
  std::vector<std::vector<int>> axes_list = {{0}, {1}, {2}, {-1}, {0, 2}, {-3, -2}, {1, 2}, {0, 1, 2}};
  for (Dtype dt : {float32, float16, bfloat16, int32, bool_}) {
    array x = random_array(shape, dt, -2, 2, 7);
    for (auto& c : basic_cases()) {
      for (auto& axes : axes_list) {
        for (bool k : {false, true}) check_case(c, x, axes, k);
      }
    }
  }
}

TEST(Reduce, ProdAcrossDtypes) {
  Case c{"prod", [](const array& a, const std::vector<int>& ax, bool k) { return prod(a, ax, k); }, g_prod};
  for (Dtype dt : {float32, float16, bfloat16, int32, bool_}) {
    // Values near 1 keep products in range.
    array x = random_array({3, 4, 5}, dt, dt == int32 ? -2 : 0.5, dt == int32 ? 2 : 1.5, 3);
    for (auto axes : std::vector<std::vector<int>>{{0}, {2}, {0, 1}, {0, 1, 2}}) {
      for (bool k : {false, true}) check_case(c, x, axes, k);
    }
  }
}

TEST(Reduce, OutputDtypes) {
  EXPECT_EQ(sum(array({true, false})).dtype(), int32);
  EXPECT_EQ(sum(random_array({3}, int8)).dtype(), int32);
  EXPECT_EQ(sum(random_array({3}, int16)).dtype(), int32);
  EXPECT_EQ(sum(random_array({3}, uint8, 0, 5)).dtype(), uint32);
  EXPECT_EQ(sum(random_array({3}, uint16, 0, 5)).dtype(), uint32);
  EXPECT_EQ(sum(random_array({3}, int64)).dtype(), int64);
  EXPECT_EQ(sum(random_array({3}, uint64, 0, 5)).dtype(), uint64);
  EXPECT_EQ(prod(random_array({3}, int8)).dtype(), int32);
  EXPECT_EQ(sum(random_array({3}, float16)).dtype(), float16);
  EXPECT_EQ(mean(random_array({3}, int32)).dtype(), float32);
  EXPECT_EQ(var(random_array({3}, int32)).dtype(), float32);
  EXPECT_EQ(std(random_array({3}, uint8, 0, 5)).dtype(), float32);
  EXPECT_EQ(mean(random_array({3}, bfloat16)).dtype(), bfloat16);
  EXPECT_EQ(max(random_array({3}, int8)).dtype(), int8);
  EXPECT_EQ(min(array({true, false})).dtype(), bool_);
  EXPECT_EQ(all(random_array({3}, float32)).dtype(), bool_);
  EXPECT_EQ(any(random_array({3}, int32)).dtype(), bool_);
  EXPECT_EQ(argmax(random_array({3}, float32)).dtype(), uint32);
  EXPECT_EQ(argmin(random_array({3}, int8), 0).dtype(), uint32);
  EXPECT_EQ(logsumexp(random_array({3}, int32)).dtype(), float32);
  EXPECT_EQ(softmax(random_array({3}, int32)).dtype(), float32);
  EXPECT_EQ(cumsum(array({true, true})).dtype(), int32);
  EXPECT_EQ(cumsum(random_array({3}, int8)).dtype(), int8);
  EXPECT_EQ(cumprod(array({true, true})).dtype(), bool_);
  EXPECT_EQ(logcumsumexp(random_array({3}, int32)).dtype(), float32);
  // Values of widened sums.
  EXPECT_EQ(sum(array({200, 100}, uint8)).item<uint32_t>(), 300u);
  EXPECT_EQ(prod(array({100, -56}, int8)).item<int32_t>(), -5600);
  EXPECT_EQ(sum(array({true, true, false})).item<int32_t>(), 2);
}

TEST(Reduce, OtherIntegerDtypes) {
  Case c{"sum", [](const array& a, const std::vector<int>& ax, bool k) { return sum(a, ax, k); }, g_sum};
  Case m{"max", [](const array& a, const std::vector<int>& ax, bool k) { return max(a, ax, k); }, g_max};
  for (Dtype dt : {int8, uint8, int16, uint16, uint32, int64, uint64, float64}) {
    array x = random_array({4, 6}, dt, 0, 20, 11);
    for (auto axes : std::vector<std::vector<int>>{{0}, {1}, {0, 1}}) {
      check_case(c, x, axes, false);
      check_case(m, x, axes, true);
    }
  }
}

TEST(Reduce, NoAxesAndScalars) {
  array x = random_array({2, 3}, float32);
  Vec xv = to_vector(x);
  EXPECT_TRUE(matches(sum(x), {}, {g_sum(xv)}, 1e-6, 1e-5));
  EXPECT_TRUE(matches(sum(x, true), {1, 1}, {g_sum(xv)}, 1e-6, 1e-5));
  EXPECT_TRUE(matches(max(x, true), {1, 1}, {g_max(xv)}));
  EXPECT_TRUE(matches(mean(x), {}, {g_mean(xv)}, 1e-6, 1e-6));
  EXPECT_TRUE(matches(var(x), {}, {g_var(0)(xv)}, 1e-5, 1e-6));
  EXPECT_TRUE(matches(std(x, false, 1), {}, {std::sqrt(g_var(1)(xv))}, 1e-5, 1e-6));
  // An empty axis list leaves the array alone (sum/prod/max/min) or converts it (all/any/mean).
  EXPECT_TRUE(matches(sum(x, std::vector<int>{}), {2, 3}, xv));
  EXPECT_EQ(sum(array({true, false}), std::vector<int>{}).dtype(), bool_);
  EXPECT_EQ(all(random_array({2}, int32), std::vector<int>{}).dtype(), bool_);
  EXPECT_EQ(mean(random_array({2}, int32), std::vector<int>{}).dtype(), float32);
  EXPECT_TRUE(matches(var(x, std::vector<int>{}), {2, 3}, Vec(6, 0.0)));
  // 0-d inputs.
  array s(3.5f);
  EXPECT_TRUE(matches(sum(s), {}, {3.5}));
  EXPECT_TRUE(matches(max(s), {}, {3.5}));
  EXPECT_TRUE(matches(argmax(s), {}, {0}));
  EXPECT_TRUE(matches(softmax(s), {}, {1.0}));
  EXPECT_TRUE(matches(logsumexp(s), {}, {3.5}));
  EXPECT_TRUE(matches(cumsum(s), {1}, {3.5}));
  EXPECT_TRUE(matches(all(s), {}, {1}));
}

// Non-contiguous inputs: transposed, strided slices and broadcasts take other kernel paths.
TEST(Reduce, NonContiguousInputs) {
  array base = random_array({6, 5, 8}, float32, -2, 2, 5);
  std::vector<array> views = {
      transpose(base, {2, 0, 1}),
      transpose(base, {1, 2, 0}),
      slice(base, {0, 0, 0}, {6, 5, 8}, {2, 1, 3}),
      slice(base, {1, 1, 1}, {5, 4, 7}),
      broadcast_to(random_array({1, 5, 1}, float32, -2, 2, 6), {6, 5, 8}),
      broadcast_to(random_array({6, 1, 8}, float32, -2, 2, 8), {6, 5, 8}),
  };
  std::vector<std::vector<int>> axes_list = {{0}, {1}, {2}, {0, 1}, {0, 2}, {1, 2}, {0, 1, 2}};
  for (auto& v : views) {
    for (auto& c : basic_cases()) {
      for (auto& axes : axes_list) check_case(c, v, axes, false);
    }
  }
  // Half-precision and integer views.
  for (Dtype dt : {float16, int32}) {
    array b = random_array({6, 5, 8}, dt, -2, 2, 9);
    for (auto& axes : axes_list) {
      check_case(basic_cases()[0], transpose(b, {2, 0, 1}), axes, true);
      check_case(basic_cases()[1], slice(b, {0, 0, 0}, {6, 5, 8}, {2, 2, 2}), axes, false);
    }
  }
}

// Shapes large enough for the threaded paths: many outputs, few long rows, long columns.
TEST(Reduce, LargeShapesUseEveryPath) {
  struct L {
    Shape shape;
    std::vector<int> axes;
  };
  std::vector<L> list = {
      {{1 << 20}, {0}},         {{3, 100000}, {1}}, {{100000, 3}, {0}}, {{300, 1000}, {0}},
      {{300, 1000}, {1}},       {{40, 50, 60}, {0, 2}}, {{2, 70000}, {0}}, {{70000, 2}, {1}},
      {{20, 3000, 4}, {1}},     {{5, 40000}, {0, 1}},
  };
  Case s = basic_cases()[0], mx = basic_cases()[1], mn = basic_cases()[2];
  for (auto& l : list) {
    array x = random_array(l.shape, float32, -2, 2, 21);
    // Sums of many float32 values: compare against the magnitude of the sum's terms.
    check_case(s, x, l.axes, false, 1e-5);
    check_case(mx, x, l.axes, false);
    check_case(mn, x, l.axes, true);
    check_case(s, transpose(x), {0}, false, 1e-5);
  }
  // Integer sums are exact.
  array xi = random_array({1000, 700}, int32, -5, 5, 4);
  check_case(s, xi, {0}, false);
  check_case(s, xi, {1}, false);
  check_case(s, xi, {0, 1}, false);
  array xb = random_array({500, 300}, bool_, 0, 1, 4);
  check_case(basic_cases()[3], xb, {0}, false);
  check_case(basic_cases()[4], xb, {1}, false);
}

TEST(Reduce, NanPropagatesThroughMaxMin) {
  array x = array({1.0f, NAN, 3.0f, -1.0f}, {2, 2});
  EXPECT_TRUE(matches(max(x), {}, {kNaN}));
  EXPECT_TRUE(matches(min(x), {}, {kNaN}));
  EXPECT_TRUE(matches(max(x, 1), {2}, {kNaN, 3.0}));
  EXPECT_TRUE(matches(min(x, 0), {2}, {1.0, kNaN}));
  EXPECT_TRUE(matches(argmax(array({1.0f, NAN, 3.0f})), {}, {1}));
  EXPECT_TRUE(matches(argmin(array({1.0f, NAN, 3.0f})), {}, {1}));
}

TEST(Reduce, EmptyArrays) {
  array e = zeros({0, 3});
  EXPECT_TRUE(matches(sum(e), {}, {0.0}));
  EXPECT_TRUE(matches(sum(e, 0), {3}, {0, 0, 0}));
  EXPECT_TRUE(matches(sum(e, 1), {0}, {}));
  EXPECT_TRUE(matches(prod(e, 0), {3}, {1, 1, 1}));
  EXPECT_TRUE(matches(all(e, 0), {3}, {1, 1, 1}));
  EXPECT_TRUE(matches(any(e, 0), {3}, {0, 0, 0}));
  EXPECT_TRUE(matches(mean(e, 0), {3}, {kNaN, kNaN, kNaN}));
  EXPECT_TRUE(matches(var(e, 0), {3}, {kNaN, kNaN, kNaN}));
  EXPECT_TRUE(matches(var(zeros({2, 0}), 1), {2}, {kNaN, kNaN}));
  EXPECT_TRUE(matches(max(e, 1), {0}, {}));
  EXPECT_TRUE(throws_op<std::invalid_argument>("argmax", [&] { argmax(zeros({3, 0}), 0); }));
  EXPECT_TRUE(matches(softmax(zeros({3, 0}), -1), {3, 0}, {}));
  EXPECT_TRUE(matches(softmax(e, 0), {0, 3}, {}));
  EXPECT_TRUE(matches(cumsum(e, 0), {0, 3}, {}));
  EXPECT_TRUE(matches(cumsum(e), {0}, {}));
  EXPECT_TRUE(matches(logcumsumexp(e, 1), {0, 3}, {}));
  EXPECT_TRUE(matches(mica::fast::layer_norm(e, std::nullopt, std::nullopt, 1e-5f), {0, 3}, {}));
  EXPECT_TRUE(matches(sum(zeros({0}, int32)), {}, {0.0}));
  EXPECT_TRUE(throws_op<std::invalid_argument>("max", [&] { max(e); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("max", [&] { max(e, 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("min", [&] { min(zeros({0})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("argmax", [&] { argmax(e); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("argmin", [&] { argmin(e, 1); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("logsumexp", [&] { logsumexp(e, 0); }));
}

TEST(Reduce, BadInputs) {
  array x = random_array({2, 3}, float32);
  EXPECT_TRUE(throws_op<std::out_of_range>("sum", [&] { sum(x, 2); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("sum", [&] { sum(x, -3); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("max", [&] { max(x, std::vector<int>{0, 5}); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("mean", [&] { mean(x, 2); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("var", [&] { var(x, -4); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("std", [&] { std(x, 7); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("all", [&] { all(x, 2); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("argmax", [&] { argmax(x, 2); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("argmin", [&] { argmin(x, -3); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("logsumexp", [&] { logsumexp(x, 2); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("softmax", [&] { softmax(x, 3); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("cumsum", [&] { cumsum(x, 2); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("cummax", [&] { cummax(x, -3); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("sum", [&] { sum(array(1.0f), 0); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("cumsum", [&] { cumsum(array(1.0f), 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("sum", [&] { sum(x, std::vector<int>{0, 0}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("sum", [&] { sum(x, std::vector<int>{1, -1}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("prod", [&] { prod(x, std::vector<int>{0, -2}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("logsumexp", [&] { logsumexp(x, std::vector<int>{0, 0}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("softmax", [&] { softmax(x, std::vector<int>{1, 1}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("var", [&] { var(x, std::vector<int>{1, -1}); }));
  array c = astype(x, complex64);
  EXPECT_TRUE(throws_op<std::invalid_argument>("softmax", [&] { softmax(c); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("logsumexp", [&] { logsumexp(c); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("logcumsumexp", [&] { logcumsumexp(c); }));
}

TEST(Reduce, ComplexSumProdMax) {
  array re = random_array({3, 4}, float32, -2, 2, 1), im = random_array({3, 4}, float32, -2, 2, 2);
  array c = add(astype(re, complex64), multiply(astype(im, complex64), array(complex64_t(0, 1))));
  Vec rv = to_vector(re), iv = to_vector(im);
  array s = sum(c, 1);
  Vec want_re(3, 0), want_im(3, 0);
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 4; ++j) {
      want_re[i] += rv[i * 4 + j];
      want_im[i] += iv[i * 4 + j];
    }
  }
  EXPECT_TRUE(matches(s, {3}, want_re, 1e-5, 1e-5));
  EXPECT_TRUE(all_close(to_vector_imag(s), want_im, 1e-5, 1e-5));
  EXPECT_EQ(mean(c).dtype(), complex64);
  EXPECT_EQ(var(c).dtype(), float32);
  // Complex max compares real parts first.
  array m = max(array({complex64_t(1, 2), complex64_t(2, 0), complex64_t(2, -1)}));
  EXPECT_TRUE(matches(m, {}, {2.0}));
  EXPECT_TRUE(all_close(to_vector_imag(m), {0.0}, 0, 0));
  EXPECT_TRUE(matches(argmax(array({complex64_t(1, 2), complex64_t(2, 0), complex64_t(2, 1)})), {}, {2}));
}

// ---- argmin / argmax ----
TEST(ArgReduce, AxesDtypesAndViews) {
  Case amax{"argmax", [](const array& a, const std::vector<int>& ax, bool k) { return argmax(a, ax[0], k); }, g_argmax};
  Case amin{"argmin", [](const array& a, const std::vector<int>& ax, bool k) { return argmin(a, ax[0], k); }, g_argmin};
  for (Dtype dt : {float32, float16, bfloat16, int32, bool_, uint8}) {
    array x = random_array({4, 5, 6}, dt, dt == uint8 ? 0 : -3, 3, 13);
    for (int ax : {0, 1, 2, -1}) {
      for (bool k : {false, true}) {
        check_case(amax, x, {ax}, k);
        check_case(amin, x, {ax}, k);
        check_case(amax, transpose(x, {2, 0, 1}), {ax}, k);
        check_case(amin, slice(x, {0, 0, 0}, {4, 5, 6}, {1, 2, 2}), {ax}, k);
      }
    }
  }
  // Flattened versions, ties pick the first index.
  array t = array({3, 1, 3, 1}, {2, 2}, int32);
  EXPECT_TRUE(matches(argmax(t), {}, {0}));
  EXPECT_TRUE(matches(argmin(t), {}, {1}));
  EXPECT_TRUE(matches(argmax(t, true), {1, 1}, {0}));
  array x = random_array({30, 40}, float32, -3, 3, 2);
  Vec xv = to_vector(x);
  EXPECT_TRUE(matches(argmax(x), {}, {g_argmax(xv)}));
  EXPECT_TRUE(matches(argmin(transpose(x)), {}, {g_argmin(to_vector(transpose(x)))}));
  // Large enough for threads.
  array big = random_array({500, 300}, float32, -3, 3, 8);
  check_case(amax, big, {0}, false);
  check_case(amin, big, {1}, false);
  check_case(amax, transpose(big), {1}, false);
}

// ---- var / std ----
TEST(Variance, AxesDdofDtypes) {
  for (Dtype dt : {float32, float16, bfloat16, int32, float64}) {
    array x = random_array({5, 6, 7}, dt, -2, 2, 17);
    for (auto axes : std::vector<std::vector<int>>{{2}, {-1}, {1, 2}, {0}, {1}, {0, 2}, {0, 1, 2}}) {
      for (int ddof : {0, 1}) {
        for (bool k : {false, true}) {
          Case v{"var", [ddof](const array& a, const std::vector<int>& ax, bool kd) { return var(a, ax, kd, ddof); },
                 g_var(ddof)};
          check_case(v, x, axes, k);
          GroupFn sd = [ddof](const Vec& g) { return std::sqrt(g_var(ddof)(g)); };
          Case s{"std", [ddof](const array& a, const std::vector<int>& ax, bool kd) { return std(a, ax, kd, ddof); }, sd};
          check_case(s, x, axes, k);
        }
      }
    }
  }
  // Views and a large array through the fused row kernel.
  array base = random_array({64, 300}, float32, -2, 2, 3);
  Case v{"var", [](const array& a, const std::vector<int>& ax, bool kd) { return var(a, ax, kd); }, g_var(0)};
  check_case(v, transpose(base), {-1}, false);
  check_case(v, slice(base, {0, 0}, {64, 300}, {1, 3}), {-1}, false);
  check_case(v, random_array({256, 4096}, float32, -2, 2, 4), {-1}, true);
  // ddof >= n: division by zero as MLX (inf, or NaN for zero spread).
  array a = array({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 7.0f}, {2, 3});
  EXPECT_TRUE(matches(var(a, 1, false, 3), {2}, {kInf, kInf}));
  EXPECT_TRUE(matches(var(ones({2, 3}), 1, false, 5), {2}, {kNaN, kNaN}));
  EXPECT_TRUE(matches(var(a, 0, false, 5), {3}, {kInf, kInf, kInf}));
  // Offsets far from zero keep their precision (two-pass variance).
  array off = add(random_array({4, 1000}, float32, -1, 1, 5), array(1000.0f));
  check_case(v, off, {-1}, false, 1e-4);
}

// ---- logsumexp ----
TEST(LogSumExp, AxesDtypesKeepdims) {
  Case c{"logsumexp", [](const array& a, const std::vector<int>& ax, bool k) { return logsumexp(a, ax, k); }, g_lse};
  for (Dtype dt : {float32, float16, bfloat16, int32, float64}) {
    array x = random_array({4, 5, 6}, dt, -3, 3, 23);
    for (auto axes : std::vector<std::vector<int>>{{2}, {-1}, {1, 2}, {0, 1, 2}, {0}, {1}, {0, 2}}) {
      for (bool k : {false, true}) check_case(c, x, axes, k);
    }
  }
  array base = random_array({40, 300}, float32, -30, 30, 3);
  check_case(c, transpose(base), {-1}, false);
  check_case(c, base, {-1}, false);
  check_case(c, base, {0}, true);
  check_case(c, random_array({64, 5000}, float32, -30, 30, 1), {1}, false);
  EXPECT_TRUE(matches(logsumexp(random_array({2, 3}, float32), std::vector<int>{}), {2, 3},
                      to_vector(random_array({2, 3}, float32))));
}

TEST(LogSumExp, Infinities) {
  array x = array({-INFINITY, -INFINITY, INFINITY, 1.0f, NAN, 1.0f, 1000.0f, 1000.0f}, {4, 2});
  EXPECT_TRUE(matches(logsumexp(x, 1), {4}, {-kInf, kInf, kNaN, 1000.0 + std::log(2.0)}, 1e-6, 1e-4));
  // Scattered axes go through the composition; same answers.
  array y = reshape(x, {2, 2, 2});
  EXPECT_TRUE(matches(logsumexp(y, std::vector<int>{0, 2}), {2}, {kNaN, kInf}));
}

// ---- softmax ----
Vec ref_softmax(const Vec& x, const Shape& shape, const std::vector<int>& ax) {
  Vec lse = ref_groups(x, shape, ax, g_lse);
  Shape ks = keep(shape, ax);
  Vec out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = std::exp(x[i] - lse[broadcast_index(i, shape, ks)]);
  return out;
}

TEST(Softmax, AxesDtypesViews) {
  for (Dtype dt : {float32, float16, bfloat16, int32, float64}) {
    array x = random_array({4, 5, 6}, dt, -3, 3, 29);
    Vec xv = to_vector(x);
    Dtype od = is_floating(dt) ? dt : float32;
    for (auto axes : std::vector<std::vector<int>>{{2}, {-1}, {1, 2}, {0}, {1}, {0, 2}, {0, 1, 2}}) {
      for (bool precise : {false, true}) {
        auto ax = norm_axes(axes, 3);
        EXPECT_TRUE(matches(softmax(x, axes, precise), x.shape(), ref_softmax(xv, x.shape(), ax), tol_for(od) * 4,
                            tol_for(od) * 2))
            << dt << " axes " << ax.size() << " first " << ax[0];
      }
    }
  }
  array base = random_array({64, 300}, float32, -20, 20, 3);
  array t = transpose(base);
  EXPECT_TRUE(matches(softmax(t, -1), t.shape(), ref_softmax(to_vector(t), t.shape(), {1}), 1e-5, 1e-7));
  EXPECT_TRUE(matches(softmax(base, 0), base.shape(), ref_softmax(to_vector(base), base.shape(), {0}), 1e-5, 1e-7));
  EXPECT_TRUE(matches(softmax(base), base.shape(), ref_softmax(to_vector(base), base.shape(), {0, 1}), 1e-5, 1e-9));
  array big = random_array({200, 4096}, float32, -10, 10, 4);
  EXPECT_TRUE(matches(softmax(big, -1), big.shape(), ref_softmax(to_vector(big), big.shape(), {1}), 1e-5, 1e-8));
}

TEST(Softmax, Infinities) {
  array x = array({-INFINITY, 0.0f, -INFINITY, -INFINITY, 1000.0f, 1000.0f}, {3, 2});
  EXPECT_TRUE(matches(softmax(x, -1), {3, 2}, {0.0, 1.0, kNaN, kNaN, 0.5, 0.5}));
}

// ---- scans ----
using ScanFn = std::function<array(const array&, int, bool, bool)>;
using Combine = std::function<double(double, double)>;

Vec ref_scan(const Vec& x, const Shape& shape, int axis, bool reverse, bool inclusive, double init, const Combine& f) {
  Vec out(x.size());
  size_t n = shape[axis], inner = 1;
  for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
  size_t outer = n == 0 ? 0 : x.size() / (n * inner);
  for (size_t o = 0; o < outer; ++o) {
    for (size_t j = 0; j < inner; ++j) {
      double acc = init;
      for (size_t t = 0; t < n; ++t) {
        size_t i = reverse ? n - 1 - t : t;
        size_t k = (o * n + i) * inner + j;
        if (inclusive) {
          acc = f(acc, x[k]);
          out[k] = acc;
        } else {
          out[k] = acc;
          acc = f(acc, x[k]);
        }
      }
    }
  }
  return out;
}

double lae(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return kNaN;
  double hi = std::max(a, b), lo = std::min(a, b);
  if (lo == -kInf || hi == kInf) return hi;
  return hi + std::log1p(std::exp(lo - hi));
}
double nan_max(double a, double b) { return std::isnan(a) || std::isnan(b) ? kNaN : std::max(a, b); }
double nan_min(double a, double b) { return std::isnan(a) || std::isnan(b) ? kNaN : std::min(a, b); }

struct ScanCase {
  const char* name;
  ScanFn op;
  Combine f;
  double init;  // identity in double (the lowest/highest of the dtype for max/min)
};

std::vector<ScanCase> scan_cases() {
  return {
      {"cumsum", [](const array& a, int ax, bool r, bool i) { return cumsum(a, ax, r, i); }, std::plus<>(), 0.0},
      {"cumprod", [](const array& a, int ax, bool r, bool i) { return cumprod(a, ax, r, i); }, std::multiplies<>(), 1.0},
      {"cummax", [](const array& a, int ax, bool r, bool i) { return cummax(a, ax, r, i); }, nan_max, -kInf},
      {"cummin", [](const array& a, int ax, bool r, bool i) { return cummin(a, ax, r, i); }, nan_min, kInf},
      {"logcumsumexp", [](const array& a, int ax, bool r, bool i) { return logcumsumexp(a, ax, r, i); }, lae, -kInf},
  };
}

double dtype_extreme(Dtype dt, double v) {
  if (std::isinf(v) && !is_inexact(dt)) {
    if (dt == bool_) return v > 0 ? 1 : 0;
    if (dt == int32) return v > 0 ? 2147483647.0 : -2147483648.0;
  }
  return v;
}

TEST(Scan, AllOpsReverseInclusiveAxesDtypes) {
  for (Dtype dt : {float32, float16, bfloat16, int32, bool_}) {
    for (auto& c : scan_cases()) {
      bool is_lse = std::string(c.name) == "logcumsumexp";
      bool is_prod = std::string(c.name) == "cumprod";
      array x = random_array({3, 4, 5}, dt, is_prod && is_inexact(dt) ? 0.5 : -2, is_prod && is_inexact(dt) ? 1.5 : 2, 31);
      Vec xv = to_vector(x);
      for (int axis : {0, 1, 2, -1}) {
        int ax = axis < 0 ? axis + 3 : axis;
        for (bool rev : {false, true}) {
          for (bool inc : {false, true}) {
            Combine f = c.f;
            if (dt == bool_ && is_prod) f = [](double a, double b) { return static_cast<double>(a != 0 && b != 0); };
            if (dt == bool_ && std::string(c.name) == "cummax") f = [](double a, double b) { return static_cast<double>(a != 0 || b != 0); };
            if (dt == bool_ && std::string(c.name) == "cummin") f = [](double a, double b) { return static_cast<double>(a != 0 && b != 0); };
            double init = is_lse ? c.init : dtype_extreme(dt, c.init);
            Vec want = ref_scan(xv, x.shape(), ax, rev, inc, init, f);
            Dtype od = is_lse ? (is_floating(dt) ? dt : float32) : dt;
            double tol = tol_for(od) * 4;
            array got = c.op(x, axis, rev, inc);
            EXPECT_TRUE(matches(got, x.shape(), want, tol, tol * 8))
                << c.name << " " << dt << " axis " << axis << " reverse " << rev << " inclusive " << inc;
            // Non-contiguous input: a transposed view, scanned along the same logical axis.
            array t = transpose(x, {2, 0, 1});
            int tax = (ax + 1) % 3;  // x's axis ax is t's axis (ax + 1) % 3
            Vec wt = ref_scan(to_vector(t), t.shape(), tax, rev, inc, init, f);
            EXPECT_TRUE(matches(c.op(t, tax, rev, inc), t.shape(), wt, tol, tol * 8))
                << c.name << " transposed " << dt << " axis " << tax;
          }
        }
      }
    }
  }
}

TEST(Scan, FlattenedLargeAndNan) {
  array x = random_array({3, 4}, float32, -2, 2, 3);
  EXPECT_TRUE(matches(cumsum(x), {12}, ref_scan(to_vector(x), {12}, 0, false, true, 0.0, std::plus<>()), 1e-6, 1e-5));
  EXPECT_TRUE(matches(cummax(x, true, false), {12},
                      ref_scan(to_vector(x), {12}, 0, true, false, -kInf, nan_max)));
  // Exact integer forms as MLX prints them.
  EXPECT_TRUE(matches(cumsum(array({1, 2, 3}), 0, true, false), {3}, {5, 3, 0}));
  EXPECT_TRUE(matches(cumsum(array({1, 2, 3}), 0, false, false), {3}, {0, 1, 3}));
  EXPECT_TRUE(matches(cummax(array({1, 3, 2}), 0, true, false), {3}, {3, 2, -2147483648.0}));
  EXPECT_TRUE(matches(cumprod(array({2, 3, 4}), 0, false, false), {3}, {1, 2, 6}));
  EXPECT_TRUE(matches(cumsum(array({true, true, false})), {3}, {1, 2, 2}));
  EXPECT_TRUE(matches(cummax(array({1.0f, NAN, 3.0f})), {3}, {1.0, kNaN, kNaN}));
  // Long lines and wide blocks (threaded).
  array big = random_array({300, 500}, float32, -1, 1, 5);
  Vec bv = to_vector(big);
  EXPECT_TRUE(matches(cumsum(big, 0), big.shape(), ref_scan(bv, big.shape(), 0, false, true, 0.0, std::plus<>()), 1e-5, 1e-4));
  EXPECT_TRUE(matches(cumsum(big, 1, true), big.shape(), ref_scan(bv, big.shape(), 1, true, true, 0.0, std::plus<>()), 1e-5, 1e-4));
  EXPECT_TRUE(matches(logcumsumexp(big, 1), big.shape(), ref_scan(bv, big.shape(), 1, false, true, -kInf, lae), 1e-5, 1e-5));
  array xi = random_array({2, 3}, int32, -3, 3, 8);
  EXPECT_TRUE(matches(cumsum(broadcast_to(xi, {4, 2, 3}), 0), {4, 2, 3},
                      ref_scan(to_vector(broadcast_to(xi, {4, 2, 3})), {4, 2, 3}, 0, false, true, 0.0, std::plus<>())));
}

}  // namespace
}  // namespace mica::test

namespace mica {
namespace {
// Reductions over trailing axes whose product passes 2^31 cannot fold them into one 32-bit row:
// they take the axis-by-axis compositions (built lazily here: 2^32 elements are never made) and
// give the right shapes; a batched matmul whose batch * M passes 2^31 stays batched.
TEST(Reduce, TrailingAxesBeyond32Bits) {
  array square = broadcast_to(zeros({1, 1}), {1 << 16, 1 << 16});
  EXPECT_EQ(logsumexp(square).shape(), Shape{});
  EXPECT_EQ(softmax(square, std::vector<int>{0, 1}).shape(), (Shape{1 << 16, 1 << 16}));
  EXPECT_EQ(var(square).shape(), Shape{});
  array cube = broadcast_to(zeros({1, 1, 2}), {1 << 16, 1 << 16, 2});
  EXPECT_EQ(matmul(cube, zeros({2, 3})).shape(), (Shape{1 << 16, 1 << 16, 3}));
}
// count_nonzero, median and minmax (MLX 0.32's values).
TEST(ReduceExtras, CountNonzeroMedianMinmax) {
  array a({0, 1, 2, 0, 0, 3}, {2, 3});
  EXPECT_TRUE(mica::test::matches(count_nonzero(a), {}, {3}, 0, 0));
  EXPECT_EQ(count_nonzero(a).dtype(), int32);
  EXPECT_TRUE(mica::test::matches(count_nonzero(a, 0, true), {1, 3}, {0, 1, 2}, 0, 0));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(mica::test::matches(count_nonzero(array({0.0f, float(nan), -0.0f})), {}, {1}, 0, 0));
  EXPECT_TRUE(mica::test::matches(median(array({3, 1, 2, 4})), {}, {2.5}, 0, 0));
  EXPECT_EQ(median(array({3, 1, 2, 4})).dtype(), float32);
  array m = median(array({3.0f, 1.0f, 2.0f, 9.0f, 6.0f, 5.0f, 4.0f, float(nan)}, {2, 4}), 1);
  eval(m);
  EXPECT_EQ(m.data<float>()[0], 2.5f);
  EXPECT_TRUE(std::isnan(m.data<float>()[1]));
  EXPECT_TRUE(mica::test::matches(median(array({3, 1, 6, 5}, {2, 2}), {0, 1}, true), {1, 1}, {4.0}, 0, 0));
  EXPECT_TRUE(mica::test::matches(median(array({5.0f, 1.0f, 4.0f}, {3}), 0), {}, {4.0}, 0, 0));
  EXPECT_EQ(median(astype(array({1.0f, 2.0f}), bfloat16)).dtype(), bfloat16);
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("median", [] { median(zeros({0})); }));
  auto [lo, hi] = minmax(array({3, 1, 2, 5}, {2, 2}));
  EXPECT_TRUE(mica::test::matches(lo, {}, {1}, 0, 0));
  EXPECT_TRUE(mica::test::matches(hi, {}, {5}, 0, 0));
  auto [lo0, hi0] = minmax(array({3, 1, 2, 5}, {2, 2}), 0);
  EXPECT_TRUE(mica::test::matches(lo0, {2}, {2, 1}, 0, 0));
  EXPECT_TRUE(mica::test::matches(hi0, {2}, {3, 5}, 0, 0));
}

// number_of_elements: the size along axes (or its reciprocal) as a scalar node, with vmap,
// grad and errors.
TEST(ReduceExtras, NumberOfElements) {
  array x = zeros({2, 3, 4});
  EXPECT_TRUE(mica::test::matches(number_of_elements(x, {0, 2}, false), {}, {8}, 0, 0));
  EXPECT_EQ(number_of_elements(x, {0, 2}, false).dtype(), int32);
  EXPECT_TRUE(mica::test::matches(number_of_elements(x, {-1}, true, float32), {}, {0.25}, 0, 0));
  EXPECT_TRUE(mica::test::matches(number_of_elements(x, {}, false, float64), {}, {1}, 0, 0));
  EXPECT_TRUE(mica::test::matches(number_of_elements(zeros({3, 0}), {1}, false), {}, {0}, 0, 0));
  // Under vmap the batch axis is not counted: every entry of the batch sees (3, 4).
  auto per_entry = vmap([](const std::vector<array>& in) {
    return std::vector<array>{add(number_of_elements(in[0], {0, 1}, false, float32), sum(in[0]))};
  });
  EXPECT_TRUE(mica::test::matches(per_entry({ones({2, 3, 4})})[0], {2}, {24, 24}, 0, 0));
  // Its gradient is zero.
  auto g = grad([](const array& a) { return multiply(sum(a), number_of_elements(a, {0}, true, float32)); });
  EXPECT_TRUE(mica::test::matches(g(ones({4})), {4}, {0.25, 0.25, 0.25, 0.25}, 1e-7, 0));
  auto [outs, tangents] = jvp([](const std::vector<array>& in) {
    return std::vector<array>{number_of_elements(in[0], {0}, false, float32)};
  }, {ones({3})}, {ones({3})});
  EXPECT_TRUE(mica::test::matches(outs[0], {}, {3}, 0, 0));
  EXPECT_TRUE(mica::test::matches(tangents[0], {}, {0}, 0, 0));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("number_of_elements", [&] { number_of_elements(x, {3}, false); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("number_of_elements", [&] { number_of_elements(x, {1, -2}, false); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("number_of_elements", [] { number_of_elements(array(1.0f), {0}, false); }));
}

}  // namespace
}  // namespace mica
