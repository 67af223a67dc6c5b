// Affine quantization (ops/quantized.h) in MLX's layout: quantize against MLX's own outputs
// (fixtures from MLX 0.32's mx.quantize on the same weights: every packed word, scale and bias),
// dequantize error bounds per bit width, quantized_matmul against MLX and a float matmul, on the
// CPU and (the ops are compositions) on any device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "mica/mica.h"
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

}  // namespace
}  // namespace mica::test
