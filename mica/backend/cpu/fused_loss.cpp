// CPU kernels of the fused cross-entropy (fused family): CrossEntropy and CrossEntropyVjp over
// the last axis of the logits, one row at a time, computed in float (double for float64).
// Half rows go through a float scratch row.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "mica/backend/cpu/copy.h"
#include "mica/backend/cpu/dispatch_float.h"
#include "mica/backend/cpu/parallel.h"
#include "mica/backend/cpu/reduce.h"
#include "mica/primitives/fused.h"

namespace mica {

namespace {
using cpu::dispatch_float;
using namespace cpu::red;
using cpu::parallel_for;

// Elements of a row-major array of dtype `d` converted to To.
template <typename To>
std::vector<To> read_all(const array& a_in) {
  array a = cpu::ensure_row_contiguous(a_in);
  std::vector<To> out(a.size());
  auto fill = [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = a.data<T>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = cast_to<To>(p[i]);
  };
  switch (a.dtype().val) {
    case Dtype::Val::int8: return fill(type_tag<int8_t>{}), out;
    case Dtype::Val::int16: return fill(type_tag<int16_t>{}), out;
    case Dtype::Val::int32: return fill(type_tag<int32_t>{}), out;
    case Dtype::Val::int64: return fill(type_tag<int64_t>{}), out;
    case Dtype::Val::uint8: return fill(type_tag<uint8_t>{}), out;
    case Dtype::Val::uint16: return fill(type_tag<uint16_t>{}), out;
    case Dtype::Val::uint32: return fill(type_tag<uint32_t>{}), out;
    case Dtype::Val::uint64: return fill(type_tag<uint64_t>{}), out;
    case Dtype::Val::float16: return fill(type_tag<float16_t>{}), out;
    case Dtype::Val::bfloat16: return fill(type_tag<bfloat16_t>{}), out;
    case Dtype::Val::float32: return fill(type_tag<float>{}), out;
    case Dtype::Val::float64: return fill(type_tag<double>{}), out;
    default:
      throw std::runtime_error("[cross_entropy] kernel got an input of dtype " + dtype_to_string(a.dtype()) +
                               " (the op should have rejected it).");
  }
}

// The class indices, read as take_along_axis reads them: a negative one counts from the end
// once, then it is clamped into [0, v).
std::vector<int64_t> class_indices(const array& targets, int64_t v) {
  std::vector<int64_t> t = read_all<int64_t>(targets);
  for (auto& k : t) {
    if (k < 0) k += v;
    k = k < 0 ? 0 : (k >= v ? v - 1 : k);
  }
  return t;
}

// Calls f(r, x_row) for every row, x_row in the compute type C.
template <typename T, typename F>
void each_row(const array& x, int64_t rows, int64_t v, F&& f) {
  using C = acc_t<T>;
  const T* src = x.data<T>();
  parallel_for(rows, std::max<int64_t>(1, kGrain / v), [&](int64_t rb, int64_t re) {
    if constexpr (std::is_same_v<T, C>) {
      for (int64_t r = rb; r < re; ++r) f(r, src + r * v);
    } else {
      auto xs = scratch<C>(v);
      for (int64_t r = rb; r < re; ++r) {
        convert_row(src + r * v, xs.get(), v);
        f(r, static_cast<const C*>(xs.get()));
      }
    }
  });
}
}  // namespace

void CrossEntropy::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  array x = cpu::ensure_row_contiguous(inputs[0]);
  const int64_t v = x.shape().back();
  const int64_t rows = static_cast<int64_t>(x.size()) / v;
  auto t = class_indices(inputs[1], v);
  const float s = smoothing_;
  for (auto& o : outputs) o.set_data(allocator::malloc(o.nbytes()));
  dispatch_float("CrossEntropy", x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = acc_t<T>;
    using L = std::conditional_t<std::is_same_v<T, double>, double, float>;
    L* loss = outputs[0].data<L>();
    L* lse_out = outputs[1].data<L>();
    each_row<T>(x, rows, v, [&](int64_t r, const C* xr) {
      C m = row_max(xr, v);
      C lse;
      if (std::isinf(m)) {
        lse = row_has_nan(xr, v) ? std::numeric_limits<C>::quiet_NaN() : m;
      } else {
        // exp(x - m) in cache-sized chunks through the vectorized exp and row sum.
        constexpr int64_t kChunk = 1024;
        C buf[kChunk];
        C sum = 0;
        for (int64_t b = 0; b < v; b += kChunk) {
          const int64_t len = std::min(kChunk, v - b);
          row_exp_shifted(xr + b, buf, len, m);
          sum += row_sum(buf, len);
        }
        lse = m + std::log(sum);
      }
      C l = lse - (C(1) - C(s)) * xr[t[r]];
      if (s > 0) l -= C(s) * row_sum(xr, v) / C(v);
      loss[r] = static_cast<L>(l);
      lse_out[r] = static_cast<L>(lse);
    });
  });
}

void CrossEntropyVjp::eval_cpu(const std::vector<array>& inputs, array& out) {
  array x = cpu::ensure_row_contiguous(inputs[0]);
  const int64_t v = x.shape().back();
  const int64_t rows = static_cast<int64_t>(x.size()) / v;
  auto t = class_indices(inputs[1], v);
  out.set_data(allocator::malloc(out.nbytes()));
  const float s = smoothing_;
  dispatch_float("CrossEntropyVjp", x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = acc_t<T>;
    using L = std::conditional_t<std::is_same_v<T, double>, double, float>;
    array lse = cpu::ensure_row_contiguous(inputs[2]);
    const L* lp = lse.data<L>();
    const std::vector<L> gv = read_all<L>(inputs[3]);
    const L* gp = gv.data();
    T* dst = out.data<T>();
    const C off = C(s) / C(v), hit = C(1) - C(s);
    each_row<T>(x, rows, v, [&](int64_t r, const C* xr) {
      const C gr = static_cast<C>(gp[r]), l = static_cast<C>(lp[r]);
      T* y = dst + r * v;
      for (int64_t j = 0; j < v; ++j) y[j] = cast_to<T>(gr * (exp_of(xr[j] - l) - off));
      y[t[r]] = cast_to<T>(gr * (exp_of(xr[t[r]] - l) - off - hit));
    });
  });
}

}  // namespace mica
