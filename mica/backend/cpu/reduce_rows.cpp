// CPU kernels of the last-axis row primitives: Softmax, LogSumExp, Variance.
// x: (rows, n) row-major (copied when it is not); out: (rows, n) or (rows, 1) row-major.
// Rows are computed in float (double for float64); half rows go through a float scratch row.
#include <stdexcept>

#include "mica/backend/cpu/copy.h"
#include "mica/backend/cpu/dispatch_float.h"
#include "mica/backend/cpu/parallel.h"
#include "mica/backend/cpu/reduce.h"
#include "mica/primitives/reduce.h"

namespace mica {

namespace {
using cpu::dispatch_float;
using namespace cpu::red;
using cpu::parallel_for;

// Calls f(row_in, row_out, n) over all rows with C (float or double) compute rows; the input
// row is C* for float32/float64 and a converted scratch row for the half types. out_n is the
// length of an output row (n or 1). RowFn(const C* x, C* y, int64_t n).

template <typename C>
void softmax_row(const C* x, C* y, int64_t n) {
  C m = row_max(x, n);
  row_exp_shifted(x, y, n, m);
  C inv = C(1) / row_sum(y, n);
  for (int64_t i = 0; i < n; ++i) y[i] *= inv;
}

template <typename C>
C logsumexp_row(const C* x, int64_t n) {
  C m = row_max(x, n);
  if (std::isinf(m)) return row_has_nan(x, n) ? std::numeric_limits<C>::quiet_NaN() : m;
  // exp(x - m) in cache-sized chunks, summed with the vectorized row sum.
  constexpr int64_t kChunk = 1024;
  C buf[kChunk];
  C s = 0;
  for (int64_t b = 0; b < n; b += kChunk) {
    int64_t len = std::min(kChunk, n - b);
    row_exp_shifted(x + b, buf, len, m);
    s += row_sum(buf, len);
  }
  return m + std::log(s);
}

}  // namespace

void Softmax::eval_cpu(const std::vector<array>& inputs, array& out) {
  dispatch_float("Softmax", inputs[0].dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    int64_t n = inputs[0].ndim() == 0 ? 1 : inputs[0].shape().back();
    for_rows<T>(inputs[0], out, n, [](const auto* x, auto* y, int64_t n) { softmax_row(x, y, n); });
  });
}

void LogSumExp::eval_cpu(const std::vector<array>& inputs, array& out) {
  dispatch_float("LogSumExp", inputs[0].dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    for_rows<T>(inputs[0], out, 1, [](const auto* x, auto* y, int64_t n) { y[0] = logsumexp_row(x, n); });
  });
}

void Variance::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  int64_t n = in.ndim() == 0 ? 1 : in.shape().back();
  if (n == 0) {  // mean of nothing: NaN, as the composition gives
    out.set_data(allocator::malloc(out.nbytes()));
    dispatch_float("Variance", in.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      for (size_t i = 0; i < out.size(); ++i) out.data<T>()[i] = cast_to<T>(std::numeric_limits<float>::quiet_NaN());
    });
    return;
  }
  int ddof = ddof_;
  dispatch_float("Variance", in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    for_rows<T>(in, out, 1, [ddof](const auto* x, auto* y, int64_t n) {
      using C = std::remove_cv_t<std::remove_pointer_t<decltype(x)>>;
      C mean = row_sum(x, n) / static_cast<C>(n);
      C div = static_cast<C>(std::max<int64_t>(n - ddof, 0));
      y[0] = row_sum_sq_dev(x, n, mean) / div;
    });
  });
}

}  // namespace mica
