// StreamContext and the CUDA availability query (mica/stream.h).
#include "mica/stream.h"

#include <stdexcept>

namespace mica {

namespace {
Stream context_stream(const StreamOrDevice& s) {
  if (std::holds_alternative<std::monostate>(s)) {
    throw std::invalid_argument("[StreamContext] expected a stream or a device, got neither.");
  }
  return to_stream(s);  // throws for an unavailable device
}
}  // namespace

StreamContext::StreamContext(StreamOrDevice s)
    : prev_device_(default_device()), prev_stream_(default_stream(context_stream(s).device)) {
  Stream target = to_stream(s);
  set_default_device(target.device);
  set_default_stream(target);
}

StreamContext::~StreamContext() {
  // Both were valid when saved; a failure here could only come from a device vanishing, and a
  // destructor must not throw.
  try {
    set_default_stream(prev_stream_);
    set_default_device(prev_device_);
  } catch (...) {
  }
}

namespace cu {
bool is_available() { return mica::is_available(Device::gpu); }
}  // namespace cu

}  // namespace mica
