// Binary and ternary ops against double-precision references: dtypes, promotion,
// broadcasting, views, empty arrays and bad inputs.
#include <cmath>
#include <limits>

#include "reference/reference.h"

namespace mica {
namespace {
using test::matches;
using test::random_array;
using test::to_vector;

struct BinaryRow {
  const char* name;
  std::function<array(const array&, const array&)> op;
  std::function<double(double, double)> ref;
  double lo, hi;       // input domain
  bool ints;           // also check integer dtypes
};

double py_mod(double a, double b) {
  double r = std::fmod(a, b);
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}

const std::vector<BinaryRow>& rows() {
  static const std::vector<BinaryRow> r = {
      {"add", [](auto& a, auto& b) { return add(a, b); }, [](double x, double y) { return x + y; }, -5, 5, true},
      {"subtract", [](auto& a, auto& b) { return subtract(a, b); }, [](double x, double y) { return x - y; }, -5, 5, true},
      {"multiply", [](auto& a, auto& b) { return multiply(a, b); }, [](double x, double y) { return x * y; }, -5, 5, true},
      {"divide", [](auto& a, auto& b) { return divide(a, b); }, [](double x, double y) { return x / y; }, 0.5, 5, false},
      {"floor_divide", [](auto& a, auto& b) { return floor_divide(a, b); },
       [](double x, double y) { return std::floor(x / y); }, 1, 9, true},
      {"remainder", [](auto& a, auto& b) { return remainder(a, b); }, py_mod, 1, 9, true},
      {"power", [](auto& a, auto& b) { return power(a, b); }, [](double x, double y) { return std::pow(x, y); }, 0.5, 3, false},
      {"maximum", [](auto& a, auto& b) { return maximum(a, b); }, [](double x, double y) { return std::max(x, y); }, -5, 5, true},
      {"minimum", [](auto& a, auto& b) { return minimum(a, b); }, [](double x, double y) { return std::min(x, y); }, -5, 5, true},
      {"arctan2", [](auto& a, auto& b) { return arctan2(a, b); }, [](double x, double y) { return std::atan2(x, y); }, -5, 5, false},
      {"logaddexp", [](auto& a, auto& b) { return logaddexp(a, b); },
       [](double x, double y) { return std::max(x, y) + std::log1p(std::exp(-std::fabs(x - y))); }, -5, 5, false},
      {"equal", [](auto& a, auto& b) { return equal(a, b); }, [](double x, double y) { return double(x == y); }, -2, 2, true},
      {"not_equal", [](auto& a, auto& b) { return not_equal(a, b); }, [](double x, double y) { return double(x != y); }, -2, 2, true},
      {"greater", [](auto& a, auto& b) { return greater(a, b); }, [](double x, double y) { return double(x > y); }, -2, 2, true},
      {"greater_equal", [](auto& a, auto& b) { return greater_equal(a, b); }, [](double x, double y) { return double(x >= y); }, -2, 2, true},
      {"less", [](auto& a, auto& b) { return less(a, b); }, [](double x, double y) { return double(x < y); }, -2, 2, true},
      {"less_equal", [](auto& a, auto& b) { return less_equal(a, b); }, [](double x, double y) { return double(x <= y); }, -2, 2, true},
      {"logical_and", [](auto& a, auto& b) { return logical_and(a, b); }, [](double x, double y) { return double(x != 0 && y != 0); }, -1, 1, true},
      {"logical_or", [](auto& a, auto& b) { return logical_or(a, b); }, [](double x, double y) { return double(x != 0 || y != 0); }, -1, 1, true},
      {"logical_xor", [](auto& a, auto& b) { return logical_xor(a, b); }, [](double x, double y) { return double((x != 0) != (y != 0)); }, -1, 1, true},
  };
  return r;
}

TEST(Binary, AgainstReferenceWithBroadcasting) {
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{4, 5}, {4, 5}}, {{4, 5}, {5}}, {{4, 1}, {1, 5}}, {{2, 3, 4}, {3, 1}}, {{}, {3, 4}}, {{3, 4}, {}}};
  for (auto& row : rows()) {
    std::vector<Dtype> dtypes = {float32, float64, float16, bfloat16};
    if (row.ints) dtypes.insert(dtypes.end(), {int32, int8, uint8, int64});
    for (Dtype d : dtypes) {
      for (auto& [sa, sb] : shapes) {
        // Unsigned subtraction wraps around; the double reference does not.
        if (issubdtype(d, unsignedinteger) && std::string(row.name) == "subtract") continue;
        double lo = row.lo, hi = row.hi;
        if (issubdtype(d, unsignedinteger)) lo = std::max(lo, 0.0);
        auto a = random_array(sa, d, lo, hi, 11);
        auto b = random_array(sb, d, lo, hi, 12);
        Shape out = broadcast_shapes(sa, sb);
        auto want = test::binary_ref(to_vector(a), sa, to_vector(b), sb, out, row.ref);
        auto got = row.op(a, b);
        // Integer results wrap like C; keep the domain small enough that none do.
        double tol = std::max(test::tol_for(got.dtype()) * 8, 1e-12);
        EXPECT_TRUE(matches(got, out, want, tol, tol)) << row.name << " " << d << " " << detail::shape_str(sa)
                                                       << " " << detail::shape_str(sb);
      }
    }
  }
}

