// GPU-vs-CPU conformance of the reduce family (backend/cuda/reduce.cu, reduce_rows.cu, scan.cu):
// Reduce (all/any/sum/prod/min/max) and ArgReduce over every dtype, single, multiple and all
// axes, keepdims or not, on every layout, 3-d and 4-d inputs with middle axes, and rows longer
// than a block (1 x 100000, 100000 x 3: the split paths); Scan (cumsum/cumprod/cummax/cummin/
// logcumsumexp) along each axis, reverse and exclusive; Softmax, LogSumExp and Variance over
// the last axis (and a moved axis) for the float dtypes; NaN, infinity, ties and empty axes.
// DISABLED_Bench prints timings of the benchmark cases (--gtest_also_run_disabled_tests).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "gpu/gpu_checks.h"

namespace mica::test {
namespace {

const Device kCpu(Device::cpu);
constexpr int kRows = 37, kCols = 129;  // odd sizes: vector tails and unaligned rows
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

const std::vector<Dtype> kFloats{float32, float16, bfloat16, float64};
const std::vector<Dtype> kInts{int8, int16, int32, int64, uint8, uint16, uint32, uint64};
const std::vector<Dtype> kAll{bool_, int8, int16, int32, int64, uint8, uint16, uint32, uint64,
                              float32, float16, bfloat16, float64, complex64};

// Tolerances for a float reduction over `n` elements (rounding grows with the length).
double rtol_n(Dtype d, int64_t n) {
  double eps = d == float64 ? 1e-13 : 1e-6;
  return std::max(d == float64 ? 1e-12 : 1e-5, eps * std::sqrt(static_cast<double>(n)));
}
double atol_n(Dtype d, int64_t n) { return (d == float64 ? 1e-13 : 2e-7) * static_cast<double>(n); }

testing::AssertionResult check(const GpuOp& op, const std::vector<array>& in, double rtol = 1e-5, double atol = 1e-6) {
  return gpu_matches_cpu(op, in, rtol, atol);
}

std::string axes_str(const std::vector<int>& ax) {
  std::string s = "{";
  for (int a : ax) s += std::to_string(a) + ",";
  return s + "}";
}

using AxesOp = std::function<array(const array&, const std::vector<int>&, bool, StreamOrDevice)>;
#define AX(FN) [](const array& a, const std::vector<int>& ax, bool kd, StreamOrDevice s) { return FN(a, ax, kd, s); }

struct Named {
  const char* name;
  AxesOp op;
};
const std::vector<Named> kReduceOps{{"sum", AX(sum)}, {"prod", AX(prod)}, {"max", AX(max)},
                                    {"min", AX(min)}, {"all", AX(all)},   {"any", AX(any)}};

// Checks every reduce op over `axes` of `a`, keepdims and not.
void check_reduce(const array& a, const std::vector<int>& axes, const std::string& where) {
  int64_t n = 1;
  for (int ax : axes) n *= a.shape()[ax];
  for (auto& r : kReduceOps) {
    bool minmax = std::string(r.name) == "max" || std::string(r.name) == "min";
    if (minmax && a.size() == 0) continue;  // an error on every device
    for (bool kd : {false, true}) {
      SCOPED_TRACE(where + " " + r.name + " axes " + axes_str(axes) + (kd ? " keepdims" : ""));
      auto op = [&](const std::vector<array>& in, StreamOrDevice s) { return r.op(in[0], axes, kd, s); };
      bool prod = std::string(r.name) == "prod";
      // Complex products of wide-range factors lose a component to cancellation: see below.
      if (prod && a.dtype() == complex64) continue;
      EXPECT_TRUE(check(op, {a}, prod ? 1e-4 : rtol_n(a.dtype(), n), prod ? 1e-6 : atol_n(a.dtype(), n)));
    }
  }
}

TEST(ReduceGpu, LayoutsEveryDtype) {
  MICA_REQUIRE_GPU();
  for (Dtype d : kAll) {
    // Products stay finite with factors near 1.
    for (auto& [name, a] : layouts(d, kRows, kCols, d == bool_ ? 0 : -2, 2)) {
      std::string where = dtype_to_string(d) + " " + name;
      for (auto axes : std::vector<std::vector<int>>{{0}, {1}, {0, 1}}) check_reduce(a, axes, where);
    }
    if (!is_inexact(d)) continue;
    for (auto& [name, a] : layouts(d, kRows, kCols, 0.5, 1.5)) {
      for (int ax : {0, 1}) {
        SCOPED_TRACE(dtype_to_string(d) + " " + name + " prod axis " + std::to_string(ax));
        auto op = [ax](const std::vector<array>& in, StreamOrDevice s) { return prod(in[0], ax, false, s); };
        // A complex product's components cancel: its error scales with the product's modulus.
        double atol = 1e-6;
        if (d == complex64 && a.size() > 0) atol = 1e-4 * max(abs(prod(a, ax, false, kCpu), kCpu), kCpu).item<float>();
        EXPECT_TRUE(check(op, {a}, 1e-4, atol));
      }
    }
  }
}

// Complex factors near 1 (real part in [0.9, 1.1], imaginary in [-0.05, 0.05]): products whose
// components stay well away from cancellation.
array near_one_complex(const Shape& shape, uint32_t seed) {
  array re = astype(random_array(shape, float32, 0.9, 1.1, seed), complex64, kCpu);
  array im = astype(random_array(shape, float32, -0.05, 0.05, seed + 1), complex64, kCpu);
  array z = add(re, multiply(im, array(complex64_t(0.0f, 1.0f)), kCpu), kCpu);
  eval(z);
  return z;
}

TEST(ReduceGpu, ComplexProducts) {
  MICA_REQUIRE_GPU();
  array z = near_one_complex({kRows, kCols}, 3);
  for (const array& a : {z, transpose(near_one_complex({kCols, kRows}, 5), kCpu)}) {
    for (auto axes : std::vector<std::vector<int>>{{0}, {1}, {0, 1}}) {
      SCOPED_TRACE("complex prod axes " + axes_str(axes));
      auto op = [&](const std::vector<array>& in, StreamOrDevice s) { return prod(in[0], axes, false, s); };
      EXPECT_TRUE(check(op, {a}, 1e-4, 1e-5));
    }
    for (int ax : {0, 1}) {
      for (bool rev : {false, true}) {
        SCOPED_TRACE("complex cumprod axis " + std::to_string(ax));
        auto op = [&](const std::vector<array>& in, StreamOrDevice s) { return cumprod(in[0], ax, rev, true, s); };
        EXPECT_TRUE(check(op, {a}, 1e-4, 1e-5));
      }
    }
  }
}

TEST(ReduceGpu, MiddleAxesAndPermutations) {
  MICA_REQUIRE_GPU();
  for (Dtype d : {float32, int32, bfloat16, uint8, bool_, complex64, float64}) {
    array a3 = random_input({6, 7, 65}, d);
    array p3 = transpose(random_input({65, 6, 7}, d, -2, 2, 9), {1, 2, 0}, kCpu);  // dense, permuted
    array q3 = transpose(random_input({7, 6, 65}, d, -2, 2, 10), {1, 0, 2}, kCpu);  // kept dims reordered in memory
    array a4 = random_input({3, 4, 5, 6}, d);
    std::vector<std::vector<int>> ax3{{0}, {1}, {2}, {0, 1}, {1, 2}, {0, 2}, {0, 1, 2}};
    for (auto& ax : ax3) {
      check_reduce(a3, ax, dtype_to_string(d) + " 3-d");
      check_reduce(p3, ax, dtype_to_string(d) + " 3-d permuted");
      check_reduce(q3, ax, dtype_to_string(d) + " 3-d reordered");
    }
    for (auto ax : std::vector<std::vector<int>>{{0, 2}, {1, 3}, {0, 3}, {1, 2}, {0, 1, 3}, {3}, {0, 1, 2, 3}}) {
      check_reduce(a4, ax, dtype_to_string(d) + " 4-d");
    }
    // Size-1 reduced dims (a conversion) and a 0-d input.
    check_reduce(random_input({5, 1, 9}, d), {1}, dtype_to_string(d) + " size-1 axis");
    check_reduce(random_input({}, d), {}, dtype_to_string(d) + " 0-d");
  }
}

TEST(ReduceGpu, LongRowsAndColumns) {
  MICA_REQUIRE_GPU();
  for (Dtype d : {float32, bfloat16, int32, int8, bool_, float64, complex64}) {
    std::string dn = dtype_to_string(d);
    for (auto shape : std::vector<Shape>{{1, 100000}, {100000, 3}, {3, 100000}, {4096, 300}, {300, 4096}, {2, 70001}}) {
      array a = random_input(shape, d, d == bool_ ? 0 : -2, 2, 11);
      std::string where = dn + " " + std::to_string(shape[0]) + "x" + std::to_string(shape[1]);
      for (auto axes : std::vector<std::vector<int>>{{0}, {1}, {0, 1}}) {
        int64_t n = 1;
        for (int ax : axes) n *= shape[ax];
        for (auto& r : kReduceOps) {
          if (std::string(r.name) == "prod") continue;
          SCOPED_TRACE(where + " " + r.name + " axes " + axes_str(axes));
          auto op = [&](const std::vector<array>& in, StreamOrDevice s) { return r.op(in[0], axes, false, s); };
          EXPECT_TRUE(check(op, {a}, rtol_n(d, n), atol_n(d, n)));
        }
      }
    }
  }
  // A sum over 2^24 + 3 elements (the all-reduce split over the whole GPU).
  array big = random_input({(1 << 24) + 3}, float32, 0, 1, 12);
  EXPECT_TRUE(check([](const std::vector<array>& in, StreamOrDevice s) { return sum(in[0], false, s); }, {big}, 1e-5, 0));
  EXPECT_TRUE(check([](const std::vector<array>& in, StreamOrDevice s) { return max(in[0], false, s); }, {big}));
}

TEST(ReduceGpu, SpecialValues) {
  MICA_REQUIRE_GPU();
  std::vector<double> v{1, kNaN, 3, -kInf, 2, kInf, 5, -1, 0, kNaN, 7, 7};
  for (Dtype d : kFloats) {
    array a = array(v.begin(), {3, 4}, d);
    array b = transpose(a, kCpu);
    for (const array& x : {a, b}) {
      for (int ax : {0, 1}) {
        for (auto& r : kReduceOps) {
          SCOPED_TRACE(dtype_to_string(d) + " " + r.name + " axis " + std::to_string(ax));
          auto op = [&](const std::vector<array>& in, StreamOrDevice s) { return r.op(in[0], {ax}, false, s); };
          EXPECT_TRUE(check(op, {x}));
        }
      }
    }
  }
  // Reductions over an empty axis give the identity.
  for (Dtype d : kAll) {
    array e = random_input({4, 0, 3}, d);
    for (auto& r : kReduceOps) {
      if (std::string(r.name) == "max" || std::string(r.name) == "min") continue;
      SCOPED_TRACE(dtype_to_string(d) + " empty " + r.name);
      auto op = [&](const std::vector<array>& in, StreamOrDevice s) { return r.op(in[0], {1}, false, s); };
      EXPECT_TRUE(check(op, {e}));
    }
  }
}

// ---- ArgReduce ----

void check_arg(const array& a, const std::string& where) {
  for (bool is_max : {true, false}) {
    for (int ax = -1; ax < static_cast<int>(a.ndim()); ++ax) {  // -1 here: the flattened array
      for (bool kd : {false, true}) {
        SCOPED_TRACE(where + (is_max ? " argmax" : " argmin") + " axis " + std::to_string(ax) + (kd ? " keepdims" : ""));
        auto op = [&](const std::vector<array>& in, StreamOrDevice s) {
          if (ax < 0) return is_max ? argmax(in[0], kd, s) : argmin(in[0], kd, s);
          return is_max ? argmax(in[0], ax, kd, s) : argmin(in[0], ax, kd, s);
        };
        EXPECT_TRUE(check(op, {a}));
      }
    }
  }
}

TEST(ArgReduceGpu, LayoutsEveryDtype) {
  MICA_REQUIRE_GPU();
  for (Dtype d : kAll) {
    for (auto& [name, a] : layouts(d, kRows, kCols)) {
      if (a.size() == 0) continue;  // an error on every device
      check_arg(a, dtype_to_string(d) + " " + name);
    }
    check_arg(random_input({5, 6, 33}, d), dtype_to_string(d) + " 3-d");
    check_arg(transpose(random_input({33, 5, 6}, d), {1, 2, 0}, kCpu), dtype_to_string(d) + " 3-d permuted");
  }
}

// NumberOfElements writes one value of every dtype on the GPU's stream (reciprocal too).
TEST(NumberOfElementsGpu, EveryDtype) {
  MICA_REQUIRE_GPU();
  array x = random_input({5, 6, 7}, float32);
  for (Dtype d : kAll) {
    for (bool inverted : {false, true}) {
      if (inverted && !is_floating(d)) continue;
      EXPECT_TRUE(check([&](const std::vector<array>& in, StreamOrDevice s) {
        return number_of_elements(in[0], {0, 2}, inverted, d, s);
      }, {x})) << dtype_to_string(d) << (inverted ? " inverted" : "");
    }
  }
}

TEST(ArgReduceGpu, LongAndSpecial) {
  MICA_REQUIRE_GPU();
  for (Dtype d : {float32, bfloat16, int8, uint32, bool_, float64, complex64}) {
    for (auto shape : std::vector<Shape>{{1, 100000}, {100000, 3}, {3, 100000}, {4096, 300}}) {
      check_arg(random_input(shape, d, -2, 2, 21), dtype_to_string(d) + " " + std::to_string(shape[0]) + "x" + std::to_string(shape[1]));
    }
  }
  // Ties take the first index; a NaN counts as the extreme (its first index).
  std::vector<double> v{1, kNaN, 3, 3, -kInf, 2, kNaN, 5, 7, 7, -1, -1};
  for (Dtype d : kFloats) {
    check_arg(array(v.begin(), {3, 4}, d), dtype_to_string(d) + " special");
    check_arg(transpose(array(v.begin(), {3, 4}, d), kCpu), dtype_to_string(d) + " special transposed");
  }
  // A long row whose NaN and extremes sit in different blocks.
  std::vector<float> w(200000, 1.0f);
  w[150001] = 9.0f;
  w[170000] = 9.0f;
  w[190000] = -9.0f;
  check_arg(array(w.begin(), {1, 200000}, float32), "long row ties");
  w[160000] = std::numeric_limits<float>::quiet_NaN();
  check_arg(array(w.begin(), {1, 200000}, float32), "long row NaN");
}

// ---- Scan ----

using ScanFn = std::function<array(const array&, int, bool, bool, StreamOrDevice)>;
#define SC(FN) [](const array& a, int ax, bool r, bool inc, StreamOrDevice s) { return FN(a, ax, r, inc, s); }
struct NamedScan {
  const char* name;
  ScanFn op;
};
const std::vector<NamedScan> kScans{{"cumsum", SC(cumsum)}, {"cumprod", SC(cumprod)}, {"cummax", SC(cummax)},
                                    {"cummin", SC(cummin)}, {"logcumsumexp", SC(logcumsumexp)}};

void check_scan(const array& a, const std::string& where, bool long_rows = false) {
  for (auto& sc : kScans) {
    std::string name = sc.name;
    if ((name == "logcumsumexp" || name == "cumprod") && a.dtype() == complex64) continue;  // cumprod: see ComplexProducts
    if (name == "cumprod" && long_rows && is_inexact(a.dtype())) continue;  // under/overflow noise
    for (int ax = 0; ax < static_cast<int>(a.ndim()); ++ax) {
      int64_t n = a.ndim() ? a.shape()[ax] : 1;
      for (bool rev : {false, true}) {
        for (bool inc : {true, false}) {
          SCOPED_TRACE(where + " " + name + " axis " + std::to_string(ax) + (rev ? " reverse" : "") + (inc ? "" : " exclusive"));
          auto op = [&](const std::vector<array>& in, StreamOrDevice s) { return sc.op(in[0], ax, rev, inc, s); };
          Dtype d = a.dtype();
          bool sum_like = name == "cumsum" || name == "logcumsumexp";
          double rtol = sum_like ? rtol_n(d, n) : 1e-4, atol = sum_like ? atol_n(d, n) : 1e-6;
          if (name == "logcumsumexp") rtol = std::max(rtol, 1e-5);
          EXPECT_TRUE(check(op, {a}, rtol, std::max(atol, 1e-6)));
        }
      }
    }
  }
}

TEST(ScanGpu, LayoutsEveryDtype) {
  MICA_REQUIRE_GPU();
  for (Dtype d : kAll) {
    // Factors near 1 keep products finite (integers: -1, 0, 1 wrap identically everywhere).
    double lo = d == bool_ ? 0 : (is_inexact(d) ? 0.5 : -1), hi = is_inexact(d) ? 1.5 : 1;
    for (auto& [name, a] : layouts(d, kRows, kCols, lo, hi)) check_scan(a, dtype_to_string(d) + " " + name);
    check_scan(random_input({4, 5, 67}, d, lo, hi, 31), dtype_to_string(d) + " 3-d");
  }
}

TEST(ScanGpu, LongAndSpecial) {
  MICA_REQUIRE_GPU();
  for (Dtype d : {float32, bfloat16, int32, int8, bool_, float64, complex64}) {
    for (auto shape : std::vector<Shape>{{1, 100000}, {100000, 3}, {3, 70001}, {2048, 520}, {8, 1000}, {1000, 8}}) {
      check_scan(random_input(shape, d, d == bool_ ? 0 : -2, 2, 41),
                 dtype_to_string(d) + " " + std::to_string(shape[0]) + "x" + std::to_string(shape[1]), true);
    }
  }
  std::vector<double> v{1, kNaN, 3, -kInf, 2, kInf, 5, -1, -kInf, -kInf, 7, kNaN};
  for (Dtype d : kFloats) {
    check_scan(array(v.begin(), {3, 4}, d), dtype_to_string(d) + " special");
    check_scan(transpose(array(v.begin(), {3, 4}, d), kCpu), dtype_to_string(d) + " special transposed");
  }
}

// ---- Softmax, LogSumExp, Variance ----

struct NamedRow {
  const char* name;
  std::function<array(const array&, int, StreamOrDevice)> op;
};
const std::vector<NamedRow> kRowOps{
    {"softmax", [](const array& a, int ax, StreamOrDevice s) { return softmax(a, ax, false, s); }},
    {"softmax precise", [](const array& a, int ax, StreamOrDevice s) { return softmax(a, ax, true, s); }},
    {"logsumexp", [](const array& a, int ax, StreamOrDevice s) { return logsumexp(a, ax, false, s); }},
    {"logsumexp keepdims", [](const array& a, int ax, StreamOrDevice s) { return logsumexp(a, ax, true, s); }},
    {"var", [](const array& a, int ax, StreamOrDevice s) { return var(a, ax, false, 0, s); }},
    {"var ddof=1", [](const array& a, int ax, StreamOrDevice s) { return var(a, ax, true, 1, s); }},
    {"std", [](const array& a, int ax, StreamOrDevice s) { return std(a, ax, false, 0, s); }},
};

void check_rows(const array& a, const std::string& where, bool both_axes = true) {
  for (auto& r : kRowOps) {
    std::string name = r.name;
    bool lse = name.rfind("logsumexp", 0) == 0;
    for (int ax : {-1, 0}) {
      if (ax == 0 && (!both_axes || a.ndim() < 2)) continue;
      int64_t n = a.ndim() ? a.shape()[ax < 0 ? a.ndim() - 1 : ax] : 1;
      if (lse && a.size() == 0) continue;  // an error on every device
      SCOPED_TRACE(where + " " + name + " axis " + std::to_string(ax));
      auto op = [&](const std::vector<array>& in, StreamOrDevice s) { return r.op(in[0], ax, s); };
      double rtol = a.dtype() == float64 ? 1e-10 : (n > 10000 ? 1e-4 : 1e-5);
      EXPECT_TRUE(check(op, {a}, rtol, a.dtype() == float64 ? 1e-12 : 1e-6));
    }
  }
}

TEST(RowsGpu, LayoutsAndSizes) {
  MICA_REQUIRE_GPU();
  for (Dtype d : kFloats) {
    std::string dn = dtype_to_string(d);
    for (auto& [name, a] : layouts(d, kRows, kCols, -4, 4)) check_rows(a, dn + " " + name);
    // Row lengths around each kernel's boundaries: warp rows, 1..8 vectors a thread, a block
    // of 32..512 threads, and the two-read kernel past 16K (8K for float64) elements.
    for (int n : {1, 3, 8, 31, 100, 128, 1000, 1024, 1029, 4096, 8192, 8195, 16384, 16385, 40000, 100000}) {
      int rows = n >= 16384 ? 2 : (n >= 1000 ? 5 : 33);
      check_rows(random_input({rows, n}, d, -4, 4, n), dn + " n=" + std::to_string(n), n < 5000);
    }
    check_rows(random_input({100000, 3}, d, -4, 4, 3), dn + " 100000x3");
    check_rows(random_input({3, 5, 0}, d), dn + " empty rows", false);
    check_rows(random_input({2, 3, 7}, d), dn + " 3-d");
  }
  // Integer inputs are converted to float32 by the ops first.
  check_rows(random_input({9, 50}, int32, -20, 20), "int32");
  // Variance with n - ddof <= 0 divides by zero.
  for (Dtype d : kFloats) {
    auto op = [](const std::vector<array>& in, StreamOrDevice s) { return var(in[0], -1, false, 2, s); };
    EXPECT_TRUE(check(op, {random_input({4, 2}, d)}));
    EXPECT_TRUE(check(op, {random_input({4, 1}, d)}));
  }
}

TEST(RowsGpu, SpecialValues) {
  MICA_REQUIRE_GPU();
  // Rows: finite; with a NaN; with +inf; all -inf; -inf and finite; -inf and NaN; +inf and NaN.
  std::vector<double> v{1,    2,    3,    4,    1,     kNaN, 3,     4,     1,     kInf, 3,     4,     -kInf, -kInf,
                        -kInf, -kInf, -kInf, 2, -kInf, 4,    -kInf, kNaN,  -kInf, -kInf, kInf,  kNaN, 1,     2};
  for (Dtype d : kFloats) {
    array a = array(v.begin(), {7, 4}, d);
    check_rows(a, dtype_to_string(d) + " special", false);
    // The same rows long enough for the two-read kernel.
    array wide = broadcast_to(reshape(a, {7, 4, 1}, kCpu), {7, 4, 5000}, kCpu);
    check_rows(reshape(wide, {7, 20000}, kCpu), dtype_to_string(d) + " special wide", false);
  }
}

// ---- timings of the benchmark cases (not a test) ----

double median_ms(const std::function<array()>& f, int reps = 10) {
  eval(f());
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    array r = f();
    eval(r);
    r.item<float>();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

TEST(ReduceGpu, DISABLED_Bench) {
  MICA_REQUIRE_GPU();
  Device gpu(Device::gpu);
  auto report = [](const char* name, double ms, double bytes) {
    std::printf("%-28s %9.3f ms %8.0f GB/s\n", name, ms, bytes / ms / 1e6);
  };
  for (Dtype d : {float32, bfloat16}) {
    const int64_t n = int64_t(1) << 28;
    array a = astype(random::uniform({static_cast<int>(n)}, float32, std::nullopt, gpu), d, gpu);
    eval(a);
    double es = d == float32 ? 4 : 2, mb = 8192.0 * 8192 * es;
    array m = reshape(slice(a, {0}, {8192 * 8192}, gpu), {8192, 8192}, gpu);
    eval(m);
    std::string sfx = d == float32 ? "_f32" : "_bf16";
    auto first = [&](const array& r) { return slice(reshape(r, {static_cast<int>(r.size())}, gpu), {0}, {1}, gpu); };
    // copy() shares its input's buffer (as MLX's): negative is the read-once, write-once peer.
    report(("negative" + sfx).c_str(), median_ms([&] { return first(negative(a, gpu)); }), 2 * n * es);
    report(("sum_all" + sfx).c_str(), median_ms([&] { return sum(a, false, gpu); }), n * es);
    report(("sum_rows" + sfx).c_str(), median_ms([&] { return first(sum(m, -1, false, gpu)); }), mb);
    report(("sum_cols" + sfx).c_str(), median_ms([&] { return first(sum(m, 0, false, gpu)); }), mb);
    report(("max_rows" + sfx).c_str(), median_ms([&] { return first(max(m, -1, false, gpu)); }), mb);
    report(("argmax_all" + sfx).c_str(), median_ms([&] { return argmax(a, false, gpu); }), n * es);
    report(("argmax_rows" + sfx).c_str(), median_ms([&] { return first(argmax(m, -1, false, gpu)); }), mb);
    report(("softmax" + sfx).c_str(), median_ms([&] { return first(softmax(m, -1, false, gpu)); }), 2 * mb);
    report(("logsumexp" + sfx).c_str(), median_ms([&] { return first(logsumexp(m, -1, false, gpu)); }), mb);
    report(("var_rows" + sfx).c_str(), median_ms([&] { return first(var(m, -1, false, 0, gpu)); }), mb);
    report(("cumsum_rows" + sfx).c_str(), median_ms([&] { return first(cumsum(m, -1, false, true, gpu)); }), 2 * mb);
    report(("cumsum_cols" + sfx).c_str(), median_ms([&] { return first(cumsum(m, 0, false, true, gpu)); }), 2 * mb);
    report(("cumsum_all" + sfx).c_str(), median_ms([&] { return first(cumsum(a, 0, false, true, gpu)); }), 2 * n * es);
  }
}

}  // namespace
}  // namespace mica::test
