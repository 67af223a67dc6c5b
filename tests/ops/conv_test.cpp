// Tests of the conv family (conv1d/2d/3d, conv_general, conv_transpose1d/2d/3d) against
// double-precision loops over strides, padding, dilations, groups, flips, dtypes, strided views,
// empty arrays and bad inputs.
#include <limits>
#include <string>

#include "reference/overflow.h"
#include "reference/reference.h"

namespace mica {
namespace {
using test::matches;
using test::random_array;
using test::throws_op;
using test::to_vector;

struct ConvParams {
  std::vector<int> stride, lo, hi, kdil, idil;
  int groups = 1;
  bool flip = false;
};

// Unravels flat index i over shape s.
std::vector<int64_t> unravel(int64_t i, const std::vector<int64_t>& s) {
  std::vector<int64_t> idx(s.size());
  for (int d = static_cast<int>(s.size()) - 1; d >= 0; --d) idx[d] = i % s[d], i /= s[d];
  return idx;
}

// conv_general straight from the definition, on the zero-dilated, padded input.
std::vector<double> ref_conv(const array& x, const array& w, const ConvParams& p, Shape& out_shape) {
  auto xv = to_vector(x), wv = to_vector(w);
  int dims = static_cast<int>(x.ndim()) - 2;
  int64_t N = x.shape(0), C = x.shape(-1), O = w.shape(0), G = p.groups, cg = C / G, og = O / G;
  std::vector<int64_t> in(dims), k(dims), out(dims);
  out_shape = {static_cast<int>(N)};
  for (int d = 0; d < dims; ++d) {
    in[d] = x.shape(d + 1), k[d] = w.shape(d + 1);
    int64_t in_dil = (in[d] - 1) * p.idil[d] + 1, k_dil = (k[d] - 1) * p.kdil[d] + 1;
    out[d] = (in_dil + p.lo[d] + p.hi[d] - k_dil) / p.stride[d] + 1;
    out_shape.push_back(static_cast<int>(out[d]));
  }
  out_shape.push_back(static_cast<int>(O));
  int64_t P = 1, KP = 1;
  for (int d = 0; d < dims; ++d) P *= out[d], KP *= k[d];
  std::vector<double> r(N * P * O, 0.0);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t pi = 0; pi < P; ++pi) {
      auto o = unravel(pi, out);
      for (int64_t oc = 0; oc < O; ++oc) {
        int64_t g = oc / og;
        double acc = 0;
        for (int64_t kp = 0; kp < KP; ++kp) {
          auto kk = unravel(kp, k);
          int64_t src = n;
          bool ok = true;
          for (int d = 0; d < dims && ok; ++d) {
            int64_t tap = p.flip ? k[d] - 1 - kk[d] : kk[d];
            int64_t q = o[d] * p.stride[d] + tap * p.kdil[d] - p.lo[d];  // position in the dilated input
            ok = q >= 0 && q % p.idil[d] == 0 && q / p.idil[d] < in[d];
            src = src * in[d] + q / p.idil[d];
          }
          if (!ok) continue;
          for (int64_t c = 0; c < cg; ++c) acc += xv[src * C + g * cg + c] * wv[(oc * KP + kp) * cg + c];
        }
        r[(n * P + pi) * O + oc] = acc;
      }
    }
  }
  return r;
}

// Transposed convolution as the scatter it is: x[n, i] spreads to out[n, i * s - pad + k * dil].
std::vector<double> ref_conv_transpose(const array& x, const array& w, const std::vector<int>& s,
                                       const std::vector<int>& pad, const std::vector<int>& dil,
                                       const std::vector<int>& opad, int G, Shape& out_shape) {
  auto xv = to_vector(x), wv = to_vector(w);
  int dims = static_cast<int>(x.ndim()) - 2;
  int64_t N = x.shape(0), C = x.shape(-1), O = w.shape(0), cg = C / G, og = O / G;
  std::vector<int64_t> in(dims), k(dims), out(dims);
  out_shape = {static_cast<int>(N)};
  for (int d = 0; d < dims; ++d) {
    in[d] = x.shape(d + 1), k[d] = w.shape(d + 1);
    out[d] = (in[d] - 1) * s[d] - 2 * pad[d] + dil[d] * (k[d] - 1) + opad[d] + 1;
    out_shape.push_back(static_cast<int>(out[d]));
  }
  out_shape.push_back(static_cast<int>(O));
  int64_t P = 1, KP = 1, IP = 1;
  for (int d = 0; d < dims; ++d) P *= out[d], KP *= k[d], IP *= in[d];
  std::vector<double> r(N * P * O, 0.0);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t ip = 0; ip < IP; ++ip) {
      auto i = unravel(ip, in);
      for (int64_t kp = 0; kp < KP; ++kp) {
        auto kk = unravel(kp, k);
        int64_t dst = n;
        bool ok = true;
        for (int d = 0; d < dims && ok; ++d) {
          int64_t t = i[d] * s[d] - pad[d] + kk[d] * dil[d];
          ok = t >= 0 && t < out[d];
          dst = dst * out[d] + t;
        }
        if (!ok) continue;
        for (int64_t oc = 0; oc < O; ++oc) {
          int64_t g = oc / og;
          double acc = 0;
          for (int64_t c = 0; c < cg; ++c) acc += xv[(n * IP + ip) * C + g * cg + c] * wv[(oc * KP + kp) * cg + c];
          r[dst * O + oc] += acc;
        }
      }
    }
  }
  return r;
}

