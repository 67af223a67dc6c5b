// The distributed API: groups, init, and the collective ops (validation and node building; the
// size-1 group returns its input). The backends live in mpi/ (or no_mpi/ without MPI).
#include "mica/distributed/distributed.h"

#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>

#include "mica/distributed/backend.h"
#include "mica/ops.h"
#include "mica/ops/utils.h"
#include "mica/primitives/distributed.h"

namespace mica::distributed {

namespace detail {

const char* all_reduce_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return "all_sum";
    case ReduceOp::max: return "all_max";
    case ReduceOp::min: return "all_min";
  }
  return "all_reduce";
}

namespace {
// The size-1 group. The ops never build nodes for it; a node made directly still evaluates:
// every collective over one rank copies its input.
class SingletonGroup : public GroupImpl {
 public:
  std::string backend() const override { return "singleton"; }
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::shared_ptr<GroupImpl> split(int, int) override { return singleton_group(); }
  void all_reduce(const array& in, array& out, ReduceOp) override { copy(in, out); }
  void all_gather(const array& in, array& out) override { copy(in, out); }
  void reduce_scatter(const array& in, array& out, ReduceOp) override { copy(in, out); }
  void send(const array&, int dst) override {
    throw std::invalid_argument("[send] expected a group of more than one process, got the size-1 group.");
  }
  void recv(array&, int src) override {
    throw std::invalid_argument("[recv] expected a group of more than one process, got the size-1 group.");
  }

 private:
  static void copy(const array& in, array& out) {
    if (in.data<void>() != out.data<void>() && in.nbytes() > 0) std::memcpy(out.data<void>(), in.data<void>(), in.nbytes());
  }
};
}  // namespace

namespace {
[[noreturn]] void no_gpu_transfer(const char* op, const GroupImpl& g) {
  throw std::logic_error(std::string("[") + op + "] the " + g.backend() + " backend has no GPU transfers.");
}
}  // namespace

void GroupImpl::all_reduce_gpu(const void*, void*, const Shape&, Dtype, ReduceOp op, void*) {
  no_gpu_transfer(all_reduce_name(op), *this);
}
void GroupImpl::all_gather_gpu(const void*, void*, const Shape&, Dtype, void*) { no_gpu_transfer("all_gather", *this); }
void GroupImpl::reduce_scatter_gpu(const void*, void*, const Shape&, Dtype, ReduceOp, void*) {
  no_gpu_transfer("sum_scatter", *this);
}
void GroupImpl::send_gpu(const void*, const Shape&, Dtype, int, void*) { no_gpu_transfer("send", *this); }
void GroupImpl::recv_gpu(void*, const Shape&, Dtype, int, void*) { no_gpu_transfer("recv", *this); }

std::shared_ptr<GroupImpl> singleton_group() {
  static auto g = std::make_shared<SingletonGroup>();
  return g;
}

}  // namespace detail

// ---- Group ----
Group::Group(std::shared_ptr<detail::GroupImpl> impl) : impl_(std::move(impl)) {
  if (!impl_) throw std::invalid_argument("[Group] expected a group implementation, got a null pointer.");
}
int Group::rank() const { return impl_->rank(); }
int Group::size() const { return impl_->size(); }
std::string Group::backend() const { return impl_->backend(); }
Group Group::split(int color, int key) const {
  if (color < 0) {
    throw std::invalid_argument("[Group::split] expected a non-negative color, got " + std::to_string(color) + ".");
  }
  return Group(impl_->split(color, key));
}

// ---- availability and init ----
bool is_available() { return detail::mpi::is_available() || detail::nccl::is_available(); }

bool is_available(const std::string& backend) {
  if (backend == "any") return is_available();
  if (backend == "mpi") return detail::mpi::is_available();
  if (backend == "nccl") return detail::nccl::is_available();
  throw std::invalid_argument("[distributed::is_available] expected backend \"any\", \"mpi\" or \"nccl\", got \"" +
                              backend + "\".");
}

namespace {
// The group init made for each backend name, until clear_backends.
struct InitCache {
  std::mutex mu;
  std::map<std::string, Group> groups;
};
InitCache& init_cache() {
  static InitCache c;
  return c;
}
}  // namespace

void clear_backends() {
  InitCache& c = init_cache();
  std::lock_guard<std::mutex> lk(c.mu);
  c.groups.clear();
}

