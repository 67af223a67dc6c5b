// GPU-vs-CPU conformance of the sort family (backend/cuda/sort.cu): Sort and ArgSort equal the
// CPU's results exactly (values compared as numbers: -0.0 == +0.0, NaN == NaN; indices
// bit for bit, so ArgSort's tie order is checked); Partition and ArgPartition are checked for
// the partition property against the CPU's sort (the kth entry is the CPU's kth of the sort,
// smaller entries before it, larger after; for ArgPartition on (value, index) pairs). Every
// dtype, every axis of 1-3-d arrays, rows of 0, 1, 2, 31, 32, 33, 1000, 4096, 4097, 5000 and
// 2^20 elements (each kernel path: warp, block, long rows row by row and segmented), NaNs of
// either sign and with payloads, infinities, -0.0, denormals, integer extremes, ties, and
// strided views (transposed, broadcast, sliced, offset).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "gpu/gpu_checks.h"

namespace mica::test {
namespace {

const Device kCpu(Device::cpu);
const Device kGpu(Device::gpu);

const std::vector<Dtype> kAllDtypes{bool_,   uint8,   uint16,  uint32,   uint64,  int8,    int16,
                                    int32,   int64,   float16, bfloat16, float32, float64, complex64};

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

// Random elements of dtype d with many ties and the special values of the dtype mixed in:
// NaNs (positive, negative, with a payload), infinities, -0.0, +0.0, denormals for floats;
// the dtype's minimum and maximum for integers.
array make_input(const Shape& shape, Dtype d, uint32_t seed) {
  const int64_t n = numel(shape);
  std::mt19937_64 gen(seed);
  auto pick = [&](int m) { return static_cast<int>(gen() % m); };
  if (d == bool_) {
    std::vector<int> v(n);
    for (auto& x : v) x = pick(2);
    array a = astype(array(v.begin(), shape, int32), bool_, kCpu);
    eval(a);
    return a;
  }
  if (!is_inexact(d)) {
    const int bits = static_cast<int>(d.size) * 8;
    if (is_unsigned(d)) {
      const uint64_t mx = bits == 64 ? std::numeric_limits<uint64_t>::max() : (uint64_t(1) << bits) - 1;
      std::vector<uint64_t> v(n);
      for (auto& x : v) {
        int r = pick(40);
        x = r == 0 ? mx : r == 1 ? 0 : r == 2 ? mx - 1 : static_cast<uint64_t>(pick(30));
      }
      return array(v.begin(), shape, d);
    }
    const int64_t lo = bits == 64 ? std::numeric_limits<int64_t>::min() : -(int64_t(1) << (bits - 1));
    const int64_t hi = bits == 64 ? std::numeric_limits<int64_t>::max() : (int64_t(1) << (bits - 1)) - 1;
    std::vector<int64_t> v(n);
    for (auto& x : v) {
      int r = pick(40);
      x = r == 0 ? lo : r == 1 ? hi : r == 2 ? lo + 1 : static_cast<int64_t>(pick(41)) - 20;
    }
    return array(v.begin(), shape, d);
  }
  // Floats: halves of integers in [-20, 20] (ties), a few random reals, and specials.
  auto one = [&]() -> double {
    int r = pick(100);
    uint32_t pay = 0x7f800001u;  // a NaN with a payload (signalling)
    float payload_nan;
    std::memcpy(&payload_nan, &pay, 4);
    switch (r) {
      case 0: return std::numeric_limits<double>::quiet_NaN();
      case 1: return -std::numeric_limits<double>::quiet_NaN();
      case 2: return payload_nan;
      case 3: return std::numeric_limits<double>::infinity();
      case 4: return -std::numeric_limits<double>::infinity();
      case 5: case 6: return -0.0;
      case 7: case 8: return 0.0;
      case 9: return 1e-40;  // float32 denormal (flushes to 0 in halves)
      case 10: return -1e-40;
      default: return r < 30 ? std::ldexp(static_cast<double>(gen() % 1000000) - 500000.0, -12) : (pick(81) - 40) * 0.5;
    }
  };
  if (d == complex64) {
    // Equal real parts often, so the imaginary parts decide.
    std::vector<complex64_t> v(n);
    for (auto& x : v) x = complex64_t(static_cast<float>(pick(4) == 0 ? one() : (pick(9) - 4) * 1.0), static_cast<float>(one()));
    return array(v.begin(), shape, complex64);
  }
  if (d == float64) {
    std::vector<double> v(n);
    for (auto& x : v) x = one();
    return array(v.begin(), shape, float64);
  }
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(one());
  return array(v.begin(), shape, d);
}

// Same shape and dtype; integers bit for bit, floats as numbers (NaN == NaN, -0.0 == +0.0).
testing::AssertionResult same(array g, array c) {
  if (g.shape() != c.shape() || g.dtype() != c.dtype()) return testing::AssertionFailure() << "shape or dtype differs";
  eval(g);
  eval(c);
  if (!is_inexact(c.dtype())) {
    if (std::memcmp(g.data<char>(), c.data<char>(), c.nbytes()) == 0) return testing::AssertionSuccess();
    return testing::AssertionFailure() << "integer outputs differ:" << all_close(to_vector(g), to_vector(c), 0, 0).message();
  }
  auto r = all_close(to_vector(g), to_vector(c), 0, 0);
  if (r && c.dtype() == complex64) r = all_close(to_vector_imag(g), to_vector_imag(c), 0, 0);
  return r;
}

// Flat row-major positions of each row along `axis`.
std::vector<std::vector<int64_t>> rows_along(const Shape& shape, int axis) {
  int64_t n = shape[axis], inner = 1, outer = 1;
  for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
  for (int d = 0; d < axis; ++d) outer *= shape[d];
  std::vector<std::vector<int64_t>> rows;
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      std::vector<int64_t> pos(n);
      for (int64_t j = 0; j < n; ++j) pos[j] = (o * n + j) * inner + i;
      rows.push_back(pos);
    }
  }
  return rows;
}

