// Test support for transform rules: one row per op (a function of float inputs and the input
// shapes) gives vjp-vs-finite-differences, the jvp/vjp adjoint identity and vmap-vs-loop.
#pragma once
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "mica/mica.h"

namespace mica::test {

/** An op under test: `fn` maps the float inputs (shapes `shapes`) to one output. Constant
 * arguments (indices, masks) are captured by `fn`. */
struct GradCase {
  std::string name;
  std::function<array(const std::vector<array>&)> fn;
  std::vector<Shape> shapes;
  double lo = -2.0;  // inputs are drawn uniformly from [lo, hi]
  double hi = 2.0;
  double rtol = 1e-5;  // tolerances of the finite-difference check
  double atol = 1e-6;
  bool vmap = true;  // false for ops whose batched rule is checked elsewhere
};

/** Prints the case name in gtest output. */
inline std::ostream& operator<<(std::ostream& os, const GradCase& c) { return os << c.name; }

/** vjp in float64 at a random point against central differences along every input element. */
testing::AssertionResult vjp_matches_finite_differences(const GradCase& c, uint32_t seed = 7);
/** <v, J u> (jvp) equals <J^T v, u> (vjp) for random u, v in float64. */
testing::AssertionResult jvp_vjp_adjoint(const GradCase& c, uint32_t seed = 11);
/** vmap over a batch of 3 equals a loop over the batch, for in_axes all 0, all last, the first
 * input unmapped (when there are several) and out_axis 0 and -1. */
testing::AssertionResult vmap_matches_loop(const GradCase& c, uint32_t seed = 13);

/** Runs the three checks above as one gtest per row: INSTANTIATE with a vector of cases. */
class GradRules : public testing::TestWithParam<GradCase> {};

}  // namespace mica::test

/** Declares the parameterized test of a table of GradCase rows named NAME. */
#define MICA_GRAD_RULE_TESTS(NAME, CASES)                                                     \
  TEST_P(NAME, VjpMatchesFiniteDifferences) { EXPECT_TRUE(mica::test::vjp_matches_finite_differences(GetParam())); } \
  TEST_P(NAME, JvpIsAdjointOfVjp) { EXPECT_TRUE(mica::test::jvp_vjp_adjoint(GetParam())); }                    \
  TEST_P(NAME, VmapMatchesLoop) {                                                             \
    if (!GetParam().vmap) GTEST_SKIP() << "vmap checked elsewhere";                           \
    EXPECT_TRUE(mica::test::vmap_matches_loop(GetParam()));                                   \
  }                                                                                           \
  INSTANTIATE_TEST_SUITE_P(Ops, NAME, testing::ValuesIn(CASES),                               \
                           [](const testing::TestParamInfo<mica::test::GradCase>& i) { return i.param.name; })
