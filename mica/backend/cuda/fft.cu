// GPU kernel of the fft family (backend/cpu/fft.cpp's twin) through cuFFT (built when CMake finds
// it; backend/cuda/no_cufft otherwise). A transform over several axes is one pass per axis, each
// a batch of 1-d transforms along the axis of a row-major buffer: cuFFT's strided layout
// addresses line (o, i) of `outer` x `inner` lines as o * n * inner + i only when one of the two
// is 1, so for axes in the middle the pass runs one batched plan per outer block. Plans are cached
// per (kind, length, stride, batch). Single precision (complex64 / float32), as the primitive.
// A complex -> real pass first zeroes the imaginary parts of bin 0 and (even n) bin n / 2, which
// NumPy's inverse ignores and cuFFT would not.
#include <cufft.h>

#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>

#include "mica/backend/cuda/copy.h"
#include "mica/backend/cuda/device/elementwise.cuh"
#include "mica/backend/cuda/utils.h"
#include "mica/primitives/fft.h"

namespace mica {

namespace {

void cufft_check(cufftResult r, const char* call) {
  if (r != CUFFT_SUCCESS) {
    throw std::runtime_error(std::string("[fft] ") + call + " failed with cuFFT error " + std::to_string(static_cast<int>(r)) +
                             (r == CUFFT_ALLOC_FAILED ? " (out of GPU memory for its work area)." : "."));
  }
}
#define MICA_CUFFT(call) cufft_check((call), #call)

// Lines along `axis` of a row-major shape.
struct Lines {
  int64_t outer = 1, n = 1, inner = 1;
};
Lines lines_along(const Shape& shape, int axis) {
  Lines l;
  for (int d = 0; d < axis; ++d) l.outer *= shape[d];
  l.n = shape[axis];
  for (size_t d = axis + 1; d < shape.size(); ++d) l.inner *= shape[d];
  return l;
}

// A plan for `batch` transforms of length n (the complex side has n / 2 + 1 points for the real
// kinds), elements `stride` apart, lines `dist` apart on each side.
using PlanKey = std::tuple<int, int64_t, int64_t, int64_t, int64_t, int64_t>;  // type, n, stride, idist, odist, batch
cufftHandle plan_for(cufftType type, int64_t n, int64_t stride, int64_t idist, int64_t odist, int64_t batch) {
  static std::mutex mu;
  static std::map<PlanKey, cufftHandle> plans;  // kept for the process (plans are reused every step)
  PlanKey key{static_cast<int>(type), n, stride, idist, odist, batch};
  std::lock_guard<std::mutex> lk(mu);
  if (auto it = plans.find(key); it != plans.end()) return it->second;
  cufftHandle h;
  MICA_CUFFT(cufftCreate(&h));
  long long len = n;
  long long in_len = type == CUFFT_C2R ? n / 2 + 1 : n, out_len = type == CUFFT_R2C ? n / 2 + 1 : n;
  long long inembed = in_len, onembed = out_len;
  size_t work = 0;
  MICA_CUFFT(cufftMakePlanMany64(h, 1, &len, &inembed, stride, idist, &onembed, stride, odist, type, batch, &work));
  plans.emplace(key, h);
  return h;
}

void exec(cufftHandle h, cufftType type, void* in, void* out, bool inverse, cudaStream_t s) {
  MICA_CUFFT(cufftSetStream(h, s));
  switch (type) {
    case CUFFT_C2C:
      MICA_CUFFT(cufftExecC2C(h, static_cast<cufftComplex*>(in), static_cast<cufftComplex*>(out),
                              inverse ? CUFFT_INVERSE : CUFFT_FORWARD));
      break;
    case CUFFT_R2C: MICA_CUFFT(cufftExecR2C(h, static_cast<cufftReal*>(in), static_cast<cufftComplex*>(out))); break;
    case CUFFT_C2R: MICA_CUFFT(cufftExecC2R(h, static_cast<cufftComplex*>(in), static_cast<cufftReal*>(out))); break;
    default: throw std::logic_error("[fft] unknown cuFFT type");
  }
}

// One pass along `axis` of a row-major buffer of shape `in_shape`: n points on the real side
// (the axis's extent for complex passes). Element sizes: complex 8 bytes, real 4.
void pass(cufftType type, void* in, void* out, const Shape& in_shape, int axis, int64_t n, bool inverse,
          cudaStream_t s) {
  Lines l = lines_along(in_shape, axis);
  if (l.outer * l.inner == 0 || n == 0) return;
  int64_t in_len = type == CUFFT_C2R ? n / 2 + 1 : n, out_len = type == CUFFT_R2C ? n / 2 + 1 : n;
  size_t in_item = type == CUFFT_R2C ? 4 : 8, out_item = type == CUFFT_C2R ? 4 : 8;
  if (l.inner == 1) {
    exec(plan_for(type, n, 1, in_len, out_len, l.outer), type, in, out, inverse, s);
  } else if (l.outer == 1) {
    exec(plan_for(type, n, l.inner, 1, 1, l.inner), type, in, out, inverse, s);
  } else {
    cufftHandle h = plan_for(type, n, l.inner, 1, 1, l.inner);
    for (int64_t o = 0; o < l.outer; ++o) {
      exec(h, type, static_cast<char*>(in) + o * in_len * l.inner * in_item,
           static_cast<char*>(out) + o * out_len * l.inner * out_item, inverse, s);
    }
  }
}

// Zeroes the imaginary part of bins 0 and (n even) n / 2 along the axis of `lines`.
__global__ void clear_edge_imag(float2* x, int64_t outer, int64_t bins, int64_t inner, int64_t last) {
  int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (i >= outer * inner) return;
  int64_t o = i / inner, j = i % inner;
  x[(o * bins) * inner + j].y = 0.0f;
  if (last > 0) x[(o * bins + last) * inner + j].y = 0.0f;
}

}  // namespace

void FFT::eval_gpu(const std::vector<array>& inputs, array& out) {
  // x: any layout, complex64 (float32 for real -> complex); out: row-major, complex64 (float32
  // for complex -> real).
  const Stream& s = stream();
  cudaStream_t cs = cu::stream(s);
  const array& x = inputs[0];
  cu::alloc_output(out, s);
  if (out.size() == 0) return;
  // Input data as the transform's type, row-major (a copy when x is not).
  Dtype in_type = real() && !inverse() ? float32 : complex64;
  array xr = x;
  if (x.dtype() != in_type || !x.flags().row_contiguous) {
    xr = array(x.shape(), in_type, nullptr, {});
    cu::prepare(x, s);
    cu::copy_to_row_contiguous(x, xr, s);
  } else {
    cu::prepare(x, s);
  }
  if (!real()) {
    // Every pass in the output buffer (in place after the first).
    void* src = cu::ptr(xr);
    for (int ax : axes()) {
      pass(CUFFT_C2C, src, cu::ptr(out), out.shape(), ax, out.shape(ax), inverse(), cs);
      src = cu::ptr(out);
    }
    return;
  }
  int axis = axes().back();
  int64_t n = real_n();
  if (!inverse()) {
    pass(CUFFT_R2C, cu::ptr(xr), cu::ptr(out), x.shape(), axis, n, false, cs);
    for (size_t k = 0; k + 1 < axes().size(); ++k) {
      pass(CUFFT_C2C, cu::ptr(out), cu::ptr(out), out.shape(), axes()[k], out.shape(axes()[k]), false, cs);
    }
    return;
  }
  // The other axes' inverse passes and cuFFT's complex -> real pass (which overwrites its input)
  // run in a buffer of ours, never in x.
  array tmp = xr;
  if (tmp.id() == x.id()) {
    tmp = array(x.shape(), complex64, nullptr, {});
    cu::alloc_output(tmp, s);
    MICA_CUDA_CHECK(cudaMemcpyAsync(cu::ptr(tmp), cu::ptr(x), x.nbytes(), cudaMemcpyDeviceToDevice, cs));
  }
  for (size_t k = 0; k + 1 < axes().size(); ++k) {
    pass(CUFFT_C2C, cu::ptr(tmp), cu::ptr(tmp), tmp.shape(), axes()[k], tmp.shape(axes()[k]), true, cs);
  }
  Lines l = lines_along(tmp.shape(), axis);
  if (l.outer * l.inner > 0) {
    int64_t lines = l.outer * l.inner;
    clear_edge_imag<<<cu::grid_for(lines), cu::kBlock, 0, cs>>>(cu::ptr<float2>(tmp), l.outer, l.n, l.inner,
                                                                 n % 2 == 0 ? n / 2 : 0);
    cu::check_launch("irfft");
  }
  pass(CUFFT_C2R, cu::ptr(tmp), cu::ptr(out), tmp.shape(), axis, n, true, cs);
}

}  // namespace mica
