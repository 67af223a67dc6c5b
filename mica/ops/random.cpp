// mica::random ops: validation and composition of RandomBits with elementwise ops, following
// MLX's formulas step by step so that a key gives MLX's numbers.
#include "mica/random.h"

#include <chrono>
#include <cmath>
#include <limits>

#include "mica/linalg.h"
#include "mica/ops/binary.h"
#include "mica/ops/creation.h"
#include "mica/ops/indexing.h"
#include "mica/ops/matmul.h"
#include "mica/ops/movement.h"
#include "mica/ops/reduce.h"
#include "mica/ops/sort.h"
#include "mica/ops/unary.h"
#include "mica/ops/utils.h"
#include "mica/primitives/random.h"

namespace mica::random {

namespace {
using mica::detail::fail;
using mica::detail::shape_str;

void check_shape(const char* op, const Shape& shape) {
  for (int d : shape) {
    if (d < 0) fail(op, "expected non-negative dimensions, got shape " + shape_str(shape) + ".");
  }
}

void check_key(const char* op, const array& key) {
  if (key.dtype() != uint32) {
    fail(op, "expected a key of dtype uint32, got " + dtype_to_string(key.dtype()) + ".");
  }
  if (key.shape() != Shape{2}) fail(op, "expected a key of shape (2), got " + shape_str(key.shape()) + ".");
}

// True when `from` broadcasts to exactly `to`.
bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  size_t off = to.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i) {
    if (from[i] != 1 && from[i] != to[off + i]) return false;
  }
  return true;
}

void check_broadcast(const char* op, const char* what, const Shape& from, const Shape& to) {
  if (!broadcasts_to(from, to)) {
    fail(op, std::string("expected ") + what + " to broadcast to shape " + shape_str(to) + ", got shape " +
                 shape_str(from) + ".");
  }
}

void check_floating(const char* op, Dtype dtype) {
  if (!issubdtype(dtype, floating)) {
    fail(op, "expected a real floating dtype, got " + dtype_to_string(dtype) + ".");
  }
}

// The given key, or the next one of the calling thread's sequence.
array resolve_key(const char* op, const std::optional<array>& key) {
  if (!key) return KeySequence::default_().next();
  check_key(op, *key);
  return *key;
}

array bits_node(const Shape& shape, int width, const array& key, StreamOrDevice s) {
  Dtype dt = width == 4 ? uint32 : width == 2 ? uint16 : uint8;
  return array(shape, dt, std::make_shared<RandomBits>(to_stream(s), shape, width), {key});
}

// Largest value below 1 of the dtype, as float32 (MLX clamps the [0, 1] draw to it).
float below_one(Dtype dtype) {
  if (dtype == float16) return 1.0f - 0x1p-11f;
  if (dtype == bfloat16) return 1.0f - 0x1p-8f;
  return std::nextafter(1.0f, 0.0f);
}

// uniform() without the checks, drawing from a resolved key.
array uniform_impl(const array& low, const array& high, const Shape& shape, Dtype dtype, const array& key,
                   StreamOrDevice s) {
  auto lo = astype(low, dtype, s);
  auto range = subtract(astype(high, dtype, s), lo, s);
  // bits / (2^32 - 1) in float32, kept below 1, then scaled to [low, high).
  auto u = divide(bits_node(shape, 4, key, s), array(std::numeric_limits<uint32_t>::max(), float32), s);
  u = astype(minimum(u, array(below_one(dtype), float32), s), dtype, s);
  return add(multiply(range, u, s), lo, s);
}

Shape broadcast_or_fail(const char* op, const Shape& a, const Shape& b) {
  try {
    return broadcast_shapes(a, b);
  } catch (const std::invalid_argument&) {
    fail(op, "expected broadcastable bounds, got shapes " + shape_str(a) + " and " + shape_str(b) + ".");
  }
}

array gumbel_impl(const Shape& shape, Dtype dtype, const array& key, StreamOrDevice s) {
  auto u = uniform_impl(array(0.0, dtype), array(1.0, dtype), shape, dtype, key, s);
  return negative(log(negative(log(u, s), s), s), s);
}

int categorical_axis(const array& logits, int axis) {
  return mica::detail::normalize_axis(axis, static_cast<int>(logits.ndim()), "categorical");
}

