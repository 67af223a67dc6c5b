// Tests of mica::random: bit-exact agreement with MLX (fixtures printed by mlx.core.random
// 0.32.4), an independent threefry reference, distribution checks and bad inputs.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <set>
#include <thread>

#include "mica/primitives/random.h"
#include "reference/reference.h"

namespace mica {
namespace {
using test::all_close;
using test::matches;
using test::throws_op;
using test::to_vector;
namespace rnd = mica::random;

// ---- Independent reference: threefry-2x32 (Salmon et al. 2011) and MLX's word layout ----
uint32_t rotl(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }
void threefry_ref(uint32_t k0, uint32_t k1, uint32_t c0, uint32_t c1, uint32_t& o0, uint32_t& o1) {
  static const int R[8] = {13, 15, 26, 6, 17, 29, 16, 24};
  uint32_t ks[3] = {k0, k1, 0x1BD11BDAu ^ k0 ^ k1};
  uint32_t x[2] = {c0 + ks[0], c1 + ks[1]};
  for (int round = 0; round < 20; ++round) {
    x[0] += x[1];
    x[1] = rotl(x[1], R[round % 8]) ^ x[0];
    if (round % 4 == 3) {
      int inj = round / 4 + 1;
      x[0] += ks[inj % 3];
      x[1] += ks[(inj + 1) % 3] + inj;
    }
  }
  o0 = x[0];
  o1 = x[1];
}
// Bytes one key yields for `nbytes` output bytes, as MLX's CPU kernel lays them out.
std::vector<uint8_t> bytes_ref(uint32_t k0, uint32_t k1, size_t nbytes) {
  size_t words = (nbytes + 3) / 4, half = words / 2, odd = words % 2;
  std::vector<uint32_t> w(words);
  for (size_t j = 0; j < half; ++j) threefry_ref(k0, k1, j, j + half + odd, w[j], w[j + half + odd]);
  if (odd) {
    uint32_t unused;
    threefry_ref(k0, k1, half, 0, w[half], unused);
  }
  std::vector<uint8_t> out(nbytes);
  if (nbytes) std::memcpy(out.data(), w.data(), nbytes);
  return out;
}
std::vector<double> bits_ref(uint32_t k0, uint32_t k1, size_t n, int width) {
  auto b = bytes_ref(k0, k1, n * width);
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) {
    uint32_t v = 0;
    std::memcpy(&v, b.data() + i * width, width);
    out[i] = v;
  }
  return out;
}
// MLX's uniform in float32: min(bits / 2^32, 1 - 2^-24) * (high - low) + low.
std::vector<double> uniform_ref(uint32_t k0, uint32_t k1, size_t n, float lo, float hi) {
  auto b = bits_ref(k0, k1, n, 4);
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) {
    float u = std::min(static_cast<float>(b[i]) / 4294967296.0f, std::nextafter(1.0f, 0.0f));
    float r = (hi - lo) * u;
    out[i] = r + lo;
  }
  return out;
}
// Fixture decimals rounded to the float32 values MLX printed them from.
std::vector<double> f32(std::vector<double> v) {
  for (auto& x : v) x = static_cast<float>(x);
  return v;
}
array key_of(uint32_t a, uint32_t b) { return array({a, b}); }
double mean_of(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / v.size(); }
double var_of(const std::vector<double>& v) {
  double m = mean_of(v), s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return s / v.size();
}

// ---- Fixtures printed by mlx.core.random (MLX 0.32.4) ----
TEST(RandomMLX, KeysAndSplit) {
  EXPECT_TRUE(matches(rnd::key(0), {2}, {0, 0}, 0, 0));
  EXPECT_EQ(rnd::key(0).dtype(), uint32);
  EXPECT_TRUE(matches(rnd::key((uint64_t(1) << 40) + 5), {2}, {256, 5}, 0, 0));
  EXPECT_TRUE(matches(rnd::key(~uint64_t(0)), {2}, {4294967295.0, 4294967295.0}, 0, 0));
  auto [a, b] = rnd::split(rnd::key(0));
  EXPECT_TRUE(matches(a, {2}, {4146024105u, 967050713u}, 0, 0));
  EXPECT_TRUE(matches(b, {2}, {2718843009u, 1272950319u}, 0, 0));
  auto k3 = rnd::split(rnd::key(42), 3);
  EXPECT_EQ(k3.dtype(), uint32);
  EXPECT_TRUE(matches(k3, {3, 2}, {3134548294u, 3733159049u, 3746501087u, 894150801u, 801545058u, 2363201431u}, 0, 0));
  // A key that is a view (a row of another split) works like a fresh one.
  auto row = reshape(slice(k3, {1, 0}, {2, 2}), {2});
  EXPECT_TRUE(matches(rnd::split(row, 2), {2, 2}, {674324254u, 3228334804u, 1103547586u, 3522086544u}, 0, 0));
}

