// Dtype dispatch of the CPU kernels that take only floating inputs (the row and fused kernels).
#pragma once
#include <stdexcept>
#include <string>

#include "mica/types/cast.h"

namespace mica::cpu {

/** Calls f(type_tag<T>{}) with T the C++ type of the floating dtype d (float32, float64,
 * float16, bfloat16); any other dtype is a kernel reached past its op's checks: throws naming
 * `name`. */
template <typename F>
void dispatch_float(const char* name, Dtype d, F&& f) {
  switch (d.val) {
    case Dtype::Val::float32: return f(type_tag<float>{});
    case Dtype::Val::float64: return f(type_tag<double>{});
    case Dtype::Val::float16: return f(type_tag<float16_t>{});
    case Dtype::Val::bfloat16: return f(type_tag<bfloat16_t>{});
    default:
      throw std::runtime_error(std::string("[") + name + "] kernel got unsupported dtype " + dtype_to_string(d) +
                               " (the op should have rejected it).");
  }
}

}  // namespace mica::cpu
