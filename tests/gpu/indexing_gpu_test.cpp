// GPU-vs-CPU conformance of the indexing family (backend/cuda/indexing.cu): gather/take,
// scatter with every reduction (repeated indices included: None must pick the same "later"
// update as the CPU), take_along_axis, put_along_axis/scatter_add_axis and masked_scatter, over
// every dtype and every index dtype, with negative and out-of-range indices, strided, broadcast
// and offset views of the arrays and of the indices, empty index arrays, long rows, more index
// arrays than a kernel reads itself, donated inputs, and arrays past 2^31 elements.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "gpu/gpu_checks.h"
#include "mica/backend/gpu_info.h"

namespace mica::test {
namespace {

const Device kCpu(Device::cpu);
const Device kGpu(Device::gpu);

const std::vector<Dtype> kAll{bool_,  int8,   int16,   int32,   int64,    uint8,   uint16,
                              uint32, uint64, float32, float16, bfloat16, float64, complex64};
const std::vector<Dtype> kIndexTypes{int8, int16, int32, int64, uint8, uint16, uint32, uint64};

std::string dn(Dtype d) { return dtype_to_string(d); }

// Indices of dtype dt drawn from [lo, hi] (negative and past-the-end values included); for
// unsigned dtypes the negative draws wrap to huge values (out of range; for uint64 they read
// back as negative and count from the end, on both devices).
array indices(const Shape& shape, Dtype dt, int lo, int hi, uint32_t seed) {
  array i = astype(random_array(shape, int32, lo, hi, seed), dt, kCpu);
  eval(i);
  return i;
}

// Values for a reduction: positive for inexact sums and products (no cancellation, finite
// products), small integers otherwise.
array values(const Shape& shape, Dtype d, bool product, uint32_t seed) {
  if (d == bool_) return random_input(shape, d, 0, 1, seed);
  if (is_inexact(d)) return random_input(shape, d, 0.5, product ? 1.5 : 2.0, seed);
  return random_input(shape, d, -3, 3, seed);
}

// Sums and products of a few repeated updates in another order: a few roundings apart.
double repeat_tol(Dtype d) { return d == bfloat16 ? 6e-2 : (d == float16 ? 1e-2 : 0); }

testing::AssertionResult check(const GpuOp& op, const std::vector<array>& in, double rtol = 1e-5, double atol = 1e-6) {
  return gpu_matches_cpu(op, in, rtol, atol);
}

// ---- gather / take ----

TEST(GatherGpu, EveryDtypeWindowsAndRanges) {
  MICA_REQUIRE_GPU();
  uint32_t seed = 1;
  for (Dtype d : kAll) {
    array a = random_input({6, 7, 5}, d, -5, 5, seed++);
    // Rows of a (the embedding shape) with out-of-range and negative ids.
    array ids = indices({4, 3}, int32, -9, 9, seed++);
    auto rows = [](const std::vector<array>& in, StreamOrDevice s) { return gather(in[0], in[1], 0, {1, 7, 5}, s); };
    EXPECT_TRUE(check(rows, {a, ids})) << dn(d);
    // Two index arrays broadcasting together on axes (2, 0), windows (2, 3, 4): starts clamp.
    array i0 = indices({3, 1}, int16, -8, 8, seed++), i1 = indices({1, 4}, int64, -7, 7, seed++);
    auto win = [](const std::vector<array>& in, StreamOrDevice s) {
      return gather(in[0], {in[1], in[2]}, {2, 0}, {2, 3, 4}, s);
    };
    EXPECT_TRUE(check(win, {a, i0, i1})) << dn(d);
    // No index arrays: one window at the origin; a 0-d index.
    auto none = [](const std::vector<array>& in, StreamOrDevice s) {
      return gather(in[0], std::vector<array>{}, std::vector<int>{}, {2, 3, 1}, s);
    };
    EXPECT_TRUE(check(none, {a})) << dn(d);
    auto scalar = [](const std::vector<array>& in, StreamOrDevice s) { return take(in[0], 3, 1, s); };
    EXPECT_TRUE(check(scalar, {a})) << dn(d);
  }
  // Every index dtype.
  array a = random_input({9, 6}, float32);
  for (Dtype it : kIndexTypes) {
    array ids = indices({13}, it, -12, 12, seed++);
    for (int ax : {0, 1}) {
      auto op = [ax](const std::vector<array>& in, StreamOrDevice s) { return take(in[0], in[1], ax, s); };
      EXPECT_TRUE(check(op, {a, ids})) << dn(it) << " axis " << ax;
    }
  }
}

TEST(GatherGpu, LayoutsOfArrayAndIndices) {
  MICA_REQUIRE_GPU();
  for (Dtype d : {float32, bfloat16, int8, float64, complex64, bool_, uint16}) {
    for (auto& [name, a] : layouts(d, 37, 129, -4, 4, 3)) {
      if (a.size() == 0) continue;  // take from an empty axis is an error on every device
      for (int ax : {0, 1}) {
        int dim = a.shape()[ax];
        // Index views: contiguous, transposed, broadcast, sliced with a step.
        array base = indices({6, 10}, int32, -dim - 2, dim + 2, 7);
        std::vector<std::pair<std::string, array>> ivs{
            {"contiguous", base},
            {"transposed", transpose(base, kCpu)},
            {"broadcast", broadcast_to(slice(base, {0, 0}, {1, 10}, kCpu), {6, 10}, kCpu)},
            {"stepped", slice(base, {0, 1}, {6, 10}, {2, 3}, kCpu)}};
        for (auto& [iname, idx] : ivs) {
          auto op = [ax](const std::vector<array>& in, StreamOrDevice s) { return take(in[0], in[1], ax, s); };
          EXPECT_TRUE(check(op, {a, idx})) << dn(d) << " " << name << " " << iname << " axis " << ax;
        }
      }
      // Windows wider than one on both axes.
      array i0 = indices({5}, int32, -40, 40, 8), i1 = indices({5}, uint8, 0, 140, 9);
      auto op = [](const std::vector<array>& in, StreamOrDevice s) {
        return gather(in[0], {in[1], in[2]}, {0, 1}, {3, 17}, s);
      };
      EXPECT_TRUE(check(op, {a, i0, i1})) << dn(d) << " " << name;
    }
  }
}

TEST(GatherGpu, EmbeddingRowsLongRowsAndEmpty) {
  MICA_REQUIRE_GPU();
  for (Dtype d : {float32, bfloat16, float16, uint8, float64}) {
    // (V, D) table, 16-byte rows; an offset view (rows misaligned for vectors).
    array table = random_input({500, 768}, d, -2, 2, 11);
    array flat = random_input({500 * 768 + 1}, d, -2, 2, 12);
    array shifted = reshape(slice(flat, {1}, {500 * 768 + 1}, kCpu), {500, 768}, kCpu);
    array ids = indices({8, 64}, int32, 0, 499, 13);
    auto emb = [](const std::vector<array>& in, StreamOrDevice s) { return take(in[0], in[1], 0, s); };
    EXPECT_TRUE(check(emb, {table, ids})) << dn(d);
    EXPECT_TRUE(check(emb, {shifted, ids})) << dn(d) << " offset";
    // Odd row lengths (vector tails) and long rows split in segments.
    for (int D : {1, 3, 33, 129, 100003}) {
      array t = random_input({5, D}, d, -2, 2, 14);
      EXPECT_TRUE(check(emb, {t, indices({7}, int64, -6, 6, 15)})) << dn(d) << " D=" << D;
    }
    // Empty index arrays and empty windows.
    EXPECT_TRUE(check(emb, {table, zeros({0}, int32)}));
    auto empty_win = [](const std::vector<array>& in, StreamOrDevice s) { return gather(in[0], in[1], 0, {1, 0}, s); };
    EXPECT_TRUE(check(empty_win, {table, ids}));
  }
}

// a of 10 dims indexed on all of them (more arrays than a kernel reads itself).
TEST(GatherGpu, ManyIndexArrays) {
  MICA_REQUIRE_GPU();
  Shape shape{2, 3, 2, 3, 2, 3, 2, 3, 2, 3};
  array a = random_input(shape, int32, -100, 100, 21);
  std::vector<array> idx;
  std::vector<int> axes;
  for (int d = 0; d < 10; ++d) {
    idx.push_back(indices({4, 5}, d % 2 ? int8 : int64, -shape[d] - 1, shape[d], 30 + d));
    axes.push_back(d);
  }
  std::vector<array> in{a};
  in.insert(in.end(), idx.begin(), idx.end());
  auto op = [&](const std::vector<array>& x, StreamOrDevice s) {
    return gather(x[0], std::vector<array>(x.begin() + 1, x.end()), axes, Shape(10, 1), s);
  };
  EXPECT_TRUE(check(op, in));
  Shape win{1, 2, 1, 2, 1, 1, 2, 3, 1, 2};
  auto op2 = [&](const std::vector<array>& x, StreamOrDevice s) {
    return gather(x[0], std::vector<array>(x.begin() + 1, x.end()), axes, win, s);
  };
  EXPECT_TRUE(check(op2, in));
}

// ---- scatter ----

using ScatterFn = array (*)(const array&, const std::vector<array>&, const array&, const std::vector<int>&,
                            StreamOrDevice);
struct NamedScatter {
  const char* name;
  ScatterFn f;
  bool product;
};
const std::vector<NamedScatter> kScatters{{"scatter", scatter, false},
                                          {"scatter_add", scatter_add, false},
                                          {"scatter_prod", scatter_prod, true},
                                          {"scatter_max", scatter_max, false},
                                          {"scatter_min", scatter_min, false}};

// Runs every reduction of `a` by (idx, upd) on `axes` on both devices.
void check_scatters(const array& a, const std::vector<array>& idx, const std::vector<int>& axes, const array& upd_sum,
                    const array& upd_prod, const std::string& where) {
  for (auto& sc : kScatters) {
    std::vector<array> in{a};
    in.insert(in.end(), idx.begin(), idx.end());
    in.push_back(sc.product ? upd_prod : upd_sum);
    auto op = [&](const std::vector<array>& x, StreamOrDevice s) {
      return sc.f(x[0], std::vector<array>(x.begin() + 1, x.end() - 1), x.back(), axes, s);
    };
    Dtype d = a.dtype();
    double rtol = d == float64 ? 1e-12 : 1e-5, atol = d == float64 ? 1e-12 : 1e-6;
    if (sc.product && d == complex64) rtol = atol = 1e-4;
    if (sc.product || std::string(sc.name) == "scatter_add") rtol = atol = std::max(rtol, repeat_tol(d));
    EXPECT_TRUE(check(op, in, rtol, atol)) << where << " " << sc.name;
  }
}

// The same with fresh updates of shape `ushape` (seeds `seed`, `seed + 1`).
void check_scatters(const array& a, const std::vector<array>& idx, const std::vector<int>& axes, const Shape& ushape,
                    uint32_t seed, const std::string& where) {
  Dtype d = a.dtype();
  check_scatters(a, idx, axes, values(ushape, d, false, seed), values(ushape, d, true, seed + 1), where);
}

TEST(ScatterGpu, EveryReductionEveryDtypeWithRepeats) {
  MICA_REQUIRE_GPU();
  uint32_t seed = 100;
  for (Dtype d : kAll) {
    std::string w = dn(d);
    // Indices (4, 3) on axes (0, 2), the second broadcast, windows (1, 5, 2): windows two wide
    // along an indexed axis (owner table by element for scatter).
    array a = values({6, 5, 4}, d, false, seed++);
    array i0 = indices({4, 3}, int32, -8, 7, seed++);
    array i1 = broadcast_to(indices({4, 1}, int64, -5, 4, seed++), {4, 3}, kCpu);
    check_scatters(a, {i0, i1}, {0, -1}, {4, 3, 1, 5, 2}, seed += 2, w + " windows");
    // Rows with many repeats (owner table by index), short and 16-byte-vector rows.
    for (int D : {3, 64, 1000}) {
      array t = values({7, D}, d, false, seed++);
      array ids = indices({40}, uint8, 0, 8, seed++);  // 7, 8: out of range
      check_scatters(t, {ids}, {0}, {40, 1, D}, seed += 2, w + " rows D=" + std::to_string(D));
    }
    // A single window (no owner table) and empty updates.
    check_scatters(a, {array({-2}, int16)}, {1}, {1, 6, 1, 4}, seed += 2, w + " one window");
    check_scatters(a, {zeros({0}, int32)}, {0}, {0, 1, 5, 4}, seed += 2, w + " empty");
  }
}

TEST(ScatterGpu, IndexDtypesViewsAndBroadcastUpdates) {
  MICA_REQUIRE_GPU();
  uint32_t seed = 200;
  for (Dtype it : kIndexTypes) {
    array a = random_input({9, 8}, float32, -2, 2, seed++);
    array ids = indices({12}, it, -11, 11, seed++);
    check_scatters(a, {ids}, {0}, {12, 1, 8}, seed += 2, dn(it) + " indices");
  }
  for (Dtype d : {float32, int16, bfloat16, uint8, complex64}) {
    for (auto& [name, a] : layouts(d, 37, 45, 0.5, 2, 5)) {
      if (a.size() == 0) continue;
      std::string w = dn(d) + " " + name;
      array ids = indices({5, 4}, int32, -40, 40, seed++);
      // Updates: row-major, transposed window, broadcast from one value.
      array u = values({5, 4, 1, 45}, d, false, seed++);
      array ut = transpose(values({45, 1, 4, 5}, d, false, seed++), {3, 2, 1, 0}, kCpu);
      array ub = broadcast_to(values({1}, d, false, seed++), {5, 4, 1, 45}, kCpu);
      array up = values({5, 4, 1, 45}, d, true, seed++);
      check_scatters(a, {ids}, {0}, u, up, w);
      check_scatters(a, {transpose(indices({4, 5}, int32, -40, 40, seed++), kCpu)}, {0}, ut, up, w + " transposed");
      check_scatters(a, {ids}, {0}, ub, ub, w + " broadcast updates");
      // Along the strided axis, windows of 3 columns.
      check_scatters(a, {ids}, {1}, {5, 4, 37, 3}, seed += 2, w + " columns");
    }
  }
}

TEST(ScatterGpu, SpecialValuesDonationAndLongWindows) {
  MICA_REQUIRE_GPU();
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  std::vector<double> v{1, nan, -inf, 3, inf, -2, nan, 0, 5, -1, 2, inf};
  array ids = array({1, 0, 1, 2, 1, 0}, int32);
  for (Dtype d : {float32, float16, bfloat16, float64}) {
    array upd = reshape(array(v.begin(), {12}, d), {6, 1, 2}, kCpu);
    array a = array({0.5, -0.5, nan, 4.0, 1.0, -3.0}, {3, 2}, d);
    check_scatters(a, {ids}, {0}, upd, upd, dn(d) + " special");
  }
  // An intermediate a (held by nobody else) is donated on the GPU.
  for (Dtype d : {float32, int32, uint8}) {
    array a = random_input({50, 20}, d, 0, 9, 300);
    array id = indices({30}, int32, -50, 49, 301);
    array u = random_input({30, 1, 20}, d, 0, 9, 302);
    for (auto& sc : kScatters) {
      auto op = [&](const std::vector<array>& x, StreamOrDevice s) {
        return sc.f(add(x[0], array(1, d), s), {x[1]}, x[2], {0}, s);
      };
      EXPECT_TRUE(check(op, {a, id, u})) << dn(d) << " donated " << sc.name;
    }
  }
  // Embedding gradient: a zeros table (a broadcast value) with repeated ids.
  for (Dtype d : {float32, bfloat16, float16}) {
    array id = indices({2048}, int32, 0, 299, 303);
    array g = random_input({2048, 1, 768}, d, -1, 1, 304);
    auto op = [d](const std::vector<array>& x, StreamOrDevice s) {
      return scatter_add(zeros({300, 768}, d, s), x[0], x[1], 0, s);
    };
    EXPECT_TRUE(check(op, {id, g}, d == float32 ? 1e-4 : 5e-2, 1e-4)) << dn(d) << " embedding gradient";
  }
  // Long windows split over many tasks; broadcast (stride 0) updates.
  array big = random_input({4, 300, 300}, float32, 0, 1, 305);
  array bu = broadcast_to(array(2.0f), {3, 1, 300, 300}, kCpu);
  check_scatters(big, {array({3, -1, 0}, int32)}, {0}, bu, bu, "long windows");
}

// Floating sums of row windows (the embedding gradient) add in window order, without atomics:
// two runs agree to the bit, and with the CPU, which adds window by window too.
TEST(ScatterGpu, RowSumsAreReproducibleAndInWindowOrder) {
  MICA_REQUIRE_GPU();
  array id = indices({8192}, int32, -40, 340, 310);  // repeats, negative and dropped ids
  for (Dtype d : {float32, bfloat16, float16, float64}) {
    array g = random_input({8192, 1, 768}, d, -1, 1, 311);
    auto grad = [&](Device dev) {
      array r = scatter_add(zeros({300, 768}, d, dev), id, g, 0, dev);
      eval(r);
      return astype(r, float64, kCpu);
    };
    array cpu = grad(kCpu), first = grad(kGpu), second = grad(kGpu);
    eval({cpu, first, second});
    EXPECT_TRUE(array_equal(first, second, false, kCpu).item<bool>()) << dn(d) << ": two GPU runs differ";
    EXPECT_TRUE(array_equal(first, cpu, false, kCpu).item<bool>()) << dn(d) << ": GPU and CPU orders differ";
  }
}

TEST(ScatterGpu, ManyIndexArrays) {
  MICA_REQUIRE_GPU();
  Shape shape{2, 3, 2, 3, 2, 3, 2, 3, 2, 3};
  array a = random_input(shape, float32, 0.5, 1.5, 40);
  std::vector<array> idx;
  std::vector<int> axes;
  for (int d = 0; d < 10; ++d) {
    idx.push_back(indices({6}, d % 2 ? int16 : int32, -shape[d], shape[d], 50 + d));
    axes.push_back(d);
  }
  Shape ushape{6};
  ushape.insert(ushape.end(), 10, 1);
  check_scatters(a, idx, axes, random_input(ushape, float32, 0.5, 1.5, 60), random_input(ushape, float32, 0.5, 1.5, 61),
                 "10 index arrays");
  Shape wshape{6, 1, 2, 1, 1, 2, 1, 1, 3, 1, 2};
  check_scatters(a, idx, axes, random_input(wshape, float32, 0.5, 1.5, 62), random_input(wshape, float32, 0.5, 1.5, 63),
                 "10 index arrays, windows");
}

// ---- take_along_axis / put_along_axis / scatter_add_axis ----

TEST(AlongAxisGpu, TakeEveryDtypeAndLayout) {
  MICA_REQUIRE_GPU();
  uint32_t seed = 400;
  for (Dtype d : kAll) {
    for (auto& [name, a] : layouts(d, 23, 41, -3, 3, seed++)) {
      if (a.size() == 0) continue;
      for (int ax : {0, 1}) {
        int dim = a.shape()[ax];
        Shape is = a.shape();
        is[ax] = 7;
        auto op = [ax](const std::vector<array>& x, StreamOrDevice s) { return take_along_axis(x[0], x[1], ax, s); };
        EXPECT_TRUE(check(op, {a, indices(is, int32, -dim - 3, dim + 3, seed++)})) << dn(d) << " " << name << " " << ax;
        // Broadcast indices (one per row) and a transposed index array.
        Shape one = a.shape();
        one[ax] = 1;
        EXPECT_TRUE(check(op, {a, indices(one, int64, -dim, dim - 1, seed++)}))
            << dn(d) << " " << name << " one " << ax;
        Shape ts{is[1], is[0]};
        EXPECT_TRUE(check(op, {a, transpose(indices(ts, uint16, 0, dim + 2, seed++), kCpu)})) << dn(d) << " " << name;
      }
    }
  }
  for (Dtype it : kIndexTypes) {
    array a = random_input({5, 6, 7}, float32, -1, 1, seed++);
    for (int ax : {0, 1, 2}) {
      Shape is{5, 6, 7};
      is[ax] = 4;
      auto op = [ax](const std::vector<array>& x, StreamOrDevice s) { return take_along_axis(x[0], x[1], ax, s); };
      EXPECT_TRUE(check(op, {a, indices(is, it, -9, 9, seed++)})) << dn(it) << " axis " << ax;
    }
  }
  // Cross-entropy's pick of the target logits; a broadcast a.
  array logits = random_input({64, 5003}, bfloat16, -3, 3, seed++);
  auto last = [](const std::vector<array>& x, StreamOrDevice s) { return take_along_axis(x[0], x[1], -1, s); };
  EXPECT_TRUE(check(last, {logits, indices({64, 1}, int32, 0, 5002, seed++)}));
  EXPECT_TRUE(
      check(last, {broadcast_to(random_input({1, 9}, float32), {6, 9}, kCpu), indices({6, 4}, int32, -9, 8, seed++)}));
  EXPECT_TRUE(check(last, {logits, zeros({64, 0}, int32)}));
}

TEST(AlongAxisGpu, PutAndAddEveryDtypeWithRepeats) {
  MICA_REQUIRE_GPU();
  uint32_t seed = 500;
  auto put = [](int ax) {
    return [ax](const std::vector<array>& x, StreamOrDevice s) { return put_along_axis(x[0], x[1], x[2], ax, s); };
  };
  auto add_ = [](int ax) {
    return [ax](const std::vector<array>& x, StreamOrDevice s) { return scatter_add_axis(x[0], x[1], x[2], ax, s); };
  };
  for (Dtype d : kAll) {
    // m updates per column: 1 (no repeats), 5 (a thread per column), 300 with few columns (an
    // owner table).
    for (auto [rows, cols, m] : std::vector<std::array<int, 3>>{{13, 9, 1}, {13, 9, 5}, {40, 3, 300}}) {
      array a = values({rows, cols}, d, false, seed++);
      for (int ax : {0, 1}) {
        Shape is{rows, cols};
        is[ax] = m;
        int dim = ax == 0 ? rows : cols;
        array idx = indices(is, ax == 0 ? int32 : uint16, -dim - 2, dim + 1, seed++);
        array val = values(is, d, false, seed++);
        std::string w = dn(d) + " m=" + std::to_string(m) + " axis " + std::to_string(ax);
        EXPECT_TRUE(check(put(ax), {a, idx, val})) << w;
        const double tol = std::max(1e-5, repeat_tol(d));
        EXPECT_TRUE(check(add_(ax), {a, idx, val}, tol, tol)) << w;
      }
    }
  }
  // Views: transposed a, broadcast indices and values, a broadcast along the other axis.
  for (Dtype d : {float32, int8, bfloat16, complex64}) {
    array a = transpose(values({12, 10}, d, false, seed++), kCpu);  // (10, 12)
    array idx = broadcast_to(indices({1, 12}, int32, -10, 9, seed++), {6, 12}, kCpu);
    array val = broadcast_to(values({6, 1}, d, false, seed++), {6, 12}, kCpu);
    EXPECT_TRUE(check(put(0), {a, idx, val})) << dn(d);
    EXPECT_TRUE(check(add_(0), {a, idx, val}, std::max(1e-5, repeat_tol(d)), 1e-5)) << dn(d);
    array ab = broadcast_to(values({1, 12}, d, false, seed++), {10, 12}, kCpu);
    EXPECT_TRUE(check(put(1), {ab, indices({10, 3}, int64, -12, 11, seed++), values({10, 3}, d, false, seed++)}))
        << dn(d);
    // Scalar values broadcast by the op; empty indices.
    EXPECT_TRUE(check(add_(1), {a, indices({10, 40}, int8, -13, 12, seed++), values({}, d, false, seed++)},
                      std::max(1e-5, repeat_tol(d)), 1e-5))
        << dn(d);
    EXPECT_TRUE(check(put(1), {a, zeros({10, 0}, int32), values({10, 0}, d, false, seed)})) << dn(d);
  }
  // One long column (1-d): the owner table.
  array v1 = random_input({1000}, float32, -1, 1, seed++);
  array i1 = indices({20000}, int32, -1000, 999, seed++);
  array u1 = random_input({20000}, float32, -1, 1, seed++);
  EXPECT_TRUE(check(put(0), {v1, i1, u1}));
  EXPECT_TRUE(check(add_(0), {v1, i1, u1}, 1e-4, 1e-5));
}

// ---- masked_scatter ----

TEST(MaskedScatterGpu, EveryDtypeAndLayout) {
  MICA_REQUIRE_GPU();
  uint32_t seed = 600;
  auto op = [](const std::vector<array>& x, StreamOrDevice s) { return masked_scatter(x[0], x[1], x[2], s); };
  for (Dtype d : kAll) {
    for (auto& [name, a] : layouts(d, 19, 33, -3, 3, seed++)) {
      Shape sh = a.shape();
      array mask = random_input(sh, bool_, 0, 1, seed++);
      std::string w = dn(d) + " " + name;
      // src longer, shorter (reused cyclically), one value, transposed; a broadcast mask.
      EXPECT_TRUE(check(op, {a, mask, random_input({1000}, d, -3, 3, seed++)})) << w;
      EXPECT_TRUE(check(op, {a, mask, random_input({3, 5}, d, -3, 3, seed++)})) << w;
      EXPECT_TRUE(check(op, {a, mask, random_input({}, d, -3, 3, seed++)})) << w;
      EXPECT_TRUE(check(op, {a, mask, transpose(random_input({7, 4}, d, -3, 3, seed++), kCpu)})) << w;
      EXPECT_TRUE(check(op, {a, random_input({sh[1]}, bool_, 0, 1, seed++), random_input({50}, d, -3, 3, seed++)}))
          << w;
      EXPECT_TRUE(check(op, {a, transpose(random_input({sh[1], sh[0]}, bool_, 0, 1, seed++), kCpu),
                             random_input({50}, d, -3, 3, seed++)}))
          << w;
      // Empty src leaves a unchanged.
      EXPECT_TRUE(check(op, {a, mask, zeros({0}, d)})) << w;
    }
  }
  // src of another dtype (cast by the op); a donated intermediate; a large mask.
  array a = random_input({300, 500}, int32, -9, 9, seed++);
  array m = random_input({300, 500}, bool_, 0, 1, seed++);
  EXPECT_TRUE(check(op, {a, m, random_input({70001}, float32, -9, 9, seed++)}));
  auto donated = [](const std::vector<array>& x, StreamOrDevice s) {
    return masked_scatter(add(x[0], array(1, int32), s), x[1], x[2], s);
  };
  EXPECT_TRUE(check(donated, {a, m, random_input({999}, int32, -9, 9, seed++)}));
  array big = random_input({3000, 1500}, float16, -1, 1, seed++);
  EXPECT_TRUE(
      check(op, {big, random_input({3000, 1500}, bool_, 0, 1, seed++), random_input({4000000}, float16, -1, 1, seed)}));
}

// ---- errors, fallbacks ----

TEST(IndexingGpu, BadInputsGiveTheOpsErrors) {
  MICA_REQUIRE_GPU();
  array a = random_input({3, 4}, float32);
  array i = array({0}, int32);
  EXPECT_TRUE(throws_op<std::invalid_argument>("gather", [&] { gather(a, array({0.5f}), 0, {1, 4}, kGpu); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("gather", [&] { gather(a, i, 0, {4, 4}, kGpu); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("scatter", [&] { scatter(a, i, zeros({1, 1, 5}), 0, kGpu); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("scatter_max", [&] {
    scatter_max(a, {i, i}, zeros({1, 1, 1}), {1, 1}, kGpu);
  }));
  EXPECT_TRUE(
      throws_op<std::invalid_argument>("take_along_axis", [&] { take_along_axis(a, array({0}, int32), 0, kGpu); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("put_along_axis", [&] {
    put_along_axis(a, reshape(array({0.5f}), {1, 1}), a, 0, kGpu);
  }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("masked_scatter", [&] { masked_scatter(a, ones({3, 4}), a, kGpu); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("take", [&] { take(zeros({0, 3}), i, 0, kGpu); }));
}

TEST(IndexingGpu, RunsOnTheGpu) {
  MICA_REQUIRE_GPU();
  size_t before = gpu::cpu_fallback_count();
  array a = random_input({8, 6}, float32);
  array i = array({1, 7, -1}, int32);
  array u = random_input({3, 1, 6}, float32);
  eval(take(a, i, 0, kGpu), scatter(a, i, u, 0, kGpu), scatter_add(a, i, u, 0, kGpu), scatter_max(a, i, u, 0, kGpu),
       take_along_axis(a, reshape(i, {3, 1}), 0, kGpu), put_along_axis(a, reshape(i, {1, 3}), array(2.0f), 1, kGpu),
       scatter_add_axis(a, reshape(i, {1, 3}), array(2.0f), 1, kGpu),
       masked_scatter(a, greater(a, array(0.0f)), u, kGpu));
  EXPECT_EQ(gpu::cpu_fallback_count(), before);
}

// ---- arrays past 2^31 elements (int64 offsets); checked on the GPU against slices ----

bool all_true(const array& x) { return all(x, kGpu).item<bool>(); }

TEST(IndexingGpu, LargeArrays) {
  MICA_REQUIRE_GPU();
  const int L = 1 << 29;
  {
    // pattern[c] = c mod 251; a[r, c] = pattern[c] + r (uint8): 4 x 2^29 = 2^31 elements.
    array pat = astype(remainder(arange(0.0, double(L), 1.0, int32, kGpu), array(251, int32), kGpu), uint8, kGpu);
    array a = add(reshape(pat, {1, L}, kGpu), reshape(array({0, 1, 2, 3}, uint8), {4, 1}, kGpu), kGpu);
    eval(pat, a);
    auto row = [&](const array& x, int r) { return reshape(slice(x, {r, 0}, {r + 1, L}, kGpu), {L}, kGpu); };
    {
      // Gather: 5 rows of 2^29 (2.7e9 elements), rows past offset 2^31 included.
      std::vector<int> rows{3, 0, 2, 3, 1};
      array g = reshape(gather(a, array(rows.begin(), {5}, int32), 0, {1, L}, kGpu), {5, L}, kGpu);
      eval(g);
      for (int k = 0; k < 5; ++k) EXPECT_TRUE(all_true(equal(row(g, k), row(a, rows[k]), kGpu))) << "gather row " << k;
      // take_along_axis over axis 0 with broadcast indices: 2^31 outputs.
      array idx = broadcast_to(reshape(array({1, 0, 3, 2}, int8), {4, 1}, kGpu), {4, L}, kGpu);
      array t = take_along_axis(a, idx, 0, kGpu);
      eval(t);
      for (int k = 0; k < 4; ++k)
        EXPECT_TRUE(all_true(equal(row(t, k), row(a, (k ^ 1)), kGpu))) << "take_along_axis " << k;
    }
    {
      // Scatter into a (5, 2^29) zeros array: row 4 (offset 2^31) twice.
      array upd = broadcast_to(reshape(pat, {1, 1, L}, kGpu), {4, 1, L}, kGpu);
      array s = scatter_add(zeros({5, L}, uint8, kGpu), array({4, 0, 4, 2}, int32), upd, 0, kGpu);
      eval(s);
      array twice = add(pat, pat, kGpu);
      EXPECT_TRUE(all_true(equal(row(s, 4), twice, kGpu)));
      EXPECT_TRUE(all_true(equal(row(s, 0), pat, kGpu)));
      EXPECT_TRUE(all_true(equal(row(s, 3), zeros({L}, uint8, kGpu), kGpu)));
      // None: the later of two windows on row 4 wins.
      array two = concatenate({reshape(row(a, 1), {1, 1, L}, kGpu), reshape(row(a, 2), {1, 1, L}, kGpu)}, 0, kGpu);
      array n = scatter(zeros({5, L}, uint8, kGpu), array({4, -1}, int32), two, 0, kGpu);
      eval(n);
      EXPECT_TRUE(all_true(equal(row(n, 4), row(a, 2), kGpu)));
      // scatter_add_axis over axis 0: rows 1, 1, 3, 0 of a (4, 2^29) zeros array.
      array ai = broadcast_to(reshape(array({1, 1, 3, 0}, int32), {4, 1}, kGpu), {4, L}, kGpu);
      array sa = scatter_add_axis(zeros({4, L}, uint8, kGpu), ai, reshape(pat, {1, L}, kGpu), 0, kGpu);
      eval(sa);
      EXPECT_TRUE(all_true(equal(row(sa, 1), twice, kGpu)));
      EXPECT_TRUE(all_true(equal(row(sa, 3), pat, kGpu)));
      EXPECT_TRUE(all_true(equal(row(sa, 2), zeros({L}, uint8, kGpu), kGpu)));
    }
  }
  {
    // masked_scatter over 25000 x 86016 (> 2^31) elements: every third column, src = 0..6
    // reused, so a row holds (c / 3) mod 7 at c = 0 mod 3 (86016 / 3 is a multiple of 7).
    const int R = 25000, C = 21 * 4096;
    array c = arange(0.0, double(C), 1.0, int32, kGpu);
    array mrow = equal(remainder(c, array(3, int32), kGpu), array(0, int32), kGpu);
    array want =
        where(mrow, astype(remainder(floor_divide(c, array(3, int32), kGpu), array(7, int32), kGpu), uint8, kGpu),
              array(9, uint8), kGpu);
    array mask = broadcast_to(reshape(mrow, {1, C}, kGpu), {R, C}, kGpu);
    array out = masked_scatter(full({R, C}, array(9, uint8), kGpu), mask, arange(0.0, 7.0, 1.0, uint8, kGpu), kGpu);
    eval(out);
    EXPECT_TRUE(all_true(equal(out, reshape(want, {1, C}, kGpu), kGpu)));
  }
}

}  // namespace
}  // namespace mica::test