TEST(RandomMLX, Bits) {
  // split(key, n) is bits((n, 2)): MLX's numbers for even word counts.
  EXPECT_TRUE(matches(rnd::bits({3, 2}, rnd::key(42)), {3, 2},
                      {3134548294u, 3733159049u, 3746501087u, 894150801u, 801545058u, 2363201431u}, 0, 0));
  // Odd word counts and narrow widths follow MLX's CPU layout (uniform below checks it too).
  auto k = rnd::key(5);
  EXPECT_TRUE(matches(rnd::bits({7}, 4, k), {7},
                      {898128576u, 26682275u, 1983658185u, 1306395215u, 3750995185u, 1740432880u, 323281368u}, 0, 0));
  EXPECT_TRUE(matches(rnd::bits({5}, 2, k), {5}, {43454, 54846, 56458, 17241, 42542}, 0, 0));
  EXPECT_TRUE(matches(rnd::bits({6}, 2, k), {6}, {43454, 54846, 56458, 17241, 42542, 27232}, 0, 0));
  EXPECT_TRUE(matches(rnd::bits({7}, 1, k), {7}, {200, 238, 18, 12, 172, 50, 172}, 0, 0));
  EXPECT_TRUE(matches(rnd::bits({3}, 1, k), {3}, {140, 37, 100}, 0, 0));
  EXPECT_TRUE(matches(rnd::bits({1}, 2, k), {1}, {9612}, 0, 0));
  EXPECT_EQ(rnd::bits({2}, 2, k).dtype(), uint16);
  EXPECT_EQ(rnd::bits({2}, 1, k).dtype(), uint8);
}

TEST(RandomMLX, Uniform) {
  // float32 draws are exact: same bits, same float arithmetic.
  EXPECT_TRUE(matches(rnd::uniform({5}, rnd::key(0)), {5},
                      f32({0.574500561, 0.0996860936, 0.393160284, 0.894178391, 0.596566558}), 0, 0));
  EXPECT_TRUE(matches(rnd::uniform(-2, 3, {7}, float32, rnd::key(42)), {7},
                      f32({1.4390018, 0.997894764, -0.673991084, -0.0429487228, 1.81461096, -0.575759649, -1.79805231}), 0, 0));
  auto h = rnd::uniform({5}, float16, rnd::key(42));
  EXPECT_EQ(h.dtype(), float16);
  EXPECT_TRUE(matches(h, {5}, f32({0.729980469, 0.869140625, 0.196411133, 0.208129883, 0.186645508}), 0, 0));
  auto bf = rnd::uniform({5}, bfloat16, rnd::key(42));
  EXPECT_EQ(bf.dtype(), bfloat16);
  EXPECT_TRUE(matches(bf, {5}, f32({0.73046875, 0.87109375, 0.196289062, 0.208007812, 0.186523438}), 0, 0));
  auto u2 = rnd::uniform(array({0.0f, 10.0f, -5.0f}), array({1.0f, 20.0f, 5.0f}), {2, 3}, float32, rnd::key(3));
  EXPECT_TRUE(matches(u2, {2, 3}, f32({0.204237401, 13.7590733, -0.459506512, 0.802897155, 16.5740395, 3.21665096}), 0, 0));
}

TEST(RandomMLX, LargeDraws) {
  // Sums and samples of longer MLX draws (odd sizes, multi-dimensional shapes).
  auto u = to_vector(rnd::uniform({10001}, rnd::key(7)));
  EXPECT_NEAR(std::accumulate(u.begin(), u.end(), 0.0), 5021.77452586, 1e-7);
  EXPECT_EQ(u[5000], static_cast<float>(0.994454443));
  EXPECT_EQ(u[10000], static_cast<float>(0.0917688832));
  auto r = to_vector(rnd::randint(-50, 50, {3, 1001}, int32, rnd::key(8)));
  EXPECT_EQ(std::accumulate(r.begin(), r.end(), 0.0), -2199);
  EXPECT_EQ(r[1001 + 500], -29);
  EXPECT_EQ(r[3002], -24);
  auto n = to_vector(rnd::normal({10001}, rnd::key(9)));
  EXPECT_NEAR(std::accumulate(n.begin(), n.end(), 0.0), 59.0805906, 1e-3);
}

TEST(RandomMLX, Normal) {
  // erfinv implementations differ in the last bits: compare to float tolerance.
  EXPECT_TRUE(matches(rnd::normal({5}, rnd::key(0)), {5},
                      {0.187844157, -1.28334212, -0.271091551, 1.24905992, 0.244470015}, 1e-5, 1e-6));
  EXPECT_TRUE(matches(rnd::normal({2, 3}, 1.5f, 0.5f, rnd::key(42)), {2, 3},
                      {1.80613267, 2.06129432, 2.06866622, 1.09363377, 1.05479765, 1.56311584}, 1e-5, 1e-6));
  auto c = rnd::normal({3}, complex64, rnd::key(3));
  EXPECT_EQ(c.dtype(), complex64);
  EXPECT_EQ(c.shape(), (Shape{3}));
  EXPECT_TRUE(all_close(to_vector(c), {-0.584480643, -0.0816262811, 0.286652893}, 1e-5, 1e-6));
  EXPECT_TRUE(all_close(test::to_vector_imag(c), {-0.223620698, 0.602465749, 0.651761055}, 1e-5, 1e-6));
}

