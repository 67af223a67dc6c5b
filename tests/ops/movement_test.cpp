// Tests of the movement family: every op against an index-loop reference over doubles, on
// random inputs of several dtypes, views as inputs, chains of views, empty arrays, layout
// flags of the results, buffer sharing and donation, and a block of bad inputs per op.
#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <random>

#include "reference/overflow.h"
#include "reference/reference.h"

namespace mica {
namespace {
using test::all_close;
using test::throws_op;
using test::to_vector;
using Idx = std::vector<int64_t>;

// ---- Reference machinery -------------------------------------------------------------------

struct Ref {
  Shape shape;
  std::vector<double> v;
};

size_t numel(const Shape& s) {
  size_t n = 1;
  for (auto d : s) n *= static_cast<size_t>(d);
  return n;
}

Idx unravel(size_t flat, const Shape& shape) {
  Idx idx(shape.size());
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    idx[d] = static_cast<int64_t>(flat % shape[d]);
    flat /= shape[d];
  }
  return idx;
}

size_t ravel(const Idx& idx, const Shape& shape) {
  size_t f = 0;
  for (size_t d = 0; d < shape.size(); ++d) f = f * shape[d] + idx[d];
  return f;
}

Ref ref_of(const array& a) { return {a.shape(), to_vector(a)}; }

// out[o] = in[i] where map(o, i) fills i and returns true; `fill` where it returns false.
Ref gather(const Ref& in, const Shape& out_shape, const std::function<bool(const Idx&, Idx&)>& map, double fill = 0) {
  Ref r{out_shape, std::vector<double>(numel(out_shape))};
  Idx i(in.shape.size());
  for (size_t f = 0; f < r.v.size(); ++f) {
    Idx o = unravel(f, out_shape);
    r.v[f] = map(o, i) ? in.v[ravel(i, in.shape)] : fill;
  }
  return r;
}

// Python's slice(start, stop, step).indices(n), walked.
std::vector<int64_t> py_indices(int64_t n, int64_t start, int64_t stop, int64_t step) {
  auto fix = [&](int64_t v) {
    if (v < 0) {
      v += n;
      if (v < 0) v = step < 0 ? -1 : 0;
    } else if (v >= n) {
      v = step < 0 ? n - 1 : n;
    }
    return v;
  };
  int64_t s = fix(start), e = fix(stop);
  std::vector<int64_t> out;
  if (step > 0) {
    for (int64_t i = s; i < e; i += step) out.push_back(i);
  } else {
    for (int64_t i = s; i > e; i += step) out.push_back(i);
  }
  return out;
}

Ref ref_slice(const Ref& in, const Shape& start, const Shape& stop, const Shape& step) {
  std::vector<std::vector<int64_t>> ix;
  Shape out;
  for (size_t d = 0; d < in.shape.size(); ++d) {
    ix.push_back(py_indices(in.shape[d], start[d], stop[d], step[d]));
    out.push_back(static_cast<int32_t>(ix.back().size()));
  }
  return gather(in, out, [&](const Idx& o, Idx& i) {
    for (size_t d = 0; d < o.size(); ++d) i[d] = ix[d][o[d]];
    return true;
  });
}

Ref ref_transpose(const Ref& in, const std::vector<int>& perm) {
  Shape out;
  for (int p : perm) out.push_back(in.shape[p]);
  return gather(in, out, [&](const Idx& o, Idx& i) {
    for (size_t d = 0; d < perm.size(); ++d) i[perm[d]] = o[d];
    return true;
  });
}

Ref ref_broadcast(const Ref& in, const Shape& out) {
  size_t diff = out.size() - in.shape.size();
  return gather(in, out, [&](const Idx& o, Idx& i) {
    for (size_t d = 0; d < in.shape.size(); ++d) i[d] = in.shape[d] == 1 ? 0 : o[d + diff];
    return true;
  });
}

Ref ref_concat(const std::vector<Ref>& parts, int axis) {
  Shape out = parts[0].shape;
  out[axis] = 0;
  for (auto& p : parts) out[axis] += p.shape[axis];
  Ref r{out, {}};
  for (size_t f = 0; f < numel(out); ++f) {
    Idx o = unravel(f, out);
    int64_t k = o[axis];
    for (auto& p : parts) {
      if (k < p.shape[axis]) {
        Idx i = o;
        i[axis] = k;
        r.v.push_back(p.v[ravel(i, p.shape)]);
        break;
      }
      k -= p.shape[axis];
    }
  }
  return r;
}

enum class PadMode { constant, edge, reflect, symmetric };

// Source index along an axis of extent n for padded coordinate i (-1: the pad value), found by
// bouncing off the ends one reflection at a time.
int64_t pad_source(int64_t i, int64_t n, PadMode m) {
  if (i >= 0 && i < n) return i;
  if (m == PadMode::constant || n == 0) return -1;
  if (m == PadMode::edge) return i < 0 ? 0 : n - 1;
  if (m == PadMode::reflect && n == 1) return 0;
  while (i < 0 || i >= n) {
    if (m == PadMode::reflect) {
      if (i < 0) i = -i;
      if (i >= n) i = 2 * (n - 1) - i;
    } else {
      if (i < 0) i = -i - 1;
      if (i >= n) i = 2 * n - 1 - i;
    }
  }
  return i;
}

Ref ref_pad(const Ref& in, const Shape& lo, const Shape& hi, PadMode m, double value) {
  Shape out = in.shape;
  for (size_t d = 0; d < out.size(); ++d) out[d] += lo[d] + hi[d];
  return gather(
      in, out,
      [&](const Idx& o, Idx& i) {
        for (size_t d = 0; d < o.size(); ++d) {
          i[d] = pad_source(o[d] - lo[d], in.shape[d], m);
          if (i[d] < 0) return false;
        }
        return true;
      },
      value);
}

// Checks the layout flags and data_size of an evaluated array against its strides by
// enumerating every element's offset.
testing::AssertionResult layout_ok(const array& a) {
  if (a.size() == 0) return testing::AssertionSuccess();
  const auto& sh = a.shape();
  const auto& st = a.strides();
  int nd = static_cast<int>(a.ndim());
  bool row = true, col = true;
  int64_t expect = 1;
  for (int d = nd - 1; d >= 0; --d) {
    if (sh[d] == 1) continue;
    row = row && st[d] == expect;
    expect *= sh[d];
  }
  expect = 1;
  for (int d = 0; d < nd; ++d) {
    if (sh[d] == 1) continue;
    col = col && st[d] == expect;
    expect *= sh[d];
  }
  // contiguous (as MLX): the elements along the non-broadcast dims (stride != 0) take every
  // offset 0..n-1 once; data_size is that n, else the span.
  Shape distinct = sh;
  for (int d = 0; d < nd; ++d) {
    if (st[d] == 0) distinct[d] = 1;
  }
  size_t n = 1;
  for (auto e : distinct) n *= static_cast<size_t>(e);
  std::vector<int64_t> offs;
  for (size_t f = 0; f < n; ++f) {
    Idx i = unravel(f, distinct);
    int64_t off = 0;
    for (int d = 0; d < nd; ++d) off += i[d] * st[d];
    offs.push_back(off);
  }
  std::sort(offs.begin(), offs.end());
  bool dense = offs.front() == 0;
  for (size_t k = 0; k < offs.size(); ++k) dense = dense && offs[k] == static_cast<int64_t>(k);
  size_t span = static_cast<size_t>(offs.back() - offs.front() + 1);
  auto& fl = a.flags();
  if (fl.row_contiguous != row || fl.col_contiguous != col || fl.contiguous != dense) {
    return testing::AssertionFailure() << "flags row/col/contiguous " << fl.row_contiguous << fl.col_contiguous
                                       << fl.contiguous << " want " << row << col << dense << " for shape "
                                       << detail::shape_str(sh);
  }
  size_t want_ds = dense ? n : span;
  if (a.data_size() != want_ds) {
    return testing::AssertionFailure() << "data_size " << a.data_size() << " want " << want_ds;
  }
  return testing::AssertionSuccess();
}

// Shape, exact values (real and imaginary parts) and layout of `got` against `want`.
testing::AssertionResult same(array got, const Ref& want) {
  got.eval();
  if (got.shape() != want.shape) {
    return testing::AssertionFailure() << "shape " << detail::shape_str(got.shape()) << " != "
                                       << detail::shape_str(want.shape);
  }
  auto r = all_close(to_vector(got), want.v, 0, 0);
  if (!r) return r;
  return layout_ok(got);
}
testing::AssertionResult same(array got, const array& want_values) { return same(std::move(got), ref_of(want_values)); }

// Imaginary parts follow the same movement as the real parts.
testing::AssertionResult same_imag(array got, const std::vector<double>& want) {
  return all_close(test::to_vector_imag(std::move(got)), want, 0, 0);
}

array rnd(const Shape& shape, Dtype d = float32, uint32_t seed = 1) {
  if (d == bool_) return test::random_array(shape, d, 0, 1, seed);
  if (issubdtype(d, unsignedinteger)) return test::random_array(shape, d, 0, 200, seed);
  if (issubdtype(d, integer)) return test::random_array(shape, d, -100, 100, seed);
  return test::random_array(shape, d, -2, 2, seed);
}

// A complex array with distinct real and imaginary parts.
array rnd_complex(const Shape& shape, uint32_t seed = 1) {
  auto re = to_vector(rnd(shape, float32, seed)), im = to_vector(rnd(shape, float32, seed + 100));
  std::vector<complex64_t> v;
  for (size_t i = 0; i < re.size(); ++i) v.emplace_back(static_cast<float>(re[i]), static_cast<float>(im[i]));
  return array(v.begin(), shape, complex64);
}

const Dtype kDtypes[] = {bool_, uint8, uint16, uint32, uint64, int8, int16, int32, int64,
                         float16, float32, float64, bfloat16, complex64};

// Views share their input's buffer record (on the host, the GPU or both).
bool shares(const array& a, const array& b) { return a.data_record() == b.data_record(); }

// ---- reshape and friends --------------------------------------------------------------------

TEST(Reshape, ValuesAndViews) {
  array x = rnd({2, 3, 4});
  x.eval();
  auto rx = ref_of(x);
  array y = reshape(x, {4, -1});
  EXPECT_TRUE(same(y, Ref{{4, 6}, rx.v}));
  EXPECT_TRUE(shares(y, x));
  EXPECT_TRUE(same(reshape(x, {24}), Ref{{24}, rx.v}));
  EXPECT_TRUE(same(reshape(x, {1, 2, 1, 12, 1}), Ref{{1, 2, 1, 12, 1}, rx.v}));
  EXPECT_TRUE(reshape(x, {2, 3, 4}).is_same(x));

  // A transposed input: merging axes whose strides chain stays a view, others are copied.
  array t = transpose(x, {2, 0, 1});  // (4, 2, 3), strides (1, 12, 4)
  t.eval();
  auto rt = ref_transpose(rx, {2, 0, 1});
  array yv = reshape(t, {4, 6});
  EXPECT_TRUE(same(yv, Ref{{4, 6}, rt.v}));
  EXPECT_TRUE(shares(yv, x));
  array yt = reshape(t, {8, 3});
  EXPECT_TRUE(same(yt, Ref{{8, 3}, rt.v}));
  EXPECT_FALSE(shares(yt, x));
  EXPECT_TRUE(yt.flags().row_contiguous);

  // Splitting or merging evenly strided dims of a non-contiguous view stays a view.
  array s = slice(x, {0, 0, 0}, {2, 3, 4}, {1, 1, 2});  // (2, 3, 2), strides (12, 4, 2)
  s.eval();
  auto rs = ref_slice(rx, {0, 0, 0}, {2, 3, 4}, {1, 1, 2});
  for (Shape sh : {Shape{6, 2}, Shape{2, 3, 1, 2, 1}, Shape{12}, Shape{3, 4}}) {
    array m = reshape(s, sh);
    EXPECT_TRUE(same(m, Ref{sh, rs.v}));
    EXPECT_TRUE(shares(m, x));
  }
  array s2 = slice(x, {0, 0, 0}, {2, 2, 4});  // (2, 2, 4), strides (12, 4, 1): rows have gaps
  auto rs2 = ref_slice(rx, {0, 0, 0}, {2, 2, 4}, {1, 1, 1});
  array c = reshape(s2, {16});
  EXPECT_TRUE(same(c, Ref{{16}, rs2.v}));
  EXPECT_FALSE(shares(c, x));
  array c2 = reshape(s2, {2, 8});
  EXPECT_TRUE(same(c2, Ref{{2, 8}, rs2.v}));
  EXPECT_TRUE(same(reshape(s2, {4, 4}), Ref{{4, 4}, rs2.v}));

  // Broadcast inputs: a size-1 split is a view, merging a stride-0 dim is a copy.
  array b = broadcast_to(reshape(arange(4), {1, 4}), {3, 4});
  auto rb = ref_broadcast(Ref{{1, 4}, {0, 1, 2, 3}}, {3, 4});
  EXPECT_TRUE(same(reshape(b, {3, 2, 2}), Ref{{3, 2, 2}, rb.v}));
  EXPECT_TRUE(same(reshape(b, {12}), Ref{{12}, rb.v}));

  // Scalars and empty arrays.
  EXPECT_TRUE(same(reshape(array(3.5f), {1, 1}), Ref{{1, 1}, {3.5}}));
  EXPECT_TRUE(same(reshape(array({3.5f}), {}), Ref{{}, {3.5}}));
  EXPECT_TRUE(same(reshape(rnd({0, 3}), {3, 0, 5}), Ref{{3, 0, 5}, {}}));
  EXPECT_TRUE(same(reshape(rnd({0, 3}), {-1, 3}), Ref{{0, 3}, {}}));
  EXPECT_TRUE(same(reshape(transpose(rnd({0, 3})), {0}), Ref{{0}, {}}));
}

TEST(Reshape, AllDtypes) {
  for (Dtype d : kDtypes) {
    array x = d == complex64 ? rnd_complex({3, 4}) : rnd({3, 4}, d, 7);
    array t = transpose(x);  // (4, 3) view
    auto rt = ref_transpose(ref_of(x), {1, 0});
    EXPECT_TRUE(same(reshape(t, {2, 6}), Ref{{2, 6}, rt.v})) << d;
    EXPECT_TRUE(same(reshape(t, {12}), Ref{{12}, rt.v})) << d;
    if (d == complex64) {
      auto ti = ref_transpose(Ref{{3, 4}, test::to_vector_imag(x)}, {1, 0});
      EXPECT_TRUE(same_imag(reshape(t, {12}), ti.v));
    }
  }
}

TEST(Reshape, BadInputs) {
  array x = rnd({2, 3, 4});
  EXPECT_TRUE(throws_op<std::invalid_argument>("reshape", [&] { reshape(x, {5}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("reshape", [&] { reshape(x, {-1, -1}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("reshape", [&] { reshape(x, {-1, 5}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("reshape", [&] { reshape(x, {-2, 12}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("reshape", [&] { reshape(rnd({0, 3}), {-1, 0}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("reshape", [&] { reshape(rnd({0, 3}), {-3, 0}); }));
}

TEST(Flatten, Values) {
  array x = rnd({2, 3, 4, 5}, int32);
  auto rx = ref_of(x);
  EXPECT_TRUE(same(flatten(x), Ref{{120}, rx.v}));
  EXPECT_TRUE(same(flatten(x, 1, 2), Ref{{2, 12, 5}, rx.v}));
  EXPECT_TRUE(same(flatten(x, -2), Ref{{2, 3, 20}, rx.v}));
  EXPECT_TRUE(same(flatten(x, 0, 9), Ref{{120}, rx.v}));     // end clamped
  EXPECT_TRUE(same(flatten(x, -9, 1), Ref{{6, 4, 5}, rx.v}));  // start clamped
  EXPECT_TRUE(same(flatten(x, 2, 2), Ref{{2, 3, 4, 5}, rx.v}));
  EXPECT_TRUE(same(flatten(array(7)), Ref{{1}, {7}}));
  EXPECT_TRUE(same(flatten(array(7), 1, 2), Ref{{1}, {7}}));
  array t = transpose(x);
  EXPECT_TRUE(same(flatten(t), Ref{{120}, ref_transpose(rx, {3, 2, 1, 0}).v}));
  EXPECT_TRUE(same(flatten(rnd({2, 0, 3}), 0, 1), Ref{{0, 3}, {}}));
  EXPECT_TRUE(throws_op<std::invalid_argument>("flatten", [&] { flatten(x, 2, 1); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("flatten", [&] { flatten(x, 5, 9); }));
}

TEST(Unflatten, Values) {
  array x = rnd({2, 12}, int16);
  auto rx = ref_of(x);
  EXPECT_TRUE(same(unflatten(x, 1, {3, 4}), Ref{{2, 3, 4}, rx.v}));
  EXPECT_TRUE(same(unflatten(x, -1, {-1, 2}), Ref{{2, 6, 2}, rx.v}));
  EXPECT_TRUE(same(unflatten(x, 0, {1, 2, 1}), Ref{{1, 2, 1, 12}, rx.v}));
  EXPECT_TRUE(same(unflatten(rnd({2, 0}), 1, {-1, 3}), Ref{{2, 0, 3}, {}}));
  EXPECT_TRUE(same(unflatten(rnd({2, 0}), 1, {0, 3}), Ref{{2, 0, 3}, {}}));
  EXPECT_TRUE(throws_op<std::invalid_argument>("unflatten", [&] { unflatten(x, 1, {5, 2}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("unflatten", [&] { unflatten(x, 1, {-1, -1}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("unflatten", [&] { unflatten(x, 1, {-1, 5}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("unflatten", [&] { unflatten(x, 1, {}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("unflatten", [&] { unflatten(x, 1, {-2, -6}); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("unflatten", [&] { unflatten(x, 2, {12}); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("unflatten", [&] { unflatten(array(1), 0, {1}); }));
}

TEST(SqueezeExpand, Values) {
  array x = rnd({1, 3, 1, 4}, float16);
  auto rx = ref_of(x);
  EXPECT_TRUE(same(squeeze(x), Ref{{3, 4}, rx.v}));
  EXPECT_TRUE(same(squeeze(x, 2), Ref{{1, 3, 4}, rx.v}));
  EXPECT_TRUE(same(squeeze(x, {0, -2}), Ref{{3, 4}, rx.v}));
  EXPECT_TRUE(same(squeeze(x, std::vector<int>{}), Ref{{1, 3, 1, 4}, rx.v}));
  EXPECT_TRUE(same(squeeze(rnd({1, 0, 1})), Ref{{0}, {}}));
  EXPECT_TRUE(same(expand_dims(x, 0), Ref{{1, 1, 3, 1, 4}, rx.v}));
  EXPECT_TRUE(same(expand_dims(x, {0, -1}), Ref{{1, 1, 3, 1, 4, 1}, rx.v}));
  EXPECT_TRUE(same(expand_dims(x, -5), Ref{{1, 1, 3, 1, 4}, rx.v}));
  EXPECT_TRUE(same(expand_dims(array(2), {-1, 0}), Ref{{1, 1}, {2}}));
  array t = transpose(rnd({3, 4}));
  EXPECT_TRUE(same(expand_dims(t, 1), Ref{{4, 1, 3}, ref_transpose(ref_of(rnd({3, 4})), {1, 0}).v}));
  EXPECT_TRUE(same(expand_dims(rnd({0, 2}), 1), Ref{{0, 1, 2}, {}}));

  EXPECT_TRUE(throws_op<std::invalid_argument>("squeeze", [&] { squeeze(x, 1); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("squeeze", [&] { squeeze(x, 4); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("squeeze", [&] { squeeze(x, {0, -4}); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("expand_dims", [&] { expand_dims(x, 5); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("expand_dims", [&] { expand_dims(x, -6); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("expand_dims", [&] { expand_dims(x, {0, -6}); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("expand_dims", [&] { expand_dims(array(1), 1); }));
}

TEST(AtLeast, Shapes) {
  EXPECT_TRUE(same(atleast_1d(array(5)), Ref{{1}, {5}}));
  EXPECT_TRUE(same(atleast_2d(array(5)), Ref{{1, 1}, {5}}));
  EXPECT_TRUE(same(atleast_3d(array(5)), Ref{{1, 1, 1}, {5}}));
  array v = array({1, 2, 3});
  EXPECT_TRUE(same(atleast_1d(v), Ref{{3}, {1, 2, 3}}));
  EXPECT_TRUE(same(atleast_2d(v), Ref{{1, 3}, {1, 2, 3}}));
  EXPECT_TRUE(same(atleast_3d(v), Ref{{1, 3, 1}, {1, 2, 3}}));
  array m = rnd({2, 3});
  EXPECT_TRUE(same(atleast_3d(m), Ref{{2, 3, 1}, ref_of(m).v}));
  EXPECT_TRUE(atleast_2d(m).is_same(m));
  auto vs = atleast_2d(std::vector<array>{array(1), v});
  ASSERT_EQ(vs.size(), 2u);
  EXPECT_EQ(vs[0].shape(), (Shape{1, 1}));
  EXPECT_EQ(vs[1].shape(), (Shape{1, 3}));
  EXPECT_EQ(atleast_1d(std::vector<array>{array(1)})[0].shape(), (Shape{1}));
  EXPECT_EQ(atleast_3d(std::vector<array>{rnd({0})})[0].shape(), (Shape{1, 0, 1}));
}

// ---- transpose family -----------------------------------------------------------------------

TEST(Transpose, ValuesAndFlags) {
  array x = rnd({2, 3, 4}, int32);
  x.eval();
  auto rx = ref_of(x);
  for (auto perm : std::vector<std::vector<int>>{{0, 1, 2}, {2, 1, 0}, {1, 0, 2}, {0, 2, 1}, {2, 0, 1}}) {
    array t = transpose(x, perm);
    EXPECT_TRUE(same(t, ref_transpose(rx, perm)));
    EXPECT_TRUE(shares(t, x));
    EXPECT_TRUE(t.flags().contiguous);
  }
  array rev = transpose(x);
  EXPECT_TRUE(same(rev, ref_transpose(rx, {2, 1, 0})));
  EXPECT_TRUE(rev.flags().col_contiguous);
  EXPECT_TRUE(same(transpose(x, {0, -1, 1}), ref_transpose(rx, {0, 2, 1})));
  EXPECT_TRUE(same(permute_dims(x, {1, 2, 0}), ref_transpose(rx, {1, 2, 0})));
  EXPECT_TRUE(same(swapaxes(x, 0, -1), ref_transpose(rx, {2, 1, 0})));
  EXPECT_TRUE(same(moveaxis(x, 0, -1), ref_transpose(rx, {1, 2, 0})));
  EXPECT_TRUE(same(moveaxis(x, 2, 0), ref_transpose(rx, {2, 0, 1})));
  EXPECT_TRUE(same(moveaxis(x, 1, 1), rx));
  EXPECT_TRUE(same(matrix_transpose(x), ref_transpose(rx, {0, 2, 1})));
  // Transposes of views and of empty arrays.
  array s = slice(x, {0, 0, 1}, {2, 3, 4}, {1, 2, 2});
  auto rs = ref_slice(rx, {0, 0, 1}, {2, 3, 4}, {1, 2, 2});
  EXPECT_TRUE(same(transpose(s, {2, 0, 1}), ref_transpose(rs, {2, 0, 1})));
  EXPECT_TRUE(same(transpose(rnd({0, 3})), Ref{{3, 0}, {}}));
  EXPECT_TRUE(same(transpose(array(4)), Ref{{}, {4}}));
}

TEST(Transpose, BadInputs) {
  array x = rnd({2, 3, 4});
  EXPECT_TRUE(throws_op<std::invalid_argument>("transpose", [&] { transpose(x, {0, 1}); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("transpose", [&] { transpose(x, {0, 1, 3}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("transpose", [&] { transpose(x, {0, 1, 1}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("transpose", [&] { transpose(x, {0, 1, -2}); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("swapaxes", [&] { swapaxes(x, 0, 3); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("moveaxis", [&] { moveaxis(x, -4, 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("matrix_transpose", [&] { matrix_transpose(array({1, 2})); }));
}

// ---- broadcasting ---------------------------------------------------------------------------

TEST(Broadcast, ValuesAndFlags) {
  array x = rnd({3, 1}, float64);
  x.eval();
  auto rx = ref_of(x);
  array b = broadcast_to(x, {2, 3, 4});
  EXPECT_TRUE(same(b, ref_broadcast(rx, {2, 3, 4})));
  EXPECT_TRUE(shares(b, x));
  // As MLX reports it: contiguous (the 3 distinct elements are dense), not row-contiguous.
  EXPECT_TRUE(b.flags().contiguous);
  EXPECT_FALSE(b.flags().row_contiguous);
  EXPECT_EQ(b.data_size(), 3u);
  array sc = broadcast_to(array(2.5f), {4, 5});
  EXPECT_TRUE(same(sc, Ref{{4, 5}, std::vector<double>(20, 2.5)}));
  EXPECT_EQ(sc.data_size(), 1u);
  EXPECT_TRUE(broadcast_to(x, {3, 1}).is_same(x));
  EXPECT_TRUE(same(broadcast_to(x, {3, 0}), Ref{{3, 0}, {}}));
  EXPECT_TRUE(same(broadcast_to(rnd({1, 3}), {0, 3}), Ref{{0, 3}, {}}));
  // Broadcast of a transposed view.
  array t = transpose(rnd({4, 1}, int8));
  EXPECT_TRUE(same(broadcast_to(t, {3, 4}), ref_broadcast(ref_transpose(ref_of(rnd({4, 1}, int8)), {1, 0}), {3, 4})));

  auto arrs = broadcast_arrays({rnd({2, 1}), rnd({3}, int32), array(1.0f)});
  ASSERT_EQ(arrs.size(), 3u);
  for (auto& a : arrs) EXPECT_EQ(a.shape(), (Shape{2, 3}));
  EXPECT_TRUE(same(arrs[1], ref_broadcast(ref_of(rnd({3}, int32)), {2, 3})));
  EXPECT_TRUE(broadcast_arrays({}).empty());

  EXPECT_TRUE(throws_op<std::invalid_argument>("broadcast_to", [&] { broadcast_to(x, {3, 3, 4}) ; broadcast_to(x, {2, 2}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("broadcast_to", [&] { broadcast_to(rnd({2, 3, 4}), {3, 4}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("broadcast_to", [&] { broadcast_to(array(1), {-1}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("broadcast_to", [&] { broadcast_to(rnd({0, 3}), {1, 3}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("broadcast_to", [&] { broadcast_to(array({1}), {}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("broadcast_shapes", [&] { broadcast_arrays({rnd({2, 3}), rnd({4})}); }));
}

// ---- slicing --------------------------------------------------------------------------------

TEST(Slice, StaticRandom) {
  array x = rnd({5, 6, 7}, float32, 3);
  x.eval();
  auto rx = ref_of(x);
  std::mt19937 gen(5);
  std::uniform_int_distribution<int> bound(-9, 9), stepd(-3, 3);
  for (int trial = 0; trial < 200; ++trial) {
    Shape st, sp, sd;
    for (int d = 0; d < 3; ++d) {
      int step = 0;
      while (step == 0) step = stepd(gen);
      st.push_back(bound(gen));
      sp.push_back(bound(gen));
      sd.push_back(step);
    }
    array y = slice(x, st, sp, sd);
    auto want = ref_slice(rx, st, sp, sd);
    ASSERT_TRUE(same(y, want)) << detail::shape_str(st) << detail::shape_str(sp) << detail::shape_str(sd);
    if (y.size() > 0) EXPECT_TRUE(shares(y, x));
  }
  // Default strides, the identity slice, and flags of common cases.
  EXPECT_TRUE(same(slice(x, {1, 0, 2}, {3, 6, 5}), ref_slice(rx, {1, 0, 2}, {3, 6, 5}, {1, 1, 1})));
  EXPECT_TRUE(slice(x, {0, 0, 0}, {5, 6, 7}).is_same(x));
  array rows = slice(x, {1, 0, 0}, {3, 6, 7});
  rows.eval();
  EXPECT_TRUE(rows.flags().row_contiguous);
  EXPECT_EQ(rows.data_size(), 84u);
  array cols = slice(x, {0, 0, 1}, {5, 6, 3});
  cols.eval();
  EXPECT_FALSE(cols.flags().contiguous);
  EXPECT_EQ(cols.data_size(), static_cast<size_t>(4 * 42 + 5 * 7 + 1 + 1));
}

TEST(Slice, OfViewsAndEmpty) {
  array x = rnd({4, 6}, int64, 9);
  auto rx = ref_of(x);
  array t = transpose(x);  // (6, 4)
  auto rt = ref_transpose(rx, {1, 0});
  EXPECT_TRUE(same(slice(t, {5, 0}, {-7, 4}, {-2, 3}), ref_slice(rt, {5, 0}, {-7, 4}, {-2, 3})));
  array b = broadcast_to(reshape(x, {4, 1, 6}), {4, 3, 6});
  auto rb = ref_broadcast(Ref{{4, 1, 6}, rx.v}, {4, 3, 6});
  EXPECT_TRUE(same(slice(b, {3, 0, 1}, {0, 3, 6}, {-1, 2, 2}), ref_slice(rb, {3, 0, 1}, {0, 3, 6}, {-1, 2, 2})));
  // Slice of a slice walking backwards.
  array s1 = slice(x, {3, 5}, {-5, -7}, {-1, -1});
  auto r1 = ref_slice(rx, {3, 5}, {-5, -7}, {-1, -1});
  EXPECT_TRUE(same(slice(s1, {1, 0}, {4, 6}, {2, 2}), ref_slice(r1, {1, 0}, {4, 6}, {2, 2})));
  EXPECT_TRUE(same(slice(x, {2, 0}, {2, 6}), Ref{{0, 6}, {}}));
  EXPECT_TRUE(same(slice(x, {3, 0}, {1, 6}), Ref{{0, 6}, {}}));
  EXPECT_TRUE(same(slice(rnd({0, 3}), {0, 1}, {0, 3}), Ref{{0, 2}, {}}));
  EXPECT_TRUE(same(slice(array(3), {}, {}), Ref{{}, {3}}));
}

TEST(Slice, BadInputs) {
  array x = rnd({4, 6});
  EXPECT_TRUE(throws_op<std::invalid_argument>("slice", [&] { slice(x, {0}, {1}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("slice", [&] { slice(x, {0, 0}, {1, 1}, {1}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("slice", [&] { slice(x, {0, 0}, {1, 1}, {1, 0}); }));
}

TEST(Flip, Values) {
  array x = rnd({3, 4, 5}, bfloat16, 4);
  auto rx = ref_of(x);
  EXPECT_TRUE(same(flip(x), ref_slice(rx, {2, 3, 4}, {-4, -5, -6}, {-1, -1, -1})));
  EXPECT_TRUE(same(flip(x, 1), ref_slice(rx, {0, 3, 0}, {3, -5, 5}, {1, -1, 1})));
  EXPECT_TRUE(same(flip(x, {0, -1}), ref_slice(rx, {2, 0, 4}, {-4, 4, -6}, {-1, 1, -1})));
  EXPECT_TRUE(same(flip(x, {0, 0}), ref_slice(rx, {2, 0, 0}, {-4, 4, 5}, {-1, 1, 1})));
  EXPECT_TRUE(same(flip(x, std::vector<int>{}), rx));
  EXPECT_TRUE(same(flip(flip(x, 2), 2), rx));
  array t = transpose(x, {2, 0, 1});
  EXPECT_TRUE(same(flip(t, 0), ref_slice(ref_transpose(rx, {2, 0, 1}), {4, 0, 0}, {-6, 3, 4}, {-1, 1, 1})));
  EXPECT_TRUE(same(flip(rnd({0, 2})), Ref{{0, 2}, {}}));
  EXPECT_TRUE(same(flip(array(3)), Ref{{}, {3}}));
  EXPECT_TRUE(throws_op<std::out_of_range>("flip", [&] { flip(x, 3); }));
}

TEST(DynamicSlice, ValuesAndClamping) {
  array x = rnd({4, 5, 6}, int32, 2);
  auto rx = ref_of(x);
  auto want = [&](Idx start, Shape size) {
    return gather(rx, size, [&](const Idx& o, Idx& i) {
      for (size_t d = 0; d < o.size(); ++d) i[d] = start[d] + o[d];
      return true;
    });
  };
  EXPECT_TRUE(same(slice(x, array({1, 2}), {0, 2}, {2, 5, 3}), want({1, 0, 2}, {2, 5, 3})));
  EXPECT_TRUE(same(slice(x, array(3), {1}, {4, 2, 6}), want({0, 3, 0}, {4, 2, 6})));
  EXPECT_TRUE(same(slice(x, array({2}, uint32), {-1}, {1, 1, 4}), want({0, 0, 2}, {1, 1, 4})));
  EXPECT_TRUE(same(slice(x, array({2, 1}, int64), {2, 0}, {2, 5, 3}), want({1, 0, 2}, {2, 5, 3})));
  // Starts are clamped so that the slice fits; negative starts count from the end.
  EXPECT_TRUE(same(slice(x, array({3}), {0}, {2, 5, 6}), want({2, 0, 0}, {2, 5, 6})));
  EXPECT_TRUE(same(slice(x, array({100}), {0}, {2, 5, 6}), want({2, 0, 0}, {2, 5, 6})));
  EXPECT_TRUE(same(slice(x, array({-1}), {0}, {1, 5, 6}), want({3, 0, 0}, {1, 5, 6})));
  EXPECT_TRUE(same(slice(x, array({-100}), {0}, {1, 5, 6}), want({0, 0, 0}, {1, 5, 6})));
  // A lazy start index and a transposed source.
  array t = transpose(x, {2, 1, 0});
  auto rt = ref_transpose(rx, {2, 1, 0});
  array y = slice(t, add(array({1}), array({1})), {1}, {6, 3, 4});
  EXPECT_TRUE(same(y, gather(rt, {6, 3, 4}, [&](const Idx& o, Idx& i) {
                     i = {o[0], o[1] + 2, o[2]};
                     return true;
                   })));
  EXPECT_TRUE(same(slice(x, array({1}), {0}, {0, 5, 6}), Ref{{0, 5, 6}, {}}));

  EXPECT_TRUE(throws_op<std::invalid_argument>("slice", [&] { slice(x, array({1.0f}), {0}, {1, 5, 6}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("slice", [&] { slice(x, array({true}), {0}, {1, 5, 6}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("slice", [&] { slice(x, array({1, 1}), {0}, {1, 5, 6}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("slice", [&] { slice(x, array(1), {0, 1}, {1, 5, 6}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("slice", [&] { slice(x, reshape(array({1}), {1, 1}), {0}, {1, 5, 6}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("slice", [&] { slice(x, array({1}), {0}, {1, 5}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("slice", [&] { slice(x, array({1}), {0}, {5, 5, 6}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("slice", [&] { slice(x, array({1}), {0}, {-1, 5, 6}); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("slice", [&] { slice(x, array({1}), {3}, {1, 5, 6}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("slice", [&] { slice(x, array({1, 1}), {0, -3}, {1, 5, 6}); }));
}

// ---- slice updates --------------------------------------------------------------------------

// src with positions (per-axis index lists) overwritten by upd broadcast to their shape.
Ref ref_update(const Ref& src, const std::vector<std::vector<int64_t>>& ix, const Ref& upd) {
  Shape sshape;
  for (auto& v : ix) sshape.push_back(static_cast<int32_t>(v.size()));
  Ref u = ref_broadcast(upd, sshape);
  Ref r = src;
  for (size_t f = 0; f < u.v.size(); ++f) {
    Idx o = unravel(f, sshape), i(o.size());
    for (size_t d = 0; d < o.size(); ++d) i[d] = ix[d][o[d]];
    r.v[ravel(i, src.shape)] = u.v[f];
  }
  return r;
}

TEST(SliceUpdate, StaticRandom) {
  array x = rnd({5, 6}, float32, 11);
  auto rx = ref_of(x);
  std::mt19937 gen(8);
  std::uniform_int_distribution<int> bound(-7, 7), stepd(-2, 2);
  for (int trial = 0; trial < 100; ++trial) {
    Shape st, sp, sd, ushape;
    std::vector<std::vector<int64_t>> ix;
    for (int d = 0; d < 2; ++d) {
      int step = 0;
      while (step == 0) step = stepd(gen);
      st.push_back(bound(gen));
      sp.push_back(bound(gen));
      sd.push_back(step);
      ix.push_back(py_indices(x.shape()[d], st[d], sp[d], step));
      ushape.push_back(static_cast<int32_t>(ix.back().size()));
    }
    if (trial % 3 == 1) ushape[0] = 1;                 // broadcast along axis 0
    if (trial % 3 == 2) ushape.erase(ushape.begin());  // fewer dims
    array u = rnd(ushape, int32, 100 + trial);
    array y = slice_update(x, u, st, sp, sd);
    ASSERT_TRUE(same(y, ref_update(rx, ix, ref_of(u))));
  }
  // x is still intact (its buffer was not donated while held).
  EXPECT_TRUE(same(x, rx));
}

TEST(SliceUpdate, ViewsDonationAndEmpty) {
  array x = rnd({4, 5}, int16, 3);
  x.eval();
  auto rx = ref_of(x);
  // Source and update as views.
  array t = transpose(x);  // (5, 4)
  auto rt = ref_transpose(rx, {1, 0});
  array u = slice(rnd({6, 6}, int16, 4), {0, 0}, {6, 4}, {2, 2});  // (3, 2)
  auto ru = ref_of(u);
  EXPECT_TRUE(same(slice_update(t, u, {0, 1}, {5, 3}, {2, 1}), ref_update(rt, {{0, 2, 4}, {1, 2}}, ru)));
  array b = broadcast_to(array(7, int16), {4, 5});
  EXPECT_TRUE(same(slice_update(b, array({1, 2}, int16), {1, 0}, {2, 4}, {1, 2}),
                   ref_update(Ref{{4, 5}, std::vector<double>(20, 7)}, {{1}, {0, 2}}, Ref{{2}, {1, 2}})));

  // A source nobody else holds gives its buffer to the result (copy() would share x's).
  array src = add(x, array(0, int16));
  src.eval();
  const ArrayData* p = src.data_record();  // not data(): that would copy GPU data to the host
  array y = slice_update(src, array(-1, int16), {0, 0}, {1, 5});
  src = array(0);
  y.eval();
  EXPECT_EQ(y.data_record(), p);
  EXPECT_TRUE(same(y, ref_update(rx, {{0}, {0, 1, 2, 3, 4}}, Ref{{}, {-1}})));
  // A held source keeps its values.
  array held = copy(x);
  array z = slice_update(held, array(-1, int16), {0, 0}, {1, 5});
  EXPECT_TRUE(same(z, ref_update(rx, {{0}, {0, 1, 2, 3, 4}}, Ref{{}, {-1}})));
  EXPECT_TRUE(same(held, rx));

  // Float update cast to the source dtype; whole-array and empty slices.
  EXPECT_TRUE(same(slice_update(x, array(2.75f), {1, 1}, {2, 2}), ref_update(rx, {{1}, {1}}, Ref{{}, {2}})));
  EXPECT_TRUE(same(slice_update(x, array({9, 8, 7, 6, 5}, int16), {0, 0}, {4, 5}),
                   ref_broadcast(Ref{{5}, {9, 8, 7, 6, 5}}, {4, 5})));
  EXPECT_TRUE(same(slice_update(x, array(1, int16), {2, 0}, {2, 5}), rx));
  EXPECT_TRUE(same(slice_update(rnd({0, 3}), array(1.0f), {0, 0}, {0, 3}), Ref{{0, 3}, {}}));

  EXPECT_TRUE(throws_op<std::invalid_argument>("slice_update", [&] { slice_update(x, rnd({2, 2}), {0, 0}, {3, 3}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("slice_update", [&] { slice_update(x, rnd({1, 3, 3}), {0, 0}, {3, 3}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("slice_update", [&] { slice_update(x, array(1), {0}, {3}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("slice_update", [&] { slice_update(x, array(1), {0, 0}, {3, 3}, {1, 0}); }));
}

TEST(SliceUpdate, Dynamic) {
  array x = rnd({3, 4}, int32, 5);
  auto rx = ref_of(x);
  auto range = [](int64_t s, int64_t n) {
    std::vector<int64_t> v(n);
    std::iota(v.begin(), v.end(), s);
    return v;
  };
  array u = array({-1, -2}, {1, 2}, int32);
  EXPECT_TRUE(same(slice_update(x, u, array({1, 1}), {0, 1}), ref_update(rx, {{1}, {1, 2}}, ref_of(u))));
  // Unlisted axes take the full extent: a scalar fills a row, a column fills a column.
  EXPECT_TRUE(same(slice_update(x, array(-1), array(1), {0}), ref_update(rx, {{1}, range(0, 4)}, Ref{{}, {-1}})));
  array col = array({-5, -6}, {2, 1}, int32);
  EXPECT_TRUE(same(slice_update(x, col, array({1}), {0}), ref_update(rx, {{1, 2}, range(0, 4)}, ref_of(col))));
  // Clamped starts, negative starts, float update cast, transposed source.
  array sq = array({-1, -2, -3, -4}, {2, 2}, int32);
  EXPECT_TRUE(same(slice_update(x, sq, array({2, 3}), {0, 1}), ref_update(rx, {{1, 2}, {2, 3}}, ref_of(sq))));
  EXPECT_TRUE(same(slice_update(x, sq, array({-1, -9}), {0, 1}), ref_update(rx, {{1, 2}, {0, 1}}, ref_of(sq))));
  EXPECT_TRUE(same(slice_update(x, array({1.5f, 2.5f, 3.5f, 4.5f}), array(0), {0}),
                   ref_update(rx, {{0}, range(0, 4)}, Ref{{4}, {1, 2, 3, 4}})));
  array t = transpose(x);
  EXPECT_TRUE(same(slice_update(t, array({7, 8}), array({1}, int64), {1}),
                   ref_update(ref_transpose(rx, {1, 0}), {range(0, 4), {1, 2}}, Ref{{2}, {7, 8}})));
  EXPECT_TRUE(same(slice_update(x, rnd({0, 4}, int32), array(1), {0}), rx));

  EXPECT_TRUE(throws_op<std::invalid_argument>("slice_update", [&] { slice_update(x, rnd({4, 4}, int32), array(1), {0}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("slice_update", [&] { slice_update(x, rnd({1, 1, 1}, int32), array(1), {0}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("slice_update", [&] { slice_update(x, rnd({2, 3}, int32), array(1), {0}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("slice_update", [&] { slice_update(t, sq, array({1}), {1}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("slice_update", [&] { slice_update(x, u, array({1.0f}), {0}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("slice_update", [&] { slice_update(x, u, array({1, 1}), {0}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("slice_update", [&] { slice_update(x, u, array({1, 1}), {0, 0}); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("slice_update", [&] { slice_update(x, u, array({1}), {2}); }));
}

// ---- joining and splitting ------------------------------------------------------------------

TEST(Concatenate, ValuesPromotionViews) {
  array a = rnd({2, 3, 4}, int32, 1), b = rnd({2, 5, 4}, int32, 2), c = rnd({2, 1, 4}, int32, 3);
  auto ra = ref_of(a), rb = ref_of(b), rc = ref_of(c);
  EXPECT_TRUE(same(concatenate({a, b, c}, 1), ref_concat({ra, rb, rc}, 1)));
  EXPECT_TRUE(same(concatenate({a, c}, -2), ref_concat({ra, rc}, 1)));
  EXPECT_TRUE(same(concat({a, a}, 0), ref_concat({ra, ra}, 0)));
  EXPECT_TRUE(same(concatenate({a, a}, 2), ref_concat({ra, ra}, 2)));
  EXPECT_TRUE(same(concatenate({a}, 0), ra));
  // Without an axis: flattened.
  EXPECT_TRUE(same(concatenate({a, array({1, 2}, int32)}), ref_concat({Ref{{24}, ra.v}, Ref{{2}, {1, 2}}}, 0)));
  // Views as inputs: transposed, broadcast, reversed slices.
  array t = transpose(rnd({4, 2}, int32, 4));
  array bc = broadcast_to(array({5, 6}, int32), {3, 2});
  array s = slice(rnd({2, 6}, int32, 5), {1, 5}, {-3, -7}, {-1, -2});
  Ref rt = ref_transpose(ref_of(rnd({4, 2}, int32, 4)), {1, 0});
  Ref rbc = ref_broadcast(Ref{{2}, {5, 6}}, {3, 2});
  Ref rs = ref_slice(ref_of(rnd({2, 6}, int32, 5)), {1, 5}, {-3, -7}, {-1, -2});
  EXPECT_TRUE(same(concatenate({transpose(t), bc, transpose(s)}, 0),
                   ref_concat({ref_transpose(rt, {1, 0}), rbc, ref_transpose(rs, {1, 0})}, 0)));
  // Empty parts and empty results.
  EXPECT_TRUE(same(concatenate({a, rnd({2, 0, 4}, int32), c}, 1), ref_concat({ra, rc}, 1)));
  EXPECT_TRUE(same(concatenate({rnd({0, 2}), rnd({0, 2})}, 0), Ref{{0, 2}, {}}));
  EXPECT_TRUE(same(concatenate({rnd({0, 2}), rnd({0, 3})}, 1), Ref{{0, 5}, {}}));
  // Promotion: int8 + uint8 + float16 -> float16; bool + int32 -> int32.
  array p = concatenate({array({1, -2}, int8), array({200}, uint8), array({0.5f}, float16)});
  EXPECT_EQ(p.dtype(), float16);
  EXPECT_TRUE(same(p, Ref{{4}, {1, -2, 200, 0.5}}));
  array q = concatenate({array({true, false}), array({7}, int32)}, 0);
  EXPECT_EQ(q.dtype(), int32);
  EXPECT_TRUE(same(q, Ref{{3}, {1, 0, 7}}));
}

TEST(Concatenate, AllDtypes) {
  for (Dtype d : kDtypes) {
    array a = d == complex64 ? rnd_complex({2, 3}, 1) : rnd({2, 3}, d, 1);
    array b = d == complex64 ? rnd_complex({3, 2}, 2) : rnd({3, 2}, d, 2);
    Ref ra = ref_of(a), rb = ref_transpose(ref_of(b), {1, 0});
    array y = concatenate({a, transpose(b)}, 1);
    EXPECT_EQ(y.dtype(), d);
    EXPECT_TRUE(same(y, ref_concat({ra, rb}, 1))) << d;
    if (d == complex64) {
      Ref ia{{2, 3}, test::to_vector_imag(a)}, ib = ref_transpose(Ref{{3, 2}, test::to_vector_imag(b)}, {1, 0});
      EXPECT_TRUE(same_imag(y, ref_concat({ia, ib}, 1).v));
    }
  }
}

TEST(Concatenate, BadInputs) {
  array a = rnd({2, 3, 4});
  EXPECT_TRUE(throws_op<std::invalid_argument>("concatenate", [&] { concatenate({}, 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("concatenate", [&] { concatenate({a, rnd({2, 4, 4})}, 2); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("concatenate", [&] { concatenate({a, rnd({2, 3})}, 0); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("concatenate", [&] { concatenate({a, a}, 3); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("concatenate", [&] { concatenate({array(1), array(2)}, 0); }));
}

TEST(Stack, Values) {
  array a = rnd({2, 3}, float32, 1), b = rnd({2, 3}, float32, 2);
  auto ra = ref_of(a), rb = ref_of(b);
  auto want = [&](int axis) {
    Shape out = {2, 3};
    out.insert(out.begin() + axis, 2);
    return gather(Ref{{2, 2, 3}, ref_concat({ra, rb}, 0).v}, out, [&](const Idx& o, Idx& i) {
      Idx rest = o;
      int64_t k = rest[axis];
      rest.erase(rest.begin() + axis);
      i = {k, rest[0], rest[1]};
      return true;
    });
  };
  EXPECT_TRUE(same(stack({a, b}), want(0)));
  EXPECT_TRUE(same(stack({a, b}, 1), want(1)));
  EXPECT_TRUE(same(stack({a, b}, -1), want(2)));
  EXPECT_TRUE(same(stack({array(1), array(2)}), Ref{{2}, {1, 2}}));
  EXPECT_TRUE(same(stack({rnd({0, 2}), rnd({0, 2})}, 1), Ref{{0, 2, 2}, {}}));
  array p = stack({array({1}, int8), array({1.5f})});
  EXPECT_EQ(p.dtype(), float32);
  EXPECT_TRUE(same(p, Ref{{2, 1}, {1, 1.5}}));
  EXPECT_TRUE(throws_op<std::invalid_argument>("stack", [&] { stack({}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("stack", [&] { stack({a, rnd({3, 2})}); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("stack", [&] { stack({a, b}, 3); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("stack", [&] { stack({a, b}, -4); }));
}

TEST(Split, SectionsAndIndices) {
  array x = rnd({4, 6}, uint8, 6);
  auto rx = ref_of(x);
  auto parts = split(x, 3, 1);
  ASSERT_EQ(parts.size(), 3u);
  for (int k = 0; k < 3; ++k) EXPECT_TRUE(same(parts[k], ref_slice(rx, {0, 2 * k}, {4, 2 * k + 2}, {1, 1})));
  parts = split(x, 2);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_TRUE(same(parts[1], ref_slice(rx, {2, 0}, {4, 6}, {1, 1})));
  // Indices: ordinary, unsorted (an empty middle piece), negative, past the end, none.
  auto check = [&](Shape idx, int axis) {
    auto ps = split(x, idx, axis);
    ASSERT_EQ(ps.size(), idx.size() + 1);
    int n = x.shape()[axis];
    for (size_t k = 0; k <= idx.size(); ++k) {
      Shape st{0, 0}, sp{4, 6};
      st[axis] = k == 0 ? 0 : idx[k - 1];
      sp[axis] = k == idx.size() ? n : idx[k];
      EXPECT_TRUE(same(ps[k], ref_slice(rx, st, sp, {1, 1}))) << k;
    }
  };
  check({1, 4}, 1);
  check({4, 1}, 1);
  check({-1}, 1);
  check({2, 10}, 1);
  check({}, 0);
  check({1, 1, 3}, 0);
  // Split of a transposed view and of empty arrays.
  auto pt = split(transpose(x), 2, 0);
  EXPECT_TRUE(same(pt[1], ref_slice(ref_transpose(rx, {1, 0}), {3, 0}, {6, 4}, {1, 1})));
  auto pe = split(rnd({0, 4}), 2, 1);
  EXPECT_EQ(pe[1].shape(), (Shape{0, 2}));
  EXPECT_TRUE(same(pe[1], Ref{{0, 2}, {}}));
  EXPECT_TRUE(throws_op<std::invalid_argument>("split", [&] { split(x, 4, 1); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("split", [&] { split(x, 0, 1); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("split", [&] { split(x, -2, 1); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("split", [&] { split(x, 2, 2); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("split", [&] { split(array(1), 1); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("split", [&] { split(x, Shape{1}, -3); }));
}

TEST(Unstack, Values) {
  array x = rnd({2, 3, 4}, int32, 8);
  auto rx = ref_of(x);
  auto ps = unstack(x, 1);
  ASSERT_EQ(ps.size(), 3u);
  for (int k = 0; k < 3; ++k) {
    EXPECT_TRUE(same(ps[k], gather(rx, {2, 4}, [&](const Idx& o, Idx& i) {
                       i = {o[0], k, o[1]};
                       return true;
                     })));
  }
  EXPECT_EQ(unstack(x).size(), 2u);
  EXPECT_TRUE(unstack(rnd({0, 3})).empty());
  EXPECT_TRUE(throws_op<std::out_of_range>("unstack", [&] { unstack(array(1)); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("unstack", [&] { unstack(x, 3); }));
}

// ---- repeat, tile, pad, roll ----------------------------------------------------------------

TEST(Repeat, Values) {
  array x = rnd({2, 3}, int32, 4);
  auto rx = ref_of(x);
  auto want = [&](const Ref& in, int r, int axis) {
    Shape out = in.shape;
    out[axis] *= r;
    return gather(in, out, [&](const Idx& o, Idx& i) {
      i = o;
      i[axis] = o[axis] / r;
      return true;
    });
  };
  EXPECT_TRUE(same(repeat(x, 3, 0), want(rx, 3, 0)));
  EXPECT_TRUE(same(repeat(x, 2, -1), want(rx, 2, 1)));
  EXPECT_TRUE(same(repeat(x, 2), want(Ref{{6}, rx.v}, 2, 0)));
  EXPECT_TRUE(same(repeat(x, 0, 1), Ref{{2, 0}, {}}));
  EXPECT_TRUE(same(repeat(array(3), 2), Ref{{2}, {3, 3}}));
  EXPECT_TRUE(same(repeat(transpose(x), 2, 0), want(ref_transpose(rx, {1, 0}), 2, 0)));
  EXPECT_TRUE(same(repeat(rnd({0, 2}), 3, 1), Ref{{0, 6}, {}}));
  EXPECT_TRUE(throws_op<std::invalid_argument>("repeat", [&] { repeat(x, -1, 0); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("repeat", [&] { repeat(x, 2, 2); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("repeat", [&] { repeat(array(3), 2, 0); }));
}

TEST(Tile, Values) {
  array x = rnd({2, 3}, float32, 4);
  auto rx = ref_of(x);
  auto want = [&](const Ref& in, std::vector<int> reps) {
    size_t nd = std::max(in.shape.size(), reps.size());
    Shape ish(nd - in.shape.size(), 1);
    ish.insert(ish.end(), in.shape.begin(), in.shape.end());
    reps.insert(reps.begin(), nd - reps.size(), 1);
    Shape out;
    for (size_t d = 0; d < nd; ++d) out.push_back(ish[d] * reps[d]);
    Ref in2{ish, in.v};
    return gather(in2, out, [&](const Idx& o, Idx& i) {
      for (size_t d = 0; d < nd; ++d) i[d] = o[d] % ish[d];
      return true;
    });
  };
  EXPECT_TRUE(same(tile(x, {2}), want(rx, {2})));
  EXPECT_TRUE(same(tile(x, {2, 3}), want(rx, {2, 3})));
  EXPECT_TRUE(same(tile(x, {2, 1, 2}), want(rx, {2, 1, 2})));
  EXPECT_TRUE(same(tile(x, {}), rx));
  EXPECT_TRUE(same(tile(x, {0, 2}), Ref{{0, 6}, {}}));
  EXPECT_TRUE(same(tile(array(5), {3}), Ref{{3}, {5, 5, 5}}));
  EXPECT_TRUE(same(tile(transpose(x), {2, 2}), want(ref_transpose(rx, {1, 0}), {2, 2})));
  EXPECT_TRUE(throws_op<std::invalid_argument>("tile", [&] { tile(x, {-1}); }));
}

TEST(Pad, ModesAgainstReference) {
  array x = rnd({3, 4, 2}, float32, 12);
  auto rx = ref_of(x);
  std::mt19937 gen(3);
  std::uniform_int_distribution<int> w(0, 9);
  const std::pair<const char*, PadMode> modes[] = {
      {"constant", PadMode::constant}, {"edge", PadMode::edge}, {"reflect", PadMode::reflect},
      {"symmetric", PadMode::symmetric}};
  for (auto [name, m] : modes) {
    for (int trial = 0; trial < 10; ++trial) {
      Shape lo{w(gen), w(gen), w(gen)}, hi{w(gen), w(gen), w(gen)};
      array y = pad(x, std::vector<int>{0, 1, 2}, lo, hi, array(1.25f), name);
      ASSERT_TRUE(same(y, ref_pad(rx, lo, hi, m, 1.25))) << name;
    }
    // A subset of axes, negative axes, a transposed input.
    array t = transpose(x, {2, 0, 1});
    auto rt = ref_transpose(rx, {2, 0, 1});
    EXPECT_TRUE(same(pad(t, std::vector<int>{-1}, Shape{3}, Shape{5}, array(0), name), ref_pad(rt, {0, 0, 3}, {0, 0, 5}, m, 0))) << name;
  }
  // MLX's results for the periodic modes.
  EXPECT_TRUE(same(pad(array({1, 2, 3}), 3, array(0), "reflect"), Ref{{9}, {2, 3, 2, 1, 2, 3, 2, 1, 2}}));
  EXPECT_TRUE(same(pad(array({1, 2, 3}), 4, array(0), "symmetric"), Ref{{11}, {3, 3, 2, 1, 1, 2, 3, 3, 2, 1, 1}}));
  EXPECT_TRUE(same(pad(array({1}), 2, array(0), "reflect"), Ref{{5}, {1, 1, 1, 1, 1}}));
  EXPECT_TRUE(same(pad(array({1, 2, 3}), 2, array(0), "edge"), Ref{{7}, {1, 1, 1, 2, 3, 3, 3}}));
}

TEST(Pad, OverloadsValuesAndEmpty) {
  array x = rnd({2, 3}, int32, 2);
  auto rx = ref_of(x);
  EXPECT_TRUE(same(pad(x, 1), ref_pad(rx, {1, 1}, {1, 1}, PadMode::constant, 0)));
  EXPECT_TRUE(same(pad(x, {1, 2}), ref_pad(rx, {1, 1}, {2, 2}, PadMode::constant, 0)));
  EXPECT_TRUE(same(pad(x, std::vector<std::pair<int, int>>{{0, 1}, {2, 0}}, array(5)),
                   ref_pad(rx, {0, 2}, {1, 0}, PadMode::constant, 5)));
  // The pad value converts to the array's dtype (int8 wraps as astype does).
  EXPECT_TRUE(same(pad(x, 1, array(2.5f)), ref_pad(rx, {1, 1}, {1, 1}, PadMode::constant, 2)));
  EXPECT_TRUE(same(pad(array({1, 2}, int8), 1, array(300)), Ref{{4}, {44, 1, 2, 44}}));
  EXPECT_TRUE(same(pad(array({1, 2}, float16), 1, array(2.5f)), Ref{{4}, {2.5, 1, 2, 2.5}}));
  EXPECT_TRUE(same(pad(array({true}), 1), Ref{{3}, {0, 1, 0}}));
  EXPECT_TRUE(same(pad(array({1, 2}, int32), 1, array({7, 9})), Ref{{4}, {7, 1, 2, 7}}));
  // Empty inputs: constant and edge fill with the value.
  EXPECT_TRUE(same(pad(rnd({0}), 2), Ref{{4}, {0, 0, 0, 0}}));
  EXPECT_TRUE(same(pad(rnd({0, 2}), 1, array(0), "edge"), Ref{{2, 4}, std::vector<double>(8, 0)}));
  EXPECT_TRUE(same(pad(rnd({0, 2}), std::vector<std::pair<int, int>>{{0, 0}, {1, 1}}, array(0), "reflect"),
                   Ref{{0, 4}, {}}));
  EXPECT_TRUE(same(pad(array(4), 1), Ref{{}, {4}}));
  // Padding a broadcast view.
  array b = broadcast_to(array({1.0f, 2.0f}), {3, 2});
  EXPECT_TRUE(same(pad(b, 1, array(0), "symmetric"),
                   ref_pad(ref_broadcast(Ref{{2}, {1, 2}}, {3, 2}), {1, 1}, {1, 1}, PadMode::symmetric, 0)));
}

TEST(Pad, BadInputs) {
  array x = rnd({2, 3});
  EXPECT_TRUE(throws_op<std::invalid_argument>("pad", [&] { pad(x, std::vector<std::pair<int, int>>{{-1, 1}}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("pad", [&] { pad(x, std::vector<std::pair<int, int>>{{1, -2}}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("pad", [&] { pad(x, 1, array(0), "wrap"); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("pad", [&] {
    pad(x, std::vector<std::pair<int, int>>{{1, 1}, {1, 1}, {1, 1}});
  }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("pad", [&] { pad(x, std::vector<int>{0, 1}, Shape{1}, Shape{1, 1}); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("pad", [&] { pad(x, std::vector<int>{2}, Shape{1}, Shape{1}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("pad", [&] { pad(x, std::vector<int>{0, -2}, Shape{1, 1}, Shape{1, 1}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("pad", [&] { pad(rnd({0, 2}), 1, array(0), "reflect"); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("pad", [&] { pad(rnd({0, 2}), 1, array(0), "symmetric"); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("pad", [&] { pad(x, 1, rnd({0})); }));
}

TEST(Roll, Values) {
  array x = rnd({3, 4}, int32, 7);
  auto rx = ref_of(x);
  auto want = [&](const Ref& in, const std::vector<std::pair<int, int>>& shifts) {  // (axis, shift)
    return gather(in, in.shape, [&](const Idx& o, Idx& i) {
      i = o;
      for (auto [ax, sh] : shifts) {
        int64_t n = in.shape[ax];
        i[ax] = (((i[ax] - sh) % n) + n) % n;
      }
      return true;
    });
  };
  Ref flat{{12}, rx.v};
  EXPECT_TRUE(same(roll(x, 5), Ref{{3, 4}, want(flat, {{0, 5}}).v}));
  EXPECT_TRUE(same(roll(x, -7), Ref{{3, 4}, want(flat, {{0, -7}}).v}));
  EXPECT_TRUE(same(roll(x, Shape{1, 2}), Ref{{3, 4}, want(flat, {{0, 3}}).v}));
  EXPECT_TRUE(same(roll(x, 1, 0), want(rx, {{0, 1}})));
  EXPECT_TRUE(same(roll(x, 9, -1), want(rx, {{1, 9}})));
  EXPECT_TRUE(same(roll(x, 4, 1), rx));
  EXPECT_TRUE(same(roll(x, 1, std::vector<int>{0, 1}), want(rx, {{0, 1}, {1, 1}})));
  EXPECT_TRUE(same(roll(x, Shape{2, -1}, std::vector<int>{0, 1}), want(rx, {{0, 2}, {1, -1}})));
  EXPECT_TRUE(same(roll(x, Shape{1, 2, 3}, std::vector<int>{0, 1}), want(rx, {{0, 1}, {1, 2}})));
  EXPECT_TRUE(same(roll(x, Shape{1, 1}, std::vector<int>{0, 0}), want(rx, {{0, 2}})));
  EXPECT_TRUE(same(roll(x, Shape{1, 2}, 1), want(rx, {{1, 3}})));
  EXPECT_TRUE(same(roll(transpose(x), 1, 0), want(ref_transpose(rx, {1, 0}), {{0, 1}})));
  EXPECT_TRUE(same(roll(array({1, 2, 3, 4, 5}), 2), Ref{{5}, {4, 5, 1, 2, 3}}));
  EXPECT_TRUE(same(roll(rnd({0, 3}), 1, 0), Ref{{0, 3}, {}}));
  EXPECT_TRUE(same(roll(rnd({0}), 1), Ref{{0}, {}}));
  EXPECT_TRUE(same(roll(array(1), 1), Ref{{}, {1}}));
  EXPECT_TRUE(throws_op<std::out_of_range>("roll", [&] { roll(x, 1, 2); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("roll", [&] { roll(x, Shape{1}, std::vector<int>{0, 1}); }));
}

// ---- diagonals ------------------------------------------------------------------------------

Ref ref_diagonal(const Ref& in, int offset, int a1, int a2) {
  Shape out;
  for (int d = 0; d < static_cast<int>(in.shape.size()); ++d) {
    if (d != a1 && d != a2) out.push_back(in.shape[d]);
  }
  int64_t n = 0;
  for (int64_t k = 0;; ++k) {
    int64_t r = offset >= 0 ? k : k - offset, c = offset >= 0 ? k + offset : k;
    if (r >= in.shape[a1] || c >= in.shape[a2]) break;
    ++n;
  }
  out.push_back(static_cast<int32_t>(n));
  return gather(in, out, [&](const Idx& o, Idx& i) {
    int64_t k = o.back();
    size_t j = 0;
    for (int d = 0; d < static_cast<int>(in.shape.size()); ++d) {
      if (d == a1) i[d] = offset >= 0 ? k : k - offset;
      else if (d == a2) i[d] = offset >= 0 ? k + offset : k;
      else i[d] = o[j++];
    }
    return true;
  });
}

TEST(Diagonal, Values) {
  array x = rnd({3, 4, 5}, int32, 3);
  auto rx = ref_of(x);
  for (int off : {-4, -2, -1, 0, 1, 3, 6}) {
    for (auto [a1, a2] : std::vector<std::pair<int, int>>{{0, 1}, {1, 0}, {0, 2}, {2, 1}, {1, 2}}) {
      ASSERT_TRUE(same(diagonal(x, off, a1, a2), ref_diagonal(rx, off, a1, a2))) << off << " " << a1 << a2;
    }
  }
  EXPECT_TRUE(same(diagonal(x, 1, -1, -2), ref_diagonal(rx, 1, 2, 1)));
  array t = transpose(x, {2, 0, 1});
  EXPECT_TRUE(same(diagonal(t), ref_diagonal(ref_transpose(rx, {2, 0, 1}), 0, 0, 1)));
  EXPECT_TRUE(same(diagonal(rnd({0, 3})), Ref{{0}, {}}));
  EXPECT_TRUE(same(diagonal(rnd({2, 0, 3}), 0, 1, 2), Ref{{2, 0}, {}}));
  EXPECT_TRUE(same(diagonal(rnd({0, 3, 3}), 0, 1, 2), Ref{{0, 3}, {}}));
  EXPECT_TRUE(throws_op<std::invalid_argument>("diagonal", [&] { diagonal(array({1, 2})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("diagonal", [&] { diagonal(array(1)); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("diagonal", [&] { diagonal(x, 0, 1, -2); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("diagonal", [&] { diagonal(x, 0, 1, 3); }));
}

TEST(Diag, Values) {
  array v = rnd({4}, float32, 9);
  auto rv = ref_of(v);
  for (int k : {-3, -1, 0, 2, 5}) {
    int n = 4 + std::abs(k);
    Ref want{{n, n}, std::vector<double>(n * n, 0)};
    for (int i = 0; i < 4; ++i) {
      int r = k >= 0 ? i : i - k, c = k >= 0 ? i + k : i;
      want.v[r * n + c] = rv.v[i];
    }
    ASSERT_TRUE(same(diag(v, k), want)) << k;
  }
  EXPECT_TRUE(same(diag(array({1, 2}), 1), Ref{{3, 3}, {0, 1, 0, 0, 0, 2, 0, 0, 0}}));
  EXPECT_TRUE(same(diag(array({true, true}, bool_)), Ref{{2, 2}, {1, 0, 0, 1}}));
  EXPECT_TRUE(same(diag(slice(v, {3}, {-5}, {-2})), [&] {
    Ref w{{2, 2}, {rv.v[3], 0, 0, rv.v[1]}};
    return w;
  }()));
  EXPECT_TRUE(same(diag(rnd({0}), 2), Ref{{2, 2}, {0, 0, 0, 0}}));
  // Infinities and NaN stay on the diagonal (zeros elsewhere); a vector longer than 46340 gives an
  // (m, m) result whose m*m passes 2^31 without any intermediate of that length (built lazily).
  auto inf = std::numeric_limits<float>::infinity();
  array dn = diag(array({inf, std::nanf(""), 1.0f}));
  auto dv = to_vector(dn);
  EXPECT_EQ(dv[0], inf);
  EXPECT_TRUE(std::isnan(dv[4]));
  for (int i : {1, 2, 3, 5, 6, 7}) EXPECT_EQ(dv[i], 0.0) << i;
  EXPECT_EQ(diag(zeros({50000})).shape(), (Shape{50000, 50000}));
  array m = rnd({3, 4}, int32, 3);
  EXPECT_TRUE(same(diag(m, 1), ref_diagonal(ref_of(m), 1, 0, 1)));
  EXPECT_TRUE(same(diag(m, -5), Ref{{0}, {}}));
  EXPECT_TRUE(throws_op<std::invalid_argument>("diag", [&] { diag(rnd({2, 2, 2})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("diag", [&] { diag(array(1)); }));
}

// ---- as_strided, view, copy, contiguous -----------------------------------------------------

TEST(AsStrided, Values) {
  array x = rnd({10}, float32, 2);
  x.eval();
  auto rx = ref_of(x);
  array w = as_strided(x, {3, 3}, {1, 1}, 2);
  EXPECT_TRUE(same(w, gather(rx, {3, 3}, [](const Idx& o, Idx& i) {
                     i = {2 + o[0] + o[1]};
                     return true;
                   })));
  EXPECT_TRUE(shares(w, x));
  EXPECT_TRUE(same(as_strided(x, {3}, {-2}, 9), Ref{{3}, {rx.v[9], rx.v[7], rx.v[5]}}));
  EXPECT_TRUE(same(as_strided(x, {2, 5}, {5, 1}, 0), Ref{{2, 5}, rx.v}));
  EXPECT_TRUE(same(as_strided(x, {4, 2}, {0, 1}, 0), ref_broadcast(Ref{{1, 2}, {rx.v[0], rx.v[1]}}, {4, 2})));
  // A non-row-contiguous input is read in row-major order.
  array m = rnd({2, 3}, int32, 5);
  auto rt = ref_transpose(ref_of(m), {1, 0});
  EXPECT_TRUE(same(as_strided(transpose(m), {6}, {1}, 0), Ref{{6}, rt.v}));
  EXPECT_TRUE(same(as_strided(x, {0, 3}, {100, 100}, 50), Ref{{0, 3}, {}}));
  EXPECT_TRUE(throws_op<std::invalid_argument>("as_strided", [&] { as_strided(x, {6}, {1, 1}, 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("as_strided", [&] { as_strided(x, {11}, {1}, 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("as_strided", [&] { as_strided(x, {3}, {-1}, 1); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("as_strided", [&] { as_strided(x, {-1}, {1}, 0); }));
}

template <typename From, typename To>
std::vector<double> reinterpret(const std::vector<From>& v) {
  std::vector<To> out(v.size() * sizeof(From) / sizeof(To));
  std::memcpy(out.data(), v.data(), out.size() * sizeof(To));
  return std::vector<double>(out.begin(), out.end());
}

TEST(View, Values) {
  std::vector<float> f = {1.0f, -2.5f, 3.25f, 1e-3f, 7.0f, -0.0f};
  array x(f.begin(), {2, 3}, float32);
  EXPECT_TRUE(same(view(x, int32), Ref{{2, 3}, reinterpret<float, int32_t>(f)}));
  EXPECT_TRUE(same(view(x, uint8), Ref{{2, 12}, reinterpret<float, uint8_t>(f)}));
  EXPECT_TRUE(same(view(x, int16), Ref{{2, 6}, reinterpret<float, int16_t>(f)}));
  EXPECT_TRUE(view(x, float32).is_same(x));
  std::vector<int16_t> h = {1, -2, 3, -4, 5, 6, 7, 8};
  array y(h.begin(), {2, 4}, int16);
  EXPECT_TRUE(same(view(y, int64), Ref{{2, 1}, reinterpret<int16_t, int64_t>(h)}));
  EXPECT_TRUE(same(view(y, uint16), Ref{{2, 4}, reinterpret<int16_t, uint16_t>(h)}));
  // Non-contiguous inputs are reinterpreted in row-major order.
  std::vector<int16_t> ht = {1, 5, -2, 6, 3, 7, -4, 8};  // y transposed
  EXPECT_TRUE(same(view(transpose(y), int32), Ref{{4, 1}, reinterpret<int16_t, int32_t>(ht)}));
  // Same-size views keep the strides of a (reversed) view.
  array yf = flip(y, 1);
  std::vector<int16_t> hf = {-4, 3, -2, 1, 8, 7, 6, 5};
  EXPECT_TRUE(same(view(yf, uint16), Ref{{2, 4}, reinterpret<int16_t, uint16_t>(hf)}));
  // A row-contiguous slice at an odd offset is copied before widening.
  array row = slice(reshape(y, {8}), {1}, {5});
  std::vector<int16_t> hr = {-2, 3, -4, 5};
  EXPECT_TRUE(same(view(row, int32), Ref{{2}, reinterpret<int16_t, int32_t>(hr)}));
  EXPECT_TRUE(same(view(array({true, false}), int8), Ref{{2}, {1, 0}}));
  std::vector<float> c = {1.0f, 2.0f, -3.0f, 4.0f};
  array cx = view(array(c.begin(), {4}, float32), complex64);
  EXPECT_TRUE(same(cx, Ref{{2}, {1, -3}}));
  EXPECT_TRUE(same_imag(cx, {2, 4}));
  EXPECT_TRUE(same(view(cx, float32), Ref{{4}, {1, 2, -3, 4}}));
  EXPECT_TRUE(same(view(array(1.0f), int32), Ref{{}, {1065353216}}));
  EXPECT_TRUE(same(view(rnd({2, 0}, int16), int32), Ref{{2, 0}, {}}));
  EXPECT_TRUE(throws_op<std::invalid_argument>("view", [&] { view(array({1, 2, 3}, int16), int32); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("view", [&] { view(array(1.0f), int16); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("view", [&] { view(array(1, int16), int32); }));
}

TEST(CopyContiguous, Values) {
  array x = rnd({3, 4}, float32, 3);
  x.eval();
  auto rx = ref_of(x);
  // copy() as MLX's: arrays are immutable, so it shares the buffer and keeps the layout.
  array c = copy(x);
  EXPECT_TRUE(same(c, rx));
  EXPECT_TRUE(shares(c, x));
  array ct = copy(transpose(x));
  EXPECT_TRUE(same(ct, ref_transpose(rx, {1, 0})));
  EXPECT_TRUE(ct.flags().col_contiguous && !ct.flags().row_contiguous);
  EXPECT_TRUE(same(copy(rnd({0, 2})), Ref{{0, 2}, {}}));

  EXPECT_TRUE(contiguous(x).is_same(x));
  array t = transpose(x);
  array k = contiguous(t);
  EXPECT_TRUE(same(k, ref_transpose(rx, {1, 0})));
  EXPECT_TRUE(k.flags().row_contiguous);
  EXPECT_FALSE(shares(k, x));
  array kc = contiguous(transpose(x), true);  // column-major is accepted: shared
  EXPECT_TRUE(same(kc, ref_transpose(rx, {1, 0})));
  EXPECT_TRUE(shares(kc, x));
  EXPECT_TRUE(kc.flags().col_contiguous);
  array kr = contiguous(reshape(x, {4, 3}));  // lazy but row-contiguous once evaluated: shared
  EXPECT_TRUE(same(kr, Ref{{4, 3}, rx.v}));
  EXPECT_TRUE(shares(kr, x));
  array s = contiguous(slice(x, {0, 0}, {3, 4}, {2, 3}));
  EXPECT_TRUE(same(s, ref_slice(rx, {0, 0}, {3, 4}, {2, 3})));
  EXPECT_TRUE(s.flags().row_contiguous);
}

// ---- chains of views and their consumers ----------------------------------------------------

TEST(Chains, ViewsOfViews) {
  for (Dtype d : {float32, int32, float16, int8, float64, uint16}) {
    array x = rnd({4, 6}, d, 21);
    auto rx = ref_of(x);
    // transpose(broadcast(slice(x)))
    array s = slice(x, {3, 1}, {-5, 6}, {-1, 2});  // (4, 3)
    auto rs = ref_slice(rx, {3, 1}, {-5, 6}, {-1, 2});
    array b = broadcast_to(reshape(s, {4, 1, 3}), {4, 2, 3});
    auto rb = ref_broadcast(Ref{{4, 1, 3}, rs.v}, {4, 2, 3});
    array t = transpose(b, {2, 0, 1});
    auto rt = ref_transpose(rb, {2, 0, 1});
    EXPECT_TRUE(same(t, rt)) << d;
    // More views on top: slice, flip, expand, reshape (copy), then join.
    array u = flip(slice(t, {0, 1, 0}, {3, 4, 2}), 1);
    auto ru = ref_slice(ref_slice(rt, {0, 1, 0}, {3, 4, 2}, {1, 1, 1}), {0, 2, 0}, {3, -4, 2}, {1, -1, 1});
    EXPECT_TRUE(same(u, ru)) << d;
    EXPECT_TRUE(same(reshape(u, {-1}), Ref{{18}, ru.v})) << d;
    EXPECT_TRUE(same(concatenate({u, u}, 2), ref_concat({ru, ru}, 2))) << d;
    EXPECT_TRUE(same(pad(u, 1, array(0), "edge"), ref_pad(ru, {1, 1, 1}, {1, 1, 1}, PadMode::edge, 0))) << d;
    // Consumers from other families see the strided layouts.
    EXPECT_TRUE(test::matches(astype(u, float64), ru.shape, ru.v)) << d;
    EXPECT_TRUE(test::matches(add(u, u), ru.shape, test::map_ref(ru.v, [&](double v) {
      return to_vector(astype(add(array(v, d), array(v, d)), float64))[0];
    }))) << d;
  }
}

TEST(Chains, ConsumersOfViews) {
  array x = rnd({4, 6}, float32, 31);
  auto rx = ref_of(x);
  array t = transpose(slice(x, {0, 5}, {4, -7}, {1, -2}));  // (3, 4)
  auto rt = ref_transpose(ref_slice(rx, {0, 5}, {4, -7}, {1, -2}), {1, 0});
  array b = broadcast_to(slice(x, {1, 0}, {2, 4}), {3, 4});
  auto rb = ref_broadcast(ref_slice(rx, {1, 0}, {2, 4}, {1, 1}), {3, 4});
  auto want = test::binary_ref(rt.v, rt.shape, rb.v, rb.shape, {3, 4}, [](double p, double q) { return p + q; });
  EXPECT_TRUE(test::matches(add(t, b), {3, 4}, want, 1e-6, 1e-6));
  EXPECT_TRUE(test::matches(negative(t), {3, 4}, test::map_ref(rt.v, [](double v) { return -v; })));
  EXPECT_TRUE(test::matches(negative(b), {3, 4}, test::map_ref(rb.v, [](double v) { return -v; })));
}

// A result dimension beyond int32 is std::overflow_error at the call, as in MLX (the numbers are
// MLX's), before any buffer exists; one just inside the range still builds (lazily).
TEST(ShapeOverflow, ThrowsAtTheCall) {
  constexpr int kMax = std::numeric_limits<int32_t>::max();
  using test::overflows;
  reset_peak_memory();
  size_t before = get_active_memory();
  auto two = zeros({2});
  auto big = broadcast_to(zeros({1}), {(1 << 30) + 5});  // a view: no buffer of its size
  auto square = broadcast_to(zeros({1, 1}), {1 << 16, 1 << 16});
  EXPECT_TRUE(overflows("tile", [&] { tile(two, {1 << 30}); }, int64_t{1} << 31));
  EXPECT_TRUE(overflows("tile", [&] { tile(two, {kMax}); }, 2 * int64_t{kMax}));
  EXPECT_TRUE(overflows("tile", [&] { tile(zeros({2, 3}), {1, kMax}); }, 3 * int64_t{kMax}));
  EXPECT_TRUE(overflows("pad", [&] { pad(two, {{kMax, 0}}); }, int64_t{kMax} + 2));
  EXPECT_TRUE(overflows("pad", [&] { pad(two, {{1 << 30, 1 << 30}}); }, (int64_t{1} << 31) + 2));
  EXPECT_TRUE(overflows("pad", [&] { pad(zeros({2, 2}), {1}, {kMax}, {kMax}, array(0.0f)); }, 2 * int64_t{kMax} + 2));
  EXPECT_TRUE(overflows("concatenate", [&] { concatenate({big, big}); }, 2 * ((int64_t{1} << 30) + 5)));
  EXPECT_TRUE(overflows("concatenate", [&] { concatenate({big, big}, 0); }, 2 * ((int64_t{1} << 30) + 5)));
  EXPECT_TRUE(overflows("repeat", [&] { repeat(zeros({4}), 1 << 30); }, int64_t{1} << 32));
  EXPECT_TRUE(overflows("repeat", [&] { repeat(zeros({2, 3}), kMax, 1); }, 3 * int64_t{kMax}));
  EXPECT_TRUE(overflows("flatten", [&] { flatten(square); }, int64_t{1} << 32));
  EXPECT_TRUE(overflows("reshape", [&] { reshape(square, {-1}); }, int64_t{1} << 32));
  EXPECT_TRUE(overflows("diag", [&] { diag(zeros({4}), kMax - 1); }, int64_t{kMax} + 3));
  EXPECT_TRUE(overflows("diag", [&] { diag(zeros({4}), std::numeric_limits<int32_t>::min()); }, (int64_t{1} << 31) + 4));
  EXPECT_TRUE(overflows("view", [&] { view(broadcast_to(zeros({1}, int64), {1 << 29}), uint8); }, int64_t{1} << 32));
  // Just inside the range: built, not evaluated.
  EXPECT_EQ(tile(two, {(1 << 30) - 1}).shape(), Shape({kMax - 1}));
  EXPECT_EQ(pad(two, {{kMax - 2, 0}}).shape(), Shape({kMax}));
  EXPECT_EQ(concatenate({big, zeros({kMax - (1 << 30) - 5})}).shape(), Shape({kMax}));
  EXPECT_EQ(repeat(zeros({2}), (1 << 30) - 1).shape(), Shape({kMax - 1}));
  EXPECT_EQ(reshape(square, {1 << 16, -1, 1 << 15}).shape(), Shape({1 << 16, 2, 1 << 15}));
  EXPECT_EQ(stack({big, big}).shape(), Shape({2, (1 << 30) + 5}));
  // broadcast_to takes its 32-bit shape as given: only negative sizes are refused.
  EXPECT_TRUE(throws_op<std::invalid_argument>("broadcast_to", [&] { broadcast_to(zeros({1}), {-5}); }));
  EXPECT_EQ(broadcast_to(zeros({1}), {kMax}).shape(), Shape({kMax}));
  EXPECT_LT(get_peak_memory(), before + (1 << 20));
}

// slice_update_add / _prod / _max / _min: the slice combined with the (broadcast, cast) update.
TEST(SliceUpdateOps, CombineTheSlice) {
  using test::matches;
  array a = reshape(astype(arange(12), float32), {3, 4});  // 0 .. 11
  array u({10.0f, 20.0f});                                  // broadcast over the slice's rows
  // rows 0 and 2, columns 1 and 3
  EXPECT_TRUE(matches(slice_update_add(a, u, {0, 1}, {3, 4}, {2, 2}), {3, 4},
                      {0, 11, 2, 23, 4, 5, 6, 7, 8, 19, 10, 31}, 0, 0));
  EXPECT_TRUE(matches(slice_update_prod(a, u, {0, 1}, {3, 4}, {2, 2}), {3, 4},
                      {0, 10, 2, 60, 4, 5, 6, 7, 8, 90, 10, 220}, 0, 0));
  EXPECT_TRUE(matches(slice_update_max(a, array(6.5f), {1, 0}, {3, 2}), {3, 4},
                      {0, 1, 2, 3, 6.5, 6.5, 6, 7, 8, 9, 10, 11}, 0, 0));
  EXPECT_TRUE(matches(slice_update_min(a, array(6.5f), {1, 0}, {3, 4}), {3, 4},
                      {0, 1, 2, 3, 4, 5, 6, 6.5, 6.5, 6.5, 6.5, 6.5}, 0, 0));
  // The update takes src's dtype.
  array i = zeros({2, 2}, int32);
  array r = slice_update_add(i, array(1.7f), {0, 0}, {1, 2});
  EXPECT_EQ(r.dtype(), int32);
  EXPECT_TRUE(matches(r, {2, 2}, {1, 1, 0, 0}, 0, 0));
  // An empty slice leaves src as it is; bad updates and bounds are errors at the call.
  EXPECT_TRUE(array_equal(slice_update_add(a, u, {0, 0}, {0, 2}), a).item<bool>());
  EXPECT_TRUE(throws_op<std::invalid_argument>("slice_update_add", [&] { slice_update_add(a, ones({3}), {0, 0}, {2, 2}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("slice_update_max", [&] { slice_update_max(a, u, {0}, {2}); }));
  // Gradients flow as through the composition.
  array g = grad([](const array& x) { return sum(slice_update_prod(x, array(3.0f), {0, 0}, {1, 2})); })(a);
  EXPECT_TRUE(matches(g, {3, 4}, {3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 0, 0));
}

}  // namespace
}  // namespace mica
