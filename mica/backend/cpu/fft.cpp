// CPU kernel of the FFT primitive (plans in fft_plan.h). The n-D transform runs as 1-D passes,
// one per axis, over a row-major buffer: complex -> complex copies the input into the output
// and transforms it in place axis by axis; real -> complex writes the half spectrum of the real
// axis into the output, then transforms the other axes there; complex -> real transforms the
// other axes in a complex copy of the input, then writes the real axis into the output.
#include <algorithm>
#include <bit>
#include <cstring>
#include <vector>

#include "mica/allocator.h"
#include "mica/backend/cpu/copy.h"
#include "mica/backend/cpu/fft_plan.h"
#include "mica/backend/cpu/parallel.h"
#include "mica/primitives/fft.h"

namespace mica {

namespace {

using cpu::fft::cpx;

// Lines along `axis` of a row-major shape: line (o, i) starts at (o * n) * inner + i and steps
// by inner.
struct Lines {
  int64_t outer = 1, n, inner = 1;
};
Lines lines_along(const Shape& shape, int axis) {
  Lines l;
  l.n = shape[axis];
  for (int d = 0; d < axis; ++d) l.outer *= shape[d];
  for (size_t d = axis + 1; d < shape.size(); ++d) l.inner *= shape[d];
  return l;
}

int64_t total_size(const Shape& shape) {
  int64_t n = 1;
  for (int d : shape) n *= d;
  return n;
}

// Strided lines (inner > 1) are gathered kBlock at a time: neighbouring lines share cache
// lines, so a block reads each cache line once instead of once per line.
constexpr int64_t kBlock = 8;
// Work (points * log2 points) below which a pass stays on one thread.
constexpr int64_t kPassGrain = 1 << 16;

// Calls f(src_line, dst_line, work) for every line: source lines of n_in elements of In, laid
// out (outer, n_in, inner) row-major from src; destination lines of n_out elements of Out,
// (outer, n_out, inner) from dst. src may be dst (in place): a block of lines is read whole
// into a contiguous buffer before any of it is written. f gets contiguous lines that do not
// overlap, and work_size elements of scratch.
template <typename In, typename Out, typename F>
void line_pass(const In* src, int64_t n_in, Out* dst, int64_t n_out, int64_t outer, int64_t inner, size_t work_size,
               F&& f) {
  int64_t width = std::min(inner, kBlock);
  int64_t blocks_per_outer = (inner + kBlock - 1) / kBlock;
  int64_t n = std::max(n_in, n_out);
  int64_t block_work = width * n * std::max<int64_t>(1, std::bit_width(static_cast<uint64_t>(n)));
  int64_t grain = std::max<int64_t>(1, kPassGrain / block_work);
  bool in_place = static_cast<const void*>(src) == static_cast<const void*>(dst);
  cpu::parallel_for(outer * blocks_per_outer, grain, [&](int64_t b0, int64_t b1) {
    std::vector<In> a(inner == 1 ? 0 : width * n_in);
    std::vector<Out> c(inner == 1 && !in_place ? 0 : width * n_out);
    std::vector<cpx> work(work_size);
    for (int64_t b = b0; b < b1; ++b) {
      int64_t o = b / blocks_per_outer, i0 = (b % blocks_per_outer) * kBlock;
      int64_t w = std::min(kBlock, inner - i0);
      const In* s = src + o * n_in * inner + i0;
      Out* d = dst + o * n_out * inner + i0;
      if (inner == 1) {
        // Contiguous lines: transform straight into the output, through a buffer when in place.
        if (!in_place) {
          f(s, d, work.data());
        } else {
          f(s, c.data(), work.data());
          std::memcpy(d, c.data(), n_out * sizeof(Out));
        }
        continue;
      }
      for (int64_t j = 0; j < n_in; ++j) {
        for (int64_t t = 0; t < w; ++t) a[t * n_in + j] = s[j * inner + t];
      }
      for (int64_t t = 0; t < w; ++t) f(a.data() + t * n_in, c.data() + t * n_out, work.data());
      for (int64_t j = 0; j < n_out; ++j) {
        for (int64_t t = 0; t < w; ++t) d[j * inner + t] = c[t * n_out + j];
      }
    }
  });
}

// Complex transforms over `axes` of row-major data of `shape`: the first pass reads src, the
// others work in place in dst (src may be dst).
void complex_passes(const cpx* src, cpx* dst, const Shape& shape, const std::vector<int>& axes, bool inverse) {
  const cpx* from = src;
  for (int ax : axes) {
    Lines l = lines_along(shape, ax);
    if (l.n == 1) continue;  // the DFT of one point is itself
    auto plan = cpu::fft::complex_plan(static_cast<int>(l.n), inverse);
    line_pass(from, l.n, dst, l.n, l.outer, l.inner, plan->work_size(),
              [&](const cpx* in, cpx* out, cpx* work) { plan->run(in, out, work); });
    from = dst;
  }
  if (from != dst) std::memcpy(dst, src, total_size(shape) * sizeof(cpx));  // every axis had length 1
}

// A row-major copy of `a` in `dtype`.
array row_major_copy(const array& a, Dtype dtype) {
  array out(allocator::malloc(a.size() * dtype.size), a.shape(), dtype);
  cpu::copy_into(a, out);
  return out;
}

}  // namespace

void FFT::eval_cpu(const std::vector<array>& inputs, array& out) {
  // x: any layout, complex64 (float32 for real -> complex); out: row-major, complex64 (float32
  // for complex -> real). Along the real axis, the complex side has real_n / 2 + 1 points.
  const array& x = inputs[0];
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  // Complex data are read in place when x is row-major complex64, else from a converted copy.
  bool own_copy = !(x.dtype() == complex64 && x.flags().row_contiguous);
  if (!real()) {
    array xc = own_copy ? row_major_copy(x, complex64) : x;
    complex_passes(xc.data<cpx>(), out.data<cpx>(), out.shape(), axes(), inverse());
    return;
  }
  int axis = axes().back(), n = real_n();
  std::vector<int> others(axes().begin(), axes().end() - 1);
  if (!inverse()) {
    array xr = x.dtype() == float32 ? cpu::ensure_row_contiguous(x) : row_major_copy(x, float32);
    Lines l = lines_along(x.shape(), axis);
    auto plan = cpu::fft::real_plan(n, false);
    line_pass(xr.data<float>(), l.n, out.data<cpx>(), n / 2 + 1, l.outer, l.inner, plan->work_size(),
              [&](const float* in, cpx* bins, cpx* work) { plan->forward(in, bins, work); });
    complex_passes(out.data<cpx>(), out.data<cpx>(), out.shape(), others, false);
    return;
  }
  // The passes over the other axes write into a buffer of ours, never into x.
  array xc = own_copy ? row_major_copy(x, complex64) : x;
  array tmp = others.empty() || own_copy ? xc : array(allocator::malloc(x.size() * sizeof(cpx)), x.shape(), complex64);
  complex_passes(xc.data<cpx>(), tmp.data<cpx>(), tmp.shape(), others, true);
  Lines l = lines_along(tmp.shape(), axis);
  auto plan = cpu::fft::real_plan(n, true);
  line_pass(tmp.data<cpx>(), l.n, out.data<float>(), n, l.outer, l.inner, plan->work_size(),
            [&](const cpx* bins, float* values, cpx* work) { plan->inverse(bins, values, work); });
}

}  // namespace mica