TEST(RandomMLX, IntegerAndBool) {
  auto r = rnd::randint(0, 10, {8}, int32, rnd::key(0));
  EXPECT_EQ(r.dtype(), int32);
  EXPECT_TRUE(matches(r, {8}, {5, 3, 3, 9, 1, 9, 1, 8}, 0, 0));
  EXPECT_TRUE(matches(rnd::randint(-5, 17, {6}, int32, rnd::key(3)), {6}, {-1, 3, 4, 12, 9, 13}, 0, 0));
  auto u8 = rnd::randint(0, 200, {6}, uint8, rnd::key(42));
  EXPECT_EQ(u8.dtype(), uint8);
  EXPECT_TRUE(matches(u8, {6}, {145, 173, 174, 41, 37, 110}, 0, 0));
  auto b = rnd::bernoulli(0.3, {10}, rnd::key(1));
  EXPECT_EQ(b.dtype(), bool_);
  EXPECT_TRUE(matches(b, {10}, {0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, 0, 0));
  EXPECT_TRUE(matches(rnd::bernoulli(array({0.1f, 0.5f, 0.9f}), {2, 3}, rnd::key(1)), {2, 3}, {0, 1, 1, 0, 0, 1}, 0, 0));
}

TEST(RandomMLX, OtherDistributions) {
  EXPECT_TRUE(matches(rnd::truncated_normal(array(-1.0f), array(2.0f), {6}, float32, rnd::key(2)), {6},
                      {0.0439011157, 1.47416258, 0.639582574, 0.316043019, -0.3008295, 1.55064142}, 1e-5, 1e-6));
  EXPECT_TRUE(matches(rnd::gumbel({5}, float32, rnd::key(0)), {5},
                      {0.590131819, -0.835396945, 0.0687737167, 2.19059682, 0.660555124}, 1e-5, 1e-6));
  EXPECT_TRUE(matches(rnd::laplace({5}, rnd::key(0)), {5},
                      {-0.161344543, 1.61258173, 0.240390643, -1.55285358, -0.214596644}, 1e-5, 1e-6));
  EXPECT_TRUE(matches(rnd::laplace({5}, 1.0f, 2.0f, rnd::key(0)), {5},
                      {0.677310944, 4.22516346, 1.48078132, -2.10570717, 0.570806742}, 1e-5, 1e-6));
}

TEST(RandomMLX, CategoricalAndPermutation) {
  auto logits = log(array({0.1f, 0.2f, 0.7f, 0.5f, 0.25f, 0.25f}, {2, 3}));
  auto c = rnd::categorical(logits, -1, rnd::key(3));
  EXPECT_EQ(c.dtype(), uint32);
  EXPECT_TRUE(matches(c, {2}, {2, 0}, 0, 0));
  EXPECT_TRUE(matches(rnd::categorical(logits, -1, 4, rnd::key(3)), {2, 4}, {2, 0, 2, 2, 0, 1, 2, 2}, 0, 0));
  EXPECT_TRUE(matches(rnd::categorical(logits, 0, rnd::key(3)), {3}, {1, 1, 1}, 0, 0));
  EXPECT_TRUE(matches(rnd::categorical(logits, -1, Shape{4, 2}, rnd::key(3)), {4, 2}, {1, 0, 2, 1, 2, 0, 2, 1}, 0, 0));
  auto p = rnd::permutation(10, rnd::key(3));
  EXPECT_EQ(p.dtype(), uint32);
  EXPECT_TRUE(matches(p, {10}, {5, 9, 3, 8, 6, 1, 0, 2, 7, 4}, 0, 0));
  auto x = reshape(arange(12), {3, 4});
  auto px = rnd::permutation(x, 1, rnd::key(3));
  EXPECT_EQ(px.dtype(), int32);
  EXPECT_TRUE(matches(px, {3, 4}, {1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10}, 0, 0));
}

TEST(RandomMLX, GlobalSeed) {
  rnd::seed(0);
  EXPECT_TRUE(matches(rnd::uniform({3}), {3}, f32({0.872414351, 0.111051559, 0.277080536}), 0, 0));
  EXPECT_TRUE(matches(rnd::uniform({3}), {3}, f32({0.473660082, 0.566222787, 0.88060236}), 0, 0));
  rnd::seed(7);
  EXPECT_TRUE(matches(rnd::randint(0, 100, {4}), {4}, {7, 33, 83, 32}, 0, 0));
  EXPECT_TRUE(matches(rnd::normal({3}), {3}, {0.213975877, -0.159052536, 0.543125212}, 1e-5, 1e-6));
  // Each thread has its own state: a thread seeded alike draws the same numbers.
  rnd::seed(0);
  auto here = to_vector(rnd::uniform({4}));
  std::vector<double> there;
  std::thread t([&] {
    rnd::seed(0);
    there = to_vector(rnd::uniform({4}));
  });
  t.join();
  EXPECT_EQ(here, there);
}

// ---- Against the in-test reference, over sizes, widths and layouts ----
TEST(RandomBitsKernel, MatchesReference) {
  const std::pair<uint32_t, uint32_t> keys[] = {{0, 0}, {0, 5}, {123456789u, 987654321u}, {~0u, ~0u}};
  for (auto [k0, k1] : keys) {
    for (int width : {1, 2, 4}) {
      for (int n : {0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 1000, 100003}) {
        auto got = rnd::bits({n}, width, key_of(k0, k1));
        ASSERT_TRUE(matches(got, {n}, bits_ref(k0, k1, n, width), 0, 0)) << "width " << width << " n " << n;
      }
    }
  }
  // Multi-dimensional shapes lay out the same stream row-major.
  auto k = key_of(9, 10);
  EXPECT_TRUE(matches(rnd::bits({3, 5, 7}, 2, k), {3, 5, 7}, bits_ref(9, 10, 105, 2), 0, 0));
  // The byte stream depends only on the byte count: widths reinterpret it.
  auto w4 = to_vector(rnd::bits({6}, 4, k));
  auto w1 = to_vector(rnd::bits({24}, 1, k));
  for (int i = 0; i < 6; ++i) {
    uint32_t v = 0;
    for (int b = 0; b < 4; ++b) v |= static_cast<uint32_t>(w1[4 * i + b]) << (8 * b);
    EXPECT_EQ(v, static_cast<uint32_t>(w4[i]));
  }
  // Keys as strided views: a column pair of a transposed array.
  auto ks = transpose(rnd::split(key_of(1, 2), 3));  // (2, 3)
  auto col = slice(ks, {0, 2}, {2, 3});               // (2, 1) non-contiguous
  auto kv = reshape(col, {2});
  auto kvals = to_vector(kv);
  EXPECT_TRUE(matches(rnd::bits({11}, kv), {11},
                      bits_ref(static_cast<uint32_t>(kvals[0]), static_cast<uint32_t>(kvals[1]), 11, 4), 0, 0));
  // Empty shapes.
  EXPECT_TRUE(matches(rnd::bits({0, 3}, k), {0, 3}, {}));
  EXPECT_TRUE(matches(rnd::bits({4, 0}, 1, k), {4, 0}, {}));
  EXPECT_TRUE(matches(rnd::split(k, 0), {0, 2}, {}));
}

TEST(RandomBitsKernel, BatchedKeysAndVmapRule) {
  // The kernel accepts (..., 2) keys: each key fills its own block of the output.
  auto keys = rnd::split(key_of(3, 4), 4);  // (4, 2)
  auto kv = to_vector(keys);
  auto node = array({4, 5}, uint16, std::make_shared<RandomBits>(default_stream(Device::cpu), Shape{5}, 2), {keys});
  std::vector<double> want;
  for (int i = 0; i < 4; ++i) {
    auto r = bits_ref(static_cast<uint32_t>(kv[2 * i]), static_cast<uint32_t>(kv[2 * i + 1]), 5, 2);
    want.insert(want.end(), r.begin(), r.end());
  }
  EXPECT_TRUE(matches(node, {4, 5}, want, 0, 0));
  // vmap over keys batched along axis 1 of a (2, 4) array.
  RandomBits prim(default_stream(Device::cpu), Shape{5}, 2);
  auto [outs, axes] = prim.vmap({transpose(keys)}, {1});
  EXPECT_EQ(axes[0], 0);
  EXPECT_TRUE(matches(outs[0], {4, 5}, want, 0, 0));
  auto [outs2, axes2] = prim.vmap({key_of(3, 4)}, {-1});
  EXPECT_EQ(axes2[0], -1);
  EXPECT_TRUE(matches(outs2[0], {5}, bits_ref(3, 4, 5, 2), 0, 0));
  EXPECT_TRUE(prim.is_equivalent(RandomBits(default_stream(Device::cpu), Shape{5}, 2)));
  EXPECT_FALSE(prim.is_equivalent(RandomBits(default_stream(Device::cpu), Shape{5}, 4)));
}

TEST(RandomOps, UniformMatchesReference) {
  auto k = key_of(77, 88);
  EXPECT_TRUE(matches(rnd::uniform(-1.5, 2.5, {1001}, float32, k), {1001}, uniform_ref(77, 88, 1001, -1.5f, 2.5f), 0, 0));
  // Broadcast bounds, given as non-contiguous views.
  auto lo = transpose(array({0.0f, 1.0f, 2.0f, 3.0f, 4.0f, 5.0f}, {2, 3}));  // (3, 2)
  auto hi = slice(array({10.0f, 0.0f, 20.0f, 0.0f}, {4}), {0}, {4}, {2});      // (2,) = {10, 20}
  auto u = rnd::uniform(lo, hi, {4, 3, 2}, float32, k);
  auto b = bits_ref(77, 88, 24, 4);
  auto lov = to_vector(lo), hiv = to_vector(hi);
  std::vector<double> want(24);
  for (int i = 0; i < 24; ++i) {
    float l = static_cast<float>(lov[i % 6]), h = static_cast<float>(hiv[i % 2]);
    float t = std::min(static_cast<float>(b[i]) / 4294967296.0f, std::nextafter(1.0f, 0.0f));
    want[i] = static_cast<float>((h - l) * t) + l;
  }
  EXPECT_TRUE(matches(u, {4, 3, 2}, want, 0, 0));
  // Other float dtypes: values in [low, high) at the dtype's precision.
  for (Dtype d : {float16, bfloat16, float64}) {
    auto x = rnd::uniform(array(-1.0), array(1.0), {1000}, d, k);
    EXPECT_EQ(x.dtype(), d);
    auto ref = uniform_ref(77, 88, 1000, -1.0f, 1.0f);
    EXPECT_TRUE(matches(x, {1000}, ref, 0, 2 * test::tol_for(d) + 1e-7)) << d;
  }
  EXPECT_TRUE(matches(rnd::uniform({0}, k), {0}, {}));
  EXPECT_TRUE(matches(rnd::uniform(array({1.0f, 2.0f}), array(3.0f), {0, 2}, float32, k), {0, 2}, {}));
  EXPECT_TRUE(matches(rnd::normal({3, 0}, k), {3, 0}, {}));
  EXPECT_TRUE(matches(rnd::normal({0}, complex64, k), {0}, {}));
  EXPECT_TRUE(matches(rnd::gumbel({0}, float32, k), {0}, {}));
  EXPECT_TRUE(matches(rnd::laplace({0}, k), {0}, {}));
  EXPECT_TRUE(matches(rnd::bernoulli(0.5, {0}, k), {0}, {}));
  EXPECT_TRUE(matches(rnd::truncated_normal(array(0.0f), array(1.0f), {0}, float32, k), {0}, {}));
}

TEST(RandomOps, SameKeySameNumbersDifferentKeysDiffer) {
  auto k = rnd::key(1234);
  EXPECT_EQ(to_vector(rnd::normal({50}, k)), to_vector(rnd::normal({50}, k)));
  EXPECT_EQ(to_vector(rnd::randint(0, 1000, {50}, int32, k)), to_vector(rnd::randint(0, 1000, {50}, int32, k)));
  auto [a, b] = rnd::split(k);
  EXPECT_NE(to_vector(rnd::uniform({50}, a)), to_vector(rnd::uniform({50}, b)));
  EXPECT_NE(to_vector(rnd::uniform({50}, k)), to_vector(rnd::uniform({50}, rnd::key(1235))));
  // Without a key the global state advances.
  EXPECT_NE(to_vector(rnd::uniform({50})), to_vector(rnd::uniform({50})));
  // A prefix of a longer draw is not the shorter draw (the layout depends on the size), but
  // a draw is reproducible from its key whatever else was drawn in between.
  auto first = to_vector(rnd::bits({10}, k));
  rnd::bits({1000}, k).eval();
  EXPECT_EQ(first, to_vector(rnd::bits({10}, k)));
}

// ---- Distributions on 1e5 samples ----
constexpr int N = 100000;

TEST(RandomDistributions, Uniform) {
  auto v = to_vector(rnd::uniform(2.0, 5.0, {N}, float32, rnd::key(11)));
  EXPECT_NEAR(mean_of(v), 3.5, 0.02);
  EXPECT_NEAR(var_of(v), 9.0 / 12.0, 0.02);
  EXPECT_GE(*std::min_element(v.begin(), v.end()), 2.0);
  EXPECT_LT(*std::max_element(v.begin(), v.end()), 5.0);
  for (Dtype d : {float16, bfloat16}) {
    auto h = to_vector(rnd::uniform({N}, d, rnd::key(12)));
    EXPECT_LT(*std::max_element(h.begin(), h.end()), 1.0) << d;
    EXPECT_GE(*std::min_element(h.begin(), h.end()), 0.0) << d;
    EXPECT_NEAR(mean_of(h), 0.5, 0.01) << d;
  }
}

TEST(RandomDistributions, Normal) {
  auto v = to_vector(rnd::normal({N}, rnd::key(13)));
  EXPECT_NEAR(mean_of(v), 0.0, 0.02);
  EXPECT_NEAR(var_of(v), 1.0, 0.02);
  auto w = to_vector(rnd::normal({N}, float32, array(3.0f), array(2.0f), rnd::key(14)));
  EXPECT_NEAR(mean_of(w), 3.0, 0.04);
  EXPECT_NEAR(var_of(w), 4.0, 0.08);
  for (Dtype d : {float16, bfloat16, float64}) {
    auto x = rnd::normal({N}, d, rnd::key(15));
    EXPECT_EQ(x.dtype(), d);
    auto xv = to_vector(x);
    EXPECT_NEAR(mean_of(xv), 0.0, 0.02) << d;
    EXPECT_NEAR(var_of(xv), 1.0, 0.03) << d;
  }
  auto c = rnd::normal({N}, complex64, rnd::key(16));
  EXPECT_NEAR(var_of(to_vector(c)), 0.5, 0.01);
  EXPECT_NEAR(var_of(test::to_vector_imag(c)), 0.5, 0.01);
  // Broadcast loc across a larger shape.
  auto b = rnd::normal({4, 3}, float32, array({0.0f, 100.0f, -100.0f}), std::nullopt, rnd::key(1));
  auto bv = to_vector(b);
  for (int i = 0; i < 4; ++i) EXPECT_GT(bv[3 * i + 1], bv[3 * i + 2]);
}

TEST(RandomDistributions, Randint) {
  auto v = to_vector(rnd::randint(-3, 7, {N}, int32, rnd::key(17)));
  std::set<double> seen(v.begin(), v.end());
  EXPECT_EQ(seen.size(), 10u);
  EXPECT_EQ(*seen.begin(), -3);
  EXPECT_EQ(*seen.rbegin(), 6);
  EXPECT_NEAR(mean_of(v), 1.5, 0.05);
  EXPECT_NEAR(var_of(v), (100.0 - 1.0) / 12.0, 0.1);
  for (Dtype d : {int8, int16, int64, uint8, uint16, uint32, uint64}) {
    auto x = rnd::randint(0, 100, {1000}, d, rnd::key(18));
    EXPECT_EQ(x.dtype(), d);
    auto xv = to_vector(x);
    EXPECT_GE(*std::min_element(xv.begin(), xv.end()), 0) << d;
    EXPECT_LE(*std::max_element(xv.begin(), xv.end()), 99) << d;
  }
  auto bits01 = to_vector(rnd::randint(0, 2, {N}, bool_, rnd::key(19)));
  EXPECT_NEAR(mean_of(bits01), 0.5, 0.01);
  // Per-element bounds broadcast; low >= high gives low.
  auto lohi = to_vector(rnd::randint(array({0, 10, 5}), array({1, 12, 5}), {100, 3}, int32, rnd::key(20)));
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(lohi[3 * i], 0);
    EXPECT_TRUE(lohi[3 * i + 1] == 10 || lohi[3 * i + 1] == 11);
    EXPECT_EQ(lohi[3 * i + 2], 5);
  }
  EXPECT_TRUE(matches(rnd::randint(0, 5, {0}, int32, rnd::key(1)), {0}, {}));
}