bool nan_less(long double a, long double b) { return !std::isnan(a) && (std::isnan(b) || a < b); }

// Elements in row-major order, exact for every dtype (64-bit integers too); `imag` for complex.
std::vector<long double> exact(const array& a, bool imag = false) {
  std::vector<long double> out;
  if (imag && a.dtype() != complex64) return std::vector<long double>(a.size(), 0.0L);
  if (a.dtype() == int64 || a.dtype() == uint64) {
    array c = contiguous(a, false, kCpu);
    eval(c);
    for (size_t i = 0; i < c.size(); ++i) {
      out.push_back(a.dtype() == int64 ? static_cast<long double>(c.data<int64_t>()[i])
                                       : static_cast<long double>(c.data<uint64_t>()[i]));
    }
    return out;
  }
  for (double v : imag ? to_vector_imag(a) : to_vector(a)) out.push_back(v);
  return out;
}

// The CPU's order on elements (real part, then imaginary part, NaNs last), then on index.
struct Elem {
  long double re, im;
  int64_t idx;
};
bool elem_less(const Elem& a, const Elem& b) {
  if (nan_less(a.re, b.re)) return true;
  if (nan_less(b.re, a.re)) return false;
  if (nan_less(a.im, b.im)) return true;
  if (nan_less(b.im, a.im)) return false;
  return a.idx < b.idx;
}
bool value_less(const Elem& a, const Elem& b) { return elem_less({a.re, a.im, 0}, {b.re, b.im, 0}); }