// Gumbel-max trick: argmax over the category axis of logits + Gumbel noise of `shape` with
// the category axis inserted where the logits' axis lines up.
array categorical_impl(const array& logits, int axis, const Shape& shape, const std::optional<array>& key,
                       StreamOrDevice s) {
  auto k = resolve_key("categorical", key);
  Shape gshape = shape;
  int offset = axis + static_cast<int>(shape.size()) - static_cast<int>(logits.ndim()) + 1;
  gshape.insert(gshape.begin() + offset, logits.shape(axis));
  auto g = gumbel_impl(gshape, float32, k, s);
  return argmax(add(g, logits, s), offset, false, s);
}
}  // namespace

KeySequence::KeySequence(uint64_t seed) { this->seed(seed); }

void KeySequence::seed(uint64_t seed) {
  k0_ = static_cast<uint32_t>(seed >> 32);
  k1_ = static_cast<uint32_t>(seed);
}

namespace {
thread_local detail::KeyHook* g_key_hook = nullptr;
}
detail::KeyHookScope::KeyHookScope(KeyHook* hook) : previous_(g_key_hook) { g_key_hook = hook; }
detail::KeyHookScope::~KeyHookScope() { g_key_hook = previous_; }

array KeySequence::next() {
  if (g_key_hook) return (*g_key_hook)();
  // split(key) computed on the host: the 4 words of bits((2, 2)) under the current key.
  std::pair<uint32_t, uint32_t> k{k0_, k1_};
  uint32_t w[4];
  for (int i = 0; i < 4; ++i) w[i] = detail::word_of(k, 4, i);
  k0_ = w[0];
  k1_ = w[1];
  return array({w[2], w[3]});
}

KeySequence& KeySequence::default_() {
  static const uint64_t time_seed = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  thread_local KeySequence ks(time_seed);
  return ks;
}

array key(uint64_t seed) { return array({static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(seed)}); }

void seed(uint64_t seed) { KeySequence::default_().seed(seed); }

array bits(const Shape& shape, int width, const std::optional<array>& key, StreamOrDevice s) {
  if (width != 1 && width != 2 && width != 4) fail("bits", "expected a width in {1, 2, 4}, got " + std::to_string(width) + ".");
  check_shape("bits", shape);
  return bits_node(shape, width, resolve_key("bits", key), s);
}

std::pair<array, array> split(const array& key, StreamOrDevice s) {
  auto keys = mica::random::split(key, 2, s);
  auto parts = mica::split(keys, 2, 0, s);
  return {reshape(parts[0], {2}, s), reshape(parts[1], {2}, s)};
}

array split(const array& key, int num, StreamOrDevice s) {
  check_key("split", key);
  if (num < 0) fail("split", "expected a non-negative number of keys, got " + std::to_string(num) + ".");
  return bits_node({num, 2}, 4, key, s);
}

array uniform(const array& low, const array& high, const Shape& shape, Dtype dtype,
              const std::optional<array>& key, StreamOrDevice s) {
  check_floating("uniform", dtype);
  check_shape("uniform", shape);
  check_broadcast("uniform", "low and high", broadcast_or_fail("uniform", low.shape(), high.shape()), shape);
  return uniform_impl(low, high, shape, dtype, resolve_key("uniform", key), s);
}

array uniform(const Shape& shape, Dtype dtype, const std::optional<array>& key, StreamOrDevice s) {
  check_floating("uniform", dtype);
  return uniform(array(0.0, dtype), array(1.0, dtype), shape, dtype, key, s);
}

array normal(const Shape& shape, Dtype dtype, const std::optional<array>& loc, const std::optional<array>& scale,
             const std::optional<array>& key, StreamOrDevice s) {
  if (dtype != complex64 && !issubdtype(dtype, floating)) {
    fail("normal", "expected a floating or complex64 dtype, got " + dtype_to_string(dtype) + ".");
  }
  check_shape("normal", shape);
  auto k = resolve_key("normal", key);
  // erfinv of a uniform draw in (-1, 1) is N(0, 1/2).
  auto low = array(std::nextafter(-1.0f, 0.0f), float32);
  auto high = array(1.0f, float32);
  if (dtype == complex64) {
    Shape pairs = shape;
    pairs.push_back(2);
    auto z = erfinv(uniform_impl(low, high, pairs, float32, k, s), s);
    z = squeeze(view(z, complex64, s), -1, s);
    if (scale) z = multiply(*scale, z, s);
    if (loc) z = add(*loc, z, s);
    return z;
  }
  auto samples = uniform_impl(low, high, shape, float32, k, s);
  auto applied_scale = array(std::sqrt(2.0), dtype);
  if (scale) applied_scale = multiply(applied_scale, astype(*scale, dtype, s), s);
  samples = multiply(applied_scale, astype(erfinv(samples, s), dtype, s), s);
  if (loc) samples = add(astype(*loc, dtype, s), samples, s);
  return samples;
}

