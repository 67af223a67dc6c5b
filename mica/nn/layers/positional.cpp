// Positional encodings written as compositions of ops (RoPE through fast::rope), so every
// transform works through them.
#include "mica/nn/layers/positional.h"

#include <cmath>
#include <numbers>
#include <stdexcept>
#include <vector>

#include "mica/fast.h"
#include "mica/ops.h"

namespace mica::nn {

namespace {

std::string py_bool(bool b) { return b ? "True" : "False"; }

}  // namespace

// -- RoPE -------------------------------------------------------------------------------------

RoPE::RoPE(int dims, const RoPEOptions& options) : dims_(dims), options_(options) {
  if (dims <= 0 || dims % 2 != 0) {
    throw std::invalid_argument("[RoPE] expected a positive even dims, got " + std::to_string(dims) + ".");
  }
}

std::string RoPE::extra_repr() const {
  return std::to_string(dims_) + ", traditional=" + py_bool(options_.traditional);
}

array RoPE::operator()(const array& x, int offset) {
  if (x.ndim() < 3) {
    throw std::invalid_argument("[RoPE] expected an input with at least 3 dimensions, got " + std::to_string(x.ndim()) +
                                ".");
  }
  if (!is_floating(x.dtype())) {
    throw std::invalid_argument("[RoPE] expected a floating input, got " + dtype_to_string(x.dtype()) + ".");
  }
  const int features = x.shape(-1);
  if (dims_ > features) {
    throw std::invalid_argument("[RoPE] expected dims <= the input's last dimension (" + std::to_string(features) +
                                "), got " + std::to_string(dims_) + ".");
  }
  return fast::rope(x, dims_, options_.traditional, options_.base, options_.scale, offset);
}

// -- ALiBi ------------------------------------------------------------------------------------

array ALiBi::create_alibi_slope(int num_heads, Dtype dtype) {
  if (num_heads < 1) {
    throw std::invalid_argument("[ALiBi] expected num_heads >= 1, got " + std::to_string(num_heads) + ".");
  }
  // Slopes 2^(-8/n), its square, ... for a power of two n; otherwise those of the largest power
  // of two p below n, followed by every other slope of 2p, up to n slopes.
  auto power_of_two_slopes = [](int n) {
    std::vector<double> s(n);
    double start = std::pow(2.0, -8.0 / n);
    for (int i = 0; i < n; ++i) s[i] = std::pow(start, i + 1);
    return s;
  };
  std::vector<double> slopes;
  int p = 1;
  while (p * 2 <= num_heads) p *= 2;
  slopes = power_of_two_slopes(p);
  if (p != num_heads) {
    std::vector<double> finer = power_of_two_slopes(2 * p);
    for (int i = 0; static_cast<int>(slopes.size()) < num_heads; i += 2) slopes.push_back(finer[i]);
  }
  return array(slopes.begin(), Shape{num_heads, 1, 1}, dtype);
}

array ALiBi::create_alibi_matrix(int q_sequence_length, int k_sequence_length, int num_heads, int offset, Dtype dtype) {
  if (q_sequence_length < offset || k_sequence_length < 0 || offset < 0) {
    throw std::invalid_argument(
        "[ALiBi] expected 0 <= offset <= q_sequence_length and k_sequence_length >= 0, got "
        "offset " +
        std::to_string(offset) + ", q_sequence_length " + std::to_string(q_sequence_length) + ", k_sequence_length " +
        std::to_string(k_sequence_length) + ".");
  }
  array slopes = create_alibi_slope(num_heads, dtype);
  array q = expand_dims(arange(offset, q_sequence_length), 1);
  array k = expand_dims(arange(0, k_sequence_length), 0);
  array distance = negative(abs(subtract(q, k)));                // (Lq', Lk) int32
  array bias = multiply(expand_dims(distance, {0, 1}), slopes);  // (1, H, Lq', Lk)
  return astype(bias, dtype);
}

array ALiBi::operator()(const array& attention_scores, int offset, const std::optional<array>& mask) {
  if (attention_scores.ndim() < 2) {
    throw std::invalid_argument("[ALiBi] expected attention scores with at least 2 dimensions, got " +
                                std::to_string(attention_scores.ndim()) + ".");
  }
  if (offset < 0)
    throw std::invalid_argument("[ALiBi] expected a non-negative offset, got " + std::to_string(offset) + ".");
  array bias = create_alibi_matrix(attention_scores.shape(-2) + offset, attention_scores.shape(-1),
                                   attention_scores.shape(1), offset, attention_scores.dtype());
  if (mask) bias = add(bias, *mask);
  return add(attention_scores, bias);
}

// -- SinusoidalPositionalEncoding -------------------------------------------------------------

SinusoidalPositionalEncoding::SinusoidalPositionalEncoding(int dims, const SinusoidalPositionalEncodingOptions& options)
    : cos_first_(options.cos_first) {
  if (dims <= 0 || dims % 2 != 0) {
    throw std::invalid_argument("[SinusoidalPositionalEncoding] expected a positive even dims, got " +
                                std::to_string(dims) + ".");
  }
  if (!(options.min_freq > 0.0f) || !(options.max_freq > 0.0f)) {
    throw std::invalid_argument("[SinusoidalPositionalEncoding] expected positive min_freq and max_freq, got " +
                                std::to_string(options.min_freq) + " and " + std::to_string(options.max_freq) + ".");
  }
  int half = dims / 2;
  double lo = std::log(static_cast<double>(options.min_freq));
  double hi = std::log(static_cast<double>(options.max_freq));
  // Log-frequencies fall linearly from log(max_freq) (first) to log(min_freq) (last).
  std::vector<double> sigmas(half);
  for (int i = 0; i < half; ++i) {
    double t = half == 1 ? 1.0 : 1.0 - static_cast<double>(i) / (half - 1);
    sigmas[i] = std::exp(t * (hi - lo) + lo);
    if (options.full_turns) sigmas[i] *= 2.0 * std::numbers::pi;
  }
  set("_sigmas", array(sigmas.begin(), Shape{half}, float32));
  scale_ = options.scale ? *options.scale : static_cast<float>(std::sqrt(2.0 / dims));
}

array SinusoidalPositionalEncoding::operator()(const array& x) {
  array y = multiply(expand_dims(x, -1), param("_sigmas"));
  array c = cos(y);
  array s = sin(y);
  y = cos_first_ ? concatenate({c, s}, -1) : concatenate({s, c}, -1);
  if (scale_ != 1.0f) y = multiply(y, array(scale_, y.dtype()));
  return y;
}

}  // namespace mica::nn
