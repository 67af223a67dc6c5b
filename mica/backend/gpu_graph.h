// CUDA graphs for compile (transforms/compile.cpp): a compiled function's replay on the GPU is
// captured once with stream capture and later relaunched with one call instead of one launch
// per node. backend/cuda/graph.cpp; builds without CUDA (backend/no_cuda) have none.
//
// What the capture keeps: every kernel's arguments, so every address the replay touched. Memory
// the replay allocates becomes the graph's own (CUDA graph memory nodes: the same addresses at
// every launch); what it frees of that memory is freed inside the graph; frees of other memory
// during the capture (inputs whose last reader ran) wait until the first launch has been queued.
// Memory of the graph still live when the capture ends (the outputs) belongs to the graph: the
// caller copies it out after each launch, and arrays releasing it do not free it.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mica/array.h"

namespace mica::gpu {

/** True if compile may capture CUDA graphs: a GPU, MICA_CUDA_GRAPHS=1 (or set_graphs(true)),
 * MICA_PROFILE unset (profiling times each kernel). */
bool graphs_available();
/** Turns compile's CUDA graphs on or off (for entries not yet captured; tests compare both). */
void set_graphs(bool on);

/** True while this thread captures GPU work: eval queues kernels but must not wait for them. */
bool capturing();

/** A captured graph and the memory it keeps (see the file comment). */
class Graph {
 public:
  struct Impl;
  explicit Graph(std::unique_ptr<Impl> impl);
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  /** Queues the graph on GPU stream `stream_index` (the one it was captured on); instantiated
   * graphs only. The frees the capture put off follow the first launch. */
  void launch(int stream_index);
  /** True if p starts a block of the graph's memory that was live when the capture ended. */
  bool owns(const void* p) const;
  /** The start of each such block. */
  std::vector<const void*> live_blocks() const;

 private:
  std::unique_ptr<Impl> impl_;
};

/** Runs `fn` (which evaluates arrays whose every kernel runs on GPU stream `stream_index`) under
 * stream capture. Sets *why (else clears it) if the capture failed: fn threw, or a call that a
 * capture cannot hold (a wait for the GPU, a copy to the host, another stream) was made. Nothing
 * runs on the GPU during the capture: arrays `fn` evaluated hold the addresses the launches will
 * fill, so they must be dropped (or given other memory) before the graph is. Null only if the
 * capture could not begin. `instantiate` false: the capture is only checked (a probe). */
std::unique_ptr<Graph> capture(int stream_index, const std::function<void()>& fn, bool instantiate, std::string* why);

/** Makes a's data current on the stream (copied from the host if only the host has it): the
 * graph's constants, before a capture (inside one, a copy from the host cannot be held). */
void upload(const array& a, int stream_index);
/** A row-contiguous GPU array of a's shape and dtype, its contents undefined (an input buffer of
 * a graph). */
array staging_buffer(const array& a, int stream_index);
/** Copies src's elements (evaluated, any layout made row-contiguous first by the caller) into
 * dst, a staging buffer, on the stream. */
void stage(const array& dst, const array& src, int stream_index);
/** Gives `out` a fresh GPU buffer holding `bytes` copied from device address src (queued on the
 * stream), with this layout. */
void copy_out(array& out, const void* src, size_t bytes, size_t data_size, Strides strides, array::Flags flags,
              int stream_index);

/** Graph launches so far (tests read it). */
int64_t graph_launches();

}  // namespace mica::gpu

namespace mica::detail {
/** Holds the scheduler's lock (transforms/eval.cpp) for its lifetime, after waiting for
 * async_eval's work: no other thread evaluates meanwhile (work another thread queued on the
 * capturing stream would join the capture), while this thread's evals still run. */
class EvalLock {
 public:
  EvalLock();
  ~EvalLock();
  EvalLock(const EvalLock&) = delete;
  EvalLock& operator=(const EvalLock&) = delete;
};
}  // namespace mica::detail
