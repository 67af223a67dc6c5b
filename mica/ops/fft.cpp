// mica::fft ops: argument checks, dtype casts, resizing to the transform lengths (slice or
// zero-pad) and the norm mode's scale around one unnormalized FFT node.
#include "mica/fft.h"

#include <algorithm>
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

// ---- stft, istft (compositions) ----

namespace {
// The window, win_length samples (ones when none is given), centered and zero-padded to n_fft.
array padded_window(const char* op, int n_fft, const std::optional<int>& win_length, const std::optional<array>& window,
                    StreamOrDevice s) {
  const int wl = win_length.value_or(window ? (window->ndim() == 1 ? window->shape(0) : n_fft) : n_fft);
  if (wl <= 0 || wl > n_fft)
    fail(op, "expected a window length in [1, " + std::to_string(n_fft) + "] (n_fft), got " + std::to_string(wl) + ".");
  array w = window ? *window : detail::ones_view({wl}, float32, s);
  if (w.ndim() != 1 || w.shape(0) != wl)
    fail(op, "expected a 1-D window of " + std::to_string(wl) + " samples, got shape " + detail::shape_str(w.shape()) + ".");
  const int left = (n_fft - wl) / 2;
  return pad(w, std::pair<int, int>{left, n_fft - wl - left}, array(0), "constant", s);
}

// The sample index of each frame's entries: i hop + j, (n_frames, n_fft) int32.
array frame_indices(int n_frames, int n_fft, int hop, StreamOrDevice s) {
  return add(expand_dims(multiply(arange(0.0, double(n_frames), 1.0, int32, s), array(hop), s), 1, s),
             expand_dims(arange(0.0, double(n_fft), 1.0, int32, s), 0, s), s);
}
}  // namespace

array stft(const array& x, int n_fft, const std::optional<int>& hop_length, const std::optional<int>& win_length,
           const std::optional<array>& window, bool center, const std::string& pad_mode, FFTNorm norm,
           const std::optional<bool>& onesided, StreamOrDevice s) {
  const char* op = "fft::stft";
  if (n_fft <= 0) fail(op, "expected a positive n_fft, got " + std::to_string(n_fft) + ".");
  const int hop = hop_length.value_or(std::max(n_fft / 4, 1));
  if (hop <= 0) fail(op, "expected a positive hop_length, got " + std::to_string(hop) + ".");
  if (x.ndim() < 1) fail(op, "expected an input with at least one dimension, got a 0-d array.");
  if (pad_mode != "reflect" && pad_mode != "constant" && pad_mode != "edge")
    fail(op, "expected pad_mode \"reflect\", \"constant\" or \"edge\", got \"" + pad_mode + "\".");
  const bool complex_in = x.dtype() == complex64;
  const bool one = onesided.value_or(!complex_in);
  if (one && complex_in) fail(op, "expected a real input for a one-sided transform, got complex64.");
  array w = padded_window(op, n_fft, win_length, window, s);
  array xs = complex_in ? x : astype(x, float32, s);
  if (center) {
    const int p = n_fft / 2;
    if (pad_mode == "reflect" && p >= xs.shape(-1))
      fail(op, "expected more than n_fft / 2 = " + std::to_string(p) + " samples for reflect padding, got " +
                   std::to_string(xs.shape(-1)) + ".");
    xs = pad(xs, {static_cast<int>(xs.ndim()) - 1}, {p}, {p}, array(0), pad_mode, s);
  }
  const int T = xs.shape(-1);
  if (T < n_fft)
    fail(op, "expected at least n_fft = " + std::to_string(n_fft) + " samples (after centering), got " + std::to_string(T) + ".");
  const int n_frames = 1 + (T - n_fft) / hop;
  array f = multiply(take(xs, frame_indices(n_frames, n_fft, hop, s), -1, s), astype(w, complex_in ? complex64 : float32, s), s);
  array spec = one ? rfft(f, n_fft, -1, norm, s) : fft(f, n_fft, -1, norm, s);
  return swapaxes(spec, -1, -2, s);
}

