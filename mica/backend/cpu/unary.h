// The loop shared by elementwise unary kernels: contiguous inputs (any order) keep their
// layout and may donate their buffer; others are walked by rows into a row-major output.
#pragma once
#include "mica/array.h"
#include "mica/backend/cpu/parallel.h"
#include "mica/backend/cpu/strided.h"

namespace mica::cpu {

/** Allocates out like `in` (donating in's buffer when allowed) and sets out = op(in). */
template <typename I, typename O, typename Op>
void unary_apply(const array& in, array& out, Op op) {
  if (in.flags().contiguous) {
    if (in.is_donatable() && sizeof(I) == sizeof(O)) {
      out.copy_shared_buffer(in);
    } else {
      out.set_data(allocator::malloc(in.data_size() * sizeof(O)), in.data_size(), in.strides(), in.flags());
    }
    const I* src = in.data<I>();
    O* dst = out.data<O>();
    parallel_for(static_cast<int64_t>(in.data_size()), kElementwiseGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) dst[i] = op(src[i]);
    });
    return;
  }
  out.set_data(allocator::malloc(out.nbytes()));
  auto c = collapse_dims<2>(in.shape(), {in.strides(), out.strides()});
  const I* src = in.data<I>();
  O* dst = out.data<O>();
  int64_t inner = c.shape.back();
  parallel_for(num_rows(c), std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(inner, 1)),
               [&](int64_t b, int64_t e) {
                 for_each_row(c, b, e, [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
                   for (int64_t i = 0; i < n; ++i) dst[off[1] + i * st[1]] = op(src[off[0] + i * st[0]]);
                 });
               });
}

}  // namespace mica::cpu
