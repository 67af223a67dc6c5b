// Host memory: a caching allocator with MLX's memory counters.
#pragma once
#include <cstddef>
#include <vector>

#include "mica/device.h"

namespace mica {
class array;
namespace allocator {

/** A block of memory and its size in bytes. */
struct Buffer {
  void* ptr = nullptr;
  size_t size = 0;
  void* raw_ptr() const { return ptr; }
};

/** Allocates `size` bytes (64-byte aligned); reuses a cached block when one fits. */
Buffer malloc(size_t size);
/** Returns a block to the cache (or the system when the cache is full). */
void free(Buffer buffer);

}  // namespace allocator

// MLX's memory API. Without a device argument each function reports the memory of the default
// device: host memory on the cpu, the GPU's stream-ordered pool on the gpu.
/** Bytes held by live arrays. */
size_t get_active_memory();
size_t get_active_memory(const Device& d);
/** Highest active memory since start or the last reset_peak_memory. */
size_t get_peak_memory();
size_t get_peak_memory(const Device& d);
void reset_peak_memory();
void reset_peak_memory(const Device& d);
/** Bytes kept in the cache for reuse. */
size_t get_cache_memory();
size_t get_cache_memory(const Device& d);
/** Sets the memory limit (allocation beyond it throws); returns the previous limit. */
size_t set_memory_limit(size_t limit);
size_t set_memory_limit(size_t limit, const Device& d);
size_t get_memory_limit();
size_t get_memory_limit(const Device& d);
/** Sets the cache limit; returns the previous limit. */
size_t set_cache_limit(size_t limit);
size_t set_cache_limit(size_t limit, const Device& d);
/** Frees every cached block. */
void clear_cache();
void clear_cache(const Device& d);
/** MLX's wired-memory limit (Metal's resident memory): mica has no wired memory, so the value is
 * only kept; returns the previous one (0 at first). */
size_t set_wired_limit(size_t limit);
/** Bytes of the distinct buffers behind `arrays` (evaluated arrays; views share their source's
 * buffer, counted once), as MLX's get_array_buffer_size. */
size_t get_array_buffer_size(const std::vector<array>& arrays);

}  // namespace mica
