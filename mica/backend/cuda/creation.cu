// GPU kernel of the creation family (backend/cpu/creation.cpp's twin).
#include "mica/backend/cuda/device/elementwise.cuh"
#include "mica/backend/cuda/device/types.cuh"
#include "mica/backend/cuda/utils.h"
#include "mica/primitives/creation.h"

namespace mica {

namespace {
// out: (n,) row-major; out[i] = start + i * step computed in double, then converted.
template <typename T>
__global__ void arange_kernel(T* out, double start, double step, int64_t n) {
  int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    out[i] = cu::cast<T>(start + static_cast<double>(i) * step);
  }
}
}  // namespace

void Arange::eval_gpu(const std::vector<array>&, array& out) {
  cu::alloc_output(out, stream());
  int64_t n = static_cast<int64_t>(out.size());
  if (n == 0) return;
  cu::dispatch(out.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (cu::is_complex_v<T> || std::is_same_v<T, bool>) {
      throw std::runtime_error("[arange] kernel got unsupported dtype " + dtype_to_string(out.dtype()) + ".");
    } else {
      arange_kernel<T><<<cu::grid_for(n, 4), cu::kBlock, 0, cu::stream(stream())>>>(cu::ptr<T>(out), start_, step_, n);
    }
  });
  cu::check_launch("arange");
}

}  // namespace mica
