// Transform rules of QuantizedMatmul: vjp vs finite differences, jvp/vjp adjoint and vmap vs a
// loop for x, scales and biases (the packed weights are fixed integers captured by each row),
// both orientations, batched x and batched weights; gradients of x against the dequantized
// product; and the cotangent of the packed weights refused.
#include <gtest/gtest.h>

#include "mica/primitives/quantized.h"
#include "reference/reference.h"
#include "reference/transform_checks.h"

using namespace mica;
using mica::test::GradCase;

namespace {
// Packed 4-bit words of a (rows, cols) matrix in groups of 32 (cols a multiple of 32).
array packed(int rows, int cols, int bits, uint32_t seed) {
  return quantize(mica::test::random_array({rows, cols}, float32, -1, 1, seed), 32, bits)[0];
}

std::vector<GradCase> cases() {
  std::vector<GradCase> c;
  for (int bits : {4, 3}) {
    const std::string tag = "_" + std::to_string(bits) + "bit";
    // transpose: W (N=3, K=64) -> x (2, 64); the scales and biases (3, 2).
    array wt = packed(3, 64, bits, 1 + bits);
    c.push_back({"x_scales_biases_transposed" + tag,
                 [wt, bits](const std::vector<array>& a) { return quantized_matmul(a[0], wt, a[1], a[2], true, 32, bits); },
                 {{2, 64}, {3, 2}, {3, 2}}});
    // Not transposed: W (K=4, N=64) -> x (2, 3, 4) (leading dims are more rows).
    array wn = packed(4, 64, bits, 2 + bits);
    c.push_back({"x_scales_biases_not_transposed" + tag,
                 [wn, bits](const std::vector<array>& a) { return quantized_matmul(a[0], wn, a[1], a[2], false, 32, bits); },
                 {{2, 3, 4}, {4, 2}, {4, 2}}});
  }
  // x only (vmap keeps the weights unbatched), with a 1-D x.
  array w = packed(5, 32, 8, 9);
  array s = mica::test::random_array({5, 1}, float64, 0.1, 0.5, 10), b = mica::test::random_array({5, 1}, float64, -1, 1, 11);
  c.push_back({"x_only_vector", [w, s, b](const std::vector<array>& a) { return quantized_matmul(a[0], w, s, b, true, 32, 8); },
               {{32}}});
  // Batched packed weights (2 experts) against a batched x.
  array wb = quantize(mica::test::random_array({2, 3, 64}, float32, -1, 1, 12), 32, 4)[0];
  c.push_back({"batched_weights",
               [wb](const std::vector<array>& a) { return quantized_matmul(a[0], wb, a[1], a[2], true, 32, 4); },
               {{2, 2, 64}, {2, 3, 2}, {2, 3, 2}}});
  // Scales only, x fixed.
  array xf = mica::test::random_array({3, 64}, float64, -1, 1, 13);
  c.push_back({"scales_only",
               [xf, wt = packed(3, 64, 4, 14)](const std::vector<array>& a) {
                 return quantized_matmul(xf, wt, a[0], zeros_like(a[0]), true, 32, 4);
               },
               {{3, 2}}});
  return c;
}
const std::vector<GradCase> kQuantized = cases();
}  // namespace

class QuantizedRules : public mica::test::GradRules {};
MICA_GRAD_RULE_TESTS(QuantizedRules, kQuantized);

TEST(QuantizedRulesDirect, GradientOfXIsTheDequantizedProducts) {
  // float32: grad of sum(qmm(x) * v) wrt x equals v @ W (transposed) from the dequantized W.
  array wf = mica::test::random_array({48, 128}, float32, -1, 1, 21);
  auto q = quantize(wf, 64, 4);
  array W = dequantize(q[0], q[1], q[2], 64, 4);
  array x = mica::test::random_array({3, 128}, float32, -1, 1, 22);
  array v = mica::test::random_array({3, 48}, float32, -1, 1, 23);
  auto g = grad(
      [&](const std::vector<array>& in) { return sum(quantized_matmul(in[0], q[0], q[1], q[2]) * v); },
      std::vector<int>{0})({x});
  EXPECT_TRUE(allclose(g[0], matmul(v, W), 1e-4, 1e-4).item<bool>());
  // Not transposed: x (3, 48) @ W (48, 128).
  array x2 = mica::test::random_array({3, 48}, float32, -1, 1, 24);
  array v2 = mica::test::random_array({3, 128}, float32, -1, 1, 25);
  auto g2 = grad(
      [&](const std::vector<array>& in) { return sum(quantized_matmul(in[0], q[0], in[1], in[2], false) * v2); },
      std::vector<int>{0, 1, 2})({x2, q[1], q[2]});
  EXPECT_TRUE(allclose(g2[0], matmul(v2, transpose(W)), 1e-4, 1e-4).item<bool>());
  // Scales and biases against the composition's gradients.
  auto comp = grad(
      [&](const std::vector<array>& in) {
        return sum(matmul(in[0], dequantize(q[0], in[1], in[2], 64, 4)) * v2);
      },
      std::vector<int>{1, 2})({x2, q[1], q[2]});
  EXPECT_TRUE(allclose(g2[1], comp[0], 1e-4, 1e-3).item<bool>()) << g2[1] << comp[0];
  EXPECT_TRUE(allclose(g2[2], comp[1], 1e-4, 1e-3).item<bool>()) << g2[2] << comp[1];
}

TEST(QuantizedRulesDirect, NoDerivativeForThePackedWeights) {
  array wf = mica::test::random_array({4, 64}, float32, -1, 1, 31);
  auto q = quantize(wf, 32, 4);
  array x = mica::test::random_array({2, 64}, float32, -1, 1, 32);
  array node = quantized_matmul(x, q[0], q[1], q[2], true, 32, 4);
  ASSERT_TRUE(node.has_primitive());
  auto& prim = node.primitive();
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>(
      "quantized_matmul", [&] { prim.vjp(node.inputs(), {ones({2, 4})}, {1}, {node}); }));
  EXPECT_TRUE(mica::test::throws_op<std::invalid_argument>(
      "quantized_matmul", [&] { prim.jvp(node.inputs(), {zeros_like(q[0])}, {1}); }));
}
