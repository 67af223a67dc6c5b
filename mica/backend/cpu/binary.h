// The loops shared by elementwise binary and ternary kernels. Inputs in one contiguous layout
// (or single values) take a flat loop and the output keeps that layout, as MLX's
// (views::flat_layout), or takes over an input's buffer; others are broadcast to the output's
// shape through zero strides into a row-major output.
#pragma once
#include <cmath>

#include "mica/array.h"
#include "mica/backend/cpu/parallel.h"
#include "mica/backend/cpu/strided.h"
#include "mica/backend/views.h"

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

template <typename A, typename B, typename O, typename Op>
void binary_apply(const array& a, const array& b, array& out, Op op) {
  const Shape& shape = out.shape();
  if (const array* lay = views::flat_layout({&a, &b}, shape)) {
    // Flat over the layout MLX's output keeps (views.h): a donatable input in that layout
    // gives its buffer, else a fresh one of data_size elements with its strides.
    const int64_t n = static_cast<int64_t>(lay->data_size());
    auto same = [&](const array& x, size_t bytes) {
      return bytes == sizeof(O) && x.data_size() == lay->data_size() && x.strides() == lay->strides() &&
             x.shape() == shape && x.is_donatable();
    };
    if (same(a, sizeof(A))) out.copy_shared_buffer(a);
    else if (same(b, sizeof(B))) out.copy_shared_buffer(b);
    else out.set_data(allocator::malloc(n * sizeof(O)), lay->data_size(), lay->strides(), lay->flags());
    const bool a_one = a.data_size() == 1, b_one = b.data_size() == 1;
    const A* pa = a.data<A>();
    const B* pb = b.data<B>();
    O* po = out.data<O>();
    parallel_for(n, kElementwiseGrain, [&](int64_t s, int64_t e) {
      if (!a_one && !b_one) {
        for (int64_t i = s; i < e; ++i) po[i] = op(pa[i], pb[i]);
      } else if (!a_one) {
        B vb = pb[0];
        for (int64_t i = s; i < e; ++i) po[i] = op(pa[i], vb);
      } else if (!b_one) {
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