TEST(RandomDistributions, BernoulliTruncatedGumbelLaplace) {
  EXPECT_NEAR(mean_of(to_vector(rnd::bernoulli(0.3, {N}, rnd::key(21)))), 0.3, 0.01);
  EXPECT_EQ(rnd::bernoulli(std::optional<array>(rnd::key(22))).shape(), Shape{});
  auto all = to_vector(rnd::bernoulli(1.0, {1000}, rnd::key(23)));
  EXPECT_EQ(mean_of(all), 1.0);
  auto none = to_vector(rnd::bernoulli(array(0.0f, float16), {1000}, rnd::key(23)));
  EXPECT_EQ(mean_of(none), 0.0);
  auto pv = rnd::bernoulli(array({0.0f, 1.0f}), rnd::key(24));
  EXPECT_TRUE(matches(pv, {2}, {0, 1}, 0, 0));

  auto t = to_vector(rnd::truncated_normal(array(-0.5f), array(1.5f), {N}, float32, rnd::key(25)));
  EXPECT_GE(*std::min_element(t.begin(), t.end()), -0.5);
  EXPECT_LE(*std::max_element(t.begin(), t.end()), 1.5);
  // Mean of N(0,1) truncated to [a, b]: (phi(a) - phi(b)) / (Phi(b) - Phi(a)).
  auto phi = [](double x) { return std::exp(-x * x / 2) / std::sqrt(2 * M_PI); };
  auto Phi = [](double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); };
  EXPECT_NEAR(mean_of(t), (phi(-0.5) - phi(1.5)) / (Phi(1.5) - Phi(-0.5)), 0.01);
  auto ts = rnd::truncated_normal(array({-1.0f, 0.0f}), array(1.0f), float32, rnd::key(26));
  EXPECT_EQ(ts.shape(), (Shape{2}));
  auto t64 = to_vector(rnd::truncated_normal(array(-2.0), array(-1.0), {1000}, float64, rnd::key(27)));
  EXPECT_GE(*std::min_element(t64.begin(), t64.end()), -2.0);
  EXPECT_LE(*std::max_element(t64.begin(), t64.end()), -1.0);

  auto g = to_vector(rnd::gumbel({N}, float32, rnd::key(28)));
  EXPECT_NEAR(mean_of(g), 0.5772156649, 0.02);
  EXPECT_NEAR(var_of(g), M_PI * M_PI / 6, 0.05);

  auto l = to_vector(rnd::laplace({N}, rnd::key(29)));
  EXPECT_NEAR(mean_of(l), 0.0, 0.02);
  EXPECT_NEAR(var_of(l), 2.0, 0.05);
  auto l16 = rnd::laplace({N}, float16, 1.0f, 0.5f, rnd::key(30));
  EXPECT_EQ(l16.dtype(), float16);
  EXPECT_NEAR(mean_of(to_vector(l16)), 1.0, 0.02);
}

