// Transform rules of the binary family, with broadcasting between the inputs.
#include <gtest/gtest.h>
#include <complex>
#include <functional>

#include "reference/reference.h"
#include "reference/transform_checks.h"

using namespace mica;
using mica::test::GradCase;

namespace {
using BinOp = array (*)(const array&, const array&, StreamOrDevice);
std::vector<GradCase> binary(const std::string& name, BinOp op, double lo = -2, double hi = 2) {
  auto f = [op](const std::vector<array>& x) { return op(x[0], x[1], {}); };
  return {{name + "_same", f, {{2, 3}, {2, 3}}, lo, hi},
          {name + "_rowvec", f, {{2, 3}, {3}}, lo, hi},
          {name + "_outer", f, {{2, 1}, {1, 3}}, lo, hi},
          {name + "_scalar", f, {{}, {2, 2}}, lo, hi}};
}

std::vector<GradCase> cases() {
  std::vector<GradCase> all;
  auto add_all = [&](std::vector<GradCase> v) { all.insert(all.end(), v.begin(), v.end()); };
  add_all(binary("add", add));
  add_all(binary("subtract", subtract));
  add_all(binary("multiply", multiply));
  add_all(binary("divide", divide, 0.3, 2));
  add_all(binary("remainder", remainder, 0.3, 2));
  add_all(binary("power", power, 0.3, 2));
  add_all(binary("maximum", maximum));
  add_all(binary("minimum", minimum));
  add_all(binary("arctan2", arctan2, 0.3, 2));
  add_all(binary("logaddexp", logaddexp));
  auto pick = [](BinOp cmp) {
    return [cmp](const std::vector<array>& x) { return where(cmp(x[0], x[1], {}), x[0] * x[1], x[0] - x[1]); };
  };
  for (auto [name, op] : std::vector<std::pair<std::string, BinOp>>{{"equal", equal},
                                                                    {"not_equal", not_equal},
                                                                    {"greater", greater},
                                                                    {"greater_equal", greater_equal},
                                                                    {"less", less},
                                                                    {"less_equal", less_equal}}) {
    all.push_back({name + "_select", pick(op), {{2, 3}, {3}}});
  }
  all.push_back({"where_broadcast", [](const std::vector<array>& x) { return where(x[0] > 0.0, x[1], x[2]); },
                 {{2, 1}, {3}, {2, 3}}});
  all.push_back({"logical_select",
                 [](const std::vector<array>& x) {
                   auto m = logical_or(logical_and(x[0] > 0.0, x[1] < 0.0), x[0] > 1.0);
                   return where(m, exp(x[0]), x[1]);
                 },
                 {{2, 3}, {2, 3}}});
  all.push_back({"bitwise_weight",
                 [](const std::vector<array>& x) {
                   auto k = bitwise_and(astype(x[0] * 4.0, int32), array(3));
                   return x[1] * astype(k, float64);
                 },
                 {{2, 3}, {2, 3}}});
  all.push_back({"divmod_remainder",
                 [](const std::vector<array>& x) {
                   auto qr = divmod(x[0], x[1]);
                   return qr[1] + 0.5 * qr[0];
                 },
                 {{2, 3}, {3}}, 0.3, 2});
  all.push_back({"clip", [](const std::vector<array>& x) { return clip(x[0], array(-0.5), array(0.7)); }, {{6}}});
  return all;
}
const std::vector<GradCase> kBinary = cases();
}  // namespace

class BinaryRules : public mica::test::GradRules {};
MICA_GRAD_RULE_TESTS(BinaryRules, kBinary);

