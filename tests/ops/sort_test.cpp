// Sort-family ops against double-precision loops: sort, argsort, partition, argpartition, topk.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "reference/reference.h"

namespace mica::test {
namespace {

// NaN-last order on doubles (the reference's comparator).
bool nan_less(double a, double b) { return !std::isnan(a) && (std::isnan(b) || a < b); }

// Flat row-major positions of each row along `axis`, rows in row-major order of the other axes.
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

// Reference sort (values) and stable argsort (indices) along axis.
std::pair<std::vector<double>, std::vector<double>> ref_sort(const std::vector<double>& v, const Shape& shape,
                                                             int axis) {
  std::vector<double> vals(v.size()), idx(v.size());
  for (auto& pos : rows_along(shape, axis)) {
    std::vector<int64_t> order(pos.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return nan_less(v[pos[a]], v[pos[b]]); });
    for (size_t j = 0; j < pos.size(); ++j) {
      vals[pos[j]] = v[pos[order[j]]];
      idx[pos[j]] = static_cast<double>(order[j]);
    }
  }
  return {vals, idx};
}

// Checks that `got` (values along axis) is a partition of the rows of `v` at kth.
testing::AssertionResult is_partition(const std::vector<double>& got, const std::vector<double>& v, const Shape& shape,
                                      int axis, int kth) {
  for (auto& pos : rows_along(shape, axis)) {
    std::vector<double> row, out;
    for (auto p : pos) {
      row.push_back(v[p]);
      out.push_back(got[p]);
    }
    std::vector<double> sorted_row = row, sorted_out = out;
    std::stable_sort(sorted_row.begin(), sorted_row.end(), nan_less);
    std::stable_sort(sorted_out.begin(), sorted_out.end(), nan_less);
    auto same = all_close(sorted_out, sorted_row, 0, 0);
    if (!same) return testing::AssertionFailure() << "not a permutation of the row:" << same.message();
    double pivot = out[kth];
    if (!(pivot == sorted_row[kth] || (std::isnan(pivot) && std::isnan(sorted_row[kth])))) {
      return testing::AssertionFailure() << "kth element " << pivot << " != sorted " << sorted_row[kth];
    }
    for (int j = 0; j < static_cast<int>(out.size()); ++j) {
      if ((j < kth && nan_less(pivot, out[j])) || (j > kth && nan_less(out[j], pivot))) {
        return testing::AssertionFailure() << "element " << j << " = " << out[j] << " on the wrong side of " << pivot;
      }
    }
  }
  return testing::AssertionSuccess();
}

// Values of `a` picked along axis by integer positions `idx` (the argpartition check).
std::vector<double> pick(const std::vector<double>& v, const std::vector<double>& idx, const Shape& shape, int axis) {
  std::vector<double> out(v.size());
  for (auto& pos : rows_along(shape, axis)) {
    for (size_t j = 0; j < pos.size(); ++j) out[pos[j]] = v[pos[static_cast<size_t>(idx[pos[j]])]];
  }
  return out;
}

// Random values with a few NaNs for floating dtypes.
array random_with_nans(const Shape& shape, Dtype dt, uint32_t seed) {
  auto v = to_vector(random_array(shape, float64, -50, 50, seed));
  if (is_inexact(dt)) {
    std::mt19937 gen(seed);
    for (auto& x : v) {
      if (gen() % 10 == 0) x = NAN;
    }
  }
  if (dt == bool_) return random_array(shape, bool_, 0, 1, seed);
  if (issubdtype(dt, unsignedinteger)) {
    for (auto& x : v) x = std::fabs(x);
  }
  return array(v.begin(), shape, dt);
}

std::vector<Dtype> sort_dtypes() {
  return {float32, int32, float16, uint8, bfloat16, int64, bool_, float64, int8, uint32, int16, uint16, uint64};
}

TEST(Sort, SortAndArgsortMatchReference) {
  uint32_t seed = 1;
  for (Dtype dt : sort_dtypes()) {
    array a = random_with_nans({4, 5, 6}, dt, seed++);
    auto v = to_vector(a);
    for (int axis : {0, 1, 2, -1, -2}) {
      int ax = axis < 0 ? axis + 3 : axis;
      auto [vals, idx] = ref_sort(v, a.shape(), ax);
      array s = sort(a, axis);
      array as = argsort(a, axis);
      EXPECT_EQ(s.dtype(), dt);
      EXPECT_EQ(as.dtype(), uint32);
      EXPECT_TRUE(matches(s, a.shape(), vals, 0, 0)) << dtype_to_string(dt) << " axis " << axis;
      EXPECT_TRUE(matches(as, a.shape(), idx, 0, 0)) << dtype_to_string(dt) << " axis " << axis;
    }
    // Flattened.
    auto [fv, fi] = ref_sort(v, {120}, 0);
    EXPECT_TRUE(matches(sort(a), {120}, fv, 0, 0)) << dtype_to_string(dt);
    EXPECT_TRUE(matches(argsort(a), {120}, fi, 0, 0)) << dtype_to_string(dt);
  }
}

TEST(Sort, MlxExamples) {
  array a = array({3.f, 1.f, NAN, 2.f, 5.f, 4.f, 3.f, 2.f}, {2, 4});
  EXPECT_TRUE(matches(sort(a, -1), {2, 4}, {1, 2, 3, NAN, 2, 3, 4, 5}, 0, 0));
  EXPECT_TRUE(matches(argsort(a, -1), {2, 4}, {1, 3, 0, 2, 3, 2, 1, 0}, 0, 0));
  array z = array({3.0f, -0.0f, 0.0f, NAN, -INFINITY, NAN, 1.0f});
  EXPECT_TRUE(matches(argsort(z, 0), {7}, {4, 1, 2, 6, 0, 3, 5}, 0, 0));
  EXPECT_TRUE(matches(sort(z, 0), {7}, {-INFINITY, 0, 0, 1, 3, NAN, NAN}, 0, 0));
  // Stable argsort of ties.
  EXPECT_TRUE(matches(argsort(array({1, 1, 1, 0, 0, 1}, int32), 0), {6}, {3, 4, 0, 1, 2, 5}, 0, 0));
  // Complex: by real part, then imaginary part.
  array c = sort(array({complex64_t(1, 2), complex64_t(1, 1), complex64_t(0, 5), complex64_t(2, -1)}), 0);
  EXPECT_EQ(to_vector(c), (std::vector<double>{0, 1, 1, 2}));
  EXPECT_EQ(to_vector_imag(c), (std::vector<double>{5, 1, 2, -1}));
  EXPECT_TRUE(matches(argsort(array({complex64_t(1, 2), complex64_t(1, 1), complex64_t(NAN, 0), complex64_t(0, 5)}), 0),
                      {4}, {3, 1, 0, 2}, 0, 0));
  EXPECT_TRUE(matches(sort(array({true, false, true}), 0), {3}, {0, 1, 1}, 0, 0));
  EXPECT_TRUE(matches(sort(array(3)), {1}, {3}, 0, 0));
}

// Infinities, the largest finite values, signed zeros and NaNs (with payloads) in every floating
// dtype: sorted as numbers, NaNs last in input order, each value coming through unchanged (Highway
// 1.0.3's direct double sort once returned the largest finite double for +inf).
TEST(Sort, SpecialFloatingValues) {
  const double inf = std::numeric_limits<double>::infinity();
  for (Dtype d : {float16, bfloat16, float32, float64}) {
    std::vector<double> v = {inf, 1.0, -inf, 0.0, -0.0, NAN, 3.0e38, -3.0e38, inf, -1.0, -NAN};
    if (d == float64) v.insert(v.end(), {std::numeric_limits<double>::max(), -std::numeric_limits<double>::max()});
    if (d == float16) { v[6] = 60000; v[7] = -60000; }
    array x = astype(array(v.begin(), {static_cast<int>(v.size())}, float64), d);
    auto got = to_vector(sort(x));
    std::vector<double> want;
    for (double e : v)
      if (!std::isnan(e)) want.push_back(e);
    std::sort(want.begin(), want.end());
    auto exact = to_vector(x);  // the values as d holds them
    std::vector<double> held;
    for (double e : exact)
      if (!std::isnan(e)) held.push_back(e);
    std::sort(held.begin(), held.end());
    ASSERT_EQ(got.size(), v.size()) << d;
    for (size_t i = 0; i < held.size(); ++i) EXPECT_EQ(got[i], held[i]) << d << " at " << i;
    for (size_t i = held.size(); i < got.size(); ++i) EXPECT_TRUE(std::isnan(got[i])) << d << " at " << i;
    EXPECT_EQ(got[held.size() - 1], inf) << d;
    EXPECT_EQ(got[0], -inf) << d;
    EXPECT_EQ(want.size(), held.size());
  }
}

TEST(Sort, StridedAndLarge) {
  array base = random_with_nans({30, 40}, float32, 7);
  array t = transpose(base);  // (40, 30) view
  auto v = to_vector(t);
  for (int axis : {0, 1}) {
    auto [vals, idx] = ref_sort(v, t.shape(), axis);
    EXPECT_TRUE(matches(sort(t, axis), t.shape(), vals, 0, 0));
    EXPECT_TRUE(matches(argsort(t, axis), t.shape(), idx, 0, 0));
  }
  array sl = slice(random_array({10, 12}, int32, -9, 9, 8), {1, 0}, {10, 12}, {3, 2});  // (3, 6) strided
  auto sv = to_vector(sl);
  EXPECT_TRUE(matches(sort(sl, 1), sl.shape(), ref_sort(sv, sl.shape(), 1).first, 0, 0));
  array bc = broadcast_to(array({3, 1, 2}, int32), {4, 3});  // stride-0 rows
  EXPECT_TRUE(matches(argsort(bc, 0), {4, 3}, {0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3}, 0, 0));
  // Many rows and long rows: both split over threads.
  for (Shape shape : {Shape{64, 3000}, Shape{3000, 64}}) {
    array big = random_with_nans(shape, float32, 9);
    auto bv = to_vector(big);
    for (int axis : {0, 1}) {
      auto [vals, idx] = ref_sort(bv, shape, axis);
      EXPECT_TRUE(matches(sort(big, axis), shape, vals, 0, 0));
      EXPECT_TRUE(matches(argsort(big, axis), shape, idx, 0, 0));
      int n = shape[axis];
      EXPECT_TRUE(is_partition(to_vector(partition(big, n / 3, axis)), bv, shape, axis, n / 3));
    }
  }
}

TEST(Sort, Empty) {
  EXPECT_EQ(sort(zeros({0, 3}), 1).shape(), (Shape{0, 3}));
  EXPECT_EQ(to_vector(sort(zeros({3, 0}), 1)).size(), 0u);
  EXPECT_EQ(argsort(zeros({3, 0}), 0).shape(), (Shape{3, 0}));
  EXPECT_EQ(sort(zeros({0})).shape(), (Shape{0}));
  EXPECT_EQ(to_vector(partition(zeros({0, 4}), 1, 1)).size(), 0u);
  EXPECT_EQ(topk(zeros({3, 0}), 0, 1).shape(), (Shape{3, 0}));
  EXPECT_EQ(topk(random_array({3, 4}, float32, -1, 1, 2), 0).shape(), (Shape{0}));
}

TEST(Sort, BadInputs) {
  array a = random_array({3, 4}, float32, -1, 1, 3);
  EXPECT_TRUE(throws_op<std::out_of_range>("sort", [&] { sort(a, 2); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("sort", [&] { sort(a, -3); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("sort", [&] { sort(array(1.0f), 0); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("argsort", [&] { argsort(a, 5); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("partition", [&] { partition(a, 0, 2); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("partition", [&] { partition(a, 4, 1); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("partition", [&] { partition(a, -5, 1); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("partition", [&] { partition(zeros({0}), 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("argpartition", [&] { argpartition(a, 12); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("argpartition", [&] { argpartition(a, 0, -3); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("topk", [&] { topk(a, 5, 1); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("topk", [&] { topk(a, -1); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("topk", [&] { topk(a, 1, 2); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("topk", [&] { topk(array(1.0f), 1, 0); }));
}

// ---------------------------------------------------------------- partition / topk

TEST(Partition, MatchesProperty) {
  uint32_t seed = 100;
  for (Dtype dt : sort_dtypes()) {
    array a = random_with_nans({5, 7, 6}, dt, seed++);
    auto v = to_vector(a);
    for (int axis : {0, 1, 2, -1}) {
      int ax = axis < 0 ? axis + 3 : axis;
      int n = a.shape(ax);
      for (int kth : {0, n / 2, n - 1, -1, -n}) {
        int k = kth < 0 ? kth + n : kth;
        array p = partition(a, kth, axis);
        EXPECT_EQ(p.dtype(), dt);
        EXPECT_TRUE(is_partition(to_vector(p), v, a.shape(), ax, k)) << dtype_to_string(dt) << " axis " << axis << " kth " << kth;
        array ap = argpartition(a, kth, axis);
        EXPECT_EQ(ap.dtype(), uint32);
        auto idx = to_vector(ap);
        EXPECT_TRUE(is_partition(pick(v, idx, a.shape(), ax), v, a.shape(), ax, k)) << dtype_to_string(dt);
      }
    }
    // Flattened.
    EXPECT_TRUE(is_partition(to_vector(partition(a, 100)), v, {210}, 0, 100));
    EXPECT_TRUE(is_partition(pick(v, to_vector(argpartition(a, -3)), {210}, 0), v, {210}, 0, 207));
  }
  // A strided input.
  array t = transpose(random_with_nans({9, 8}, float16, 5));
  EXPECT_TRUE(is_partition(to_vector(partition(t, 3, 1)), to_vector(t), t.shape(), 1, 3));
}

TEST(Partition, MlxExamples) {
  array a = array({5, 1, 9, 3, 7, 2}, int32);
  // The order within each side is the CPU kernel's (MLX's own CPU order); other devices only
  // promise a partition.
  EXPECT_TRUE(matches(partition(a, 2, Device(Device::cpu)), {6}, {2, 1, 3, 5, 7, 9}, 0, 0));
  EXPECT_TRUE(is_partition(to_vector(partition(a, 2)), to_vector(a), {6}, 0, 2));
  auto ai = to_vector(argpartition(a, 2));
  EXPECT_TRUE(is_partition(pick(to_vector(a), ai, {6}, 0), to_vector(a), {6}, 0, 2));
  EXPECT_TRUE(matches(partition(array({3, 1, 2}, int32), -3, Device(Device::cpu)), {3}, {1, 2, 3}, 0, 0));
}

// Checks topk rows: the multiset of each output row equals the k largest of the input row.
testing::AssertionResult is_topk(const array& got, const std::vector<double>& v, const Shape& shape, int axis, int k) {
  Shape gs = shape;
  gs[axis] = k;
  if (got.shape() != gs) return testing::AssertionFailure() << "shape " << detail::shape_str(got.shape());
  auto g = to_vector(got);
  auto in_rows = rows_along(shape, axis), out_rows = rows_along(gs, axis);
  for (size_t r = 0; r < in_rows.size(); ++r) {
    std::vector<double> row, out;
    for (auto p : in_rows[r]) row.push_back(v[p]);
    for (auto p : out_rows[r]) out.push_back(g[p]);
    std::stable_sort(row.begin(), row.end(), nan_less);
    std::stable_sort(out.begin(), out.end(), nan_less);
    auto ok = all_close(out, std::vector<double>(row.end() - k, row.end()), 0, 0);
    if (!ok) return testing::AssertionFailure() << "row " << r << ":" << ok.message();
  }
  return testing::AssertionSuccess();
}

TEST(TopK, MatchesReference) {
  uint32_t seed = 200;
  for (Dtype dt : sort_dtypes()) {
    array a = random_with_nans({4, 9, 5}, dt, seed++);
    auto v = to_vector(a);
    for (int axis : {0, 1, 2, -2}) {
      int ax = axis < 0 ? axis + 3 : axis;
      for (int k : {1, 2, a.shape(ax)}) {
        EXPECT_TRUE(is_topk(topk(a, k, axis), v, a.shape(), ax, k)) << dtype_to_string(dt) << " axis " << axis << " k " << k;
      }
    }
    EXPECT_TRUE(is_topk(topk(a, 7), v, {180}, 0, 7));
  }
  array t = transpose(random_with_nans({9, 8}, float32, 5));
  EXPECT_TRUE(is_topk(topk(t, 3, 0), to_vector(t), t.shape(), 0, 3));
  // MLX's results for these inputs (the same partition order).
  EXPECT_TRUE(matches(topk(array({5, 1, 9, 3, 7, 2}, int32), 3), {3}, {5, 7, 9}, 0, 0));
  EXPECT_TRUE(matches(topk(array({5, 1, 9, 3, 7, 2, 8, 8, 4, 6, 0}, int32), 4), {4}, {7, 8, 8, 9}, 0, 0));
  EXPECT_TRUE(matches(topk(array({3.f, 1.f, NAN, 2.f, 5.f, 4.f, 3.f, 2.f}, {2, 4}), 2, 1), {2, 2}, {3, NAN, 4, 5}, 0, 0));
}

// searchsorted: both sides, NaNs (sorted last), MLX 0.32's values.
TEST(SearchSorted, MatchesMlx) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  array seq({1.0f, 2.0f, 2.0f, 3.0f, nan});
  array v({2.0f, 0.0f, nan, 5.0f}, {2, 2});
  array l = searchsorted(seq, v);
  EXPECT_EQ(l.dtype(), uint32);
  EXPECT_TRUE(matches(l, {2, 2}, {1, 0, 4, 4}, 0, 0));
  EXPECT_TRUE(matches(searchsorted(seq, v, "right"), {2, 2}, {3, 0, 5, 4}, 0, 0));
  EXPECT_TRUE(matches(searchsorted(array({1, 3, 5, 7}), array({0, 3, 4, 8})), {4}, {0, 1, 2, 4}, 0, 0));
  EXPECT_TRUE(matches(searchsorted(array({1, 3, 5, 7}), array(4)), {}, {2}, 0, 0));
  EXPECT_TRUE(throws_op<std::invalid_argument>("searchsorted", [] { searchsorted(zeros({2, 2}), array(1.0f)); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("searchsorted", [] { searchsorted(zeros({2}), array(1.0f), "middle"); }));
}

}  // namespace
}  // namespace mica::test
