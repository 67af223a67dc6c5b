// Device helpers of the convolution family (the convolution itself runs in cuDNN,
// backend/cuda/cudnn/conv.cpp).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mica::cu {

/** Writes src (N, L_1..L_d, C), row-contiguous, into dst (N, P_1..P_d, C) with input dilation s
 *  and low padding lo per spatial dim: dst[n, lo_i + l_i s_i, c] = src[n, l, c] where that index
 *  is inside P_i (a negative lo crops); every other element of dst is zero. d <= 3. */
void dilate_pad(const void* src, void* dst, size_t elem_size, int64_t n, int64_t c, const std::vector<int64_t>& in_len,
                const std::vector<int64_t>& out_len, const std::vector<int>& dilation, const std::vector<int>& lo,
                cudaStream_t stream);

}  // namespace mica::cu
