// CPU kernels of the sort family. in: any layout; out: in's shape, row-major. Each row along
// the axis is read into a contiguous buffer, sorted (or partitioned) there with the standard
// algorithms and written back; rows run in parallel.
#include <algorithm>
#include <cmath>
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

// Sorted (partition=false) or partitioned at kth values along axis.
template <typename T>
void sort_values(const array& in, array& out, int axis, bool partition, int kth) {
  using K = Key<T>;
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