ConvParams full(int dims, ConvParams p) {
  auto fill = [&](std::vector<int>& v, int def) {
    if (v.empty()) v.assign(dims, def);
    else if (v.size() == 1) v.assign(dims, v[0]);
  };
  fill(p.stride, 1), fill(p.lo, 0), fill(p.kdil, 1), fill(p.idil, 1);
  if (p.hi.empty()) p.hi = p.lo;
  fill(p.hi, 0);
  return p;
}

double conv_tol(Dtype d, int64_t terms) {
  if (d == float64) return 1e-10;
  if (d == float32) return 2e-6 * (terms + 4);
  return test::tol_for(d) * 4 * (1 + terms / 8.0);
}

void check_general(const array& x, const array& w, ConvParams p, Dtype want_dtype) {
  int dims = static_cast<int>(x.ndim()) - 2;
  p = full(dims, p);
  array y = conv_general(x, w, p.stride, p.lo, p.hi, p.kdil, p.idil, p.groups, p.flip);
  Shape shape;
  auto want = ref_conv(x, w, p, shape);
  EXPECT_EQ(y.dtype(), want_dtype);
  double tol = conv_tol(want_dtype, w.size() / w.shape(0));
  EXPECT_TRUE(matches(y, shape, want, tol, tol)) << "x " << detail::shape_str(x.shape()) << " w "
                                                 << detail::shape_str(w.shape());
}

TEST(Conv, Conv1d) {
  array x = random_array({2, 9, 4}, float32, -2, 2, 1);
  array w = random_array({6, 3, 4}, float32, -2, 2, 2);
  for (auto [s, p, d] : std::vector<std::tuple<int, int, int>>{{1, 0, 1}, {2, 1, 2}, {3, 2, 1}, {1, 4, 3}}) {
    Shape shape;
    auto want = ref_conv(x, w, full(1, {{s}, {p}, {p}, {d}, {1}}), shape);
    EXPECT_TRUE(matches(conv1d(x, w, s, p, d), shape, want, 2e-5, 2e-5)) << s << " " << p << " " << d;
  }
  // Groups, including depthwise.
  for (int g : {2, 4}) {
    array wg = random_array({8, 3, 4 / g}, float32, -2, 2, 3);
    Shape shape;
    ConvParams pr = full(1, {{1}, {1}, {1}, {1}, {1}, g});
    auto want = ref_conv(x, wg, pr, shape);
    EXPECT_TRUE(matches(conv1d(x, wg, 1, 1, 1, g), shape, want, 2e-5, 2e-5)) << g;
  }
}

