// CPU kernels of the creation family.
#include "mica/primitives/creation.h"
#include "mica/types/cast.h"

namespace mica {

// out: (n,) row-major; out[i] = start + i * step, computed in double then converted.
void Arange::eval_cpu(const std::vector<array>&, array& out) {
  out.set_data(allocator::malloc(out.nbytes()));
  dispatch_dtype(out.dtype(), [&](auto t) {
    using T = typename decltype(t)::type;
    T* p = out.data<T>();
    for (size_t i = 0; i < out.size(); ++i) p[i] = cast_to<T>(start_ + static_cast<double>(i) * step_);
  });
}

}  // namespace mica
