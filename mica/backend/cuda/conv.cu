// The convolution family's own kernel: the input dilation and cropping (negative padding) that
// cuDNN's convolution engines do not take, applied by materializing the dilated, padded input
// (conv.h). Floor: one read of the input and one write of the padded copy (plus its zero fill).
#include "mica/backend/cuda/conv.h"
#include "mica/backend/cuda/utils.h"

namespace mica::cu {

namespace {
struct Spatial {
  int64_t in[3], out[3];
  int dil[3], lo[3];
};

// One thread per element of src: its destination, if inside dst.
template <typename T>
__global__ void dilate_pad_kernel(const T* src, T* dst, int64_t total, int64_t c, int dims, Spatial sp) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t rest = i / c;
    const int64_t ch = i - rest * c;
    int64_t dst_index = 0, scale = c;
    bool inside = true;
    for (int d = dims - 1; d >= 0; --d) {
      const int64_t l = rest % sp.in[d];
      rest /= sp.in[d];
      const int64_t p = sp.lo[d] + l * sp.dil[d];
      inside = inside && p >= 0 && p < sp.out[d];
      dst_index += p * scale;
      scale *= sp.out[d];
    }
    if (inside) dst[rest * scale + dst_index + ch] = src[i];
  }
}
}  // namespace

void dilate_pad(const void* src, void* dst, size_t elem_size, int64_t n, int64_t c, const std::vector<int64_t>& in_len,
                const std::vector<int64_t>& out_len, const std::vector<int>& dilation, const std::vector<int>& lo,
                cudaStream_t stream) {
  const int dims = static_cast<int>(in_len.size());
  Spatial sp{};
  int64_t in_total = n * c, out_total = n * c;
  for (int d = 0; d < dims; ++d) {
    sp.in[d] = in_len[d];
    sp.out[d] = out_len[d];
    sp.dil[d] = dilation[d];
    sp.lo[d] = lo[d];
    in_total *= in_len[d];
    out_total *= out_len[d];
  }
  MICA_CUDA_CHECK(cudaMemsetAsync(dst, 0, static_cast<size_t>(out_total) * elem_size, stream));
  if (in_total == 0) return;
  const int threads = 256;
  const int blocks = static_cast<int>(std::min<int64_t>((in_total + threads - 1) / threads, int64_t{sm_count()} * 16));
  switch (elem_size) {
    case 2:
      dilate_pad_kernel<<<blocks, threads, 0, stream>>>(static_cast<const uint16_t*>(src), static_cast<uint16_t*>(dst),
                                                        in_total, c, dims, sp);
      break;
    case 4:
      dilate_pad_kernel<<<blocks, threads, 0, stream>>>(static_cast<const uint32_t*>(src), static_cast<uint32_t*>(dst),
                                                        in_total, c, dims, sp);
      break;
    default:
      dilate_pad_kernel<<<blocks, threads, 0, stream>>>(static_cast<const uint64_t*>(src), static_cast<uint64_t*>(dst),
                                                        in_total, c, dims, sp);
  }
  check_launch("Convolution");
}

}  // namespace mica::cu