array istft(const array& stft_matrix, const std::optional<int>& n_fft_opt, const std::optional<int>& hop_length,
            const std::optional<int>& win_length, const std::optional<array>& window, bool center, FFTNorm norm,
            const std::optional<bool>& onesided, const std::optional<int>& length, StreamOrDevice s) {
  const char* op = "fft::istft";
  if (stft_matrix.ndim() < 2)
    fail(op, "expected a spectrogram (..., n_freq, n_frames), got shape " + detail::shape_str(stft_matrix.shape()) + ".");
  const int n_freq = stft_matrix.shape(-2), n_frames = stft_matrix.shape(-1);
  const bool one = onesided.value_or(n_fft_opt ? n_freq == *n_fft_opt / 2 + 1 : true);
  const int n_fft = n_fft_opt.value_or(one ? detail::checked_dim(2 * (int64_t(n_freq) - 1), op) : n_freq);
  if (n_fft <= 0) fail(op, "expected a positive n_fft, got " + std::to_string(n_fft) + ".");
  if ((one && n_freq != n_fft / 2 + 1) || (!one && n_freq != n_fft))
    fail(op, "expected " + std::to_string(one ? n_fft / 2 + 1 : n_fft) + " frequencies for n_fft = " +
                 std::to_string(n_fft) + ", got " + std::to_string(n_freq) + ".");
  const int hop = hop_length.value_or(std::max(n_fft / 4, 1));
  if (hop <= 0) fail(op, "expected a positive hop_length, got " + std::to_string(hop) + ".");
  if (length && *length < 0) fail(op, "expected a non-negative length, got " + std::to_string(*length) + ".");
  array w = astype(padded_window(op, n_fft, win_length, window, s), float32, s);
  const int total = n_frames ? detail::checked_dim(n_fft + int64_t(hop) * (n_frames - 1), op) : 0;
  const int start = center ? n_fft / 2 : 0;
  const int natural = std::max(total - (center ? 2 * (n_fft / 2) : 0), 0);
  const int want = length.value_or(natural);
  Shape lead(stft_matrix.shape().begin(), stft_matrix.shape().end() - 2);
  if (std::find(lead.begin(), lead.end(), 0) != lead.end()) {
    // No signals: the empty result, without the (signal-length) envelope.
    Shape empty = lead;
    empty.push_back(want);
    return zeros(empty, float32, s);
  }
  array spec = swapaxes(astype(stft_matrix, complex64, s), -1, -2, s);  // (..., n_frames, n_freq)
  array fr = one ? irfft(spec, n_fft, -1, norm, s) : real(ifft(spec, n_fft, -1, norm, s), s);
  fr = multiply(fr, w, s);  // (..., n_frames, n_fft)
  // Overlap-add: frame i's sample j goes to i hop + j, a scatter-add over the output.
  array idx = frame_indices(n_frames, n_fft, hop, s);
  Shape flat_shape = lead;
  flat_shape.push_back(detail::checked_dim(int64_t(n_frames) * n_fft, op));
  Shape out_shape = lead;
  out_shape.push_back(total);
  array y = scatter_add_axis(detail::zeros_view(out_shape, float32, s), broadcast_to(flatten(idx, s), flat_shape, s),
                             reshape(fr, flat_shape, s), -1, s);
  array env = scatter_add_axis(detail::zeros_view({total}, float32, s), flatten(idx, s),
                               flatten(broadcast_to(square(w, s), {n_frames, n_fft}, s), s), -1, s);
  y = where(greater(env, array(1e-11f), s), divide(y, env, s), detail::zeros_like_view(y, s), s);
  const int avail = std::max(std::min(want, total - start), 0);
  Shape b(y.ndim(), 0), e = y.shape();
  b.back() = start;
  e.back() = start + avail;
  y = slice(y, b, e, s);
  if (want > avail) y = pad(y, {static_cast<int>(y.ndim()) - 1}, {0}, {want - avail}, array(0), "constant", s);
  return y;
}

}  // namespace mica::fft
