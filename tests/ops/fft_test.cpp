// mica::fft against a float64 naive DFT written here (O(n^2) sums with exactly reduced
// twiddles): every transform over lengths with small, large-prime (Bluestein) and unit factors,
// every norm mode, resizing by n / s, axes, non-contiguous inputs, vmap, gradients against
// finite differences, the helpers (shifts, frequencies) and every bad argument.
#include <atomic>
#include <cmath>
#include <complex>
#include <functional>
#include <numbers>
#include <thread>

#include "mlx/fft.h"
#include "reference/reference.h"

namespace mica::test {
namespace {

using fft::FFTNorm;
using C = std::complex<double>;

// ---- The reference: row-major float64 complex data and naive transforms along one axis. ----

struct Data {
  std::vector<C> v;
  Shape shape;
};

struct Lines {
  int64_t outer = 1, n, inner = 1;
};
Lines lines_of(const Shape& shape, int axis) {
  Lines l;
  l.n = shape[axis];
  for (int d = 0; d < axis; ++d) l.outer *= shape[d];
  for (size_t d = axis + 1; d < shape.size(); ++d) l.inner *= shape[d];
  return l;
}

Data from(const array& a) {
  Data d{{}, a.shape()};
  auto re = to_vector(a);
  std::vector<double> im(re.size(), 0.0);
  if (a.dtype() == complex64) im = to_vector_imag(a);
  for (size_t i = 0; i < re.size(); ++i) d.v.emplace_back(re[i], im[i]);
  return d;
}

// Truncates or zero-pads `axis` to length len.
Data resize(const Data& d, int axis, int len) {
  Lines l = lines_of(d.shape, axis);
  Data out{std::vector<C>(l.outer * len * l.inner), d.shape};
  out.shape[axis] = len;
  for (int64_t o = 0; o < l.outer; ++o) {
    for (int64_t j = 0; j < std::min<int64_t>(len, l.n); ++j) {
      for (int64_t i = 0; i < l.inner; ++i) out.v[(o * len + j) * l.inner + i] = d.v[(o * l.n + j) * l.inner + i];
    }
  }
  return out;
}

// X_k = sum_j x_j e^{-+2 pi i jk / n} along `axis` (unnormalized); jk is reduced modulo n
// before the angle is formed, so the twiddles are exact to double rounding for any length.
Data dft(const Data& d, int axis, bool inverse) {
  Lines l = lines_of(d.shape, axis);
  std::vector<C> tw(l.n);
  for (int64_t t = 0; t < l.n; ++t) tw[t] = std::polar(1.0, (inverse ? 2 : -2) * std::numbers::pi * t / l.n);
  Data out{std::vector<C>(d.v.size()), d.shape};
  std::vector<C> line(l.n);
  for (int64_t o = 0; o < l.outer; ++o) {
    for (int64_t i = 0; i < l.inner; ++i) {
      for (int64_t j = 0; j < l.n; ++j) line[j] = d.v[(o * l.n + j) * l.inner + i];
      for (int64_t k = 0; k < l.n; ++k) {
        C s = 0;
        int64_t idx = 0;
        for (int64_t j = 0; j < l.n; ++j) {
          s += line[j] * tw[idx];
          idx += k;
          if (idx >= l.n) idx -= l.n;
        }
        out.v[(o * l.n + k) * l.inner + i] = s;
      }
    }
  }
  return out;
}

// NumPy's irfft along `axis` (d has n / 2 + 1 bins there): the Hermitian extension (bins 0 and,
// for even n, n / 2 by their real parts), an inverse DFT, the real part.
Data c2r(const Data& d, int axis, int n) {
  Lines l = lines_of(d.shape, axis);
  Shape full_shape = d.shape;
  full_shape[axis] = n;
  Data full{std::vector<C>(l.outer * n * l.inner), full_shape};
  for (int64_t o = 0; o < l.outer; ++o) {
    for (int64_t i = 0; i < l.inner; ++i) {
      auto in = [&](int64_t k) { return d.v[(o * l.n + k) * l.inner + i]; };
      auto at = [&](int64_t k) -> C& { return full.v[(o * n + k) * l.inner + i]; };
      at(0) = in(0).real();
      for (int64_t k = 1; k <= n / 2; ++k) {
        at(k) = in(k);
        at(n - k) = std::conj(in(k));
      }
      if (n % 2 == 0) at(n / 2) = in(n / 2).real();
    }
  }
  Data out = dft(full, axis, true);
  for (auto& v : out.v) v = v.real();
  return out;
}

Data scaled(Data d, double s) {
  for (auto& v : d.v) v *= s;
  return d;
}

double norm_scale(FFTNorm norm, bool inverse, double total) {
  if (norm == FFTNorm::Ortho) return 1 / std::sqrt(total);
  return (norm == FFTNorm::Backward) == inverse ? 1 / total : 1.0;
}

// Float32 accuracy for a transform of `total` points: the error grows like log2 of the length.
double tol_for_length(double total) { return 2e-6 * (1 + std::log2(total)); }

// got against want: same shape, real output where want is real, and
// max |got - want| <= tol * max |want|.
testing::AssertionResult close(const array& got, const Data& want, double tol) {
  if (got.shape() != want.shape) {
    return testing::AssertionFailure() << "shape " << detail::shape_str(got.shape()) << ", want "
                                       << detail::shape_str(want.shape);
  }
  Data g = from(got);
  double scale = 0, err = 0;
  size_t worst = 0;
  for (size_t i = 0; i < want.v.size(); ++i) {
    scale = std::max(scale, std::abs(want.v[i]));
    double e = std::abs(g.v[i] - want.v[i]);
    if (!(e <= err)) {
      err = e;
      worst = i;
    }
  }
  if (err <= tol * std::max(scale, 1e-30)) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "max error " << err << " at " << worst << " (got " << g.v[worst] << ", want "
                                     << want.v[worst] << ") exceeds " << tol << " * " << scale;
}

// Random complex64 data in [-1, 1] + i [-1, 1].
array complex_input(const Shape& shape, uint32_t seed) {
  array re = random_array(shape, float32, -1.0, 1.0, seed);
  array im = random_array(shape, float32, -1.0, 1.0, seed + 1000);
  return add(astype(re, complex64), multiply(astype(im, complex64), array(complex64_t(0.0f, 1.0f))));
}
array real_input(const Shape& shape, uint32_t seed) { return random_array(shape, float32, -1.0, 1.0, seed); }

const FFTNorm kNorms[] = {FFTNorm::Backward, FFTNorm::Ortho, FFTNorm::Forward};
const char* norm_name(FFTNorm n) {
  return n == FFTNorm::Backward ? "backward" : n == FFTNorm::Ortho ? "ortho" : "forward";
}

// ---- 1-D transforms ----

// Lengths: unit, powers of two, kissfft's radix 2/3/4/5 and its generic butterfly (7), primes
// and factors above the Bluestein threshold (97, 194 = 2 * 97 for the even real path,
// 4097 = 17 * 241, 10007).
const int kLengths[] = {1, 2, 7, 8, 12, 97, 128, 194, 1000, 4097, 10007};

TEST(Fft, OneDimensionalAgainstNaiveDft) {
  for (int n : kLengths) {
    int last = n < 1000 ? 1 : 0;
    Shape shape = n < 1000 ? Shape{3, n} : Shape{n};
    Shape bins_shape = shape;
    bins_shape[last] = n / 2 + 1;
    array z = complex_input(shape, n);
    array x = real_input(shape, n + 1);
    array b = complex_input(bins_shape, n + 2);
    Data fwd = dft(from(z), last, false), inv = dft(from(z), last, true);
    Data rf = resize(dft(from(x), last, false), last, n / 2 + 1);
    Data ir = c2r(from(b), last, n);
    double tol = tol_for_length(n);
    for (FFTNorm norm : kNorms) {
      SCOPED_TRACE(std::string("n = ") + std::to_string(n) + ", norm " + norm_name(norm));
      EXPECT_TRUE(close(fft::fft(z, -1, norm), scaled(fwd, norm_scale(norm, false, n)), tol));
      EXPECT_TRUE(close(fft::ifft(z, -1, norm), scaled(inv, norm_scale(norm, true, n)), tol));
      array r = fft::rfft(x, -1, norm);
      EXPECT_EQ(r.dtype(), complex64);
      EXPECT_TRUE(close(r, scaled(rf, norm_scale(norm, false, n)), tol));
      array back = fft::irfft(b, n, -1, norm);
      EXPECT_EQ(back.dtype(), float32);
      EXPECT_TRUE(close(back, scaled(ir, norm_scale(norm, true, n)), tol));
    }
  }
}

// Long lengths, where the naive DFT is too slow for every bin: a few bins (the edges and
// spread ones) summed in float64, and the round trip. They reach kissfft's long transforms
// (2^17), the four-step split (smooth lengths from 2^19 points: 3^12, 2^20 and rfft's 2^19
// points for it) and Bluestein on a four-step power of two (200003, prime: 2^19 points).
TEST(Fft, LongLengthsSpotChecked) {
  for (int n : {131072, 531441, 1048576, 200003}) {
    SCOPED_TRACE("n = " + std::to_string(n));
    array z = complex_input({n}, n);
    array x = real_input({n}, n + 1);
    array fz = fft::fft(z), fx = fft::rfft(x);
    Data dz = from(z), dx = from(x), gz = from(fz), gx = from(fx);
    double scale_z = 0, scale_x = 0;
    for (auto& v : gz.v) scale_z = std::max(scale_z, std::abs(v));
    for (auto& v : gx.v) scale_x = std::max(scale_x, std::abs(v));
    std::vector<int64_t> bins = {0, 1, 2, n / 2, n / 2 + 1, n - 1};
    for (int i = 1; i <= 10; ++i) bins.push_back(static_cast<int64_t>(n) * i / 11 + i);
    for (int64_t k : bins) {
      C want_z = 0, want_x = 0;
      for (int64_t j = 0; j < n; ++j) {
        C w = std::polar(1.0, -2 * std::numbers::pi * static_cast<double>(j * k % n) / n);
        want_z += dz.v[j] * w;
        want_x += dx.v[j] * w;
      }
      EXPECT_LE(std::abs(gz.v[k] - want_z), tol_for_length(n) * scale_z) << "fft bin " << k;
      if (k <= n / 2) {
        EXPECT_LE(std::abs(gx.v[k] - want_x), tol_for_length(n) * scale_x) << "rfft bin " << k;
      }
    }
    EXPECT_TRUE(close(fft::ifft(fz), dz, tol_for_length(n)));
    EXPECT_TRUE(close(fft::irfft(fx, n, -1), dx, tol_for_length(n)));
  }
}

TEST(Fft, IrfftDefaultLengthIsEven) {
  // 2 * (bins - 1) values; the imaginary parts of bins 0 and n / 2 are ignored.
  array b = complex_input({2, 6}, 3);
  array y = fft::irfft(b);
  EXPECT_TRUE(close(y, scaled(c2r(from(b), 1, 10), 0.1), tol_for_length(10)));
  array b0 = fft::irfft(fft::rfft(real_input({9}, 4)));  // 5 bins -> 8 values
  EXPECT_EQ(b0.shape(), Shape{8});
}

TEST(Fft, ResizeByPaddingAndTruncation) {
  array z = complex_input({4, 10}, 5);
  Data dz = from(z);
  for (int n : {1, 3, 6, 10, 16, 23}) {
    SCOPED_TRACE("n = " + std::to_string(n));
    double tol = tol_for_length(n);
    EXPECT_TRUE(close(fft::fft(z, n, -1), dft(resize(dz, 1, n), 1, false), tol));
    EXPECT_TRUE(
        close(fft::ifft(z, n, 1, FFTNorm::Ortho), scaled(dft(resize(dz, 1, n), 1, true), 1 / std::sqrt(n)), tol));
    EXPECT_TRUE(close(fft::fft(z, n, 0, FFTNorm::Forward), scaled(dft(resize(dz, 0, n), 0, false), 1.0 / n), tol));
  }
  array x = real_input({5, 9}, 6);
  Data dx = from(x);
  for (int n : {1, 4, 9, 12, 17}) {
    SCOPED_TRACE("rfft n = " + std::to_string(n));
    EXPECT_TRUE(close(fft::rfft(x, n, -1), resize(dft(resize(dx, 1, n), 1, false), 1, n / 2 + 1), tol_for_length(n)));
    EXPECT_TRUE(close(fft::rfft(x, n, -2), resize(dft(resize(dx, 0, n), 0, false), 0, n / 2 + 1), tol_for_length(n)));
  }
  // irfft of 6 bins: n below 10 drops bins, above pads them with zeros.
  array b = complex_input({3, 6}, 7);
  Data db = from(b);
  for (int n : {1, 2, 5, 10, 11, 16, 25}) {
    SCOPED_TRACE("irfft n = " + std::to_string(n));
    EXPECT_TRUE(close(fft::irfft(b, n, 1), scaled(c2r(resize(db, 1, n / 2 + 1), 1, n), 1.0 / n), tol_for_length(n)));
  }
}

// ---- n-D transforms ----

TEST(Fft, MultiAxisComplex) {
  array z = complex_input({3, 5, 6}, 8);
  Data d = from(z);
  double tol = tol_for_length(90);
  EXPECT_TRUE(close(fft::fft2(z), dft(dft(d, 1, false), 2, false), tol));
  EXPECT_TRUE(close(fft::fftn(z), dft(dft(dft(d, 0, false), 1, false), 2, false), tol));
  EXPECT_TRUE(close(fft::fftn(z, {2, 0}), dft(dft(d, 0, false), 2, false), tol));
  EXPECT_TRUE(
      close(fft::fft2(z, {0, -1}, FFTNorm::Ortho), scaled(dft(dft(d, 0, false), 2, false), 1 / std::sqrt(18.0)), tol));
  EXPECT_TRUE(close(fft::ifftn(z), scaled(dft(dft(dft(d, 0, true), 1, true), 2, true), 1.0 / 90), tol));
  EXPECT_TRUE(close(fft::ifft2(z, {-3, -2}, FFTNorm::Forward), dft(dft(d, 0, true), 1, true), tol));
  // Sizes per axis: axis 0 padded to 4, axis 2 truncated to 4, in the order given.
  EXPECT_TRUE(close(fft::fftn(z, {4, 4}, {0, 2}), dft(dft(resize(resize(d, 0, 4), 2, 4), 0, false), 2, false), tol));
  Data want = scaled(dft(dft(resize(resize(d, 2, 7), 0, 2), 2, true), 0, true), 1.0 / 14);
  EXPECT_TRUE(close(fft::ifft2(z, {7, 2}, {-1, 0}), want, tol));
  // A strided pass whose inner extent (13) is not a multiple of the kernel's block of lines.
  array w = complex_input({12, 13}, 9);
  EXPECT_TRUE(close(fft::fft(w, 0), dft(from(w), 0, false), tol_for_length(12)));
  // Many lines (parallel passes), along both axes.
  array many = complex_input({256, 96}, 10);
  EXPECT_TRUE(close(fft::fft2(many), dft(dft(from(many), 0, false), 1, false), tol_for_length(256 * 96)));
}

TEST(Fft, MultiAxisReal) {
  array x = real_input({3, 5, 6}, 11);
  Data d = from(x);
  double tol = tol_for_length(90);
  // rfftn: the full transform, the last listed axis cut to n / 2 + 1 bins.
  EXPECT_TRUE(close(fft::rfftn(x), resize(dft(dft(dft(d, 0, false), 1, false), 2, false), 2, 4), tol));
  EXPECT_TRUE(close(fft::rfft2(x), resize(dft(dft(d, 1, false), 2, false), 2, 4), tol));
  EXPECT_TRUE(close(fft::rfftn(x, {2, 0}), resize(dft(dft(d, 0, false), 2, false), 0, 2), tol));
  EXPECT_TRUE(close(fft::rfftn(x, {4, 9}, {0, 2}, FFTNorm::Ortho),
                    scaled(resize(dft(dft(resize(resize(d, 0, 4), 2, 9), 0, false), 2, false), 2, 5), 1 / 6.0), tol));
  // irfftn: inverse complex transforms over the other axes, then complex -> real on the last.
  array b = complex_input({3, 5, 4}, 12);
  Data db = from(b);
  EXPECT_TRUE(close(fft::irfftn(b), scaled(c2r(dft(dft(db, 0, true), 1, true), 2, 6), 1.0 / 90), tol));
  EXPECT_TRUE(close(fft::irfft2(b), scaled(c2r(dft(db, 1, true), 2, 6), 1.0 / 30), tol));
  Data want = c2r(dft(resize(resize(db, 1, 4), 2, 4), 1, true), 2, 7);
  EXPECT_TRUE(close(fft::irfftn(b, {4, 7}, {1, 2}, FFTNorm::Forward), want, tol));
  EXPECT_TRUE(close(fft::irfft2(b, {2, 0}), scaled(c2r(dft(db, 2, true), 0, 4), 1.0 / 16), tol));
  EXPECT_TRUE(close(fft::irfft2(b, {5, 3}, {-1, -3}, FFTNorm::Ortho),
                    scaled(c2r(dft(resize(resize(db, 2, 5), 0, 2), 2, true), 0, 3), 1 / std::sqrt(15.0)), tol));
}

TEST(Fft, RoundTrips) {
  for (int n : {1, 2, 7, 8, 97, 128, 1000, 10007}) {
    SCOPED_TRACE("n = " + std::to_string(n));
    double tol = tol_for_length(n);
    array z = complex_input({2, n}, 20 + n);
    array x = real_input({2, n}, 21 + n);
    for (FFTNorm norm : kNorms) {
      EXPECT_TRUE(close(fft::ifft(fft::fft(z, -1, norm), -1, norm), from(z), tol));
      EXPECT_TRUE(close(fft::irfft(fft::rfft(x, -1, norm), n, -1, norm), from(x), tol));
    }
  }
  array x = real_input({4, 6, 7}, 30);
  EXPECT_TRUE(close(fft::irfftn(fft::rfftn(x), {4, 6, 7}, {0, 1, 2}), from(x), tol_for_length(168)));
  array z = complex_input({4, 6, 7}, 31);
  EXPECT_TRUE(close(fft::ifftn(fft::fftn(z, FFTNorm::Ortho), FFTNorm::Ortho), from(z), tol_for_length(168)));
}

// ---- dtypes and layouts ----

TEST(Fft, InputDtypes) {
  std::vector<int> ints = {3, -1, 4, 1, -5, 9, 2};
  array i = array(ints.begin(), Shape{7}, int32);
  Data di = from(astype(i, float64));
  array fi = fft::fft(i);
  EXPECT_EQ(fi.dtype(), complex64);
  EXPECT_TRUE(close(fi, dft(di, 0, false), tol_for_length(7)));
  EXPECT_TRUE(close(fft::rfft(i), resize(dft(di, 0, false), 0, 4), tol_for_length(7)));
  // float64 is computed in complex64 / float32, as MLX (there is no complex128).
  array x64 = random_array({9}, float64, -1.0, 1.0, 40);
  array f64 = fft::fft(x64);
  EXPECT_EQ(f64.dtype(), complex64);
  EXPECT_TRUE(close(f64, dft(from(x64), 0, false), tol_for_length(9)));
  EXPECT_EQ(fft::irfft(x64).dtype(), float32);
  EXPECT_EQ(fft::rfft(x64).dtype(), complex64);
  for (Dtype dt : {float16, bfloat16, bool_, uint8, int64}) {
    array a = astype(random_array({6}, float32, 0.0, 3.0, 41), dt);
    array f = fft::fft(a);
    EXPECT_EQ(f.dtype(), complex64);
    EXPECT_TRUE(close(f, dft(from(astype(a, float64)), 0, false), tol_for_length(6)));
  }
  // Complex input of rfft: its real part; real input of irfft: zero imaginary parts.
  array z = complex_input({8}, 42);
  EXPECT_TRUE(close(fft::rfft(z), from(fft::rfft(real(z))), 1e-6));
  array r = real_input({5}, 43);
  EXPECT_TRUE(close(fft::irfft(r), scaled(c2r(from(r), 0, 8), 0.125), tol_for_length(8)));
  EXPECT_EQ(fft::ifft(r).dtype(), complex64);
}

TEST(Fft, NonContiguousInputs) {
  array z = complex_input({6, 10}, 50);
  array zt = transpose(z);  // (10, 6), column-major view
  EXPECT_TRUE(close(fft::fft(zt), dft(from(zt), 1, false), tol_for_length(6)));
  EXPECT_TRUE(close(fft::fft(zt, 0), dft(from(zt), 0, false), tol_for_length(10)));
  array zs = slice(z, {0, 1}, {6, 10}, {2, 3});  // (3, 3) strided view
  EXPECT_TRUE(close(fft::fft2(zs), dft(dft(from(zs), 0, false), 1, false), tol_for_length(9)));
  array row = complex_input({1, 8}, 51);
  array bc = broadcast_to(row, {5, 8});  // stride 0 along axis 0
  EXPECT_TRUE(close(fft::fft(bc), dft(from(bc), 1, false), tol_for_length(8)));
  EXPECT_TRUE(close(fft::fft(bc, 0), dft(from(bc), 0, false), tol_for_length(5)));
  array x = real_input({7, 12}, 52);
  array xt = transpose(x);
  EXPECT_TRUE(close(fft::rfft(xt), resize(dft(from(xt), 1, false), 1, 4), tol_for_length(7)));
  array xs = slice(x, {0, 0}, {7, 12}, {1, 2});  // (7, 6), every other column
  EXPECT_TRUE(close(fft::rfft(xs), resize(dft(from(xs), 1, false), 1, 4), tol_for_length(6)));
  array b = complex_input({5, 9}, 53);
  array bt = transpose(b);  // (9, 5): 5 bins along the last axis
  EXPECT_TRUE(close(fft::irfft(bt), scaled(c2r(from(bt), 1, 8), 0.125), tol_for_length(8)));
  EXPECT_TRUE(close(fft::irfft2(bt), scaled(c2r(dft(from(bt), 0, true), 1, 8), 1.0 / 72), tol_for_length(72)));
  array v = complex_input({4, 3, 5}, 54);
  array vt = transpose(v, {2, 0, 1});  // (5, 4, 3)
  EXPECT_TRUE(close(fft::fftn(vt, {0, 2}), dft(dft(from(vt), 0, false), 2, false), tol_for_length(15)));
}

TEST(Fft, EmptyBatches) {
  // Axes that are not transformed may be empty; the result is empty too.
  std::vector<array> ys = {fft::fft(zeros({0, 8}, float32)), fft::rfft(zeros({3, 0, 8}, float32)),
                           fft::irfft(zeros({0, 5}, complex64)), fft::fft2(zeros({0, 4, 4}, complex64))};
  eval(ys);
  EXPECT_EQ(ys[0].shape(), (Shape{0, 8}));
  EXPECT_EQ(ys[1].shape(), (Shape{3, 0, 5}));
  EXPECT_EQ(ys[2].shape(), (Shape{0, 8}));
  EXPECT_EQ(ys[2].dtype(), float32);
  EXPECT_EQ(ys[3].shape(), (Shape{0, 4, 4}));
  // An empty transformed axis with n > 0 is zero-padded, as NumPy does.
  EXPECT_TRUE(matches(real(fft::fft(zeros({0}, float32), 4, -1)), {4}, {0, 0, 0, 0}, 0, 0));
  EXPECT_TRUE(matches(fft::irfft(zeros({2, 0}, complex64), 3, 1), {2, 3}, std::vector<double>(6, 0.0), 0, 0));
}

TEST(Fft, ConcurrentCallsSharePlans) {
  // Several threads build and use the same cached plans (kissfft and Bluestein) at once.
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &failures] {
      try {
        for (int n : {97, 1000, 4096, 4097 + t}) {
          array z = complex_input({3, n}, 60 + t);
          if (!close(fft::ifft(fft::fft(z)), from(z), tol_for_length(n))) ++failures;
          array x = real_input({2, n}, 70 + t);
          if (!close(fft::irfft(fft::rfft(x), n, -1), from(x), tol_for_length(n))) ++failures;
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "thread %d: %s\n", t, e.what());
        ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

// ---- shifts and frequencies ----

// NumPy: fftshift rolls each axis by n // 2, ifftshift by -(n // 2).
std::vector<double> rolled(const std::vector<double>& v, const Shape& shape, int axis, int shift) {
  Lines l = lines_of(shape, axis);
  std::vector<double> out(v.size());
  for (int64_t o = 0; o < l.outer; ++o) {
    for (int64_t j = 0; j < l.n; ++j) {
      int64_t to = ((j + shift) % l.n + l.n) % l.n;
      for (int64_t i = 0; i < l.inner; ++i) out[(o * l.n + to) * l.inner + i] = v[(o * l.n + j) * l.inner + i];
    }
  }
  return out;
}

TEST(Fft, Shifts) {
  EXPECT_TRUE(matches(fft::fftshift(arange(5)), {5}, {3, 4, 0, 1, 2}, 0, 0));
  EXPECT_TRUE(matches(fft::ifftshift(arange(5)), {5}, {2, 3, 4, 0, 1}, 0, 0));
  EXPECT_TRUE(matches(fft::fftshift(arange(6)), {6}, {3, 4, 5, 0, 1, 2}, 0, 0));
  EXPECT_TRUE(matches(fft::ifftshift(arange(6)), {6}, {3, 4, 5, 0, 1, 2}, 0, 0));
  EXPECT_EQ(fft::fftshift(arange(5)).dtype(), int32);
  array a = reshape(arange(35), {5, 7});
  auto v = to_vector(a);
  Shape s = {5, 7};
  EXPECT_TRUE(matches(fft::fftshift(a), s, rolled(rolled(v, s, 0, 2), s, 1, 3), 0, 0));
  EXPECT_TRUE(matches(fft::ifftshift(a), s, rolled(rolled(v, s, 0, -2), s, 1, -3), 0, 0));
  EXPECT_TRUE(matches(fft::fftshift(a, {-1}), s, rolled(v, s, 1, 3), 0, 0));
  EXPECT_TRUE(matches(fft::ifftshift(a, {0}), s, rolled(v, s, 0, -2), 0, 0));
  EXPECT_TRUE(matches(fft::fftshift(a, {1, 1}), s, rolled(v, s, 1, 6), 0, 0));  // twice, as NumPy
  EXPECT_TRUE(matches(fft::ifftshift(fft::fftshift(a)), s, v, 0, 0));
  EXPECT_TRUE(matches(fft::fftshift(array(3.0f)), {}, {3.0}, 0, 0));
  // fftshift puts fftfreq's frequencies in ascending order.
  for (int n : {6, 7}) {
    auto f = to_vector(fft::fftshift(fft::fftfreq(n)));
    EXPECT_TRUE(std::is_sorted(f.begin(), f.end())) << n;
  }
}

TEST(Fft, Frequencies) {
  for (int n : {1, 2, 5, 6, 9, 10}) {
    for (double d : {1.0, 0.5, 0.1, -2.0}) {
      SCOPED_TRACE("n = " + std::to_string(n) + ", d = " + std::to_string(d));
      // NumPy's definitions, rounded once to float32.
      std::vector<double> want, want_r;
      for (int k = 0; k < n; ++k) want.push_back(static_cast<float>((k <= (n - 1) / 2 ? k : k - n) / (d * n)));
      for (int k = 0; k <= n / 2; ++k) want_r.push_back(static_cast<float>(k / (d * n)));
      array f = fft::fftfreq(n, d), r = fft::rfftfreq(n, d);
      EXPECT_EQ(f.dtype(), float32);
      EXPECT_TRUE(matches(f, {n}, want, 0, 0));
      EXPECT_TRUE(matches(r, {n / 2 + 1}, want_r, 0, 0));
    }
  }
  EXPECT_TRUE(matches(fft::fftfreq(4), {4}, {0, 0.25, -0.5, -0.25}, 0, 0));
  EXPECT_TRUE(matches(fft::rfftfreq(5, 0.1), {3}, {0, 2, 4}, 1e-6, 0));
}

// ---- transforms of the FFT primitive ----

// y as a real array: complex outputs become (2, ...) with real and imaginary parts.
array as_real(const array& y) { return y.dtype() == complex64 ? stack({real(y), imag(y)}) : y; }

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// An array of `shape` and dtype `dt` (float32 or complex64) from float64 values.
array make_array(const std::vector<C>& v, const Shape& shape, Dtype dt) {
  if (dt == float32) {
    std::vector<float> r;
    for (auto& e : v) r.push_back(static_cast<float>(e.real()));
    return array(r.begin(), shape, float32);
  }
  std::vector<complex64_t> c;
  for (auto& e : v) c.push_back(complex64_t(e));
  return array(c.begin(), shape, complex64);
}

// f maps one input x (float32 or complex64) linearly, as the transforms are, to a real output,
// so central differences are exact up to rounding for any step. A complex cotangent holds
// dL/dRe + i dL/dIm (MLX's convention), so the vjp is compared with the differences along the
// real and the imaginary part of each element. Also checks the jvp along a random direction
// and <v, J u> = Re <J^T v, u>.
testing::AssertionResult check_linear_grads(const std::string& name, const std::function<array(const array&)>& f,
                                            const Shape& shape, Dtype dt, uint32_t seed) {
  array x = dt == complex64 ? complex_input(shape, seed) : real_input(shape, seed);
  array u = dt == complex64 ? complex_input(shape, seed + 5) : real_input(shape, seed + 5);
  array y = f(x);
  array v = real_input(y.shape(), seed + 9);
  auto vv = to_vector(v);
  auto [out, g] = vjp(f, x, v);
  auto [out2, ju] = jvp(f, x, u);
  if (g.shape() != x.shape() || g.dtype() != dt) {
    return testing::AssertionFailure() << name << ": cotangent of shape " << detail::shape_str(g.shape());
  }
  if (ju.shape() != y.shape()) return testing::AssertionFailure() << name << ": jvp has the wrong shape";
  const double h = 0.5;
  Data base = from(x), grad = from(g);
  double gscale = 1e-30;
  for (auto& e : grad.v) gscale = std::max({gscale, std::abs(e.real()), std::abs(e.imag())});
  auto loss = [&](const std::vector<C>& values) { return dot(vv, to_vector(f(make_array(values, shape, dt)))); };
  for (size_t j = 0; j < base.v.size(); ++j) {
    for (C dir : {C(1, 0), C(0, 1)}) {
      if (dir.imag() != 0 && dt != complex64) continue;
      auto plus = base.v, minus = base.v;
      plus[j] += h * dir;
      minus[j] -= h * dir;
      double fd = (loss(plus) - loss(minus)) / (2 * h);
      double got = dir.real() != 0 ? grad.v[j].real() : grad.v[j].imag();
      if (!(std::abs(got - fd) <= 1e-4 * gscale)) {
        const char* part = dir.real() != 0 ? " (real part)" : " (imaginary part)";
        return testing::AssertionFailure() << name << ": element " << j << part << ": vjp " << got
                                           << " vs finite differences " << fd;
      }
    }
  }
  // jvp against the difference along u.
  auto fp = to_vector(f(x + h * u)), fm = to_vector(f(x - h * u)), jv = to_vector(ju);
  double jscale = 1e-30;
  for (double e : jv) jscale = std::max(jscale, std::abs(e));
  for (size_t k = 0; k < jv.size(); ++k) {
    double fd = (fp[k] - fm[k]) / (2 * h);
    if (!(std::abs(jv[k] - fd) <= 1e-4 * jscale)) {
      return testing::AssertionFailure() << name << ": jvp[" << k << "] " << jv[k] << " vs finite differences " << fd;
    }
  }
  Data du = from(u);
  double lhs = dot(vv, jv), rhs = 0, mag = 0;
  for (size_t j = 0; j < du.v.size(); ++j) {
    double t = (std::conj(grad.v[j]) * du.v[j]).real();
    rhs += t;
    mag += std::abs(t);
  }
  if (!(std::abs(lhs - rhs) <= 1e-5 * mag)) {
    return testing::AssertionFailure() << name << ": <v, J u> = " << lhs << " but Re <J^T v, u> = " << rhs;
  }
  return testing::AssertionSuccess();
}

struct LinearCase {
  std::string name;
  std::function<array(const array&)> f;
  Shape shape;
  Dtype dtype;
};

TEST(FftGrad, LinearMapsAgainstFiniteDifferences) {
  const Dtype R = float32, Z = complex64;
  std::vector<LinearCase> cases = {
      {"fft_real_input", [](auto& x) { return as_real(fft::fft(x)); }, {3, 7}, R},
      {"fft", [](auto& x) { return as_real(fft::fft(x)); }, {3, 8}, Z},
      {"fft_pad", [](auto& x) { return as_real(fft::fft(x, 11, -1, FFTNorm::Ortho)); }, {2, 6}, Z},
      {"fft_truncate", [](auto& x) { return as_real(fft::fft(x, 4, 0)); }, {6, 3}, Z},
      {"fft_bluestein", [](auto& x) { return as_real(fft::fft(x)); }, {97}, Z},
      {"ifft", [](auto& x) { return as_real(fft::ifft(x, -1, FFTNorm::Forward)); }, {2, 9}, Z},
      {"ifft_truncate", [](auto& x) { return as_real(fft::ifft(x, 5, 0)); }, {7, 2}, Z},
      {"rfft_even", [](auto& x) { return as_real(fft::rfft(x)); }, {2, 8}, R},
      {"rfft_odd", [](auto& x) { return as_real(fft::rfft(x, -1, FFTNorm::Ortho)); }, {2, 7}, R},
      {"rfft_pad", [](auto& x) { return as_real(fft::rfft(x, 12, -1)); }, {2, 5}, R},
      {"rfft_truncate", [](auto& x) { return as_real(fft::rfft(x, 5, 0)); }, {9, 2}, R},
      {"rfft_length_one", [](auto& x) { return as_real(fft::rfft(x, 1, -1)); }, {3, 2}, R},
      {"rfft_bluestein", [](auto& x) { return as_real(fft::rfft(x)); }, {194}, R},
      {"rfft_complex_input", [](auto& x) { return as_real(fft::rfft(x)); }, {6}, Z},
      {"irfft_even", [](auto& x) { return fft::irfft(x, 8, -1); }, {2, 5}, Z},
      {"irfft_odd", [](auto& x) { return fft::irfft(x, 7, -1, FFTNorm::Ortho); }, {2, 4}, Z},
      {"irfft_default_axis0", [](auto& x) { return fft::irfft(x, 0); }, {5, 3}, Z},
      {"irfft_pad", [](auto& x) { return fft::irfft(x, 12, -1); }, {4}, Z},
      {"irfft_truncate", [](auto& x) { return fft::irfft(x, 4, -1, FFTNorm::Forward); }, {6}, Z},
      {"irfft_length_one", [](auto& x) { return fft::irfft(x, 1, -1); }, {2, 3}, Z},
      {"irfft_bluestein", [](auto& x) { return fft::irfft(x, 97, -1); }, {49}, Z},
      {"irfft_real_input", [](auto& x) { return fft::irfft(x, 6, -1); }, {2, 4}, R},
      {"fft2", [](auto& x) { return as_real(fft::fft2(x, {-2, -1}, FFTNorm::Ortho)); }, {4, 5}, Z},
      {"fft2_sizes", [](auto& x) { return as_real(fft::fft2(x, {3, 6}, {0, 1})); }, {4, 5}, Z},
      {"fft2_real_input", [](auto& x) { return as_real(fft::fft2(x)); }, {3, 4}, R},
      {"ifftn", [](auto& x) { return as_real(fft::ifftn(x)); }, {2, 3, 4}, Z},
      {"rfftn", [](auto& x) { return as_real(fft::rfftn(x)); }, {3, 4, 6}, R},
      {"rfftn_sizes", [](auto& x) { return as_real(fft::rfftn(x, {4, 5}, {0, 2}, FFTNorm::Forward)); }, {3, 2, 6}, R},
      {"rfftn_real_axis_first", [](auto& x) { return as_real(fft::rfftn(x, {1, 0})); }, {5, 4}, R},
      {"irfftn", [](auto& x) { return fft::irfftn(x); }, {3, 4, 4}, Z},
      {"irfft2_sizes", [](auto& x) { return fft::irfft2(x, {3, 5}, {0, 1}, FFTNorm::Ortho); }, {4, 4}, Z},
  };
  uint32_t seed = 100;
  for (auto& lc : cases) EXPECT_TRUE(check_linear_grads(lc.name, lc.f, lc.shape, lc.dtype, seed += 7));
}

TEST(FftGrad, QuadraticLossesAgainstFiniteDifferences) {
  // sum |F x|^2 is quadratic, so central differences are exact up to rounding.
  std::vector<std::pair<std::string, std::function<array(const array&)>>> cases = {
      {"fft", [](const array& x) { return fft::fft(x); }},
      {"ifft_pad", [](const array& x) { return fft::ifft(x, 9, -1); }},
      {"rfft_even", [](const array& x) { return fft::rfft(x); }},
      {"rfft_odd", [](const array& x) { return fft::rfft(x, 7, -1); }},
      {"irfft", [](const array& x) { return fft::irfft(astype(x, complex64), 10, -1); }},
      {"fft2", [](const array& x) { return fft::fft2(x); }},
      {"rfftn", [](const array& x) { return fft::rfftn(x, {0, 1}, FFTNorm::Ortho); }},
  };
  for (auto& [name, F] : cases) {
    auto loss = [&](const array& x) {
      array y = F(x);
      return y.dtype() == complex64 ? sum(square(abs(y))) : sum(square(y));
    };
    array x = real_input({4, 6}, 200);
    array g = grad(ArrayFn(loss))(x);
    auto base = to_vector(x), gv = to_vector(g);
    double scale = 0;
    for (double e : gv) scale = std::max(scale, std::abs(e));
    for (size_t j = 0; j < base.size(); ++j) {
      auto plus = base, minus = base;
      plus[j] += 0.5;
      minus[j] -= 0.5;
      double fd = (loss(array(plus.begin(), x.shape(), float32)).item<float>() -
                   loss(array(minus.begin(), x.shape(), float32)).item<float>());
      EXPECT_NEAR(gv[j], fd, 1e-4 * scale) << name << " element " << j;
    }
  }
  // Parseval: sum |fft(x)|^2 = n sum |x|^2, so the gradient is 2 n x.
  array x = real_input({10}, 201);
  ArrayFn parseval = [](const array& v) { return sum(square(abs(fft::fft(v)))); };
  EXPECT_TRUE(close(grad(parseval)(x), scaled(from(x), 20), 1e-5));
}

TEST(FftVmap, MatchesLoop) {
  std::vector<std::pair<std::string, std::function<array(const array&)>>> cases = {
      {"fft", [](const array& x) { return fft::fft(x); }},
      {"fft_axis0", [](const array& x) { return fft::fft(x, 7, 0); }},
      {"ifft2", [](const array& x) { return fft::ifft2(x); }},
      {"rfft", [](const array& x) { return fft::rfft(real(x)); }},
      {"rfftn_real_axis_first", [](const array& x) { return fft::rfftn(real(x), {1, 0}); }},
      {"irfft", [](const array& x) { return fft::irfft(x, 7, -1); }},
      {"irfftn", [](const array& x) { return fft::irfftn(x, {0, 1}, FFTNorm::Ortho); }},
  };
  const int B = 3;
  for (auto& [name, f] : cases) {
    for (int in_axis : {0, 1, 2}) {
      for (int out_axis : {0, -1}) {
        Shape s = {4, 5};
        s.insert(s.begin() + in_axis, B);
        array xs = complex_input(s, 300 + in_axis);
        array got = vmap(f, in_axis, out_axis)(xs);
        std::vector<array> loop;
        for (int b = 0; b < B; ++b) loop.push_back(f(take(xs, b, in_axis)));
        array want = stack(loop, out_axis < 0 ? static_cast<int>(loop[0].ndim()) : 0);
        EXPECT_TRUE(close(got, from(want), 1e-6)) << name << " in_axis " << in_axis << " out_axis " << out_axis;
      }
    }
  }
  // vmap of a gradient: the vjp rule's node is batched too.
  ArrayFn g = grad(ArrayFn([](const array& v) { return sum(square(abs(fft::rfft(v, 9, -1)))); }));
  array xs = real_input({3, 8}, 310);
  array got = vmap(g)(xs);
  std::vector<array> loop;
  for (int b = 0; b < 3; ++b) loop.push_back(g(take(xs, b, 0)));
  EXPECT_TRUE(close(got, from(stack(loop)), 1e-5));
}

// ---- bad arguments ----

TEST(Fft, BadArgumentsThrow) {
  using E = std::invalid_argument;
  array x = real_input({4, 6}, 400);
  array z = complex_input({4, 6}, 401);
  // 0-d input, axes out of range, repeated or empty axes.
  EXPECT_TRUE(throws_op<E>("fft::fft", [] { fft::fft(array(1.0f)); }));
  EXPECT_TRUE(throws_op<E>("fft::fftn", [] { fft::fftn(array(1.0f)); }));
  EXPECT_TRUE(throws_op<E>("fft::fft", [&] { fft::fft(x, 2); }));
  EXPECT_TRUE(throws_op<E>("fft::ifft", [&] { fft::ifft(x, -3); }));
  EXPECT_TRUE(throws_op<E>("fft::rfft", [&] { fft::rfft(x, 5, 2); }));
  EXPECT_TRUE(throws_op<E>("fft::irfft", [&] { fft::irfft(z, -3); }));
  EXPECT_TRUE(throws_op<E>("fft::fft2", [&] { fft::fft2(real_input({5}, 402)); }));  // axis -2 of a 1-D array
  EXPECT_TRUE(throws_op<E>("fft::fftn", [&] { fft::fftn(x, {0, -2}); }));
  EXPECT_TRUE(throws_op<E>("fft::rfft2", [&] { fft::rfft2(x, {1, 1}); }));
  EXPECT_TRUE(throws_op<E>("fft::irfftn", [&] { fft::irfftn(z, {3, 3}, {-1, 1}); }));
  EXPECT_TRUE(throws_op<E>("fft::fftn", [&] { fft::fftn(x, std::vector<int>{}); }));
  EXPECT_TRUE(throws_op<E>("fft::rfftn", [&] { fft::rfftn(x, Shape{}, std::vector<int>{}); }));
  // Sizes: n <= 0, one size per axis, too long.
  EXPECT_TRUE(throws_op<E>("fft::fft", [&] { fft::fft(x, 0, -1); }));
  EXPECT_TRUE(throws_op<E>("fft::ifft", [&] { fft::ifft(x, -4, 0); }));
  EXPECT_TRUE(throws_op<E>("fft::rfft", [&] { fft::rfft(x, 0, -1); }));
  EXPECT_TRUE(throws_op<E>("fft::irfft", [&] { fft::irfft(z, -1, 0); }));
  EXPECT_TRUE(throws_op<E>("fft::fftn", [&] { fft::fftn(x, {4, 0}, {0, 1}); }));
  EXPECT_TRUE(throws_op<E>("fft::ifft2", [&] { fft::ifft2(x, {4}, {0, 1}); }));
  EXPECT_TRUE(throws_op<E>("fft::rfftn", [&] { fft::rfftn(x, {4, 4, 4}, {0, 1}); }));
  EXPECT_TRUE(throws_op<E>("fft::fft", [&] { fft::fft(x, (1 << 29) + 1, -1); }));
  // Empty transformed axes, and irfft's default length from a single bin.
  EXPECT_TRUE(throws_op<E>("fft::fft", [] { fft::fft(zeros({0}, float32)); }));
  EXPECT_TRUE(throws_op<E>("fft::rfft", [] { fft::rfft(zeros({3, 0}, float32)); }));
  EXPECT_TRUE(throws_op<E>("fft::fft2", [] { fft::fft2(zeros({0, 4}, float32)); }));
  EXPECT_TRUE(throws_op<E>("fft::irfft", [] { fft::irfft(ones({2, 1}, complex64)); }));
  EXPECT_TRUE(throws_op<E>("fft::irfftn", [] { fft::irfftn(zeros({3, 0}, complex64)); }));
  // Frequencies and shifts.
  EXPECT_TRUE(throws_op<E>("fft::fftfreq", [] { fft::fftfreq(0); }));
  EXPECT_TRUE(throws_op<E>("fft::fftfreq", [] { fft::fftfreq(-2, 1.0); }));
  EXPECT_TRUE(throws_op<E>("fft::fftfreq", [] { fft::fftfreq(4, 0.0); }));
  EXPECT_TRUE(throws_op<E>("fft::rfftfreq", [] { fft::rfftfreq(0); }));
  EXPECT_TRUE(throws_op<E>("fft::rfftfreq", [] { fft::rfftfreq(3, std::nan("")); }));
  EXPECT_TRUE(throws_op<E>("fft::fftshift", [&] { fft::fftshift(x, {2}); }));
  EXPECT_TRUE(throws_op<E>("fft::ifftshift", [&] { fft::ifftshift(x, {0, -3}); }));
  // The messages say what was expected and what came.
  try {
    fft::rfft(x, 0, -1);
  } catch (const std::invalid_argument& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("expected"), std::string::npos) << msg;
    EXPECT_NE(msg.find("got n = 0"), std::string::npos) << msg;
  }
}

TEST(Fft, MlxCompatibilityHeader) {
  // MLX programs include "mlx/fft.h" and call mlx::core::fft, which is mica::fft.
  namespace mxf = mlx::core::fft;
  array x = real_input({8}, 500);
  array y = mxf::rfft(x, 8, -1, mxf::FFTNorm::Ortho);
  EXPECT_TRUE(close(y, scaled(resize(dft(from(x), 0, false), 0, 5), 1 / std::sqrt(8.0)), tol_for_length(8)));
  EXPECT_TRUE(close(mxf::irfft(y, 8, -1, mxf::FFTNorm::Ortho), from(x), tol_for_length(8)));
}

// stft / istft against MLX 0.32 on x[k] = sin(0.7 k), k < 20.
array stft_signal() {
  std::vector<float> v(20);
  for (int k = 0; k < 20; ++k) v[k] = float(std::sin(0.7 * k));
  return array(v.begin(), {20}, float32);
}
// Row `f` (frequency), first `n` frames, as (re, im) pairs.
std::vector<double> stft_row(const array& S, int f, int n) {
  array row = contiguous(slice(S, {f, 0}, {f + 1, n}));  // S is a transposed view
  eval(row);
  std::vector<double> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(row.data<complex64_t>()[i].real());
    out.push_back(row.data<complex64_t>()[i].imag());
  }
  return out;
}
testing::AssertionResult near(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  for (size_t i = 0; i < want.size(); ++i)
    if (std::abs(got[i] - want[i]) > tol) return testing::AssertionFailure() << "at " << i << ": " << got[i] << " vs " << want[i];
  return testing::AssertionSuccess();
}

TEST(Stft, MatchesMlx) {
  array x = stft_signal();
  array S = fft::stft(x, 8, 3);
  EXPECT_EQ(S.shape(), Shape({5, 7}));
  EXPECT_EQ(S.dtype(), complex64);
  EXPECT_TRUE(near(stft_row(S, 0, 3), {5.32074, 0, 2.24972, 0, -0.63562, 0}, 1e-4));
  EXPECT_TRUE(near(stft_row(S, 1, 3), {0.64469, 0, -1.76898, -2.07124, 3.42204, -2.0114}, 1e-4));
  // A Hann window of 6 samples padded to 8, hop 4, no centering.
  array S2 = fft::stft(x, 8, 4, 6, hanning(6), false);
  EXPECT_EQ(S2.shape(), Shape({5, 4}));
  EXPECT_TRUE(near(stft_row(S2, 1, 2), {-0.7694, -0.97826, 1.19524, 0.93359}, 1e-4));
  // Zero padding, orthonormal scaling; edge padding, both sides of the spectrum.
  array S3 = fft::stft(x, 8, 3, std::nullopt, std::nullopt, true, "constant", FFTNorm::Ortho);
  EXPECT_TRUE(near(stft_row(S3, 1, 2), {0.05475, 0.72527, -0.85319, -0.7323}, 1e-4));
  EXPECT_EQ(fft::stft(x, 8, 3, std::nullopt, std::nullopt, true, "edge", FFTNorm::Backward, false).shape(), Shape({8, 7}));
  EXPECT_EQ(fft::stft(stack({x, x}), 8, 3).shape(), Shape({2, 5, 7}));
  EXPECT_EQ(fft::stft(astype(x, complex64), 8, 3).shape(), Shape({8, 7}));
  EXPECT_TRUE(throws_op<std::invalid_argument>("fft::stft", [&] { fft::stft(x, 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("fft::stft", [&] { fft::stft(x, 8, 0); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("fft::stft", [&] { fft::stft(x, 8, 2, 9); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("fft::stft", [&] { fft::stft(x, 8, 2, std::nullopt, std::nullopt, true, "wrap"); }));
}

TEST(Stft, InverseRoundTrips) {
  array x = stft_signal();
  // Rectangular and Hann windows give x back (centered frames cover every sample).
  EXPECT_TRUE(allclose(fft::istft(fft::stft(x, 8, 3), 8, 3, std::nullopt, std::nullopt, true, FFTNorm::Backward,
                                  std::nullopt, 20),
                       x, 1e-5, 1e-5)
                  .item<bool>());
  array S = fft::stft(x, 8, 2, std::nullopt, hanning(8));
  array y = fft::istft(S, 8, 2, std::nullopt, hanning(8));
  EXPECT_EQ(y.shape(), Shape({20}));
  EXPECT_TRUE(allclose(y, x, 1e-5, 1e-5).item<bool>());
  // Uncentered: the padded signal, 0 where the summed squared window vanishes (MLX's values).
  array yc = fft::istft(S, 8, 2, std::nullopt, hanning(8), false);
  EXPECT_EQ(yc.shape(), Shape({28}));
  EXPECT_TRUE(matches(slice(yc, {0}, {6}), {6}, {0.0, 0.86321, 0.98545, 0.64422, 0.0, 0.64422}, 1e-4, 1e-4));
  // Defaults (n_fft from the bins, hop n_fft / 4), a full spectrum, length trimming and padding.
  EXPECT_EQ(fft::istft(fft::stft(x, 8, 3)).shape(), Shape({12}));
  array full = fft::stft(x, 8, 3, std::nullopt, std::nullopt, true, "reflect", FFTNorm::Backward, false);
  array yf = fft::istft(full, std::nullopt, 3, std::nullopt, std::nullopt, true, FFTNorm::Backward, false);
  EXPECT_EQ(yf.dtype(), float32);
  EXPECT_EQ(yf.shape(), Shape({18}));
  EXPECT_TRUE(allclose(yf, slice(x, {0}, {18}), 1e-5, 1e-5).item<bool>());
  array y25 = fft::istft(fft::stft(x, 8, 3), 8, 3, std::nullopt, std::nullopt, true, FFTNorm::Backward, std::nullopt, 25);
  EXPECT_EQ(y25.shape(), Shape({25}));
  // An empty batch gives an empty result of the signal's length, even for a huge hop (nothing of
  // the signal's length is made: a fuzzer found a 4 GiB envelope here).
  array none = fft::istft(zeros({0, 5, 3}, complex64), 8, 1 << 28);
  EXPECT_EQ(none.shape(), Shape({0, 1 << 29}));  // 8 + 2 hops, less the centering's 8
  eval(none);
  // MLX's values: the samples of the last frames past 20 (the centering's padding), then zeros.
  EXPECT_TRUE(matches(slice(y25, {18}, {25}), {7}, {0.0336, 0.6696, 0.0336, -0.6181, 0, 0, 0}, 1e-4, 1e-4));
  array yo = fft::istft(fft::stft(x, 8, 3, std::nullopt, std::nullopt, true, "reflect", FFTNorm::Ortho), 8, 3, std::nullopt,
                        std::nullopt, true, FFTNorm::Ortho, std::nullopt, 20);
  EXPECT_TRUE(allclose(yo, x, 1e-5, 1e-5).item<bool>());
  EXPECT_TRUE(throws_op<std::invalid_argument>("fft::istft", [&] { fft::istft(x); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("fft::istft", [&] { fft::istft(fft::stft(x, 8, 3), 10); }));
}

}  // namespace
}  // namespace mica::test
