// CPU kernels of the indexing family: windowed gather/scatter, their along-axis forms and
// masked scatter. Index arrays have any integer dtype and any layout; outputs are row-major.
// Out-of-range indices: negative ones count from the end once; gathers then clamp, scatters
// drop the update (see primitives/indexing.h), so no kernel touches memory outside its arrays.
#include <cmath>
#include <cstring>
#include <numeric>
#include <stdexcept>

#include "mica/backend/cpu/copy.h"
#include "mica/backend/cpu/parallel.h"
#include "mica/backend/cpu/strided.h"
#include "mica/primitives/indexing.h"
#include "mica/types/cast.h"
#include "mica/types/wrapping.h"

namespace mica {

namespace {
using cpu::kElementwiseGrain;

int64_t shape_size(const Shape& s) {
  return std::accumulate(s.begin(), s.end(), int64_t{1}, std::multiplies<int64_t>());
}

// Calls f(type_tag<U>) with U an unsigned type of `size` bytes: moving elements needs no dtype.
template <typename F>
void dispatch_bytes(size_t size, F&& f) {
  switch (size) {
    case 1: return f(type_tag<uint8_t>{});
    case 2: return f(type_tag<uint16_t>{});
    case 4: return f(type_tag<uint32_t>{});
    default: return f(type_tag<uint64_t>{});
  }
}

// Calls f(type_tag<I>) for an integer index dtype.
template <typename F>
void dispatch_index(Dtype d, F&& f) {
  dispatch_dtype(d, [&](auto t) {
    using I = typename decltype(t)::type;
    if constexpr (std::is_integral_v<I> && !std::is_same_v<I, bool>) {
      f(t);
    } else {
      throw std::runtime_error("[indexing] kernel got indices of dtype " + dtype_to_string(d) +
                               " (the op should have rejected them).");
    }
  });
}

// Negative indices count from the end once; gathers then clamp into [0, hi].
inline int64_t clamp_index(int64_t i, int64_t dim, int64_t hi) {
  if (i < 0) i += dim;
  return i < 0 ? 0 : (i > hi ? hi : i);
}
// Same wrap for scatters; -1 marks an update to drop.
inline int64_t wrap_index(int64_t i, int64_t dim, int64_t hi) {
  if (i < 0) i += dim;
  return (i < 0 || i > hi) ? -1 : i;
}

// The row-major values of an index array (any dtype and layout) as int64; uint64 values past
// int64's range become negative and so count as out of range.
std::vector<int64_t> read_indices(const array& idx) {
  std::vector<int64_t> v(idx.size());
  if (v.empty()) return v;
  array dst(allocator::Buffer{v.data(), v.size() * sizeof(int64_t)}, idx.shape(), int64, [](allocator::Buffer) {});
  cpu::copy_into(idx, dst);
  return v;
}

// out = a (same shape), row-major; a's buffer is reused when nobody else holds it.
void init_from(const array& a, array& out) {
  if (a.flags().row_contiguous && a.is_donatable() && a.dtype() == out.dtype() && a.shape() == out.shape()) {
    out.copy_shared_buffer(a);
    return;
  }
  out.set_data(allocator::malloc(out.nbytes()));
  cpu::copy_into(a, out);
}

// Shape and strides with one axis removed.
Shape drop_axis(const Shape& s, int axis) {
  Shape r = s;
  r.erase(r.begin() + axis);
  return r;
}
Strides drop_axis(const Strides& s, int axis) {
  Strides r = s;
  r.erase(r.begin() + axis);
  return r;
}

template <typename T>
bool is_nan(T x) {
  if constexpr (is_half_v<T>) return std::isnan(static_cast<float>(x));
  else if constexpr (std::is_floating_point_v<T>) return std::isnan(x);
  else if constexpr (is_complex_v<T>) return std::isnan(x.real()) || std::isnan(x.imag());
  else return false;
}
// x < y; complex numbers compare by real part, then imaginary part.
template <typename T>
bool less_value(T x, T y) {
  if constexpr (is_half_v<T>) return static_cast<float>(x) < static_cast<float>(y);
  else if constexpr (is_complex_v<T>) return x.real() < y.real() || (x.real() == y.real() && x.imag() < y.imag());
  else return x < y;
}

struct SumOp {
  template <typename T>
  T operator()(T x, T u) const {
    if constexpr (std::is_same_v<T, bool>) return x || u;
    else if constexpr (is_half_v<T>) return T(static_cast<float>(x) + static_cast<float>(u));
    else return wrapping_add(x, u);
  }
};
struct ProdOp {
  template <typename T>
  T operator()(T x, T u) const {
    if constexpr (std::is_same_v<T, bool>) return x && u;
    else if constexpr (is_half_v<T>) return T(static_cast<float>(x) * static_cast<float>(u));
    else return wrapping_mul(x, u);
  }
};
// Max and min let a NaN in (and keep it), as maximum/minimum do.
struct MaxOp {
  template <typename T>
  T operator()(T x, T u) const { return (is_nan(u) || less_value(x, u)) ? u : x; }
};
struct MinOp {
  template <typename T>
  T operator()(T x, T u) const { return (is_nan(u) || less_value(u, x)) ? u : x; }
};
struct AssignOp {
  template <typename T>
  T operator()(T, T u) const { return u; }
};

// Calls f(type_tag<T>, op) with the element type and the combining functor of a scatter.
template <typename F>
void dispatch_scatter(Scatter::ReduceType type, Dtype d, F&& f) {
  switch (type) {
    case Scatter::None: return dispatch_bytes(d.size, [&](auto t) { f(t, AssignOp{}); });
    case Scatter::Sum: return dispatch_dtype(d, [&](auto t) { f(t, SumOp{}); });
    case Scatter::Prod: return dispatch_dtype(d, [&](auto t) { f(t, ProdOp{}); });
    case Scatter::Max: return dispatch_dtype(d, [&](auto t) { f(t, MaxOp{}); });
    case Scatter::Min: return dispatch_dtype(d, [&](auto t) { f(t, MinOp{}); });
  }
}
}  // namespace

void Gather::eval_cpu(const std::vector<array>& inputs, array& out) {
  // a: any layout, N dims; inputs[1..k]: indices, shape I; out: I + slice_sizes_, row-major.
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  const array& a = inputs[0];
  int64_t slice = shape_size(slice_sizes_);
  int64_t npos = static_cast<int64_t>(out.size()) / slice;
  // Offset in a of each window's first element.
  std::vector<int64_t> base(npos, 0);
  for (size_t k = 0; k < axes_.size(); ++k) {
    int ax = axes_[k];
    int64_t dim = a.shape(ax), hi = dim - slice_sizes_[ax], st = a.strides()[ax];
    auto idx = read_indices(inputs[k + 1]);
    for (int64_t p = 0; p < npos; ++p) base[p] += clamp_index(idx[p], dim, hi) * st;
  }
  auto c = cpu::collapse_dims<2>(slice_sizes_, {a.strides(), row_strides(slice_sizes_)});
  int64_t nrows = cpu::num_rows(c), inner = c.shape.back();
  dispatch_bytes(a.itemsize(), [&](auto t) {
    using U = typename decltype(t)::type;
    const U* src = a.data<U>();
    U* dst = out.data<U>();
    // Work items are (window, row of the window) pairs, so one huge window still splits.
    cpu::parallel_for(npos * nrows, std::max<int64_t>(1, kElementwiseGrain / inner), [&](int64_t b, int64_t e) {
      while (b < e) {
        int64_t p = b / nrows, r0 = b % nrows, r1 = std::min(nrows, r0 + (e - b));
        const U* s = src + base[p];
        U* d = dst + p * slice;
        cpu::for_each_row(c, r0, r1, [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
          if (st[0] == 1 && st[1] == 1) {
            std::memcpy(d + off[1], s + off[0], n * sizeof(U));
          } else {
            for (int64_t i = 0; i < n; ++i) d[off[1] + i * st[1]] = s[off[0] + i * st[0]];
          }
        });
        b += r1 - r0;
      }
    });
  });
}

void Scatter::eval_cpu(const std::vector<array>& inputs, array& out) {
  // a: any layout; inputs[1..k]: indices, shape I; updates: I + U with U[d] <= a.shape[d];
  // out: a's shape, row-major. Windows are applied in row-major order of I (last one wins).
  const array& upd = inputs.back();
  init_from(inputs[0], out);
  if (upd.size() == 0 || out.size() == 0) return;
  int ni = static_cast<int>(upd.ndim() - out.ndim());
  Shape ushape(upd.shape().begin() + ni, upd.shape().end());
  Strides ustr(upd.strides().begin() + ni, upd.strides().end());
  int64_t npos = static_cast<int64_t>(upd.size()) / shape_size(ushape);
  // Offset of each window in out (-1: dropped, an index out of range) and in updates.
  std::vector<int64_t> obase(npos, 0), ubase(npos, 0);
  for (size_t k = 0; k < axes_.size(); ++k) {
    int ax = axes_[k];
    int64_t dim = out.shape(ax), hi = dim - ushape[ax], st = out.strides()[ax];
    auto idx = read_indices(inputs[k + 1]);
    for (int64_t p = 0; p < npos; ++p) {
      if (obase[p] < 0) continue;
      int64_t w = wrap_index(idx[p], dim, hi);
      obase[p] = w < 0 ? -1 : obase[p] + w * st;
    }
  }
  {
    std::vector<int64_t> ix(ni, 0);
    int64_t off = 0;
    for (int64_t p = 0; p < npos; ++p) {
      ubase[p] = off;
      for (int d = ni - 1; d >= 0; --d) {
        off += upd.strides()[d];
        if (++ix[d] < upd.shape(d)) break;
        off -= upd.strides()[d] * upd.shape(d);
        ix[d] = 0;
      }
    }
  }
  auto c = cpu::collapse_dims<2>(ushape, {out.strides(), ustr});
  int64_t nrows = cpu::num_rows(c), inner = c.shape.back();
  bool split = nrows * inner >= 2 * kElementwiseGrain;
  dispatch_scatter(type_, out.dtype(), [&](auto t, auto op) {
    using T = typename decltype(t)::type;
    T* dst = out.data<T>();
    const T* src = upd.data<T>();
    // Windows may overlap, so they run in order; a large window splits its rows over threads.
    for (int64_t p = 0; p < npos; ++p) {
      if (obase[p] < 0) continue;
      T* d = dst + obase[p];
      const T* s = src + ubase[p];
      auto rows = [&](int64_t b, int64_t e) {
        cpu::for_each_row(c, b, e, [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
          for (int64_t i = 0; i < n; ++i) {
            T& x = d[off[0] + i * st[0]];
            x = op(x, s[off[1] + i * st[1]]);
          }
        });
      };
      if (split) cpu::parallel_for(nrows, std::max<int64_t>(1, kElementwiseGrain / inner), rows);
      else rows(0, nrows);
    }
  });
}

void GatherAxis::eval_cpu(const std::vector<array>& inputs, array& out) {
  // a, idx: any layout, same shape except along axis_; out: idx's shape, row-major.
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  const array& a = inputs[0];
  const array& idx = inputs[1];
  int ax = axis_;
  int64_t dim = a.shape(ax), m = out.shape(ax);
  int64_t sa = a.strides()[ax], si = idx.strides()[ax], so = out.strides()[ax];
  auto c = cpu::collapse_dims<3>(drop_axis(out.shape(), ax),
                                 {drop_axis(a.strides(), ax), drop_axis(idx.strides(), ax), drop_axis(out.strides(), ax)});
  int64_t inner = c.shape.back();
  dispatch_index(idx.dtype(), [&](auto it) {
    using I = typename decltype(it)::type;
    dispatch_bytes(a.itemsize(), [&](auto t) {
      using U = typename decltype(t)::type;
      const U* src = a.data<U>();
      const I* ind = idx.data<I>();
      U* dst = out.data<U>();
      auto one = [&](int64_t ao, int64_t io, int64_t oo, int64_t j) {
        dst[oo + j * so] = src[ao + clamp_index(static_cast<int64_t>(ind[io + j * si]), dim, dim - 1) * sa];
      };
      int64_t total = cpu::num_rows(c) * inner;
      cpu::parallel_for(total, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, m)), [&](int64_t b, int64_t e) {
        cpu::for_each_row_part(c, b, e, [&](const std::array<int64_t, 3>& off, int64_t lo, int64_t hi, const std::array<int64_t, 3>& st) {
          // Loop first over whichever of (row, axis) is farther from the contiguous end.
          if (so == 1) {
            for (int64_t i = lo; i < hi; ++i)
              for (int64_t j = 0; j < m; ++j) one(off[0] + i * st[0], off[1] + i * st[1], off[2] + i * st[2], j);
          } else {
            for (int64_t j = 0; j < m; ++j)
              for (int64_t i = lo; i < hi; ++i) one(off[0] + i * st[0], off[1] + i * st[1], off[2] + i * st[2], j);
          }
        });
      });
    });
  });
}

