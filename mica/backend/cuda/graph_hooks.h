// The allocator's side of CUDA graph capture (backend/cuda/graph.cpp; the file comment of
// backend/gpu_graph.h says what it does): runtime.cpp's malloc and free call these while
// g_active is nonzero (a capture runs, or a captured graph keeps memory).
#pragma once
#include <cuda_runtime.h>

#include <atomic>
#include <cstddef>

#include "mica/allocator.h"

namespace mica::cu::graph_hooks {
extern std::atomic<int> g_active;
/** A block just allocated on stream s: the capture's own when s is the capturing stream. */
void on_malloc(void* p, cudaStream_t s);
/** Returns true if the free of b is handled here: memory a graph keeps (not freed), or memory
 * from outside the capture released during it (freed after the graph's first launch). */
bool on_free(allocator::Buffer b, int stream_index);
}  // namespace mica::cu::graph_hooks
