// Scoped default streams and orderings of devices and streams (MLX's stream.h).
#pragma once
#include "mica/device.h"

namespace mica {

/** Makes a stream (or a device's default stream) the default for its scope, as MLX's
 * StreamContext: the constructor sets the default device and that device's default stream;
 * the destructor restores both as they were, also when an exception leaves the scope. */
class StreamContext {
 public:
  /** Throws std::invalid_argument for an empty StreamOrDevice or an unavailable device. */
  StreamContext(StreamOrDevice s);
  ~StreamContext();
  StreamContext(const StreamContext&) = delete;
  StreamContext& operator=(const StreamContext&) = delete;

 private:
  Device prev_device_;
  Stream prev_stream_;  // the previous default stream of the device the context selects
};

/** Orderings, so that devices and streams key std::map and std::set: cpu before gpu, then by
 * index; streams by index (unique across devices). */
inline bool operator<(const Device& a, const Device& b) {
  return a.type != b.type ? a.type < b.type : a.index < b.index;
}
inline bool operator<(const Stream& a, const Stream& b) { return a.index < b.index; }

namespace cu {
/** True when the CUDA backend is built in and a GPU is present (MLX's cu::is_available). */
bool is_available();
}  // namespace cu

namespace metal {
/** mica has no Metal backend: always false (MLX's metal::is_available, for portable programs). */
inline bool is_available() { return false; }
}  // namespace metal

}  // namespace mica
