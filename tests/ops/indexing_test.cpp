// Indexing ops against double-precision loops: take, take_along_axis, put_along_axis,
// scatter_add_axis, gather, scatter (+ reductions), masked_scatter.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "reference/reference.h"

namespace mica::test {
namespace {

// A row-major reference array read from a (possibly strided) mica array.
struct Ref {
  Shape shape;
  std::vector<double> v;
};
Ref ref_of(const array& a) { return {a.shape(), to_vector(a)}; }

int64_t numel(const Shape& s) { return std::accumulate(s.begin(), s.end(), int64_t{1}, std::multiplies<int64_t>()); }
std::vector<int64_t> unravel(int64_t flat, const Shape& s) {
  std::vector<int64_t> idx(s.size());
  for (int d = static_cast<int>(s.size()) - 1; d >= 0; --d) {
    idx[d] = flat % s[d];
    flat /= s[d];
  }
  return idx;
}
int64_t ravel(const std::vector<int64_t>& idx, const Shape& s) {
  int64_t f = 0;
  for (size_t d = 0; d < s.size(); ++d) f = f * s[d] + idx[d];
  return f;
}
Shape concat(const Shape& a, const Shape& b) {
  Shape r = a;
  r.insert(r.end(), b.begin(), b.end());
  return r;
}
// Negative indices count from the end; out-of-range ones clamp (gathers).
int64_t clamp_idx(double v, int64_t dim, int64_t hi) {
  auto i = static_cast<int64_t>(v);
  if (i < 0) i += dim;
  return std::clamp<int64_t>(i, 0, hi);
}

std::vector<Dtype> value_dtypes() { return {float32, int32, float16, uint8, bfloat16, int64, bool_}; }
std::vector<Dtype> index_dtypes() { return {int32, int64, int16, uint32, int8}; }

// Random valid indices in [-dim, dim) (non-negative for unsigned dtypes).
array random_indices(const Shape& shape, int dim, Dtype dt, uint32_t seed) {
  double lo = issubdtype(dt, unsignedinteger) ? 0 : -dim;
  return astype(random_array(shape, int32, lo, dim - 1, seed), dt);
}

// ---------------------------------------------------------------- references

std::vector<double> ref_take(const Ref& a, const Ref& idx, int axis) {
  Shape pre(a.shape.begin(), a.shape.begin() + axis), post(a.shape.begin() + axis + 1, a.shape.end());
  Shape out = concat(concat(pre, idx.shape), post);
  std::vector<double> r(numel(out));
  for (int64_t f = 0; f < numel(out); ++f) {
    auto o = unravel(f, out);
    std::vector<int64_t> ii(o.begin() + pre.size(), o.begin() + pre.size() + idx.shape.size());
    std::vector<int64_t> ai(o.begin(), o.begin() + pre.size());
    ai.push_back(clamp_idx(idx.v[ravel(ii, idx.shape)], a.shape[axis], a.shape[axis] - 1));
    ai.insert(ai.end(), o.end() - post.size(), o.end());
    r[f] = a.v[ravel(ai, a.shape)];
  }
  return r;
}

// out has idx's shape; a broadcasts against idx except along axis.
std::vector<double> ref_take_along(const Ref& a, const Ref& idx, const Shape& out, int axis) {
  std::vector<double> r(numel(out));
  for (int64_t f = 0; f < numel(out); ++f) {
    auto o = unravel(f, out);
    auto ii = o, ai = o;
    for (size_t d = 0; d < o.size(); ++d) {
      if (idx.shape[d] == 1) ii[d] = 0;
      if (a.shape[d] == 1 && static_cast<int>(d) != axis) ai[d] = 0;
    }
    ai[axis] = clamp_idx(idx.v[ravel(ii, idx.shape)], a.shape[axis], a.shape[axis] - 1);
    r[f] = a.v[ravel(ai, a.shape)];
  }
  return r;
}

// put_along_axis / scatter_add_axis on a already of the output shape; idx, vals broadcast to upd.
std::vector<double> ref_put_along(const Ref& a, const Ref& idx, const Ref& vals, const Shape& upd, int axis, bool add) {
  std::vector<double> r = a.v;
  for (int64_t f = 0; f < numel(upd); ++f) {
    auto u = unravel(f, upd);
    auto ii = u, vi = u;
    for (size_t d = 0; d < u.size(); ++d) {
      if (idx.shape[d] == 1) ii[d] = 0;
      if (vals.shape[d] == 1) vi[d] = 0;
    }
    auto o = u;
    auto w = static_cast<int64_t>(idx.v[ravel(ii, idx.shape)]);
    if (w < 0) w += a.shape[axis];
    if (w < 0 || w >= a.shape[axis]) continue;
    o[axis] = w;
    double x = vals.v[ravel(vi, vals.shape)];
    double& dst = r[ravel(o, a.shape)];
    dst = add ? dst + x : x;
  }
  return r;
}

// Index arrays already broadcast to ishape.
std::vector<double> ref_gather(const Ref& a, const std::vector<Ref>& idx, const Shape& ishape,
                               const std::vector<int>& axes, const Shape& slice) {
  Shape out = concat(ishape, slice);
  std::vector<double> r(numel(out));
  for (int64_t f = 0; f < numel(out); ++f) {
    auto o = unravel(f, out);
    std::vector<int64_t> ip(o.begin(), o.begin() + ishape.size());
    std::vector<int64_t> ai(o.begin() + ishape.size(), o.end());
    for (size_t k = 0; k < axes.size(); ++k) {
      int ax = axes[k] < 0 ? axes[k] + static_cast<int>(a.shape.size()) : axes[k];
      ai[ax] += clamp_idx(idx[k].v[ravel(ip, ishape)], a.shape[ax], a.shape[ax] - slice[ax]);
    }
    r[f] = a.v[ravel(ai, a.shape)];
  }
  return r;
}

enum class Red { none, sum, prod, max, min };
double combine(Red t, double x, double u) {
  switch (t) {
    case Red::none: return u;
    case Red::sum: return x + u;
    case Red::prod: return x * u;
    case Red::max: return std::isnan(u) || u > x ? u : x;
    case Red::min: return std::isnan(u) || u < x ? u : x;
  }
  return u;
}

// Indices all of shape ishape (already broadcast); updates ishape + window.
std::vector<double> ref_scatter(const Ref& a, const std::vector<Ref>& idx, const std::vector<int>& axes,
                                const Ref& upd, Red t) {
  std::vector<double> r = a.v;
  size_t ni = upd.shape.size() - a.shape.size();
  Shape ishape(upd.shape.begin(), upd.shape.begin() + ni), win(upd.shape.begin() + ni, upd.shape.end());
  for (int64_t p = 0; p < numel(ishape); ++p) {
    std::vector<int64_t> start(a.shape.size(), 0);
    bool drop = false;
    for (size_t k = 0; k < axes.size(); ++k) {
      int ax = axes[k] < 0 ? axes[k] + static_cast<int>(a.shape.size()) : axes[k];
      auto i = static_cast<int64_t>(idx[k].v[p]);
      if (i < 0) i += a.shape[ax];
      if (i < 0 || i > a.shape[ax] - win[ax]) drop = true;
      start[ax] = i;
    }
    if (drop) continue;
    for (int64_t w = 0; w < numel(win); ++w) {
      auto wi = unravel(w, win);
      for (size_t d = 0; d < wi.size(); ++d) wi[d] += start[d];
      double& dst = r[ravel(wi, a.shape)];
      dst = combine(t, dst, upd.v[p * numel(win) + w]);
    }
  }
  return r;
}

// ---------------------------------------------------------------- take

TEST(Take, AxisMatchesReferenceAcrossDtypes) {
  uint32_t seed = 10;
  for (Dtype dt : value_dtypes()) {
    for (Dtype it : index_dtypes()) {
      array a = random_array({4, 5, 6}, dt, -5, 5, seed++);
      for (int axis : {0, 1, 2, -1, -3}) {
        int ax = axis < 0 ? axis + 3 : axis;
        array idx = random_indices({2, 3}, a.shape(ax), it, seed++);
        array out = take(a, idx, axis);
        EXPECT_TRUE(matches(out, out.shape(), ref_take(ref_of(a), ref_of(idx), ax), 0, 0))
            << dtype_to_string(dt) << " idx " << dtype_to_string(it) << " axis " << axis;
        Shape want{4, 5, 6};
        want.erase(want.begin() + ax);
        want.insert(want.begin() + ax, {2, 3});
        EXPECT_EQ(out.shape(), want);
      }
    }
  }
}

TEST(Take, StridedInputsAndIndices) {
  array a = transpose(random_array({6, 7}, float32, -3, 3, 3));  // (7, 6), non-contiguous
  for (int axis : {0, 1}) {
    array ix = transpose(random_indices({3, 4}, a.shape(axis), int32, 4 + axis));  // (4, 3) view
    EXPECT_TRUE(matches(take(a, ix, axis), axis == 0 ? Shape{4, 3, 6} : Shape{7, 4, 3},
                        ref_take(ref_of(a), ref_of(ix), axis), 0, 0));
  }
  // Broadcast (stride-0) indices and a sliced input.
  array b = slice(random_array({8, 9}, int32, -50, 50, 6), {1, 0}, {8, 9}, {2, 3});
  array bi = broadcast_to(array({2, -1, 0}, int32), {4, 3});
  EXPECT_TRUE(matches(take(b, bi, 1), {4, 4, 3}, ref_take(ref_of(b), ref_of(bi), 1), 0, 0));
}

TEST(Take, FlattenedScalarIndexAndClamping) {
  array a = reshape(arange(12), {3, 4});
  EXPECT_TRUE(matches(take(a, array({11, -1, 0, 5}, int32)), {4}, {11, 11, 0, 5}, 0, 0));
  EXPECT_TRUE(matches(take(a, 2, 1), {3}, {2, 6, 10}, 0, 0));
  EXPECT_TRUE(matches(take(a, -1, 0), {4}, {8, 9, 10, 11}, 0, 0));
  EXPECT_TRUE(matches(take(a, 7), {}, {7}, 0, 0));
  EXPECT_TRUE(matches(take(array(3), array({0, 0}, int32)), {2}, {3, 3}, 0, 0));
  // Out of range: clamped after wrapping negatives once.
  EXPECT_TRUE(matches(take(a, array({9, -9}, int32), 1), {3, 2}, {3, 0, 7, 4, 11, 8}, 0, 0));
  EXPECT_TRUE(matches(take(arange(5), array({100, -100}, int64)), {2}, {4, 0}, 0, 0));
  // uint64 beyond int64 counts as out of range, not as a huge offset.
  EXPECT_TRUE(matches(take(arange(5), array({~uint64_t{0}}, uint64)), {1}, {4}, 0, 0));
}

TEST(Take, LargeParallel) {
  array a = random_array({3000, 40}, float32, -1, 1, 7);
  array idx = random_indices({5000}, 3000, int32, 8);
  EXPECT_TRUE(matches(take(a, idx, 0), {5000, 40}, ref_take(ref_of(a), ref_of(idx), 0), 0, 0));
  array a2 = random_array({40, 3000}, float32, -1, 1, 9);
  EXPECT_TRUE(matches(take(a2, idx, 1), {40, 5000}, ref_take(ref_of(a2), ref_of(idx), 1), 0, 0));
  array one = random_array({200000}, int32, -9, 9, 10);
  auto ov = to_vector(one);
  EXPECT_TRUE(matches(gather(one, array(5), 0, {150000}), {150000}, std::vector<double>(ov.begin() + 5, ov.begin() + 150005),
                      0, 0));
}

TEST(Take, Empty) {
  array a = zeros({0, 3});
  EXPECT_EQ(take(a, array({0}, int32), 1).shape(), (Shape{0, 1}));
  EXPECT_EQ(take(a, zeros({0}, int32), 0).shape(), (Shape{0, 3}));
  array b = random_array({3, 4}, float32, -1, 1, 11);
  array e = take(b, zeros({2, 0}, int32), 1);
  EXPECT_EQ(e.shape(), (Shape{3, 2, 0}));
  EXPECT_EQ(to_vector(e).size(), 0u);
  EXPECT_EQ(to_vector(take(b, zeros({0}, int32))).size(), 0u);
}

TEST(Take, BadInputs) {
  array a = random_array({3, 4}, float32, -1, 1, 12);
  EXPECT_TRUE(throws_op<std::invalid_argument>("take", [&] { take(a, array({0.5f}), 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("take", [&] { take(a, array({true}), 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("take", [&] { take(a, array({0.5f})); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("take", [&] { take(a, array({0}, int32), 2); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("take", [&] { take(a, array({0}, int32), -3); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("take", [&] { take(array(1.0f), array({0}, int32), 0); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("take", [&] { take(a, 0, 5); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("take", [&] { take(zeros({0, 3}), array({0}, int32), 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("take", [&] { take(zeros({0, 3}), 0, 0); }));
}

// ---------------------------------------------------------------- take_along_axis / put_along_axis

TEST(TakeAlongAxis, MatchesReference) {
  uint32_t seed = 100;
  for (Dtype dt : value_dtypes()) {
    array a = random_array({3, 4, 5}, dt, -5, 5, seed++);
    for (int axis : {0, 1, 2, -1}) {
      int ax = axis < 0 ? axis + 3 : axis;
      Shape is = a.shape();
      is[ax] = 6;
      for (Dtype it : {int32, uint8, int64}) {
        array idx = random_indices(is, a.shape(ax), it, seed++);
        array out = take_along_axis(a, idx, axis);
        EXPECT_TRUE(matches(out, is, ref_take_along(ref_of(a), ref_of(idx), is, ax), 0, 0))
            << dtype_to_string(dt) << " axis " << axis;
      }
    }
  }
}

TEST(TakeAlongAxis, BroadcastAndStrided) {
  // a (1, 4) broadcasts against indices (3, 2) along axis 1: MLX gives shape (3, 2).
  array a = reshape(arange(4), {1, 4});
  array idx = array({0, 1, 2, 3, 1, 1}, {3, 2}, int32);
  EXPECT_TRUE(matches(take_along_axis(a, idx, 1), {3, 2}, {0, 1, 2, 3, 1, 1}, 0, 0));
  // Indices (3, 1) broadcast along axis 0 against a (3, 4)... only along other axes: (1, 4) indices.
  array b = random_array({5, 4}, float32, -1, 1, 13);
  array bi = array({4, 0, -1, 2}, {1, 4}, int32);
  EXPECT_TRUE(matches(take_along_axis(b, bi, 0), {1, 4}, ref_take_along(ref_of(b), ref_of(bi), {1, 4}, 0), 0, 0));
  array bt = transpose(b);  // (4, 5) view
  array ti = transpose(random_indices({7, 4}, 5, int32, 14));  // (4, 7) view
  EXPECT_TRUE(matches(take_along_axis(bt, ti, 1), {4, 7}, ref_take_along(ref_of(bt), ref_of(ti), {4, 7}, 1), 0, 0));
  // argsort + take_along_axis sorts.
  array c = random_array({6, 9}, float32, -1, 1, 15);
  EXPECT_TRUE(matches(take_along_axis(c, argsort(c, 1), 1), {6, 9}, to_vector(sort(c, 1)), 0, 0));
  // Large enough to split over threads.
  array big = random_array({300, 200}, float32, -1, 1, 16);
  array bidx = random_indices({300, 150}, 200, int32, 17);
  EXPECT_TRUE(matches(take_along_axis(big, bidx, 1), {300, 150},
                      ref_take_along(ref_of(big), ref_of(bidx), {300, 150}, 1), 0, 0));
  array bidx0 = random_indices({150, 200}, 300, int32, 18);
  EXPECT_TRUE(matches(take_along_axis(big, bidx0, 0), {150, 200},
                      ref_take_along(ref_of(big), ref_of(bidx0), {150, 200}, 0), 0, 0));
}

TEST(TakeAlongAxis, EmptyAndBad) {
  EXPECT_EQ(take_along_axis(zeros({3, 0}), zeros({3, 0}, int32), 1).shape(), (Shape{3, 0}));
  EXPECT_EQ(take_along_axis(zeros({3, 4}), zeros({3, 0}, int32), 1).shape(), (Shape{3, 0}));
  EXPECT_EQ(to_vector(take_along_axis(zeros({0, 4}), zeros({0, 2}, int32), 1)).size(), 0u);
  array a = random_array({3, 4}, float32, -1, 1, 19);
  EXPECT_TRUE(throws_op<std::invalid_argument>("take_along_axis", [&] { take_along_axis(a, zeros({3, 1}), 1); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("take_along_axis", [&] { take_along_axis(a, zeros({3}, int32), 1); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("take_along_axis", [&] { take_along_axis(a, zeros({1, 2}, int32), 0); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("take_along_axis", [&] { take_along_axis(a, zeros({3, 1}, int32), 2); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("take_along_axis", [&] { take_along_axis(a, zeros({3, 1}, int32), -3); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("take_along_axis", [&] { take_along_axis(zeros({3, 0}), zeros({3, 1}, int32), 1); }));
}

TEST(PutAlongAxis, MatchesReference) {
  uint32_t seed = 200;
  for (Dtype dt : value_dtypes()) {
    array a = random_array({4, 5, 3}, dt, 0, 4, seed++);
    for (int axis : {0, 1, -1}) {
      int ax = axis < 0 ? axis + 3 : axis;
      Shape is = a.shape();
      is[ax] = 2;
      array idx = random_indices(is, a.shape(ax), int32, seed++);
      array vals = random_array(is, dt, 0, 4, seed++);
      EXPECT_TRUE(matches(put_along_axis(a, idx, vals, axis), a.shape(),
                          ref_put_along(ref_of(a), ref_of(idx), ref_of(vals), is, ax, false), 0, 0))
          << dtype_to_string(dt);
      if (dt == bool_) continue;
      EXPECT_TRUE(matches(scatter_add_axis(a, idx, vals, axis), a.shape(),
                          ref_put_along(ref_of(a), ref_of(idx), ref_of(vals), is, ax, true), tol_for(dt), tol_for(dt)))
          << dtype_to_string(dt);
    }
  }
}

TEST(PutAlongAxis, BroadcastCastAndDuplicates) {
  array a = reshape(arange(12), {3, 4});
  // Scalar values broadcast; float values are cast to a's int dtype (as MLX).
  EXPECT_TRUE(matches(put_along_axis(a, array({0, 1, 2}, {3, 1}, int32), array(100.5f), 1), {3, 4},
                      {100, 1, 2, 3, 4, 100, 6, 7, 8, 9, 100, 11}, 0, 0));
  // Indices (3, 1) and values (5,) broadcast to (3, 5): the last write wins (MLX gives 5).
  EXPECT_TRUE(matches(put_along_axis(a, array({0, 1, 2}, {3, 1}, int32), array({1, 2, 3, 4, 5}, int32), 1), {3, 4},
                      {5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 5, 11}, 0, 0));
  // a (1, 4) broadcasts against indices (3, 2): result (3, 4), as MLX.
  EXPECT_TRUE(matches(put_along_axis(reshape(arange(4), {1, 4}), array({0, 1, 2, 3, 1, 1}, {3, 2}, int32), array(9), 1),
                      {3, 4}, {9, 9, 2, 3, 0, 1, 9, 9, 0, 9, 2, 3}, 0, 0));
  // Duplicates accumulate in scatter_add_axis; out-of-range indices are dropped.
  EXPECT_TRUE(matches(scatter_add_axis(zeros({2, 3}), array({0, 0, 2, 7, -1, -5}, {2, 3}, int32), ones({2, 3}), 1),
                      {2, 3}, {2, 0, 1, 0, 0, 1}, 0, 0));
  // Strided a, indices and values.
  array b = transpose(random_array({5, 4}, float32, -1, 1, 20));  // (4, 5)
  array bi = transpose(random_indices({3, 4}, 5, int32, 21));        // (4, 3)
  array bv = transpose(random_array({3, 4}, float32, -1, 1, 22));    // (4, 3)
  EXPECT_TRUE(matches(put_along_axis(b, bi, bv, 1), {4, 5},
                      ref_put_along(ref_of(b), ref_of(bi), ref_of(bv), {4, 3}, 1, false), 0, 0));
  // Large.
  array big = random_array({400, 100}, float32, -1, 1, 23);
  array bigi = random_indices({400, 60}, 100, int32, 24);
  array bigv = random_array({400, 60}, float32, -1, 1, 25);
  EXPECT_TRUE(matches(scatter_add_axis(big, bigi, bigv, 1), {400, 100},
                      ref_put_along(ref_of(big), ref_of(bigi), ref_of(bigv), {400, 60}, 1, true), 1e-5, 1e-5));
}

TEST(PutAlongAxis, EmptyAndBad) {
  EXPECT_EQ(put_along_axis(zeros({3, 0}), zeros({3, 0}, int32), array(1.0f), 1).shape(), (Shape{3, 0}));
  EXPECT_TRUE(matches(put_along_axis(ones({2, 2}), zeros({2, 0}, int32), zeros({2, 0}), 1), {2, 2}, {1, 1, 1, 1}));
  array a = random_array({3, 4}, float32, -1, 1, 26);
  array i = zeros({3, 1}, int32);
  EXPECT_TRUE(throws_op<std::invalid_argument>("put_along_axis", [&] { put_along_axis(a, zeros({3, 1}), a, 1); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("put_along_axis", [&] { put_along_axis(a, zeros({3}, int32), a, 1); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("put_along_axis", [&] { put_along_axis(a, i, zeros({3, 2, 2}), 1); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("put_along_axis", [&] { put_along_axis(a, i, zeros({2, 1}), 1); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("put_along_axis", [&] { put_along_axis(a, zeros({2, 1}, int32), zeros({1}), 1); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("put_along_axis", [&] { put_along_axis(a, i, zeros({1}), 2); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("scatter_add_axis", [&] { scatter_add_axis(a, zeros({3, 1}), a, 1); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("put_along_axis", [&] { put_along_axis(zeros({3, 0}), i, zeros({1}), 1); }));
}

// ---------------------------------------------------------------- gather

TEST(Gather, MatchesReference) {
  uint32_t seed = 300;
  for (Dtype dt : value_dtypes()) {
    array a = random_array({5, 6, 7}, dt, -5, 5, seed++);
    // Two index arrays broadcasting together, on axes (2, 0); windows of size (2, 3, 4).
    array i0 = random_indices({3, 1}, 7, int32, seed++);
    array i1 = random_indices({1, 4}, 5, int16, seed++);
    Shape slice{2, 3, 4};
    array g = gather(a, {i0, i1}, {2, 0}, slice);
    array b0 = broadcast_to(i0, {3, 4}), b1 = broadcast_to(i1, {3, 4});
    EXPECT_TRUE(matches(g, {3, 4, 2, 3, 4}, ref_gather(ref_of(a), {ref_of(b0), ref_of(b1)}, {3, 4}, {2, 0}, slice), 0, 0))
        << dtype_to_string(dt);
    // One index array, negative axis, full trailing window.
    array i2 = random_indices({4}, 6, int64, seed++);
    EXPECT_TRUE(matches(gather(a, i2, -2, {5, 1, 7}), {4, 5, 1, 7},
                        ref_gather(ref_of(a), {ref_of(i2)}, {4}, {1}, {5, 1, 7}), 0, 0));
  }
  // No index arrays: a plain window at the origin.
  array b = random_array({4, 4}, float32, -1, 1, 30);
  EXPECT_TRUE(matches(gather(b, std::vector<array>{}, std::vector<int>{}, {2, 3}), {2, 3},
                      ref_gather(ref_of(b), {}, {}, {}, {2, 3}), 0, 0));
  // Strided input and out-of-range starts (clamped so the window stays inside).
  array bt = transpose(random_array({6, 5}, int32, -9, 9, 31));
  array oi = array({0, 3, 4, 100, -1, -100}, int32);
  EXPECT_TRUE(matches(gather(bt, oi, 0, {2, 6}), {6, 2, 6}, ref_gather(ref_of(bt), {ref_of(oi)}, {6}, {0}, {2, 6}), 0, 0));
}

TEST(Gather, EmptyAndBad) {
  array a = random_array({3, 4}, float32, -1, 1, 32);
  EXPECT_EQ(gather(a, zeros({0}, int32), 0, {1, 4}).shape(), (Shape{0, 1, 4}));
  EXPECT_EQ(to_vector(gather(a, array({1}, int32), 0, {0, 4})).size(), 0u);
  EXPECT_EQ(gather(zeros({0, 4}), array({0}, int32), 1, {0, 1}).shape(), (Shape{1, 0, 1}));
  array i = array({0}, int32);
  EXPECT_TRUE(throws_op<std::invalid_argument>("gather", [&] { gather(a, array({0.0f}), 0, {1, 4}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("gather", [&] { gather(a, i, 0, {1}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("gather", [&] { gather(a, i, 0, {4, 4}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("gather", [&] { gather(a, i, 0, {-1, 4}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("gather", [&] { gather(a, {i, i}, std::vector<int>{0}, {1, 1}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("gather", [&] { gather(a, {i, i}, {1, 1}, {1, 1}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("gather", [&] { gather(a, {array({0, 1, 2}, int32), zeros({2}, int32)}, {0, 1}, {1, 1}); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("gather", [&] { gather(a, i, 2, {1, 1}); }));
}

// ---------------------------------------------------------------- scatter

TEST(Scatter, AllReductionsMatchReference) {
  uint32_t seed = 400;
  struct Case {
    Red red;
    std::function<array(const array&, const std::vector<array>&, const array&, const std::vector<int>&)> f;
  };
  std::vector<Case> cases = {
      {Red::none, [](auto& a, auto& i, auto& u, auto& ax) { return scatter(a, i, u, ax); }},
      {Red::sum, [](auto& a, auto& i, auto& u, auto& ax) { return scatter_add(a, i, u, ax); }},
      {Red::prod, [](auto& a, auto& i, auto& u, auto& ax) { return scatter_prod(a, i, u, ax); }},
      {Red::max, [](auto& a, auto& i, auto& u, auto& ax) { return scatter_max(a, i, u, ax); }},
      {Red::min, [](auto& a, auto& i, auto& u, auto& ax) { return scatter_min(a, i, u, ax); }},
  };
  for (Dtype dt : {float32, int32, float16, uint8, bfloat16, int64}) {
    for (auto& c : cases) {
      double hi = c.red == Red::prod ? 2 : 3;  // keep products inside uint8
      array a = random_array({6, 5, 4}, dt, 1, hi, seed++);
      // Indices (4, 3) on axes (0, 2) with repeats; window (1, 5, 2).
      array i0 = random_indices({4, 3}, 6, int32, seed++);
      array i1 = random_indices({4, 1}, 3, int64, seed++);  // broadcast, window 2 on a dim of 4
      array i1b = broadcast_to(i1, {4, 3});
      array upd = random_array({4, 3, 1, 5, 2}, dt, 1, hi, seed++);
      array out = c.f(a, {i0, i1}, upd, {0, -1});
      double tol = c.red == Red::sum || c.red == Red::prod ? 4 * tol_for(dt) : 0;
      EXPECT_TRUE(matches(out, a.shape(), ref_scatter(ref_of(a), {ref_of(i0), ref_of(i1b)}, {0, 2}, ref_of(upd), c.red), tol,
                          tol))
          << dtype_to_string(dt) << " reduce " << static_cast<int>(c.red);
    }
  }
}

TEST(Scatter, SingleIndexOverloadsAndSemantics) {
  array a = zeros({5}, int32);
  array idx = array({1, 3, 1, -1}, int32);
  array upd = reshape(array({10, 20, 30, 40}, int32), {4, 1});
  EXPECT_TRUE(matches(scatter(a, idx, upd, 0), {5}, {0, 30, 0, 20, 40}, 0, 0));  // later repeats win
  EXPECT_TRUE(matches(scatter_add(a, idx, upd, 0), {5}, {0, 40, 0, 20, 40}, 0, 0));
  EXPECT_TRUE(matches(scatter_prod(ones({5}, int32), idx, upd, 0), {5}, {1, 300, 1, 20, 40}, 0, 0));
  EXPECT_TRUE(matches(scatter_max(a, idx, upd - 25, 0), {5}, {0, 5, 0, 0, 15}, 0, 0));
  EXPECT_TRUE(matches(scatter_min(a, idx, upd - 25, 0), {5}, {0, -15, 0, -5, 0}, 0, 0));
  // Out-of-range indices drop their update.
  EXPECT_TRUE(matches(scatter(a, array({7, 2, -9}, int32), reshape(array({1, 2, 3}, int32), {3, 1}), 0), {5},
                      {0, 0, 2, 0, 0}, 0, 0));
  // NaN wins in max/min; float updates cast to int a.
  array nanu = reshape(array({NAN, 1.0f}), {2, 1});
  EXPECT_TRUE(matches(scatter_max(zeros({3}), array({0, 1}, int32), nanu, 0), {3}, {NAN, 1, 0}, 0, 0));
  EXPECT_TRUE(matches(scatter(a, array({0}, int32), reshape(array({2.7f}), {1, 1}), 0), {5}, {2, 0, 0, 0, 0}, 0, 0));
  // Rows of a matrix, updates a transposed view.
  array m = zeros({4, 3});
  array rows = transpose(reshape(arange(6.0, float32), {3, 2}));  // (2, 3)
  EXPECT_TRUE(matches(scatter(m, array({2, 0}, int32), reshape(rows, {2, 1, 3}), 0), {4, 3},
                      {1, 3, 5, 0, 0, 0, 0, 2, 4, 0, 0, 0}, 0, 0));
  // Broadcast (stride 0) updates, large window split over threads.
  array big = zeros({4, 300, 300});
  array bu = broadcast_to(array(2.0f), {2, 1, 300, 300});
  auto got = to_vector(scatter_add(big, array({3, 3}, int32), bu, 0));
  EXPECT_EQ(got[3 * 90000 + 12345], 4.0);
  EXPECT_EQ(got[2 * 90000 + 12345], 0.0);
  // The input array is not modified (no donation while it is still held).
  array keep = ones({3});
  array s2 = scatter(keep, array({0}, int32), reshape(array({5.0f}), {1, 1}), 0);
  EXPECT_TRUE(matches(s2, {3}, {5, 1, 1}));
  EXPECT_TRUE(matches(keep, {3}, {1, 1, 1}));
  // Complex values move intact.
  array cz = scatter(zeros({2}, complex64), array({1}, int32), reshape(array(complex64_t(1, 2)), {1, 1}), 0);
  EXPECT_EQ(to_vector_imag(cz), (std::vector<double>{0, 2}));
}

TEST(Scatter, EmptyAndBad) {
  array a = random_array({3, 4}, float32, -1, 1, 40);
  EXPECT_TRUE(matches(scatter(a, zeros({0}, int32), zeros({0, 1, 4}), 0), {3, 4}, to_vector(a)));
  EXPECT_TRUE(matches(scatter(a, array({1}, int32), zeros({1, 0, 4}), 0), {3, 4}, to_vector(a)));
  EXPECT_EQ(to_vector(scatter(zeros({0, 4}), zeros({0}, int32), zeros({0, 0, 4}), 0)).size(), 0u);
  array i = array({0}, int32);
  EXPECT_TRUE(throws_op<std::invalid_argument>("scatter", [&] { scatter(a, array({0.0f}), zeros({1, 1, 4}), 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("scatter", [&] { scatter(a, i, zeros({1, 4}), 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("scatter", [&] { scatter(a, i, zeros({2, 1, 4}), 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("scatter", [&] { scatter(a, i, zeros({1, 1, 5}), 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("scatter_add", [&] { scatter_add(a, {i, i}, zeros({1, 1, 1}), std::vector<int>{0}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("scatter_max", [&] { scatter_max(a, {i, i}, zeros({1, 1, 1}), {1, 1}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("scatter_min", [&] { scatter_min(a, {array({0, 1, 2}, int32), zeros({2}, int32)}, zeros({2, 1, 1}), {0, 1}); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("scatter_prod", [&] { scatter_prod(a, i, zeros({1, 1, 1}), 3); }));
}

// ---------------------------------------------------------------- masked_scatter

std::vector<double> ref_masked(const Ref& a, const Ref& mask, const Ref& src) {
  std::vector<double> r = a.v;
  size_t k = 0;
  for (int64_t f = 0; f < numel(a.shape); ++f) {
    if (mask.v[broadcast_index(f, a.shape, mask.shape)] != 0 && !src.v.empty()) {
      r[f] = src.v[k];
      k = (k + 1) % src.v.size();
    }
  }
  return r;
}

TEST(MaskedScatter, MatchesReference) {
  uint32_t seed = 500;
  for (Dtype dt : value_dtypes()) {
    array a = random_array({4, 5}, dt, -5, 5, seed++);
    array mask = random_array({4, 5}, bool_, 0, 1, seed++);
    array src = random_array({3, 7}, dt, -5, 5, seed++);
    EXPECT_TRUE(matches(masked_scatter(a, mask, src), {4, 5}, ref_masked(ref_of(a), ref_of(mask), ref_of(src)), 0, 0))
        << dtype_to_string(dt);
  }
  // Broadcast mask, strided a and src, float src cast to int a.
  array a = transpose(random_array({5, 4}, int32, -9, 9, 50));
  array mask = array({true, false, true, true, false}, bool_);
  array src = transpose(random_array({4, 3}, float32, -9, 9, 51));
  array srci = astype(src, int32);
  EXPECT_TRUE(matches(masked_scatter(a, mask, src), {4, 5}, ref_masked(ref_of(a), ref_of(mask), ref_of(srci)), 0, 0));
  // MLX example: a > 5 with 7 values; a scalar src fills every masked position.
  array m = reshape(arange(12), {3, 4});
  EXPECT_TRUE(matches(masked_scatter(m, greater(m, array(5)), array({100, 200, 300, 400, 500, 600, 700}, int32)), {3, 4},
                      {0, 1, 2, 3, 4, 5, 100, 200, 300, 400, 500, 600}, 0, 0));
  EXPECT_TRUE(matches(masked_scatter(m, greater(m, array(5)), array(7)), {3, 4}, {0, 1, 2, 3, 4, 5, 7, 7, 7, 7, 7, 7}, 0, 0));
  // Large.
  array big = random_array({500, 300}, float32, -1, 1, 52);
  array bm = random_array({500, 300}, bool_, 0, 1, 53);
  array bs = random_array({150000}, float32, -1, 1, 54);
  EXPECT_TRUE(matches(masked_scatter(big, bm, bs), {500, 300}, ref_masked(ref_of(big), ref_of(bm), ref_of(bs)), 0, 0));
}

TEST(MaskedScatter, EmptyAndBad) {
  EXPECT_EQ(masked_scatter(zeros({0, 3}), zeros({0, 3}, bool_), zeros({0})).shape(), (Shape{0, 3}));
  EXPECT_TRUE(matches(masked_scatter(ones({2}), ones({2}, bool_), zeros({0})), {2}, {1, 1}));
  array a = zeros({3, 4});
  EXPECT_TRUE(throws_op<std::invalid_argument>("masked_scatter", [&] { masked_scatter(a, ones({3, 4}), ones({12})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("masked_scatter", [&] { masked_scatter(a, ones({3}, bool_), ones({12})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("masked_scatter", [&] { masked_scatter(a, ones({2, 3, 4}, bool_), ones({12})); }));
}

}  // namespace
}  // namespace mica::test
