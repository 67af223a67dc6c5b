// Pieces shared by the reduce-family kernels (reductions, scans, softmax, norms): accumulator
// types, combine operations, a multi-index walker and vectorizable row loops.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

#include "mica/array.h"
#include "mica/backend/cpu/copy.h"
#include "mica/backend/cpu/parallel.h"
#include "mica/backend/cpu/simd/math.h"
#include "mica/types/cast.h"
#include "mica/types/wrapping.h"

namespace mica::cpu::red {

/** Work (elements) per thread below which a kernel stays on one thread. */
inline constexpr int64_t kGrain = 1 << 15;

/** The type a value of T is accumulated in: float for the half types, T otherwise. */
template <typename T>
using acc_t = std::conditional_t<is_half_v<T>, float, T>;

template <typename T>
inline bool is_nan(T x) {
  if constexpr (std::is_floating_point_v<T>) return x != x;
  else return false;
}

/** a > b; complex numbers compare by real part, then imaginary part (as MLX). */
template <typename T>
inline bool greater(T a, T b) {
  if constexpr (is_complex_v<T>) return a.real() > b.real() || (a.real() == b.real() && a.imag() > b.imag());
  else return a > b;
}

/** The smallest and largest values of an accumulator type (infinities for floats). */
template <typename A>
inline A lowest() {
  if constexpr (std::is_same_v<A, bool>) return false;
  else if constexpr (is_complex_v<A>) return A(-std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity());
  else if constexpr (std::is_floating_point_v<A>) return -std::numeric_limits<A>::infinity();
  else return std::numeric_limits<A>::lowest();
}
template <typename A>
inline A highest() {
  if constexpr (std::is_same_v<A, bool>) return true;
  else if constexpr (is_complex_v<A>) return A(std::numeric_limits<float>::infinity(), std::numeric_limits<float>::infinity());
  else if constexpr (std::is_floating_point_v<A>) return std::numeric_limits<A>::infinity();
  else return std::numeric_limits<A>::max();
}

// Combine operations: A is the accumulator type, init() the identity.
template <typename T>
struct SumOp {
  using A = T;
  static A init() { return A(0); }
  A operator()(A a, A b) const { return wrapping_add(a, b); }
};
template <typename T>
struct ProdOp {
  using A = T;
  static A init() { return A(1); }
  A operator()(A a, A b) const {
    if constexpr (std::is_same_v<A, bool>) return a && b;
    else return wrapping_mul(a, b);
  }
};
// Max and Min propagate NaN: once an operand is NaN the result is NaN.
template <typename T>
struct MaxOp {
  using A = T;
  static A init() { return lowest<A>(); }
  A operator()(A a, A b) const {
    if constexpr (std::is_same_v<A, bool>) return a || b;
    else return (is_nan(a) || greater(a, b)) ? a : b;
  }
};
template <typename T>
struct MinOp {
  using A = T;
  static A init() { return highest<A>(); }
  A operator()(A a, A b) const {
    if constexpr (std::is_same_v<A, bool>) return a && b;
    else return (is_nan(a) || greater(b, a)) ? a : b;
  }
};
struct AndOp {
  using A = bool;
  static A init() { return true; }
  A operator()(A a, A b) const { return a && b; }
};
struct OrOp {
  using A = bool;
  static A init() { return false; }
  A operator()(A a, A b) const { return a || b; }
};
/** log(exp(a) + exp(b)) for real floating A; -inf is the identity. */
template <typename T>
struct LogAddExpOp {
  using A = T;
  static A init() { return -std::numeric_limits<A>::infinity(); }
  A operator()(A a, A b) const {
    if (is_nan(a) || is_nan(b)) return a + b;
    A hi = a > b ? a : b, lo = a > b ? b : a;
    if (lo == -std::numeric_limits<A>::infinity() || hi == std::numeric_limits<A>::infinity()) return hi;
    return hi + std::log1p(std::exp(lo - hi));
  }
};

/** A row-major multi-index over `shape` that keeps one offset per stride set. */
template <size_t N>
struct Walker {
  const Shape& shape;
  std::array<const Strides*, N> strides;
  std::vector<int64_t> idx;
  std::array<int64_t, N> off{};

