// The CUDA runtime side of mica: devices, streams and events, the stream-ordered allocator over
// CUDA's memory pool (with MLX's memory counters), and moving an array's data between the host
// and the GPU on demand.
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "mica/backend/cuda/graph_hooks.h"
#include "mica/backend/cuda/utils.h"
#include "mica/backend/gpu_info.h"
#include "mica/primitives/primitive.h"

namespace mica {

namespace cu {

[[noreturn]] void throw_cuda_error(const char* call, cudaError_t err, const char* file, int line) {
  throw std::runtime_error(std::string("[cuda] ") + call + " failed: " + cudaGetErrorName(err) + " (" +
                           cudaGetErrorString(err) + ") at " + file + ":" + std::to_string(line) + ".");
}

void check_launch(const char* op) {
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string("[") + op + "] kernel launch failed: " + cudaGetErrorName(err) + " (" +
                             cudaGetErrorString(err) + ").");
  }
}

namespace {

// Process-wide state, never destroyed: arrays may be released during static destruction.
struct Runtime {
  std::mutex mu;  // guards streams/events and host<->GPU moves
  std::unordered_map<int, cudaStream_t> streams;
  std::unordered_map<int, cudaEvent_t> events;
  cudaMemPool_t pool = nullptr;
  int sms = 0;
  size_t total_memory = 0;
  std::atomic<size_t> active{0};
  std::atomic<size_t> peak{0};
  std::atomic<size_t> memory_limit{0};
  std::atomic<size_t> cache_limit{0};
  std::atomic<size_t> fallbacks{0};

  int device = 0;  // the GPU this process uses (gpu::device_index())

  Runtime() : device(gpu::device_index()) {
    MICA_CUDA_CHECK(cudaSetDevice(device));
    MICA_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    size_t free_b = 0;
    MICA_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_memory));
    MICA_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
    memory_limit = total_memory;
    set_release_threshold(total_memory);
  }
  void set_release_threshold(size_t bytes) {
    cache_limit = bytes;
    uint64_t t = bytes;
    MICA_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &t));
  }
};

Runtime& rt() {
  static Runtime* r = new Runtime();
  // The current device is per host thread: a thread's first call into the runtime selects the
  // process's GPU (work submitted from another thread would otherwise go to GPU 0).
  thread_local bool selected = false;
  if (!selected) {
    MICA_CUDA_CHECK(cudaSetDevice(r->device));
    selected = true;
  }
  return *r;
}

// Large host<->GPU copies go through two pinned chunks, so the DMA runs at pinned speed while
// the host copies the next chunk (pageable memory otherwise takes the driver's slower path).
constexpr size_t kStageMin = size_t(1) << 20;
constexpr size_t kStageChunk = size_t(8) << 20;
struct Staging {
  std::mutex mu;
  char* buf[2] = {nullptr, nullptr};
  cudaEvent_t done[2];
  Staging() {
    void* p = nullptr;
    MICA_CUDA_CHECK(cudaMallocHost(&p, 2 * kStageChunk));
    buf[0] = static_cast<char*>(p);
    buf[1] = buf[0] + kStageChunk;
    for (auto& e : done) MICA_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  }
};
Staging& staging() {
  static Staging* s = new Staging();
  return *s;
}

// host -> GPU on stream s: chunk i is copied into slot i % 2 once that slot's last DMA is done.
void stage_to_gpu(void* dst, const void* src, size_t bytes, cudaStream_t s) {
  auto& st = staging();
  std::lock_guard<std::mutex> lk(st.mu);
  for (size_t off = 0, i = 0; off < bytes; off += kStageChunk, ++i) {
    size_t n = std::min(kStageChunk, bytes - off);
    int slot = static_cast<int>(i % 2);
    MICA_CUDA_CHECK(cudaEventSynchronize(st.done[slot]));
    std::memcpy(st.buf[slot], static_cast<const char*>(src) + off, n);
    MICA_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(dst) + off, st.buf[slot], n, cudaMemcpyHostToDevice, s));
    MICA_CUDA_CHECK(cudaEventRecord(st.done[slot], s));
  }
  // The staging slots are reused by the next copy only after their events fire.
}

// GPU -> host on stream s (after the work queued on s): chunk i+1's DMA overlaps chunk i's copy out.
void stage_to_host(void* dst, const void* src, size_t bytes, cudaStream_t s) {
  auto& st = staging();
  std::lock_guard<std::mutex> lk(st.mu);
  size_t chunks = (bytes + kStageChunk - 1) / kStageChunk;
  auto issue = [&](size_t i) {
    size_t off = i * kStageChunk, n = std::min(kStageChunk, bytes - off);
    int slot = static_cast<int>(i % 2);
    MICA_CUDA_CHECK(cudaMemcpyAsync(st.buf[slot], static_cast<const char*>(src) + off, n, cudaMemcpyDeviceToHost, s));
    MICA_CUDA_CHECK(cudaEventRecord(st.done[slot], s));
  };
  issue(0);
  for (size_t i = 0; i < chunks; ++i) {
    if (i + 1 < chunks) issue(i + 1);
    int slot = static_cast<int>(i % 2);
    MICA_CUDA_CHECK(cudaEventSynchronize(st.done[slot]));
    size_t off = i * kStageChunk, n = std::min(kStageChunk, bytes - off);
    std::memcpy(static_cast<char*>(dst) + off, st.buf[slot], n);
  }
}

