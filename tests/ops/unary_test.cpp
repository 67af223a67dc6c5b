// Unary ops against double-precision references, over dtypes, views and empty arrays.
#include <cmath>
#include <cstdint>
#include <limits>

#include "reference/reference.h"

namespace mica {
namespace {
using test::matches;
using test::random_array;
using test::to_vector;

struct UnaryRow {
  const char* name;
  std::function<array(const array&)> op;
  std::function<double(double)> ref;
  double lo, hi;
};

double erfinv_ref(double y) {
  // Bisection on erf: slow but independent of the kernel's method.
  double lo = -6, hi = 6;
  for (int i = 0; i < 200; ++i) {
    double mid = (lo + hi) / 2;
    (std::erf(mid) < y ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

const std::vector<UnaryRow>& rows() {
  static const std::vector<UnaryRow> r = {
      {"abs", [](const array& a) { return abs(a); }, [](double x) { return std::fabs(x); }, -3, 3},
      {"negative", [](const array& a) { return negative(a); }, [](double x) { return -x; }, -3, 3},
      {"sign", [](const array& a) { return sign(a); }, [](double x) { return (x > 0) - (x < 0); }, -3, 3},
      {"square", [](const array& a) { return square(a); }, [](double x) { return x * x; }, -3, 3},
      {"sqrt", [](const array& a) { return sqrt(a); }, [](double x) { return std::sqrt(x); }, 0.1, 5},
      {"rsqrt", [](const array& a) { return rsqrt(a); }, [](double x) { return 1 / std::sqrt(x); }, 0.1, 5},
      {"reciprocal", [](const array& a) { return reciprocal(a); }, [](double x) { return 1 / x; }, 0.5, 5},
      {"exp", [](const array& a) { return exp(a); }, [](double x) { return std::exp(x); }, -10, 10},
      {"expm1", [](const array& a) { return expm1(a); }, [](double x) { return std::expm1(x); }, -2, 2},
      {"log", [](const array& a) { return log(a); }, [](double x) { return std::log(x); }, 0.1, 10},
      {"log2", [](const array& a) { return log2(a); }, [](double x) { return std::log2(x); }, 0.1, 10},
      {"log10", [](const array& a) { return log10(a); }, [](double x) { return std::log10(x); }, 0.1, 10},
      {"log1p", [](const array& a) { return log1p(a); }, [](double x) { return std::log1p(x); }, -0.5, 3},
      {"sin", [](const array& a) { return sin(a); }, [](double x) { return std::sin(x); }, -3, 3},
      {"cos", [](const array& a) { return cos(a); }, [](double x) { return std::cos(x); }, -3, 3},
      {"tan", [](const array& a) { return tan(a); }, [](double x) { return std::tan(x); }, -1, 1},
      {"arcsin", [](const array& a) { return arcsin(a); }, [](double x) { return std::asin(x); }, -0.9, 0.9},
      {"arccos", [](const array& a) { return arccos(a); }, [](double x) { return std::acos(x); }, -0.9, 0.9},
      {"arctan", [](const array& a) { return arctan(a); }, [](double x) { return std::atan(x); }, -3, 3},
      {"sinh", [](const array& a) { return sinh(a); }, [](double x) { return std::sinh(x); }, -3, 3},
      {"cosh", [](const array& a) { return cosh(a); }, [](double x) { return std::cosh(x); }, -3, 3},
      {"tanh", [](const array& a) { return tanh(a); }, [](double x) { return std::tanh(x); }, -5, 5},
      {"arcsinh", [](const array& a) { return arcsinh(a); }, [](double x) { return std::asinh(x); }, -3, 3},
      {"arccosh", [](const array& a) { return arccosh(a); }, [](double x) { return std::acosh(x); }, 1.1, 4},
      {"arctanh", [](const array& a) { return arctanh(a); }, [](double x) { return std::atanh(x); }, -0.9, 0.9},
      {"sigmoid", [](const array& a) { return sigmoid(a); }, [](double x) { return 1 / (1 + std::exp(-x)); }, -8, 8},
      {"erf", [](const array& a) { return erf(a); }, [](double x) { return std::erf(x); }, -2, 2},
      {"erfinv", [](const array& a) { return erfinv(a); }, erfinv_ref, -0.95, 0.95},
      {"floor", [](const array& a) { return floor(a); }, [](double x) { return std::floor(x); }, -3, 3},
      {"ceil", [](const array& a) { return ceil(a); }, [](double x) { return std::ceil(x); }, -3, 3},
      {"round", [](const array& a) { return round(a); }, [](double x) { return std::nearbyint(x); }, -3, 3},
      {"trunc", [](const array& a) { return trunc(a); }, [](double x) { return std::trunc(x); }, -3, 3},
      {"degrees", [](const array& a) { return degrees(a); }, [](double x) { return x * 180 / M_PI; }, -3, 3},
      {"radians", [](const array& a) { return radians(a); }, [](double x) { return x * M_PI / 180; }, -3, 3},
      {"stop_gradient", [](const array& a) { return stop_gradient(a); }, [](double x) { return x; }, -3, 3},
  };
  return r;
}

TEST(Unary, FloatDtypesAgainstReference) {
  for (auto& row : rows()) {
    for (Dtype d : {float32, float64, float16, bfloat16}) {
      auto x = random_array({3, 4, 5}, d, row.lo, row.hi, 7);
      // The reference sees the same (rounded) inputs the kernel sees.
      auto want = test::map_ref(to_vector(x), row.ref);
      double tol = std::max(test::tol_for(d) * 4, 1e-12);
      // Functions that amplify input rounding get a looser bound in low precision.
      if (d == float16 || d == bfloat16) tol *= 4;
      EXPECT_TRUE(matches(row.op(x), {3, 4, 5}, want, tol, tol)) << row.name << " " << d;
      EXPECT_EQ(row.op(x).dtype(), d) << row.name;
    }
  }
}

TEST(Unary, StridedViewsAndEmpty) {
  for (auto& row : rows()) {
    auto base = random_array({6, 5}, float32, row.lo, row.hi, 3);
    auto t = transpose(base);                     // column-major view
    auto b = broadcast_to(slice(base, {0, 0}, {1, 5}), {4, 5});  // stride-0 rows
    EXPECT_TRUE(matches(row.op(t), {5, 6}, test::map_ref(to_vector(t), row.ref), 1e-5, 1e-5)) << row.name;
    EXPECT_TRUE(matches(row.op(b), {4, 5}, test::map_ref(to_vector(b), row.ref), 1e-5, 1e-5)) << row.name;
    auto e = row.op(zeros({0, 3}));
    eval(e);
    EXPECT_EQ(e.shape(), (Shape{0, 3})) << row.name;
  }
}

TEST(Unary, IntegerInputsPromoteLikeMlx) {
  auto i = array({1, 2, 3});
  EXPECT_EQ(exp(i).dtype(), float32);
  EXPECT_EQ(sqrt(array({true, false})).dtype(), float32);
  EXPECT_EQ(abs(array({-1, 2}, int8)).dtype(), int8);
  EXPECT_EQ(floor(i).dtype(), int32);
  EXPECT_TRUE(matches(abs(array({-1, 2, -3}, int8)), {3}, {1, 2, 3}));
  EXPECT_TRUE(matches(negative(array({3}, uint8)), {1}, {253}));
  EXPECT_TRUE(matches(sign(array({-4, 0, 9}, int16)), {3}, {-1, 0, 1}));
  EXPECT_TRUE(matches(square(array({-4, 5}, int64)), {2}, {16, 25}));
  EXPECT_TRUE(matches(exp(i), {3}, {std::exp(1.0), std::exp(2.0), std::exp(3.0)}, 1e-6, 0));
}

TEST(Unary, ExpEdgeCases) {
  float inf = INFINITY;
  auto x = array({-inf, -200.0f, -87.0f, 0.0f, 88.0f, 89.0f, 200.0f, inf, NAN});
  auto v = to_vector(exp(x));
  EXPECT_EQ(v[0], 0.0);
  EXPECT_EQ(v[1], 0.0);
  EXPECT_NEAR(v[2] / std::exp(-87.0), 1.0, 1e-5);
  EXPECT_EQ(v[3], 1.0);
  EXPECT_NEAR(v[4] / std::exp(88.0), 1.0, 1e-5);
  EXPECT_TRUE(std::isinf(v[5]));
  EXPECT_TRUE(std::isinf(v[6]) && std::isinf(v[7]));
  EXPECT_TRUE(std::isnan(v[8]));
  // sigmoid and tanh go through the same exp: IEEE limits at the infinities, NaN stays NaN.
  auto s = to_vector(sigmoid(array({-inf, inf, NAN})));
  EXPECT_EQ(s[0], 0.0);
  EXPECT_EQ(s[1], 1.0);
  EXPECT_TRUE(std::isnan(s[2]));
  auto t = to_vector(tanh(array({-inf, inf, NAN})));
  EXPECT_EQ(t[0], -1.0);
  EXPECT_EQ(t[1], 1.0);
  EXPECT_TRUE(std::isnan(t[2]));
}

TEST(Unary, Predicates) {
  float inf = INFINITY;
  auto x = array({1.0f, NAN, inf, -inf});
  EXPECT_TRUE(matches(isnan(x), {4}, {0, 1, 0, 0}));
  EXPECT_TRUE(matches(isinf(x), {4}, {0, 0, 1, 1}));
  EXPECT_TRUE(matches(isposinf(x), {4}, {0, 0, 1, 0}));
  EXPECT_TRUE(matches(isneginf(x), {4}, {0, 0, 0, 1}));
  EXPECT_TRUE(matches(isfinite(x), {4}, {1, 0, 0, 0}));
  EXPECT_TRUE(matches(isnan(array({1, 2})), {2}, {0, 0}));
  EXPECT_TRUE(matches(nan_to_num(x), {4}, {1, 0, 3.4028234663852886e38, -3.4028234663852886e38}));
  EXPECT_TRUE(matches(nan_to_num(x, 5.0f, 7.0f, -7.0f), {4}, {1, 5, 7, -7}));
  EXPECT_TRUE(matches(logical_not(array({0.0f, 2.0f})), {2}, {1, 0}));
  EXPECT_EQ(logical_not(array({1, 0})).dtype(), bool_);
  EXPECT_TRUE(matches(bitwise_invert(array({0, 5}, uint8)), {2}, {255, 250}));
  EXPECT_TRUE(matches(bitwise_invert(array({0, 5}, int32)), {2}, {-1, -6}));
  EXPECT_TRUE(matches(round(array({0.5f, 1.5f, 2.5f, -0.5f})), {4}, {0, 2, 2, -0}));
  EXPECT_TRUE(matches(round(array({1.234f, -5.678f}), 2), {2}, {1.23, -5.68}, 1e-6, 1e-6));
}

TEST(Unary, Complex) {
  auto c = array({complex64_t(3, 4), complex64_t(-1, 2)});
  EXPECT_EQ(abs(c).dtype(), float32);
  EXPECT_TRUE(matches(abs(c), {2}, {5, std::sqrt(5.0)}, 1e-6, 1e-6));
  EXPECT_TRUE(matches(real(c), {2}, {3, -1}));
  EXPECT_TRUE(matches(imag(c), {2}, {4, 2}));
  EXPECT_EQ(test::to_vector_imag(conjugate(c)), (std::vector<double>{-4, -2}));
  auto e = exp(c);
  auto want = std::exp(std::complex<double>(3, 4));
  EXPECT_NEAR(test::to_vector(e)[0], want.real(), 1e-3);
  EXPECT_NEAR(test::to_vector_imag(e)[0], want.imag(), 1e-3);
  EXPECT_TRUE(matches(imag(array({1.0f})), {1}, {0}));
}

TEST(Unary, Astype) {
  auto x = array({-1.5f, 0.0f, 2.7f, 300.0f});
  EXPECT_TRUE(matches(astype(x, int32), {4}, {-1, 0, 2, 300}));
  EXPECT_TRUE(matches(astype(x, bool_), {4}, {1, 0, 1, 1}));
  EXPECT_TRUE(matches(astype(x, float16), {4}, {-1.5, 0, 2.69921875, 300}));
  EXPECT_TRUE(matches(astype(x, bfloat16), {4}, {-1.5, 0, 2.703125, 300}));
  EXPECT_TRUE(matches(astype(array({true, false}), float32), {2}, {1, 0}));
  auto c = astype(x, complex64);
  EXPECT_TRUE(matches(real(c), {4}, {-1.5, 0, 2.7, 300}, 1e-6, 1e-6));
  // Every pair of dtypes converts.
  for (Dtype a : all_dtypes) {
    for (Dtype b : all_dtypes) {
      auto y = astype(astype(array({0, 1, 3}, uint8), a), b);
      auto v = to_vector(y);
      double two = b == bool_ || a == bool_ ? 1 : 3;
      EXPECT_EQ(v[2], two) << a << " -> " << b;
      EXPECT_EQ(y.dtype(), b);
    }
  }
}

// Floating -> integer: every input has a defined result (types/float_to_int.h), the one MLX 0.32
// gives on x86-64 (`mx.array(xs, mx.float32).astype(d).tolist()`, pasted below).
TEST(Unary, AstypeFloatToIntEveryInput) {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> xs = {-1.0, 300.0, -3e9, 3e9, nan, inf, -inf, 1e20, -1e20, 2.5, -2.5, 70000.0, -40000.0,
                                  9.3e18, 1.8e19};
  const std::vector<std::pair<Dtype, std::vector<double>>> want = {
      {uint8, {255, 44, 0, 0, 0, 0, 0, 0, 0, 2, 254, 112, 192, 0, 0}},
      {int8, {-1, 44, 0, 0, 0, 0, 0, 0, 0, 2, -2, 112, -64, 0, 0}},
      {uint16, {65535, 300, 0, 0, 0, 0, 0, 0, 0, 2, 65534, 4464, 25536, 0, 0}},
      {int16, {-1, 300, 0, 0, 0, 0, 0, 0, 0, 2, -2, 4464, 25536, 0, 0}},
      {uint32, {4294967295.0, 300, 2147483648.0, 3000000000.0, 2147483648.0, 0, 2147483648.0, 0, 2147483648.0, 2,
                4294967294.0, 70000, 4294927296.0, 0, 0}},
      {int32, {-1, 300, -2147483648.0, -2147483648.0, -2147483648.0, -2147483648.0, -2147483648.0, -2147483648.0,
               -2147483648.0, 2, -2, 70000, -40000, -2147483648.0, -2147483648.0}},
  };
  const std::vector<float> xf(xs.begin(), xs.end());
  array x(xf.begin(), {static_cast<int>(xs.size())}, float32);
  for (auto& [d, w] : want) EXPECT_TRUE(matches(astype(x, d), {static_cast<int>(xs.size())}, w, 0, 0)) << d;
  // 64-bit results compared bit for bit (doubles cannot hold them all).
  auto u64 = astype(x, uint64), i64 = astype(x, int64);
  eval(u64, i64);
  const std::vector<uint64_t> want_u = {18446744073709551615ull, 300, 18446744070709551616ull, 3000000000ull,
                                        9223372036854775808ull, 0, 9223372036854775808ull, 0, 9223372036854775808ull,
                                        2, 18446744073709551614ull, 70000, 18446744073709511616ull,
                                        9300000300729368576ull, 18000000404716257280ull};
  const std::vector<int64_t> want_i = {-1, 300, -3000000000ll, 3000000000ll, INT64_MIN, INT64_MIN, INT64_MIN,
                                       INT64_MIN, INT64_MIN, 2, -2, 70000, -40000, INT64_MIN, INT64_MIN};
  for (size_t i = 0; i < xs.size(); ++i) {
    EXPECT_EQ(u64.data<uint64_t>()[i], want_u[i]) << xs[i];
    EXPECT_EQ(i64.data<int64_t>()[i], want_i[i]) << xs[i];
  }
  // float64, float16 and bfloat16 sources follow the same rule (halves through float32).
  array xd = astype(x, float64);
  EXPECT_TRUE(matches(astype(xd, int32), {static_cast<int>(xs.size())}, want[5].second, 0, 0));
  EXPECT_TRUE(matches(astype(xd, uint8), {static_cast<int>(xs.size())}, want[0].second, 0, 0));
  array h = astype(array({-1.0f, 300.0f, 65504.0f}), float16);
  EXPECT_TRUE(matches(astype(h, uint8), {3}, {255, 44, 224}, 0, 0));
  EXPECT_TRUE(matches(astype(astype(x, bfloat16), int32), {static_cast<int>(xs.size())},
                      to_vector(astype(astype(astype(x, bfloat16), float32), int32)), 0, 0));
}

TEST(Unary, BadInputs) {
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("negative", [] { negative(array({true})); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("bitwise_invert", [] { bitwise_invert(array({1.0f})); }));
  auto c = array({complex64_t(1, 1)});
  for (auto [name, f] : std::vector<std::pair<const char*, std::function<void()>>>{
           {"floor", [&] { floor(c); }},
           {"ceil", [&] { ceil(c); }},
           {"sigmoid", [&] { sigmoid(c); }},
           {"erf", [&] { erf(c); }},
           {"erfinv", [&] { erfinv(c); }},
           {"expm1", [&] { expm1(c); }},
           {"log1p", [&] { log1p(c); }},
           {"trunc", [&] { trunc(c); }},
       }) {
    EXPECT_TRUE(test::throws_op<std::invalid_argument>(name, f));
  }
}

}  // namespace
}  // namespace mica
