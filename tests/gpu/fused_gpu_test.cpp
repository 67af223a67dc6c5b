// GPU-vs-CPU conformance of the fused family (backend/cuda/fused.cu): LayerNorm and RMSNorm with
// and without weight and bias, their backward nodes LayerNormVjp and RMSNormVjp (all outputs,
// through fast::layer_norm / rms_norm gradients and called directly), for every float dtype,
// rows of 1 to 20000 elements (the register kernels' group sizes, several rows per block, the
// streaming kernels past the register capacity), many rows (the persistent backward grid takes
// several rounds), every layout of x, strided and broadcast parameters, special values and empty
// arrays; Gelu of orders 0 and 1; Rope (dtypes, views, offsets, freqs, gradients, a GPT-sized
// input); AdamStep with strided inputs and GPU-made inputs; bad inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "gpu/gpu_checks.h"
#include "mica/primitives/fused.h"

namespace mica::test {
namespace {

const Device kCpu(Device::cpu);
const Device kGpu(Device::gpu);
constexpr int kRows = 37, kCols = 129;  // odd sizes: vector tails and unaligned rows
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
const std::vector<Dtype> kFloats{float32, float16, bfloat16, float64};
// Row lengths: 1 .. 20000, around the kernels' boundaries (register rows of 8192 / 16384
// elements, streaming beyond).
const std::vector<int> kLengths{1, 7, 64, 768, 1000, 4096, 8192, 8193, 16384, 16385, 20000};

using MultiOp = std::function<std::vector<array>(const std::vector<array>&, StreamOrDevice)>;

// Runs `op` on the CPU and on the GPU over the same inputs and compares every output.
testing::AssertionResult outputs_match(const MultiOp& op, const std::vector<array>& in, double rtol, double atol) {
  std::vector<array> c = op(in, kCpu);
  eval(c);
  std::vector<array> g = op(in, kGpu);
  eval(g);
  if (c.size() != g.size()) return testing::AssertionFailure() << "output counts differ";
  for (size_t i = 0; i < c.size(); ++i) {
    auto r = same_values(g[i], c[i], rtol, atol);
    if (!r) return r << " (output " << i << ")";
  }
  return testing::AssertionSuccess();
}

// Tolerances of the norms: statistics summed in a different order on each device; column sums
// over `rows` rows (dweight, dbias) grow their rounding with the row count.
double rtol_for(Dtype d) { return d == float64 ? 1e-10 : 1e-4; }
double atol_for(Dtype d, int64_t rows = 1) {
  return (d == float64 ? 1e-11 : 2e-5) * std::max(1.0, std::sqrt(static_cast<double>(rows) / 16));
}

std::optional<array> opt(bool on, const array& a) { return on ? std::optional<array>(a) : std::nullopt; }

// in = {x, weight, bias, cotangent}; mask bit 0: weight, bit 1: bias.
array layer_norm_of(const std::vector<array>& in, int mask, StreamOrDevice s, float eps = 1e-5f) {
  return fast::layer_norm(in[0], opt(mask & 1, in[1]), opt(mask & 2, in[2]), eps, s);
}
array rms_norm_of(const std::vector<array>& in, int mask, StreamOrDevice s, float eps = 1e-5f) {
  return fast::rms_norm(in[0], opt(mask & 1, in[1]), eps, s);
}

// The forward pass, and the cotangents of x and of the parameters present (the fused backward
// node) for the cotangent in[3].
MultiOp forward_op(bool rms, int mask) {
  return [=](const std::vector<array>& in, StreamOrDevice s) {
    return std::vector<array>{rms ? rms_norm_of(in, mask, s) : layer_norm_of(in, mask, s)};
  };
}
MultiOp backward_op(bool rms, int mask) {
  return [=](const std::vector<array>& in, StreamOrDevice s) {
    std::vector<array> prim{in[0]};
    if (mask & 1) prim.push_back(in[1]);
    if ((mask & 2) && !rms) prim.push_back(in[2]);
    auto f = [&](const std::vector<array>& a) {
      std::vector<array> full{a[0], mask & 1 ? a[1] : in[1], (mask & 2) && !rms ? a.back() : in[2]};
      return std::vector<array>{rms ? rms_norm_of(full, mask, s) : layer_norm_of(full, mask, s)};
    };
    return vjp(f, prim, {in[3]}).second;
  };
}

// The backward node called directly: every output (dweight and dbias also without parameters).
MultiOp node_op(bool rms, bool has_w, float eps = 1e-5f) {
  return [=](const std::vector<array>& in, StreamOrDevice s) {
    const array& x = in[0];
    const int n = x.shape().back();
    std::vector<array> ins{x};
    if (has_w) ins.push_back(in[1]);
    ins.push_back(in[3]);
    std::shared_ptr<Primitive> p;
    if (rms) p = std::make_shared<RMSNormVjp>(to_stream(s), eps, has_w);
    else p = std::make_shared<LayerNormVjp>(to_stream(s), eps, has_w);
    std::vector<Shape> shapes{x.shape(), {n}};
    if (!rms) shapes.push_back({n});
    return array::make_arrays(shapes, std::vector<Dtype>(shapes.size(), x.dtype()), p, ins);
  };
}

// Inputs {x, weight, bias, cotangent} for x of shape `xs`.
std::vector<array> norm_inputs(const Shape& xs, Dtype d, uint32_t seed, double lo = -3, double hi = 3) {
  const int n = xs.back();
  return {random_input(xs, d, lo, hi, seed), random_input({n}, d, -2, 2, seed + 1),
          random_input({n}, d, -2, 2, seed + 2), random_input(xs, d, -1, 1, seed + 3)};
}

// Every check of the norms on one set of inputs; `scale` widens the absolute tolerance of the
// column sums (rows far from zero: the mean's rounding, |x| / sigma ulps, shifts xhat).
void check_norms(const std::vector<array>& in, const std::string& where, double scale = 1) {
  const Dtype d = in[0].dtype();
  const int64_t n = in[0].ndim() ? in[0].shape().back() : 1;
  const int64_t rows = n ? static_cast<int64_t>(in[0].size()) / n : 0;
  const double rtol = rtol_for(d), atol = atol_for(d, rows) * scale;
  for (bool rms : {false, true}) {
    for (int mask = 0; mask < 4; ++mask) {
      if (rms && (mask & 2)) continue;
      SCOPED_TRACE(where + (rms ? " rms_norm" : " layer_norm") + " mask " + std::to_string(mask));
      EXPECT_TRUE(outputs_match(forward_op(rms, mask), in, rtol, atol_for(d)));
      EXPECT_TRUE(outputs_match(backward_op(rms, mask), in, rtol, atol));
    }
    for (bool has_w : {false, true}) {
      SCOPED_TRACE(where + (rms ? " RMSNormVjp" : " LayerNormVjp") + (has_w ? " weight" : ""));
      EXPECT_TRUE(outputs_match(node_op(rms, has_w), in, rtol, atol));
    }
  }
}

TEST(FusedGpu, NormRowLengths) {
  MICA_REQUIRE_GPU();
  for (Dtype d : kFloats) {
    for (int n : kLengths) {
      const int rows = n >= 4096 ? 5 : 37;
      check_norms(norm_inputs({rows, n}, d, 100 + n), dtype_to_string(d) + " n=" + std::to_string(n));
    }
  }
}

TEST(FusedGpu, NormManyRows) {
  MICA_REQUIRE_GPU();
  // More rows than the persistent backward grid has blocks: each block takes several rounds;
  // 3-d inputs, and rows offset far from zero (the two-pass variance keeps its precision).
  for (Dtype d : {float32, bfloat16, float64}) {
    std::string dn = dtype_to_string(d);
    check_norms(norm_inputs({20000, 64}, d, 1), dn + " 20000x64");
    check_norms(norm_inputs({1000, 7}, d, 2), dn + " 1000x7");
    check_norms(norm_inputs({2, 600, 768}, d, 3), dn + " 2x600x768");
    check_norms(norm_inputs({300, 8192}, d, 4), dn + " 300x8192");
    check_norms(norm_inputs({40, 20000}, d, 5), dn + " 40x20000");
    // Halves: more rows than the pipelined forward kernel's persistent grid has blocks.
    check_norms(norm_inputs({3000, 4096}, d, 7), dn + " 3000x4096");
    auto far = norm_inputs({64, 4096}, d, 6);
    far[0] = add(far[0], array(100.0, d), kCpu);
    eval(far[0]);
    check_norms(far, dn + " offset 100", 20);
  }
}

TEST(FusedGpu, NormLayouts) {
  MICA_REQUIRE_GPU();
  for (Dtype d : kFloats) {
    // x and the cotangent in every layout (transposed, broadcast, sliced, empty, misaligned).
    auto xs = layouts(d, kRows, kCols, -3, 3, 7), gs = layouts(d, kRows, kCols, -1, 1, 17);
    array w = random_input({kCols}, d, -2, 2, 8), b = random_input({kCols}, d, -2, 2, 9);
    for (size_t i = 0; i < xs.size(); ++i) {
      check_norms({xs[i].second, w, b, gs[i].second}, dtype_to_string(d) + " " + xs[i].first);
    }
    // Parameters as views: a strided slice and a broadcast scalar.
    array ws = slice(random_input({2 * kCols}, d, -2, 2, 10), {0}, {2 * kCols}, {2}, kCpu);
    array bb = broadcast_to(random_input({1}, d, -2, 2, 11), {kCols}, kCpu);
    auto in = norm_inputs({kRows, kCols}, d, 12);
    check_norms({in[0], ws, bb, in[3]}, dtype_to_string(d) + " strided parameters");
    // A 1-d input (one row) and rows of length 0.
    check_norms(norm_inputs({kCols}, d, 13), dtype_to_string(d) + " 1-d");
    check_norms(norm_inputs({3, 4, 0}, d, 14), dtype_to_string(d) + " empty rows");
    check_norms(norm_inputs({0, 5}, d, 15), dtype_to_string(d) + " no rows");
  }
}

TEST(FusedGpu, NormSpecialValuesAndEps) {
  MICA_REQUIRE_GPU();
  // Rows: finite; with a NaN; with +inf; constant (variance 0); zeros (RMS 0).
  std::vector<double> v{1, 2, 3, 4, 1, kNaN, 3, 4, 1, kInf, 3, 4, 5, 5, 5, 5, 0, 0, 0, 0};
  for (Dtype d : kFloats) {
    array x = array(v.begin(), {5, 4}, d);
    auto in = norm_inputs({5, 4}, d, 20);
    in[0] = x;
    check_norms(in, dtype_to_string(d) + " special");
    // The same rows long enough for the streaming kernels.
    array wide = reshape(broadcast_to(reshape(x, {5, 4, 1}, kCpu), {5, 4, 5000}, kCpu), {5, 20000}, kCpu);
    auto win = norm_inputs({5, 20000}, d, 21);
    win[0] = wide;
    check_norms(win, dtype_to_string(d) + " special wide");
  }
  // eps is used (large eps) and may be 0 (a constant row then divides by zero alike).
  for (float eps : {0.5f, 0.0f}) {
    auto in = norm_inputs({9, 33}, float32, 22);
    MultiOp op = [eps](const std::vector<array>& a, StreamOrDevice s) {
      return std::vector<array>{fast::layer_norm(a[0], a[1], a[2], eps, s), fast::rms_norm(a[0], a[1], eps, s)};
    };
    EXPECT_TRUE(outputs_match(op, in, 1e-4, 1e-5)) << "eps " << eps;
    EXPECT_TRUE(outputs_match(node_op(false, true, eps), in, 1e-4, 1e-5)) << "eps " << eps;
    EXPECT_TRUE(outputs_match(node_op(true, true, eps), in, 1e-4, 1e-5)) << "eps " << eps;
  }
}

TEST(FusedGpu, NormGradients) {
  MICA_REQUIRE_GPU();
  // grad of a scalar loss through fast::layer_norm / rms_norm (promotion from a half x with a
  // float32 weight included): the cotangent reaches the fused backward node as a computed array.
  for (Dtype d : kFloats) {
    auto in = norm_inputs({3, 7, 96}, d, 30);
    MultiOp ln = [](const std::vector<array>& a, StreamOrDevice s) {
      auto loss = [s](const std::vector<array>& p) {
        return sum(sin(fast::layer_norm(p[0], p[1], p[2], 1e-5f, s), s), false, s);
      };
      return grad(loss, {0, 1, 2})({a[0], a[1], a[2]});
    };
    MultiOp rn = [](const std::vector<array>& a, StreamOrDevice s) {
      auto loss = [s](const std::vector<array>& p) { return sum(square(fast::rms_norm(p[0], p[1], 1e-5f, s), s), false, s); };
      return grad(loss, {0, 1})({a[0], a[1]});
    };
    EXPECT_TRUE(outputs_match(ln, in, rtol_for(d), atol_for(d, 21))) << d;
    EXPECT_TRUE(outputs_match(rn, in, rtol_for(d), atol_for(d, 21))) << d;
  }
  array x16 = random_input({6, 40}, float16, -2, 2, 31), w32 = random_input({40}, float32, -2, 2, 32);
  MultiOp mixed = [](const std::vector<array>& a, StreamOrDevice s) {
    auto loss = [s](const std::vector<array>& p) {
      return sum(fast::rms_norm(p[0], p[1], 1e-5f, s) * fast::layer_norm(p[0], p[1], std::nullopt, 1e-5f, s), false, s);
    };
    return grad(loss, {0, 1})({a[0], a[1]});
  };
  EXPECT_TRUE(outputs_match(mixed, {x16, w32}, 1e-4, 1e-5));
}

// ---- GELU ----

MultiOp gelu_op(int order) {
  return [order](const std::vector<array>& in, StreamOrDevice s) {
    const array& x = in[0];
    return std::vector<array>{array(x.shape(), x.dtype(), std::make_shared<Gelu>(to_stream(s), order), {x})};
  };
}

TEST(FusedGpu, Gelu) {
  MICA_REQUIRE_GPU();
  for (Dtype d : kFloats) {
    // erf and exp differ by an ulp or two between the devices; GELU's left tail cancels.
    const double rtol = d == float64 ? 1e-12 : 1e-5, atol = d == float64 ? 1e-13 : 2e-6;
    for (int order : {0, 1}) {
      std::string where = dtype_to_string(d) + " order " + std::to_string(order);
      for (auto& [name, x] : layouts(d, kRows, kCols, -9, 9, 40)) {
        EXPECT_TRUE(outputs_match(gelu_op(order), {x}, rtol, atol)) << where << " " << name;
      }
      for (int n : {0, 1, 7, 4099, (1 << 20) + 3}) {
        EXPECT_TRUE(outputs_match(gelu_op(order), {random_input({n}, d, -6, 6, 41)}, rtol, atol)) << where << " n=" << n;
      }
      std::vector<double> sv{kNaN, kInf, -kInf, 0.0, -0.0, 1e-30, -1e-30, 5.5, -5.5, 12, -12, 1e4, -1e4};
      EXPECT_TRUE(outputs_match(gelu_op(order), {array(sv.begin(), {13}, d)}, rtol, atol)) << where << " special";
    }
    // The backward node g gelu'(x) (Gelu of order 1 with the cotangent as second input): views
    // of x beside a row-major g, a transposed g, odd lengths.
    MultiOp times = [](const std::vector<array>& in, StreamOrDevice s) {
      const array& x = in[0];
      return std::vector<array>{array(x.shape(), x.dtype(), std::make_shared<Gelu>(to_stream(s), 1), in)};
    };
    for (auto& [name, x] : layouts(d, kRows, kCols, -9, 9, 44)) {
      array g = random_input(x.shape(), d, -2, 2, 45);
      EXPECT_TRUE(outputs_match(times, {x, g}, rtol, atol)) << dtype_to_string(d) << " times " << name;
      if (x.ndim() == 2) {
        array gt = transpose(random_input({x.shape(1), x.shape(0)}, d, -2, 2, 46), kCpu);
        EXPECT_TRUE(outputs_match(times, {x, gt}, rtol, atol)) << dtype_to_string(d) << " times, g transposed " << name;
      }
    }
    for (int n : {1, 7, 4099}) {
      EXPECT_TRUE(outputs_match(times, {random_input({n}, d, -6, 6, 47), random_input({n}, d, -2, 2, 48)}, rtol, atol))
          << dtype_to_string(d) << " times n=" << n;
    }
    // Through the public op and its gradient; integers are computed in float32.
    GpuOp fwd_bwd = [](const std::vector<array>& in, StreamOrDevice s) {
      return grad([s](const array& a) { return sum(fast::gelu(a, s), false, s); })(in[0]);
    };
    EXPECT_TRUE(gpu_matches_cpu(fwd_bwd, {random_input({33, 65}, d, -4, 4, 42)}, rtol, atol)) << d;
  }
  GpuOp ints = [](const std::vector<array>& in, StreamOrDevice s) { return fast::gelu(in[0], s); };
  EXPECT_TRUE(gpu_matches_cpu(ints, {random_input({5, 9}, int32, -20, 20, 43)}, 1e-5, 2e-6));
}

// ---- AdamStep ----

MultiOp adam_op(double b1 = 0.9, double b2 = 0.99, double eps = 1e-6) {
  return [=](const std::vector<array>& in, StreamOrDevice s) {
    return fast::adam_step(in[0], in[1], in[2], in[3], in[4], b1, b2, eps, s);
  };
}

TEST(FusedGpu, AdamStep) {
  MICA_REQUIRE_GPU();
  for (Dtype d : {float32, float64}) {
    const double tol = d == float32 ? 1e-5 : 1e-12;
    array coef = array({0.01, 1.3, 0.999}, d);
    for (Shape sh : {Shape{kRows, kCols}, Shape{1}, Shape{7}, Shape{(1 << 20) + 3}, Shape{0, 3}}) {
      std::vector<array> in{random_input(sh, d, -1, 1, 50), random_input(sh, d, -1, 1, 51),
                            random_input(sh, d, -1, 1, 52), random_input(sh, d, 0, 1, 53), coef};
      EXPECT_TRUE(outputs_match(adam_op(), in, tol, tol)) << d << " " << sh.size() << "-d";
    }
    // Every input in each layout (v kept non-negative), and coef as a strided view.
    auto ps = layouts(d, kRows, kCols, -1, 1, 54), gs = layouts(d, kRows, kCols, -1, 1, 55);
    auto ms = layouts(d, kRows, kCols, -1, 1, 56), vs = layouts(d, kRows, kCols, 0, 1, 57);
    array cs = slice(array({0.02, 9.0, 0.7, 9.0, 0.99, 9.0}, d), {0}, {6}, {2}, kCpu);
    for (size_t i = 0; i < ps.size(); ++i) {
      for (size_t j : {i, (i + 1) % ps.size()}) {
        if (ps[i].second.shape() != gs[j].second.shape()) continue;
        std::vector<array> in{ps[i].second, gs[j].second, ms[i].second, vs[j].second, cs};
        EXPECT_TRUE(outputs_match(adam_op(0.8, 0.999, 1e-8), in, tol, tol)) << d << " " << ps[i].first << "/" << gs[j].first;
      }
    }
    // Special values: v = 0 with eps = 0 divides by zero; NaN and infinity propagate.
    std::vector<double> sv{0, kNaN, kInf, -kInf, 1, -1};
    array s6 = array(sv.begin(), {6}, d);
    std::vector<array> in{s6, s6, s6, abs(s6, kCpu), array({0.1, 1.0, 1.0}, d)};
    EXPECT_TRUE(outputs_match(adam_op(0.9, 0.99, 0.0), in, tol, tol)) << d << " special";
  }
}

TEST(FusedGpu, AdamStepManyParameters) {
  MICA_REQUIRE_GPU();
  // 101 parameters in one node (three launches of up to 48): sizes from empty to a few blocks,
  // odd lengths, a transposed and an unaligned one; equal to the CPU's and to one node each.
  for (Dtype d : {float32, float64}) {
    const double tol = d == float32 ? 1e-5 : 1e-12;
    std::vector<array> p, g, m, v;
    for (int i = 0; i < 101; ++i) {
      Shape sh = i % 10 == 0 ? Shape{0} : i % 7 == 0 ? Shape{70000 + i} : Shape{i % 5 + 1, 3 * i + 1};
      p.push_back(random_input(sh, d, -1, 1, 100 + i));
      g.push_back(random_input(sh, d, -1, 1, 300 + i));
      m.push_back(random_input(sh, d, -1, 1, 500 + i));
      v.push_back(random_input(sh, d, 0, 1, 700 + i));
    }
    p[3] = transpose(random_input({10, 4}, d, -1, 1, 9), kCpu);
    g[3] = random_input({4, 10}, d, -1, 1, 10);
    m[3] = random_input({4, 10}, d, -1, 1, 11);
    v[3] = random_input({4, 10}, d, 0, 1, 12);
    array flat = random_input({41}, d, -1, 1, 13);
    p[4] = reshape(slice(flat, {1}, {41}, kCpu), {4, 10}, kCpu);
    g[4] = g[3], m[4] = m[3], v[4] = v[3];
    array coef = array({0.01, 1.3, 0.999}, d);
    auto cpu = fast::adam_step(p, g, m, v, coef, 0.9, 0.99, 1e-6, kCpu);
    auto gpu = fast::adam_step(p, g, m, v, coef, 0.9, 0.99, 1e-6, kGpu);
    eval(cpu);
    eval(gpu);
    ASSERT_EQ(gpu.size(), 3u * 101);
    for (size_t k = 0; k < gpu.size(); ++k) {
      EXPECT_TRUE(same_values(gpu[k], cpu[k], tol, tol)) << d << " output " << k;
      auto one = fast::adam_step(p[k / 3], g[k / 3], m[k / 3], v[k / 3], coef, 0.9, 0.99, 1e-6, kGpu);
      EXPECT_TRUE(same_values(gpu[k], one[k % 3], 0, 0)) << d << " output " << k << " against its own node";
    }
  }
}

TEST(FusedGpu, AdamStepDonation) {
  MICA_REQUIRE_GPU();
  // Parameters and moments computed on the GPU that nobody else holds: the values are those of
  // the CPU whether or not their buffers are written in place. (Today every output of a
  // multi-output node holds its own copy of the input list, so inputs of AdamStep are never
  // donatable on either device; see the AdamStep kernels.)
  for (Dtype d : {float32, float64}) {
    array p0 = random_input({kRows, kCols}, d, -1, 1, 60), g = random_input({kRows, kCols}, d, -1, 1, 61);
    array m0 = random_input({kRows, kCols}, d, -1, 1, 62), v0 = random_input({kRows, kCols}, d, 0, 1, 63);
    array coef = array({0.01, 1.3, 0.999}, d), two = array(2.0, d);
    auto want = fast::adam_step(multiply(p0, two, kCpu), g, multiply(m0, two, kCpu), multiply(v0, two, kCpu), coef, 0.9,
                                0.99, 1e-6, kCpu);
    eval(want);
    array p = multiply(p0, two, kGpu), m = multiply(m0, two, kGpu), v = multiply(v0, two, kGpu);
    eval(p, m, v);
    auto got = fast::adam_step(p, g, m, v, coef, 0.9, 0.99, 1e-6, kGpu);
    p = m = v = array(0.0f);
    eval(got);
    for (int k = 0; k < 3; ++k) EXPECT_TRUE(same_values(got[k], want[k], 1e-5, 1e-6)) << d << " output " << k;
  }
}

// ---- Rope ----

TEST(FusedGpu, Rope) {
  MICA_REQUIRE_GPU();
  for (Dtype d : kFloats) {
    const double tol = d == float64 ? 1e-12 : 1e-5;
    array x = random_input({3, 4, 7, 10}, d, -2, 2, 60);
    array xt = transpose(random_input({10, 4, 7, 3}, d, -2, 2, 61), {3, 1, 2, 0}, kCpu);  // strided
    for (bool trad : {false, true}) {
      for (int dims : {10, 6}) {
        for (const array& off : {array(0), array(-3), array({2, 0, 9})}) {
          MultiOp op = [=](const std::vector<array>& in, StreamOrDevice s) {
            return std::vector<array>{fast::rope(in[0], dims, trad, 10000.0f, 0.75f, off, std::nullopt, s)};
          };
          std::string where = dtype_to_string(d) + (trad ? " traditional" : "") + " dims " + std::to_string(dims);
          EXPECT_TRUE(outputs_match(op, {x}, tol, tol)) << where << " offsets " << off.ndim();
          EXPECT_TRUE(outputs_match(op, {xt}, tol, tol)) << where << " transposed";
        }
      }
    }
    // Sizes the vector paths take (4 pairs per thread for half types, 2 for float32), also with
    // features past dims, and a row-major view one element off alignment (the one-pair path).
    array x16 = random_input({3, 4, 7, 16}, d, -2, 2, 67);
    array flat = random_input({1 + 3 * 4 * 7 * 16}, d, -2, 2, 68);
    array off_by_one = reshape(slice(flat, {1}, {1 + 3 * 4 * 7 * 16}, kCpu), {3, 4, 7, 16}, kCpu);
    for (bool trad : {false, true}) {
      for (int dims : {16, 8}) {
        MultiOp op = [=](const std::vector<array>& in, StreamOrDevice s) {
          return std::vector<array>{fast::rope(in[0], dims, trad, 10000.0f, 1.0f, array({1, 0, 4}), std::nullopt, s)};
        };
        std::string where = dtype_to_string(d) + (trad ? " traditional" : "") + " D 16 dims " + std::to_string(dims);
        EXPECT_TRUE(outputs_match(op, {x16}, tol, tol)) << where;
        EXPECT_TRUE(outputs_match(op, {off_by_one}, tol, tol)) << where << " unaligned";
      }
    }
    MultiOp freqs = [](const std::vector<array>& in, StreamOrDevice s) {
      return std::vector<array>{fast::rope(in[0], 4, false, std::nullopt, 1.0f, 3, array({1.0f, 7.0f}), s)};
    };
    EXPECT_TRUE(outputs_match(freqs, {random_input({2, 5, 6}, d, -2, 2, 62)}, tol, tol)) << d << " freqs";
    EXPECT_TRUE(outputs_match(freqs, {random_input({0, 5, 6}, d, -2, 2, 63)}, tol, tol)) << d << " empty";
    // Gradients: the backward pass turns the other way on the GPU too.
    GpuOp fwd_bwd = [](const std::vector<array>& in, StreamOrDevice s) {
      return grad([s](const array& a) {
        return sum(multiply(fast::rope(a, 8, true, 10000.0f, 1.0f, 5, std::nullopt, s), a, s), false, s);
      })(in[0]);
    };
    EXPECT_TRUE(gpu_matches_cpu(fwd_bwd, {random_input({2, 3, 9, 8}, d, -2, 2, 64)}, tol, tol)) << d;
  }
  // GPT-sized: (8, 12, 1024, 64) bfloat16 (the grid's slices over the leading rows); angles up to
  // 1024 rad, where the devices' exp and sincos differ by about 1e-4.
  MultiOp big = [](const std::vector<array>& in, StreamOrDevice s) {
    return std::vector<array>{fast::rope(in[0], 64, false, 10000.0f, 1.0f, array({0, 5, 9, 100, 3, 1, 2, 7}), std::nullopt, s)};
  };
  EXPECT_TRUE(outputs_match(big, {random_input({8, 12, 1024, 64}, bfloat16, -2, 2, 65)}, 2e-2, 2e-2));
  EXPECT_TRUE(outputs_match(big, {random_input({8, 12, 1024, 64}, float32, -2, 2, 66)}, 1e-3, 1e-3));
}

TEST(FusedGpu, BadInputs) {
  MICA_REQUIRE_GPU();
  // The ops reject bad input before any kernel runs: the same errors for a GPU stream.
  array x = random_input({2, 4}, float32);
  EXPECT_TRUE(throws_op<std::invalid_argument>("layer_norm", [&] { fast::layer_norm(x, ones({3}), std::nullopt, 1e-5f, kGpu); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("layer_norm", [&] {
    fast::layer_norm(random_input({2, 4}, int32), std::nullopt, std::nullopt, 1e-5f, kGpu);
  }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("rms_norm", [&] { fast::rms_norm(x, ones({1, 4}), 1e-5f, kGpu); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("rms_norm", [&] { fast::rms_norm(array(2.0f), std::nullopt, 1e-5f, kGpu); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("gelu", [&] { fast::gelu(astype(x, complex64), kGpu); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("rope", [&] { fast::rope(x, 4, false, 10000.0f, 1.0f, 0, std::nullopt, kGpu); }));
  array h = ones({2, 3}, float16), c = array({1.0f, 1.0f, 1.0f});
  EXPECT_TRUE(throws_op<std::invalid_argument>("adam_step", [&] { fast::adam_step(h, h, h, h, c, 0.9, 0.9, 1e-8, kGpu); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("adam_step", [&] {
    fast::adam_step(x, x, x, ones({4, 2}), c, 0.9, 0.9, 1e-8, kGpu);
  }));
}

}  // namespace
}  // namespace mica::test