// Partition (values) or ArgPartition (indices) output `p` of x at kth along axis: checked
// against the CPU's sort / argsort `ref` of the same input.
testing::AssertionResult is_partition(array p, array ref, const array& x, int axis, int kth, bool indices) {
  if (p.shape() != x.shape()) return testing::AssertionFailure() << "shape differs";
  auto xr = exact(x), xi = exact(x, true);
  auto pv = exact(p), pi = exact(p, true);
  auto rv = exact(ref), ri = exact(ref, true);
  for (auto& pos : rows_along(x.shape(), axis)) {
    const int64_t n = static_cast<int64_t>(pos.size());
    std::vector<Elem> out(n);
    std::vector<char> seen(n, 0);
    for (int64_t j = 0; j < n; ++j) {
      if (indices) {
        const int64_t k = static_cast<int64_t>(pv[pos[j]]);
        if (k < 0 || k >= n || seen[k]) return testing::AssertionFailure() << "indices are not a permutation";
        seen[k] = 1;
        out[j] = {xr[pos[k]], xi[pos[k]], k};
      } else {
        out[j] = {pv[pos[j]], pi[pos[j]], 0};
      }
    }
    const Elem pivot = out[kth];
    if (indices) {
      if (pivot.idx != static_cast<int64_t>(rv[pos[kth]])) {
        return testing::AssertionFailure() << "index at kth " << pivot.idx << " != argsort's "
                                           << static_cast<int64_t>(rv[pos[kth]]);
      }
    } else {
      // A permutation of the row: its sort equals the CPU's.
      std::vector<Elem> s = out;
      std::stable_sort(s.begin(), s.end(), value_less);
      for (int64_t j = 0; j < n; ++j) {
        const Elem want{rv[pos[j]], ri[pos[j]], 0};
        if (value_less(s[j], want) || value_less(want, s[j])) return testing::AssertionFailure() << "not a permutation";
      }
      const Elem want{rv[pos[kth]], ri[pos[kth]], 0};
      if (value_less(pivot, want) || value_less(want, pivot)) return testing::AssertionFailure() << "kth is not sorted";
    }
    auto less = indices ? elem_less : value_less;
    for (int64_t j = 0; j < n; ++j) {
      if ((j < kth && less(pivot, out[j])) || (j > kth && less(out[j], pivot))) {
        return testing::AssertionFailure() << "element " << j << " on the wrong side of kth " << kth;
      }
    }
  }
  return testing::AssertionSuccess();
}

// Every op of the family on x along axis: Sort and ArgSort exactly as the CPU; Partition and
// ArgPartition at each kth given (negative counts from the end).
void check_all(const array& x, int axis, const std::vector<int>& kths, const std::string& where) {
  SCOPED_TRACE(where + " " + dtype_to_string(x.dtype()) + " axis " + std::to_string(axis));
  array cs = sort(x, axis, kCpu), ca = argsort(x, axis, kCpu);
  EXPECT_TRUE(same(sort(x, axis, kGpu), cs)) << "sort";
  EXPECT_TRUE(same(argsort(x, axis, kGpu), ca)) << "argsort";
  const int ax = axis < 0 ? axis + static_cast<int>(x.ndim()) : axis;
  const int n = x.shape(ax);
  for (int kth : kths) {
    if (kth < -n || kth >= n) continue;
    const int k = kth < 0 ? kth + n : kth;
    EXPECT_TRUE(is_partition(partition(x, kth, axis, kGpu), cs, x, ax, k, false)) << "partition kth " << kth;
    EXPECT_TRUE(is_partition(argpartition(x, kth, axis, kGpu), ca, x, ax, k, true)) << "argpartition kth " << kth;
  }
}

std::vector<int> kths_for(int n) { return {0, n / 2, n - 1, -1, -n, n / 3}; }

TEST(SortGpu, RowLengthsEveryDtype) {
  MICA_REQUIRE_GPU();
  uint32_t seed = 1;
  // Warp rows (<= 32), block rows (<= 4096) and long rows.
  for (int n : {0, 1, 2, 31, 32, 33, 100, 129, 257, 513, 1000, 2048, 4096, 4097, 5000}) {
    for (Dtype d : kAllDtypes) {
      array x = make_input({n}, d, seed++);
      check_all(x, 0, kths_for(n), "1-d n=" + std::to_string(n));
    }
  }
}

TEST(SortGpu, MillionElementRows) {
  MICA_REQUIRE_GPU();
  uint32_t seed = 100;
  for (Dtype d : kAllDtypes) {
    array x = make_input({1 << 20}, d, seed++);
    check_all(x, 0, {(1 << 19) + 3}, "1-d 2^20");
  }
  // Two long rows: sorted one at a time, along the last axis and along the first.
  for (Dtype d : {float32, int32, bfloat16, complex64, uint8, float64, int64}) {
    array x = make_input({2, 1 << 20}, d, seed++);
    check_all(x, 1, {5}, "2 x 2^20");
    array y = make_input({70000, 2}, d, seed++);
    check_all(y, 0, {69999}, "70000 x 2");
  }
}

