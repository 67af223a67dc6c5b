// CPU kernels of the sort family. in: any layout; out: in's shape, row-major. Each row along
// the axis is read into a contiguous buffer, sorted (or partitioned) there and written back;
// rows run in parallel. Sorts of real numbers go through Highway's vectorized quicksort (VQSort):
// 16- and 64-bit values directly; otherwise each entry becomes one wider integer holding an
// order-preserving image of its key above its index, so equal keys keep their index order
// (argsort is stable) and a value sort reads the values back by index. (Debian's Highway 1.0.3
// sorts 32-bit keys 4.5x slower than 64-bit ones, hence no direct 32-bit path.) Partitions and
// complex numbers use the standard algorithms.
#include <hwy/contrib/sort/vqsort.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <utility>

#include "mica/backend/cpu/parallel.h"
#include "mica/backend/cpu/strided.h"
#include "mica/primitives/sort.h"
#include "mica/types/cast.h"

namespace mica {

namespace {

// The type values are compared in: halves as float, bool as uint8 (no vector<bool> tricks).
template <typename T>
using Key = std::conditional_t<is_half_v<T>, float, std::conditional_t<std::is_same_v<T, bool>, uint8_t, T>>;

// Strict weak order with NaNs after every number (all NaNs equivalent).
template <typename K>
bool nan_less(K a, K b) {
  if constexpr (std::is_floating_point_v<K>) return !std::isnan(a) && (std::isnan(b) || a < b);
  else return a < b;
}
// Complex numbers: by real part, then imaginary part, each NaN-last.
template <typename K>
bool key_less(const K& a, const K& b) {
  if constexpr (is_complex_v<K>) {
    if (nan_less(a.real(), b.real())) return true;
    if (nan_less(b.real(), a.real())) return false;
    return nan_less(a.imag(), b.imag());
  } else {
    return nan_less(a, b);
  }
}
// Equal keys keep their index order: a total order, so unstable algorithms act stably.
template <typename K>
bool pair_less(const std::pair<K, uint32_t>& a, const std::pair<K, uint32_t>& b) {
  if (key_less(a.first, b.first)) return true;
  if (key_less(b.first, a.first)) return false;
  return a.second < b.second;
}

// Calls f(in_offset, out_offset, buffer) for every row along `axis`, rows split over threads.
// S is the scratch element type (one buffer of the row length per thread).
template <typename S, typename F>
void for_each_axis_row(const array& in, const array& out, int axis, F&& f) {
  int64_t n = in.shape(axis);
  Shape shape = in.shape();
  Strides is = in.strides(), os = out.strides();
  shape.erase(shape.begin() + axis);
  is.erase(is.begin() + axis);
  os.erase(os.begin() + axis);
  auto c = cpu::collapse_dims<2>(shape, {is, os});
  int64_t total = cpu::num_rows(c) * c.shape.back();
  // Sorting costs about n log n per row; aim for ~2^15 element-steps per work item.
  int64_t grain = std::max<int64_t>(1, cpu::kElementwiseGrain / std::max<int64_t>(1, n * 4));
  cpu::parallel_for(total, grain, [&](int64_t b, int64_t e) {
    std::unique_ptr<S[]> buf(new S[n]);
    cpu::for_each_row_part(c, b, e, [&](const std::array<int64_t, 2>& off, int64_t lo, int64_t hi, const std::array<int64_t, 2>& st) {
      for (int64_t i = lo; i < hi; ++i) f(off[0] + i * st[0], off[1] + i * st[1], buf.get());
    });
  });
}

// The value types VQSort sorts directly (and fast). Not double: Debian's Highway 1.0.3 returns
// the largest finite double where the input had +inf (doubles go through their ordered bits).
template <typename K>
constexpr bool kVectorSorted = std::is_same_v<K, int16_t> || std::is_same_v<K, uint16_t> ||
                               std::is_same_v<K, int64_t> || std::is_same_v<K, uint64_t>;

// One sorter per thread (it keeps its scratch space).
hwy::Sorter& sorter() {
  thread_local hwy::Sorter s;
  return s;
}

// An unsigned integer whose order is the order of the (non-NaN) keys: floats by their bits with
// the sign folded (-0 counted as +0, so that it ties with 0 as under `<`), signed integers with
// the sign bit flipped. U is uint32_t for keys of up to 32 bits, uint64_t for 64-bit keys.
template <typename U, typename K>
U ordered(K x) {
  if constexpr (std::is_floating_point_v<K>) {
    if (x == 0) x = 0;
    using B = std::conditional_t<sizeof(K) == 4, uint32_t, uint64_t>;
    B b = std::bit_cast<B>(x);
    constexpr B sign = B(1) << (8 * sizeof(B) - 1);
    return static_cast<U>((b & sign) ? ~b : (b | sign));
  } else if constexpr (std::is_signed_v<K>) {
    using S = std::conditional_t<sizeof(U) == 4, int32_t, int64_t>;
    return static_cast<U>(static_cast<S>(x)) ^ (U(1) << (8 * sizeof(U) - 1));
  } else {
    return static_cast<U>(x);
  }
}

// Order used once NaNs are out of the way: plain `<` except for complex (key_less).
template <typename K>
auto value_order() {
  if constexpr (is_complex_v<K>) return key_less<K>;
  else return std::less<K>();
}
template <typename K>
auto pair_order() {
  if constexpr (is_complex_v<K>) return pair_less<K>;
  else return std::less<std::pair<K, uint32_t>>();  // by value, then index
}

// Sorts the row's non-NaN entries by key through VQSort, each packed as (ordered key, index)
// in one wider unsigned integer (uint64 for keys of up to 32 bits, Highway's 128-bit pair for
// 64-bit keys), so the integer order is the key order with ties broken by index. Returns how
// many entries were not NaN; index(buf[k]) is the k-th of them in sorted order.
template <typename K>
using Packed = std::conditional_t<sizeof(K) == 8, hwy::uint128_t, uint64_t>;
template <typename K>
uint32_t index_of(const Packed<K>& e) {
  if constexpr (sizeof(K) == 8) return static_cast<uint32_t>(e.lo);
  else return static_cast<uint32_t>(e);
}
template <typename T>
int64_t sort_row(const T* src, int64_t io, int64_t si, int64_t n, Packed<Key<T>>* buf) {
  using K = Key<T>;
  int64_t m = 0;
  for (int64_t j = 0; j < n; ++j) {
    K x = static_cast<K>(src[io + j * si]);
    if constexpr (std::is_floating_point_v<K>) {
      if (std::isnan(x)) continue;
    }
    if constexpr (sizeof(K) == 8) buf[m++] = hwy::uint128_t{static_cast<uint64_t>(j), ordered<uint64_t>(x)};
    else buf[m++] = (static_cast<uint64_t>(ordered<uint32_t>(x)) << 32) | static_cast<uint64_t>(j);
  }
  sorter()(buf, static_cast<size_t>(m), hwy::SortAscending());
  return m;
}

// The indices of the NaNs of a row, in index order, written after the first m outputs.
template <typename T, typename F>
void emit_nans(const T* src, int64_t io, int64_t si, int64_t n, int64_t m, F&& emit) {
  using K = Key<T>;
  if constexpr (std::is_floating_point_v<K>) {
    for (int64_t j = 0, t = m; j < n && t < n; ++j)
      if (std::isnan(static_cast<K>(src[io + j * si]))) emit(t++, j);
  }
}

// argsort of real keys along axis (stable: equal keys keep index order; NaNs last).
template <typename T>
void vector_argsort(const array& in, array& out, int axis) {
  int64_t n = in.shape(axis), si = in.strides()[axis], so = out.strides()[axis];
  const T* src = in.data<T>();
  uint32_t* dst = out.data<uint32_t>();
  for_each_axis_row<Packed<Key<T>>>(in, out, axis, [&](int64_t io, int64_t oo, Packed<Key<T>>* buf) {
    int64_t m = sort_row<T>(src, io, si, n, buf);
    for (int64_t k = 0; k < m; ++k) dst[oo + k * so] = index_of<Key<T>>(buf[k]);
    emit_nans<T>(src, io, si, n, m, [&](int64_t k, int64_t j) { dst[oo + k * so] = static_cast<uint32_t>(j); });
  });
}

// sort of real values whose keys VQSort has no fast direct path for: the sorted order, then the
// values read back by index (so NaN payloads and the sign of zero come through unchanged).
template <typename T>
void vector_sort_values(const array& in, array& out, int axis) {
  int64_t n = in.shape(axis), si = in.strides()[axis], so = out.strides()[axis];
  const T* src = in.data<T>();
  T* dst = out.data<T>();
  for_each_axis_row<Packed<Key<T>>>(in, out, axis, [&](int64_t io, int64_t oo, Packed<Key<T>>* buf) {
    int64_t m = sort_row<T>(src, io, si, n, buf);
    for (int64_t k = 0; k < m; ++k) dst[oo + k * so] = src[io + int64_t(index_of<Key<T>>(buf[k])) * si];
    emit_nans<T>(src, io, si, n, m, [&](int64_t k, int64_t j) { dst[oo + k * so] = src[io + j * si]; });
  });
}

// sort of doubles: each number's bits mapped to an unsigned integer of the same order (negative:
// all bits flipped; positive: the sign bit set; -0 just before +0, reversibly), sorted by VQSort
// as uint64, mapped back; NaNs after, read back in index order (payloads kept).
void sort_doubles(const array& in, array& out, int axis) {
  int64_t n = in.shape(axis), si = in.strides()[axis], so = out.strides()[axis];
  const double* src = in.data<double>();
  double* dst = out.data<double>();
  constexpr uint64_t sign = uint64_t(1) << 63;
  for_each_axis_row<uint64_t>(in, out, axis, [&](int64_t io, int64_t oo, uint64_t* buf) {
    int64_t m = 0;
    for (int64_t j = 0; j < n; ++j) {
      double x = src[io + j * si];
      if (std::isnan(x)) continue;
      uint64_t b = std::bit_cast<uint64_t>(x);
      buf[m++] = (b & sign) ? ~b : (b | sign);
    }
    sorter()(buf, static_cast<size_t>(m), hwy::SortAscending());
    for (int64_t k = 0; k < m; ++k) {
      uint64_t u = buf[k];
      dst[oo + k * so] = std::bit_cast<double>((u & sign) ? (u & ~sign) : ~u);
    }
    emit_nans<double>(src, io, si, n, m, [&](int64_t k, int64_t j) { dst[oo + k * so] = src[io + j * si]; });
  });
}

// Sorted (partition=false) or partitioned at kth values along axis.
template <typename T>
void sort_values(const array& in, array& out, int axis, bool partition, int kth) {
  using K = Key<T>;
  if constexpr (std::is_same_v<T, double>) {
    if (!partition) return sort_doubles(in, out, axis);
  } else if constexpr (std::is_arithmetic_v<K> && !kVectorSorted<K> && sizeof(K) >= 2) {
    if (!partition) return vector_sort_values<T>(in, out, axis);
  }
  int64_t n = in.shape(axis), si = in.strides()[axis], so = out.strides()[axis];
  const T* src = in.data<T>();
  T* dst = out.data<T>();
  for_each_axis_row<K>(in, out, axis, [&](int64_t io, int64_t oo, K* buf) {
    int64_t m = n;  // entries before the NaNs
    if constexpr (std::is_floating_point_v<K>) {
      // NaNs go last: sort only the numbers, with plain `<`.
      m = 0;
      for (int64_t j = 0; j < n; ++j) {
        K x = static_cast<K>(src[io + j * si]);
        if (!std::isnan(x)) buf[m++] = x;
      }
      for (int64_t j = m; j < n; ++j) buf[j] = std::numeric_limits<K>::quiet_NaN();
    } else {
      for (int64_t j = 0; j < n; ++j) buf[j] = static_cast<K>(src[io + j * si]);
    }
    if (partition) {
      if (kth < m) std::nth_element(buf, buf + kth, buf + m, value_order<K>());
    } else if constexpr (kVectorSorted<K>) {
      sorter()(buf, static_cast<size_t>(m), hwy::SortAscending());
    } else {
      std::sort(buf, buf + m, value_order<K>());
    }
    for (int64_t j = 0; j < n; ++j) dst[oo + j * so] = cast_to<T>(buf[j]);
  });
}

// uint32 indices that sort (or partition at kth) along axis; ties keep index order.
template <typename T>
void sort_indices(const array& in, array& out, int axis, bool partition, int kth) {
  using K = Key<T>;
  if constexpr (std::is_arithmetic_v<K>) {
    if (!partition) return vector_argsort<T>(in, out, axis);
  }
  using P = std::pair<K, uint32_t>;
  int64_t n = in.shape(axis), si = in.strides()[axis], so = out.strides()[axis];
  const T* src = in.data<T>();
  uint32_t* dst = out.data<uint32_t>();
  for_each_axis_row<P>(in, out, axis, [&](int64_t io, int64_t oo, P* buf) {
    int64_t m = n;  // entries before the NaNs
    if constexpr (std::is_floating_point_v<K>) {
      // Numbers first, then NaNs in index order (already sorted among themselves).
      m = 0;
      for (int64_t j = 0; j < n; ++j) {
        K x = static_cast<K>(src[io + j * si]);
        if (!std::isnan(x)) buf[m++] = P(x, static_cast<uint32_t>(j));
      }
      int64_t t = m;
      for (int64_t j = 0; j < n && t < n; ++j) {
        K x = static_cast<K>(src[io + j * si]);
        if (std::isnan(x)) buf[t++] = P(x, static_cast<uint32_t>(j));
      }
    } else {
      for (int64_t j = 0; j < n; ++j) buf[j] = P(static_cast<K>(src[io + j * si]), static_cast<uint32_t>(j));
    }
    if (partition) {
      if (kth < m) std::nth_element(buf, buf + kth, buf + m, pair_order<K>());
    } else {
      std::sort(buf, buf + m, pair_order<K>());
    }
    for (int64_t j = 0; j < n; ++j) dst[oo + j * so] = buf[j].second;
  });
}

void run(const array& in, array& out, int axis, bool indices, bool partition, int kth) {
  // in: any layout, sorted along axis; out: in's shape, row-major (uint32 for indices).
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  dispatch_dtype(in.dtype(), [&](auto t) {
    using T = typename decltype(t)::type;
    if (indices) sort_indices<T>(in, out, axis, partition, kth);
    else sort_values<T>(in, out, axis, partition, kth);
  });
}
}  // namespace

void Sort::eval_cpu(const std::vector<array>& inputs, array& out) { run(inputs[0], out, axis(), false, false, 0); }
void ArgSort::eval_cpu(const std::vector<array>& inputs, array& out) { run(inputs[0], out, axis(), true, false, 0); }
void Partition::eval_cpu(const std::vector<array>& inputs, array& out) { run(inputs[0], out, axis(), false, true, kth()); }
void ArgPartition::eval_cpu(const std::vector<array>& inputs, array& out) {
  run(inputs[0], out, axis(), true, true, kth());
}

}  // namespace mica
