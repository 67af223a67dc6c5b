// mica::random: counter-based PRNG with explicit keys, as MLX. A key is a uint32 array of
// shape (2); every op takes an optional key and, without one, splits the calling thread's
// global key (seeded from the clock, or by seed()). Same key -> same numbers as MLX.
#pragma once
#include <concepts>
#include <cstdint>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include "mica/array.h"

namespace mica::random {

/** The per-thread global key state that ops without a key draw from. */
class KeySequence {
 public:
  explicit KeySequence(uint64_t seed);
  /** Resets the state to key(seed). */
  void seed(uint64_t seed);
  /** Splits the state: keeps the first half, returns the second as a fresh key. */
  array next();
  /** The calling thread's sequence (first use seeds it from the clock). */
  static KeySequence& default_();

 private:
  uint32_t k0_, k1_;
};

namespace detail {
/** While set on a thread, KeySequence::next() returns what it returns instead of splitting the
 * global key (compile makes the key of a traced function an input of the trace this way). */
using KeyHook = std::function<array()>;
/** Installs `hook` on this thread for the scope's lifetime. */
struct KeyHookScope {
  explicit KeyHookScope(KeyHook* hook);
  ~KeyHookScope();
  KeyHookScope(const KeyHookScope&) = delete;
  KeyHookScope& operator=(const KeyHookScope&) = delete;

