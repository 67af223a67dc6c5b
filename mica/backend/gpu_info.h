// What the rest of mica asks of the GPU backend; backend/no_cuda answers for builds without
// CUDA (no GPU, nothing to wait for, no GPU memory).
#pragma once
#include <cstddef>
#include <string>

namespace mica::gpu {
/** Number of usable GPUs (0 without a GPU backend, a driver or a device). */
int device_count();
/** Waits for all work queued on one GPU stream (by mica stream index), or on every GPU stream. */
void synchronize(int stream_index);
void synchronize();

// GPU memory (the stream-ordered pool); the MLX memory API reports these when the default
// device is the GPU.
size_t active_memory();
size_t peak_memory();
void reset_peak_memory();
size_t cache_memory();
size_t set_memory_limit(size_t limit);
size_t memory_limit();
size_t set_cache_limit(size_t limit);
void clear_cache();

/** How many primitives ran their CPU kernel for a GPU stream because they have no GPU kernel
 * yet (their data copied over and back). */
size_t cpu_fallback_count();
/** Names of the primitives that fall back to the CPU on a GPU stream, with the reason. */
std::string cpu_fallback_reason(const std::string& primitive);
}  // namespace mica::gpu