// Integer floor_divide is a Divide node on integers; replayed under vmap it must stay a floor
// division in the integer dtype, equal to the op applied to each batch element.
TEST(BinaryVmap, IntegerFloorDivideKeepsItsDtype) {
  auto fd = [](const std::vector<array>& x) { return std::vector<array>{floor_divide(x[0], x[1])}; };
  for (Dtype d : {int8, int16, int32, int64, uint8, uint32, uint64}) {
    bool sign = issubdtype(d, signedinteger);
    std::vector<int> av = sign ? std::vector<int>{7, -7, 9, 10, -1, 0} : std::vector<int>{7, 8, 9, 10, 1, 0};
    std::vector<int> bv = sign ? std::vector<int>{2, 2, -4, 3, 5, -3} : std::vector<int>{2, 3, 4, 3, 5, 3};
    auto a = astype(array(av.begin(), {2, 3}), d), b = astype(array(bv.begin(), {2, 3}), d);
    auto want = floor_divide(a, b);
    ASSERT_EQ(want.dtype(), d);
    auto both = vmap(fd, {0, 0})({a, b})[0];
    EXPECT_EQ(both.dtype(), d) << d;
    EXPECT_TRUE(array_equal(both, want).item<bool>()) << d;
    // Columns of the first input against elements of the second (batch axes 1 and 0).
    auto row = slice(b, {0, 0}, {1, 3});
    auto col = vmap(fd, {1, 0}, {1})({a, reshape(row, {3})})[0];
    EXPECT_EQ(col.dtype(), d) << d;
    auto want_col = floor_divide(a, row);
    EXPECT_TRUE(array_equal(col, want_col).item<bool>()) << d;
    // A scalar divisor next to a batched integer array.
    auto sc = vmap(fd, {0, -1})({a, astype(array(2), d)})[0];
    EXPECT_EQ(sc.dtype(), d) << d;
    EXPECT_TRUE(array_equal(sc, floor_divide(a, astype(array(2), d))).item<bool>()) << d;
  }
  // bool // bool computes in uint8 outside vmap and inside it.
  auto p = array({true, false, true, true}, {2, 2}), q = array({true, true, true, true}, {2, 2});
  auto bb = vmap(fd, {0, 0})({p, q})[0];
  EXPECT_EQ(bb.dtype(), floor_divide(p, q).dtype());
  EXPECT_TRUE(array_equal(bb, floor_divide(p, q)).item<bool>());
  // Float floor_divide under vmap is unchanged.
  auto fa = array({7.5f, -7.5f, 3.0f, 1.0f}, {2, 2}), fb = array({2.0f, 2.0f, -2.0f, 4.0f}, {2, 2});
  EXPECT_TRUE(mica::test::matches(vmap(fd, {0, 0})({fa, fb})[0], {2, 2}, {3, -4, -2, 0}));
}

namespace mica::test {
namespace {
// Complex vjps take the cotangent times the conjugate derivative, as MLX (values from MLX
// 0.32 at z = 1 + 2i with cotangent 1); abs, real-valued, takes sign(z) as it is.
TEST(ComplexVjp, ConjugateDerivativesAsMlx) {
  using C = std::complex<float>;
  const array z = array(C(1, 2)), one = array(C(1, 0));
  auto vjp1 = [&](const std::function<array(const array&)>& f, const array& cot) {
    array g = vjp(f, z, cot).second;
    eval(g);
    return g.item<C>();
  };
  auto near = [](C got, C want) { return std::abs(got - want) <= 1e-5f * (1 + std::abs(want)); };
  const std::vector<std::pair<std::string, std::pair<std::function<array(const array&)>, C>>> cases = {
      {"multiply", {[](const array& x) { return x * array(C(2, 3)); }, C(2, -3)}},
      {"divide", {[](const array& x) { return x / array(C(2, 3)); }, C(0.153846f, 0.230769f)}},
      {"divide by z", {[](const array& x) { return array(C(2, 3)) / x; }, C(-0.24f, -0.68f)}},
      {"square", {[](const array& x) { return square(x); }, C(2, -4)}},
      {"exp", {[](const array& x) { return exp(x); }, C(-1.1312f, -2.47173f)}},
      {"sin", {[](const array& x) { return sin(x); }, C(2.03272f, 3.0519f)}},
      {"log", {[](const array& x) { return log(x); }, C(0.2f, 0.4f)}},
      {"sqrt", {[](const array& x) { return sqrt(x); }, C(0.284432f, 0.175789f)}},
      {"rsqrt", {[](const array& x) { return rsqrt(x); }, C(0.0134291f, -0.148931f)}},
      {"add", {[](const array& x) { return x + array(C(2, 3)); }, C(1, 0)}},
  };
  for (const auto& [name, c] : cases) EXPECT_TRUE(near(vjp1(c.first, one), c.second)) << name << ": " << vjp1(c.first, one);
  EXPECT_TRUE(near(vjp1([](const array& x) { return abs(x); }, array(1.0f)), C(0.447214f, 0.894427f))) << "abs";
  // jvp stays the plain derivative: d(z (2 + 3i)) = (2 + 3i) dz.
  array t = jvp([](const array& x) { return x * array(C(2, 3)); }, z, one).second;
  EXPECT_TRUE(near(t.item<C>(), C(2, 3)));
}
}  // namespace
}  // namespace mica::test
