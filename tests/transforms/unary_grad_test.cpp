// Transform rules of the unary family: vjp vs finite differences, jvp/vjp adjoint, vmap vs loop.
#include <gtest/gtest.h>

#include "reference/reference.h"
#include "reference/transform_checks.h"

using namespace mica;
using mica::test::GradCase;

namespace {
GradCase unary(const std::string& name, array (*op)(const array&, StreamOrDevice), double lo = -2, double hi = 2) {
  return {name, [op](const std::vector<array>& x) { return op(x[0], {}); }, {{2, 3}}, lo, hi};
}

const std::vector<GradCase> kUnary = {
    unary("abs", abs), unary("arccos", arccos, -0.9, 0.9), unary("arccosh", arccosh, 1.1, 3),
    unary("arcsin", arcsin, -0.9, 0.9), unary("arcsinh", arcsinh), unary("arctan", arctan),
    unary("arctanh", arctanh, -0.9, 0.9), unary("ceil", ceil), unary("cos", cos), unary("cosh", cosh),
    unary("erf", erf), unary("erfinv", erfinv, -0.9, 0.9), unary("exp", exp), unary("expm1", expm1),
    unary("floor", floor), unary("log", log, 0.1, 3), unary("log2", log2, 0.1, 3), unary("log10", log10, 0.1, 3),
    unary("log1p", log1p, -0.5, 3), unary("negative", negative), unary("round", round), unary("sigmoid", sigmoid),
    unary("sign", sign), unary("sin", sin), unary("sinh", sinh), unary("sqrt", sqrt, 0.1, 3),
    unary("rsqrt", rsqrt, 0.1, 3), unary("square", square), unary("tan", tan, -1.2, 1.2), unary("tanh", tanh),
    unary("reciprocal", reciprocal, 0.2, 3),
    GradCase{"logical_not_select", [](const std::vector<array>& x) { return where(logical_not(x[0] > 0.0), x[0], square(x[0])); }, {{2, 3}}},
    GradCase{"bitwise_invert_index",
             [](const std::vector<array>& x) {
               // Integer values derived from the input carry no gradient; the product does.
               return multiply(x[0], astype(bitwise_invert(astype(x[0] > 0.0, int32)), float64));
             },
             {{2, 3}}},
    GradCase{"astype_roundtrip", [](const std::vector<array>& x) { return astype(astype(x[0], float32), float64) * 0.0 + x[0] * x[0]; }, {{4}}},
};
}  // namespace

class UnaryRules : public mica::test::GradRules {};
MICA_GRAD_RULE_TESTS(UnaryRules, kUnary);

TEST(UnaryRulesDirect, AsTypePassesTheGradientThrough) {
  // As MLX: the gradient crosses a cast (here to float32 and to int32) unchanged.
  auto g = grad([](const array& x) { return sum(astype(x, float32)); })(array({1.5, 2.5}, float64));
  EXPECT_EQ(g.dtype(), float64);
  EXPECT_TRUE(mica::test::matches(g, {2}, {1, 1}));
  auto gi = grad([](const array& x) { return sum(astype(astype(x, int32), float32) * 2.0f); })(array({1.5f, 2.5f}));
  EXPECT_TRUE(mica::test::matches(gi, {2}, {2, 2}));
}

TEST(UnaryRulesDirect, StopGradientBlocksTheGradient) {
  // d/dx [x * stop_gradient(x)] = stop_gradient(x): the second factor is a constant.
  auto f = [](const array& x) { return sum(x * stop_gradient(x)); };
  auto x = array({1.0f, -2.0f, 3.0f});
  EXPECT_TRUE(mica::test::matches(grad(f)(x), {3}, {1, -2, 3}));
  auto [o, t] = jvp([](const array& a) { return a * stop_gradient(a); }, x, array({1.0f, 1.0f, 1.0f}));
  EXPECT_TRUE(mica::test::matches(t, {3}, {1, -2, 3}));
  auto v = vmap([](const array& a) { return stop_gradient(a) * 2.0f; })(x);
  EXPECT_TRUE(mica::test::matches(v, {3}, {2, -4, 6}));
}

TEST(UnaryRulesDirect, ComplexParts) {
  auto x = array({1.0f, -2.0f});
  auto g_real = grad([](const array& a) { return sum(real(astype(a, complex64))); })(x);
  EXPECT_TRUE(mica::test::matches(g_real, {2}, {1, 1}));
  auto g_conj = grad([](const array& a) { return sum(real(conjugate(astype(a, complex64)))); })(x);
  EXPECT_TRUE(mica::test::matches(g_conj, {2}, {1, 1}));
  auto g_imag = grad([](const array& a) { return sum(imag(astype(a, complex64))); })(x);
  EXPECT_TRUE(mica::test::matches(g_imag, {2}, {0, 0}));
  // jvp and vmap of the same parts.
  auto [o, t] = jvp([](const array& a) { return imag(conjugate(astype(a, complex64) * array(complex64_t{0, 1}))); }, x,
                    array({1.0f, 1.0f}));
  EXPECT_TRUE(mica::test::matches(t, {2}, {-1, -1}));
  auto v = vmap([](const array& a) { return real(conjugate(a)) + imag(a); })(astype(array({1.0f, 2.0f}), complex64));
  EXPECT_TRUE(mica::test::matches(v, {2}, {1, 2}));
  auto [o2, t2] = jvp([](const array& a) { return real(a); }, astype(x, complex64), astype(x, complex64));
  EXPECT_TRUE(mica::test::matches(t2, {2}, {1, -2}));
}
