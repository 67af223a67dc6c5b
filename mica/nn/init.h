// Initializers (MLX's nn.init): each returns a function that maps an array to a new array of
// the same shape, drawn from the global random state. Use with Module::apply.
#pragma once
#include <functional>

#include "mica/array.h"

namespace mica::nn::init {

using Initializer = std::function<array(const array&)>;

/** Fills with `value`. */
Initializer constant(float value, Dtype dtype = float32);
/** Options of normal (and of sparse's nonzero entries). */
struct NormalOptions {
  float mean = 0.0f;
  float std = 1.0f;
  Dtype dtype = float32;
};
/** Samples N(mean, std^2). */
Initializer normal(const NormalOptions& options = {});
/** Options of uniform. */
struct UniformOptions {
  float low = 0.0f;
  float high = 1.0f;
  Dtype dtype = float32;
};
/** Samples U(low, high). */
Initializer uniform(const UniformOptions& options = {});
/** The identity matrix (square 2-D arrays only). */
Initializer identity(Dtype dtype = float32);

/** Glorot (Xavier) initializer: call with the array and a gain (default 1). */
struct Glorot {
  bool normal;
  Dtype dtype;
  array operator()(const array& a, float gain = 1.0f) const;
};
/** N(0, gain^2 * 2 / (fan_in + fan_out)). */
Glorot glorot_normal(Dtype dtype = float32);
/** U(-l, l) with l = gain * sqrt(6 / (fan_in + fan_out)). */
Glorot glorot_uniform(Dtype dtype = float32);

/** Which fan a He initializer scales by. */
enum class FanMode { fan_in, fan_out };
/** Options of a He initializer's call. */
struct HeOptions {
  FanMode mode = FanMode::fan_in;
  float gain = 1.0f;
};
/** He (Kaiming) initializer: call with the array and, optionally, {.mode, .gain}. */
struct He {
  bool normal;
  Dtype dtype;
  array operator()(const array& a, const HeOptions& options = {}) const;
};
/** N(0, gain^2 / fan). */
He he_normal(Dtype dtype = float32);
/** U(-l, l) with l = gain * sqrt(3 / fan). */
He he_uniform(Dtype dtype = float32);

/** N(mean, std^2) with ceil(sparsity * cols) random entries of every row set to zero (2-D). */
Initializer sparse(float sparsity, const NormalOptions& options = {});
/** Options of orthogonal. */
struct OrthogonalOptions {
  float gain = 1.0f;
  Dtype dtype = float32;
};
/** A matrix with orthonormal rows or columns, times gain (2-D). */
Initializer orthogonal(const OrthogonalOptions& options = {});

/** (fan_in, fan_out) of a weight shaped (out, ..., in) as MLX's layers store it. */
std::pair<int64_t, int64_t> fan_in_fan_out(const array& a, const char* op);

}  // namespace mica::nn::init