TEST(SortGpu, ManyLongRowsSegmented) {
  MICA_REQUIRE_GPU();
  uint32_t seed = 200;
  for (Dtype d : kAllDtypes) {
    array x = make_input({300, 4500}, d, seed++);
    check_all(x, 1, {0, 2000}, "300 x 4500");
    check_all(make_input({5000, 3}, d, seed++), 0, {4999}, "5000 x 3");
  }
}

TEST(SortGpu, EveryAxisOf3d) {
  MICA_REQUIRE_GPU();
  uint32_t seed = 300;
  for (Dtype d : kAllDtypes) {
    for (Shape shape : {Shape{3, 5, 7}, Shape{4, 33, 6}, Shape{2, 1000, 3}, Shape{40, 2, 31}, Shape{1, 1, 1}}) {
      array x = make_input(shape, d, seed++);
      for (int axis : {0, 1, 2, -1}) check_all(x, axis, kths_for(x.shape(axis < 0 ? 2 : axis)), "3-d");
    }
    array x2 = make_input({6, 4100}, d, seed++);
    for (int axis : {0, 1}) check_all(x2, axis, {1, -2}, "2-d");
    // Flattened (no axis).
    array f = make_input({4, 9, 5}, d, seed++);
    EXPECT_TRUE(same(sort(f, kGpu), sort(f, kCpu))) << dtype_to_string(d);
    EXPECT_TRUE(same(argsort(f, kGpu), argsort(f, kCpu))) << dtype_to_string(d);
  }
}

TEST(SortGpu, StridedViews) {
  MICA_REQUIRE_GPU();
  for (Dtype d : kAllDtypes) {
    for (auto [rows, cols] : {std::pair{37, 129}, std::pair{5, 31}, std::pair{3, 5000}, std::pair{9, 2050}}) {
      for (auto& [name, x] : layouts(d, rows, cols, d == bool_ ? 0 : -3, d == bool_ ? 1 : 3)) {
        for (int axis : {0, 1}) check_all(x, axis, {0, -1}, name + " " + std::to_string(rows) + "x" + std::to_string(cols));
      }
    }
    // A reversed-and-permuted 3-d view and a slice with a step along the sorted axis.
    array y = make_input({6, 50, 4}, d, 77);
    array v = slice(transpose(y, {2, 0, 1}, kCpu), {0, 0, 1}, {4, 6, 50}, {1, 2, 3}, kCpu);
    for (int axis : {0, 1, 2}) check_all(v, axis, {0, -1}, "permuted slice");
  }
}

TEST(SortGpu, SpecialValues) {
  MICA_REQUIRE_GPU();
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  std::vector<float> v{3.0f, -0.0f, 0.0f, nan, -inf, -nan, 1.0f, 0.0f, -0.0f, inf, nan, -1e-40f, 1e-40f, -0.0f, 2.0f};
  for (Dtype d : {float32, float16, bfloat16, float64}) {
    array x = astype(array(v.begin(), {static_cast<int>(v.size())}, float32), d, kCpu);
    check_all(x, 0, {0, 3, 7, -1}, "specials");
    // The same values as a long row (the CUB paths).
    std::vector<float> big;
    for (int r = 0; r < 400; ++r) big.insert(big.end(), v.begin(), v.end());
    array xb = astype(array(big.begin(), {static_cast<int>(big.size())}, float32), d, kCpu);
    check_all(xb, 0, {0, 3000, -1}, "specials long");
  }
  // NaN bit patterns: negative and payload NaNs sort last, with the canonical NaN out.
  std::vector<uint32_t> bits{0xffc00000u, 0x3f800000u, 0x7f800001u, 0xff800001u, 0x80000000u, 0x00000000u, 0xbf800000u};
  array xb = view(array(bits.begin(), {7}, uint32), float32, kCpu);
  check_all(xb, 0, {0, 3, 6}, "NaN bits");
  EXPECT_TRUE(same(argsort(xb, 0, kGpu), array({6u, 4u, 5u, 1u, 0u, 2u, 3u}, uint32)));
  // Complex: real parts tie (-0.0 == +0.0, NaN == NaN), imaginary parts decide.
  std::vector<complex64_t> c{{0.0f, 2.0f}, {-0.0f, 1.0f}, {nan, 0.0f}, {nan, -1.0f}, {1.0f, nan}, {1.0f, 0.0f}, {-0.0f, 1.0f}};
  array xc(c.begin(), {7}, complex64);
  check_all(xc, 0, {0, 2, -1}, "complex ties");
  EXPECT_TRUE(same(argsort(xc, 0, kGpu), array({1u, 6u, 0u, 5u, 4u, 3u, 2u}, uint32)));
}

