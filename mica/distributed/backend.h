// The interface a communication backend implements (mpi/ today, nccl/ next): a group's rank,
// size and split, and the five transfers the distributed primitives' kernels call. Kernels hand
// over evaluated, row-contiguous arrays whose outputs already have buffers; a backend moves bytes
// and reduces, nothing else (the ops validated shapes when the graph was built).
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

}  // namespace mica::distributed::detail