cudaEvent_t event_locked(Runtime& r, int index) {
  auto it = r.events.find(index);
  if (it != r.events.end()) return it->second;
  cudaEvent_t e;
  MICA_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  r.events.emplace(index, e);
  return e;
}

void add_active(Runtime& r, size_t n) {
  size_t now = r.active.fetch_add(n, std::memory_order_relaxed) + n;
  size_t p = r.peak.load(std::memory_order_relaxed);
  while (now > p && !r.peak.compare_exchange_weak(p, now, std::memory_order_relaxed)) {
  }
}

size_t pool_attr(cudaMemPoolAttr attr) {
  uint64_t v = 0;
  MICA_CUDA_CHECK(cudaMemPoolGetAttribute(rt().pool, attr, &v));
  return static_cast<size_t>(v);
}

// Buffers take whole 16-byte units: atomics on 1- and 2-byte elements work on the 4-byte word
// around them, and vector loads read 16 bytes, so the last word must belong to the buffer. The
// Buffer keeps the size asked for (copies to the host move only those bytes).
size_t padded(size_t bytes) { return (bytes + 15) & ~size_t(15); }

std::string mib(size_t b) { return std::to_string(b / (1024 * 1024)) + " MiB"; }

}  // namespace

cudaStream_t stream(int index) {
  auto& r = rt();
  std::lock_guard<std::mutex> lk(r.mu);
  auto it = r.streams.find(index);
  if (it != r.streams.end()) return it->second;
  cudaStream_t s;
  MICA_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  r.streams.emplace(index, s);
  return s;
}
cudaStream_t stream(const Stream& s) { return stream(s.index); }

int sm_count() { return rt().sms; }

allocator::Buffer malloc(size_t bytes, const Stream& s) {
  if (bytes == 0) return {nullptr, 0};
  auto& r = rt();
  size_t limit = r.memory_limit.load();
  if (r.active.load() + bytes > limit) {
    throw std::runtime_error("[gpu malloc] expected at most " + std::to_string(limit) +
                             " bytes of GPU memory in use (the memory limit), got a request for " +
                             std::to_string(bytes) + " more with " + std::to_string(r.active.load()) + " in use.");
  }
  cudaStream_t cs = stream(s);
  void* p = nullptr;
  cudaError_t err = cudaMallocAsync(&p, padded(bytes), cs);
  if (err == cudaErrorMemoryAllocation) {
    // Blocks freed on other streams return to the pool once that work is done: wait, trim, retry.
    cudaGetLastError();
    MICA_CUDA_CHECK(cudaDeviceSynchronize());
    MICA_CUDA_CHECK(cudaMemPoolTrimTo(r.pool, 0));
    err = cudaMallocAsync(&p, padded(bytes), cs);
  }
  if (err != cudaSuccess) {
    cudaGetLastError();  // allocation failures are not sticky: the program can free arrays and go on
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    throw std::runtime_error("[gpu malloc] out of GPU memory: could not allocate " + std::to_string(bytes) + " bytes (" +
                             mib(bytes) + "); arrays hold " + mib(r.active.load()) + ", the cache " +
                             mib(pool_attr(cudaMemPoolAttrReservedMemCurrent) - pool_attr(cudaMemPoolAttrUsedMemCurrent)) +
                             ", " + mib(free_b) + " of " + mib(total_b) + " free on the device (" +
                             cudaGetErrorName(err) + ").");
  }
  add_active(r, padded(bytes));
  if (graph_hooks::g_active.load(std::memory_order_relaxed)) graph_hooks::on_malloc(p, cs);
  return {p, bytes};
}

namespace {
void free_on(allocator::Buffer b, int stream_index) {
  if (!b.ptr) return;
  auto& r = rt();
  r.active.fetch_sub(padded(b.size), std::memory_order_relaxed);
  if (graph_hooks::g_active.load(std::memory_order_relaxed) && graph_hooks::on_free(b, stream_index)) return;
  // At process exit the runtime may be gone; a failed free then is harmless.
  if (cudaFreeAsync(b.ptr, stream(stream_index)) != cudaSuccess) cudaGetLastError();
}
}  // namespace

