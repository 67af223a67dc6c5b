// GPU copies between layouts and dtypes (backend/cpu/copy.cpp's twin): contiguous copies are
// cudaMemcpyAsync or a 16-byte-vector conversion kernel; strided ones walk a collapsed layout.
#include "mica/backend/cuda/copy.h"

#include <cstring>
#include "mica/backend/cuda/device/elementwise.cuh"
#include "mica/backend/cuda/device/types.cuh"
#include "mica/backend/cuda/utils.h"

namespace mica::cu {

namespace {

// in, out: n elements, contiguous; converts I -> O, W elements per vector.
template <typename I, typename O, int W>
__global__ void convert_contiguous(const I* __restrict__ in, O* __restrict__ out, int64_t n) {
  int64_t nvec = n / W;
  int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t v = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; v < nvec; v += stride) {
    Vec<I, W> a = reinterpret_cast<const Vec<I, W>*>(in)[v];
    Vec<O, W> b;
#pragma unroll
    for (int k = 0; k < W; ++k) b.v[k] = cast<O>(a.v[k]);
    reinterpret_cast<Vec<O, W>*>(out)[v] = b;
  }
  for (int64_t i = nvec * W + int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) out[i] = cast<O>(in[i]);
}

// in, out: shape `l` with strides l.strides[0] / l.strides[1]; converts I -> O.
template <typename I, typename O>
__global__ void convert_strided(const I* __restrict__ in, O* __restrict__ out, Layout<2> l, int64_t n) {
  int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    int64_t off[2];
    offsets(l, i, off);
    out[off[1]] = cast<O>(in[off[0]]);
  }
}

// Same dtype, strided: moves elements as unsigned words of the element's size.
template <typename W>
void launch_strided_same(const void* in, void* out, const Layout<2>& l, int64_t n, cudaStream_t s) {
  convert_strided<W, W><<<grid_for(n, 4), kBlock, 0, s>>>(static_cast<const W*>(in), static_cast<W*>(out), l, n);
}

bool is_contiguous_pair(const array& in, const array& out) {
  return in.flags().contiguous && out.flags().contiguous && in.strides() == out.strides() &&
         in.data_size() == out.data_size();
}

// y: n elements of `size` bytes (at most 16), each set to the bytes of lo then hi.
__global__ void fill_pattern(unsigned char* y, int64_t n, int size, uint64_t lo, uint64_t hi) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    for (int b = 0; b < size; ++b) {
      y[i * size + b] = static_cast<unsigned char>(b < 8 ? lo >> (8 * b) : hi >> (8 * (b - 8)));
    }
  }
}

}  // namespace

void copy_into(const array& in, array& out, const Stream& s) {
  if (in.size() == 0) return;
  cudaStream_t cs = stream(s);
  const void* src = ptr(in);
  void* dst = ptr(out);
  int64_t n = static_cast<int64_t>(in.size());
  if (is_contiguous_pair(in, out) || (in.flags().row_contiguous && out.flags().row_contiguous)) {
    int64_t m = static_cast<int64_t>(in.flags().row_contiguous ? in.size() : in.data_size());
    if (in.dtype() == out.dtype()) {
      MICA_CUDA_CHECK(cudaMemcpyAsync(dst, src, m * in.itemsize(), cudaMemcpyDeviceToDevice, cs));
      return;
    }
    dispatch(in.dtype(), [&](auto it) {
      using I = typename decltype(it)::type;
      dispatch(out.dtype(), [&](auto ot) {
        using O = typename decltype(ot)::type;
        constexpr int W = vec_width<I> < vec_width<O> ? vec_width<I> : vec_width<O>;
        if (aligned<I, W>(src) && aligned<O, W>(dst)) {
          convert_contiguous<I, O, W><<<grid_for(m, W * 4), kBlock, 0, cs>>>(static_cast<const I*>(src),
                                                                            static_cast<O*>(dst), m);
        } else {
          convert_contiguous<I, O, 1><<<grid_for(m, 4), kBlock, 0, cs>>>(static_cast<const I*>(src), static_cast<O*>(dst), m);
        }
      });
    });
    check_launch("copy");
    return;
  }
  auto l = make_layout<2>(in.shape(), {in.strides(), out.strides()}, "copy");
  if (in.dtype() == out.dtype()) {
    switch (in.itemsize()) {
      case 1: launch_strided_same<uint8_t>(src, dst, l, n, cs); break;
      case 2: launch_strided_same<uint16_t>(src, dst, l, n, cs); break;
      case 4: launch_strided_same<uint32_t>(src, dst, l, n, cs); break;
      default: launch_strided_same<uint64_t>(src, dst, l, n, cs); break;
    }
  } else {
    dispatch(in.dtype(), [&](auto it) {
      using I = typename decltype(it)::type;
      dispatch(out.dtype(), [&](auto ot) {
        using O = typename decltype(ot)::type;
        convert_strided<I, O><<<grid_for(n, 4), kBlock, 0, cs>>>(static_cast<const I*>(src), static_cast<O*>(dst), l, n);
      });
    });
  }
  check_launch("copy");
}

void copy_to_row_contiguous(const array& in, array& out, const Stream& s) {
  prepare(in, s);
  alloc_output(out, s);
  copy_into(in, out, s);
}

array ensure_row_contiguous(const array& a, const Stream& s) {
  prepare(a, s);
  if (a.flags().row_contiguous) return a;
  array out(a.shape(), a.dtype(), nullptr, {});
  alloc_output(out, s);
  copy_into(a, out, s);
  return out;
}

void fill(array& out, double value, const Stream& s) {
  if (out.size() == 0) return;
  unsigned char bytes[16] = {};
  mica::detail::convert_into(&value, 1, out.dtype(), bytes);
  uint64_t lo = 0, hi = 0;
  std::memcpy(&lo, bytes, 8);
  std::memcpy(&hi, bytes + 8, 8);
  const int64_t n = static_cast<int64_t>(out.size());
  fill_pattern<<<grid_for(n), kBlock, 0, stream(s)>>>(ptr<unsigned char>(out), n, static_cast<int>(out.itemsize()), lo,
                                                       hi);
  check_launch("fill");
}

}  // namespace mica::cu
