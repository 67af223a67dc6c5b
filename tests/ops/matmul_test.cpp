// Tests of the matmul family (matmul, addmm, inner, outer, tensordot, einsum) against
// double-precision loops, over dtypes, 1-D operands, batch broadcasting, strided views, empty
// arrays and bad inputs.
#include <cmath>
#include <complex>
#include <map>
#include <string>

#include "reference/reference.h"

namespace mica {
namespace {
using test::all_close;
using test::broadcast_index;
using test::matches;
using test::random_array;
using test::throws_op;
using test::to_vector;

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int d : s) n *= d;
  return n;
}

// NumPy matmul semantics in double: 1-D operands become (1, K) / (K, 1), batch dims broadcast.
std::vector<double> ref_matmul(const std::vector<double>& a, Shape sa, const std::vector<double>& b, Shape sb,
                               Shape& out_shape) {
  bool row = sa.size() == 1, col = sb.size() == 1;
  if (row) sa.insert(sa.begin(), 1);
  if (col) sb.push_back(1);
  int M = sa[sa.size() - 2], K = sa.back(), N = sb.back();
  Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
  Shape batch = broadcast_shapes(ba, bb);
  int64_t nb = numel(batch);
  std::vector<double> out(nb * M * N, 0.0);
  for (int64_t t = 0; t < nb; ++t) {
    size_t ia = ba.empty() ? 0 : broadcast_index(t, batch, ba), ib = bb.empty() ? 0 : broadcast_index(t, batch, bb);
    for (int i = 0; i < M; ++i) {
      for (int j = 0; j < N; ++j) {
        double acc = 0;
        for (int k = 0; k < K; ++k) acc += a[(ia * M + i) * K + k] * b[(ib * K + k) * N + j];
        out[(t * M + i) * N + j] = acc;
      }
    }
  }
  out_shape = batch;
  if (!row) out_shape.push_back(M);
  if (!col) out_shape.push_back(N);
  return out;
}

// Tolerances for a sum of K products of values in [-2, 2] computed in dtype d.
double rtol_for(Dtype d) { return d == float64 ? 1e-12 : d == float32 ? 1e-5 : test::tol_for(d) * 2; }
double atol_for(Dtype d, int K) {
  double eps = d == float64 ? 1e-15 : d == float32 ? 1.2e-7 : d == float16 ? 1e-3 : 8e-3;
  return eps * 8 * (K + 1);
}

void check_matmul(const array& a, const array& b, Dtype want_dtype) {
  array c = matmul(a, b);
  Shape shape;
  auto want = ref_matmul(to_vector(a), a.shape(), to_vector(b), b.shape(), shape);
  EXPECT_EQ(c.dtype(), want_dtype);
  int K = a.shape(-1);
  EXPECT_TRUE(matches(c, shape, want, rtol_for(want_dtype), atol_for(want_dtype, K)))
      << "a " << detail::shape_str(a.shape()) << " b " << detail::shape_str(b.shape());
}

TEST(Matmul, Float32Shapes) {
  for (auto [M, K, N] : std::vector<std::tuple<int, int, int>>{
           {1, 1, 1}, {3, 5, 4}, {17, 33, 9}, {64, 64, 64}, {130, 70, 257}, {1, 300, 1}}) {
    check_matmul(random_array({M, K}, float32, -2, 2, 1), random_array({K, N}, float32, -2, 2, 2), float32);
  }
}

TEST(Matmul, OneDimOperands) {
  array v = random_array({5}, float32, -2, 2, 3), w = random_array({5}, float32, -2, 2, 4);
  array m = random_array({5, 3}, float32, -2, 2, 5), n = random_array({4, 5}, float32, -2, 2, 6);
  check_matmul(v, m, float32);  // (3,)
  check_matmul(n, v, float32);  // (4,)
  check_matmul(v, w, float32);  // ()
  EXPECT_EQ(matmul(v, w).shape(), Shape{});
  check_matmul(v, random_array({2, 5, 3}, float32, -2, 2, 7), float32);  // (2, 3)
  check_matmul(random_array({2, 4, 5}, float32, -2, 2, 8), v, float32);  // (2, 4)
}

TEST(Matmul, BatchBroadcast) {
  check_matmul(random_array({5, 1, 2, 3}, float32, -2, 2, 1), random_array({4, 3, 6}, float32, -2, 2, 2), float32);
  // b shared by all batches: folded into one tall product.
  check_matmul(random_array({3, 7, 4}, float32, -2, 2, 3), random_array({4, 5}, float32, -2, 2, 4), float32);
  check_matmul(random_array({7, 4}, float32, -2, 2, 5), random_array({3, 4, 5}, float32, -2, 2, 6), float32);
  check_matmul(random_array({2, 1, 3, 4}, float32, -2, 2, 7), random_array({1, 3, 4, 2}, float32, -2, 2, 8),
               float32);
}