array randint(const array& low, const array& high, const Shape& shape, Dtype dtype,
              const std::optional<array>& key, StreamOrDevice s) {
  if (is_inexact(dtype)) fail("randint", "expected an integer or bool dtype, got " + dtype_to_string(dtype) + ".");
  check_shape("randint", shape);
  check_broadcast("randint", "low and high", broadcast_or_fail("randint", low.shape(), high.shape()), shape);
  auto u = uniform_impl(low, high, shape, float32, resolve_key("randint", key), s);
  // floor, convert, then clip to [low, high - 1] in the output dtype (MLX 0.32's recipe).
  auto out = astype(floor(u, s), dtype, s);
  auto top = subtract(high, mica::detail::weak_scalar(1, high), s);
  out = minimum(out, astype(top, dtype, s), s);
  return maximum(out, astype(low, dtype, s), s);
}

array bernoulli(const array& p, const Shape& shape, const std::optional<array>& key, StreamOrDevice s) {
  if (!issubdtype(p.dtype(), floating)) {
    fail("bernoulli", "expected a floating probability p, got " + dtype_to_string(p.dtype()) + ".");
  }
  check_shape("bernoulli", shape);
  check_broadcast("bernoulli", "p", p.shape(), shape);
  // bits < p * nextafter(2^32 - 1 as float32, +inf): p >= 1 always true, p <= 0 never.
  auto upper = array(std::nextafter(static_cast<float>(std::numeric_limits<uint32_t>::max()),
                                    std::numeric_limits<float>::max()),
                     float32);
  return less(bits_node(shape, 4, resolve_key("bernoulli", key), s), multiply(p, upper, s), s);
}

array bernoulli(const array& p, const std::optional<array>& key, StreamOrDevice s) {
  return bernoulli(p, p.shape(), key, s);
}

array bernoulli(const std::optional<array>& key, StreamOrDevice s) { return bernoulli(array(0.5f), key, s); }

array truncated_normal(const array& lower, const array& upper, const Shape& shape, Dtype dtype,
                       const std::optional<array>& key, StreamOrDevice s) {
  check_floating("truncated_normal", dtype);
  check_shape("truncated_normal", shape);
  check_broadcast("truncated_normal", "lower and upper",
                  broadcast_or_fail("truncated_normal", lower.shape(), upper.shape()), shape);
  // Inverse CDF: a uniform draw between erf(lower / sqrt 2) and erf(upper / sqrt 2).
  auto sqrt2 = array(std::sqrt(2.0), dtype);
  auto lo = astype(lower, dtype, s);
  auto hi = astype(upper, dtype, s);
  auto a = erf(divide(lo, sqrt2, s), s);
  auto b = erf(divide(hi, sqrt2, s), s);
  auto u = uniform_impl(a, b, shape, dtype, resolve_key("truncated_normal", key), s);
  auto out = multiply(sqrt2, erfinv(u, s), s);
  return maximum(minimum(hi, out, s), lo, s);
}

array truncated_normal(const array& lower, const array& upper, Dtype dtype, const std::optional<array>& key,
                       StreamOrDevice s) {
  auto shape = broadcast_or_fail("truncated_normal", lower.shape(), upper.shape());
  return truncated_normal(lower, upper, shape, dtype, key, s);
}

array gumbel(const Shape& shape, Dtype dtype, const std::optional<array>& key, StreamOrDevice s) {
  check_floating("gumbel", dtype);
  check_shape("gumbel", shape);
  return gumbel_impl(shape, dtype, resolve_key("gumbel", key), s);
}

array categorical(const array& logits, int axis, const Shape& shape, const std::optional<array>& key,
                  StreamOrDevice s) {
  axis = categorical_axis(logits, axis);
  check_shape("categorical", shape);
  Shape reduced = logits.shape();
  reduced.erase(reduced.begin() + axis);
  check_broadcast("categorical", "the logits' shape without the axis", reduced, shape);
  return categorical_impl(logits, axis, shape, key, s);
}

array categorical(const array& logits, int axis, int num_samples, const std::optional<array>& key,
                  StreamOrDevice s) {
  axis = categorical_axis(logits, axis);
  if (num_samples < 0) {
    fail("categorical", "expected a non-negative num_samples, got " + std::to_string(num_samples) + ".");
  }
  auto expanded = expand_dims(logits, -1, s);
  Shape shape = expanded.shape();
  shape.erase(shape.begin() + axis);
  shape.back() = num_samples;
  return categorical_impl(expanded, axis, shape, key, s);
}

