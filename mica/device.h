// Devices and streams: an op runs on a stream of a device.
#pragma once
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

namespace mica {

/** A compute device: cpu or gpu, with an index. */
struct Device {
  enum class DeviceType { cpu, gpu };
  static constexpr DeviceType cpu = DeviceType::cpu;
  static constexpr DeviceType gpu = DeviceType::gpu;
  constexpr Device(DeviceType type, int index = 0) : type(type), index(index) {}
  DeviceType type;
  int index;
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
};

/** The device ops use when none is given (cpu until a GPU backend lands). */
const Device& default_device();
/** Makes `d` the default device; throws if it is not available. */
void set_default_device(const Device& d);
/** True if the device can run ops in this build and on this machine. */
bool is_available(const Device& d);
/** Number of devices of a type. */
int device_count(Device::DeviceType type);
/** Properties of a device, as MLX's device_info: "device_name" and "architecture" (strings) for
 * every device; for a GPU also "total_memory", "free_memory" (bytes, as of the first call),
 * "uuid", "pci_bus_id", "compute_capability_major" and "compute_capability_minor". Throws for a
 * device that is not available. */
const std::unordered_map<std::string, std::variant<std::string, size_t>>& device_info(
    const Device& d = default_device());

/** An ordered queue of work on a device. */
struct Stream {
  int index;
  Device device;
  Stream(int index, Device device) : index(index), device(device) {}
  bool operator==(const Stream& o) const { return index == o.index; }
  bool operator!=(const Stream& o) const { return index != o.index; }
};

/** A stream that stands for one stream per thread (MLX's ThreadLocalStream): an op given it runs
 * on the calling thread's own stream, made on the thread's first use. */
struct ThreadLocalStream : Stream {
  using Stream::Stream;
};

/** The default stream of a device for the calling thread: the one set_default_stream chose on
 * this thread, else the process's. */
Stream default_stream(Device d);
/** Makes `s` the default stream of its device on the calling thread (as in MLX; other threads
 * keep theirs). */
void set_default_stream(Stream s);
/** The default stream of `d` for the calling thread, or nothing when `d` is not available. */
std::optional<Stream> peek_default_stream(Device d);
/** A new stream on a device. mica's streams may be used from any thread. */
Stream new_stream(Device d);
/** new_stream (MLX's name for a stream usable from any thread). */
Stream new_thread_unsafe_stream(Device d);
/** A stream standing for one stream of `d` per thread. */
ThreadLocalStream new_thread_local_stream(Device d);
/** The calling thread's stream of `tls` (made on first use). */
Stream stream_from_thread_local_stream(ThreadLocalStream tls);
/** Every stream created so far and not cleared (thread-local streams: each thread's). */
std::vector<Stream> get_streams();
/** Forgets the streams the calling thread created (after waiting for their work): they leave
 * get_streams() and an op given one throws; a default stream of this thread that was one goes
 * back to the process's default. The process's default streams are never cleared. */
void clear_streams();

/** Where an op runs: nothing (default), a device (its default stream) or a stream. */
using StreamOrDevice = std::variant<std::monostate, Stream, Device>;
/** Resolves a StreamOrDevice to a stream; throws if its device is unavailable. */
Stream to_stream(StreamOrDevice s);
Stream to_stream(StreamOrDevice s, Device default_);

/** Waits until all work scheduled on the stream (or all streams) has finished. */
void synchronize();
void synchronize(Stream s);

namespace gpu {
/** Whether float32 matrix products on the GPU may round their inputs to TF32 (tensor cores with
 * 10-bit mantissas, float32 accumulation; several times faster). Off by default, so GPU results
 * match the CPU to float32 tolerance, as PyTorch's `torch.backends.cuda.matmul.allow_tf32`. */
void set_allow_tf32(bool allow);
bool allow_tf32();
}  // namespace gpu

}  // namespace mica
