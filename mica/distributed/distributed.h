// mica::distributed: MLX's mx.distributed. A Group is a set of processes that communicate; the
// collectives (all_sum, all_max, all_min, all_gather, sum_scatter, send, recv, recv_like) are
// lazy ops: they record a node and communicate when it is evaluated, and they have gradients
// where MLX defines them. Backends: Open MPI (processes started by mpirun; CPU arrays, and GPU
// arrays through their host copy) and NCCL (one process per GPU; GPU arrays move GPU to GPU on
// the op's stream, CPU arrays through a GPU copy). Without a launcher the group has size 1 and
// every collective is the identity, so the same program runs alone.
//
// Every rank of a group must evaluate the same collectives in the same order. Before moving
// data, the MPI backend exchanges a small header (operation, shape, dtype) so that a rank calling
// with another shape or dtype gets a clear std::runtime_error on every rank instead of a hang
// (MICA_DIST_CHECK=0 skips that exchange). A collective that does not complete within
// MICA_DIST_TIMEOUT seconds (default 600; 0 disables) — a dead or diverging rank — prints which
// one and aborts the whole job through MPI_Abort (NCCL: ends the process; the other ranks' own
// watchdogs or NCCL's error reports end theirs).
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "mica/array.h"
#include "mica/device.h"

namespace mica::distributed {

namespace detail {
class GroupImpl;
}

/** A group of processes that communicate (MLX's Group); copies share the same communicator. */
class Group {
 public:
  /** A group over a backend's implementation (see mica/distributed/backend.h). */
  explicit Group(std::shared_ptr<detail::GroupImpl> impl);
  /** This process's rank in the group, in [0, size()). */
  int rank() const;
  /** Number of processes in the group. */
  int size() const;
  /** The subgroup of the processes that pass the same `color`, ranked by `key` (ties and
   *  key = -1: by rank in this group); every process of the group must call it. */
  Group split(int color, int key = -1) const;
  /** The backend's name: "mpi", "nccl", or "singleton" for the size-1 group. */
  std::string backend() const;
  /** The backend's implementation (kernels call it). */
  const std::shared_ptr<detail::GroupImpl>& raw_group() const { return impl_; }

 private:
  std::shared_ptr<detail::GroupImpl> impl_;
};

/** True when some communication backend is built in (MLX's is_available()). */
bool is_available();
/** True when the backend "mpi" or "nccl" can be used: built in, and for NCCL a GPU present
 *  ("any": some backend can). */
bool is_available(const std::string& backend);

/** The global group of `backend` ("any", "mpi" or "nccl"), initializing it once (later calls
 *  return the same group). "any" takes MPI when the process was started by mpirun (Open MPI's
 *  OMPI_COMM_WORLD_SIZE, or PMIx/PMI variables, are set), NCCL when a launcher's environment asks
 *  for several processes (MICA_WORLD_SIZE, MLX_WORLD_SIZE or WORLD_SIZE above 1, with MICA_RANK,
 *  MLX_RANK or RANK) and a GPU is present, else a size-1 group. "mpi" initializes MPI even
 *  without a launcher (a size-1 MPI world). "nccl" meets the other ranks through MPI under
 *  mpirun, else through the environment (rank 0's address: MICA_NCCL_HOST/MICA_NCCL_PORT,
 *  NCCL_HOST_IP/NCCL_PORT, or MASTER_ADDR/MASTER_PORT + 1), else is a world of one; each process
 *  uses GPU gpu::device_index() (its local rank). strict = true throws std::runtime_error when no
 *  backend can be initialized instead of returning the size-1 group. */
Group init(bool strict = false, const std::string& backend = "any");
/** Forgets the group init settled on for each backend name (MLX's clear_backends), so the next
 * init decides again; the MPI and NCCL worlds themselves last as long as the process (MPI cannot
 * start twice), and groups a program holds stay usable. */
void clear_backends();

/** The element-wise sum of x over the processes of the group (the global one by default). */
array all_sum(const array& x, std::optional<Group> group = std::nullopt, StreamOrDevice s = {});
/** The element-wise maximum of x over the group (NaN propagates; complex values compare real
 *  part first, as mica::maximum; bool: logical or). */
array all_max(const array& x, std::optional<Group> group = std::nullopt, StreamOrDevice s = {});
/** The element-wise minimum of x over the group (bool: logical and). */
array all_min(const array& x, std::optional<Group> group = std::nullopt, StreamOrDevice s = {});
/** Every rank's x concatenated along axis 0 in rank order; a 0-d x gathers to shape (size,).
 *  Every rank must pass the same shape. */
array all_gather(const array& x, std::optional<Group> group = std::nullopt, StreamOrDevice s = {});
/** The sum over the group, of which each rank keeps its slice along axis 0: rank r gets rows
 *  [r * n / size, (r + 1) * n / size); axis 0 (n) must be divisible by the group size. */
array sum_scatter(const array& x, std::optional<Group> group = std::nullopt, StreamOrDevice s = {});
/** Sends x to rank dst of the group when evaluated; returns x (evaluate it to send). */
array send(const array& x, int dst, std::optional<Group> group = std::nullopt, StreamOrDevice s = {});
/** An array of `shape` and `dtype` received from rank src when evaluated; the sender must send
 *  exactly that shape and dtype. */
array recv(Shape shape, Dtype dtype, int src, std::optional<Group> group = std::nullopt, StreamOrDevice s = {});
/** recv with x's shape and dtype. */
array recv_like(const array& x, int src, std::optional<Group> group = std::nullopt, StreamOrDevice s = {});

}  // namespace mica::distributed