array categorical(const array& logits, int axis, const std::optional<array>& key, StreamOrDevice s) {
  axis = categorical_axis(logits, axis);
  Shape shape = logits.shape();
  shape.erase(shape.begin() + axis);
  return categorical_impl(logits, axis, shape, key, s);
}

array multivariate_normal(const array& mean, const array& cov, const Shape& shape, Dtype dtype,
                          const std::optional<array>& key, StreamOrDevice s) {
  const char* op = "multivariate_normal";
  if (dtype != float32) mica::detail::fail(op, "expected dtype float32, got " + dtype_to_string(dtype) + ".");
  if (mean.ndim() < 1) mica::detail::fail(op, "expected a mean with at least one dimension, got a 0-d array.");
  if (cov.ndim() < 2 || cov.shape(-1) != cov.shape(-2))
    mica::detail::fail(op, "expected a covariance of shape (..., n, n), got " + mica::detail::shape_str(cov.shape()) + ".");
  if (cov.shape(-1) != mean.shape(-1))
    mica::detail::fail(op, "expected mean (..., n) and cov (..., n, n) of the same n, got shapes " +
                         mica::detail::shape_str(mean.shape()) + " and " + mica::detail::shape_str(cov.shape()) + ".");
  if (!issubdtype(mean.dtype(), floating) || !issubdtype(cov.dtype(), floating))
    mica::detail::fail(op, "expected floating mean and cov, got " + dtype_to_string(mean.dtype()) + " and " +
                         dtype_to_string(cov.dtype()) + ".");
  check_shape(op, shape);
  const Shape mean_batch(mean.shape().begin(), mean.shape().end() - 1), cov_batch(cov.shape().begin(), cov.shape().end() - 2);
  Shape batch, out;
  try {
    batch = broadcast_shapes(mean_batch, cov_batch);
    out = shape.empty() ? batch : broadcast_shapes(shape, batch);
  } catch (const std::invalid_argument&) {
    mica::detail::fail(op, "expected batch shapes of mean, cov and shape that broadcast together, got " +
                               mica::detail::shape_str(mean_batch) + ", " + mica::detail::shape_str(cov_batch) + " and " +
                               mica::detail::shape_str(shape) + ".");
  }
  if (!shape.empty() && out != shape)
    mica::detail::fail(op, "expected a shape that the batch shape " + mica::detail::shape_str(batch) + " of mean and cov broadcasts to, got " +
                         mica::detail::shape_str(shape) + ".");
  out.push_back(mean.shape(-1));
  // The square root of cov from its SVD, then each sample z (a row) times it.
  auto usv = linalg::svd(astype(cov, float32, s), true, s);
  array root = matmul(multiply(usv[0], expand_dims(sqrt(usv[1], s), -2, s), s), usv[2], s);
  array z = normal(out, float32, std::nullopt, std::nullopt, resolve_key(op, key), s);
  array scaled = squeeze(matmul(expand_dims(z, -2, s), root, s), -2, s);
  return add(astype(mean, float32, s), scaled, s);
}

array laplace(const Shape& shape, Dtype dtype, const float loc, const float scale, const std::optional<array>& key,
              StreamOrDevice s) {
  check_floating("laplace", dtype);
  check_shape("laplace", shape);
  // Inverse CDF: sign(u) * log(1 - |u|) for u uniform in (-1, 1).
  auto u = uniform_impl(array(std::nextafter(-1.0f, 0.0f), float32), array(1.0f, float32), shape, float32,
                        resolve_key("laplace", key), s);
  auto samples = multiply(sign(u, s), log1p(multiply(array(-1.0f, dtype), abs(u, s), s), s), s);
  samples = astype(samples, dtype, s);
  if (scale != 1.0f) samples = multiply(array(scale, dtype), samples, s);
  if (loc != 0.0f) samples = add(array(loc, dtype), samples, s);
  return samples;
}

array permutation(const array& x, int axis, const std::optional<array>& key, StreamOrDevice s) {
  if (x.ndim() == 0) fail("permutation", "expected an array with at least one dimension, got a scalar.");
  int ax = mica::detail::normalize_axis(axis, static_cast<int>(x.ndim()), "permutation");
  return take(x, permutation(x.shape(ax), key, s), ax, s);
}

array permutation(int n, const std::optional<array>& key, StreamOrDevice s) {
  if (n < 0) fail("permutation", "expected a non-negative length, got " + std::to_string(n) + ".");
  return argsort(bits_node({n}, 4, resolve_key("permutation", key), s), s);
}

}  // namespace mica::random