void alloc_output(array& out, const Stream& s) {
  auto buf = malloc(out.nbytes(), s);
  array::Flags f{};
  f.contiguous = f.row_contiguous = true;
  bool col = true;
  int64_t expect = 1;
  auto strides = row_strides(out.shape());
  for (size_t i = 0; i < out.ndim() && out.size() > 1; ++i) {  // an empty array's product may pass int64
    if (out.shape()[i] != 1 && strides[i] != expect) col = false;
    expect *= out.shape()[i];
  }
  f.col_contiguous = col || out.size() <= 1;
  out.set_gpu_data(buf, s.index, out.size(), std::move(strides), f);
}

void alloc_output(array& out, const Stream& s, size_t data_size, Strides strides, array::Flags flags) {
  auto buf = malloc(data_size * out.itemsize(), s);
  out.set_gpu_data(buf, s.index, data_size, std::move(strides), flags);
}

bool is_host_scalar(const array& a) {
  auto* d = a.data_record();
  return d && a.data_size() == 1 && (d->where & ArrayData::kHost);
}

void prepare(const array& a, const Stream& s) {
  ArrayData* d = a.data_record();
  if (!d) throw std::logic_error("[cuda] an input reached a GPU kernel unevaluated.");
  if (d->where & ArrayData::kGpu) {
    if (d->gpu_stream != s.index && d->gpu.ptr) {
      // Cross-stream dependency: s waits for the work queued so far on the writer's stream.
      auto& r = rt();
      cudaStream_t from = stream(d->gpu_stream), to = stream(s);
      std::lock_guard<std::mutex> lk(r.mu);
      cudaEvent_t e = event_locked(r, d->gpu_stream);
      MICA_CUDA_CHECK(cudaEventRecord(e, from));
      MICA_CUDA_CHECK(cudaStreamWaitEvent(to, e, 0));
      d->gpu_cross_stream = true;
    }
    return;
  }
  size_t bytes = d->buffer.size;
  d->gpu = malloc(bytes, s);
  d->gpu_stream = s.index;
  if (bytes >= kStageMin) {
    stage_to_gpu(d->gpu.ptr, d->buffer.ptr, bytes, stream(s));
  } else if (bytes > 0) {
    // Pageable memory: the runtime stages the bytes before returning, so the host copy may be
    // freed at once.
    MICA_CUDA_CHECK(cudaMemcpyAsync(d->gpu.ptr, d->buffer.ptr, bytes, cudaMemcpyHostToDevice, stream(s)));
  }
  d->where |= ArrayData::kGpu;
}

void prepare(const std::vector<array>& inputs, const Stream& s) {
  for (auto& a : inputs) prepare(a, s);
}

Scratch::Scratch(size_t bytes, const Stream& s) : buf_(malloc(bytes, s)), stream_(s.index) {}
Scratch::~Scratch() { free_on(buf_, stream_); }

