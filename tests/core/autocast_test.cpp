// Autocast (mica/autocast.h): inside a scope, matrix products of float32 operands (matmul, addmm,
// Linear, the convolutions, scaled_dot_product_attention) run in the scope's dtype and equal the
// same product on explicitly cast operands; float64 products are left alone; scopes nest and
// std::nullopt turns autocasting off; the gradients of float32 parameters come back in float32
// and equal those of the explicit casts; bad dtypes are refused.
#include <gtest/gtest.h>

#include <optional>

#include "mica/mica.h"
#include "reference/reference.h"

namespace mica {
namespace {
using test::random_array;
using test::to_vector;

void expect_same(const array& a, const array& b) {
  ASSERT_EQ(a.dtype(), b.dtype());
  ASSERT_EQ(a.shape(), b.shape());
  EXPECT_EQ(to_vector(a), to_vector(b));
}

TEST(Autocast, MatmulAndAddmmRunInTheScopeDtype) {
  array a = random_array({5, 7}, float32, -1, 1, 1), b = random_array({7, 3}, float32, -1, 1, 2);
  array c = random_array({3}, float32, -1, 1, 3);
  EXPECT_FALSE(autocast_dtype().has_value());
  {
    Autocast ac(bfloat16);
    ASSERT_EQ(autocast_dtype(), std::optional<Dtype>(bfloat16));
    expect_same(matmul(a, b), matmul(astype(a, bfloat16), astype(b, bfloat16)));
    expect_same(addmm(c, a, b), addmm(astype(c, bfloat16), astype(a, bfloat16), astype(b, bfloat16)));
    // A bfloat16 operand with a float32 one promotes to float32, then autocasts.
    EXPECT_EQ(matmul(astype(a, bfloat16), b).dtype(), bfloat16);
    // float64 keeps its dtype.
    EXPECT_EQ(matmul(astype(a, float64), astype(b, float64)).dtype(), float64);
    {
      Autocast inner(float16);
      EXPECT_EQ(matmul(a, b).dtype(), float16);
      {
        Autocast off(std::nullopt);
        EXPECT_EQ(matmul(a, b).dtype(), float32);
      }
      EXPECT_EQ(matmul(a, b).dtype(), float16);
    }
    EXPECT_EQ(matmul(a, b).dtype(), bfloat16);
  }
  EXPECT_FALSE(autocast_dtype().has_value());
  EXPECT_EQ(matmul(a, b).dtype(), float32);
}

TEST(Autocast, LayersConvAndAttention) {
  nn::Linear lin(8, 4);
  array x = random_array({2, 8}, float32, -1, 1, 4);
  array w = random_array({4, 3, 3, 2}, float32, -1, 1, 5);
  array img = random_array({1, 6, 6, 2}, float32, -1, 1, 6);
  array q = random_array({1, 2, 4, 8}, float32, -1, 1, 7);
  Autocast ac(bfloat16);
  array y = lin(x);
  EXPECT_EQ(y.dtype(), bfloat16);
  expect_same(y, addmm(astype(lin.parameters().at("bias").as_array(), bfloat16), astype(x, bfloat16),
                       transpose(astype(lin.parameters().at("weight").as_array(), bfloat16))));
  EXPECT_EQ(conv2d(img, w).dtype(), bfloat16);
  expect_same(conv2d(img, w), conv2d(astype(img, bfloat16), astype(w, bfloat16)));
  array att = fast::scaled_dot_product_attention(q, q, q, 0.5f, "causal");
  EXPECT_EQ(att.dtype(), bfloat16);
  // Non-product ops keep float32.
  EXPECT_EQ(fast::layer_norm(x, std::nullopt, std::nullopt, 1e-5f).dtype(), float32);
  EXPECT_EQ(add(x, x).dtype(), float32);
}

TEST(Autocast, GradientsOfFloat32WeightsAreFloat32) {
  array x = random_array({4, 6}, float32, -1, 1, 8), w = random_array({6, 5}, float32, -1, 1, 9);
  auto loss = [&](const std::vector<array>& p) {
    return std::vector<array>{sum(astype(matmul(x, p[0]), float32))};
  };
  auto explicit_loss = [&](const std::vector<array>& p) {
    return std::vector<array>{sum(astype(matmul(astype(x, bfloat16), astype(p[0], bfloat16)), float32))};
  };
  std::vector<array> g_auto, g_ref;
  {
    Autocast ac(bfloat16);
    g_auto = vjp(loss, {w}, {array(1.0f)}).second;
  }
  g_ref = vjp(explicit_loss, {w}, {array(1.0f)}).second;
  ASSERT_EQ(g_auto[0].dtype(), float32);
  expect_same(g_auto[0], g_ref[0]);
}

// The fused cross-entropy computes in float32; inside a scope its loss stays float32 (as
// PyTorch's autocast runs the loss in float32), outside it is rounded to the logits' dtype.
TEST(Autocast, CrossEntropyLossIsFloat32) {
  array logits = astype(random_array({6, 50}, float32, -4, 4, 10), bfloat16);
  array t = array({3, 0, 49, 7, 7, 12});
  array exact = fast::cross_entropy(astype(logits, float32), t);
  EXPECT_EQ(fast::cross_entropy(logits, t).dtype(), bfloat16);
  Autocast ac(bfloat16);
  array l = fast::cross_entropy(logits, t);
  ASSERT_EQ(l.dtype(), float32);
  EXPECT_TRUE(test::all_close(to_vector(l), to_vector(exact), 1e-6, 1e-6));
}

TEST(Autocast, RefusesOtherDtypes) {
  EXPECT_THROW({ Autocast ac(float32); }, std::invalid_argument);
  EXPECT_THROW({ Autocast ac(int8); }, std::invalid_argument);
  EXPECT_FALSE(autocast_dtype().has_value());
}

}  // namespace
}  // namespace mica
