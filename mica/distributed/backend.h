// The interface a communication backend implements (mpi/, nccl/): a group's rank, size and
// split, and the five transfers the distributed primitives' kernels call. Kernels hand over
// evaluated, row-contiguous arrays whose outputs already have buffers; a backend moves bytes and
// reduces, nothing else (the ops validated shapes when the graph was built). A backend whose
// buffers live on the GPU (NCCL) also takes device pointers and a CUDA stream, so the GPU kernels
// (backend/cuda/distributed.cu) enqueue transfers without touching the host.
#pragma once
#include <memory>
#include <string>

#include "mica/array.h"

namespace mica::distributed::detail {

/** The reduction of all_reduce / reduce_scatter. */
enum class ReduceOp { sum, max, min };

/** The op name users see for a reduction ("all_sum", "all_max", "all_min"). */
const char* all_reduce_name(ReduceOp op);

/** One group of one backend. Every rank of the group calls the same transfers in the same order;
 *  a transfer that sees another shape, dtype or operation on some rank throws
 *  std::runtime_error on every rank that took part. */
class GroupImpl {
 public:
  virtual ~GroupImpl() = default;
  /** "mpi", "nccl", "singleton", ... */
  virtual std::string backend() const = 0;
  /** This process's rank in the group. */
  virtual int rank() const = 0;
  /** Number of processes in the group. */
  virtual int size() const = 0;
  /** The subgroup of the ranks passing the same color, ordered by key (then by rank). */
  virtual std::shared_ptr<GroupImpl> split(int color, int key) = 0;

  /** out = the reduction of every rank's `in` (same shape and dtype); in and out are
   *  row-contiguous and may share one buffer (in place). */
  virtual void all_reduce(const array& in, array& out, ReduceOp op) = 0;
  /** out (size * in.size() elements) = every rank's in, in rank order. */
  virtual void all_gather(const array& in, array& out) = 0;
  /** out (in.size() / size elements) = this rank's block of the reduction of every rank's in. */
  virtual void reduce_scatter(const array& in, array& out, ReduceOp op) = 0;
  /** Sends in to rank dst (blocks until the buffer may be reused). */
  virtual void send(const array& in, int dst) = 0;
  /** Receives out (its shape and dtype are what the sender must send) from rank src. */
  virtual void recv(array& out, int src) = 0;

  // ---- GPU transfers (backends with gpu() true) ----
  // Device pointers of row-contiguous data; the work is enqueued on `stream` (a cudaStream_t)
  // and the call returns without waiting for it. `shape` is the input's (the checks compare it).
  /** True when the transfers below are implemented (the GPU kernels call them). */
  virtual bool gpu() const { return false; }
  /** True when all_reduce_gpu / reduce_scatter_gpu reduce `dtype` with `op` themselves; the GPU
   *  kernels otherwise all-gather and reduce (so every backend gives mica::maximum's answers). */
  virtual bool reduces(Dtype dtype, ReduceOp op) const { return false; }
  virtual void all_reduce_gpu(const void* in, void* out, const Shape& shape, Dtype dtype, ReduceOp op, void* stream);
  virtual void all_gather_gpu(const void* in, void* out, const Shape& shape, Dtype dtype, void* stream);
  /** out holds in's elements / size (this rank's block). */
  virtual void reduce_scatter_gpu(const void* in, void* out, const Shape& shape, Dtype dtype, ReduceOp op,
                                  void* stream);
  virtual void send_gpu(const void* in, const Shape& shape, Dtype dtype, int dst, void* stream);
  virtual void recv_gpu(void* out, const Shape& shape, Dtype dtype, int src, void* stream);
};

/** The size-1 group: every transfer copies `in` to `out` (send and recv have no peer). */
std::shared_ptr<GroupImpl> singleton_group();

namespace mpi {
/** True when mica was built with MPI (CMake found it). */
bool is_available();
/** True when the process was started by an MPI launcher (mpirun/mpiexec, PMIx or PMI). */
bool launched();
/** MPI_COMM_WORLD as a group; initializes MPI (MPI_Init_thread) on the first call and finalizes
 *  it at exit. Throws std::runtime_error in a build without MPI. */
std::shared_ptr<GroupImpl> world();
}  // namespace mpi

namespace nccl {
/** True when mica was built with NCCL (CUDA and NCCL found) and a GPU is present. */
bool is_available();
/** True when a launcher asked for several processes through the environment: a world size
 *  (MICA_WORLD_SIZE, MLX_WORLD_SIZE or WORLD_SIZE) above 1 with a rank. */
bool launched();
/** The NCCL world, created once. Ranks meet through MPI when the process was started by mpirun,
 *  else through the environment (rank, world size, and rank 0's address: MICA_NCCL_HOST,
 *  NCCL_HOST_IP or MASTER_ADDR, port MICA_NCCL_PORT, NCCL_PORT or MASTER_PORT + 1), else the
 *  process is a world of one. Throws std::runtime_error when NCCL is unavailable. */
std::shared_ptr<GroupImpl> world();
}  // namespace nccl

}  // namespace mica::distributed::detail