TEST(RandomDistributions, CategoricalAndPermutation) {
  std::vector<float> probs = {0.1f, 0.2f, 0.3f, 0.4f};
  auto logits = log(array(probs.begin(), {4}));
  auto c = to_vector(rnd::categorical(logits, 0, N, rnd::key(31)));
  ASSERT_EQ(c.size(), size_t(N));
  std::vector<double> freq(4, 0);
  for (double x : c) freq[static_cast<int>(x)] += 1.0 / N;
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(freq[i], probs[i], 0.01) << i;
  // Categories along axis 0 of a (3, 2) view.
  auto l2 = transpose(array({0.0f, -100.0f, -100.0f, -100.0f, -100.0f, 0.0f}, {2, 3}));  // (3, 2)
  EXPECT_TRUE(matches(rnd::categorical(l2, 0, rnd::key(32)), {2}, {0, 2}, 0, 0));

  auto p = to_vector(rnd::permutation(1000, rnd::key(33)));
  std::vector<double> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_NE(p, sorted);
  auto x = rnd::permutation(reshape(arange(0.0, 20.0, float32), {4, 5}), 0, rnd::key(34));
  auto xv = to_vector(x);
  std::multiset<double> rows;
  for (int r = 0; r < 4; ++r) {
    for (int j = 1; j < 5; ++j) EXPECT_EQ(xv[5 * r + j], xv[5 * r] + j);  // rows stay whole
    rows.insert(xv[5 * r]);
  }
  EXPECT_EQ(rows, (std::multiset<double>{0, 5, 10, 15}));
  EXPECT_TRUE(matches(rnd::permutation(0, rnd::key(1)), {0}, {}));
  EXPECT_TRUE(matches(rnd::permutation(zeros({3, 0}), 0, rnd::key(1)), {3, 0}, {}));
}

