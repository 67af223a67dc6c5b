// Positional encodings, as MLX's mlx.nn.RoPE, mlx.nn.ALiBi and mlx.nn.SinusoidalPositionalEncoding.
// None of them has parameters.
#pragma once
#include <optional>
#include <string>

#include "mica/dtype.h"
#include "mica/nn/module.h"

namespace mica::nn {

/** Options of RoPE. */
struct RoPEOptions {
  bool traditional = false;  // rotate consecutive pairs (x[2i], x[2i+1]) instead of (x[i], x[i + dims/2])
  float base = 10000.0f;     // the angle of pair i at position p is p scale base^(-2i/dims)
  float scale = 1.0f;        // multiplies the positions
};

/** Rotary positional encoding over the first `dims` features of the last axis; positions run
 *  along the second-to-last axis (offset, offset + 1, ...), the features past `dims` pass
 *  through. The input needs at least 3 dimensions and a floating dtype. */
class RoPE : public Module {
 public:
  /** RoPE rotating `dims` features (positive and even). */
  explicit RoPE(int dims, const RoPEOptions& options = {});
  /** "RoPE". */
  std::string name() const override { return "RoPE"; }
  /** `<dims>, traditional=<True|False>`. */
  std::string extra_repr() const override;
  /** x: (..., L, D) with D >= dims -> same shape and dtype, positions 0 .. L-1. */
  array operator()(const array& x) override { return (*this)(x, 0); }
  /** The same with positions offset .. offset + L - 1. */
  array operator()(const array& x, int offset);

 private:
  int dims_;
  RoPEOptions options_;
};

/** Attention with linear biases: adds -slope_h |i - j| to attention scores (B, H, Lq, Lk). */
class ALiBi : public Module {
 public:
  /** "ALiBi". */
  std::string name() const override { return "ALiBi"; }
  /** scores + the ALiBi matrix for scores.shape(1) heads. */
  array operator()(const array& attention_scores) override { return (*this)(attention_scores, 0, std::nullopt); }
  /** scores + the ALiBi matrix of query positions offset .. offset + Lq - 1 (+ mask if given). */
  array operator()(const array& attention_scores, int offset, const std::optional<array>& mask = std::nullopt);
  /** The bias -slope_h |i - j| of shape (1, num_heads, q_sequence_length - offset,
   *  k_sequence_length), for query positions i in [offset, q_sequence_length). */
  static array create_alibi_matrix(int q_sequence_length, int k_sequence_length, int num_heads, int offset = 0,
                                   Dtype dtype = float32);
  /** The geometric head slopes, shape (num_heads, 1, 1). */
  static array create_alibi_slope(int num_heads, Dtype dtype = float32);
};

/** Options of SinusoidalPositionalEncoding. */
struct SinusoidalPositionalEncodingOptions {
  float min_freq = 0.0001f;    // the lowest frequency
  float max_freq = 1.0f;       // the highest frequency
  std::optional<float> scale;  // multiplies the result; default sqrt(2 / dims)
  bool cos_first = false;      // [cos, sin] instead of [sin, cos]
  bool full_turns = false;     // multiply the frequencies by 2 pi
};

/** Sinusoidal encoding of (positions) x: [sin(x sigma), cos(x sigma)] * scale with dims / 2
 *  frequencies sigma spaced geometrically from max_freq down to min_freq. The frequencies
 *  live in the private state entry `_sigmas` (not a parameter). */
class SinusoidalPositionalEncoding : public Module {
 public:
  /** An encoding of `dims` features (positive and even). */
  explicit SinusoidalPositionalEncoding(int dims, const SinusoidalPositionalEncodingOptions& options = {});
  /** "SinusoidalPositionalEncoding". */
  std::string name() const override { return "SinusoidalPositionalEncoding"; }
  /** x: (...) -> (..., dims). */
  array operator()(const array& x) override;

 private:
  float scale_;
  bool cos_first_;
};

}  // namespace mica::nn
