#include "mica/allocator.h"

#include "mica/array.h"
#include "mica/backend/gpu_info.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace mica {

namespace {
// Blocks of at least this size are cached by their page-rounded size; smaller ones go to
// malloc, which is already fast for them.
constexpr size_t kCacheMin = 16384;
constexpr size_t kPage = 4096;

struct State {
  std::mutex mu;  // guards the cache and the limits
  std::atomic<size_t> active{0};
  std::atomic<size_t> peak{0};
  size_t cached = 0;
  size_t memory_limit;
  size_t cache_limit;
  std::unordered_map<size_t, std::vector<void*>> cache;
  State() {
    size_t ram = static_cast<size_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<size_t>(sysconf(_SC_PAGE_SIZE));
    memory_limit = ram;  // generous: the OS is the real limit on the CPU
    cache_limit = ram / 4;
  }
  void trim_locked(size_t target) {
    for (auto it = cache.begin(); it != cache.end() && cached > target;) {
      auto& v = it->second;
      while (!v.empty() && cached > target) {
        std::free(v.back());
        v.pop_back();
        cached -= it->first;
      }
      it = v.empty() ? cache.erase(it) : std::next(it);
    }
  }
};
State& state() {
  static State* s = new State();  // never destroyed: buffers may be freed during exit
  return *s;
}
size_t rounded(size_t size) { return size >= kCacheMin ? (size + kPage - 1) / kPage * kPage : size; }
}  // namespace

namespace allocator {

namespace {
void add_active(State& s, size_t n) {
  size_t now = s.active.fetch_add(n, std::memory_order_relaxed) + n;
  size_t peak = s.peak.load(std::memory_order_relaxed);
  while (now > peak && !s.peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}
}  // namespace

Buffer malloc(size_t size) {
  auto& s = state();
  size_t n = rounded(size);
  // Small blocks: no lock, only the counters (the graph overhead of scalar ops lives here).
  if (n < kCacheMin) {
    void* p = std::malloc(n == 0 ? 1 : n);
    if (!p) throw std::bad_alloc();
    add_active(s, n);
    return Buffer{p, size};
  }
  void* p = nullptr;
  {
    std::lock_guard<std::mutex> lk(s.mu);
    if (s.active + n > s.memory_limit) {
      throw std::runtime_error("[malloc] expected at most " + std::to_string(s.memory_limit) +
                               " bytes in use (the memory limit), got a request for " +
                               std::to_string(size) + " more with " + std::to_string(s.active) + " in use.");
    }
    if (n >= kCacheMin) {
      auto it = s.cache.find(n);
      if (it != s.cache.end() && !it->second.empty()) {
        p = it->second.back();
        it->second.pop_back();
        s.cached -= n;
      }
    }
  }
  add_active(s, n);
  if (!p) {
    p = n >= kCacheMin ? std::aligned_alloc(kPage, n) : std::malloc(n == 0 ? 1 : n);
    if (!p && n >= kCacheMin) {
      clear_cache(Device::cpu);
      p = std::aligned_alloc(kPage, n);
    }
    if (!p) {
      s.active -= n;
      throw std::bad_alloc();
    }
  }
  return Buffer{p, size};
}

void free(Buffer b) {
  if (!b.ptr) return;
  auto& s = state();
  size_t n = rounded(b.size);
  s.active.fetch_sub(n, std::memory_order_relaxed);
  if (n < kCacheMin) {
    std::free(b.ptr);
    return;
  }
  std::lock_guard<std::mutex> lk(s.mu);
  if (s.cached + n <= s.cache_limit) {
    s.cache[n].push_back(b.ptr);
    s.cached += n;
    return;
  }
  std::free(b.ptr);
}

}  // namespace allocator

namespace {
bool on_gpu(const Device& d) { return d.type == Device::gpu; }
}  // namespace

size_t get_active_memory(const Device& d) { return on_gpu(d) ? gpu::active_memory() : state().active.load(); }
size_t get_peak_memory(const Device& d) { return on_gpu(d) ? gpu::peak_memory() : state().peak.load(); }
void reset_peak_memory(const Device& d) {
  if (on_gpu(d)) return gpu::reset_peak_memory();
  state().peak.store(state().active.load());
}
size_t get_cache_memory(const Device& d) {
  if (on_gpu(d)) return gpu::cache_memory();
  std::lock_guard<std::mutex> lk(state().mu);
  return state().cached;
}
size_t set_memory_limit(size_t limit, const Device& d) {
  if (on_gpu(d)) return gpu::set_memory_limit(limit);
  std::lock_guard<std::mutex> lk(state().mu);
  size_t old = state().memory_limit;
  state().memory_limit = limit;
  return old;
}
size_t get_memory_limit(const Device& d) {
  if (on_gpu(d)) return gpu::memory_limit();
  std::lock_guard<std::mutex> lk(state().mu);
  return state().memory_limit;
}
size_t set_cache_limit(size_t limit, const Device& d) {
  if (on_gpu(d)) return gpu::set_cache_limit(limit);
  std::lock_guard<std::mutex> lk(state().mu);
  size_t old = state().cache_limit;
  state().cache_limit = limit;
  state().trim_locked(limit);
  return old;
}
void clear_cache(const Device& d) {
  if (on_gpu(d)) return gpu::clear_cache();
  std::lock_guard<std::mutex> lk(state().mu);
  state().trim_locked(0);
}

size_t get_active_memory() { return get_active_memory(default_device()); }
size_t get_peak_memory() { return get_peak_memory(default_device()); }
void reset_peak_memory() { reset_peak_memory(default_device()); }
size_t get_cache_memory() { return get_cache_memory(default_device()); }
size_t set_memory_limit(size_t limit) { return set_memory_limit(limit, default_device()); }
size_t get_memory_limit() { return get_memory_limit(default_device()); }
size_t set_cache_limit(size_t limit) { return set_cache_limit(limit, default_device()); }
void clear_cache() { clear_cache(default_device()); }

size_t set_wired_limit(size_t limit) {
  static std::atomic<size_t> wired{0};
  return wired.exchange(limit);
}

size_t get_array_buffer_size(const std::vector<array>& arrays) {
  std::unordered_map<const void*, size_t> seen;
  for (const auto& a : arrays) {
    const auto& d = a.data_shared_ptr();
    if (!a.is_available() || !d) throw std::invalid_argument("[get_array_buffer_size] expected evaluated arrays, got one not evaluated.");
    seen[d.get()] = std::max(d->buffer.size, d->gpu.size);
  }
  size_t total = 0;
  for (const auto& [p, n] : seen) total += n;
  return total;
}

}  // namespace mica