 private:
  KeyHook* previous_;
};
}  // namespace detail

/** A PRNG key from a seed: [seed >> 32, seed & 0xffffffff] as uint32. */
array key(uint64_t seed);
/** Seeds the calling thread's global key. */
void seed(uint64_t seed);

/** Random bits: uint32 (width 4), uint16 (2) or uint8 (1) of `shape`. */
array bits(const Shape& shape, int width, const std::optional<array>& key = std::nullopt, StreamOrDevice s = {});
/** Random uint32 bits of `shape`. */
inline array bits(const Shape& shape, const std::optional<array>& key = std::nullopt, StreamOrDevice s = {}) {
  return bits(shape, 4, key, s);
}

/** Splits a key into two new keys. */
std::pair<array, array> split(const array& key, StreamOrDevice s = {});
/** Splits a key into `num` new keys: shape (num, 2). */
array split(const array& key, int num, StreamOrDevice s = {});

namespace detail {
/** A bound given as a C++ number or an array. */
template <typename T>
concept Bound = std::is_arithmetic_v<std::remove_cvref_t<T>> || std::same_as<std::remove_cvref_t<T>, array>;
template <Bound T>
array to_array(T v) {
  if constexpr (std::same_as<std::remove_cvref_t<T>, array>) return v;
  else return array(v);
}
}  // namespace detail

/** Uniform samples in [low, high) of `shape` (low and high broadcast to it); dtype must be a
 * real floating type. */
array uniform(const array& low, const array& high, const Shape& shape, Dtype dtype = float32,
              const std::optional<array>& key = std::nullopt, StreamOrDevice s = {});
template <detail::Bound T, detail::Bound U>
array uniform(T low, U high, const Shape& shape, Dtype dtype = float32, const std::optional<array>& key = std::nullopt,
              StreamOrDevice s = {}) {
  return uniform(detail::to_array(low), detail::to_array(high), shape, dtype, key, s);
}
/** Uniform samples in [0, 1). */
array uniform(const Shape& shape, Dtype dtype, const std::optional<array>& key = std::nullopt, StreamOrDevice s = {});
inline array uniform(const Shape& shape, const std::optional<array>& key = std::nullopt, StreamOrDevice s = {}) {
  return uniform(shape, float32, key, s);
}

/** Normal samples loc + scale * N(0, 1) (complex64: real and imaginary parts each N(0, 1/2)). */
array normal(const Shape& shape, Dtype dtype, const std::optional<array>& loc, const std::optional<array>& scale,
             const std::optional<array>& key, StreamOrDevice s = {});
inline array normal(const Shape& shape, Dtype dtype, const float loc, const float scale,
                    const std::optional<array>& key = std::nullopt, StreamOrDevice s = {}) {
  auto loc_ = loc == 0 ? std::nullopt : std::make_optional(array(loc, dtype));
  auto scale_ = scale == 1 ? std::nullopt : std::make_optional(array(scale, dtype));
  return normal(shape, dtype, loc_, scale_, key, s);
}
inline array normal(const Shape& shape, const float loc, const float scale,
                    const std::optional<array>& key = std::nullopt, StreamOrDevice s = {}) {
  return normal(shape, float32, loc, scale, key, s);
}
inline array normal(const Shape& shape, const Dtype dtype, const std::optional<array>& key = std::nullopt,
                    StreamOrDevice s = {}) {
  return normal(shape, dtype, std::nullopt, std::nullopt, key, s);
}
inline array normal(const Shape& shape, const std::optional<array>& key = std::nullopt, StreamOrDevice s = {}) {
  return normal(shape, float32, std::nullopt, std::nullopt, key, s);
}

/** Integers uniform in [low, high) of an integer or bool dtype (as MLX: a float32 draw,
 * floored and clipped to [low, high - 1]). */
array randint(const array& low, const array& high, const Shape& shape, Dtype dtype = int32,
              const std::optional<array>& key = std::nullopt, StreamOrDevice s = {});
template <detail::Bound T, detail::Bound U>
array randint(T low, U high, const Shape& shape, Dtype dtype = int32, const std::optional<array>& key = std::nullopt,
              StreamOrDevice s = {}) {
  return randint(detail::to_array(low), detail::to_array(high), shape, dtype, key, s);
}

/** Bool samples, true with probability p (a floating array broadcast to `shape`). */
array bernoulli(const array& p, const Shape& shape, const std::optional<array>& key = std::nullopt,
                StreamOrDevice s = {});
/** Bool samples of p's shape. */
array bernoulli(const array& p, const std::optional<array>& key = std::nullopt, StreamOrDevice s = {});
template <typename T>
  requires std::is_arithmetic_v<T>
array bernoulli(T p, const std::optional<array>& key = std::nullopt, StreamOrDevice s = {}) {
  return bernoulli(array(p), key, s);
}
template <typename T>
  requires std::is_arithmetic_v<T>
array bernoulli(T p, const Shape& shape, const std::optional<array>& key = std::nullopt, StreamOrDevice s = {}) {
  return bernoulli(array(p), shape, key, s);
}
/** One bool sample with p = 0.5. */
array bernoulli(const std::optional<array>& key = std::nullopt, StreamOrDevice s = {});

/** Standard normal samples restricted to [lower, upper] (inverse-CDF method). */
array truncated_normal(const array& lower, const array& upper, const Shape& shape, Dtype dtype = float32,
                       const std::optional<array>& key = std::nullopt, StreamOrDevice s = {});
template <detail::Bound T, detail::Bound U>
array truncated_normal(T lower, U upper, const Shape& shape, Dtype dtype = float32,
                       const std::optional<array>& key = std::nullopt, StreamOrDevice s = {}) {
  return truncated_normal(detail::to_array(lower), detail::to_array(upper), shape, dtype, key, s);
}
/** Same, of the broadcast shape of lower and upper. */
array truncated_normal(const array& lower, const array& upper, Dtype dtype = float32,
                       const std::optional<array>& key = std::nullopt, StreamOrDevice s = {});

/** Standard Gumbel samples: -log(-log(U)). */
array gumbel(const Shape& shape, Dtype dtype = float32, const std::optional<array>& key = std::nullopt,
             StreamOrDevice s = {});

/** Samples category indices (uint32) from unnormalized log-probabilities along `axis`; the
 * result has `shape`, which the logits' shape without `axis` must broadcast to. */
array categorical(const array& logits, int axis, const Shape& shape, const std::optional<array>& key = std::nullopt,
                  StreamOrDevice s = {});
/** `num_samples` draws per distribution, appended as the last axis. */
array categorical(const array& logits, int axis, int num_samples, const std::optional<array>& key = std::nullopt,
                  StreamOrDevice s = {});
/** One draw per distribution. */
array categorical(const array& logits, int axis = -1, const std::optional<array>& key = std::nullopt,
                  StreamOrDevice s = {});

/** Laplace samples with location `loc` and scale `scale`. */
array laplace(const Shape& shape, Dtype dtype, const float loc, const float scale,
              const std::optional<array>& key = std::nullopt, StreamOrDevice s = {});
inline array laplace(const Shape& shape, const float loc, const float scale,
                     const std::optional<array>& key = std::nullopt, StreamOrDevice s = {}) {
  return laplace(shape, float32, loc, scale, key, s);
}
inline array laplace(const Shape& shape, const Dtype dtype, const std::optional<array>& key = std::nullopt,
                     StreamOrDevice s = {}) {
  return laplace(shape, dtype, 0.0f, 1.0f, key, s);
}
inline array laplace(const Shape& shape, const std::optional<array>& key = std::nullopt, StreamOrDevice s = {}) {
  return laplace(shape, float32, 0.0f, 1.0f, key, s);
}

/** Jointly normal float32 samples with mean `mean` (..., n) and covariance `cov` (..., n, n),
 * positive semi-definite (else the result is undefined, as MLX): mean + z S with z standard
 * normal of shape `shape` + (n,) (or, for an empty `shape`, the broadcast batch shape of mean and
 * cov) and S = U sqrt(diag s) V^T from the SVD of cov, as MLX computes it (the same numbers for
 * the same key). */
array multivariate_normal(const array& mean, const array& cov, const Shape& shape = {}, Dtype dtype = float32,
                          const std::optional<array>& key = std::nullopt, StreamOrDevice s = {});

/** x with its entries along `axis` randomly shuffled. */
array permutation(const array& x, int axis = 0, const std::optional<array>& key = std::nullopt,
                  StreamOrDevice s = {});
/** A random permutation of arange(n) (uint32, as MLX's argsort). */
array permutation(int n, const std::optional<array>& key = std::nullopt, StreamOrDevice s = {});

}  // namespace mica::random
