#include "mica/device.h"

#include <atomic>
#include <mutex>
#include <stdexcept>

#include "mica/backend/gpu_info.h"

namespace mica {

namespace {
// Default streams are read by every op, so they are atomics (no lock on the hot path).
struct StreamRegistry {
  std::mutex mu;
  std::vector<Stream> streams;
  std::atomic<int> default_cpu{0};
  std::atomic<int> default_gpu{-1};
  StreamRegistry() {
    streams.emplace_back(0, Device::cpu);
    if (gpu::device_count() > 0) {
      default_gpu = 1;
      streams.emplace_back(1, Device::gpu);
    }
  }
};
StreamRegistry& registry() {
  static StreamRegistry r;
  return r;
}
Device& default_device_ref() {
  static Device d = gpu::device_count() > 0 ? Device(Device::gpu) : Device(Device::cpu);
  return d;
}
void check_available(const Device& d, const char* who) {
  if (!is_available(d)) {
    const bool gpu = d.type == Device::gpu;
    throw std::invalid_argument(std::string("[") + who + "] expected an available device, got " +
                                (gpu ? "gpu:" : "cpu:") + std::to_string(d.index) +
                                (gpu ? " (no GPU backend in this build or no GPU on this machine)." : "."));
  }
}
}  // namespace

const Device& default_device() { return default_device_ref(); }

void set_default_device(const Device& d) {
  check_available(d, "set_default_device");
  default_device_ref() = d;
}

bool is_available(const Device& d) {
  if (d.type == Device::cpu) return d.index == 0;
  return d.index >= 0 && d.index < gpu::device_count();
}

int device_count(Device::DeviceType type) { return type == Device::cpu ? 1 : gpu::device_count(); }

Stream default_stream(Device d) {
  check_available(d, "default_stream");
  auto& r = registry();
  return Stream(d.type == Device::cpu ? r.default_cpu.load() : r.default_gpu.load(), d);
}

void set_default_stream(Stream s) {
  check_available(s.device, "set_default_stream");
  auto& r = registry();
  (s.device.type == Device::cpu ? r.default_cpu : r.default_gpu) = s.index;
}

Stream new_stream(Device d) {
  check_available(d, "new_stream");
  auto& r = registry();
  std::lock_guard<std::mutex> lk(r.mu);
  Stream s(static_cast<int>(r.streams.size()), d);
  r.streams.push_back(s);
  return s;
}

std::vector<Stream> get_streams() {
  auto& r = registry();
  std::lock_guard<std::mutex> lk(r.mu);
  return r.streams;
}

Stream to_stream(StreamOrDevice s, Device default_) {
  if (std::holds_alternative<Stream>(s)) {
    auto st = std::get<Stream>(s);
    check_available(st.device, "stream");
    return st;
  }
  if (std::holds_alternative<Device>(s)) return default_stream(std::get<Device>(s));
  return default_stream(default_);
}
Stream to_stream(StreamOrDevice s) { return to_stream(s, default_device()); }

namespace gpu {
namespace {
std::atomic<bool> g_allow_tf32{false};
}
void set_allow_tf32(bool allow) { g_allow_tf32.store(allow); }
bool allow_tf32() { return g_allow_tf32.load(); }
}  // namespace gpu

}  // namespace mica