TEST(Matmul, StridedViews) {
  array at = random_array({6, 9}, float32, -2, 2, 1), bt = random_array({5, 6}, float32, -2, 2, 2);
  check_matmul(transpose(at), transpose(bt), float32);            // both column-major
  check_matmul(transpose(at), random_array({6, 4}, float32), float32);
  array big = random_array({4, 10, 12}, float32, -2, 2, 3);
  array sa = slice(big, {0, 1, 0}, {4, 10, 12}, {1, 2, 3});       // (4, 5, 4), neither layout
  array sb = slice(big, {1, 0, 2}, {3, 4, 7}, {1, 1, 1});         // (2, 4, 5) row stride 12
  check_matmul(sa, random_array({4, 3}, float32), float32);
  check_matmul(random_array({2, 3, 4}, float32), sb, float32);
  array row = random_array({1, 6}, float32, -2, 2, 4);
  check_matmul(broadcast_to(row, {3, 6}), random_array({6, 2}, float32), float32);  // row stride 0
  check_matmul(random_array({3, 6}, float32), broadcast_to(reshape(row, {6, 1}), {6, 4}), float32);
  check_matmul(swapaxes(random_array({2, 5, 3}, float32, -2, 2, 9), 1, 2), random_array({2, 5, 4}, float32),
               float32);
}

TEST(Matmul, Dtypes) {
  for (Dtype d : {float16, bfloat16, float64}) {
    check_matmul(random_array({7, 33}, d, -2, 2, 1), random_array({33, 5}, d, -2, 2, 2), d);
    check_matmul(random_array({2, 3, 8}, d, -2, 2, 3), transpose(random_array({6, 8}, d, -2, 2, 4)), d);
    check_matmul(random_array({8}, d, -2, 2, 5), random_array({8}, d, -2, 2, 6), d);
  }
  // float64 big enough for the blocked loop's several bands and remainders.
  check_matmul(random_array({67, 301}, float64, -2, 2, 7), random_array({301, 259}, float64, -2, 2, 8), float64);
  check_matmul(random_array({150, 10}, float64, -2, 2, 9), random_array({10, 1100}, float64, -2, 2, 10), float64);
  check_matmul(transpose(random_array({40, 13}, float64, -2, 2, 11)), transpose(random_array({9, 40}, float64)),
               float64);
  // Promotion.
  check_matmul(random_array({3, 4}, int32, -3, 3), random_array({4, 2}, float32), float32);
  check_matmul(random_array({3, 4}, float16), random_array({4, 2}, float32), float32);
  check_matmul(random_array({3, 4}, bfloat16), random_array({4, 2}, float16), float32);
}

TEST(Matmul, Complex) {
  auto make = [](Shape s, uint32_t seed) {
    array re = random_array(s, float32, -2, 2, seed), im = random_array(s, float32, -2, 2, seed + 100);
    return add(astype(re, complex64), multiply(astype(im, complex64), array(complex64_t(0, 1))));
  };
  array a = make({2, 3, 5}, 1), b = make({5, 4}, 2);
  array c = matmul(a, b);
  ASSERT_EQ(c.dtype(), complex64);
  ASSERT_EQ(c.shape(), (Shape{2, 3, 4}));
  auto ar = to_vector(a), ai = test::to_vector_imag(a), br = to_vector(b), bi = test::to_vector_imag(b);
  std::vector<double> wr, wi;
  for (int t = 0; t < 2; ++t) {
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 4; ++j) {
        std::complex<double> acc = 0;
        for (int k = 0; k < 5; ++k) {
          acc += std::complex<double>(ar[(t * 3 + i) * 5 + k], ai[(t * 3 + i) * 5 + k]) *
                 std::complex<double>(br[k * 4 + j], bi[k * 4 + j]);
        }
        wr.push_back(acc.real());
        wi.push_back(acc.imag());
      }
    }
  }
  EXPECT_TRUE(all_close(to_vector(c), wr, 1e-5, 1e-5));
  EXPECT_TRUE(all_close(test::to_vector_imag(c), wi, 1e-5, 1e-5));
}

TEST(Matmul, Empty) {
  array z = matmul(random_array({3, 0}, float32), random_array({0, 4}, float32));
  EXPECT_TRUE(matches(z, {3, 4}, std::vector<double>(12, 0.0)));
  EXPECT_TRUE(matches(matmul(random_array({0}, float64), random_array({0}, float64)), {}, {0.0}));
  EXPECT_TRUE(matches(matmul(random_array({0, 5}, float32), random_array({5, 4}, float32)), {0, 4}, {}));
  EXPECT_TRUE(matches(matmul(random_array({2, 0, 3, 5}, float32), random_array({5, 4}, float32)), {2, 0, 3, 4}, {}));
  EXPECT_TRUE(matches(matmul(random_array({3, 5}, float16), random_array({5, 0}, float16)), {3, 0}, {}));
  EXPECT_TRUE(matches(matmul(random_array({2, 3, 0}, float16), random_array({0, 2}, float16)), {2, 3, 2},
                      std::vector<double>(12, 0.0)));
}