TEST(Binary, StridedViews) {
  for (auto& row : rows()) {
    auto base = random_array({6, 7}, float32, row.lo, row.hi, 5);
    auto t = transpose(base);                                 // (7, 6), column-major
    auto s = slice(random_array({7, 12}, float32, row.lo, row.hi, 6), {0, 0}, {7, 12}, {1, 2});  // stride 2
    auto want = test::binary_ref(to_vector(t), {7, 6}, to_vector(s), {7, 6}, {7, 6}, row.ref);
    EXPECT_TRUE(matches(row.op(t, s), {7, 6}, want, 1e-5, 1e-5)) << row.name;
    auto e = row.op(zeros({0, 4}), ones({4}));
    EXPECT_EQ(e.shape(), (Shape{0, 4}));
    eval(e);
  }
}

TEST(Binary, PromotionAndWeakScalars) {
  auto h = ones({2}, float16);
  EXPECT_EQ((h * 2.0).dtype(), float16);
  EXPECT_EQ((2.0f + h).dtype(), float16);
  EXPECT_EQ((h + 1).dtype(), float16);
  auto i8 = ones({2}, int8);
  EXPECT_EQ((i8 + 1).dtype(), int8);
  EXPECT_EQ((i8 * 2.5).dtype(), float32);
  EXPECT_EQ((ones({2}, bool_) + 1).dtype(), int32);
  EXPECT_EQ(add(i8, ones({2}, uint8)).dtype(), int16);
  EXPECT_EQ(add(ones({2}, int32), ones({2}, float16)).dtype(), float16);
  EXPECT_EQ(add(ones({2}, bfloat16), ones({2}, float16)).dtype(), float32);
  EXPECT_EQ(add(ones({2}, uint64), ones({2}, int64)).dtype(), float32);
  EXPECT_EQ(divide(array({1, 2}), array({2, 2})).dtype(), float32);
  EXPECT_EQ(floor_divide(array({-7, 7}), array({2, 2})).dtype(), int32);
  EXPECT_TRUE(matches(floor_divide(array({-7, 7}), array({2, -2})), {2}, {-4, -4}));
  EXPECT_TRUE(matches(remainder(array({-7, 7}), array({2, -2})), {2}, {1, -1}));
  EXPECT_TRUE(matches(array({1, 2, 3}) * 2, {3}, {2, 4, 6}));
  EXPECT_TRUE(matches(10 - array({1.5f}), {1}, {8.5}));
  EXPECT_TRUE(matches(power(array({2, 3}), array({3, 2})), {2}, {8, 9}));
  auto dm = divmod(array({-7, 9}), array({2, 4}));
  EXPECT_TRUE(matches(dm[0], {2}, {-4, 2}));
  EXPECT_TRUE(matches(dm[1], {2}, {1, 1}));
  auto dmf = divmod(array({-7.5f, 9.0f}), array({2.0f, 4.0f}));
  EXPECT_TRUE(matches(dmf[0], {2}, {-4, 2}));
  EXPECT_TRUE(matches(dmf[1], {2}, {0.5, 1}));
}