// ---- Bad inputs ----
TEST(RandomBadInputs, Keys) {
  auto bad_dtype = array({1, 2});
  auto bad_shape = array({1u, 2u, 3u});
  auto batch = rnd::split(rnd::key(0), 3);
  using E = std::invalid_argument;
  EXPECT_TRUE(throws_op<E>("bits", [&] { rnd::bits({2}, bad_dtype); }));
  EXPECT_TRUE(throws_op<E>("bits", [&] { rnd::bits({2}, bad_shape); }));
  EXPECT_TRUE(throws_op<E>("bits", [&] { rnd::bits({2}, batch); }));
  EXPECT_TRUE(throws_op<E>("bits", [&] { rnd::bits({2}, 3, rnd::key(0)); }));
  EXPECT_TRUE(throws_op<E>("bits", [&] { rnd::bits({-1}, rnd::key(0)); }));
  EXPECT_TRUE(throws_op<E>("split", [&] { rnd::split(bad_dtype); }));
  EXPECT_TRUE(throws_op<E>("split", [&] { rnd::split(bad_shape, 3); }));
  EXPECT_TRUE(throws_op<E>("split", [&] { rnd::split(rnd::key(0), -1); }));
  EXPECT_TRUE(throws_op<E>("uniform", [&] { rnd::uniform({2}, bad_dtype); }));
  EXPECT_TRUE(throws_op<E>("normal", [&] { rnd::normal({2}, bad_shape); }));
  EXPECT_TRUE(throws_op<E>("randint", [&] { rnd::randint(0, 3, {2}, int32, bad_dtype); }));
  EXPECT_TRUE(throws_op<E>("bernoulli", [&] { rnd::bernoulli(0.5, {2}, bad_shape); }));
  EXPECT_TRUE(throws_op<E>("gumbel", [&] { rnd::gumbel({2}, float32, bad_dtype); }));
  EXPECT_TRUE(throws_op<E>("laplace", [&] { rnd::laplace({2}, bad_dtype); }));
  EXPECT_TRUE(throws_op<E>("permutation", [&] { rnd::permutation(3, bad_shape); }));
}

