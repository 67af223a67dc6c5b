#include "mica/device.h"

#include <sys/utsname.h>

#include <atomic>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "mica/backend/gpu_info.h"

namespace mica {

namespace {
// Streams are numbered from 0 across devices. Their flags are read by every op that names a
// stream, so they are atomics in a fixed table (no lock on the hot path).
constexpr int kMaxStreams = 1 << 16;
constexpr uint8_t kLive = 1, kThreadLocal = 2;
struct StreamRegistry {
  std::mutex mu;
  std::vector<Stream> streams;
  std::vector<std::thread::id> creator;  // per stream index
  std::unique_ptr<std::atomic<uint8_t>[]> flags{new std::atomic<uint8_t>[kMaxStreams]};
  std::atomic<int> default_cpu{0};
  std::atomic<int> default_gpu{-1};
  StreamRegistry() {
    for (int i = 0; i < kMaxStreams; ++i) flags[i].store(0, std::memory_order_relaxed);
    add_locked(Device::cpu, 0);
    if (gpu::device_count() > 0) default_gpu = add_locked(Device::gpu, 0).index;
  }
  Stream add_locked(Device d, uint8_t extra) {
    int index = static_cast<int>(streams.size());
    if (index >= kMaxStreams) {
      throw std::runtime_error("[new_stream] expected fewer than " + std::to_string(kMaxStreams) +
                               " streams in a process, got one more.");
    }
    streams.emplace_back(index, d);
    creator.push_back(std::this_thread::get_id());
    flags[index].store(static_cast<uint8_t>(kLive | extra), std::memory_order_release);
    return streams.back();
  }
};
StreamRegistry& registry() {
  static StreamRegistry* r = new StreamRegistry();  // never destroyed: worker threads may use it during exit
  return *r;
}
// This thread's default streams (-1: the process's) and its streams of each thread-local stream.
thread_local int t_default_cpu = -1, t_default_gpu = -1;
thread_local std::map<int, Stream> t_local_streams;

uint8_t stream_flags(int index) {
  if (index < 0 || index >= kMaxStreams) return 0;
  return registry().flags[index].load(std::memory_order_acquire);
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

std::optional<Stream> peek_default_stream(Device d) {
  if (!is_available(d)) return std::nullopt;
  return default_stream(d);
}

namespace {
// The host CPU's name ("model name" in /proc/cpuinfo) and the machine's architecture (uname).
std::string cpu_name() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        auto start = line.find_first_not_of(' ', colon + 1);
        return start == std::string::npos ? "" : line.substr(start);
      }
    }
  }
  return "cpu";
}
}  // namespace

const std::unordered_map<std::string, std::variant<std::string, size_t>>& device_info(const Device& d) {
  using Info = std::unordered_map<std::string, std::variant<std::string, size_t>>;
  if (!is_available(d)) {
    throw std::invalid_argument(std::string("[device_info] expected an available device, got ") +
                                (d.type == Device::cpu ? "cpu" : "gpu") + "(" + std::to_string(d.index) + ").");
  }
  static std::mutex mu;
  static std::map<std::pair<int, int>, std::unique_ptr<Info>> cache;
  std::lock_guard<std::mutex> lk(mu);
  auto& slot = cache[{static_cast<int>(d.type), d.index}];
  if (!slot) {
    auto info = std::make_unique<Info>();
    struct utsname u {};
    const std::string arch = uname(&u) == 0 ? u.machine : "";
    if (d.type == Device::cpu) {
      (*info)["device_name"] = cpu_name();
      (*info)["architecture"] = arch;
    } else {
      gpu::Properties p;
      if (gpu::properties(d.index, p)) {
        (*info)["device_name"] = p.name;
        (*info)["architecture"] = "sm_" + std::to_string(p.major) + std::to_string(p.minor);
        (*info)["total_memory"] = p.total_memory;
        (*info)["free_memory"] = p.free_memory;
        (*info)["uuid"] = p.uuid;
        (*info)["pci_bus_id"] = p.pci_bus_id;
        (*info)["compute_capability_major"] = static_cast<size_t>(p.major);
        (*info)["compute_capability_minor"] = static_cast<size_t>(p.minor);
      }
    }
    slot = std::move(info);
  }
  return *slot;
}