void ScatterAxis::eval_cpu(const std::vector<array>& inputs, array& out) {
  // a: out's shape, any layout; idx, values: one shape, equal to a's except along axis_;
  // out row-major. Each position outside the axis owns one row of out, so rows run in parallel.
  const array& idx = inputs[1];
  const array& val = inputs[2];
  init_from(inputs[0], out);
  if (idx.size() == 0 || out.size() == 0) return;
  int ax = axis_;
  int64_t dim = out.shape(ax), m = idx.shape(ax);
  int64_t si = idx.strides()[ax], sv = val.strides()[ax], so = out.strides()[ax];
  auto c = cpu::collapse_dims<3>(drop_axis(idx.shape(), ax),
                                 {drop_axis(idx.strides(), ax), drop_axis(val.strides(), ax), drop_axis(out.strides(), ax)});
  int64_t inner = c.shape.back();
  auto run = [&](auto t, auto op) {
    using T = typename decltype(t)::type;
    dispatch_index(idx.dtype(), [&](auto it) {
      using I = typename decltype(it)::type;
      const I* ind = idx.data<I>();
      const T* src = val.data<T>();
      T* dst = out.data<T>();
      int64_t total = cpu::num_rows(c) * inner;
      cpu::parallel_for(total, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(1, m)), [&](int64_t b, int64_t e) {
        cpu::for_each_row_part(c, b, e, [&](const std::array<int64_t, 3>& off, int64_t lo, int64_t hi, const std::array<int64_t, 3>& st) {
          for (int64_t i = lo; i < hi; ++i) {
            const I* ip = ind + off[0] + i * st[0];
            const T* vp = src + off[1] + i * st[1];
            T* dp = dst + off[2] + i * st[2];
            for (int64_t j = 0; j < m; ++j) {
              int64_t w = wrap_index(static_cast<int64_t>(ip[j * si]), dim, dim - 1);
              if (w >= 0) dp[w * so] = op(dp[w * so], vp[j * sv]);
            }
          }
        });
      });
    });
  };
  if (type_ == None) dispatch_bytes(out.itemsize(), [&](auto t) { run(t, AssignOp{}); });
  else dispatch_dtype(out.dtype(), [&](auto t) { run(t, SumOp{}); });
}

