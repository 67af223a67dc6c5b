// The loops shared by elementwise binary and ternary kernels. Inputs are broadcast to the
// output's shape through zero strides; same-shape contiguous inputs take a flat loop and may
// donate their buffer to the output.
#pragma once
#include <cmath>

#include "mica/array.h"
#include "mica/backend/cpu/parallel.h"
#include "mica/backend/cpu/strided.h"

namespace mica::cpu {

/** x < y; complex values compare real parts, then imaginary parts (as NumPy and MLX). */
template <typename T>
bool lt(const T& x, const T& y) {
  if constexpr (is_complex_v<T>) return x.real() < y.real() || (x.real() == y.real() && x.imag() < y.imag());
  else return x < y;
}

/** maximum's element rule: NaN if either is NaN, else the larger (lt's order). */
struct MaxFn {
  template <typename T> T operator()(T x, T y) const {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(x) || std::isnan(y)) return NAN;
    }
    return lt(x, y) ? y : x;
  }
};
/** minimum's element rule: NaN if either is NaN, else the smaller. */
struct MinFn {
  template <typename T> T operator()(T x, T y) const {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(x) || std::isnan(y)) return NAN;
    }
    return lt(y, x) ? y : x;
  }
};

/** Strides of `a` seen with the output's shape (0 along broadcast dims). */
Strides broadcast_strides(const array& a, const Shape& out_shape);

/** True if `a` holds exactly out_shape's elements in row-major order. */
inline bool is_full_row(const array& a, const Shape& out_shape) {
  return a.flags().row_contiguous && a.shape() == out_shape;
}

template <typename A, typename B, typename O, typename Op>
void binary_apply(const array& a, const array& b, array& out, Op op) {
  const Shape& shape = out.shape();
  int64_t n = static_cast<int64_t>(out.size());
  bool a_full = is_full_row(a, shape), b_full = is_full_row(b, shape);
  bool a_scalar = a.data_size() == 1, b_scalar = b.data_size() == 1;
  if ((a_full || a_scalar) && (b_full || b_scalar)) {
    if (a_full && a.is_donatable() && sizeof(A) == sizeof(O)) out.copy_shared_buffer(a);
    else if (b_full && b.is_donatable() && sizeof(B) == sizeof(O)) out.copy_shared_buffer(b);
    else out.set_data(allocator::malloc(out.nbytes()));
    const A* pa = a.data<A>();
    const B* pb = b.data<B>();
    O* po = out.data<O>();
    parallel_for(n, kElementwiseGrain, [&](int64_t s, int64_t e) {
      if (a_full && b_full) {
        for (int64_t i = s; i < e; ++i) po[i] = op(pa[i], pb[i]);
      } else if (a_full) {
        B vb = pb[0];
        for (int64_t i = s; i < e; ++i) po[i] = op(pa[i], vb);
      } else if (b_full) {
        A va = pa[0];
        for (int64_t i = s; i < e; ++i) po[i] = op(va, pb[i]);
      } else {
        for (int64_t i = s; i < e; ++i) po[i] = op(pa[0], pb[0]);
      }
    });
    return;
  }
  out.set_data(allocator::malloc(out.nbytes()));
  auto c = collapse_dims<3>(shape, {broadcast_strides(a, shape), broadcast_strides(b, shape), out.strides()});
  const A* pa = a.data<A>();
  const B* pb = b.data<B>();
  O* po = out.data<O>();
  int64_t inner = c.shape.back();
  parallel_for(num_rows(c), std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(inner, 1)),
               [&](int64_t s, int64_t e) {
                 for_each_row(c, s, e, [&](const std::array<int64_t, 3>& off, int64_t m, const std::array<int64_t, 3>& st) {
                   const A* ra = pa + off[0];
                   const B* rb = pb + off[1];
                   O* ro = po + off[2];
                   if (st[0] == 1 && st[1] == 1) {
                     for (int64_t i = 0; i < m; ++i) ro[i] = op(ra[i], rb[i]);
                   } else if (st[0] == 0 && st[1] == 1) {
                     for (int64_t i = 0; i < m; ++i) ro[i] = op(ra[0], rb[i]);
                   } else if (st[0] == 1 && st[1] == 0) {
                     for (int64_t i = 0; i < m; ++i) ro[i] = op(ra[i], rb[0]);
                   } else {
                     for (int64_t i = 0; i < m; ++i) ro[i] = op(ra[i * st[0]], rb[i * st[1]]);
                   }
                 });
               });
}

}  // namespace mica::cpu