TEST(Conv, Conv2d3d) {
  array x = random_array({2, 7, 8, 6}, float32, -2, 2, 1);
  array w = random_array({5, 3, 2, 6}, float32, -2, 2, 2);
  struct C2 {
    std::pair<int, int> s, p, d;
  };
  for (const auto& c : std::vector<C2>{{{1, 1}, {0, 0}, {1, 1}}, {{2, 1}, {1, 2}, {1, 2}}, {{2, 3}, {2, 0}, {2, 1}}}) {
    Shape shape;
    auto want = ref_conv(x, w, full(2, {{c.s.first, c.s.second}, {c.p.first, c.p.second}, {}, {c.d.first, c.d.second}, {}}),
                         shape);
    EXPECT_TRUE(matches(conv2d(x, w, c.s, c.p, c.d), shape, want, 5e-5, 5e-5));
  }
  array wg = random_array({9, 3, 3, 2}, float32, -2, 2, 3);
  Shape shape;
  auto want = ref_conv(x, wg, full(2, {{1}, {1}, {}, {1}, {}, 3}), shape);
  EXPECT_TRUE(matches(conv2d(x, wg, {1, 1}, {1, 1}, {1, 1}, 3), shape, want, 5e-5, 5e-5));

  array x3 = random_array({2, 5, 6, 4, 3}, float32, -2, 2, 4);
  array w3 = random_array({4, 2, 3, 2, 3}, float32, -2, 2, 5);
  want = ref_conv(x3, w3, full(3, {{1, 2, 1}, {1, 0, 1}, {}, {2, 1, 1}, {}}), shape);
  EXPECT_TRUE(matches(conv3d(x3, w3, {1, 2, 1}, {1, 0, 1}, {2, 1, 1}), shape, want, 5e-5, 5e-5));
  want = ref_conv(x3, w3, full(3, {}), shape);
  EXPECT_TRUE(matches(conv3d(x3, w3), shape, want, 5e-5, 5e-5));
}

TEST(Conv, General) {
  array x = random_array({2, 5, 6, 4}, float32, -2, 2, 1);
  array w = random_array({3, 2, 3, 4}, float32, -2, 2, 2);
  check_general(x, w, {{2, 1}, {1, 0}, {0, 2}, {1, 2}, {2, 3}, 1, true}, float32);
  check_general(x, w, {{1}, {0}, {0}, {1}, {1}, 1, true}, float32);
  check_general(x, w, {{1}, {-1}, {2}, {1}, {1}}, float32);  // negative padding crops
  check_general(x, random_array({4, 2, 2, 2}, float32, -2, 2, 3), {{1, 2}, {1}, {1}, {1}, {2}, 2, false}, float32);
  // Pointwise (1x1) fast path, with groups and with a strided output.
  check_general(x, random_array({6, 1, 1, 4}, float32, -2, 2, 4), {}, float32);
  check_general(x, random_array({6, 1, 1, 2}, float32, -2, 2, 5), {{}, {}, {}, {}, {}, 2}, float32);
  check_general(x, random_array({6, 1, 1, 4}, float32, -2, 2, 6), {{2}}, float32);
  // Symmetric-padding overload.
  Shape shape;
  auto want = ref_conv(x, w, full(2, {{1}, {1}, {1}, {2}, {1}}), shape);
  EXPECT_TRUE(matches(conv_general(x, w, {1}, {1}, {2}, {1}, 1), shape, want, 5e-5, 5e-5));
  // Large enough for several column chunks.
  check_general(random_array({1, 130, 130, 32}, float32, -1, 1, 7), random_array({8, 3, 3, 32}, float32, -1, 1, 8),
                {}, float32);
}

TEST(Conv, DtypesAndViews) {
  for (Dtype d : {float16, bfloat16, float64}) {
    check_general(random_array({2, 7, 4}, d, -2, 2, 1), random_array({6, 3, 2}, d, -2, 2, 2),
                  {{2}, {1}, {1}, {1}, {1}, 2}, d);
    check_general(random_array({1, 5, 6, 3}, d, -2, 2, 3), random_array({2, 2, 3, 3}, d, -2, 2, 4),
                  {{1}, {1}, {0}, {2}, {1}, 1, true}, d);
  }
  check_general(random_array({2, 7, 4}, float16, -2, 2, 1), random_array({6, 3, 4}, float32, -2, 2, 2), {}, float32);
  check_general(random_array({2, 7, 4}, bfloat16, -2, 2, 1), random_array({6, 3, 4}, float16, -2, 2, 2), {},
                float32);
  // Non-contiguous input and weight.
  array xt = transpose(random_array({4, 7, 2}, float32, -2, 2, 5), {2, 1, 0});        // (2, 7, 4)
  array wt = transpose(random_array({4, 3, 6}, float32, -2, 2, 6), {2, 1, 0});        // (6, 3, 4)
  check_general(xt, wt, {{1}, {1}}, float32);
  array xs = slice(random_array({3, 14, 4}, float32, -2, 2, 7), {0, 0, 0}, {3, 14, 4}, {2, 2, 1});  // (2, 7, 4)
  check_general(xs, wt, {{2}}, float32);
}