Group init(bool strict, const std::string& backend) {
  InitCache& cache = init_cache();
  std::mutex& mu = cache.mu;
  auto& groups = cache.groups;
  if (backend != "any" && backend != "mpi" && backend != "nccl") {
    throw std::invalid_argument("[distributed::init] expected backend \"any\", \"mpi\" or \"nccl\", got \"" + backend +
                                "\".");
  }
  std::lock_guard<std::mutex> lk(mu);
  const char* no_backend =
      "[distributed::init] expected a communication backend to initialize (strict = true), got none: start the "
      "program with mpirun (e.g. mpirun -np 2 ./program).";
  if (auto it = groups.find(backend); it != groups.end()) {
    // An earlier non-strict call settled for the size-1 group; a strict one still refuses it.
    if (strict && it->second.backend() == "singleton") throw std::runtime_error(no_backend);
    return it->second;
  }
  std::optional<Group> g;
  if (backend == "mpi" || (backend == "any" && detail::mpi::launched())) {
    if (detail::mpi::is_available()) {
      g = Group(detail::mpi::world());
    } else if (strict) {
      throw std::runtime_error(
          "[distributed::init] expected the MPI backend, got a build without MPI (CMake found no MPI: install "
          "libopenmpi-dev and reconfigure).");
    }
  } else if (backend == "nccl" || (backend == "any" && detail::nccl::launched())) {
    if (detail::nccl::is_available()) {
      g = Group(detail::nccl::world());
    } else if (strict) {
      detail::nccl::world();  // throws, saying why
      throw std::runtime_error("[distributed::init] expected the NCCL backend, got no GPU.");
    }
  }
  if (!g) {
    if (strict) throw std::runtime_error(no_backend);
    g = Group(detail::singleton_group());
  }
  groups.emplace(backend, *g);
  return *g;
}

// ---- ops ----
namespace {
Group to_group(const std::optional<Group>& g) { return g ? *g : init(); }

array all_reduce(const array& x, const std::optional<Group>& group, detail::ReduceOp op,
                 StreamOrDevice s) {
  Group g = to_group(group);
  if (g.size() == 1) return x;
  return array(x.shape(), x.dtype(), std::make_shared<AllReduce>(to_stream(s), g, op), {x});
}

void check_peer(const char* op, const char* what, int peer, const Group& g) {
  if (g.size() == 1) {
    mica::detail::fail(op, std::string("expected a group of more than one process, got the size-1 group."));
  }
  if (peer < 0 || peer >= g.size() || peer == g.rank()) {
    mica::detail::fail(op, std::string("expected ") + what + " in [0, " + std::to_string(g.size()) + ") other than this rank (" +
                               std::to_string(g.rank()) + "), got " + std::to_string(peer) + ".");
  }
}
}  // namespace

array all_sum(const array& x, std::optional<Group> group, StreamOrDevice s) {
  return all_reduce(x, group, detail::ReduceOp::sum, s);
}
array all_max(const array& x, std::optional<Group> group, StreamOrDevice s) {
  return all_reduce(x, group, detail::ReduceOp::max, s);
}
array all_min(const array& x, std::optional<Group> group, StreamOrDevice s) {
  return all_reduce(x, group, detail::ReduceOp::min, s);
}

array all_gather(const array& x, std::optional<Group> group, StreamOrDevice s) {
  Group g = to_group(group);
  if (g.size() == 1) return x;
  Shape shape = x.shape();
  if (shape.empty()) shape.push_back(g.size());
  else shape[0] = mica::detail::checked_dim(static_cast<int64_t>(shape[0]) * g.size(), "all_gather");
  return array(std::move(shape), x.dtype(), std::make_shared<AllGather>(to_stream(s), g), {x});
}

array sum_scatter(const array& x, std::optional<Group> group, StreamOrDevice s) {
  Group g = to_group(group);
  if (g.size() == 1) return x;
  if (x.ndim() == 0 || x.shape(0) % g.size() != 0) {
    mica::detail::fail("sum_scatter", "expected an array whose axis 0 is divisible by the group size " +
                                          std::to_string(g.size()) + ", got shape " +
                                          mica::detail::shape_str(x.shape()) + ".");
  }
  Shape shape = x.shape();
  shape[0] /= g.size();
  return array(std::move(shape), x.dtype(), std::make_shared<ReduceScatter>(to_stream(s), g), {x});
}

array send(const array& x, int dst, std::optional<Group> group, StreamOrDevice s) {
  Group g = to_group(group);
  check_peer("send", "a destination rank", dst, g);
  return array(x.shape(), x.dtype(), std::make_shared<Send>(to_stream(s), g, dst), {x});
}

array recv(Shape shape, Dtype dtype, int src, std::optional<Group> group, StreamOrDevice s) {
  Group g = to_group(group);
  check_peer("recv", "a source rank", src, g);
  for (int d : shape) {
    if (d < 0) mica::detail::fail("recv", "expected non-negative dimensions, got shape " + mica::detail::shape_str(shape) + ".");
  }
  return array(std::move(shape), dtype, std::make_shared<Recv>(to_stream(s), g, src), {});
}

array recv_like(const array& x, int src, std::optional<Group> group, StreamOrDevice s) {
  return recv(x.shape(), x.dtype(), src, std::move(group), s);
}

}  // namespace mica::distributed