TEST(RandomBadInputs, Ops) {
  using E = std::invalid_argument;
  auto k = rnd::key(0);
  EXPECT_TRUE(throws_op<E>("uniform", [&] { rnd::uniform({3}, int32, k); }));
  EXPECT_TRUE(throws_op<E>("uniform", [&] { rnd::uniform({3}, complex64, k); }));
  EXPECT_TRUE(throws_op<E>("uniform", [&] { rnd::uniform(array({0.0f, 1.0f, 2.0f}), array(5.0f), {2}, float32, k); }));
  EXPECT_TRUE(throws_op<E>("uniform", [&] { rnd::uniform(array({0.0f, 1.0f}), array({1.0f, 2.0f, 3.0f}), {3}, float32, k); }));
  EXPECT_TRUE(throws_op<E>("uniform", [&] { rnd::uniform({-2}, k); }));
  EXPECT_TRUE(throws_op<E>("normal", [&] { rnd::normal({3}, int32, k); }));
  EXPECT_TRUE(throws_op<E>("normal", [&] { rnd::normal({3}, bool_, k); }));
  EXPECT_TRUE(throws_op<E>("randint", [&] { rnd::randint(0, 3, {3}, float32, k); }));
  EXPECT_TRUE(throws_op<E>("randint", [&] { rnd::randint(0, 3, {3}, complex64, k); }));
  EXPECT_TRUE(throws_op<E>("randint", [&] { rnd::randint(array({0, 1, 2}), array(5), {2}, int32, k); }));
  EXPECT_TRUE(throws_op<E>("bernoulli", [&] { rnd::bernoulli(array({1, 0}), k); }));
  EXPECT_TRUE(throws_op<E>("bernoulli", [&] { rnd::bernoulli(array(true), {3}, k); }));
  EXPECT_TRUE(throws_op<E>("bernoulli", [&] { rnd::bernoulli(array({0.1f, 0.2f}), {3}, k); }));
  EXPECT_TRUE(throws_op<E>("bernoulli", [&] { rnd::bernoulli(array({0.1f, 0.2f}), {1}, k); }));
  EXPECT_TRUE(throws_op<E>("truncated_normal", [&] { rnd::truncated_normal(array(0.0f), array(1.0f), {3}, int32, k); }));
  EXPECT_TRUE(throws_op<E>("truncated_normal",
                           [&] { rnd::truncated_normal(array({0.0f, 1.0f}), array({1.0f, 2.0f, 3.0f}), float32, k); }));
  EXPECT_TRUE(throws_op<E>("gumbel", [&] { rnd::gumbel({3}, int32, k); }));
  EXPECT_TRUE(throws_op<E>("laplace", [&] { rnd::laplace({3}, int32, k); }));
  auto logits = zeros({3, 4});
  EXPECT_TRUE(throws_op<std::out_of_range>("categorical", [&] { rnd::categorical(logits, 2, k); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("categorical", [&] { rnd::categorical(array(1.0f), 0, k); }));
  EXPECT_TRUE(throws_op<E>("categorical", [&] { rnd::categorical(logits, -1, Shape{5}, k); }));
  EXPECT_TRUE(throws_op<E>("categorical", [&] { rnd::categorical(logits, -1, -1, k); }));
  EXPECT_TRUE(throws_op<E>("permutation", [&] { rnd::permutation(-1, k); }));
  EXPECT_TRUE(throws_op<E>("permutation", [&] { rnd::permutation(array(1.0f), 0, k); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("permutation", [&] { rnd::permutation(logits, 2, k); }));
}

// multivariate_normal: MLX 0.32's mx.random.multivariate_normal(mean=[1, -2],
// cov=[[2, 0.5], [0.5, 1]], shape=(3,), key=mx.random.key(7)).
TEST(MultivariateNormal, MatchesMlx) {
  array mu({1.0f, -2.0f}), cov({2.0f, 0.5f, 0.5f, 1.0f}, {2, 2});
  array got = rnd::multivariate_normal(mu, cov, {3}, float32, rnd::key(7));
  EXPECT_TRUE(matches(got, {3, 2},
                      {-1.3008103370666504, -3.1399974822998047, 0.7390276193618774, -2.322587728500366,
                       1.5416414737701416, -2.3435449600219727},
                      1e-5, 1e-5));
  EXPECT_EQ(rnd::multivariate_normal(mu, cov, {}, float32, rnd::key(7)).shape(), Shape({2}));
  EXPECT_EQ(rnd::multivariate_normal(zeros({4, 2}), cov, {}, float32, rnd::key(7)).shape(), Shape({4, 2}));
  EXPECT_EQ(rnd::multivariate_normal(mu, cov, {5, 4}, float32, rnd::key(7)).shape(), Shape({5, 4, 2}));
  // The sample covariance of many draws approaches cov.
  array many = rnd::multivariate_normal(mu, cov, {20000}, float32, rnd::key(8));
  array d = subtract(many, mean(many, 0, true));
  array c = divide(matmul(transpose(d), d), array(19999.0f));
  EXPECT_TRUE(allclose(c, cov, 0, 0.06).item<bool>());
  EXPECT_TRUE(allclose(mean(many, 0), mu, 0, 0.03).item<bool>());
  EXPECT_TRUE(throws_op<std::invalid_argument>("multivariate_normal", [&] { rnd::multivariate_normal(mu, cov, {3}, float16); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("multivariate_normal", [&] { rnd::multivariate_normal(mu, ones({3, 3})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("multivariate_normal", [&] { rnd::multivariate_normal(array(1.0f), cov); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("multivariate_normal", [&] { rnd::multivariate_normal(mu, ones({2, 3})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("multivariate_normal", [&] { rnd::multivariate_normal(zeros({4, 2}), cov, {3}); }));
}

}  // namespace
}  // namespace mica