TEST(Conv, Empty) {
  array w = random_array({6, 3, 4}, float32);
  EXPECT_TRUE(matches(conv1d(random_array({0, 9, 4}, float32), w), {0, 7, 6}, {}));
  EXPECT_TRUE(matches(conv1d(random_array({2, 9, 4}, float32), random_array({0, 3, 4}, float32)), {2, 7, 0}, {}));
  EXPECT_TRUE(matches(conv1d(random_array({2, 9, 0}, float32), random_array({6, 3, 0}, float32)), {2, 7, 6},
                      std::vector<double>(84, 0.0)));
  EXPECT_TRUE(matches(conv_transpose1d(random_array({0, 5, 4}, float32), w), {0, 7, 6}, {}));
}

TEST(ConvTranspose, Values) {
  struct Case {
    Shape x, w;
    std::vector<int> s, p, d, op;
    int g;
  };
  for (const auto& c : std::vector<Case>{
           {{2, 5, 4}, {6, 3, 4}, {1}, {0}, {1}, {0}, 1},
           {{2, 5, 4}, {6, 3, 4}, {2}, {1}, {2}, {1}, 1},
           {{2, 5, 4}, {6, 3, 2}, {3}, {2}, {1}, {2}, 2},
           {{1, 5, 4}, {6, 3, 4}, {1}, {3}, {1}, {0}, 1},  // padding beyond the kernel: negative conv padding
           {{2, 4, 5, 4}, {6, 3, 2, 4}, {2, 1}, {1, 0}, {1, 2}, {1, 0}, 1},
           {{1, 4, 3, 4}, {4, 2, 2, 2}, {2, 2}, {0, 1}, {1, 1}, {0, 1}, 2},
           {{1, 3, 4, 2, 3}, {2, 2, 3, 1, 3}, {2, 1, 2}, {0, 1, 0}, {1, 1, 1}, {1, 0, 0}, 1}}) {
    array x = random_array(c.x, float32, -2, 2, 1), w = random_array(c.w, float32, -2, 2, 2);
    Shape shape;
    auto want = ref_conv_transpose(x, w, c.s, c.p, c.d, c.op, c.g, shape);
    auto run = [&]() -> array {
      if (c.x.size() == 3) return conv_transpose1d(x, w, c.s[0], c.p[0], c.d[0], c.op[0], c.g);
      if (c.x.size() == 4) {
        return conv_transpose2d(x, w, {c.s[0], c.s[1]}, {c.p[0], c.p[1]}, {c.d[0], c.d[1]}, {c.op[0], c.op[1]}, c.g);
      }
      return conv_transpose3d(x, w, {c.s[0], c.s[1], c.s[2]}, {c.p[0], c.p[1], c.p[2]}, {c.d[0], c.d[1], c.d[2]},
                              {c.op[0], c.op[1], c.op[2]}, c.g);
    };
    array y = run();
    EXPECT_TRUE(matches(y, shape, want, 5e-5, 5e-5)) << detail::shape_str(c.x);
  }
  array x = random_array({2, 5, 4}, float64, -2, 2, 3), w = random_array({3, 3, 4}, float64, -2, 2, 4);
  Shape shape;
  auto want = ref_conv_transpose(x, w, {2}, {1}, {1}, {1}, 1, shape);
  EXPECT_TRUE(matches(conv_transpose1d(x, w, 2, 1, 1, 1), shape, want, 1e-10, 1e-10));
  array xh = random_array({2, 5, 4}, float16, -2, 2, 5), wh = random_array({3, 3, 4}, float16, -2, 2, 6);
  want = ref_conv_transpose(xh, wh, {2}, {0}, {1}, {0}, 1, shape);
  EXPECT_TRUE(matches(conv_transpose1d(xh, wh, 2), shape, want, 1e-2, 2e-2));
}

