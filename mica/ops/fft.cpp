// mica::fft ops: argument checks, dtype casts, resizing to the transform lengths (slice or
// zero-pad) and the norm mode's scale around one unnormalized FFT node.
#include "mica/fft.h"

#include <cmath>
#include <numeric>
#include <optional>
#include <sstream>
#include <string>

#include "mica/ops.h"
#include "mica/primitives/fft.h"

namespace mica::fft {

namespace {
using detail::fail;

// The longest transform the CPU kernel takes: Bluestein's algorithm runs a power-of-two
// transform of up to 2n points, and kissfft counts points in int.
constexpr int kMaxLength = 1 << 29;

std::string list_str(const std::vector<int>& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + (v.size() == 1 ? ",)" : ")");
}

std::vector<int> all_axes(const array& a) {
  std::vector<int> axes(a.ndim());
  std::iota(axes.begin(), axes.end(), 0);
  return axes;
}

// Axes in [0, ndim), checked to be in range and distinct; the order is kept (it picks the real
// axis of the real transforms).
std::vector<int> check_axes(const char* op, const array& a, const std::vector<int>& axes) {
  int nd = static_cast<int>(a.ndim());
  if (nd == 0) fail(op, "expected an array with at least 1 dimension, got a 0-d array.");
  if (axes.empty()) fail(op, "expected at least one axis to transform, got an empty list of axes.");
  std::vector<int> out;
  for (int ax : axes) {
    if (ax < -nd || ax >= nd) {
      fail(op, "expected axes in [" + std::to_string(-nd) + ", " + std::to_string(nd) + ") for an array of shape " +
                   detail::shape_str(a.shape()) + ", got axis " + std::to_string(ax) + ".");
    }
    int d = ax < 0 ? ax + nd : ax;
    for (int o : out) {
      if (o == d) {
        fail(op, "expected distinct axes, got " + list_str(axes) + ", which names axis " + std::to_string(d) +
                     " twice.");
      }
    }
    out.push_back(d);
  }
  return out;
}

// One transform: real = the rfft / irfft kinds, inverse = the i* kinds. `sizes` (when given)
// has one length per axis; for complex -> real the last is the real output length.
array transform(const char* op, const array& a, const std::optional<Shape>& sizes, const std::vector<int>& axes_in,
                FFTNorm norm, bool inverse, bool real, StreamOrDevice s) {
  std::vector<int> axes = check_axes(op, a, axes_in);
  size_t k_last = axes.size() - 1;
  if (sizes && sizes->size() != axes.size()) {
    fail(op, "expected one size per axis (" + std::to_string(axes.size()) + " for axes " + list_str(axes_in) +
                 "), got " + std::to_string(sizes->size()) + ".");
  }
  bool c2r = real && inverse;
  Shape n(axes.size());
  for (size_t k = 0; k < axes.size(); ++k) {
    int len = a.shape(axes[k]);
    std::string where = " along axis " + std::to_string(axes[k]);
    if (sizes) {
      n[k] = (*sizes)[k];
      if (n[k] <= 0) fail(op, "expected sizes n > 0, got n = " + std::to_string(n[k]) + where + ".");
    } else if (c2r && k == k_last) {
      if (len < 2) {
        fail(op, "expected at least 2 bins" + where + " for the default output length 2 * (bins - 1), got " +
                     std::to_string(len) + " (pass n to choose the length).");
      }
      n[k] = 2 * (len - 1);
    } else {
      if (len == 0) {
        fail(op, "expected a non-empty axis to transform, got length 0" + where + " (pass n > 0 to pad it).");
      }
      n[k] = len;
    }
    if (n[k] > kMaxLength) {
      fail(op, "expected transform lengths up to " + std::to_string(kMaxLength) + ", got " + std::to_string(n[k]) +
                   where + ".");
    }
  }

  // A complex input of rfft gives its real part (astype's rule), as MLX.
  array x = astype(a, real && !inverse ? float32 : complex64, s);
  // Truncate or zero-pad each axis to its input length (n / 2 + 1 bins for complex -> real).
  for (size_t k = 0; k < axes.size(); ++k) {
    int ax = axes[k], have = x.shape(ax);
    int want = c2r && k == k_last ? n[k] / 2 + 1 : n[k];
    if (want < have) {
      Shape start(x.ndim(), 0), stop = x.shape();
      stop[ax] = want;
      x = slice(x, std::move(start), std::move(stop), s);
    } else if (want > have) {
      x = pad(x, {ax}, {0}, {want - have}, array(0.0f), "constant", s);
    }
  }

  array y = detail::fft_node(x, axes, inverse, real, real ? n[k_last] : 0, to_stream(s));
  double total = 1;
  for (int len : n) total *= len;
  double scale = 1;
  if (norm == FFTNorm::Ortho) scale = 1 / std::sqrt(total);
  else if ((norm == FFTNorm::Backward) == inverse) scale = 1 / total;
  return scale == 1 ? y : multiply(y, array(static_cast<float>(scale)), s);
}

// fftshift (sign 1) and ifftshift (sign -1): roll each listed axis by sign * (length / 2).
array shift(const char* op, const array& a, const std::vector<int>& axes, int sign, StreamOrDevice s) {
  int nd = static_cast<int>(a.ndim());
  Shape shifts;
  for (int ax : axes) {
    if (ax < -nd || ax >= nd) {
      fail(op, "expected axes in [" + std::to_string(-nd) + ", " + std::to_string(nd) + ") for an array of shape " +
                   detail::shape_str(a.shape()) + ", got axis " + std::to_string(ax) + ".");
    }
    shifts.push_back(sign * (a.shape(ax < 0 ? ax + nd : ax) / 2));
  }
  if (axes.empty()) return a;
  return roll(a, shifts, axes, s);
}

void check_freq_args(const char* op, int n, double d) {
  if (n <= 0) fail(op, "expected n > 0, got " + std::to_string(n) + ".");
  if (d == 0 || !std::isfinite(d)) {
    std::ostringstream got;
    got << d;
    fail(op, "expected a finite, non-zero sample spacing d, got " + got.str() + ".");
  }
}
}  // namespace

#define MICA_FFT_FAMILY(NAME, INVERSE, REAL)                                                                     \
  array NAME(const array& a, const Shape& n, const std::vector<int>& axes, FFTNorm norm, StreamOrDevice s) {   \
    return transform("fft::" #NAME, a, n, axes, norm, INVERSE, REAL, s);                                        \
  }                                                                                                             \
  array NAME(const array& a, const std::vector<int>& axes, FFTNorm norm, StreamOrDevice s) {                   \
    return transform("fft::" #NAME, a, std::nullopt, axes, norm, INVERSE, REAL, s);                             \
  }
// n-D forms, also over every axis by default.
#define MICA_FFT_N(NAME, INVERSE, REAL)                                          \
  MICA_FFT_FAMILY(NAME, INVERSE, REAL)                                           \
  array NAME(const array& a, FFTNorm norm, StreamOrDevice s) {                   \
    return transform("fft::" #NAME, a, std::nullopt, all_axes(a), norm, INVERSE, REAL, s); \
  }
MICA_FFT_N(fftn, false, false)
MICA_FFT_N(ifftn, true, false)
MICA_FFT_N(rfftn, false, true)
MICA_FFT_N(irfftn, true, true)
MICA_FFT_FAMILY(fft2, false, false)
MICA_FFT_FAMILY(ifft2, true, false)
MICA_FFT_FAMILY(rfft2, false, true)
MICA_FFT_FAMILY(irfft2, true, true)
#undef MICA_FFT_N
#undef MICA_FFT_FAMILY

// 1-D forms.
#define MICA_FFT_1D(NAME, INVERSE, REAL)                                                        \
  array NAME(const array& a, int n, int axis, FFTNorm norm, StreamOrDevice s) {                 \
    return transform("fft::" #NAME, a, Shape{n}, {axis}, norm, INVERSE, REAL, s);               \
  }                                                                                             \
  array NAME(const array& a, int axis, FFTNorm norm, StreamOrDevice s) {                        \
    return transform("fft::" #NAME, a, std::nullopt, {axis}, norm, INVERSE, REAL, s);           \
  }
MICA_FFT_1D(fft, false, false)
MICA_FFT_1D(ifft, true, false)
MICA_FFT_1D(rfft, false, true)
MICA_FFT_1D(irfft, true, true)
#undef MICA_FFT_1D

array fftfreq(int n, double d, StreamOrDevice s) {
  check_freq_args("fft::fftfreq", n, d);
  // Computed in double and rounded once, so each value is k / (d n) to float32 precision.
  std::vector<float> f(n);
  for (int k = 0; k < n; ++k) f[k] = static_cast<float>((k <= (n - 1) / 2 ? k : k - n) / (d * n));
  return array(f.begin(), Shape{n}, float32);
}

array rfftfreq(int n, double d, StreamOrDevice s) {
  check_freq_args("fft::rfftfreq", n, d);
  int m = n / 2 + 1;
  std::vector<float> f(m);
  for (int k = 0; k < m; ++k) f[k] = static_cast<float>(k / (d * n));
  return array(f.begin(), Shape{m}, float32);
}

array fftshift(const array& a, StreamOrDevice s) { return shift("fft::fftshift", a, all_axes(a), 1, s); }
array fftshift(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  return shift("fft::fftshift", a, axes, 1, s);
}
array ifftshift(const array& a, StreamOrDevice s) { return shift("fft::ifftshift", a, all_axes(a), -1, s); }
array ifftshift(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  return shift("fft::ifftshift", a, axes, -1, s);
}

}  // namespace mica::fft
