#include "mica/backend/cpu/copy.h"

#include <cstring>

#include "mica/backend/cpu/parallel.h"
#include "mica/backend/cpu/strided.h"
#include "mica/types/cast.h"

namespace mica::cpu {

namespace {
template <typename I, typename O>
void copy_typed(const I* src, O* dst, const Collapsed<2>& c) {
  int64_t rows = num_rows(c);
  int64_t inner = c.shape.back();
  parallel_for(rows, std::max<int64_t>(1, kElementwiseGrain / std::max<int64_t>(inner, 1)), [&](int64_t b, int64_t e) {
    for_each_row(c, b, e, [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& st) {
      const I* s = src + off[0];
      O* d = dst + off[1];
      if (st[0] == 1 && st[1] == 1) {
        if constexpr (std::is_same_v<I, O>) {
          std::memcpy(d, s, n * sizeof(I));
        } else {
          for (int64_t i = 0; i < n; ++i) d[i] = cast_to<O>(s[i]);
        }
      } else {
        for (int64_t i = 0; i < n; ++i) d[i * st[1]] = cast_to<O>(s[i * st[0]]);
      }
    });
  });
}
}  // namespace

void copy_into(const array& in, array& out) {
  if (in.size() == 0) return;
  auto c = collapse_dims<2>(in.shape(), {in.strides(), out.strides()});
  dispatch_dtype(in.dtype(), [&](auto it) {
    using I = typename decltype(it)::type;
    dispatch_dtype(out.dtype(), [&](auto ot) {
      using O = typename decltype(ot)::type;
      copy_typed<I, O>(in.data<I>(), out.data<O>(), c);
    });
  });
}

void copy_to_row_contiguous(const array& in, array& out) {
  out.set_data(allocator::malloc(out.nbytes()));
  copy_into(in, out);
}

array ensure_row_contiguous(const array& a) {
  if (a.flags().row_contiguous) return a;
  array out(allocator::malloc(a.nbytes()), a.shape(), a.dtype());
  copy_into(a, out);
  return out;
}

void fill(const array& value, array& out) {
  dispatch_dtype(out.dtype(), [&](auto ot) {
    using O = typename decltype(ot)::type;
    O v;
    detail::convert_from<O>(value.dtype(), value.data<void>(), &v);
    O* d = out.data<O>();
    int64_t n = static_cast<int64_t>(out.size());
    parallel_for(n, kElementwiseGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) d[i] = v;
    });
  });
}

}  // namespace mica::cpu
