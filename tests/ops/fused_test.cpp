// Tests of mica::fast layer_norm, rms_norm and gelu against double-precision references, over
// dtypes, optional weight/bias, promotion, non-contiguous inputs, empty arrays and bad inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>

#include "mica/mica.h"
#include "mica/primitives/primitive.h"
#include "reference/reference.h"

namespace mica::test {
namespace {

using Vec = std::vector<double>;

// x: (rows, n) row-major values; w, b: n values or empty.
Vec ref_layer_norm(const Vec& x, size_t n, const Vec& w, const Vec& b, double eps) {
  Vec out(x.size());
  for (size_t r = 0; n && r < x.size() / n; ++r) {
    double mean = 0, var = 0;
    for (size_t i = 0; i < n; ++i) mean += x[r * n + i];
    mean /= n;
    for (size_t i = 0; i < n; ++i) var += (x[r * n + i] - mean) * (x[r * n + i] - mean);
    var /= n;
    for (size_t i = 0; i < n; ++i) {
      double y = (x[r * n + i] - mean) / std::sqrt(var + eps);
      if (!w.empty()) y *= w[i];
      if (!b.empty()) y += b[i];
      out[r * n + i] = y;
    }
  }
  return out;
}

Vec ref_rms_norm(const Vec& x, size_t n, const Vec& w, double eps) {
  Vec out(x.size());
  for (size_t r = 0; n && r < x.size() / n; ++r) {
    double ms = 0;
    for (size_t i = 0; i < n; ++i) ms += x[r * n + i] * x[r * n + i];
    ms /= n;
    for (size_t i = 0; i < n; ++i) {
      double y = x[r * n + i] / std::sqrt(ms + eps);
      if (!w.empty()) y *= w[i];
      out[r * n + i] = y;
    }
  }
  return out;
}

TEST(LayerNorm, DtypesWeightBias) {
  for (Dtype dt : {float32, float16, bfloat16, float64}) {
    for (Shape shape : {Shape{4, 7}, Shape{2, 3, 33}, Shape{16}, Shape{3, 1}}) {
      size_t n = shape.back();
      array x = random_array(shape, dt, -3, 3, 1);
      array w = random_array({static_cast<int>(n)}, dt, -2, 2, 2);
      array b = random_array({static_cast<int>(n)}, dt, -2, 2, 3);
      Vec xv = to_vector(x), wv = to_vector(w), bv = to_vector(b);
      double tol = tol_for(dt) * 8;
      for (int mask = 0; mask < 4; ++mask) {
        std::optional<array> wo = mask & 1 ? std::optional<array>(w) : std::nullopt;
        std::optional<array> bo = mask & 2 ? std::optional<array>(b) : std::nullopt;
        array got = fast::layer_norm(x, wo, bo, 1e-5f);
        EXPECT_EQ(got.dtype(), dt);
        EXPECT_TRUE(matches(got, shape, ref_layer_norm(xv, n, mask & 1 ? wv : Vec{}, mask & 2 ? bv : Vec{}, 1e-5), tol,
                            tol * 4))
            << dt << " " << detail::shape_str(shape) << " mask " << mask;
      }
    }
  }
}

TEST(RMSNorm, DtypesWeight) {
  for (Dtype dt : {float32, float16, bfloat16, float64}) {
    for (Shape shape : {Shape{4, 7}, Shape{2, 3, 33}, Shape{16}}) {
      size_t n = shape.back();
      array x = random_array(shape, dt, -3, 3, 4);
      array w = random_array({static_cast<int>(n)}, dt, -2, 2, 5);
      Vec xv = to_vector(x), wv = to_vector(w);
      double tol = tol_for(dt) * 8;
      EXPECT_TRUE(matches(fast::rms_norm(x, w, 1e-6f), shape, ref_rms_norm(xv, n, wv, 1e-6), tol, tol * 4)) << dt;
      EXPECT_TRUE(matches(fast::rms_norm(x, std::nullopt, 1e-6f), shape, ref_rms_norm(xv, n, {}, 1e-6), tol, tol * 4))
          << dt;
    }
  }
}

TEST(LayerNorm, PromotionViewsAndLargeRows) {
  // Half input with a float32 weight computes and returns float32, as MLX.
  array x16 = random_array({3, 8}, float16, -2, 2, 6);
  array w32 = random_array({8}, float32, -2, 2, 7);
  array got = fast::layer_norm(x16, w32, std::nullopt, 1e-5f);
  EXPECT_EQ(got.dtype(), float32);
  EXPECT_TRUE(matches(got, {3, 8}, ref_layer_norm(to_vector(x16), 8, to_vector(w32), {}, 1e-5), 1e-5, 1e-5));
  EXPECT_EQ(fast::rms_norm(x16, w32, 1e-5f).dtype(), float32);
  EXPECT_EQ(fast::layer_norm(random_array({2, 4}, float32), random_array({4}, int32), std::nullopt, 1e-5f).dtype(),
            float32);
  // Non-contiguous x (transposed, sliced) and weight (strided slice, broadcast).
  array base = random_array({12, 10}, float32, -2, 2, 8);
  array xt = transpose(base);
  array wfull = random_array({24}, float32, -2, 2, 9);
  array ws = slice(wfull, {0}, {24}, {2});
  array bb = broadcast_to(array({0.5f}), {12});
  EXPECT_TRUE(matches(fast::layer_norm(xt, ws, bb, 1e-5f), {10, 12},
                      ref_layer_norm(to_vector(xt), 12, to_vector(ws), to_vector(bb), 1e-5), 1e-5, 1e-5));
  EXPECT_TRUE(matches(fast::rms_norm(xt, ws, 1e-5f), {10, 12}, ref_rms_norm(to_vector(xt), 12, to_vector(ws), 1e-5),
                      1e-5, 1e-5));
  // Rows big enough for threads; an offset far from zero keeps its precision.
  array big = add(random_array({64, 4096}, float32, -1, 1, 10), array(100.0f));
  array w = random_array({4096}, float32, -2, 2, 11), b = random_array({4096}, float32, -2, 2, 12);
  EXPECT_TRUE(matches(fast::layer_norm(big, w, b, 1e-5f), big.shape(),
                      ref_layer_norm(to_vector(big), 4096, to_vector(w), to_vector(b), 1e-5), 1e-4, 1e-4));
  EXPECT_TRUE(matches(fast::rms_norm(big, w, 1e-5f), big.shape(), ref_rms_norm(to_vector(big), 4096, to_vector(w), 1e-5),
                      1e-5, 1e-5));
  // A constant row normalizes to zero.
  EXPECT_TRUE(matches(fast::layer_norm(ones({1, 3}), std::nullopt, std::nullopt, 1e-5f), {1, 3}, {0, 0, 0}));
  EXPECT_TRUE(matches(fast::rms_norm(zeros({1, 2}), std::nullopt, 1e-5f), {1, 2}, {0, 0}));
}

TEST(LayerNorm, EmptyArrays) {
  EXPECT_TRUE(matches(fast::layer_norm(zeros({0, 4}), std::nullopt, std::nullopt, 1e-5f), {0, 4}, {}));
  EXPECT_TRUE(matches(fast::layer_norm(zeros({2, 0}), std::nullopt, std::nullopt, 1e-5f), {2, 0}, {}));
  EXPECT_TRUE(matches(fast::rms_norm(zeros({0, 4}), ones({4}), 1e-5f), {0, 4}, {}));
  EXPECT_TRUE(matches(fast::rms_norm(zeros({3, 0}), std::nullopt, 1e-5f), {3, 0}, {}));
}

TEST(LayerNorm, BadInputs) {
  array x = random_array({2, 4}, float32);
  EXPECT_TRUE(throws_op<std::invalid_argument>("layer_norm", [&] { fast::layer_norm(x, ones({1, 4}), std::nullopt, 1e-5f); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("layer_norm", [&] { fast::layer_norm(x, ones({3}), std::nullopt, 1e-5f); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("layer_norm", [&] { fast::layer_norm(x, std::nullopt, ones({3}), 1e-5f); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("layer_norm", [&] { fast::layer_norm(x, std::nullopt, ones({2, 2}), 1e-5f); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("layer_norm", [&] {
    fast::layer_norm(random_array({2, 4}, int32), std::nullopt, std::nullopt, 1e-5f);
  }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("layer_norm", [&] {
    fast::layer_norm(array(1.0f), std::nullopt, std::nullopt, 1e-5f);
  }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("layer_norm", [&] {
    fast::layer_norm(astype(x, complex64), std::nullopt, std::nullopt, 1e-5f);
  }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("rms_norm", [&] { fast::rms_norm(x, ones({1, 4}), 1e-5f); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("rms_norm", [&] { fast::rms_norm(x, ones({5}), 1e-5f); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("rms_norm", [&] { fast::rms_norm(array({true, false}), std::nullopt, 1e-5f); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("rms_norm", [&] { fast::rms_norm(array(2.0f), std::nullopt, 1e-5f); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("rms_norm", [&] {
    fast::rms_norm(x, astype(ones({4}), complex64), 1e-5f);
  }));
}

TEST(Gelu, DtypesViewsAndLargeInputs) {
  auto ref = [](const array& x) {
    Vec v = to_vector(x);
    for (double& e : v) e = 0.5 * e * (1.0 + std::erf(e / std::sqrt(2.0)));
    return v;
  };
  // Past +-6 GELU is x or 0 to float precision; the SIMD erf must get the tails right too.
  for (Dtype dt : {float32, float64, float16, bfloat16}) {
    double tol = dt == float32 ? 2e-6 : dt == float64 ? 1e-13 : dt == float16 ? 2e-3 : 2e-2;
    array x = random_array({3, 1000}, dt, -9, 9, 21);
    EXPECT_TRUE(matches(fast::gelu(x), x.shape(), ref(x), tol, tol)) << dt;
    EXPECT_EQ(fast::gelu(x).dtype(), dt);
  }
  // A transposed view, a large (multi-threaded) input, integers (computed in float32), empty.
  array xt = transpose(random_array({40, 30}, float32, -3, 3, 22));
  EXPECT_TRUE(matches(fast::gelu(xt), {30, 40}, ref(xt), 2e-6, 2e-6));
  array big = random_array({1 << 18}, float32, -5, 5, 23);
  EXPECT_TRUE(matches(fast::gelu(big), big.shape(), ref(big), 2e-6, 2e-6));
  EXPECT_EQ(fast::gelu(array({-1, 0, 2})).dtype(), float32);
  EXPECT_TRUE(matches(fast::gelu(array({-1, 0, 2})), {3}, ref(array({-1.0f, 0.0f, 2.0f})), 1e-6, 1e-6));
  EXPECT_TRUE(matches(fast::gelu(zeros({0, 3})), {0, 3}, {}));
  // The composition nn::gelu used to be agrees.
  array x = random_array({64}, float32, -4, 4, 24);
  EXPECT_TRUE(matches(fast::gelu(x), x.shape(), to_vector(x * (1.0f + erf(x * float(1 / std::sqrt(2.0)))) * 0.5f),
                      2e-6, 2e-6));
  EXPECT_TRUE(throws_op<std::invalid_argument>("gelu", [&] { fast::gelu(array({1.0f, 2.0f}) * array(std::complex<float>(0, 1))); }));
}

// The backward pass of gelu is one node, g gelu'(x), in every float dtype.
TEST(Gelu, BackwardIsOneFusedNode) {
  auto deriv = [](double e) { return 0.5 * (1.0 + std::erf(e / std::sqrt(2.0))) + e * std::exp(-0.5 * e * e) / std::sqrt(2 * M_PI); };
  for (Dtype dt : {float32, float64, float16, bfloat16}) {
    double tol = dt == float32 ? 2e-6 : dt == float64 ? 1e-13 : dt == float16 ? 2e-3 : 2e-2;
    array x = random_array({5, 300}, dt, -6, 6, 25), g = random_array({5, 300}, dt, -2, 2, 26);
    auto f = [](const std::vector<array>& a) { return std::vector<array>{fast::gelu(a[0])}; };
    array dx = vjp(f, {x}, {g}).second[0];
    ASSERT_TRUE(dx.has_primitive());
    EXPECT_EQ(std::string(dx.primitive().name()), "Gelu") << dt;
    EXPECT_EQ(dx.inputs().size(), 2u) << dt;
    Vec xv = to_vector(x), gv = to_vector(g), want(xv.size());
    for (size_t i = 0; i < xv.size(); ++i) want[i] = gv[i] * deriv(xv[i]);
    EXPECT_TRUE(matches(dx, x.shape(), want, tol, tol)) << dt;
    EXPECT_EQ(dx.dtype(), dt);
  }
  // A transposed cotangent, and one of another dtype (not fused: multiply by the derivative).
  array x = random_array({30, 40}, float32, -3, 3, 27);
  array gt = transpose(random_array({40, 30}, float32, -1, 1, 28));
  auto f = [](const std::vector<array>& a) { return std::vector<array>{fast::gelu(a[0])}; };
  Vec xv = to_vector(x), gv = to_vector(gt), want(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) want[i] = gv[i] * deriv(xv[i]);
  EXPECT_TRUE(matches(vjp(f, {x}, {gt}).second[0], x.shape(), want, 2e-6, 2e-6));
  array g64 = astype(gt, float64);
  EXPECT_TRUE(matches(vjp(f, {x}, {g64}).second[0], x.shape(), want, 2e-6, 2e-6));
}

TEST(AdamStep, MatchesTheFormulaAndReusesBuffers) {
  for (Dtype dt : {float32, float64}) {
    array p = random_array({7, 300}, dt, -1, 1, 31), g = random_array({7, 300}, dt, -1, 1, 32);
    array m = random_array({7, 300}, dt, -1, 1, 33), v = random_array({7, 300}, dt, 0, 1, 34);
    array coef = array({0.01, 1.3, 0.999}, dt);
    Vec pv = to_vector(p), gv = to_vector(g), mv = to_vector(m), vv = to_vector(v);
    Vec pw(pv.size()), mw(pv.size()), vw(pv.size());
    for (size_t i = 0; i < pv.size(); ++i) {
      mw[i] = 0.9 * mv[i] + 0.1 * gv[i];
      vw[i] = 0.99 * vv[i] + 0.01 * gv[i] * gv[i];
      pw[i] = pv[i] * 0.999 - 0.01 * mw[i] / (std::sqrt(vw[i]) * 1.3 + 1e-6);
    }
    auto r = fast::adam_step(p, g, m, v, coef, 0.9, 0.99, 1e-6);
    double tol = dt == float32 ? 2e-6 : 1e-13;
    EXPECT_TRUE(matches(r[0], p.shape(), pw, tol, tol)) << dt;
    EXPECT_TRUE(matches(r[1], p.shape(), mw, tol, tol)) << dt;
    EXPECT_TRUE(matches(r[2], p.shape(), vw, tol, tol)) << dt;
  }
  // Strided inputs are read correctly.
  array p = transpose(random_array({30, 20}, float32, -1, 1, 35));
  array z = zeros({20, 30});
  auto r = fast::adam_step(p, z, z, z, array({1.0f, 1.0f, 0.5f}), 0.9, 0.999, 1e-8);
  EXPECT_TRUE(matches(r[0], {20, 30}, to_vector(p * 0.5f), 1e-7, 1e-7));
  // An update in place: once the optimizer drops its handles to p, m and v, the step writes
  // p', m' and v' into their buffers (no new allocation); an input still held elsewhere (g) is
  // never written. (On the CPU: host buffers are what data() shows; the GPU kernel donates the
  // same way once its inputs live on the GPU.)
  array p2 = random_array({64}, float32, -1, 1, 36), g2 = random_array({64}, float32, -1, 1, 37);
  array m2 = random_array({64}, float32, -1, 1, 38), v2 = random_array({64}, float32, 0, 1, 39);
  const void* bufs[3] = {p2.data<float>(), m2.data<float>(), v2.data<float>()};
  Vec gv = to_vector(g2);
  auto step = fast::adam_step(p2, g2, m2, v2, array({0.01f, 1.0f, 1.0f}), 0.9, 0.99, 1e-8, Device(Device::cpu));
  p2 = m2 = v2 = array(0.0f);
  eval(step);
  for (int k = 0; k < 3; ++k) EXPECT_EQ(step[k].data<float>(), bufs[k]) << k;
  EXPECT_TRUE(matches(g2, {64}, gv, 0, 0));
}

TEST(AdamStep, BadInputs) {
  array p = ones({2, 3}), c = array({1.0f, 1.0f, 1.0f});
  EXPECT_TRUE(throws_op<std::invalid_argument>("adam_step", [&] { fast::adam_step(p, ones({3, 2}), p, p, c, 0.9, 0.9, 1e-8); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("adam_step", [&] { fast::adam_step(p, p, ones({2, 3}, float64), p, c, 0.9, 0.9, 1e-8); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("adam_step", [&] { fast::adam_step(p, p, p, p, ones({2}), 0.9, 0.9, 1e-8); }));
  array h = ones({2, 3}, float16);
  EXPECT_TRUE(throws_op<std::invalid_argument>("adam_step", [&] { fast::adam_step(h, h, h, h, c, 0.9, 0.9, 1e-8); }));
}

// fast::rope against MLX 0.32's mx.fast.rope on x[k] = 1.5 sin(0.61 k) + 0.1, (2, 3, 5, 8):
// every 7th value of the flattened result.
array rope_input() {
  std::vector<float> v(240);
  for (int k = 0; k < 240; ++k) v[k] = float(std::sin(k * 0.61) * 1.5 + 0.1);
  return array(v.begin(), {2, 3, 5, 8}, float32);
}
array every_7th(const array& y) { return slice(flatten(astype(y, float32)), {0}, {240}, {7}); }

TEST(Rope, MatchesMlx) {
  array x = rope_input();
  EXPECT_TRUE(matches(every_7th(fast::rope(x, 8, false, 10000.0f, 1.0f, 0)), {35},
                      {0.1, -1.2555972, 1.2588662, 0.230931, 1.5563438, 1.0026107, 0.8023093, -1.5200888, 0.8408072,
                       1.0985235, -1.3097222, 0.6469935, 1.341148, -1.1941699, -0.0191952, 1.6297318, 1.842344,
                       -0.3852859, 1.5910949, -0.694822, 1.6959641, 1.5899184, -0.4089032, -0.99736, 1.9198449,
                       0.0030479, -1.1799748, 1.1812973, 0.5596429, -1.3484575, 1.0861301, 0.5998505, 1.212581,
                       0.7695261, 0.9720662},
                      1e-5, 1e-5));
  // traditional pairs, 6 of the 8 features, another base, scaled positions from 3
  EXPECT_TRUE(matches(every_7th(fast::rope(x, 6, true, 500.0f, 0.5f, 3)), {35},
                      {-0.9498245, -1.2555972, 1.2606616, 0.4441252, -1.3082223, 1.5522618, 0.5184485, -0.4789718,
                       -0.4158704, 1.1012971, -1.3380076, 0.3925854, 1.3026772, -1.5028524, 0.2355559, -1.3575495,
                       0.8474165, -0.3908481, 1.5910949, -0.7259851, -0.6664875, 2.0035329, -0.5537493, -0.283635,
                       -1.463028, 0.0038406, -1.2116462, 1.3938524, 0.3025236, -1.4867449, 0.9780019, -0.6804895,
                       1.5474102, 0.7681602, 1.0276481},
                      1e-5, 1e-5));
  // freqs instead of base
  EXPECT_TRUE(matches(every_7th(fast::rope(x, 4, false, std::nullopt, 1.0f, 2, array({1.0f, 3.0f}))), {35},
                      {-1.4134253, -1.2555972, 1.2606616, 0.4618402, -1.3704683, 0.9828148, -1.1553041, -0.4596079,
                       -1.2011731, 1.1012971, -1.3380076, 0.3299229, 1.341148, -1.5353935, -1.0799911, -1.209676,
                       -0.7314274, -0.3908481, 1.5910949, -0.6858256, -0.718268, 0.6443251, 0.0504985, -0.0186004,
                       -1.4873246, 0.0038406, -1.2116462, 1.3191866, 0.3677833, -1.0793138, -0.8490232, -1.3828822,
                       -0.8214004, 0.7681602, 1.0276481},
                      1e-5, 1e-5));
  // one offset per entry of the first axis
  EXPECT_TRUE(matches(every_7th(fast::rope(x, 8, false, 10000.0f, 1.0f, array({1, 7}))), {35},
                      {-0.844789, -1.2540468, 1.2569449, 0.1114299, -0.1745715, 1.0039674, 0.7980788, -1.6264992,
                       -0.4994332, 1.0971352, -1.3000305, 0.7119538, -0.4464405, -1.1957465, -0.0115733, 1.6382272,
                       1.2549351, -0.3838944, 1.5071653, -0.5670822, 1.2876213, 1.5980029, -0.5026375, -0.9420016,
                       1.090821, -0.0025012, -1.0654931, 0.4878988, 1.0587519, -1.3551075, 1.1792291, 0.0436778,
                       1.8418965, 0.7726861, 0.8711108},
                      1e-5, 1e-5));
  EXPECT_TRUE(allclose(fast::rope(x, 8, false, 10000.0f, 1.0f, array(3)), fast::rope(x, 8, false, 10000.0f, 1.0f, 3))
                  .item<bool>());
  // bfloat16 in and out (computed in float32, rounded once; MLX's own rounding differs by up to
  // one bfloat16 step)
  array yb = fast::rope(astype(x, bfloat16), 8, true, 10000.0f, 1.0f, 5);
  EXPECT_EQ(yb.dtype(), bfloat16);
  EXPECT_TRUE(matches(every_7th(yb), {35},
                      {0.9453125, -1.2578125, 1.2578125, 0.4277344, -1.2578125, 1.8125, 0.015625, -1.015625, 0.65625,
                       1.1015625, -1.328125, 0.4296875, 1.265625, -1.78125, 0.53125, 0.7265625, 0.9609375, -0.3867188,
                       1.5859375, -0.765625, -0.625, 2.125, -0.6484375, -0.0761719, 1.6953125, -0.0011902, -1.203125,
                       1.4375, 0.2617188, -1.6015625, 0.7460938, 0.421875, 1.3359375, 0.78125, 1.015625},
                      0.02, 0.01));
}

// The Rope kernel against a composition of plain ops over dtypes, strided views, offsets and
// empty inputs; vmap with the offsets mapped against a loop.
array rope_reference(const array& x, int dims, bool traditional, float base, float scale, const array& offset) {
  const Dtype ct = x.dtype() == float64 ? float64 : float32;
  const int D = x.shape(-1), L = x.shape(-2), half = dims / 2;
  array off = astype(offset, ct);
  if (offset.ndim() == 1) {
    Shape sh(x.ndim() - 1, 1);
    sh[0] = x.shape(0);
    off = reshape(off, sh);
  }
  array pos = multiply(add(off, astype(arange(L), ct)), array(double(scale), ct));
  array inv = exp(multiply(arange(0.0, double(half), 1.0, ct), array(-std::log(double(base)) / half, ct)));
  array th = multiply(expand_dims(pos, -1), inv);
  array c = cos(th), s = sin(th), xc = astype(x, ct);
  auto last = [&](int lo, int hi, int step) {
    Shape b(x.ndim(), 0), e = x.shape(), st(x.ndim(), 1);
    b.back() = lo;
    e.back() = hi;
    st.back() = step;
    return slice(xc, b, e, st);
  };
  array x1 = traditional ? last(0, dims, 2) : last(0, half, 1), x2 = traditional ? last(1, dims, 2) : last(half, dims, 1);
  array r1 = x1 * c - x2 * s, r2 = x1 * s + x2 * c;
  array r = traditional ? flatten(stack({r1, r2}, -1), -2, -1) : concatenate({r1, r2}, -1);
  if (dims < D) r = concatenate({r, last(dims, D, 1)}, -1);
  return astype(r, x.dtype());
}

TEST(Rope, KernelMatchesComposition) {
  for (Dtype dt : {float32, float64, float16, bfloat16}) {
    const double tol = dt == float32 ? 1e-5 : dt == float64 ? 1e-12 : 2e-2;
    array x = astype(random::normal({3, 4, 7, 10}, float32, random::key(3)), dt);
    for (bool trad : {false, true}) {
      for (int dims : {10, 6}) {
        for (const array& off : {array(0), array(-3), array({2, 0, 9})}) {
          array got = fast::rope(x, dims, trad, 10000.0f, 0.75f, off);
          EXPECT_EQ(got.dtype(), dt);
          EXPECT_TRUE(allclose(got, rope_reference(x, dims, trad, 10000.0f, 0.75f, off), tol, tol).item<bool>())
              << dt << " " << trad << " " << dims << " " << off.ndim();
        }
      }
    }
  }
  // A transposed view (positions and features strided), and empty inputs.
  array x = random::normal({5, 3, 8, 2}, float32, random::key(4));
  array xt = transpose(x, {3, 1, 2, 0});  // (2, 3, 8, 5)
  EXPECT_TRUE(allclose(fast::rope(xt, 4, true, 500.0f, 1.0f, 1), rope_reference(xt, 4, true, 500.0f, 1.0f, array(1)),
                       1e-5, 1e-5)
                  .item<bool>());
  EXPECT_EQ(fast::rope(zeros({0, 3, 4}), 4, false, 10000.0f, 1.0f, 0).shape(), Shape({0, 3, 4}));
  EXPECT_EQ(fast::rope(zeros({2, 0, 4}), 4, false, 10000.0f, 1.0f, array({1, 2})).shape(), Shape({2, 0, 4}));
  eval(fast::rope(zeros({2, 0, 4}), 4, false, 10000.0f, 1.0f, array({1, 2})));
}

TEST(Rope, VmapOverOffsets) {
  array x = random::normal({3, 2, 5, 4}, float32, random::key(5));
  array offs = array({0, 4, 9});
  auto f = [](const std::vector<array>& in) {
    return std::vector<array>{fast::rope(in[0], 4, false, 10000.0f, 1.0f, in[1])};
  };
  array got = vmap(f, {0, 0})({x, offs})[0];  // each x[i] with the scalar offset offs[i]
  array vec_offs = array({1, 2, 3, 4, 5, 6}, {3, 2});
  auto row = [](const array& a, int i) { return take(a, array(i), 0); };
  array got2 = vmap(f, {0, 0})({x, vec_offs})[0];  // each x[i] with the offsets vec_offs[i], one per first axis
  array got3 = vmap(f, {-1, 0})({row(x, 0), offs})[0];  // x unmapped
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(allclose(row(got, i), fast::rope(row(x, i), 4, false, 10000.0f, 1.0f, row(offs, i)), 1e-6, 1e-6).item<bool>()) << i;
    EXPECT_TRUE(allclose(row(got2, i), fast::rope(row(x, i), 4, false, 10000.0f, 1.0f, row(vec_offs, i)), 1e-6, 1e-6).item<bool>()) << i;
    EXPECT_TRUE(allclose(row(got3, i), fast::rope(row(x, 0), 4, false, 10000.0f, 1.0f, row(offs, i)), 1e-6, 1e-6).item<bool>()) << i;
  }
}

TEST(Rope, GradientAndErrors) {
  // A rotation: the gradient of <rope(x), c> is c rotated back (the transpose of the rotation).
  array x = rope_input();
  array c = sin(multiply(x, array(2.0f)));
  array gx = grad([&](const array& a) { return sum(multiply(fast::rope(a, 6, true, 10000.0f, 1.0f, 4), c)); })(x);
  array back = fast::rope(gx, 6, true, 10000.0f, 1.0f, 4);  // rotating the gradient forward gives c back
  EXPECT_TRUE(allclose(back, c, 1e-5, 1e-5).item<bool>());
  array r = zeros({2, 3, 8});
  EXPECT_TRUE(throws_op<std::invalid_argument>("rope", [&] { fast::rope(zeros({3, 8}), 8, false, 10000.0f, 1.0f, 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("rope", [&] { fast::rope(r, 3, false, 10000.0f, 1.0f, 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("rope", [&] { fast::rope(r, 10, false, 10000.0f, 1.0f, 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("rope", [&] { fast::rope(r, 8, false, std::nullopt, 1.0f, 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("rope", [&] {
    fast::rope(r, 8, false, 10000.0f, 1.0f, 0, array({1.0f, 2.0f, 3.0f, 4.0f}));
  }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("rope", [&] {
    fast::rope(r, 8, false, std::nullopt, 1.0f, 0, array({1.0f, 2.0f}));
  }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("rope", [&] { fast::rope(r, 8, false, 10000.0f, 1.0f, array({1, 2, 3})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("rope", [&] { fast::rope(r, 8, false, 10000.0f, 1.0f, array(1.5f)); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("rope", [&] { fast::rope(zeros({2, 3, 8}, int32), 8, false, 10000.0f, 1.0f, 0); }));
}

// gated_delta_update against MLX 0.32's values (the same random inputs: mica's generator is
// MLX's), with grouped heads, an initial state and a mask; a float64 loop for the plain case;
// dtypes; gradients flow through the recurrence; errors.
TEST(GatedDelta, MatchesMlx) {
  const int B = 2, T = 3, Hk = 2, Dk = 3, Hv = 4, Dv = 2;
  array q = random::normal({B, T, Hk, Dk}, float32, random::key(1));
  array k = random::normal({B, T, Hk, Dk}, float32, random::key(2));
  k = divide(k, sqrt(sum(multiply(k, k), -1, true)));
  array v = random::normal({B, T, Hv, Dv}, float32, random::key(3));
  array g = random::uniform({B, T, Hv}, float32, random::key(4)), b = random::uniform({B, T, Hv}, float32, random::key(5));
  array s0 = random::normal({B, Hv, Dv, Dk}, float32, random::key(6));
  array mask({true, false, true, true, true, false}, {B, T});
  auto out = fast::gated_delta_update(q, k, v, g, b, s0, mask);
  EXPECT_TRUE(matches(out[0], {B, T, Hv, Dv},
                      {-0.5630159, 0.7404808, 0.6289529, 0.8778992, -0.2289378, 0.1476504, 0.4741122, 0.0236252, 0, 0, 0,
                       0, 0, 0, 0, 0, -0.07981318, 0.6880656, -1.090795, -1.072801, -0.0759028, 0.8870891, 0.2032208,
                       -0.6643314, 0.7024441, 0.09317966, 0.1082093, 0.08792095, -0.02852865, 0.3967229, -0.2988329,
                       -0.1315584, 1.207507, 0.3099497, -0.06887436, 0.01251947, -0.1226972, -0.4417874, -1.472807,
                       1.031146, 0, 0, 0, 0, 0, 0, 0, 0},
                      1e-5, 1e-5));
  EXPECT_TRUE(matches(out[1], {B, Hv, Dv, Dk},
                      {0.05298257, -0.053368, -0.1506621, -0.3985669, 0.3388977, 0.796054, 0.5015404, 0.05637667,
                       -0.561167, 0.3795076, 0.4019696, 0.2863902, -0.07463943, 0.1613376, 0.2124908, 0.6938319,
                       -0.7614846, -0.9592335, 0.1645028, -0.1851633, -0.2422201, -0.5653925, 0.4918518, 0.7320625,
                       0.8035586, 0.08875759, -1.072117, -0.2091022, -0.02921754, -0.04033437, -0.1077043, 0.01066978,
                       0.07867969, -0.1400167, 0.1006018, -0.01515686, -0.09661908, -0.2402078, 0.1778865, 0.1754615,
                       0.1962156, 0.05562775, -0.120529, -0.4659587, 0.9948129, 0.124026, 0.6924481, -0.7214866},
                      1e-5, 1e-5));
  // No state, no mask: a float64 loop (S = g S; S += b (v - S k) k^T; y = S q).
  auto plain = fast::gated_delta_update(q, k, v, g, b);
  auto qv = to_vector(q), kv = to_vector(k), vv = to_vector(v), gv = to_vector(g), bv = to_vector(b);
  std::vector<double> st(B * Hv * Dv * Dk, 0.0), ys(B * T * Hv * Dv);
  for (int bi = 0; bi < B; ++bi)
    for (int t = 0; t < T; ++t)
      for (int h = 0; h < Hv; ++h) {
        const int hk = h / (Hv / Hk);
        double* S = &st[((bi * Hv + h) * Dv) * Dk];
        const double* kk = &kv[((bi * T + t) * Hk + hk) * Dk];
        const double* qq = &qv[((bi * T + t) * Hk + hk) * Dk];
        const double gt = gv[(bi * T + t) * Hv + h], bt = bv[(bi * T + t) * Hv + h];
        for (int i = 0; i < Dv * Dk; ++i) S[i] *= gt;
        for (int i = 0; i < Dv; ++i) {
          double sk = 0;
          for (int j = 0; j < Dk; ++j) sk += S[i * Dk + j] * kk[j];
          const double d = bt * (vv[((bi * T + t) * Hv + h) * Dv + i] - sk);
          for (int j = 0; j < Dk; ++j) S[i * Dk + j] += d * kk[j];
        }
        for (int i = 0; i < Dv; ++i) {
          double y = 0;
          for (int j = 0; j < Dk; ++j) y += S[i * Dk + j] * qq[j];
          ys[((bi * T + t) * Hv + h) * Dv + i] = y;
        }
      }
  EXPECT_TRUE(matches(plain[0], {B, T, Hv, Dv}, ys, 1e-5, 1e-5));
  EXPECT_TRUE(matches(plain[1], {B, Hv, Dv, Dk}, st, 1e-5, 1e-5));
  // Half inputs: the output in their dtype, the state in float32 (as MLX).
  auto half = fast::gated_delta_update(astype(q, bfloat16), astype(k, bfloat16), astype(v, bfloat16),
                                       astype(g, bfloat16), astype(b, bfloat16));
  EXPECT_EQ(half[0].dtype(), bfloat16);
  EXPECT_EQ(half[1].dtype(), float32);
  // The gradient of the outputs' sum reaches every input (a composition of differentiable ops).
  auto loss = [&](const std::vector<array>& in) {
    auto o = fast::gated_delta_update(in[0], in[1], in[2], in[3], in[4], in[5]);
    return add(sum(o[0]), sum(o[1]));
  };
  auto grads = grad(loss, {0, 1, 2, 3, 4, 5})({q, k, v, g, b, s0});
  for (const auto& gr : grads) EXPECT_GT(sum(abs(gr)).item<float>(), 0.0f);
  // T = 0: an empty output and the initial state back.
  auto none = fast::gated_delta_update(zeros({1, 0, 1, 2}), zeros({1, 0, 1, 2}), zeros({1, 0, 2, 3}), zeros({1, 0, 2}),
                                       zeros({1, 0, 2}));
  EXPECT_EQ(none[0].shape(), Shape({1, 0, 2, 3}));
  EXPECT_EQ(none[1].shape(), Shape({1, 2, 3, 2}));
  const char* op = "gated_delta_update";
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { fast::gated_delta_update(q, k, slice(v, {0, 0, 0, 0}, {B, T, 3, Dv}), g, b); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { fast::gated_delta_update(q, k, v, slice(g, {0, 0, 0}, {B, T, 2}), b); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { fast::gated_delta_update(slice(q, {0, 0, 0, 0}, {B, 2, Hk, Dk}), k, v, g, b); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { fast::gated_delta_update(q, k, v, g, b, zeros({B, Hv, Dk, Dv})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { fast::gated_delta_update(q, k, v, g, b, std::nullopt, zeros({B})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { fast::gated_delta_update(astype(q, int32), k, v, g, b); }));
}

}  // namespace
}  // namespace mica::test