void cpu_fallback(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs) {
  // The inputs come to the host through data() (which waits for the GPU work writing them).
  bool was = detail::g_running_gpu_kernel;
  detail::g_running_gpu_kernel = false;
  try {
    p.eval_cpu(inputs, outputs);
  } catch (...) {
    detail::g_running_gpu_kernel = was;
    throw;
  }
  detail::g_running_gpu_kernel = was;
  rt().fallbacks.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace cu

namespace detail {

void ensure_host(ArrayData& d) {
  auto& r = cu::rt();
  std::lock_guard<std::mutex> lk(r.mu);
  if (d.where & ArrayData::kHost) return;
  size_t bytes = d.gpu.size;
  if (!d.buffer.ptr) {
    d.buffer = allocator::malloc(bytes);
    d.d = allocator::free;
  }
  if (bytes > 0) {
    cudaStream_t s;
    {
      auto it = r.streams.find(d.gpu_stream);
      if (it == r.streams.end()) throw std::logic_error("[data] GPU data written by an unknown stream.");
      s = it->second;
    }
    bytes = std::min(bytes, d.buffer.size);
    if (bytes >= cu::kStageMin) {
      cu::stage_to_host(d.buffer.ptr, d.gpu.ptr, bytes, s);
    } else {
      MICA_CUDA_CHECK(cudaMemcpyAsync(d.buffer.ptr, d.gpu.ptr, bytes, cudaMemcpyDeviceToHost, s));
      MICA_CUDA_CHECK(cudaStreamSynchronize(s));
    }
  }
  d.where |= ArrayData::kHost;
}

void release_gpu(ArrayData& d) {
  if (!d.gpu.ptr) return;
  if (d.gpu_cross_stream) {
    // Read on other streams: the free must wait for their work too.
    auto& r = cu::rt();
    std::lock_guard<std::mutex> lk(r.mu);
    cudaStream_t own = r.streams.at(d.gpu_stream);
    for (auto& [index, s] : r.streams) {
      if (index == d.gpu_stream) continue;
      cudaEvent_t e = cu::event_locked(r, index);
      if (cudaEventRecord(e, s) == cudaSuccess) cudaStreamWaitEvent(own, e, 0);
    }
  }
  cu::free_on(d.gpu, d.gpu_stream);  // takes the runtime's lock itself
  d.gpu = {};
  d.where &= static_cast<uint8_t>(~ArrayData::kGpu);
}

}  // namespace detail

namespace gpu {

int device_index() {
  static int index = [] {
    int n = device_count();
    if (n == 0) return 0;
    if (const char* v = std::getenv("MICA_GPU_DEVICE")) {
      char* end = nullptr;
      long i = std::strtol(v, &end, 10);
      if (end == v || *end != '\0' || i < 0 || i >= n) {
        throw std::invalid_argument("[gpu] expected MICA_GPU_DEVICE in [0, " + std::to_string(n) + "), got \"" + v +
                                    "\".");
      }
      return static_cast<int>(i);
    }
    // One process per GPU: the launcher's local rank (torchrun, Open MPI, MPICH, Slurm), else the
    // global rank (a one-host launch that sets only that), modulo the GPUs this process sees.
    for (const char* name : {"LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID",
                             "MICA_RANK", "MLX_RANK", "RANK"}) {
      if (const char* v = std::getenv(name)) {
        char* end = nullptr;
        long i = std::strtol(v, &end, 10);
        if (end != v && *end == '\0' && i >= 0) return static_cast<int>(i % n);
      }
    }
    return 0;
  }();
  return index;
}

int device_count() {
  static int n = [] {
    int c = 0;
    if (cudaGetDeviceCount(&c) != cudaSuccess) {
      cudaGetLastError();  // no driver or no device: the GPU is unavailable, the CPU works
      return 0;
    }
    return c;
  }();
  return n;
}

bool properties(int index, Properties& out) {
  if (index < 0 || index >= device_count()) return false;
  cudaDeviceProp p{};
  MICA_CUDA_CHECK(cudaGetDeviceProperties(&p, index));
  out.name = p.name;
  out.total_memory = p.totalGlobalMem;
  out.major = p.major;
  out.minor = p.minor;
  // "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", as nvidia-smi prints it.
  static const char* hex = "0123456789abcdef";
  out.uuid = "GPU-";
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.uuid += '-';
    const unsigned char b = static_cast<unsigned char>(p.uuid.bytes[i]);
    out.uuid += hex[b >> 4];
    out.uuid += hex[b & 15];
  }
  char bus[32] = {0};
  if (cudaDeviceGetPCIBusId(bus, sizeof(bus), index) == cudaSuccess) out.pci_bus_id = bus;
  else cudaGetLastError();
  int current = 0;
  MICA_CUDA_CHECK(cudaGetDevice(&current));
  MICA_CUDA_CHECK(cudaSetDevice(index));
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) out.free_memory = free_b;
  else cudaGetLastError();
  MICA_CUDA_CHECK(cudaSetDevice(current));
  return true;
}

void synchronize(int stream_index) {
  if (device_count() == 0) return;
  MICA_CUDA_CHECK(cudaStreamSynchronize(cu::stream(stream_index)));
}
void synchronize() {
  if (device_count() == 0) return;
  MICA_CUDA_CHECK(cudaDeviceSynchronize());
}

size_t active_memory() { return device_count() ? cu::rt().active.load() : 0; }
size_t peak_memory() { return device_count() ? cu::rt().peak.load() : 0; }
void reset_peak_memory() {
  if (device_count()) cu::rt().peak.store(cu::rt().active.load());
}
size_t cache_memory() {
  if (!device_count()) return 0;
  return cu::pool_attr(cudaMemPoolAttrReservedMemCurrent) - cu::pool_attr(cudaMemPoolAttrUsedMemCurrent);
}
size_t set_memory_limit(size_t limit) {
  if (!device_count()) return 0;
  return cu::rt().memory_limit.exchange(limit);
}
size_t memory_limit() { return device_count() ? cu::rt().memory_limit.load() : 0; }
size_t set_cache_limit(size_t limit) {
  if (!device_count()) return 0;
  auto& r = cu::rt();
  size_t old = r.cache_limit.load();
  r.set_release_threshold(limit);
  MICA_CUDA_CHECK(cudaDeviceSynchronize());
  MICA_CUDA_CHECK(cudaMemPoolTrimTo(r.pool, limit));
  return old;
}
void clear_cache() {
  if (!device_count()) return;
  MICA_CUDA_CHECK(cudaDeviceSynchronize());
  MICA_CUDA_CHECK(cudaMemPoolTrimTo(cu::rt().pool, 0));
}
size_t cpu_fallback_count() { return device_count() ? cu::rt().fallbacks.load() : 0; }

}  // namespace gpu

}  // namespace mica
