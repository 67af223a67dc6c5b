// Host memory: a caching allocator with MLX's memory counters.
#pragma once
#include <cstddef>

namespace mica {
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

/** Bytes held by live arrays. */
size_t get_active_memory();
/** Highest active memory since start or the last reset_peak_memory. */
size_t get_peak_memory();
void reset_peak_memory();
/** Bytes kept in the cache for reuse. */
size_t get_cache_memory();
/** Sets the memory limit (allocation beyond it throws); returns the previous limit. */
size_t set_memory_limit(size_t limit);
size_t get_memory_limit();
/** Sets the cache limit; returns the previous limit. */
size_t set_cache_limit(size_t limit);
/** Frees every cached block. */
void clear_cache();

}  // namespace mica
