// Creation ops against references.
#include "reference/reference.h"

namespace mica {
namespace {
using test::matches;

TEST(Creation, Arange) {
  EXPECT_TRUE(matches(arange(5), {5}, {0, 1, 2, 3, 4}));
  EXPECT_EQ(arange(5).dtype(), int32);
  EXPECT_TRUE(matches(arange(1, 10, 3), {3}, {1, 4, 7}));
  EXPECT_TRUE(matches(arange(0.0, 1.0, 0.25), {4}, {0, 0.25, 0.5, 0.75}));
  EXPECT_EQ(arange(0.0, 1.0, 0.25).dtype(), float32);
  EXPECT_TRUE(matches(arange(5, 0, -2), {3}, {5, 3, 1}));
  EXPECT_TRUE(matches(arange(3.0, float16), {3}, {0, 1, 2}));
  EXPECT_EQ(arange(5, 0).size(), 0u);
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("arange", [] { arange(0, 5, 0); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("arange", [] { arange(0.0, 5.0, 1.0, bool_); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("arange", [] { arange(0.0, 1e12, 1.0); }));
}

TEST(Creation, LinspaceFullZerosOnes) {
  EXPECT_TRUE(matches(linspace(0, 1, 5), {5}, {0, 0.25, 0.5, 0.75, 1}));
  EXPECT_TRUE(matches(linspace(2, 3, 1), {1}, {2}));
  EXPECT_EQ(linspace(0, 1, 0).size(), 0u);
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("linspace", [] { linspace(0, 1, -1); }));
  EXPECT_TRUE(matches(full({2, 2}, 7), {2, 2}, {7, 7, 7, 7}));
  EXPECT_EQ(full({2}, 7.5f, int32).dtype(), int32);
  EXPECT_TRUE(matches(full({2, 3}, array({1.0f, 2.0f, 3.0f})), {2, 3}, {1, 2, 3, 1, 2, 3}));
  EXPECT_TRUE(matches(zeros({3}, int8), {3}, {0, 0, 0}));
  EXPECT_TRUE(matches(ones({2}, bfloat16), {2}, {1, 1}));
  auto r = test::random_array({2, 3}, float16);
  EXPECT_EQ(zeros_like(r).dtype(), float16);
  EXPECT_TRUE(matches(ones_like(r), {2, 3}, {1, 1, 1, 1, 1, 1}));
  EXPECT_TRUE(matches(full_like(r, array(4)), {2, 3}, {4, 4, 4, 4, 4, 4}));
  EXPECT_EQ(zeros({0, 5}).size(), 0u);
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("full", [] { zeros({-1, 2}); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("broadcast_to", [] { full({2, 2}, array({1, 2, 3})); }));
}

// MLX's dtype overloads: a's shape, the given dtype (values converted as astype does).
TEST(Creation, LikeWithDtype) {
  auto r = test::random_array({2, 3}, float16);
  auto z = zeros_like(r, int32);
  EXPECT_EQ(z.dtype(), int32);
  EXPECT_TRUE(matches(z, {2, 3}, {0, 0, 0, 0, 0, 0}));
  auto o = ones_like(r, bool_);
  EXPECT_EQ(o.dtype(), bool_);
  EXPECT_TRUE(matches(o, {2, 3}, {1, 1, 1, 1, 1, 1}));
  auto f = full_like(r, array(2.7), int32);
  EXPECT_EQ(f.dtype(), int32);
  EXPECT_TRUE(matches(f, {2, 3}, {2, 2, 2, 2, 2, 2}));
  auto fb = full_like(r, array({1.5f, -2.5f, 3.9f}), int8);
  EXPECT_EQ(fb.dtype(), int8);
  EXPECT_TRUE(matches(fb, {2, 3}, {1, -2, 3, 1, -2, 3}));
  auto e = ones_like(zeros({0, 3}), complex64);
  EXPECT_EQ(e.dtype(), complex64);
  EXPECT_EQ(e.shape(), (Shape{0, 3}));
  EXPECT_EQ(zeros_like(array(5), float64).item<double>(), 0.0);
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("broadcast_to", [&] { full_like(r, array({1, 2}), int32); }));
}

TEST(Creation, EyeTriMeshgrid) {
  EXPECT_TRUE(matches(eye(3), {3, 3}, {1, 0, 0, 0, 1, 0, 0, 0, 1}));
  EXPECT_TRUE(matches(eye(2, 3, 1), {2, 3}, {0, 1, 0, 0, 0, 1}));
  EXPECT_TRUE(matches(identity(2, int32), {2, 2}, {1, 0, 0, 1}));
  EXPECT_TRUE(matches(tri(3, 3, 0), {3, 3}, {1, 0, 0, 1, 1, 0, 1, 1, 1}));
  EXPECT_TRUE(matches(tri(2, 3, -1), {2, 3}, {0, 0, 0, 1, 0, 0}));
  auto x = reshape(arange(1, 10), {3, 3});
  EXPECT_TRUE(matches(tril(x), {3, 3}, {1, 0, 0, 4, 5, 0, 7, 8, 9}));
  EXPECT_TRUE(matches(triu(x, 1), {3, 3}, {0, 2, 3, 0, 0, 6, 0, 0, 0}));
  EXPECT_TRUE(matches(tril(transpose(x), -1), {3, 3}, {0, 0, 0, 2, 0, 0, 3, 6, 0}));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("tril", [] { tril(arange(3)); }));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("eye", [] { eye(-1); }));
  auto g = meshgrid({array({1, 2, 3}), array({4, 5})});
  EXPECT_TRUE(matches(g[0], {2, 3}, {1, 2, 3, 1, 2, 3}));
  EXPECT_TRUE(matches(g[1], {2, 3}, {4, 4, 4, 5, 5, 5}));
  auto gij = meshgrid({array({1, 2, 3}), array({4, 5})}, false, "ij");
  EXPECT_TRUE(matches(gij[0], {3, 2}, {1, 1, 2, 2, 3, 3}));
  auto sp = meshgrid({array({1, 2, 3}), array({4, 5})}, true);
  EXPECT_EQ(sp[0].shape(), (Shape{1, 3}));
  EXPECT_EQ(sp[1].shape(), (Shape{2, 1}));
  EXPECT_TRUE(test::throws_op<std::invalid_argument>("meshgrid", [] { meshgrid({array({1})}, false, "xx"); }));
}

// Window functions: MLX 0.32's values for M = 6; M = 1 and M = 0.
TEST(Windows, MatchMlx) {
  EXPECT_TRUE(matches(hanning(6), {6}, {0.0, 0.345491498708725, 0.9045085310935974, 0.9045084118843079, 0.345491498708725, 0.0},
                      1e-6, 1e-6));
  EXPECT_TRUE(matches(hamming(6), {6},
                      {0.08000001311302185, 0.39785221219062805, 0.9121478796005249, 0.9121478199958801, 0.3978521227836609,
                       0.08000001311302185},
                      1e-6, 1e-6));
  EXPECT_TRUE(matches(blackman(6), {6},
                      {0.0, 0.20077015459537506, 0.8492298722267151, 0.8492298722267151, 0.20077009499073029, 0.0}, 1e-6,
                      1e-6));
  EXPECT_TRUE(matches(bartlett(6), {6}, {0.0, 0.4, 0.8, 0.8, 0.4, 0.0}, 1e-6, 1e-6));
  for (auto w : {hanning(1), hamming(1), blackman(1), bartlett(1)}) EXPECT_TRUE(matches(w, {1}, {1.0}, 0, 0));
  for (auto w : {hanning(0), hamming(-2), blackman(0), bartlett(0)}) {
    EXPECT_EQ(w.shape(), Shape({0}));
    EXPECT_EQ(w.dtype(), float32);
  }
}

}  // namespace
}  // namespace mica
