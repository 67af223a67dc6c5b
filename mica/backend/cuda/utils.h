// Host-side helpers every CUDA kernel file uses: checked CUDA calls, the CUDA stream of a mica
// stream, inputs brought to the GPU, outputs allocated in the stream-ordered pool.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <string>
#include <vector>

#include "mica/array.h"
#include "mica/device.h"

namespace mica::cu {

/** Throws std::runtime_error naming the call, the CUDA error and file:line. */
[[noreturn]] void throw_cuda_error(const char* call, cudaError_t err, const char* file, int line);

// Checks a CUDA runtime call's status.
#define MICA_CUDA_CHECK(call)                                                        \
  do {                                                                               \
    cudaError_t mica_err_ = (call);                                                  \
    if (mica_err_ != cudaSuccess) ::mica::cu::throw_cuda_error(#call, mica_err_, __FILE__, __LINE__); \
  } while (0)

/** After a launch: throws `[op] kernel launch failed: …` if the launch was refused. */
void check_launch(const char* op);

/** The CUDA stream of a mica GPU stream (created on first use, non-blocking). */
cudaStream_t stream(const Stream& s);
cudaStream_t stream(int index);

/** Number of multiprocessors of the current GPU (for sizing grids). */
int sm_count();

/** Makes `a`'s data current on the GPU for work on `s`: copies it from the host if only the
 * host has it, or orders `s` after the stream that wrote it. Call before ptr(a). */
void prepare(const array& a, const Stream& s);
/** prepare() for each input. */
void prepare(const std::vector<array>& inputs, const Stream& s);

/** Device address of a's first element (a prepared input, or an output). */
template <typename T = void>
T* ptr(const array& a) {
  auto* d = a.data_record();
  return reinterpret_cast<T*>(static_cast<char*>(d->gpu.ptr) + a.byte_offset());
}

/** Allocates `bytes` of GPU memory ordered on stream `s` (throws on exhaustion, naming the
 * request and what is in use). */
allocator::Buffer malloc(size_t bytes, const Stream& s);

/** Gives `out` a fresh row-contiguous GPU buffer. */
void alloc_output(array& out, const Stream& s);
/** Gives `out` a fresh GPU buffer of data_size elements with these strides and flags. */
void alloc_output(array& out, const Stream& s, size_t data_size, Strides strides, array::Flags flags);

/** True if a kernel on `s` may write into `in`'s GPU buffer: nobody else holds it, only the GPU
 * copy is current, and `s` wrote it (its release and host copies are ordered on that stream). */
inline bool donatable(const array& in, const Stream& s) {
  return in.is_donatable() && in.data_record()->gpu_stream == s.index;
}

/** True if `a` is one element (or a broadcast of one) whose host copy is current: kernels take
 * its value as an argument instead of reading GPU memory. */
bool is_host_scalar(const array& a);

/** Scratch GPU memory for one kernel, released in stream order when it goes out of scope. */
class Scratch {
 public:
  Scratch(size_t bytes, const Stream& s);
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  void* get() const { return buf_.ptr; }

 private:
  allocator::Buffer buf_;
  int stream_;
};

/** Runs `p`'s CPU kernel for a GPU stream (part-2 primitives until their kernels land): the
 * inputs come to the host, the outputs stay there; counts the fallback. */
void cpu_fallback(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs);

}  // namespace mica::cu