TEST(SortGpu, StableTies) {
  MICA_REQUIRE_GPU();
  for (Dtype d : kAllDtypes) {
    for (int n : {31, 1000, 5000, 1 << 20}) {
      // Few distinct values: long runs of ties whose order only the index decides.
      std::vector<int> v(n);
      std::mt19937 gen(n);
      for (auto& x : v) x = static_cast<int>(gen() % 3);
      array x = astype(array(v.begin(), {n}, int32), d, kCpu);
      EXPECT_TRUE(same(argsort(x, 0, kGpu), argsort(x, 0, kCpu))) << dtype_to_string(d) << " n " << n;
      EXPECT_TRUE(same(sort(x, 0, kGpu), sort(x, 0, kCpu))) << dtype_to_string(d) << " n " << n;
    }
  }
  // Broadcast rows: every element of a row equal (stride 0 along the axis).
  array b = broadcast_to(array({3.0f, 1.0f, 2.0f}), {5000, 3}, kCpu);
  check_all(b, 0, {0, 4999}, "broadcast along the axis");
}

TEST(SortGpu, EmptyArrays) {
  MICA_REQUIRE_GPU();
  for (Shape shape : {Shape{0}, Shape{0, 3}, Shape{3, 0}, Shape{2, 0, 5}}) {
    for (int axis = 0; axis < static_cast<int>(shape.size()); ++axis) {
      array x = zeros(shape, float32, kCpu);
      EXPECT_EQ(sort(x, axis, kGpu).shape(), shape);
      EXPECT_TRUE(same(sort(x, axis, kGpu), sort(x, axis, kCpu)));
      EXPECT_TRUE(same(argsort(x, axis, kGpu), argsort(x, axis, kCpu)));
      if (shape[axis] > 0) {
        EXPECT_TRUE(same(partition(x, 0, axis, kGpu), partition(x, 0, axis, kCpu)));
      }
    }
  }
}

TEST(SortGpu, TopkThroughPartition) {
  MICA_REQUIRE_GPU();
  for (Dtype d : {float32, int32, bfloat16, float64}) {
    array x = make_input({7, 3000}, d, 5);
    for (int k : {1, 10, 3000}) {
      array g = sort(topk(x, k, 1, kGpu), 1, kCpu), c = sort(topk(x, k, 1, kCpu), 1, kCpu);
      EXPECT_TRUE(same(g, c)) << dtype_to_string(d) << " k " << k;
    }
  }
}

TEST(SortGpu, BadInputsSameErrors) {
  MICA_REQUIRE_GPU();
  array a = make_input({3, 4}, float32, 3);
  for (Device dev : {kCpu, kGpu}) {
    EXPECT_TRUE(throws_op<std::out_of_range>("sort", [&] { sort(a, 2, dev); }));
    EXPECT_TRUE(throws_op<std::out_of_range>("sort", [&] { sort(array(1.0f), 0, dev); }));
    EXPECT_TRUE(throws_op<std::out_of_range>("argsort", [&] { argsort(a, -3, dev); }));
    EXPECT_TRUE(throws_op<std::invalid_argument>("partition", [&] { partition(a, 4, 1, dev); }));
    EXPECT_TRUE(throws_op<std::invalid_argument>("partition", [&] { partition(a, -5, 1, dev); }));
    EXPECT_TRUE(throws_op<std::out_of_range>("argpartition", [&] { argpartition(a, 0, 2, dev); }));
    EXPECT_TRUE(throws_op<std::invalid_argument>("argpartition", [&] { argpartition(zeros({0}), 0, dev); }));
  }
}

}  // namespace
}  // namespace mica::test
