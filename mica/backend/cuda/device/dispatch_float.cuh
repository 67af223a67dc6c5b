// Dtype dispatch of the CUDA kernels that take only floating inputs (the fused kernels).
#pragma once
#include <stdexcept>
#include <string>

#include "mica/backend/cuda/device/types.cuh"

namespace mica::cu {

/** Calls f(Tag<T>{}) with T the device type of the floating dtype d (float, double, __half,
 * __nv_bfloat16); any other dtype is a kernel reached past its op's checks: throws naming
 * `name`. */
template <typename F>
void dispatch_float(const char* name, Dtype d, F&& f) {
  switch (d.val) {
    case Dtype::Val::float32: return f(Tag<float>{});
    case Dtype::Val::float64: return f(Tag<double>{});
    case Dtype::Val::float16: return f(Tag<__half>{});
    case Dtype::Val::bfloat16: return f(Tag<__nv_bfloat16>{});
    default:
      throw std::runtime_error(std::string("[") + name + "] kernel got unsupported dtype " + dtype_to_string(d) +
                               " (the op should have rejected it).");
  }
}

}  // namespace mica::cu