TEST(Binary, Bitwise) {
  auto a = array({12, 10, -8}, int32), b = array({10, 6, 1}, int32);
  EXPECT_TRUE(matches(bitwise_and(a, b), {3}, {8, 2, 0}));
  EXPECT_TRUE(matches(a | b, {3}, {14, 14, -7}));
  EXPECT_TRUE(matches(a ^ b, {3}, {6, 12, -7}));
  EXPECT_TRUE(matches(left_shift(a, b), {3}, {12 << 10, 10 << 6, -16}));
  EXPECT_TRUE(matches(right_shift(a, b), {3}, {0, 0, -4}));
  EXPECT_TRUE(matches(left_shift(array({1}, uint8), array({9}, uint8)), {1}, {0}));
  EXPECT_TRUE(matches(bitwise_and(array({true, true}), array({true, false})), {2}, {1, 0}));
}

TEST(Binary, NanAndInf) {
  auto a = array({NAN, 1.0f, INFINITY}), b = array({1.0f, NAN, INFINITY});
  auto mx = to_vector(maximum(a, b));
  EXPECT_TRUE(std::isnan(mx[0]) && std::isnan(mx[1]));
  EXPECT_TRUE(matches(isclose(a, b), {3}, {0, 0, 1}));
  EXPECT_TRUE(matches(isclose(a, a, 1e-5, 1e-8, true), {3}, {1, 1, 1}));
  EXPECT_TRUE(allclose(array({1.0f, 2.0f}), array({1.0f + 1e-7f, 2.0f})).item<bool>());
  EXPECT_FALSE(allclose(array({1.0f, 2.0f}), array({1.1f, 2.0f})).item<bool>());
  EXPECT_TRUE(array_equal(array({1, 2}), array({1.0f, 2.0f})).item<bool>());
  EXPECT_FALSE(array_equal(array({1, 2}), array({1, 2, 3})).item<bool>());
  EXPECT_FALSE(array_equal(a, a).item<bool>());
  EXPECT_TRUE(array_equal(a, a, true).item<bool>());
  EXPECT_TRUE(matches(logaddexp(array({-INFINITY}), array({-INFINITY})), {1}, {-INFINITY}));
}

// MLX's answers: an infinity is close only to the same infinity (even with an infinite atol, and
// although rtol * |inf| is infinite), NaN only to NaN and only with equal_nan.
TEST(Binary, IscloseInfinitiesAndNan) {
  auto a = array({INFINITY, -INFINITY, INFINITY, 1.0f, INFINITY, NAN, NAN, 1.0f, -INFINITY});
  auto b = array({INFINITY, -INFINITY, -INFINITY, INFINITY, 1.0f, NAN, 1.0f, 1.0f, NAN});
  EXPECT_TRUE(matches(isclose(a, b), {9}, {1, 1, 0, 0, 0, 0, 0, 1, 0}));
  EXPECT_TRUE(matches(isclose(b, a), {9}, {1, 1, 0, 0, 0, 0, 0, 1, 0}));
  EXPECT_TRUE(matches(isclose(a, b, 1e-5, 1e-8, true), {9}, {1, 1, 0, 0, 0, 1, 0, 1, 0}));
  EXPECT_TRUE(matches(isclose(array({1.0f, INFINITY}), array({INFINITY, INFINITY}), 0.0, INFINITY), {2}, {0, 1}));
  EXPECT_TRUE(matches(isclose(astype(a, float16), astype(b, bfloat16)), {9}, {1, 1, 0, 0, 0, 0, 0, 1, 0}));
  EXPECT_TRUE(matches(isclose(astype(a, float64), astype(b, float64)), {9}, {1, 1, 0, 0, 0, 0, 0, 1, 0}));
  // Broadcasting a scalar infinity.
  EXPECT_TRUE(matches(isclose(array({INFINITY, -INFINITY, 5.0f}), array(INFINITY)), {3}, {1, 0, 0}));

  EXPECT_TRUE(allclose(array({INFINITY, -INFINITY, 2.0f}), array({INFINITY, -INFINITY, 2.0f})).item<bool>());
  EXPECT_FALSE(allclose(array({INFINITY}), array({-INFINITY})).item<bool>());
  EXPECT_FALSE(allclose(array({1.0f}), array({INFINITY})).item<bool>());
  EXPECT_FALSE(allclose(array({NAN, 1.0f}), array({NAN, 1.0f})).item<bool>());
  EXPECT_TRUE(allclose(array({NAN, 1.0f}), array({NAN, 1.0f}), 1e-5, 1e-8, true).item<bool>());
  EXPECT_FALSE(allclose(array({NAN, INFINITY}), array({NAN, -INFINITY}), 1e-5, 1e-8, true).item<bool>());

  // Bool and integer inputs compare as numbers.
  EXPECT_TRUE(matches(isclose(array({true, false}), array({true, true})), {2}, {1, 0}));
  EXPECT_TRUE(matches(isclose(array({true}), array({false}), 0.0, 1.0), {1}, {1}));
  EXPECT_TRUE(matches(isclose(array({1, 2}, int32), array({1, 3}, int32)), {2}, {1, 0}));
  EXPECT_TRUE(allclose(array({1, 2}, int32), array({1.0f, 2.0f})).item<bool>());
}