Stream default_stream(Device d) {
  check_available(d, "default_stream");
  auto& r = registry();
  if (d.type == Device::cpu) return Stream(t_default_cpu >= 0 ? t_default_cpu : r.default_cpu.load(), d);
  return Stream(t_default_gpu >= 0 ? t_default_gpu : r.default_gpu.load(), d);
}

// A stream an op may run on: live, and a thread-local stream resolved to this thread's.
Stream resolve(const Stream& s, const char* who) {
  uint8_t f = stream_flags(s.index);
  if (!(f & kLive)) {
    auto& r = registry();
    bool created;
    {
      std::lock_guard<std::mutex> lk(r.mu);
      created = s.index >= 0 && s.index < static_cast<int>(r.streams.size());
    }
    throw std::invalid_argument(std::string("[") + who + "] expected a stream of this process, got stream " +
                                std::to_string(s.index) + (created ? " (cleared by clear_streams)." : " (never created)."));
  }
  if (!(f & kThreadLocal)) return s;
  auto it = t_local_streams.find(s.index);
  if (it != t_local_streams.end()) return it->second;
  auto& r = registry();
  std::lock_guard<std::mutex> lk(r.mu);
  Stream mine = r.add_locked(s.device, 0);
  t_local_streams.emplace(s.index, mine);
  return mine;
}

void set_default_stream(Stream s) {
  check_available(s.device, "set_default_stream");
  s = resolve(s, "set_default_stream");
  (s.device.type == Device::cpu ? t_default_cpu : t_default_gpu) = s.index;
}

Stream new_stream(Device d) {
  check_available(d, "new_stream");
  auto& r = registry();
  std::lock_guard<std::mutex> lk(r.mu);
  return r.add_locked(d, 0);
}

Stream new_thread_unsafe_stream(Device d) { return new_stream(d); }

ThreadLocalStream new_thread_local_stream(Device d) {
  check_available(d, "new_thread_local_stream");
  auto& r = registry();
  std::lock_guard<std::mutex> lk(r.mu);
  Stream s = r.add_locked(d, kThreadLocal);
  return ThreadLocalStream(s.index, s.device);
}

Stream stream_from_thread_local_stream(ThreadLocalStream tls) {
  if (!(stream_flags(tls.index) & kThreadLocal)) {
    throw std::invalid_argument("[stream_from_thread_local_stream] expected a stream made by new_thread_local_stream, got "
                                "stream " + std::to_string(tls.index) + ".");
  }
  return resolve(tls, "stream_from_thread_local_stream");
}

std::vector<Stream> get_streams() {
  auto& r = registry();
  std::lock_guard<std::mutex> lk(r.mu);
  std::vector<Stream> live;
  for (const Stream& s : r.streams) {
    if (r.flags[s.index].load(std::memory_order_relaxed) == kLive) live.push_back(s);
  }
  return live;
}

void clear_streams() {
  auto& r = registry();
  std::vector<Stream> mine;
  {
    std::lock_guard<std::mutex> lk(r.mu);
    auto me = std::this_thread::get_id();
    for (const Stream& s : r.streams) {
      bool process_default = s.index == r.default_cpu.load() || s.index == r.default_gpu.load();
      if (r.creator[s.index] == me && !process_default && r.flags[s.index].load() != 0) mine.push_back(s);
    }
  }
  for (const Stream& s : mine) synchronize(s);
  std::lock_guard<std::mutex> lk(r.mu);
  for (const Stream& s : mine) r.flags[s.index].store(0, std::memory_order_release);
  if (t_default_cpu >= 0 && r.flags[t_default_cpu].load() == 0) t_default_cpu = -1;
  if (t_default_gpu >= 0 && r.flags[t_default_gpu].load() == 0) t_default_gpu = -1;
  for (auto it = t_local_streams.begin(); it != t_local_streams.end();) {
    if (r.flags[it->second.index].load() == 0) it = t_local_streams.erase(it);
    else ++it;
  }
}

Stream to_stream(StreamOrDevice s, Device default_) {
  if (std::holds_alternative<Stream>(s)) {
    auto st = std::get<Stream>(s);
    check_available(st.device, "stream");
    return resolve(st, "stream");
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