void MaskedScatter::eval_cpu(const std::vector<array>& inputs, array& out) {
  // a: any layout; mask: bool, a's shape (any layout, broadcasts allowed); src: a's dtype, any
  // shape, read row-major and reused cyclically; out row-major.
  init_from(inputs[0], out);
  const array& mask = inputs[1];
  if (out.size() == 0 || inputs[2].size() == 0) return;
  array src = cpu::ensure_row_contiguous(inputs[2]);
  int64_t n = static_cast<int64_t>(src.size());
  auto c = cpu::collapse_dims<2>(out.shape(), {mask.strides(), out.strides()});
  dispatch_bytes(out.itemsize(), [&](auto t) {
    using U = typename decltype(t)::type;
    const U* s = src.data<U>();
    U* d = out.data<U>();
    const bool* mk = mask.data<bool>();
    int64_t k = 0;
    cpu::for_each_row(c, 0, cpu::num_rows(c), [&](const std::array<int64_t, 2>& off, int64_t len, const std::array<int64_t, 2>& st) {
      for (int64_t i = 0; i < len; ++i) {
        if (mk[off[0] + i * st[0]]) {
          d[off[1] + i * st[1]] = s[k];
          if (++k == n) k = 0;
        }
      }
    });
  });
}

}  // namespace mica