TEST(Matmul, BadInputs) {
  auto f = [](Shape s, Dtype d = float32) { return random_array(s, d); };
  EXPECT_TRUE(throws_op<std::invalid_argument>("matmul", [&] { matmul(f({2, 3}), f({4, 6})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("matmul", [&] { matmul(f({3}), f({4})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("matmul", [&] { matmul(f({}), f({4})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("matmul", [&] { matmul(f({2, 2, 3}), f({4, 3, 6})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("matmul", [&] { matmul(f({2, 3}, int32), f({3, 2}, int32)); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("matmul", [&] { matmul(f({2, 3}, bool_), f({3, 2}, bool_)); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("matmul", [&] { matmul(f({2, 3}, uint8), f({3, 2}, int64)); }));
}

// ---- addmm ----------------------------------------------------------------------------------

TEST(AddMM, Values) {
  struct Case {
    Shape c, a, b;
    float alpha, beta;
    Dtype d;
  };
  for (const auto& k : std::vector<Case>{{{3, 4}, {3, 5}, {5, 4}, 1.f, 1.f, float32},
                                         {{4}, {2, 3, 5}, {5, 4}, 2.f, 0.5f, float32},
                                         {{}, {3, 5}, {5, 4}, -1.f, 3.f, float32},
                                         {{2}, {3}, {3, 2}, 1.5f, -2.f, float32},
                                         {{3, 1}, {3, 6}, {6, 2}, 1.f, 0.f, float32},
                                         {{3, 4}, {3, 5}, {5, 4}, 0.5f, 2.f, float16},
                                         {{3, 4}, {3, 5}, {5, 4}, 0.5f, 2.f, bfloat16},
                                         {{2, 3, 4}, {2, 3, 9}, {9, 4}, 1.25f, 0.75f, float64}}) {
    array c = random_array(k.c, k.d, -2, 2, 1), a = random_array(k.a, k.d, -2, 2, 2), b = random_array(k.b, k.d, -2, 2, 3);
    array r = addmm(c, a, b, k.alpha, k.beta);
    Shape shape;
    auto p = ref_matmul(to_vector(a), k.a, to_vector(b), k.b, shape);
    auto cv = to_vector(c);
    std::vector<double> want(p.size());
    for (size_t i = 0; i < p.size(); ++i) want[i] = k.alpha * p[i] + k.beta * cv[broadcast_index(i, shape, k.c)];
    EXPECT_EQ(r.dtype(), k.d);
    EXPECT_TRUE(matches(r, shape, want, rtol_for(k.d), atol_for(k.d, k.a.back()) * 4))
        << detail::shape_str(k.a) << " " << dtype_to_string(k.d);
  }
  // Transposed operands and a strided c.
  array a = transpose(random_array({5, 3}, float32, -2, 2, 4)), b = random_array({5, 4}, float32, -2, 2, 5);
  array c = transpose(random_array({4, 3}, float32, -2, 2, 6));
  Shape shape;
  auto p = ref_matmul(to_vector(a), a.shape(), to_vector(b), b.shape(), shape);
  auto cv = to_vector(c);
  for (size_t i = 0; i < p.size(); ++i) p[i] = 2 * p[i] + 3 * cv[i];
  EXPECT_TRUE(matches(addmm(c, a, b, 2.f, 3.f), shape, p, 1e-5, 1e-5));
  // Empty K: beta * c.
  array c2 = random_array({2, 3}, float32, -2, 2, 7);
  auto w = to_vector(c2);
  for (auto& x : w) x *= 0.5;
  EXPECT_TRUE(matches(addmm(c2, random_array({2, 0}, float32), random_array({0, 3}, float32), 1.f, 0.5f), {2, 3}, w));
  EXPECT_EQ(addmm(random_array({2, 2}, int32), random_array({2, 3}, float16), random_array({3, 2}, float16)).dtype(),
            float16);
}

TEST(AddMM, BadInputs) {
  auto f = [](Shape s, Dtype d = float32) { return random_array(s, d); };
  EXPECT_TRUE(throws_op<std::invalid_argument>("addmm", [&] { addmm(f({3, 3}), f({2, 3}), f({3, 2})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("addmm", [&] { addmm(f({4, 1, 1}), f({2, 3}), f({3, 2})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("addmm", [&] { addmm(f({1, 2}), f({3}), f({3, 2})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("addmm", [&] { addmm(f({2, 2}), f({2, 4}), f({3, 2})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("addmm", [&] { addmm(f({2, 2}), f({}), f({3, 2})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>(
      "addmm", [&] { addmm(f({2, 2}, int32), f({2, 3}, int32), f({3, 2}, int32)); }));
}

// ---- inner, outer, tensordot ------------------------------------------------------------------

// Reference tensordot contracting axes_a of a with axes_b of b (non-negative axes).
std::vector<double> ref_tensordot(const std::vector<double>& a, const Shape& sa, const std::vector<double>& b,
                                  const Shape& sb, const std::vector<int>& axa, const std::vector<int>& axb,
                                  Shape& out_shape) {
  std::vector<int> fa, fb;
  out_shape.clear();
  for (int i = 0; i < static_cast<int>(sa.size()); ++i) {
    if (std::find(axa.begin(), axa.end(), i) == axa.end()) fa.push_back(i), out_shape.push_back(sa[i]);
  }
  for (int i = 0; i < static_cast<int>(sb.size()); ++i) {
    if (std::find(axb.begin(), axb.end(), i) == axb.end()) fb.push_back(i), out_shape.push_back(sb[i]);
  }
  Shape ks;
  for (int x : axa) ks.push_back(sa[x]);
  int64_t n_out = numel(out_shape), n_k = numel(ks);
  std::vector<double> out(n_out, 0.0);
  auto flat = [](const Shape& s, const std::vector<int>& idx) {
    int64_t f = 0;
    for (size_t d = 0; d < s.size(); ++d) f = f * s[d] + idx[d];
    return f;
  };
  for (int64_t o = 0; o < n_out; ++o) {
    std::vector<int> oi(out_shape.size());
    int64_t r = o;
    for (int d = static_cast<int>(out_shape.size()) - 1; d >= 0; --d) oi[d] = r % out_shape[d], r /= out_shape[d];
    for (int64_t k = 0; k < n_k; ++k) {
      std::vector<int> ki(ks.size());
      int64_t q = k;
      for (int d = static_cast<int>(ks.size()) - 1; d >= 0; --d) ki[d] = q % ks[d], q /= ks[d];
      std::vector<int> ia(sa.size()), ib(sb.size());
      for (size_t i = 0; i < fa.size(); ++i) ia[fa[i]] = oi[i];
      for (size_t i = 0; i < fb.size(); ++i) ib[fb[i]] = oi[fa.size() + i];
      for (size_t i = 0; i < axa.size(); ++i) ia[axa[i]] = ki[i], ib[axb[i]] = ki[i];
      out[o] += a[flat(sa, ia)] * b[flat(sb, ib)];
    }
  }
  return out;
}

TEST(Products, InnerOuterTensordot) {
  array a = random_array({2, 3, 4}, float32, -2, 2, 1), b = random_array({3, 4, 5}, float32, -2, 2, 2);
  Shape shape;
  auto want = ref_tensordot(to_vector(a), a.shape(), to_vector(b), b.shape(), {1, 2}, {0, 1}, shape);
  EXPECT_TRUE(matches(tensordot(a, b), shape, want, 1e-5, 1e-5));
  EXPECT_TRUE(matches(tensordot(a, b, std::vector<int>{-2, -1}, std::vector<int>{0, 1}), shape, want, 1e-5, 1e-5));
  array c = random_array({4, 3, 5}, float64, -2, 2, 3);
  want = ref_tensordot(to_vector(a), a.shape(), to_vector(c), c.shape(), {1, 2}, {1, 0}, shape);
  EXPECT_TRUE(matches(tensordot(a, c, {1, 2}, {1, 0}), shape, want, 1e-5, 1e-5));
  EXPECT_EQ(tensordot(a, c, {1, 2}, {1, 0}).dtype(), float64);
  want = ref_tensordot(to_vector(a), a.shape(), to_vector(b), b.shape(), {}, {}, shape);
  EXPECT_TRUE(matches(tensordot(a, b, 0), shape, want, 1e-5, 1e-5));  // outer product (2,3,4,3,4,5)
  want = ref_tensordot(to_vector(a), a.shape(), to_vector(c), c.shape(), {2}, {0}, shape);
  EXPECT_TRUE(matches(tensordot(a, c, 1), shape, want, 1e-5, 1e-5));
  // Transposed view operand.
  array at = transpose(random_array({4, 3, 2}, float32, -2, 2, 4));
  want = ref_tensordot(to_vector(at), at.shape(), to_vector(b), b.shape(), {1, 2}, {0, 1}, shape);
  EXPECT_TRUE(matches(tensordot(at, b, 2), shape, want, 1e-5, 1e-5));

  // inner: contracts the last axes.
  array x = random_array({2, 3}, float32, -2, 2, 5), y = random_array({4, 3}, float32, -2, 2, 6);
  want = ref_tensordot(to_vector(x), x.shape(), to_vector(y), y.shape(), {1}, {1}, shape);
  EXPECT_TRUE(matches(inner(x, y), {2, 4}, want, 1e-5, 1e-5));
  array v = random_array({3}, float32, -2, 2, 7);
  want = ref_tensordot(to_vector(v), v.shape(), to_vector(v), v.shape(), {0}, {0}, shape);
  EXPECT_TRUE(matches(inner(v, v), {}, want, 1e-5, 1e-5));
  auto yv = to_vector(y);
  for (auto& q : yv) q *= 2.5;
  EXPECT_TRUE(matches(inner(array(2.5f), y), {4, 3}, yv, 1e-6, 1e-6));

  // outer: flattened operands.
  array p = random_array({2, 3}, int32, -3, 3, 8), q = random_array({4}, float32, -2, 2, 9);
  auto pv = to_vector(p), qv = to_vector(q);
  std::vector<double> ow;
  for (double i : pv) {
    for (double j : qv) ow.push_back(i * j);
  }
  array o = outer(p, q);
  EXPECT_EQ(o.dtype(), float32);
  EXPECT_TRUE(matches(o, {6, 4}, ow, 1e-6, 1e-6));
  EXPECT_EQ(outer(p, p).dtype(), int32);
  EXPECT_TRUE(matches(outer(array(3.0f), q), {1, 4}, test::map_ref(qv, [](double t) { return 3 * t; })));
  EXPECT_EQ(outer(random_array({0}, float32), q).shape(), (Shape{0, 4}));
  // Empty contraction.
  EXPECT_TRUE(matches(tensordot(random_array({2, 0}, float32), random_array({0, 3}, float32), 1), {2, 3},
                      std::vector<double>(6, 0.0)));
}

TEST(Products, BadInputs) {
  auto f = [](Shape s, Dtype d = float32) { return random_array(s, d); };
  EXPECT_TRUE(throws_op<std::invalid_argument>("inner", [&] { inner(f({2, 3}), f({4, 2})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("inner", [&] { inner(f({2, 3}, int32), f({4, 3}, int32)); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("tensordot", [&] { tensordot(f({2, 3, 4}), f({4, 3, 5}), {1, 2}, {0, 1}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("tensordot", [&] { tensordot(f({2, 3, 4}), f({4, 3, 5}), {1, 2}, {0}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("tensordot", [&] { tensordot(f({2, 3, 4}), f({4, 3, 5}), 4); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("tensordot", [&] { tensordot(f({2, 3, 4}), f({4, 3, 5}), -1); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("tensordot", [&] { tensordot(f({3, 3}), f({3, 3}), {0, 0}, {1, 1}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("tensordot", [&] { tensordot(f({2, 3}, int32), f({3, 2}, int32), 1); }));
  EXPECT_TRUE(throws_op<std::out_of_range>("tensordot", [&] { tensordot(f({2, 3, 4}), f({4, 3, 5}), {5}, {0}); }));
}

// ---- einsum ------------------------------------------------------------------------------------

// Brute-force einsum in double over explicit subscripts (letters only, output given), with
// size-1 dims broadcasting.
std::vector<double> ref_einsum(const std::string& spec, const std::vector<array>& ops, Shape& out_shape) {
  size_t arrow = spec.find("->");
  std::string lhs = spec.substr(0, arrow), rhs = spec.substr(arrow + 2);
  std::vector<std::string> terms;
  for (size_t b = 0;;) {
    size_t e = lhs.find(',', b);
    terms.push_back(lhs.substr(b, e == std::string::npos ? std::string::npos : e - b));
    if (e == std::string::npos) break;
    b = e + 1;
  }
  std::map<char, int> size;
  std::vector<std::vector<double>> vals;
  for (size_t i = 0; i < ops.size(); ++i) {
    vals.push_back(to_vector(ops[i]));
    for (size_t d = 0; d < terms[i].size(); ++d) size[terms[i][d]] = std::max(size[terms[i][d]], ops[i].shape(d));
  }
  std::vector<char> letters;
  for (auto [c, n] : size) letters.push_back(c);
  out_shape.clear();
  for (char c : rhs) out_shape.push_back(size[c]);
  std::vector<double> out(numel(out_shape), 0.0);
  int64_t total = 1;
  for (char c : letters) total *= size[c];
  std::map<char, int> idx;
  for (int64_t t = 0; t < total; ++t) {
    int64_t r = t;
    for (int i = static_cast<int>(letters.size()) - 1; i >= 0; --i) idx[letters[i]] = r % size[letters[i]], r /= size[letters[i]];
    double prod = 1;
    for (size_t i = 0; i < ops.size(); ++i) {
      int64_t f = 0;
      for (size_t d = 0; d < terms[i].size(); ++d) {
        int n = ops[i].shape(d);
        f = f * n + (n == 1 ? 0 : idx[terms[i][d]]);
      }
      prod *= vals[i][f];
    }
    int64_t o = 0;
    for (char c : rhs) o = o * size[c] + idx[c];
    out[o] += prod;
  }
  return out;
}

void check_einsum(const std::string& spec, const std::string& ref_spec, const std::vector<array>& ops,
                  double tol = 1e-5) {
  Shape shape;
  auto want = ref_einsum(ref_spec, ops, shape);
  array r = einsum(spec, ops);
  EXPECT_TRUE(matches(r, shape, want, tol, tol)) << spec;
}

TEST(Einsum, Values) {
  array a = random_array({2, 3}, float32, -2, 2, 1), b = random_array({3, 4}, float32, -2, 2, 2);
  array sq = random_array({3, 3}, float32, -2, 2, 3);
  array v = random_array({3}, float32, -2, 2, 4), w = random_array({5}, float32, -2, 2, 5);
  check_einsum("ij,jk->ik", "ij,jk->ik", {a, b});
  check_einsum("ij,jk", "ij,jk->ik", {a, b});
  check_einsum("ij,jk->ki", "ij,jk->ki", {a, b});
  check_einsum("ii", "ii->", {sq});
  check_einsum("ii->i", "ii->i", {sq});
  check_einsum("ij->", "ij->", {a});
  check_einsum("ij->j", "ij->j", {a});
  check_einsum("ij", "ij->ij", {a});
  check_einsum("ji", "ji->ij", {a});
  check_einsum("i,j", "i,j->ij", {v, w});
  check_einsum("i,i", "i,i->", {v, v});
  check_einsum("i,i->i", "i,i->i", {v, v});
  check_einsum("ij,ij->ij", "ij,ij->ij", {a, random_array({1, 3}, float32, -2, 2, 6)});
  array x = random_array({4, 2, 3}, float32, -2, 2, 7), y = random_array({4, 3, 5}, float32, -2, 2, 8);
  check_einsum("bij,bjk->bik", "bij,bjk->bik", {x, y});
  check_einsum("bij,bjk->b", "bij,bjk->b", {x, y});
  check_einsum("bij,bjk->kb", "bij,bjk->kb", {x, y});
  check_einsum("...ij,...jk", "bij,bjk->bik", {x, y});
  check_einsum("...ij,jk->...ik", "bij,jk->bik", {x, b});
  check_einsum("bij,bkj->bik", "bij,bkj->bik", {x, transpose(random_array({5, 3, 4}, float32, -2, 2, 9), {2, 0, 1})});
  check_einsum("ab,bc,cd->ad", "ab,bc,cd->ad",
               {a, b, random_array({4, 5}, float32, -2, 2, 10)});
  check_einsum("ab,bc,cd", "ab,bc,cd->ad", {a, b, random_array({4, 5}, float32, -2, 2, 10)});
  check_einsum("iij->j", "iij->j", {random_array({3, 3, 2}, float32, -2, 2, 11)});
  check_einsum("ijk,jil->kl", "ijk,jil->kl",
               {random_array({2, 3, 4}, float64, -2, 2, 12), random_array({3, 2, 5}, float64, -2, 2, 13)}, 1e-10);
  check_einsum("i,i,i->", "i,i,i->", {random_array({1}, float32), random_array({1}, float32, -2, 2, 3), v});
  check_einsum("Ab,bA", "Ab,bA->", {a, transpose(a)});
  // Integers stay integers when nothing is contracted.
  array p = random_array({2, 3}, int32, -3, 3, 14), q = random_array({2, 3}, int32, -3, 3, 15);
  EXPECT_EQ(einsum("ij,ij->ij", {p, q}).dtype(), int32);
  check_einsum("ij,ij->ij", "ij,ij->ij", {p, q});
  check_einsum("ij->", "ij->", {p});
  EXPECT_EQ(einsum("ij->", {p}).dtype(), int32);
  // Empty dims.
  check_einsum("ij,jk->ik", "ij,jk->ik", {random_array({2, 0}, float32), random_array({0, 3}, float32)});
}

// einsum_path: numpy's greedy order and MLX's report (paths and texts from MLX 0.32), and
// einsum contracting in that order.
TEST(Einsum, PathAsMlx) {
  using Path = std::vector<std::vector<int>>;
  auto path_of = [](const std::string& sub, const std::vector<Shape>& shapes) {
    std::vector<array> ops;
    for (const auto& sh : shapes) ops.push_back(ones(sh, float32));
    return einsum_path(sub, ops);
  };
  auto [p1, s1] = path_of("ij,jk,kl->il", {{2, 3}, {3, 4}, {4, 5}});
  EXPECT_EQ(p1, (Path{{1, 2}, {0, 1}}));
  EXPECT_EQ(s1, "  Complete contraction:  ij,jk,kl->il\n         Naive scaling:  4\n     Optimized scaling:  3\n"
                "      Naive FLOP count:  360\n  Optimized FLOP count:  180\n");
  auto [p2, s2] = path_of("ij,jk", {{2, 3}, {3, 4}});
  EXPECT_EQ(p2, (Path{{0, 1}}));
  EXPECT_EQ(s2, "  Complete contraction:  ij,jk\n         Naive scaling:  3\n     Optimized scaling:  3\n"
                "      Naive FLOP count:  48\n  Optimized FLOP count:  48\n");
  auto [p3, s3] = path_of("ab,bc,cd,de->ae", {{10, 20}, {20, 30}, {30, 2}, {2, 10}});
  EXPECT_EQ(p3, (Path{{1, 2}, {0, 2}, {0, 1}}));
  EXPECT_EQ(s3, "  Complete contraction:  ab,bc,cd,de->ae\n         Naive scaling:  5\n     Optimized scaling:  3\n"
                "      Naive FLOP count:  480000\n  Optimized FLOP count:  3600\n");
  auto [p4, s4] = path_of("ab,bc,ca,ad->d", {{3, 4}, {4, 5}, {5, 3}, {3, 6}});
  EXPECT_EQ(p4, (Path{{1, 2}, {0, 2}, {0, 1}}));
  EXPECT_NE(s4.find("Optimized FLOP count:  180"), std::string::npos) << s4;
  EXPECT_EQ(path_of("ab,bc,cd->", {{1000, 2}, {2, 1000}, {1000, 3}}).first, (Path{{1, 2}, {0, 1}}));
  auto [p5, s5] = path_of("ab,cd,ef->abcdef", {{2, 2}, {2, 2}, {2, 2}});  // outer products only
  EXPECT_EQ(p5, (Path{{0, 1}, {0, 1}}));
  EXPECT_NE(s5.find("Optimized FLOP count:  80"), std::string::npos) << s5;
  EXPECT_EQ(path_of("ii->i", {{3, 3}}).first, (Path{{0}}));
  // The chain contracts in that order and gives the matmul chain's values.
  array a = random_array({10, 20}, float32, -1, 1, 21), b = random_array({20, 30}, float32, -1, 1, 22);
  array c = random_array({30, 2}, float32, -1, 1, 23), d = random_array({2, 10}, float32, -1, 1, 24);
  array want = matmul(matmul(matmul(a, b), c), d);
  EXPECT_TRUE(allclose(einsum("ab,bc,cd,de->ae", {a, b, c, d}), want, 1e-4, 1e-5).item<bool>());
  array e = random_array({3, 4}, float32, -1, 1, 25), f = random_array({4, 5}, float32, -1, 1, 26);
  array g = random_array({5, 3}, float32, -1, 1, 27), h = random_array({3, 6}, float32, -1, 1, 28);
  array want2 = sum(expand_dims(diagonal(matmul(matmul(e, f), g)), 1) * h, 0);
  EXPECT_TRUE(allclose(einsum("ab,bc,ca,ad->d", {e, f, g, h}), want2, 1e-4, 1e-5).item<bool>());
  EXPECT_TRUE(throws_op<std::invalid_argument>("einsum", [&] { einsum_path("ij,jk", {a}); }));
}

TEST(Einsum, BadInputs) {
  auto f = [](Shape s, Dtype d = float32) { return random_array(s, d); };
  EXPECT_TRUE(throws_op<std::invalid_argument>("einsum", [&] { einsum("ij,jk", {f({2, 3})}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("einsum", [&] { einsum("ij,jk", {f({2, 3}), f({4, 4})}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("einsum", [&] { einsum("ijk,jk", {f({2, 3}), f({3, 4})}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("einsum", [&] { einsum("ij,jk->iz", {f({2, 3}), f({3, 4})}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("einsum", [&] { einsum("ij,jk->ii", {f({2, 3}), f({3, 4})}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("einsum", [&] { einsum("a1", {f({2, 3})}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("einsum", [&] { einsum("a..b", {f({2, 3})}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("einsum", [&] { einsum("ii", {f({2, 3})}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("einsum", [&] { einsum("i,i", {f({2}, int32), f({2}, int32)}); }));
}

// vecdot, kron, segmented_mm and hadamard_transform (MLX 0.32's values).
TEST(MatmulExtras, VecdotKronSegmentedHadamard) {
  EXPECT_TRUE(matches(vecdot(array({1.0f, 2.0f, 3.0f, 4.0f}, {2, 2}), array({1.0f, 1.0f, 2.0f, 0.0f}, {2, 2})), {2}, {3, 6},
                      0, 0));
  array vc = vecdot(array({complex64_t(1, 2)}), array({complex64_t(3, 1)}));
  eval(vc);
  EXPECT_EQ(vc.data<complex64_t>()[0], complex64_t(5, -5));  // conj(a) b
  EXPECT_TRUE(matches(kron(array({1, 2, 3, 4}, {2, 2}), array({0, 1, 1, 0}, {2, 2})), {4, 4},
                      {0, 1, 0, 2, 1, 0, 2, 0, 0, 3, 0, 4, 3, 0, 4, 0}, 0, 0));
  EXPECT_EQ(kron(ones({2, 1, 3}), reshape(arange(4), {2, 2})).shape(), Shape({2, 2, 6}));
  EXPECT_TRUE(matches(kron(array(2), array({1, 2})), {2}, {2, 4}, 0, 0));
  array a = reshape(astype(arange(12), float32), {2, 6}), b = reshape(astype(arange(18), float32), {6, 3});
  array seg({0, 2, 2, 6, 3, 3}, {3, 2});
  array r = segmented_mm(a, b, seg);
  EXPECT_EQ(r.shape(), Shape({3, 2, 3}));
  EXPECT_TRUE(matches(slice(r, {0, 0, 0}, {1, 2, 3}), {1, 2, 3}, {3, 4, 5, 21, 34, 47}, 0, 0));
  EXPECT_TRUE(matches(slice(r, {2, 0, 0}, {3, 2, 3}), {1, 2, 3}, {0, 0, 0, 0, 0, 0}, 0, 0));
  // The segments partition K: their products add up to the whole product.
  EXPECT_TRUE(allclose(sum(slice(r, {0, 0, 0}, {2, 2, 3}), 0), matmul(a, b)).item<bool>());
  EXPECT_TRUE(throws_op<std::invalid_argument>("segmented_mm", [&] { segmented_mm(a, b, astype(seg, float32)); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("segmented_mm", [&] { segmented_mm(a, transpose(b), seg); }));
  EXPECT_TRUE(matches(hadamard_transform(astype(arange(8), float32)), {8},
                      {9.899495124816895, -1.4142135381698608, -2.8284270763397217, 0.0, -5.656854152679443, 0.0, 0.0, 0.0},
                      1e-6, 1e-6));
  EXPECT_TRUE(matches(hadamard_transform(array({1.0f, 2.0f, 3.0f, 4.0f}, {1, 4}), 1.0f), {1, 4}, {10, -2, -4, 0}, 0, 0));
  EXPECT_EQ(hadamard_transform(array({1, 2})).dtype(), float32);
  EXPECT_EQ(hadamard_transform(astype(ones({4}), bfloat16)).dtype(), bfloat16);
  // Orthonormal: applying it twice gives the input back.
  array x = random::normal({3, 16}, float32, random::key(1));
  EXPECT_TRUE(allclose(hadamard_transform(hadamard_transform(x)), x, 1e-5, 1e-5).item<bool>());
  EXPECT_TRUE(throws_op<std::invalid_argument>("hadamard_transform", [] { hadamard_transform(ones({3})); }));
  // Sizes 12, 20 and 28 times a power of two use MLX's matrices of those orders.
  EXPECT_TRUE(matches(hadamard_transform(astype(arange(12), float32)), {12},
                      {18.475208282470703, -1.7320507764816284, 0.0, -1.7320507764816284, -5.773502349853516,
                       -2.886751174926758, 0.0, -4.041451930999756, 5.773502349853516, -5.196152210235596, 0.0,
                       -6.350852966308594},
                      1e-5, 1e-5));
  EXPECT_TRUE(matches(hadamard_transform(astype(arange(40), float32), 1.0f), {40},
                      {-44, 4, -20, 4, 4, 4, 28, 4, 52, 4, -40, 0, -80, 0, -40, 0, 0, 0, -40, 0,
                       80, 0, 120, 0, 80, 0, 40, 0, 80, 0, -408, 8, -400, 8, -392, 8, -384, 8, -376, 8},
                      0, 0));
  EXPECT_TRUE(matches(hadamard_transform(reshape(astype(arange(56), float32), {1, 56}), 1.0f), {1, 56},
                      {-344, 8, -320, 8, -296, 8, -272, 8, -248, 8, -224, 8, -200, 8, -228, 4, -188, 4, -260, 4,
                       -220, 4, -180, 4, -252, 4, -212, 4, -284, 4, -244, 4, -204, 4, -276, 4, -348, 4, -308, 4,
                       -268, 4, -508, 4, -580, 4, -540, 4, -500, 4, -460, 4, -420, 4, -492, 4},
                      0, 0));
  // Each order is orthonormal too, batched.
  for (int n : {12, 24, 20, 80, 28, 112}) {
    array y = random::normal({3, n}, float32, random::key(n));
    array once = hadamard_transform(y);
    EXPECT_TRUE(allclose(matmul(once, transpose(once)), matmul(y, transpose(y)), 1e-4, 1e-4).item<bool>()) << n;
  }
  for (int n : {6, 36, 240}) {
    EXPECT_TRUE(throws_op<std::invalid_argument>("hadamard_transform", [n] { hadamard_transform(ones({n})); })) << n;
  }
}

// block_masked_mm: masks spread over blocks (bool keeps or zeros, floats scale), a block count
// rounded up for sizes that are not multiples of the block.
TEST(MatmulExtras, BlockMaskedMm) {
  array a = random::normal({40, 64}, float32, random::key(2)), b = random::normal({64, 96}, float32, random::key(3));
  array mo({true, false, true, false, true, true}, {2, 3});
  array ml({0.5f, 2.0f, 1.0f, 0.0f}, {2, 2});
  array mr({true, true, false, false, true, true}, {2, 3});
  auto spread = [](const array& m, int rows, int cols) {
    return slice(repeat(repeat(astype(m, float32), 32, 0), 32, 1), {0, 0}, {rows, cols});
  };
  array want = multiply(matmul(multiply(a, spread(ml, 40, 64)), multiply(b, spread(mr, 64, 96))), spread(mo, 40, 96));
  EXPECT_TRUE(allclose(block_masked_mm(a, b, 32, mo, ml, mr), want, 1e-5, 1e-5).item<bool>());
  EXPECT_TRUE(allclose(block_masked_mm(a, b, 32), matmul(a, b)).item<bool>());
  EXPECT_EQ(block_masked_mm(stack({a, a}), b, 32, std::nullopt, stack({ml, ml})).shape(), Shape({2, 40, 96}));
  EXPECT_TRUE(throws_op<std::invalid_argument>("block_masked_mm", [&] { block_masked_mm(a, b, 32, ml); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("block_masked_mm", [&] { block_masked_mm(a, b, 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("block_masked_mm", [&] { block_masked_mm(a, b, 32, astype(mo, int32)); }));
}

}  // namespace
}  // namespace mica
