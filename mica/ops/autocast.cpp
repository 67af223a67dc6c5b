// The thread's autocast dtype (mica/autocast.h).
#include "mica/autocast.h"

#include <stdexcept>
#include <string>

namespace mica {

namespace {
thread_local std::optional<Dtype> g_autocast;
}

Autocast::Autocast(std::optional<Dtype> dtype) : previous_(g_autocast) {
  if (dtype && *dtype != float16 && *dtype != bfloat16) {
    throw std::invalid_argument("[Autocast] expected float16 or bfloat16, got " + dtype_to_string(*dtype) + ".");
  }
  g_autocast = dtype;
}

Autocast::~Autocast() { g_autocast = previous_; }

std::optional<Dtype> autocast_dtype() { return g_autocast; }

namespace detail {
Dtype autocast_product_type(Dtype t) { return g_autocast && t == float32 ? *g_autocast : t; }
}  // namespace detail

}  // namespace mica
