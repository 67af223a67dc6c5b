#include "mica/device.h"

#include <mutex>
#include <stdexcept>

#include "mica/backend/gpu_info.h"

namespace mica {

namespace {
struct StreamRegistry {
  std::mutex mu;
  std::vector<Stream> streams;
  Stream default_cpu{0, Device::cpu};
  Stream default_gpu{-1, Device::gpu};
  StreamRegistry() {
    streams.push_back(default_cpu);
    if (gpu::device_count() > 0) {
      default_gpu = Stream(1, Device::gpu);
      streams.push_back(default_gpu);
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
    throw std::invalid_argument(std::string("[") + who + "] expected an available device, got gpu:" +
                                std::to_string(d.index) + " (no GPU backend in this build or no GPU on this machine).");
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
  std::lock_guard<std::mutex> lk(r.mu);
  return d.type == Device::cpu ? r.default_cpu : r.default_gpu;
}

void set_default_stream(Stream s) {
  check_available(s.device, "set_default_stream");
  auto& r = registry();
  std::lock_guard<std::mutex> lk(r.mu);
  (s.device.type == Device::cpu ? r.default_cpu : r.default_gpu) = s;
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

}  // namespace mica
