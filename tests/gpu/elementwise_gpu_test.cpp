// GPU-vs-CPU conformance of the unary and binary families (backend/cuda/unary.cu, binary.cu):
// every primitive over every dtype its kernel takes and every layout (row-major, transposed,
// broadcast, sliced, empty, and contiguous but misaligned for vectors), binary ops also with a
// host scalar, a GPU scalar, broadcast pairs and mixed layouts; divmod's two outputs, where,
// NaN and infinity rules, integer wrap-around and shifts, and chains whose buffers are donated.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "gpu/gpu_checks.h"
#include "mica/primitives/binary.h"

namespace mica::test {
namespace {

const Device kCpu(Device::cpu);
constexpr int kRows = 37, kCols = 129;  // odd sizes: vector tails and unaligned rows

using Unary = std::function<array(const array&, StreamOrDevice)>;
using Binary = std::function<array(const array&, const array&, StreamOrDevice)>;

#define U(FN) [](const array& a, StreamOrDevice s) { return FN(a, s); }
#define B(FN) [](const array& a, const array& b, StreamOrDevice s) { return FN(a, b, s); }

const std::vector<Dtype> kFloats{float32, float16, bfloat16, float64};
const std::vector<Dtype> kSigned{int8, int16, int32, int64};
const std::vector<Dtype> kUnsigned{uint8, uint16, uint32, uint64};

std::vector<Dtype> join(std::initializer_list<std::vector<Dtype>> lists) {
  std::vector<Dtype> v;
  for (auto& l : lists) v.insert(v.end(), l.begin(), l.end());
  return v;
}
const std::vector<Dtype> kInts = join({kSigned, kUnsigned});
const std::vector<Dtype> kReal = join({kInts, kFloats});
const std::vector<Dtype> kNumeric = join({kReal, {complex64}});
const std::vector<Dtype> kAll = join({{bool_}, kNumeric});
const std::vector<Dtype> kFloatsC = join({kFloats, {complex64}});

double rtol_for(Dtype d, double rtol) { return d == complex64 ? std::max(rtol, 1e-4) : rtol; }
double atol_for(Dtype d, double atol) { return d == complex64 ? std::max(atol, 1e-5) : atol; }

GpuOp unary_op(const Unary& f) {
  return [f](const std::vector<array>& in, StreamOrDevice s) { return f(in[0], s); };
}
GpuOp binary_op(const Binary& f) {
  return [f](const std::vector<array>& in, StreamOrDevice s) { return f(in[0], in[1], s); };
}

struct UnaryCase {
  const char* name;
  Unary f;
  std::vector<Dtype> dtypes;
  double lo = -2, hi = 2;
  double rtol = 2e-5, atol = 1e-6;
};

void check_unary(const UnaryCase& c) {
  for (Dtype d : c.dtypes) {
    for (auto& [layout, x] : layouts(d, kRows, kCols, c.lo, c.hi)) {
      EXPECT_TRUE(gpu_matches_cpu(unary_op(c.f), {x}, rtol_for(d, c.rtol), atol_for(d, c.atol)))
          << c.name << " " << d << " " << layout;
    }
  }
}

struct BinaryCase {
  const char* name;
  Binary f;
  std::vector<Dtype> dtypes;
  double alo = -2, ahi = 2, blo = -2, bhi = 2;
  double rtol = 1e-5, atol = 1e-6;
};

void check_binary(const BinaryCase& c) {
  for (Dtype d : c.dtypes) {
    double rtol = rtol_for(d, c.rtol), atol = atol_for(d, c.atol);
    auto op = binary_op(c.f);
    auto check = [&](const array& a, const array& b, const std::string& what) {
      EXPECT_TRUE(gpu_matches_cpu(op, {a, b}, rtol, atol)) << c.name << " " << d << " " << what;
    };
    auto as = layouts(d, kRows, kCols, c.alo, c.ahi, 1), bs = layouts(d, kRows, kCols, c.blo, c.bhi, 11);
    for (size_t i = 0; i < as.size(); ++i) check(as[i].second, bs[i].second, as[i].first + " x2");
    // Mixed layouts (general strided path).
    check(as[0].second, bs[1].second, "row-major, transposed");
    check(as[1].second, bs[3].second, "transposed, sliced");
    check(as[2].second, bs[0].second, "broadcast, row-major");
    check(as.back().second, bs[0].second, "offset, row-major");
    // Host scalars on either side, or both.
    array sa = random_input({}, d, c.alo, c.ahi, 21), sb = random_input({}, d, c.blo, c.bhi, 22);
    eval(sa, sb);
    check(as[0].second, sb, "row-major, scalar");
    check(sa, bs[1].second, "scalar, transposed");
    check(as.back().second, sb, "offset, scalar");
    check(as[3].second, sb, "sliced, scalar");
    check(sa, sb, "scalar, scalar");
    // A scalar computed on the device (GPU-resident: read through a pointer, not by value).
    array one = astype(array(1), d, kCpu);
    eval(one);
    GpuOp dev_scalar = [&](const std::vector<array>& in, StreamOrDevice s) {
      return c.f(in[0], multiply(in[1], one, s), s);
    };
    EXPECT_TRUE(gpu_matches_cpu(dev_scalar, {as[0].second, sb}, rtol, atol)) << c.name << " " << d << " gpu scalar";
    // Broadcast pairs: (rows, 1) with (1, cols), and 3-d against 2-d.
    check(random_input({kRows, 1}, d, c.alo, c.ahi, 31), random_input({1, kCols}, d, c.blo, c.bhi, 32), "(rows,1) + (1,cols)");
    check(random_input({3, 1, kCols}, d, c.alo, c.ahi, 33), random_input({kRows, 1}, d, c.blo, c.bhi, 34), "(3,1,cols) + (rows,1)");
  }
}

array from_doubles(std::vector<double> v, Dtype d) {
  array a = astype(array(v.begin(), {static_cast<int>(v.size())}, float64), d, kCpu);
  eval(a);
  return a;
}

// ---------------------------------------------------------------- unary

TEST(GpuUnary, Transcendental) {
  MICA_REQUIRE_GPU();
  const auto fc = kFloatsC;
  const auto f = kFloats;
  std::vector<UnaryCase> cases = {
      {"exp", U(exp), join({fc, {int32}})},
      {"expm1", U(expm1), f},
      {"log", U(log), join({fc, {uint8}}), 0.1, 4},
      {"log2", U(log2), fc, 0.1, 4},
      {"log10", U(log10), fc, 0.1, 4},
      {"log1p", U(log1p), f, -0.5, 3},
      {"sqrt", U(sqrt), join({fc, {int16}}), 0.1, 4},
      {"rsqrt", U(rsqrt), fc, 0.1, 4},
      {"sin", U(sin), fc, -3, 3},
      {"cos", U(cos), fc, -3, 3},
      {"tan", U(tan), fc, -1.2, 1.2},
      {"arcsin", U(arcsin), fc, -0.95, 0.95},
      {"arccos", U(arccos), fc, -0.95, 0.95},
      {"arctan", U(arctan), fc, -3, 3},
      {"sinh", U(sinh), fc},
      {"cosh", U(cosh), fc},
      {"tanh", U(tanh), fc, -1, 1},  // complex tanh has poles at +-i pi/2
      {"arcsinh", U(arcsinh), fc, -3, 3},
      {"arccosh", U(arccosh), fc, 1.05, 4},
      {"arctanh", U(arctanh), fc, -0.95, 0.95},
      {"sigmoid", U(sigmoid), join({f, {bool_}}), -6, 6},
      {"erf", U(erf), f},
      {"erfinv", U(erfinv), f, -0.95, 0.95},
  };
  for (auto& c : cases) check_unary(c);
}

TEST(GpuUnary, Rounding) {
  MICA_REQUIRE_GPU();
  check_unary({"floor", U(floor), kFloats, -5, 5});
  check_unary({"ceil", U(ceil), kFloats, -5, 5});
  check_unary({"round", U(round), kFloatsC, -5, 5});
  // Halves round to even.
  for (Dtype d : kFloatsC) {
    array x = from_doubles({0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, 4.5, -0.0, 1e7 + 0.5}, d);
    EXPECT_TRUE(gpu_matches_cpu(unary_op(U(round)), {x}, 0, 0)) << "round half to even " << d;
  }
}

TEST(GpuUnary, Arithmetic) {
  MICA_REQUIRE_GPU();
  // Integer ranges wide enough that square and negative wrap around in the narrow types.
  for (auto [lo, hi, dtypes] : {std::tuple{-20.0, 20.0, join({kSigned, kFloats, {complex64}})},
                                std::tuple{0.0, 250.0, kUnsigned}}) {
    check_unary({"abs", U(abs), dtypes, lo, hi});
    check_unary({"negative", U(negative), dtypes, lo, hi});
    check_unary({"sign", U(sign), dtypes, lo, hi});
    check_unary({"square", U(square), join({dtypes, {bool_}}), lo, hi});
  }
  // Signs of zeros and NaN (sign(NaN) is 0, as the CPU's comparison form).
  for (Dtype d : kFloats) {
    array x = from_doubles({0.0, -0.0, NAN, -INFINITY, INFINITY, -3.0}, d);
    EXPECT_TRUE(gpu_matches_cpu(unary_op(U(sign)), {x})) << "sign specials " << d;
    EXPECT_TRUE(gpu_matches_cpu(unary_op(U(abs)), {x})) << "abs specials " << d;
  }
}

TEST(GpuUnary, ComplexParts) {
  MICA_REQUIRE_GPU();
  check_unary({"real", U(real), {complex64}});
  check_unary({"imag", U(imag), {complex64}});
  check_unary({"conjugate", U(conjugate), {complex64}});
  check_unary({"abs", U(abs), {complex64}});
}

TEST(GpuUnary, LogicalAndBitwise) {
  MICA_REQUIRE_GPU();
  check_unary({"logical_not", U(logical_not), kAll, -1, 1});
  check_unary({"bitwise_invert", U(bitwise_invert), join({kInts, {bool_}}), -100, 100});
}

TEST(GpuUnary, AsType) {
  MICA_REQUIRE_GPU();
  for (Dtype from : kAll) {
    for (Dtype to : kAll) {
      if (from == to) continue;
      // Negative values have no unsigned counterpart (undefined in C++ on either device).
      double lo = is_unsigned(to) ? 0 : -4;
      for (auto& [layout, x] : layouts(from, kRows, kCols, lo, 100)) {
        GpuOp op = [to](const std::vector<array>& in, StreamOrDevice s) { return astype(in[0], to, s); };
        EXPECT_TRUE(gpu_matches_cpu(op, {x})) << "astype " << from << " -> " << to << " " << layout;
      }
    }
  }
  // A host scalar converts on the host and reaches the next kernel by value.
  array x = random_array({kRows, kCols}, float32);
  GpuOp op = [](const std::vector<array>& in, StreamOrDevice s) {
    return add(in[0], astype(in[1], float32, s), s);
  };
  EXPECT_TRUE(gpu_matches_cpu(op, {x, array(3, int32)}));
}

TEST(GpuUnary, StopGradientAndDonation) {
  MICA_REQUIRE_GPU();
  check_unary({"stop_gradient", U(stop_gradient), {float32, int32}});
  // Intermediates nobody else holds give their buffers to the next op (written in place).
  for (Dtype d : {float32, float16, float64}) {
    for (auto& [layout, x] : layouts(d, kRows, kCols, -2, 2)) {
      GpuOp chain = [](const std::vector<array>& in, StreamOrDevice s) {
        return tanh(exp(negative(sin(in[0], s), s), s), s);
      };
      EXPECT_TRUE(gpu_matches_cpu(chain, {x}, 2e-5, 1e-6)) << "chain " << d << " " << layout;
    }
  }
}

// ---------------------------------------------------------------- binary

TEST(GpuBinary, Arithmetic) {
  MICA_REQUIRE_GPU();
  // Integer ranges wide enough to wrap around in the narrow types.
  check_binary({"add", B(add), kAll, -100, 100, -100, 100});
  check_binary({"subtract", B(subtract), kNumeric, -100, 100, -100, 100});
  check_binary({"multiply", B(multiply), kAll, -20, 20, -20, 20});
  check_binary({"divide", B(divide), kFloatsC, -4, 4, 0.5, 3});
  check_binary({"maximum", B(maximum), kAll, -3, 3, -3, 3});
  check_binary({"minimum", B(minimum), kAll, -3, 3, -3, 3});
  check_binary({"arctan2", B(arctan2), kFloats, -2, 2, -2, 2, 2e-5});
  check_binary({"logaddexp", B(logaddexp), kFloats, -5, 5, -5, 5, 2e-5});
}

TEST(GpuBinary, FloorDivisionAndRemainder) {
  MICA_REQUIRE_GPU();
  auto quotient = [](const array& a, const array& b, StreamOrDevice s) { return divmod(a, b, s)[0]; };
  auto rem = [](const array& a, const array& b, StreamOrDevice s) { return divmod(a, b, s)[1]; };
  // Positive divisors for every real dtype, negative ones for the signed.
  for (auto [lo, hi, dtypes] : {std::tuple{1.0, 6.0, kReal}, std::tuple{-6.0, -1.0, join({kSigned, kFloats})}}) {
    double flo = lo, fhi = hi;
    check_binary({"floor_divide", B(floor_divide), dtypes, -30, 30, flo, fhi});
    check_binary({"remainder", B(remainder), dtypes, -30, 30, flo, fhi});
    check_binary({"divmod[0]", quotient, dtypes, -30, 30, flo, fhi});
    check_binary({"divmod[1]", rem, dtypes, -30, 30, flo, fhi});
  }
  // Integer division by zero gives 0 on both devices.
  for (Dtype d : kInts) {
    array a = from_doubles({7, 0, 5, 100}, d), b = from_doubles({0, 0, 3, 0}, d);
    EXPECT_TRUE(gpu_matches_cpu(binary_op(B(floor_divide)), {a, b})) << "x // 0 " << d;
    EXPECT_TRUE(gpu_matches_cpu(binary_op(B(remainder)), {a, b})) << "x % 0 " << d;
  }
}

TEST(GpuBinary, Power) {
  MICA_REQUIRE_GPU();
  check_binary({"power", B(power), kInts, -3, 3, 0, 6});
  check_binary({"power negative exponents", B(power), kSigned, -3, 3, -3, 3});
  check_binary({"power", B(power), kFloats, 0.5, 2, -2, 2, 2e-5});
  check_binary({"power", B(power), {complex64}, 0.5, 2, -1, 1});
}

TEST(GpuBinary, Comparisons) {
  MICA_REQUIRE_GPU();
  std::vector<std::pair<const char*, Binary>> ops = {
      {"equal", B(equal)},           {"not_equal", B(not_equal)}, {"greater", B(greater)},
      {"greater_equal", B(greater_equal)}, {"less", B(less)},     {"less_equal", B(less_equal)}};
  for (auto& [name, f] : ops) {
    check_binary({name, f, kAll, -3, 3, -3, 3});
    // Equal operands (floats are rarely equal at random).
    for (Dtype d : kAll) {
      auto ls = layouts(d, kRows, kCols, -3, 3);
      EXPECT_TRUE(gpu_matches_cpu(binary_op(f), {ls[0].second, ls[0].second})) << name << " self " << d;
      EXPECT_TRUE(gpu_matches_cpu(binary_op(f), {ls[1].second, ls[1].second})) << name << " self " << d;
    }
  }
}

TEST(GpuBinary, NanAndInfinity) {
  MICA_REQUIRE_GPU();
  for (Dtype d : kFloats) {
    array a = from_doubles({1, NAN, 3, -INFINITY, NAN, INFINITY, -INFINITY, 2}, d);
    array b = from_doubles({NAN, 2, 1, 5, NAN, 1, -INFINITY, INFINITY}, d);
    for (auto& [name, f] : std::vector<std::pair<const char*, Binary>>{{"maximum", B(maximum)},
                                                                      {"minimum", B(minimum)},
                                                                      {"logaddexp", B(logaddexp)},
                                                                      {"equal", B(equal)},
                                                                      {"not_equal", B(not_equal)},
                                                                      {"less", B(less)},
                                                                      {"greater_equal", B(greater_equal)}}) {
      EXPECT_TRUE(gpu_matches_cpu(binary_op(f), {a, b})) << name << " specials " << d;
    }
    // equal with equal_nan (array_equal's primitive), built directly.
    GpuOp eq_nan = [](const std::vector<array>& in, StreamOrDevice s) {
      return array(in[0].shape(), bool_, std::make_shared<Equal>(to_stream(s), true), {in[0], in[1]});
    };
    EXPECT_TRUE(gpu_matches_cpu(eq_nan, {a, b})) << "equal_nan " << d;
  }
}

TEST(GpuBinary, LogicalAndBitwise) {
  MICA_REQUIRE_GPU();
  check_binary({"logical_and", B(logical_and), {bool_, float32}, -1, 1, -1, 1});
  check_binary({"logical_or", B(logical_or), {bool_, float32}, -1, 1, -1, 1});
  auto bits = join({kInts, {bool_}});
  check_binary({"bitwise_and", B(bitwise_and), bits, -100, 100, -100, 100});
  check_binary({"bitwise_or", B(bitwise_or), bits, -100, 100, -100, 100});
  check_binary({"bitwise_xor", B(bitwise_xor), bits, -100, 100, -100, 100});
  // Shifts within the width, then by negative amounts and past the width (0, or -1 for a
  // right shift of a negative value).
  check_binary({"left_shift", B(left_shift), kInts, -100, 100, 0, 7});
  check_binary({"right_shift", B(right_shift), kInts, -100, 100, 0, 7});
  check_binary({"left_shift", B(left_shift), kInts, -100, 100, -2, 70});
  check_binary({"right_shift", B(right_shift), kInts, -100, 100, -2, 70});
}

TEST(GpuBinary, Where) {
  MICA_REQUIRE_GPU();
  GpuOp op = [](const std::vector<array>& in, StreamOrDevice s) { return where(in[0], in[1], in[2], s); };
  auto conds = layouts(bool_, kRows, kCols, -1, 1, 41);
  for (Dtype d : kAll) {
    auto xs = layouts(d, kRows, kCols, -3, 3, 1), ys = layouts(d, kRows, kCols, -3, 3, 11);
    for (size_t i = 0; i < conds.size(); ++i) {
      EXPECT_TRUE(gpu_matches_cpu(op, {conds[i].second, xs[i].second, ys[i].second})) << "where " << d << " " << xs[i].first;
    }
    array sx = random_input({}, d, -3, 3, 21), sy = random_input({}, d, -3, 3, 22);
    eval(sx, sy);
    EXPECT_TRUE(gpu_matches_cpu(op, {conds[0].second, xs[0].second, sy})) << "where " << d << " scalar y";
    EXPECT_TRUE(gpu_matches_cpu(op, {conds[1].second, sx, ys[1].second})) << "where " << d << " scalar x";
    EXPECT_TRUE(gpu_matches_cpu(op, {conds[0].second, sx, sy})) << "where " << d << " two scalars";
    EXPECT_TRUE(gpu_matches_cpu(op, {conds[0].second, xs[1].second, ys[3].second})) << "where " << d << " mixed";
    EXPECT_TRUE(gpu_matches_cpu(op, {random_input({kRows, 1}, bool_, -1, 1, 43), random_input({1, kCols}, d, -3, 3, 44), sy}))
        << "where " << d << " broadcast";
  }
}

TEST(GpuBinary, Donation) {
  MICA_REQUIRE_GPU();
  // Intermediates nobody else holds give their buffers to the next op (written in place).
  for (Dtype d : {float32, int32, float16}) {
    auto as = layouts(d, kRows, kCols, 1, 5, 1), bs = layouts(d, kRows, kCols, 1, 5, 11);
    for (size_t i = 0; i < as.size(); ++i) {
      GpuOp chain = [](const std::vector<array>& in, StreamOrDevice s) {
        array t = multiply(add(in[0], in[1], s), in[1], s);
        auto qr = divmod(subtract(t, in[0], s), in[1], s);
        return where(greater(qr[0], qr[1], s), add(qr[0], qr[1], s), qr[1], s);
      };
      EXPECT_TRUE(gpu_matches_cpu(chain, {as[i].second, bs[i].second})) << "chain " << d << " " << as[i].first;
    }
  }
}

// Floating -> integer on NaN, infinities, negatives and values out of range: the GPU gives the
// CPU's defined result (types/float_to_int.h) for every source and target dtype.
TEST(GpuBinary, FloatToIntEveryInput) {
  MICA_REQUIRE_GPU();
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  array x = array({-1.0f, 300.0f, -3e9f, 3e9f, nan, inf, -inf, 1e20f, -1e20f, 2.5f, -2.5f, 70000.0f, -40000.0f,
                   9.3e18f, 1.8e19f, -0.0f});
  for (Dtype from : {float32, float64, float16, bfloat16}) {
    array xf = astype(x, from, Device(Device::cpu));
    eval(xf);
    for (Dtype to : {uint8, int8, uint16, int16, uint32, int32, uint64, int64}) {
      EXPECT_TRUE(gpu_matches_cpu([to](auto& in, StreamOrDevice s) { return astype(in[0], to, s); }, {xf}))
          << dtype_to_string(from) << " -> " << dtype_to_string(to);
    }
  }
}

}  // namespace
}  // namespace mica::test
