// Upsample: one spatial axis at a time, out = sum over taps t of take(x, index_t, axis) *
// weight_t, with the indices and float32 weights computed here on the host. The sample
// positions follow MLX's float32 arithmetic exactly (rounding after every operation), so that
// nearest-neighbour picks and floor/ceil decisions agree with MLX.
#include "mica/nn/layers/upsample.h"

#include <cmath>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <vector>

#include "mica/ops.h"

namespace mica::nn {

namespace {

[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument("[Upsample] " + msg); }

// float32 arithmetic: each operation computed in double (exact for products of floats, and
// correctly rounded otherwise since double has more than 2 * 24 + 2 bits) then rounded once.
float f32(double v) { return static_cast<float>(v); }
float mul(float a, float b) { return f32(static_cast<double>(a) * b); }
float sub(float a, float b) { return f32(static_cast<double>(a) - b); }
float addf(float a, float b) { return f32(static_cast<double>(a) + b); }

// One tap of an interpolation along an axis: for every output position, a source index and a weight.
struct Tap {
  std::vector<int32_t> index;
  std::vector<float> weight;
};

// Sample positions (in input coordinates) of the M outputs, as MLX computes them in float32.
std::vector<float> positions(int n, double scale, int m, bool align_corners) {
  std::vector<float> pos(static_cast<size_t>(m));
  if (align_corners) {
    float step = f32(static_cast<double>(n - 1) / std::max(m - 1, 1));
    for (int i = 0; i < m; ++i) pos[i] = mul(static_cast<float>(i), step);
  } else {
    double step = 1.0 / scale;
    double start = ((m - 1) * step - n + 1) / 2;
    float step32 = f32(step), start32 = f32(start);
    for (int i = 0; i < m; ++i) pos[i] = sub(mul(static_cast<float>(i), step32), start32);
  }
  return pos;
}

int32_t clamp_index(double v, int n) { return static_cast<int32_t>(std::min<double>(std::max(v, 0.0), n - 1)); }

std::vector<Tap> nearest_taps(int n, int m) {
  Tap t;
  float ratio = f32(static_cast<double>(n) / m);
  for (int i = 0; i < m; ++i) {
    double idx;
    if (m > n) {
      float p = sub(mul(addf(static_cast<float>(i), 0.5f), ratio), 0.5f);
      idx = std::nearbyint(p);  // round half to even, as mx.round
    } else {
      idx = std::trunc(mul(static_cast<float>(i), ratio));
    }
    t.index.push_back(clamp_index(idx, n));
    t.weight.push_back(1.0f);
  }
  return {t};
}

std::vector<Tap> linear_taps(int n, double scale, int m, bool align_corners) {
  Tap left, right;
  for (float p : positions(n, scale, m, align_corners)) {
    p = std::min(std::max(p, 0.0f), static_cast<float>(n - 1));
    float l = std::floor(p), r = std::ceil(p);
    float w = p - l;  // exact in float32
    left.index.push_back(clamp_index(l, n));
    left.weight.push_back(f32(1.0 - w));
    right.index.push_back(clamp_index(r, n));
    right.weight.push_back(w);
  }
  return {left, right};
}

// Keys' cubic convolution kernel at distance x with parameter a.
double cubic_kernel(double x, double a) {
  if (x <= 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x <= 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

std::vector<Tap> cubic_taps(int n, double scale, int m, bool align_corners) {
  const double a = -0.75;
  std::vector<Tap> taps(4);
  for (float p : positions(n, scale, m, align_corners)) {
    float l1 = std::floor(p), r1 = std::floor(addf(p, 1.0f));
    float grid[4] = {l1, r1, l1 - 1.0f, r1 + 1.0f};
    for (int t = 0; t < 4; ++t) {
      double x = std::fabs(static_cast<double>(sub(p, grid[t])));
      // The two inner taps use the inner polynomial and the outer two the outer one, whatever x.
      double w = t < 2 ? ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0 : (((x - 5.0) * x + 8.0) * x - 4.0) * a;
      taps[t].index.push_back(clamp_index(grid[t], n));
      taps[t].weight.push_back(f32(w));
    }
  }
  return taps;
}

// Antialiased taps: the kernel widened by 1 / scale when downsampling, out-of-range taps dropped
// and the rest renormalized to sum to one.
std::vector<Tap> antialias_taps(int n, double scale, int m, bool cubic) {
  const double radius = cubic ? 2.0 : 1.0;
  const double inv_scale = scale < 1.0 ? 1.0 / scale : 1.0;
  const int num_taps = static_cast<int>(std::ceil(radius * inv_scale)) + 1;
  std::vector<Tap> taps(static_cast<size_t>(2 * num_taps - 1));
  for (float p : positions(n, scale, m, false)) {
    std::vector<double> w(taps.size());
    double total = 0.0;
    double base = std::floor(p);
    for (int k = -num_taps + 1; k < num_taps; ++k) {
      double idx = base + k;
      double dist = std::fabs(p - idx) / inv_scale;
      double wk = cubic ? cubic_kernel(dist, -0.5) : std::max(1.0 - dist, 0.0);
      if (idx < 0 || idx >= n) wk = 0.0;
      w[k + num_taps - 1] = wk;
      total += wk;
      taps[k + num_taps - 1].index.push_back(clamp_index(idx, n));
    }
    if (!(total > 0.0)) total = 1.0;
    for (size_t t = 0; t < taps.size(); ++t) taps[t].weight.push_back(f32(w[t] / total));
  }
  return taps;
}

bool is_integral_scale(double s) { return std::floor(s) == s; }

}  // namespace

Upsample::Upsample(const FloatOrTuple& scale_factor, const UpsampleOptions& o)
    : scale_factor_(scale_factor), mode_(o.mode), align_corners_(o.align_corners), antialias_(o.antialias) {
  if (mode_ != "nearest" && mode_ != "linear" && mode_ != "cubic") {
    fail("expected mode 'nearest', 'linear' or 'cubic', got '" + mode_ + "'.");
  }
  if (antialias_ && mode_ == "nearest") fail("expected antialias=False with mode 'nearest', got antialias=True.");
  if (antialias_ && align_corners_) {
    fail("expected align_corners=False with antialias=True, got align_corners=True.");
  }
  if (scale_factor_.values().empty()) fail("expected at least one scale factor, got ().");
  for (double s : scale_factor_.values()) {
    if (!(s > 0.0) || !std::isfinite(s)) fail("expected positive finite scale factors, got " + scale_factor_.repr() + ".");
  }
}

std::string Upsample::extra_repr() const {
  std::string s = "scale_factor=" + scale_factor_.repr() + ", mode='" + mode_ +
                  "', align_corners=" + detail::py_bool(align_corners_);
  if (antialias_) s += ", antialias=True";
  return s;
}

array Upsample::operator()(const array& x) {
  const int dims = static_cast<int>(x.ndim()) - 2;
  if (dims <= 0) {
    fail("expected an input (N, *spatial, C) with at least one spatial dimension, got shape " +
         mica::detail::shape_str(x.shape()) + ".");
  }
  std::vector<double> scales;
  if (scale_factor_.is_scalar()) {
    scales.assign(static_cast<size_t>(dims), scale_factor_.values()[0]);
  } else {
    scales = scale_factor_.values();
    if (static_cast<int>(scales.size()) != dims) {
      fail("expected one scale factor per spatial dimension, got scale_factor=" + scale_factor_.repr() + " for " +
           std::to_string(dims) + " spatial dimensions.");
    }
  }
  std::vector<int> out_sizes;
  for (int d = 0; d < dims; ++d) {
    int n = x.shape(1 + d);
    double m = scales[d] * n;
    if (!(m >= 1.0) || m > 2147483647.0) {
      fail("expected every scaled spatial size to be at least 1, got " + std::to_string(n) + " * " +
           detail::py_float(scales[d]) + " for input of shape " + mica::detail::shape_str(x.shape()) + ".");
    }
    out_sizes.push_back(static_cast<int>(m));
  }

  if (mode_ == "nearest") {
    bool integral = true;
    for (double s : scales) integral = integral && is_integral_scale(s);
    if (integral) {
      // (N, n1, n2, C) -> (N, n1, 1, n2, 1, C) -> broadcast (N, n1, s1, n2, s2, C) -> (N, n1 s1, n2 s2, C).
      Shape expanded{x.shape(0)}, target{x.shape(0)}, out{x.shape(0)};
      for (int d = 0; d < dims; ++d) {
        int n = x.shape(1 + d), s = static_cast<int>(scales[d]);
        expanded.insert(expanded.end(), {n, 1});
        target.insert(target.end(), {n, s});
        out.push_back(n * s);
      }
      expanded.push_back(x.shape(-1));
      target.push_back(x.shape(-1));
      out.push_back(x.shape(-1));
      return reshape(broadcast_to(reshape(x, expanded), target), out);
    }
  }

  array y = x;
  for (int d = 0; d < dims; ++d) {
    const int n = x.shape(1 + d), m = out_sizes[d], axis = 1 + d;
    std::vector<Tap> taps;
    if (mode_ == "nearest") {
      taps = nearest_taps(n, m);
    } else if (antialias_) {
      taps = antialias_taps(n, scales[d], m, mode_ == "cubic");
    } else if (mode_ == "linear") {
      taps = linear_taps(n, scales[d], m, align_corners_);
    } else {
      taps = cubic_taps(n, scales[d], m, align_corners_);
    }
    if (mode_ == "nearest") {
      y = take(y, array(taps[0].index.begin(), {m}, int32), axis);
      continue;
    }
    // Weights of shape (m, 1, ..., 1) broadcast along this axis of (N, ..., m, ..., C).
    Shape wshape{m};
    for (int i = axis + 1; i < static_cast<int>(x.ndim()); ++i) wshape.push_back(1);
    std::optional<array> acc;
    for (const Tap& t : taps) {
      array term = multiply(take(y, array(t.index.begin(), {m}, int32), axis), array(t.weight.begin(), wshape, float32));
      acc = acc ? add(*acc, term) : term;
    }
    y = *acc;
  }
  return y;
}

}  // namespace mica::nn
