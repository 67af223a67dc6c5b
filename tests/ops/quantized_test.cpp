// Affine quantization (ops/quantized.h) in MLX's layout: quantize against MLX's own outputs
// (fixtures from MLX 0.32's mx.quantize on the same weights: every packed word, scale and bias),
// dequantize error bounds per bit width, quantized_matmul against MLX and a float matmul, on the
// CPU and (the ops are compositions) on any device. The fused QuantizedMatmul kernel against a
// float64 product with the weights unpacked here (every bit width, group size, both
// orientations, its direct and tile paths, dtypes, batches); gather_mm and gather_qmm against
// loops of plain products.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "mica/mica.h"
#include "mica/primitives/quantized.h"
#include "reference/reference.h"

namespace mica::test {
namespace {

struct Fixture {
  int bits;
  std::vector<uint32_t> wq;
  std::vector<float> scales, biases;
};

// mx.quantize(w, group_size=32, bits=b) for w = ((k * 7919) % 1000) / 250 - 2, k < 128, as (2, 64).
const std::vector<Fixture> kMlx = {
{2, {4229278716u, 2952550059u, 1454370902u, 4049256432u, 3217119935u, 1795146074u, 90898373u, 4278545151u},
      {1.0, 0.9940000176429749, 0.9879999756813049, 0.9819999933242798}, {-2.0, -1.9880000352859497, -1.9759999513626099, -1.9639999866485596}},
  {3, {2473778680u, 959373186u, 2532309033u, 1862013595u, 1874938297u, 4229209239u, 156093303u, 2766452606u, 1313585120u, 3854302730u, 1572799654u, 3689960050u},
      {0.5, 0.4970000088214874, 0.49399998784065247, 0.4909999966621399}, {-2.0, -1.9880000352859497, -1.9759999513626099, -1.9639999866485596}},
  {4, {2024525296u, 3740279622u, 592869803u, 2309807857u, 3741398103u, 879200956u, 2596138754u, 4010952039u, 1165531853u, 2882465811u, 4028843640u, 1450814430u, 3168792868u, 20207497u, 1737145583u, 3186557492u},
      {0.25, 0.2485000044107437, 0.24699999392032623, 0.24549999833106995}, {-2.0, -1.9880000352859497, -1.9759999513626099, -1.9639999866485596}},
  {5, {661417888u, 295250804u, 3331837756u, 3793867975u, 2225831287u, 2150801741u, 3905870047u, 2015638102u, 2408394654u, 4022617001u, 2601080602u, 3204474178u, 2916195763u, 1022904420u, 1394551391u, 903841927u, 2243302062u, 1736310986u, 3378225979u, 3199856784u},
      {0.125, 0.12425000220537186, 0.12349999696016312, 0.12274999916553497}, {-2.0, -1.9880000352859497, -1.9759999513626099, -1.9639999866485596}},
  {6, {2881711808u, 3294065177u, 3414114844u, 3631888941u, 2676237540u, 2118823891u, 86574426u, 1798429616u, 823516294u, 1944309895u, 907972235u, 3958442297u, 3768237174u, 21709158u, 2732390644u, 3444148066u, 4248501281u, 1368908970u, 2063348302u, 2821040909u, 5427285u, 1739791868u, 1930583496u, 3141418504u},
      {0.0625, 0.06212500110268593, 0.05987878516316414, 0.06137499958276749}, {-2.0, -1.9880000352859497, -1.9759999513626099, -1.9639999866485596}},
  {8, {3336368384u, 1904712881u, 489834332u, 3471046663u, 2039391160u, 607735396u, 3588947727u, 2157292480u, 708859242u, 3689938965u, 2258416070u, 843537521u, 3824682781u, 2393094349u, 961438585u, 3942584100u, 2578367706u, 1096248707u, 4143978028u, 2696334562u, 1230992778u, 4278721843u, 2831078377u, 1348893842u, 4279116600u, 2864764394u, 1433043093u, 1387328u, 2999442673u, 1551009692u, 119353927u, 3117343993u},
      {0.015267175622284412, 0.015292308293282986, 0.014857142232358456, 0.015224806033074856}, {-2.0, -1.9880000352859497, -1.9759999513626099, -1.9639999866485596}},
};

// |d - w| at most one step of its group, (max - min) / (2^bits - 1): the scale is nudged so the
// edge lands on the grid, which shifts the grid by up to half a step at the other end (MLX's own
// dequantized weights stay below 0.75, 0.875, ..., 0.993 steps for 2, 3, ..., 8 bits).
bool within_a_step(const array& d, const array& w, int gs, int bits) {
  Shape g = w.shape();
  g.back() /= gs;
  g.push_back(gs);
  array wg = reshape(w, g), dg = reshape(d, g);
  array step = (max(wg, -1, true) - min(wg, -1, true)) / float((1 << bits) - 1);
  return all(less_equal(abs(dg - wg), step * 1.0001f + 1e-6f)).item<bool>();
}

array fixture_weights() {
  std::vector<float> v(128);
  for (int k = 0; k < 128; ++k) v[k] = static_cast<float>(((k * 7919) % 1000) / 250.0 - 2.0);
  return array(v.begin(), {2, 64}, float32);
}

TEST(Quantize, MatchesMlxBitForBit) {
  array w = fixture_weights();
  for (const auto& f : kMlx) {
    auto r = quantize(w, 32, f.bits);
    ASSERT_EQ(r.size(), 3u);
    eval(r);
    EXPECT_EQ(r[0].dtype(), uint32);
    EXPECT_EQ(r[0].shape(), Shape({2, 2 * f.bits}));
    std::vector<uint32_t> got(r[0].data<uint32_t>(), r[0].data<uint32_t>() + r[0].size());
    EXPECT_EQ(got, f.wq) << f.bits << " bits";
    std::vector<float> sc(r[1].data<float>(), r[1].data<float>() + r[1].size());
    std::vector<float> bi(r[2].data<float>(), r[2].data<float>() + r[2].size());
    EXPECT_EQ(sc, f.scales) << f.bits << " bits";
    EXPECT_EQ(bi, f.biases) << f.bits << " bits";
    // MLX's packed weights dequantize to within one step of w (see below).
    array wq = array(f.wq.begin(), {2, 2 * f.bits}, uint32);
    array sa = array(f.scales.begin(), {2, 2}, float32), ba = array(f.biases.begin(), {2, 2}, float32);
    array d = dequantize(wq, sa, ba, 32, f.bits);
    EXPECT_TRUE(within_a_step(d, w, 32, f.bits)) << f.bits << " bits";
  }
}

TEST(Quantize, RoundTripsEveryWidthAndGroup) {
  for (int gs : {32, 64, 128}) {
    for (int bits : {2, 3, 4, 5, 6, 8}) {
      array w = random_array({3, 256}, float32, -3, 3, static_cast<uint32_t>(gs + bits));
      auto q = quantize(w, gs, bits);
      array d = dequantize(q[0], q[1], q[2], gs, bits);
      EXPECT_TRUE(within_a_step(d, w, gs, bits)) << gs << " " << bits;
      // bits inferred from the shapes.
      EXPECT_TRUE(allclose(dequantize(q[0], q[1], q[2], gs), d).item<bool>()) << gs << " " << bits;
    }
  }
  // Batched weights and other float dtypes (scales in w's dtype).
  array wb = random_array({2, 3, 64}, bfloat16, -1, 1, 7);
  auto qb = quantize(wb, 32, 4);
  EXPECT_EQ(qb[1].dtype(), bfloat16);
  EXPECT_EQ(qb[0].shape(), Shape({2, 3, 8}));
  // One 4-bit step of [-1, 1] is 2/15; the bfloat16 scales and biases round on top of it.
  EXPECT_TRUE(allclose(astype(dequantize(qb[0], qb[1], qb[2], 32, 4), float32), astype(wb, float32), 0, 0.16).item<bool>());
}

TEST(Quantize, QuantizedMatmulMatchesMlxAndTheFloatProduct) {
  array w = fixture_weights();
  std::vector<float> xv(3 * 64);
  for (int k = 0; k < 3 * 64; ++k) xv[k] = static_cast<float>(k % 7 - 3) * 0.5f;
  array x = array(xv.begin(), {3, 64}, float32);
  auto q = quantize(w, 32, 4);
  array y = quantized_matmul(x, q[0], q[1], q[2], true, 32, 4);
  EXPECT_TRUE(matches(y, {3, 2}, {4.492499351501465, -1.6952499151229858, -5.98799991607666, -2.913750410079956, 1.8539996147155762, 0.1324993371963501}, 1e-5, 1e-5));
  array wd = dequantize(q[0], q[1], q[2], 32, 4);
  EXPECT_TRUE(allclose(y, matmul(x, transpose(wd)), 1e-5, 1e-5).item<bool>());
  // Not transposed: x (3, 2) @ w (2, 64) from w's quantized (2, 64) rows.
  array x2 = random_array({3, 2}, float32, -1, 1, 9);
  EXPECT_TRUE(allclose(quantized_matmul(x2, q[0], q[1], q[2], false, 32, 4), matmul(x2, wd), 1e-5, 1e-5).item<bool>());
}

TEST(Quantize, BadInputs) {
  array w = random_array({4, 64}, float32, -1, 1, 3);
  EXPECT_TRUE(throws_op<std::invalid_argument>("quantize", [&] { quantize(w, 32, 7); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("quantize", [&] { quantize(w, 48, 4); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("quantize", [&] { quantize(w, 128, 4); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("quantize", [&] { quantize(reshape(w, {256}), 64, 4); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("quantize", [&] { quantize(astype(w, int32), 64, 4); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("quantize", [&] { quantize(w, 64, 4, "mxfp4"); }));
  auto q = quantize(w, 32, 4);
  EXPECT_TRUE(throws_op<std::invalid_argument>("dequantize", [&] { dequantize(q[0], q[1], std::nullopt, 32, 4); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("dequantize", [&] { dequantize(q[0], q[1], q[2], 32, 8); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("dequantize", [&] { dequantize(astype(q[0], int32), q[1], q[2], 32, 4); }));
}

// W (rows, cols) in float64 from MLX's packed layout, unpacked bit by bit here.
std::vector<double> dequant_ref(const array& w, const array& scales, const array& biases, int gs, int bits) {
  auto wv = to_vector(w), sv = to_vector(scales), bv = to_vector(biases);
  const int64_t rows = w.shape(-2), words = w.shape(-1), cols = words * 32 / bits, G = cols / gs;
  const int64_t mats = static_cast<int64_t>(w.size()) / (rows * words);
  std::vector<double> out(static_cast<size_t>(mats * rows * cols));
  for (int64_t m = 0; m < mats; ++m) {
    for (int64_t r = 0; r < rows; ++r) {
      const double* row = wv.data() + (m * rows + r) * words;
      for (int64_t i = 0; i < cols; ++i) {
        uint64_t q = 0;
        for (int b = 0; b < bits; ++b) {
          const int64_t bit = int64_t(bits) * i + b;
          const uint64_t word = static_cast<uint64_t>(row[bit / 32]);
          q |= ((word >> (bit % 32)) & 1u) << b;
        }
        const int64_t g = (m * rows + r) * G + i / gs;
        out[(m * rows + r) * cols + i] = sv[g] * double(q) + bv[g];
      }
    }
  }
  return out;
}

// x (M, K) @ W.T (transpose, W (N, K)) or x @ W (W (K, N)) in float64.
std::vector<double> product_ref(const std::vector<double>& x, const std::vector<double>& W, int64_t M, int64_t K,
                                int64_t N, bool transpose) {
  std::vector<double> out(static_cast<size_t>(M * N), 0.0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double t = 0;
      for (int64_t k = 0; k < K; ++k) t += x[m * K + k] * (transpose ? W[n * K + k] : W[k * N + n]);
      out[m * N + n] = t;
    }
  return out;
}

bool evaluates_fused(const array& y) {
  return y.has_primitive() && dynamic_cast<const QuantizedMatmul*>(&y.primitive()) != nullptr;
}

TEST(QuantizedMatmul, FusedKernelMatchesFloat64ProductForEveryWidthGroupAndOrientation) {
  for (int bits : {2, 3, 4, 5, 6, 8}) {
    for (int gs : {32, 64, 128}) {
      for (bool transpose : {true, false}) {
        // transpose: W (N=24, K=256); otherwise W (K=40, N=256). K = 256 keeps every width on its
        // fast path; M = 1, 3, 9 and 40 cross the direct/tile split.
        const int rows = transpose ? 24 : 40, cols = 256;
        const int K = transpose ? cols : rows, N = transpose ? rows : cols;
        const uint32_t seed = static_cast<uint32_t>(bits * 100 + gs + transpose);
        array wf = random_array({rows, cols}, float32, -1, 1, seed);
        auto q = quantize(wf, gs, bits);
        auto W = dequant_ref(q[0], q[1], q[2], gs, bits);
        for (int M : {1, 3, 9, 40}) {
          array x = random_array({M, K}, float32, -1, 1, seed + M);
          array y = quantized_matmul(x, q[0], q[1], q[2], transpose, gs, bits);
          EXPECT_TRUE(evaluates_fused(y));
          EXPECT_EQ(y.dtype(), float32);
          EXPECT_TRUE(matches(y, {M, N}, product_ref(to_vector(x), W, M, K, N, transpose), 1e-4, 1e-4))
              << bits << " bits, group " << gs << ", transpose " << transpose << ", M " << M;
        }
      }
    }
  }
}

TEST(QuantizedMatmul, ThreadedPathsAndRowsOffTheFastPath) {
  // Large enough to split over threads: the direct path (M = 1, 2, 4, 7), the tile path (M = 16)
  // and K = 96 (not a whole number of 4-bit blocks of 64: the tile path at M = 1).
  struct Case {
    int bits, gs, N, K, M;
  };
  for (Case c : {Case{4, 64, 1024, 1024, 1}, Case{4, 32, 1024, 1024, 2}, Case{8, 128, 1024, 1024, 4},
                 Case{2, 64, 1024, 1024, 7}, Case{4, 64, 512, 512, 16}, Case{4, 32, 64, 96, 1}, Case{3, 32, 640, 1024, 1}}) {
    array wf = random_array({c.N, c.K}, float32, -1, 1, 5);
    auto q = quantize(wf, c.gs, c.bits);
    array x = random_array({c.M, c.K}, float32, -1, 1, 6);
    array y = quantized_matmul(x, q[0], q[1], q[2], true, c.gs, c.bits);
    auto W = dequant_ref(q[0], q[1], q[2], c.gs, c.bits);
    EXPECT_TRUE(matches(y, {c.M, c.N}, product_ref(to_vector(x), W, c.M, c.K, c.N, true), 1e-4, 2e-4))
        << c.bits << " bits, M " << c.M << ", K " << c.K;
    // Not transposed, the same packed matrix read as (K', N') = (N, K).
    array x2 = random_array({c.M, c.N}, float32, -1, 1, 7);
    array y2 = quantized_matmul(x2, q[0], q[1], q[2], false, c.gs, c.bits);
    EXPECT_TRUE(matches(y2, {c.M, c.K}, product_ref(to_vector(x2), W, c.M, c.N, c.K, false), 1e-4, 2e-4))
        << c.bits << " bits, M " << c.M << ", not transposed";
  }
}

TEST(QuantizedMatmul, DtypesBatchesVectorsAndViews) {
  array wf = random_array({32, 128}, float32, -1, 1, 11);
  auto q = quantize(wf, 64, 4);
  auto W = dequant_ref(q[0], q[1], q[2], 64, 4);
  // Leading dims of x are rows of one product; a 1-D x gives a 1-D result.
  array xb = random_array({2, 3, 128}, float32, -1, 1, 12);
  EXPECT_TRUE(matches(quantized_matmul(xb, q[0], q[1], q[2]), {2, 3, 32}, product_ref(to_vector(xb), W, 6, 128, 32, true), 1e-4, 1e-4));
  array xv = random_array({128}, float32, -1, 1, 13);
  EXPECT_TRUE(matches(quantized_matmul(xv, q[0], q[1], q[2]), {32}, product_ref(to_vector(xv), W, 1, 128, 32, true), 1e-4, 1e-4));
  // A strided x (a transposed view) and an integer x (cast to float32).
  array xt = transpose(random_array({128, 5}, float32, -1, 1, 14));
  EXPECT_TRUE(matches(quantized_matmul(xt, q[0], q[1], q[2]), {5, 32}, product_ref(to_vector(xt), W, 5, 128, 32, true), 1e-4, 1e-4));
  array xi = astype(random_array({2, 128}, float32, -3, 3, 15), int32);
  array yi = quantized_matmul(xi, q[0], q[1], q[2]);
  EXPECT_EQ(yi.dtype(), float32);
  EXPECT_TRUE(matches(yi, {2, 32}, product_ref(to_vector(xi), W, 2, 128, 32, true), 1e-4, 1e-3));
  // Half-precision x with half scales gives a half result; float32 scales promote it.
  for (Dtype d : {float16, bfloat16}) {
    array xh = astype(random_array({3, 128}, float32, -1, 1, 16), d);
    array yh = quantized_matmul(xh, q[0], astype(q[1], d), astype(q[2], d));
    EXPECT_EQ(yh.dtype(), d);
    auto Wh = dequant_ref(q[0], astype(q[1], d), astype(q[2], d), 64, 4);
    EXPECT_TRUE(matches(yh, {3, 32}, product_ref(to_vector(xh), Wh, 3, 128, 32, true), 2e-2, 5e-2)) << dtype_to_string(d);
    EXPECT_EQ(quantized_matmul(xh, q[0], q[1], q[2]).dtype(), float32);
    for (int M : {1, 20}) {
      array xm = astype(random_array({M, 128}, float32, -1, 1, 17), d);
      EXPECT_TRUE(matches(quantized_matmul(xm, q[0], q[1], q[2]), {M, 32}, product_ref(to_vector(xm), W, M, 128, 32, true), 1e-4, 1e-4));
    }
  }
  // float64 computes in double.
  array xd = random_array({4, 128}, float64, -1, 1, 18);
  array yd = quantized_matmul(xd, q[0], astype(q[1], float64), astype(q[2], float64));
  EXPECT_EQ(yd.dtype(), float64);
  EXPECT_TRUE(matches(yd, {4, 32}, product_ref(to_vector(xd), W, 4, 128, 32, true), 1e-12, 1e-12));
  // Batched weights broadcast against x's batch dims as matmul does.
  array wfb = random_array({2, 32, 128}, float32, -1, 1, 19);
  auto qb = quantize(wfb, 32, 8);
  auto Wb = dequant_ref(qb[0], qb[1], qb[2], 32, 8);
  array x3 = random_array({4, 1, 3, 128}, float32, -1, 1, 20);
  array y3 = quantized_matmul(x3, qb[0], qb[1], qb[2], true, 32, 8);
  ASSERT_EQ(y3.shape(), Shape({4, 2, 3, 32}));
  auto y3v = to_vector(y3), x3v = to_vector(x3);
  for (int a = 0; a < 4; ++a) {
    for (int b = 0; b < 2; ++b) {
      std::vector<double> xa(x3v.begin() + a * 3 * 128, x3v.begin() + (a + 1) * 3 * 128);
      std::vector<double> Wm(Wb.begin() + b * 32 * 128, Wb.begin() + (b + 1) * 32 * 128);
      std::vector<double> got(y3v.begin() + (a * 2 + b) * 96, y3v.begin() + (a * 2 + b + 1) * 96);
      EXPECT_TRUE(all_close(got, product_ref(xa, Wm, 3, 128, 32, true), 1e-4, 1e-4)) << a << " " << b;
    }
  }
  // Empty x.
  array ye = quantized_matmul(zeros({0, 128}), q[0], q[1], q[2]);
  EXPECT_EQ(ye.shape(), Shape({0, 32}));
  eval(ye);
}

TEST(QuantizedMatmul, BadInputs) {
  array w = random_array({16, 128}, float32, -1, 1, 3);
  auto q = quantize(w, 64, 4);
  array x = random_array({2, 128}, float32, -1, 1, 4);
  auto qmm_throws = [](auto&& f) { return throws_op<std::invalid_argument>("quantized_matmul", f); };
  EXPECT_TRUE(qmm_throws([&] { quantized_matmul(random_array({2, 127}, float32), q[0], q[1], q[2]); }));
  EXPECT_TRUE(qmm_throws([&] { quantized_matmul(x, q[0], q[1], q[2], false); }));  // K would be 16
  EXPECT_TRUE(qmm_throws([&] { quantized_matmul(x, q[0], q[1], std::nullopt); }));
  EXPECT_TRUE(qmm_throws([&] { quantized_matmul(x, astype(q[0], int32), q[1], q[2]); }));
  EXPECT_TRUE(qmm_throws([&] { quantized_matmul(x, q[0], q[1], q[2], true, 64, 8); }));
  EXPECT_TRUE(qmm_throws([&] { quantized_matmul(x, q[0], q[1], q[2], true, 48, 4); }));
  EXPECT_TRUE(qmm_throws([&] { quantized_matmul(x, q[0], q[1], q[2], true, 64, 4, "mxfp4"); }));
  EXPECT_TRUE(qmm_throws([&] { quantized_matmul(x, q[0], q[1], slice(q[2], {0, 0}, {8, 2})); }));
  EXPECT_TRUE(qmm_throws([&] { quantized_matmul(x, q[0], astype(q[1], int32), astype(q[2], int32)); }));
  // No derivative with respect to the packed integers.
  auto f = [&](const std::vector<array>& a) { return std::vector<array>{quantized_matmul(x, a[0], q[1], q[2])}; };
  EXPECT_TRUE(qmm_throws([&] { vjp(f, {q[0]}, {ones({2, 16})}); }));
}

// gather_mm against a loop of plain products over the flattened batch entries.
TEST(GatherMm, MatchesALoopOfProducts) {
  array a = random_array({2, 2, 3, 5}, float32, -1, 1, 31);  // 4 matrices
  array b = random_array({6, 5, 2}, float32, -1, 1, 32);     // 6 matrices
  array li = array({3, 0, 1, 1}, {2, 2}, int32), ri = array({5, 0, 2, 2}, {2, 2}, int32);
  array y = gather_mm(a, b, li, ri);
  ASSERT_EQ(y.shape(), Shape({2, 2, 3, 2}));
  array af = reshape(a, {4, 3, 5});
  for (int i = 0; i < 4; ++i) {
    int l = std::vector<int>{3, 0, 1, 1}[i], r = std::vector<int>{5, 0, 2, 2}[i];
    array want = matmul(take(af, l, 0), take(b, r, 0));
    EXPECT_TRUE(allclose(take(reshape(y, {4, 3, 2}), i, 0), want, 1e-5, 1e-6).item<bool>()) << i;
  }
  // A missing index is every batch entry in order; index shapes broadcast (MLX: (4,) with (4, 1)).
  array rcol = array({3, 5, 0, 1}, {4, 1}, int32);
  array y2 = gather_mm(reshape(a, {4, 3, 5}), b, std::nullopt, rcol, true);
  ASSERT_EQ(y2.shape(), Shape({4, 4, 3, 2}));
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      int r = std::vector<int>{3, 5, 0, 1}[i];
      array want = matmul(take(af, j, 0), take(b, r, 0));
      EXPECT_TRUE(allclose(take(take(y2, i, 0), j, 0), want, 1e-5, 1e-6).item<bool>()) << i << " " << j;
    }
  // A 2-D a has one matrix.
  array a2 = random_array({3, 5}, float32, -1, 1, 33);
  array y3 = gather_mm(a2, b, std::nullopt, array({4, 1}, {2}, int32));
  ASSERT_EQ(y3.shape(), Shape({2, 3, 2}));
  EXPECT_TRUE(allclose(take(y3, 1, 0), matmul(a2, take(b, 1, 0)), 1e-5, 1e-6).item<bool>());
  // Gradients come from the composition: b's gradient sums over the entries that chose it.
  auto g = grad([&](const std::vector<array>& in) { return sum(gather_mm(a2, in[0], std::nullopt, array({3, 3}, {2}, int32))); },
                std::vector<int>{0})({b})[0];
  array want_g = zeros_like(b);
  array gb3 = matmul(transpose(a2), ones({3, 2})) * 2.0f;
  EXPECT_TRUE(allclose(take(g, 3, 0), gb3, 1e-5, 1e-5).item<bool>());
  EXPECT_TRUE(allclose(take(g, 0, 0), zeros({5, 2}), 0, 0).item<bool>());
  EXPECT_TRUE(throws_op<std::invalid_argument>("gather_mm", [&] { gather_mm(a, b, array({0.5f}), std::nullopt); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("gather_mm", [&] { gather_mm(a, transpose(b, {0, 2, 1}), li, ri); }));
}

TEST(GatherQmm, MatchesALoopOfQuantizedProducts) {
  // 3 experts of (N=16, K=64) at 4 bits; x rows pick experts (a mixture of experts' routing).
  array wf = random_array({3, 16, 64}, float32, -1, 1, 41);
  auto q = quantize(wf, 32, 4);
  array x = random_array({5, 1, 64}, float32, -1, 1, 42);
  std::vector<int> experts{2, 0, 0, 1, 2};
  array ri = array(experts.begin(), {5}, int32);
  array y = gather_qmm(x, q[0], q[1], q[2], std::nullopt, ri, true, 32, 4, "affine", std::nullopt, false);
  ASSERT_EQ(y.shape(), Shape({5, 1, 16}));
  for (int i = 0; i < 5; ++i) {
    int e = experts[i];
    array want = quantized_matmul(take(x, i, 0), take(q[0], e, 0), take(q[1], e, 0), take(q[2], e, 0), true, 32, 4);
    EXPECT_TRUE(allclose(take(y, i, 0), want, 1e-5, 1e-6).item<bool>()) << i;
  }
  // Not transposed, with lhs indices too (broadcast against (5,)).
  array x2 = random_array({2, 4, 16}, float32, -1, 1, 43);
  array li = array({1, 0, 1, 1, 0}, {5}, int32);
  array y2 = gather_qmm(x2, q[0], q[1], q[2], li, ri, false, 32, 4);
  ASSERT_EQ(y2.shape(), Shape({5, 4, 64}));
  for (int i = 0; i < 5; ++i) {
    int l = std::vector<int>{1, 0, 1, 1, 0}[i], e = experts[i];
    array want = matmul(take(x2, l, 0), dequantize(take(q[0], e, 0), take(q[1], e, 0), take(q[2], e, 0), 32, 4));
    EXPECT_TRUE(allclose(take(y2, i, 0), want, 1e-4, 1e-5).item<bool>()) << i;
  }
  EXPECT_TRUE(throws_op<std::invalid_argument>("gather_qmm", [&] { gather_qmm(x, q[0], q[1], std::nullopt, std::nullopt, ri); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("gather_qmm", [&] { gather_qmm(x, q[0], q[1], q[2], std::nullopt, array({0.5f})); }));
}

// mode "mxfp4": MLX 0.32's mx.quantize(w, 32, 4, mode="mxfp4") on w (4, 64) with rows of
// different magnitudes, an all-zero group and a -0.0 (every word and e8m0 scale), its
// dequantized values and quantized_matmul of x (2, 64).
TEST(QuantizeMxfp4, MatchesMlxBitForBit) {
  const std::vector<float> wv = {1.6243454217910767, -0.6117563843727112, -0.5281717777252197, -1.072968602180481, 0.8654076457023621, -0.0, 1.744811773300171, -0.7612069249153137, 0.31903910636901855, -0.24937038123607635, 1.4621078968048096, -2.060140609741211, -0.3224171996116638, -0.38405436277389526, 1.1337693929672241, -1.0998913049697876, -0.1724282056093216, -0.8778584003448486, 0.042213745415210724, 0.5828152298927307, -1.1006191968917847, 1.144723653793335, 0.9015907049179077, 0.5024943351745605, 0.9008559584617615, -0.6837278604507446, -0.12289022654294968, -0.9357694387435913, -0.26788806915283203, 0.5303554534912109, -0.6916607618331909, -0.3967535197734833, -0.6871727108955383, -0.8452056646347046, -0.6712461113929749, -0.01266459934413433, -1.1173104047775269, 0.2344156950712204, 1.6598021984100342, 0.7420441508293152, -0.19183555245399475, -0.887628972530365, -0.7471582889556885, 1.6924545764923096, 0.050807755440473557, -0.6369956731796265, 0.19091548025608063, 2.100255250930786, 0.12015895545482635, 0.6172031164169312, 0.30017033219337463, -0.3522498607635498, -1.142518162727356, -0.3493427336215973, -0.20889423787593842, 0.5866231918334961, 0.838983416557312, 0.9311020970344543, 0.2855873107910156, 0.8851411938667297, -0.7543979287147522, 1.2528681755065918, 0.5129297971725464, -0.2980928421020508, 0.0048851813189685345, -0.0007557171047665179, 0.011316293850541115, 0.015198168344795704, 0.021855754777789116, -0.013964963145554066, -0.014441138133406639, -0.0050446586683392525, 0.001600370742380619, 0.008761689066886902, 0.003156349528580904, -0.0202220119535923, -0.003062040079385042, 0.008279746398329735, 0.0023009474389255047, 0.00762011157348752, -0.0022232814226299524, -0.0020075805950909853, 0.0018656138563528657, 0.004100516438484192, 0.0019829971715807915, 0.0011900864774361253, -0.0067066228948533535, 0.0037756378296762705, 0.0012182126520201564, 0.011294838972389698, 0.011989179067313671, 0.0018515641568228602, -0.003752849530428648, -0.006387304048985243, 0.00423494353890419, 0.0007734007085673511, -0.003438536776229739, 0.000435968569945544, -0.006200008559972048, 0.006980320438742638, -0.004471285734325647, 0.012245076708495617, 0.004034916404634714, 0.005935785360634327, -0.010949118062853813, 0.0016938243061304092, 0.007405564654618502, -0.009537005797028542, -0.002662185113877058, 0.00032614546944387257, -0.013731173239648342, 0.0031515939626842737, 0.008461606688797474, -0.008595159277319908, 0.0035054597537964582, -0.013122834265232086, -0.00038695510011166334, -0.01615772396326065, 0.011214177124202251, 0.004089005291461945, -0.00024616956943646073, -0.007751616183668375, 0.012737559154629707, 0.019671017304062843, -0.018579818308353424, 0.012361640110611916, 0.016276506707072258, 0.003380117006599903, -119.92680358886719, 86.33453369140625, -18.092029571533203, -60.39206314086914, -123.00581359863281, 55.053749084472656, 79.28068542480469, -62.35307312011719, 52.05763244628906, -114.43413543701172, 80.18610382080078, 4.656729698181152, -18.6569766998291, -10.17458724975586, 86.88861846923828, 75.0411605834961, 52.946533203125, 13.770120620727539, 7.7821125984191895, 61.83802795410156, 23.24945640563965, 68.25514221191406, -31.011676788330078, -243.48377990722656, 103.88246154785156, 218.69796752929688, 44.136444091796875, -10.015522956848145, -13.644474029541016, -11.905418395996094, 1.740940809249878, -112.20187377929688, -51.70944595336914, -99.70268249511719, 24.879915237426758, -29.66411590576172, 49.52113342285156, -17.47031593322754, 98.6335220336914, 21.353389739990234, 219.06997680664062, -189.63609313964844, -64.69166564941406, 90.14868927001953, 252.8325653076172, -24.86347770690918, 4.366899490356445, -22.631423950195312, 133.1457061767578, -28.73078727722168, 68.0069808959961, -31.980159759521484, -127.25587463378906, 31.354772567749023, 50.3184814453125, 129.3225860595703, -11.044702529907227, -61.7362060546875, 56.27610778808594, 24.07370948791504, 28.06650733947754, -7.311270236968994, 116.03385925292969, 36.94927215576172, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -3.6592330932617188, 7.3481059074401855, -1.6373225450515747, -0.596513569355011, -2.1011955738067627, -0.6101833581924438, 0.7280083298683167, 0.6054905652999878, 1.9830608367919922, 5.376474857330322, -0.3613937199115753, -3.699362277984619, -3.546954393386841, -1.9972635507583618, -5.022587299346924, 2.4750895500183105, -1.4946407079696655, -0.9329549074172974, -0.005674448329955339, -4.189861297607422, -2.583949089050293, 2.024134635925293, 1.8556174039840698, -1.329515814781189, 5.431604862213135, -3.9171807765960693, -1.0349615812301636, -0.6925192475318909, -8.379255294799805, 5.812586307525635, 1.0989960432052612, -3.133768081665039};
  const std::vector<uint32_t> want_q = {3036924581u, 3299468689u, 608968905u, 2871640244u, 891030459u, 1638947785u, 698126624u, 2455454019u, 3202835715u, 1095430721u, 722543001u, 45749585u, 844778250u, 772391965u, 635491012u, 643724736u, 2720835900u, 587793346u, 3911262210u, 3221225811u, 328372666u, 2425764565u, 1109168788u, 335614624u, 0u, 0u, 0u, 0u, 295344748u, 766296146u, 2452340889u, 2975766981u};
  const std::vector<double> want_s = {126, 126, 119, 119, 133, 133, 127, 128};
  const std::vector<float> xv = {2.051173448562622, 0.5856620073318481, 0.429526150226593, -0.6069983839988708, 0.1062227264046669, -1.5256803035736084, 0.7950261235237122, -0.3744383156299591, 0.134048193693161, 1.2020548582077026, 0.2847481071949005, 0.2624674439430237, 0.27649930119514465, -0.733271598815918, 0.8360047340393066, 1.5433591604232788, 0.7588056325912476, 0.8849087953567505, -0.8772815465927124, -0.86778724193573, -1.4408760070800781, 1.232253074645996, -0.25417986512184143, 1.3998439311981201, -0.7819116711616516, -0.4375089704990387, 0.095425084233284, 0.9214500784873962, 0.06075019761919975, 0.2111247479915619, 0.01652756705880165, 0.1771877259016037, -1.1164699792861938, 0.08092710375785828, -0.18657898902893066, -0.05682447925209999, 0.49233654141426086, -0.680678129196167, -0.0845080241560936, -0.2973618805408478, 0.4173020124435425, 0.784770667552948, -0.9554252624511719, 0.585910439491272, 2.0657832622528076, -1.4711569547653198, -0.8301718831062317, -0.8805776238441467, -0.2790977358818054, 1.6228491067886353, 0.013352676294744015, -0.6946936249732971, 0.6218035221099854, -0.5998045206069946, 1.1234121322631836, 0.3052670359611511, 1.3887794017791748, -0.6613442301750183, 3.0308570861816406, 0.8245846033096313, 0.6545801758766174, -0.05118844658136368, -0.7255971431732178, -0.8677687048912048, -0.13597732782363892, -0.7972697615623474, 0.28267571330070496, -0.8260974287986755, 0.6210827231407166, 0.9561216831207275, -0.705840528011322, 1.1926860809326172, -0.2379419356584549, 1.1552878618240356, 0.4381663501262665, 1.122328281402588, -0.9970197677612305, -0.10679398477077484, 1.4514292478561401, -0.6180368661880493, -2.037201166152954, -1.9425891637802124, -2.5064406394958496, -2.114163875579834, -0.41163915395736694, 1.278528094291687, -0.4422292709350586, 0.32352736592292786, -0.10999149084091187, 0.008548945188522339, -0.1681988388299942, -0.17418034374713898, 0.46116408705711365, -1.1759827136993408, 1.0101271867752075, 0.9200179576873779, -0.19505734741687775, 0.805393397808075, -0.7013444304466248, -0.5372230410575867, 0.15626384317874908, -0.19022102653980255, -0.4487380385398865, -0.6724480390548706, -0.5574946999549866, 0.9391687512397766, -1.9433233737945557, 0.35249435901641846, -0.23643694818019867, 0.7278134822845459, 0.5150735974311829, -2.78253436088562, 0.5846465826034546, 0.3242742419242859, 0.021862836554646492, -0.46867382526397705, 0.8532811999320984, -0.4130293130874634, 1.8347176313400269, 0.5643828511238098, 2.1378281116485596, -0.7855340242385864, -1.7559256553649902, 0.7147895693778992, 0.8527040481567383, 0.035360097885131836, -1.5387932062149048, -0.44789519906044006};
  const std::vector<double> want_y = {5.561702728271484, 0.06290865689516068, 188.219482421875, 9.724166870117188, -6.130965709686279, -0.04942485690116882, -859.9244384765625, 12.755035400390625};
  array w(wv.begin(), {4, 64}, float32);
  auto q = quantize(w, 32, 4, "mxfp4");
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[1].dtype(), uint8);
  EXPECT_TRUE(matches(q[1], {4, 2}, want_s, 0, 0));
  eval(q);
  std::vector<uint32_t> got(q[0].data<uint32_t>(), q[0].data<uint32_t>() + q[0].size());
  EXPECT_EQ(got, want_q);
  array d = dequantize(q[0], q[1], std::nullopt, 32, 4, "mxfp4", std::nullopt, float32);
  EXPECT_TRUE(matches(slice(d, {0, 0}, {1, 8}), {1, 8}, {1.5, -0.5, -0.5, -1.0, 0.75, 0.0, 1.5, -0.75}, 0, 0));
  EXPECT_EQ(dequantize(q[0], q[1], std::nullopt, 32, 4, "mxfp4").dtype(), bfloat16);  // MLX's default
  array x(xv.begin(), {2, 64}, float32);
  EXPECT_TRUE(matches(quantized_matmul(x, q[0], q[1], std::nullopt, true, 32, 4, "mxfp4"), {2, 4}, want_y, 1e-5, 1e-4));
  // Every value within half a step of its group's grid (the largest step is 2 scales).
  EXPECT_TRUE(all(less_equal(abs(d - w), array(2.0f) * repeat(astype(view(left_shift(astype(q[1], uint32), array(23u, uint32)), float32), float32), 32, -1) + 1e-30f)).item<bool>());
  EXPECT_TRUE(throws_op<std::invalid_argument>("quantize", [&] { quantize(w, 64, 4, "mxfp4"); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("dequantize", [&] { dequantize(q[0], q[1], q[1], 32, 4, "mxfp4"); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("quantize", [&] { quantize(w, 32, 4, "nvfp4"); }));
}

// mode "mxfp8": MLX 0.32's mx.quantize(w, 32, 8, mode="mxfp8") on w (3, 64) with rows of
// different magnitudes, an all-zero group, a -0.0 and a value on a rounding tie (0.1328125 ->
// 17 * 2^-7 -> 16 * 2^-7, to even).
TEST(QuantizeMxfp8, MatchesMlxBitForBit) {
  const std::vector<float> wv = {-0.41675785183906555, -0.05626682564616203, -2.1361961364746094, -0.0, -1.7934355735778809, -0.8417473435401917, 0.5028814077377319, 0.1328125, -1.0579521656036377, -0.9090076088905334, 0.5514540672302246, 2.292207956314087, 0.04153939336538315, -1.1179254055023193, 0.5390583276748657, -0.5961596965789795, -0.019130496308207512, 1.1750012636184692, -0.747870922088623, 0.009025250561535358, -0.8781079053878784, -0.15643416345119476, 0.2565704584121704, -0.9887790679931641, -0.33882197737693787, -0.2361840307712555, -0.6376550197601318, -1.1876122951507568, -1.4212172031402588, -0.153495192527771, -0.26905694603919983, 2.2313668727874756, -2.434767484664917, 0.11272650212049484, 0.37044453620910645, 1.3596338033676147, 0.5018572211265564, -0.8442137241363525, 9.761472028912976e-06, 0.542352557182312, -0.31350818276405334, 0.7710117101669312, -1.8680906295776367, 1.731184720993042, 1.4676780700683594, -0.3356773257255554, 0.6113407611846924, 0.047970592975616455, -0.8291352987289429, 0.08771021664142609, 1.0003658533096313, -0.38109251856803894, -0.3756694197654724, -0.07447076588869095, 0.4334963262081146, 1.278379201889038, -0.6346793174743652, 0.5083962678909302, 0.2161160111427307, -1.8586124181747437, -0.41931647062301636, -0.13232889771461487, -0.03957023844122887, 0.32600343227386475, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0003804719599429518, -0.00021713526803068817, 0.0011735315201804042, -0.002343603176996112, 0.0011615215335041285, 0.00038607805618084967, -0.001133133308030665, 0.00043309255852364004, -0.00030408642487600446, 0.0025852948892861605, 0.0018353327177464962, 0.0004406898806337267, -0.0007192538469098508, -0.000583414570428431, -0.0003250496229156852, -0.0005602345336228609, -0.0009022460435517132, -0.0005909722531214356, -0.00027617948944680393, -0.0005168839124962687, -0.0006985899526625872, -0.0009288919391110539, 0.002550438279286027, -0.0014731732662767172, -0.0010214147623628378, 0.000432395696407184, -0.0003235800832044333, 0.0004238247056491673, 0.0007991800084710121, 0.001262613688595593, 0.000751964864321053, -0.0009937610011547804, 332.74298095703125, -529.475341796875, -34.32638931274414, -149.45225524902344, -318.2397155761719, 177.4999542236328, -54.97697067260742, 305.9564208984375, -444.7396545410156, 253.89356994628906, 149.38204956054688, 37.95125198364258, -425.6431579589844, -75.53223419189453, -464.00238037109375, -624.7955932617188, 983.9236450195312, 291.2583923339844, 537.77783203125, -128.70399475097656, 208.85939025878906, 209.22488403320312, 180.45474243164062, 1.0978472232818604, -68.4742660522461, -620.8836669921875, 183.04322814941406, 127.049072265625, 335.36602783203125, -82.27262878417969, 522.5436401367188, -134.25025939941406, -376.628173828125, 281.4490966796875, -140.50387573242188, -376.4161071777344, 37.44709396362305, 226.9506378173828, 72.43189239501953, 149.22769165039062, 1232.6077880859375, 246.3362579345703, 459.5281066894531, -595.7537231445312, 109.51605224609375, 232.224609375, -109.3437271118164, -262.7938537597656, 118.95604705810547, -94.3852310180664, -178.12667846679688, 344.85015869140625, 400.66986083984375, 90.78880310058594, -136.2683563232422, 154.31121826171875, 248.8375244140625, 189.18658447265625, -436.0093078613281, -101.40533447265625, 107.73999786376953, 186.66612243652344, 288.2345886230469, 227.5111083984375};
  const std::vector<uint32_t> want_q = {2163855077u, 1483271670u, 2036985840u, 3932811595u, 971796930u, 4032879342u, 4075479011u, 2044844787u, 1935955706u, 1761734248u, 1995926754u, 1282073460u, 3832566765u, 1919341284u, 4150159594u, 1657460965u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 4201832036u, 1727096178u, 1719106530u, 3924028140u, 3907119855u, 4101697515u, 1726179056u, 4033639021u, 3788632170u, 1792435178u, 1365338350u, 4075805165u, 3765463415u, 694379877u, 1617162969u, 3765492330u, 3974195692u, 1633248849u, 4050544506u, 3906889566u, 1810095199u, 1658936173u, 3723388008u, 1718183005u};
  const std::vector<double> want_s = {120, 120, 127, 110, 129, 129};
  const std::vector<float> xv = {-1.134318470954895, -0.7074208855628967, -1.2214291095733643, 1.8044766187667847, 0.18040980398654938, 0.5531643033027649, 1.0330290794372559, -0.3290024399757385, -1.1510030031204224, -0.42652246356010437, -0.14814719557762146, 1.5014369487762451, 0.8695982098579407, -1.0870906114578247, 0.6642214059829712, 0.7348846793174744, -1.0613657236099243, -0.10851682722568512, -1.8504040241241455, 0.33048805594444275, -0.315693199634552, -1.3500020503997803, -0.6981710195541382, 0.23995119333267212, -0.5529494285583496, 0.29952681064605713, 0.5526636838912964, -0.8404430150985718, -0.3122706711292267, 2.1446781158447266, 0.12110558152198792, -0.8468287587165833, 0.06046244874596596, -1.338588833808899, 1.1327461004257202, 0.3703048527240753, 1.0858063697814941, 0.9021794199943542, 0.39029645919799805, 0.9755094051361084, 0.19157364964485168, -0.6622090339660645, -1.023514986038208, -0.4481748342514038, -2.505458116531372, 1.8259944915771484, -1.7140674591064453, -0.0766395628452301, -1.317567229270935, -2.0255935192108154, -0.082245372235775, -0.30466657876968384, -0.1597241312265396, 0.5489465594291687, -0.6183754801750183, 0.37879446148872375, 0.5132514238357544, -0.33484411239624023, -0.2835195064544678, 0.5384242534637451, 0.05725094676017761, 0.15908849239349365, -2.3744027614593506, 0.058519937098026276, 0.37654590606689453, -0.13547976315021515, 0.3359083831310272, 1.9043759107589722, 0.085364431142807, 0.6653342843055725, -0.849995493888855, -0.8523417711257935, -0.4799851179122925, -1.0196491479873657, -0.007601138204336166, -0.9338306784629822, -0.17499683797359467, -1.4371434450149536, -1.6522003412246704, -0.6756618022918701, -1.0670671463012695, -0.6529311537742615, -0.6120947599411011, -0.3512624502182007, 1.0454779863357544, 1.3690160512924194, 0.7253532409667969, -0.35947445034980774, 1.4969518184661865, -1.5311111211776733, -2.0233638286590576, 0.26797258853912354, -0.002206445438787341, -0.1392918825149536, 0.03256547078490257, -1.640560269355774, -1.1566991806030273, 1.2340346574783325, 1.0281848907470703, -0.7218797206878662, 1.933156967163086, -1.0707963705062866, -0.5713816285133362, 0.2924320697784424, -1.1949999332427979, -0.4879305362701416, -0.17307116091251373, -0.39534640312194824, 0.8708407878875732, 0.5928068161010742, -1.099297285079956, -0.6815306544303894, 0.18006668984889984, -0.06693104654550552, -0.7877495288848877, 0.42475366592407227, 0.8198851346969604, -0.631118655204773, 0.7890596389770508, -1.621673822402954, -1.6104992628097534, 0.49993976950645447, -0.8345152139663696, -0.9969596862792969, -0.263388067483902, -0.677360475063324, 0.3270670473575592, -1.4553594589233398};
  const std::vector<double> want_y = {5.032918930053711, -0.0018278890056535602, -4216.02783203125, -1.2978911399841309, 0.009809961542487144, 826.1815185546875};
  array w(wv.begin(), {3, 64}, float32);
  auto q = quantize(w, 32, 8, "mxfp8");
  ASSERT_EQ(q.size(), 2u);
  EXPECT_TRUE(matches(q[1], {3, 2}, want_s, 0, 0));
  eval(q);
  std::vector<uint32_t> got(q[0].data<uint32_t>(), q[0].data<uint32_t>() + q[0].size());
  EXPECT_EQ(got, want_q);
  array d = dequantize(q[0], q[1], std::nullopt, 32, 8, "mxfp8", std::nullopt, float32);
  EXPECT_TRUE(matches(slice(d, {0, 0}, {1, 8}), {1, 8}, {-0.40625, -0.0546875, -2.25, -0.0, -1.75, -0.8125, 0.5, 0.125}, 0, 0));
  array x(xv.begin(), {2, 64}, float32);
  EXPECT_TRUE(matches(quantized_matmul(x, q[0], q[1], std::nullopt, true, 32, 8, "mxfp8"), {2, 3}, want_y, 1e-5, 1e-4));
  EXPECT_TRUE(throws_op<std::invalid_argument>("quantized_matmul", [&] { quantized_matmul(x, q[0], q[1], std::nullopt, true, 32, 4, "mxfp8"); }));
}

// mode "nvfp4": MLX 0.32's mx.quantize(w, 16, 4, mode="nvfp4") (no global scale) on w (3, 64):
// e4m3 group scales (amax / 6 to nearest even; a row so small that its scales round to 0 and one
// so large that they saturate at 448) and fp4 e2m1 values.
TEST(QuantizeNvfp4, MatchesMlxBitForBit) {
  const std::vector<float> wv = {1.7886284589767456, 0.4365098476409912, 0.09649746865034103, -0.0, -0.27738821506500244, -0.35475897789001465, -0.08274148404598236, -0.6270006895065308, -0.043818168342113495, -0.47721803188323975, -1.3138647079467773, 0.8846223950386047, 0.8813180327415466, 1.7095730304718018, 0.05003364384174347, -0.4046774208545685, -0.5453599691390991, -1.5464773178100586, 0.9823674559593201, -1.1010676622390747, -1.1850465536117554, -0.20564989745616913, 1.4861483573913574, 0.23671627044677734, -1.02378511428833, -0.7129932045936584, 0.6252449750900269, -0.16051335632801056, -0.7688363790512085, -0.23003071546554565, 0.7450562715530396, 1.976110816001892, -1.2441233396530151, -0.6264169216156006, -0.8037660717964172, -2.4190831184387207, -0.9237920045852661, -1.0238757133483887, 1.1239778995513916, -0.13191422820091248, -1.6232854127883911, 0.6466754674911499, -0.35627076029777527, -1.7431410551071167, -0.5966496467590332, -0.588594377040863, -0.8738822937011719, 0.029713815078139305, -2.248257875442505, -0.26776185631752014, 1.0131834745407104, 0.8527978658676147, 1.1081875562667847, 1.119390606880188, 1.4875431060791016, -1.1183006763458252, 0.845833420753479, -1.8608895540237427, -0.6028851270675659, -1.914471983909607, 1.0481475591659546, 1.333737850189209, -0.19741468131542206, 1.7746450901031494, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.001370668993331492, 0.000238563196035102, 0.0006140770856291056, -0.000837912259157747, 0.00014506321167573333, 0.0011678822338581085, -2.4104470867314376e-05, -0.0008886574069038033, -0.002915737684816122, -0.0009718405199237168, -0.0005910787149332464, -0.0005164173780940473, -0.0009599961922504008, 0.00037729524774476886, -0.0005747083923779428, -0.00010945433314191177, 0.0006790715851821005, -0.0008554371888749301, -0.00030020606936886907, 0.002158149378374219, 0.0008742857025936246, -0.0012935366248711944, -7.974093750817701e-05, 0.0005644854973070323, 0.001233471091836691, 0.0001489863934693858, -0.0005305821541696787, -0.0007305266335606575, 0.0006450620130635798, 0.0003130603872705251, -0.0005166479386389256, -0.00018907166668213904, -0.0004161980177741498, 0.0007246576715260744, -0.0006899606669321656, 0.0004864144721068442, 0.0008515189401805401, 0.0004862493369728327, -0.0008342398796230555, 0.0013449924299493432, -0.0006782126729376614, 0.00042643508641049266, -0.0007533347816206515, -0.0017441102536395192, 0.00022575026378035545, 0.0002870351599995047, -7.744096365058795e-05, 0.00027606848743744195, -1945.232666015625, -2212.39453125, -504.2702941894531, 5727.83056640625, 2444.443603515625, -1559.9752197265625, 1676.1396484375, -1435.093994140625, -1371.7823486328125, 2577.85205078125, -1575.7939453125, -5026.90380859375, -2719.484130859375, 265.24560546875, 384.0234680175781, 3724.849609375, -2148.077392578125, 2194.397216796875, 1277.9002685546875, -447.04132080078125, 2507.53173828125, 1476.356689453125, -2586.925537109375, 3215.0517578125, -3662.705810546875, 178.84629821777344, 7.332486152648926, 1273.9071044921875, -2176.300537109375, -104.83015441894531, -421.8600769042969, 2991.26513671875, -2387.744140625, 218.23658752441406, -783.721435546875, -3894.139892578125, 8028.33740234375, -213.65707397460938, -4459.97412109375, 4225.880859375, -3211.756591796875, 1112.60986328125, 2588.496337890625, -1945.2960205078125, -1292.670166015625, -1620.810791015625, -388.0830383300781, -4867.38330078125, -3706.909912109375, -422.35931396484375, 3116.8564453125, 1895.2325439453125, 5188.25244140625, 2082.15673828125, -1533.386962890625, -368.53021240234375, -6091.1806640625, -2882.325439453125, -3061.077880859375, 811.7802734375, 1943.4893798828125, -1681.1202392578125, -1765.5048828125, -4639.66748046875};
  const std::vector<uint32_t> want_q = {3383361847u, 2960481968u, 379442667u, 1956418765u, 2514287805u, 213641790u, 3595912607u, 1768291300u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u, 3604445934u, 1914699389u, 2136450414u, 2047758367u, 2140666655u, 4209895247u, 2909235119u, 4276506623u};
  const std::vector<double> want_s = {42, 43, 45, 44, 0, 0, 0, 0, 126, 126, 126, 126};
  const std::vector<float> xv = {-0.1277620643377304, 0.24816802144050598, 0.4457809627056122, -0.7827090620994568, 1.9884896278381348, 1.1950583457946777, -0.095237597823143, -0.5271877646446228, -0.32158470153808594, 0.15113037824630737, -0.018627716228365898, 0.4835287928581238, 0.7689651846885681, 1.3662428855895996, 1.147264838218689, -0.11022915691137314, 0.3882504105567932, -0.38712719082832336, -0.587220311164856, 1.9108268022537231, -0.4598461389541626, 1.990737795829773, -0.349035382270813, 0.2528250813484192, 1.089409589767456, 0.023922022432088852, 0.3931252956390381, -0.24138480424880981, -0.4755248725414276, -0.1657770276069641, -0.6497174501419067, 1.631382942199707, -0.16769860684871674, 1.722669243812561, -2.6851086616516113, 0.01842079497873783, 0.5619516968727112, -0.2938212454319, 1.0946531295776367, 0.6396923661231995, -0.2746001183986664, 0.43500927090644836, 2.8118784427642822, 0.25199511647224426, 0.29950234293937683, -0.4399913251399994, 0.13349704444408417, -1.2892612218856812, -0.19829025864601135, 2.457587718963623, 1.0672155618667603, 0.6414206624031067, 1.10392165184021, 1.881754994392395, 0.59358811378479, 2.070878505706787, 1.0697983503341675, 0.16651950776576996, 1.719476580619812, -2.3592147827148438, -0.5713489651679993, 0.2657870352268219, -0.9120908975601196, -0.1560584008693695, -0.6387909054756165, -0.6544151902198792, 2.711926221847534, 0.6274738907814026, -0.053947847336530685, 1.3151671886444092, -0.23733747005462646, 0.8853396773338318, 0.3508158326148987, 1.6265735626220703, -1.4198713302612305, 0.7657210826873779, 0.12224974483251572, -1.1573833227157593, 1.065420150756836, -0.8723756670951843, 1.6192384958267212, 0.5130929946899414, 0.6954839825630188, 0.08045738935470581, 0.9045284986495972, -1.8656511306762695, 0.07472779601812363, -0.628250777721405, 0.2826603055000305, -0.04715690761804581, 0.6165778636932373, -0.8376314640045166, 1.8391518592834473, 2.3158586025238037, -0.2082834243774414, -0.014973185956478119, 0.2875576615333557, 1.2640857696533203, 1.89690101146698, -1.2058027982711792, -0.6151085495948792, -1.062156081199646, -1.1127811670303345, -1.639296293258667, 0.36280348896980286, -1.1590365171432495, 1.503261923789978, 0.9083186984062195, -1.0297095775604248, -1.0302085876464844, -0.6123844385147095, 1.399965524673462, -0.8496073484420776, -1.4935497045516968, -0.049423884600400925, 0.37338992953300476, -0.6572574973106384, 1.6194307804107666, 0.24045677483081818, 0.4530377984046936, -0.855532705783844, -0.03972983732819557, -0.156518816947937, -2.2722442150115967, 0.287657231092453, -1.7948070764541626, -0.028785645961761475, -1.4739428758621216};
  const std::vector<double> want_y = {12.639588356018066, 0.0, 15619.765625, -2.1462767124176025, 0.0, 4426.1337890625};
  array w(wv.begin(), {3, 64}, float32);
  auto q = quantize(w, 16, 4, "nvfp4");
  ASSERT_EQ(q.size(), 2u);
  EXPECT_TRUE(matches(q[1], {3, 4}, want_s, 0, 0));
  eval(q);
  std::vector<uint32_t> got(q[0].data<uint32_t>(), q[0].data<uint32_t>() + q[0].size());
  EXPECT_EQ(got, want_q);
  array d = dequantize(q[0], q[1], std::nullopt, 16, 4, "nvfp4", std::nullopt, float32);
  EXPECT_TRUE(matches(slice(d, {0, 0}, {1, 8}), {1, 8}, {1.875, 0.46875, 0.15625, 0.0, -0.3125, -0.3125, -0.15625, -0.625}, 0, 0));
  array x(xv.begin(), {2, 64}, float32);
  EXPECT_TRUE(matches(quantized_matmul(x, q[0], q[1], std::nullopt, true, 16, 4, "nvfp4"), {2, 3}, want_y, 1e-5, 1e-3));
  EXPECT_TRUE(throws_op<std::invalid_argument>("dequantize", [&] { dequantize(q[0], q[1], std::nullopt, 32, 4, "nvfp4"); }));
}

// nvfp4 with a global scale: MLX 0.32's mx.quantize(w, mode="nvfp4", global_scale=max|w|) on
// w[k] = 3 sin(0.37 k) + 0.01 k cos(1.3 k), k < 128, as (2, 64); dequantize is float32 then.
array wave_w() {
  std::vector<float> v(128);
  for (int k = 0; k < 128; ++k) v[k] = float(std::sin(k * 0.37f) * 3.0f + std::cos(k * 1.3f) * 0.01f * float(k));
  return array(v.begin(), {2, 64}, float32);
}
array wave_x() {
  std::vector<float> v(64);
  for (int k = 0; k < 64; ++k) v[k] = float(std::cos(k * 0.71f) * 2.0f);
  return array(v.begin(), {1, 64}, float32);
}

TEST(QuantizeNvfp4, GlobalScaleMatchesMlx) {
  array w = wave_w();
  array g = max(abs(w));
  EXPECT_NEAR(g.item<float>(), 3.9597291946411133f, 1e-6);
  auto q = quantize(w, std::nullopt, std::nullopt, "nvfp4", g);
  ASSERT_EQ(q.size(), 2u);
  EXPECT_TRUE(matches(q[1], {2, 4}, {123, 122, 124, 122, 125, 125, 126, 126}, 0, 0));
  eval(q);
  const std::vector<uint32_t> want_q = {1450669632u, 4009749922u, 2004313244u, 4294896438u, 2003124670u, 4293693766u,
                                        2004135406u, 4008457847u, 1681043198u, 3959498103u, 1689116143u, 3978716774u,
                                        588119773u,  286619491u,  2915889132u, 375740021u};
  EXPECT_EQ(std::vector<uint32_t>(q[0].data<uint32_t>(), q[0].data<uint32_t>() + q[0].size()), want_q);
  array d = dequantize(q[0], q[1], std::nullopt, std::nullopt, std::nullopt, "nvfp4", g);
  EXPECT_EQ(d.dtype(), float32);
  EXPECT_TRUE(matches(slice(d, {0, 0}, {1, 8}), {1, 8},
                      {0.0, 1.037071943283081, 2.074143886566162, 3.111215829849243, 3.111215829849243,
                       3.111215829849243, 2.074143886566162, 1.5556079149246216},
                      1e-6, 1e-6));
  EXPECT_EQ(dequantize(q[0], q[1], std::nullopt, std::nullopt, std::nullopt, "nvfp4", g, bfloat16).dtype(), bfloat16);
  // gather_qmm takes the global scale too: the product of x with the dequantized weights.
  array x = wave_x();
  array y = gather_qmm(x, q[0], q[1], std::nullopt, std::nullopt, std::nullopt, true, std::nullopt, std::nullopt,
                       "nvfp4", g);
  EXPECT_TRUE(allclose(y, matmul(x, transpose(d)), 1e-5, 1e-5).item<bool>());
  // Only nvfp4 takes one, and only a float32 scalar.
  EXPECT_TRUE(throws_op<std::invalid_argument>("quantize", [&] { quantize(w, std::nullopt, std::nullopt, "mxfp4", g); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("quantize", [&] { quantize(w, 64, 4, "affine", g); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("quantize", [&] { quantize(w, std::nullopt, std::nullopt, "nvfp4", reshape(g, {1})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("dequantize", [&] {
    dequantize(q[0], q[1], std::nullopt, std::nullopt, std::nullopt, "nvfp4", astype(g, float16));
  }));
}

// Rows of one nvfp4 group (16 values: two words, less than the 32 values of the affine periods):
// MLX 0.32's mx.quantize(arange(32) - 8 as (2, 16), mode="nvfp4").
TEST(QuantizeNvfp4, RowsOfOneGroup) {
  array w = reshape(subtract(astype(arange(32), float32), array(8.0f)), {2, 16});
  auto q = quantize(w, std::nullopt, std::nullopt, "nvfp4");
  EXPECT_TRUE(matches(q[1], {2, 1}, {59, 71}, 0, 0));
  EXPECT_TRUE(matches(q[0], {2, 2}, {2613964543.0, 1986347792.0, 1716868420.0, 2004317798.0}, 0, 0));
  array d = dequantize(q[0], q[1], std::nullopt, std::nullopt, std::nullopt, "nvfp4", std::nullopt, float32);
  EXPECT_EQ(d.shape(), Shape({2, 16}));
  EXPECT_TRUE(allclose(d, w, 0, 4.0).item<bool>());  // half a step of the top magnitudes
}

// One bit (MLX 0.32): each group keeps its min as the bias and max - min as the scale; the
// products take the general unpacking paths.
TEST(QuantizeAffine, OneBitMatchesMlx) {
  array w = wave_w(), x = wave_x();
  auto q = quantize(w, 32, 1);
  eval(q);
  EXPECT_EQ(std::vector<uint32_t>(q[0].data<uint32_t>(), q[0].data<uint32_t>() + q[0].size()),
            (std::vector<uint32_t>{66847231u, 267388924u, 1069563888u, 4278255552u}));
  EXPECT_TRUE(matches(q[1], {2, 2}, {6.040172576904297, 6.594773292541504, 7.235904216766357, 7.854459762573242}, 1e-6, 1e-6));
  EXPECT_TRUE(matches(q[2], {2, 2}, {-3.03378963470459, -3.3573577404022217, -3.667811870574951, -3.894730567932129}, 0, 0));
  EXPECT_TRUE(matches(quantized_matmul(x, q[0], q[1], q[2], true, 32, 1), {1, 2}, {-20.514448165893555, -28.87839698791504},
                      1e-5, 1e-5));
  array x9 = concatenate({x, x, x, x, x, x, x, x, x}, 0);  // past the direct path's rows
  EXPECT_TRUE(matches(slice(quantized_matmul(x9, q[0], q[1], q[2], true, 32, 1), {8, 0}, {9, 2}), {1, 2},
                      {-20.514448165893555, -28.87839698791504}, 1e-5, 1e-5));
  array d = dequantize(q[0], q[1], q[2], 32, 1);
  EXPECT_TRUE(allclose(matmul(x, transpose(d)), quantized_matmul(x, q[0], q[1], q[2], true, 32, 1), 1e-5, 1e-5).item<bool>());
}

// to_fp8 / from_fp8: MLX 0.32's codes (round to nearest even, saturating; NaN saturates too).
TEST(Fp8, MatchesMlx) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  array x({0.0f, 1.0f, -2.5f, 448.0f, 500.0f, 1e-3f, -1e9f, nan, inf, 0.0019f, 1e-5f, -nan, -inf, -0.0f,
           0.0009765625f, 0.0029296875f, 0.00341796875f});
  array c = to_fp8(x);
  EXPECT_EQ(c.dtype(), uint8);
  EXPECT_TRUE(matches(c, {17}, {0, 56, 194, 126, 126, 1, 254, 126, 126, 1, 0, 254, 254, 128, 0, 2, 2}, 0, 0));
  EXPECT_TRUE(matches(to_fp8(astype(array({1.0f, 2.0f}), float16)), {2}, {56, 64}, 0, 0));
  array back = from_fp8(array({127, 255, 128, 0, 8, 1, 56, 126}, uint8), float32);
  EXPECT_TRUE(matches(slice(back, {2}, {8}), {6}, {-0.0, 0.0, 0.015625, 0.001953125, 1.0, 448.0}, 0, 0));
  EXPECT_TRUE(all(isnan(slice(back, {0}, {2}))).item<bool>());
  EXPECT_EQ(from_fp8(array({56}, uint8), bfloat16).dtype(), bfloat16);
  // Every finite code comes back to itself.
  std::vector<uint8_t> codes;
  for (int i = 0; i < 256; ++i)
    if ((i & 127) != 127) codes.push_back(uint8_t(i));
  array all_codes(codes.begin(), {int(codes.size())}, uint8);
  EXPECT_TRUE(array_equal(to_fp8(from_fp8(all_codes, float32)), all_codes).item<bool>());
  EXPECT_TRUE(throws_op<std::invalid_argument>("to_fp8", [&] { to_fp8(array({1, 2})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("from_fp8", [&] { from_fp8(array({1, 2}), float32); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("from_fp8", [&] { from_fp8(array({1}, uint8), int32); }));
}

// qqmm: x quantized on the fly times a quantized (or floating) w; MLX 0.32's values for one row
// (MLX's CPU qqmm handles only that case and gets the global-scale case wrong, so that one is
// checked against quantize/dequantize, which match MLX).
TEST(Qqmm, MatchesMlxAndTheComposition) {
  array w = wave_w(), x = wave_x();
  auto qn = quantize(w, std::nullopt, std::nullopt, "nvfp4");
  EXPECT_TRUE(matches(qqmm(x, qn[0], qn[1]), {1, 2}, {-16.28515625, -3.66845703125}, 1e-5, 1e-5));
  EXPECT_TRUE(matches(qqmm(x, w), {1, 2}, {-16.28515625, -3.66845703125}, 1e-5, 1e-5));  // w quantized here
  auto q8 = quantize(w, std::nullopt, std::nullopt, "mxfp8");
  EXPECT_TRUE(matches(qqmm(x, q8[0], q8[1], std::nullopt, std::nullopt, "mxfp8"), {1, 2},
                      {-16.5067138671875, -6.45703125}, 1e-5, 1e-5));
  // Global scales; several rows and a batch of w (MLX's CPU kernel has neither).
  array gx = max(abs(x)), gw = max(abs(w));
  auto qg = quantize(w, std::nullopt, std::nullopt, "nvfp4", gw);
  array xd = dequantize(quantize(x, std::nullopt, std::nullopt, "nvfp4", gx)[0],
                        quantize(x, std::nullopt, std::nullopt, "nvfp4", gx)[1], std::nullopt, std::nullopt, std::nullopt,
                        "nvfp4", gx);
  array wd = dequantize(qg[0], qg[1], std::nullopt, std::nullopt, std::nullopt, "nvfp4", gw);
  array yg = qqmm(x, qg[0], qg[1], std::nullopt, std::nullopt, "nvfp4", gx, gw);
  EXPECT_TRUE(allclose(yg, matmul(xd, transpose(wd)), 1e-5, 1e-5).item<bool>());
  EXPECT_TRUE(matches(yg, {1, 2}, {-19.75936508178711, -2.5376830101013184}, 1e-5, 1e-4));  // MLX's composition
  array x3 = concatenate({x, multiply(x, array(0.5f)), negative(x)}, 0);  // (3, 64)
  array y3 = qqmm(x3, w);
  EXPECT_EQ(y3.shape(), Shape({3, 2}));
  EXPECT_TRUE(allclose(slice(y3, {0, 0}, {1, 2}), qqmm(x, w), 0, 0).item<bool>());
  EXPECT_TRUE(allclose(slice(y3, {2, 0}, {3, 2}), negative(qqmm(x, w)), 0, 0).item<bool>());
  array yb = qqmm(x3, stack({w, negative(w)}));  // w (2, 2, 64): a batch of two
  EXPECT_EQ(yb.shape(), Shape({2, 3, 2}));
  EXPECT_TRUE(allclose(slice(yb, {1, 0, 0}, {2, 3, 2}), expand_dims(negative(y3), 0), 0, 0).item<bool>());
  EXPECT_EQ(qqmm(astype(x, bfloat16), w).dtype(), bfloat16);
  // Errors at the call.
  EXPECT_TRUE(throws_op<std::invalid_argument>("qqmm", [&] { qqmm(x, w, std::nullopt, 64, 4, "affine"); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("qqmm", [&] { qqmm(x, qn[0]); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("qqmm", [&] { qqmm(x, w, qn[1]); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("qqmm", [&] { qqmm(astype(x, int32), w); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("qqmm", [&] { qqmm(slice(x, {0, 0}, {1, 32}), w); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("qqmm", [&] { qqmm(x, w, std::nullopt, 32); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("qqmm", [&] { qqmm(x, w, std::nullopt, std::nullopt, std::nullopt, "nvfp4", gx); }));
}

// qqmm's gradient is straight-through: the cotangent times the other quantized operand.
TEST(Qqmm, StraightThroughGradient) {
  array w = wave_w(), x3 = concatenate({wave_x(), multiply(wave_x(), array(-0.25f))}, 0);  // (2, 64)
  array c({1.0f, -2.0f, 0.5f, 3.0f}, {2, 2});
  auto loss = [&](const std::vector<array>& in) { return std::vector<array>{sum(multiply(qqmm(in[0], in[1]), c))}; };
  auto [val, g] = value_and_grad(loss, std::vector<int>{0, 1})({x3, w});
  auto fq = [](const array& a) {
    auto q = quantize(a, std::nullopt, std::nullopt, "nvfp4");
    return dequantize(q[0], q[1], std::nullopt, std::nullopt, std::nullopt, "nvfp4", std::nullopt, float32);
  };
  EXPECT_TRUE(allclose(g[0], matmul(c, fq(w)), 1e-5, 1e-5).item<bool>());
  EXPECT_TRUE(allclose(g[1], matmul(transpose(c), fq(x3)), 1e-5, 1e-5).item<bool>());
  // A packed w gets no gradient; x's is the same.
  auto qn = quantize(w, std::nullopt, std::nullopt, "nvfp4");
  auto gx = grad([&](const array& a) { return sum(multiply(qqmm(a, qn[0], qn[1]), c)); })(x3);
  EXPECT_TRUE(allclose(gx, g[0], 1e-6, 1e-6).item<bool>());
}

// gather_qqmm: qqmm of the gathered batch entries.
TEST(Qqmm, Gather) {
  array w = wave_w();
  array experts = stack({w, multiply(w, array(0.5f)), negative(w)});  // (3, 2, 64)
  auto q = quantize(experts, std::nullopt, std::nullopt, "nvfp4");
  array x = concatenate({wave_x(), multiply(wave_x(), array(2.0f))}, 0);  // (2, 64)
  array xs = expand_dims(x, 1);                                           // (2, 1, 64)
  array ri({2, 0}, {2}, int32);
  array y = gather_qqmm(xs, q[0], q[1], std::nullopt, ri);
  EXPECT_EQ(y.shape(), Shape({2, 1, 2}));
  for (int i = 0; i < 2; ++i) {
    const int e = i == 0 ? 2 : 0;
    array want = qqmm(slice(x, {i, 0}, {i + 1, 64}), take(q[0], array(e), 0), take(q[1], array(e), 0));
    EXPECT_TRUE(allclose(slice(y, {i, 0, 0}, {i + 1, 1, 2}), expand_dims(want, 0), 0, 0).item<bool>()) << i;
  }
  EXPECT_TRUE(throws_op<std::invalid_argument>("gather_qqmm", [&] { gather_qqmm(xs, q[0], q[1], std::nullopt, array({0.5f})); }));
}

}  // namespace
}  // namespace mica::test