  Walker(const Shape& s, std::array<const Strides*, N> st, int64_t start = 0) : shape(s), strides(st), idx(s.size()) {
    seek(start);
  }
  void seek(int64_t linear) {
    off.fill(0);
    for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
      idx[d] = linear % shape[d];
      linear /= shape[d];
      for (size_t k = 0; k < N; ++k) off[k] += idx[d] * (*strides[k])[d];
    }
  }
  void next() {
    for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
      for (size_t k = 0; k < N; ++k) off[k] += (*strides[k])[d];
      if (++idx[d] < shape[d]) return;
      for (size_t k = 0; k < N; ++k) off[k] -= (*strides[k])[d] * shape[d];
      idx[d] = 0;
    }
  }
};

/** Product of a shape's dims. */
inline int64_t prod(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

/** Reduces n contiguous elements with several independent accumulators, so the compiler
 * vectorizes the loop without reassociating it; blocks bound the rounding error of floats. */
template <typename Op, typename I>
typename Op::A reduce_contig(const I* p, int64_t n, Op op) {
  using A = typename Op::A;
  constexpr int K = sizeof(A) >= 8 ? 16 : (128 / static_cast<int>(sizeof(A)) > 32 ? 32 : 128 / static_cast<int>(sizeof(A)));
  constexpr int64_t kBlock = 4096;
  A total = Op::init();
  for (int64_t b = 0; b < n; b += kBlock) {
    int64_t e = std::min(n, b + kBlock);
    A acc[K];
    for (int k = 0; k < K; ++k) acc[k] = Op::init();
    int64_t i = b;
    for (; i + K <= e; i += K) {
      for (int k = 0; k < K; ++k) acc[k] = op(acc[k], cast_to<A>(p[i + k]));
    }
    for (int64_t t = 0; t < e - i; ++t) acc[0] = op(acc[0], cast_to<A>(p[i + t]));
    for (int w = K / 2; w > 0; w /= 2) {
      for (int k = 0; k < w; ++k) acc[k] = op(acc[k], acc[k + w]);
    }
    total = op(total, acc[0]);
  }
  return total;
}

/** acc[j] = op(acc[j], p[j]) for j < m (vectorizes across j). */
template <typename Op, typename I>
inline void accumulate_cols(typename Op::A* __restrict acc, const I* __restrict p, int64_t m, Op op) {
  using A = typename Op::A;
  for (int64_t j = 0; j < m; ++j) acc[j] = op(acc[j], cast_to<A>(p[j]));
}

/** acc[j] = op(acc[j], p[j] . p[j + s] . p[j + 2s] . p[j + 3s]) for j < m: four input rows per
 * pass over the accumulators, so they are loaded and stored a quarter as often. */
template <typename Op, typename I>
inline void accumulate_cols4(typename Op::A* __restrict acc, const I* __restrict p, int64_t s, int64_t m, Op op) {
  using A = typename Op::A;
  const I* __restrict p1 = p + s;
  const I* __restrict p2 = p + 2 * s;
  const I* __restrict p3 = p + 3 * s;
  for (int64_t j = 0; j < m; ++j) {
    A a = op(cast_to<A>(p[j]), cast_to<A>(p1[j]));
    A b = op(cast_to<A>(p2[j]), cast_to<A>(p3[j]));
    acc[j] = op(acc[j], op(a, b));
  }
}

// Row helpers for the softmax and norm kernels; T is float or double.

/** Largest element, ignoring NaN (-inf for an all-NaN or empty row). */
template <typename T>
T row_max(const T* x, int64_t n) {
  constexpr int K = 32 / sizeof(T) * 2;
  T acc[K];
  for (int k = 0; k < K; ++k) acc[k] = -std::numeric_limits<T>::infinity();
  int64_t i = 0;
  for (; i + K <= n; i += K) {
    for (int k = 0; k < K; ++k) acc[k] = x[i + k] > acc[k] ? x[i + k] : acc[k];
  }
  for (int64_t t = 0; t < n - i; ++t) acc[0] = x[i + t] > acc[0] ? x[i + t] : acc[0];
  T m = acc[0];
  for (int k = 1; k < K; ++k) m = acc[k] > m ? acc[k] : m;
  return m;
}

/** Sum of a row. */
template <typename T>
T row_sum(const T* x, int64_t n) {
  return reduce_contig(x, n, SumOp<T>{});
}

/** Sum of (x - c)^2 over a row. */
template <typename T>
T row_sum_sq_dev(const T* x, int64_t n, T c) {
  constexpr int K = 32 / sizeof(T) * 2;
  T total = 0;
  for (int64_t b = 0; b < n; b += 4096) {
    int64_t e = std::min<int64_t>(n, b + 4096);
    T acc[K] = {};
    int64_t i = b;
    for (; i + K <= e; i += K) {
      for (int k = 0; k < K; ++k) {
        T d = x[i + k] - c;
        acc[k] += d * d;
      }
    }
    for (int64_t t = 0; t < e - i; ++t) {
      T d = x[i + t] - c;
      acc[0] += d * d;
    }
    for (int w = K / 2; w > 0; w /= 2) {
      for (int k = 0; k < w; ++k) acc[k] += acc[k + w];
    }
    total += acc[0];
  }
  return total;
}

/** exp: the vectorizable approximation for float, libm for double. */
inline float exp_of(float x) { return simd::exp_f32(x); }
inline double exp_of(double x) { return std::exp(x); }

/** y[i] = exp(x[i] - m). */
template <typename T>
void row_exp_shifted(const T* __restrict x, T* __restrict y, int64_t n, T m) {
  for (int64_t i = 0; i < n; ++i) y[i] = exp_of(x[i] - m);
}

/** True when the row holds a NaN. */
template <typename T>
bool row_has_nan(const T* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (x[i] != x[i]) return true;
  }
  return false;
}