// bool ** bool is bool in MLX (a or not b); a bool next to a number promotes as usual.
TEST(Binary, PowerOfBools) {
  auto a = array({true, true, false, false}), b = array({true, false, true, false});
  auto p = power(a, b);
  EXPECT_EQ(p.dtype(), bool_);
  EXPECT_TRUE(matches(p, {4}, {1, 1, 0, 1}));
  auto q = power(array({true, true, false, false}, {1, 4}), array({true, false}, {2, 1}));
  EXPECT_EQ(q.dtype(), bool_);
  EXPECT_TRUE(matches(q, {2, 4}, {1, 1, 0, 0, 1, 1, 1, 1}));
  EXPECT_TRUE(matches(power(array({true, false}), array(true)), {2}, {1, 0}));
  auto i = power(array({true, false}), array({2, 0}, int32));
  EXPECT_EQ(i.dtype(), int32);
  EXPECT_TRUE(matches(i, {2}, {1, 1}));
  auto f = power(array({true, false}), array({2.0f, 0.5f}));
  EXPECT_EQ(f.dtype(), float32);
  EXPECT_TRUE(matches(f, {2}, {1, 0}));
  EXPECT_EQ(power(array({3}, uint8), array({true})).dtype(), uint8);
  EXPECT_EQ(power(zeros({0}, bool_), zeros({0}, bool_)).size(), 0u);
}

TEST(Binary, WhereAndClip) {
  auto c = array({true, false, true}), x = random_array({2, 3}, float32), y = array(-1.0f);
  auto want = test::binary_ref(to_vector(x), {2, 3}, to_vector(c), {3}, {2, 3},
                               [](double xv, double cv) { return cv != 0 ? xv : -1.0; });
  EXPECT_TRUE(matches(where(c, x, y), {2, 3}, want));
  EXPECT_EQ(where(c, array({1, 2, 3}), array(1.5f)).dtype(), float32);
  auto v = random_array({10}, float32, -5, 5);
  EXPECT_TRUE(matches(clip(v, array(-1.0f), array(2.0f)), {10},
                      test::map_ref(to_vector(v), [](double t) { return std::min(2.0, std::max(-1.0, t)); })));
  EXPECT_TRUE(matches(clip(v, std::nullopt, array(0.0f)), {10},
                      test::map_ref(to_vector(v), [](double t) { return std::min(0.0, t); })));
}

TEST(Binary, BadInputs) {
  using E = std::invalid_argument;
  EXPECT_TRUE(test::throws_op<E>("broadcast_shapes", [] { add(ones({2, 3}), ones({4})); }));
  EXPECT_TRUE(test::throws_op<E>("broadcast_shapes", [] { where(array({true, false}), ones({3}), ones({3})); }));
  EXPECT_TRUE(test::throws_op<E>("bitwise_and", [] { bitwise_and(ones({2}), ones({2})); }));
  EXPECT_TRUE(test::throws_op<E>("left_shift", [] { left_shift(ones({2}), array({1, 1})); }));
  EXPECT_TRUE(test::throws_op<E>("subtract", [] { subtract(array({true}), array({false})); }));
  EXPECT_TRUE(test::throws_op<E>("arctan2", [] { arctan2(array({complex64_t(1, 1)}), ones({1})); }));
  EXPECT_TRUE(test::throws_op<E>("remainder", [] { remainder(array({complex64_t(1, 1)}), ones({1})); }));
  EXPECT_TRUE(test::throws_op<E>("clip", [] { clip(ones({1}), std::nullopt, std::nullopt); }));
}