// An output size beyond int32 is std::overflow_error at the call (MLX's sizes), including the
// padding a transposed convolution implies; nothing is allocated or evaluated.
TEST(Conv, OutputSizeOverflow) {
  constexpr int kMax = std::numeric_limits<int32_t>::max();
  using test::overflows;
  auto x = zeros({1, 4, 1}), w = zeros({1, 2, 1});
  EXPECT_TRUE(overflows("conv1d", [&] { conv1d(x, w, 1, 1 << 30); }, (int64_t{1} << 31) + 3));
  EXPECT_TRUE(overflows("conv1d", [&] { conv1d(x, w, 1, kMax - 1); }, (int64_t{1} << 32) - 1));
  EXPECT_TRUE(overflows("conv2d", [&] { conv2d(zeros({1, 4, 4, 1}), zeros({1, 2, 2, 1}), {1, 1}, {0, 1 << 30}); },
                        (int64_t{1} << 31) + 3));
  EXPECT_TRUE(overflows("conv_general", [&] {
    conv_general(x, w, std::vector<int>{1}, std::vector<int>{0}, std::vector<int>{0}, std::vector<int>{1},
                 std::vector<int>{1 << 30});
  }, 3 * (int64_t{1} << 30)));
  // Transposed: a huge stride (input dilation), kernel dilation, negative padding or output
  // padding.
  EXPECT_TRUE(overflows("conv_transpose1d", [&] {
    conv_transpose1d(broadcast_to(zeros({1, 1, 1}), {1, 1 << 30, 1}), w, 4);
  }, (int64_t{1} << 32) - 2));
  EXPECT_TRUE(overflows("conv_transpose1d", [&] { conv_transpose1d(x, w, 1, 0, kMax); }, (int64_t{1} << 31) + 3));
  EXPECT_TRUE(overflows("conv_transpose1d", [&] { conv_transpose1d(x, w, 1, -kMax); }, int64_t{1} << 31));
  EXPECT_TRUE(overflows("conv_transpose1d", [&] { conv_transpose1d(x, w, kMax, 0, 1, kMax - 1); }, 4 * int64_t{kMax} + 1));
  EXPECT_TRUE(overflows("conv_transpose2d", [&] {
    conv_transpose2d(zeros({1, 4, 4, 1}), zeros({1, 2, 2, 1}), {1, 1}, {0, 0}, {1, kMax});
  }, (int64_t{1} << 31) + 3));
  // Just inside the range the node is built (and not evaluated).
  EXPECT_EQ(conv1d(x, w, 1, (1 << 30) - 2).shape(), Shape({1, kMax, 1}));
}

TEST(Conv, BadInputs) {
  auto f = [](Shape s, Dtype d = float32) { return random_array(s, d); };
  array x = f({2, 9, 4}), w = f({6, 3, 4});
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv1d", [&] { conv1d(f({2, 9, 4}, int32), f({6, 3, 4}, int32)); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv1d", [&] { conv1d(f({2, 9, 4}, int32), w); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv1d", [&] { conv1d(f({2, 9, 4}, complex64), w); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv1d", [&] { conv1d(x, f({6, 3, 3, 1})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv1d", [&] { conv1d(f({9, 4}), w); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv1d", [&] { conv1d(f({2, 5, 9, 4}), w); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv1d", [&] { conv1d(x, f({6, 3, 3})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv1d", [&] { conv1d(x, f({6, 3, 2}), 1, 0, 1, 3); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv1d", [&] { conv1d(x, f({5, 3, 2}), 1, 0, 1, 2); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv1d", [&] { conv1d(x, w, 1, 0, 1, 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv1d", [&] { conv1d(x, w, 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv1d", [&] { conv1d(x, w, -1); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv1d", [&] { conv1d(x, w, 1, 0, 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv1d", [&] { conv1d(x, f({6, 12, 4})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv1d", [&] { conv1d(x, f({6, 0, 4})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv1d", [&] { conv1d(x, w, 1, -4); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv2d", [&] { conv2d(x, w); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv3d", [&] { conv3d(f({2, 5, 5, 4}), f({6, 3, 3, 4})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv_general", [&] { conv_general(x, w, {1, 1}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv_general", [&] { conv_general(x, w, {}, {}, {}, {}, std::vector<int>{0}); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv_general", [&] { conv_general(f({2, 3, 3, 3, 3, 4}), f({6, 1, 1, 1, 1, 4})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv_transpose1d", [&] { conv_transpose1d(x, w, 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv_transpose1d", [&] { conv_transpose1d(x, w, 1, 0, 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv_transpose1d", [&] { conv_transpose1d(x, w, 1, 0, 1, -1); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv_transpose1d", [&] { conv_transpose1d(f({2, 5, 4}), w, 1, 9); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv_transpose1d", [&] { conv_transpose1d(x, f({6, 3, 3})); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv_transpose2d", [&] { conv_transpose2d(x, w); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("conv_transpose1d", [&] { conv_transpose1d(f({2, 5, 4}, int32), w); }));
}

}  // namespace
}  // namespace mica