/** Converts n elements between storage types (half <-> float, or a copy). */
template <typename To, typename From>
void convert_row(const From* __restrict src, To* __restrict dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = cast_to<To>(src[i]);
}

/** An uninitialized scratch array (works for bool, unlike std::vector<bool>). */
template <typename T>
std::unique_ptr<T[]> scratch(int64_t n) {
  return std::unique_ptr<T[]>(new T[static_cast<size_t>(std::max<int64_t>(n, 1))]);
}

/** Applies fn(x_row, y_row, n) to every last-axis row of `in` (made row-major), writing
 * out_n values per row into out (row-major, allocated here); half rows go through float. */
template <typename T, typename RowFn>
void for_rows(const array& in_arg, array& out, int64_t out_n, RowFn fn) {
  using C = acc_t<T>;
  array in = cpu::ensure_row_contiguous(in_arg);
  out.set_data(allocator::malloc(out.nbytes()));
  const int64_t n = in.ndim() == 0 ? 1 : in.shape().back();
  const int64_t rows = n == 0 ? 0 : static_cast<int64_t>(in.size()) / n;
  if (rows == 0) return;
  const T* src = in.data<T>();
  T* dst = out.data<T>();
  parallel_for(rows, std::max<int64_t>(1, kGrain / n), [&](int64_t rb, int64_t re) {
    if constexpr (std::is_same_v<T, C>) {
      for (int64_t r = rb; r < re; ++r) fn(src + r * n, dst + r * out_n, n);
    } else {
      auto xs = scratch<C>(n);
      auto ys = scratch<C>(out_n);
      for (int64_t r = rb; r < re; ++r) {
        convert_row(src + r * n, xs.get(), n);
        fn(xs.get(), ys.get(), n);
        convert_row(ys.get(), dst + r * out_n, out_n);
      }
    }
  });
}

}  // namespace mica::cpu::red