TEST(Binary, IntegerOverflowWraps) {
  // Two's complement wrap-around (signed overflow is undefined in C++, so the kernels compute in
  // unsigned); the lowest value divided by -1 gives itself and its remainder 0 instead of the
  // hardware trap (MLX's CPU build dies with SIGFPE on the remainder).
  const int32_t lo = std::numeric_limits<int32_t>::min(), hi = std::numeric_limits<int32_t>::max();
  array a = array({lo, 7, -7}, int32);
  EXPECT_EQ(to_vector(add(a, array(lo, int32))), (std::vector<double>{0, lo + 7.0, 2147483641.0}));
  EXPECT_EQ(to_vector(negative(a)), (std::vector<double>{lo, -7, 7}));
  EXPECT_EQ(to_vector(abs(a)), (std::vector<double>{lo, 7, 7}));
  EXPECT_EQ(to_vector(floor_divide(a, array(-1, int32))), (std::vector<double>{lo, -7, 7}));
  EXPECT_EQ(to_vector(remainder(a, array(-1, int32))), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(to_vector(multiply(array({65535}, uint16), array({65535}, uint16))), (std::vector<double>{1}));
  EXPECT_EQ(to_vector(square(array({hi}, int32))), (std::vector<double>{1}));
  EXPECT_EQ(to_vector(power(array({3}, int64), array({41}, int64))),
            (std::vector<double>{double(int64_t(-420491770248316829))}));  // 3^41 mod 2^64
  EXPECT_EQ(to_vector(subtract(array({lo}, int32), array({1}, int32))), (std::vector<double>{hi}));
  EXPECT_EQ(to_vector(sum(array({hi, 1}, int32))), (std::vector<double>{lo}));
  EXPECT_EQ(to_vector(prod(array({65536, 65536}, int32))), (std::vector<double>{0}));
  EXPECT_EQ(to_vector(cumsum(array({hi, 1, 1}, int32))), (std::vector<double>{hi, lo, lo + 1.0}));
  const int64_t big = int64_t(1) << 62;
  array s = scatter_prod(array({big, int64_t(1)}, int64), array({0, 0}, int32), reshape(array({4, 4}, int64), {2, 1}), 0);
  EXPECT_EQ(to_vector(s), (std::vector<double>{0, 1}));
}

// diff: n-th differences along an axis (not-equal for bool), MLX 0.32's values.
TEST(Diff, MatchesMlx) {
  EXPECT_TRUE(matches(diff(array({1, 4, 9, 16})), {3}, {3, 5, 7}, 0, 0));
  EXPECT_TRUE(matches(diff(array({1, 4, 9, 16}), 2), {2}, {2, 2}, 0, 0));
  EXPECT_TRUE(matches(diff(array({1, 2, 4, 8}, {2, 2}), 1, 0), {1, 2}, {3, 6}, 0, 0));
  EXPECT_TRUE(matches(diff(array({1, 4, 9, 2, 2, 7}, {2, 3}), 2, 1), {2, 1}, {2, 5}, 0, 0));
  EXPECT_TRUE(matches(diff(array({1, 2}), 0), {2}, {1, 2}, 0, 0));
  EXPECT_EQ(diff(array({1, 2}), 5).shape(), Shape({0}));
  array bd = diff(array({true, false, false}));
  EXPECT_EQ(bd.dtype(), bool_);
  EXPECT_TRUE(matches(bd, {2}, {1, 0}, 0, 0));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("diff", [] { diff(array({1, 2}), -1); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("diff", [] { diff(array(1)); }));
}

}  // namespace
}  // namespace mica
