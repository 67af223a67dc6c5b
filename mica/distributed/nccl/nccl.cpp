// The NCCL backend (built when CMake finds CUDA and NCCL; no_nccl/nccl.cpp otherwise): one
// process per GPU, GPU arrays moved GPU to GPU on the primitive's CUDA stream, the host never
// waiting. CPU arrays given to an NCCL group go through a GPU copy.
//
// Meeting: rank 0 makes NCCL's unique id and the others get it through MPI (a process started by
// mpirun), else through a TCP connection to rank 0 (the launcher's environment: rank, world
// size, rank 0's host and a port), else the process is a world of one.
//
// Reductions: sums in NCCL for every dtype but the 16-bit integers (complex64 as float pairs,
// bool as a logical or); integer max/min in NCCL; floating max/min and 16-bit integers are left
// to the GPU kernels (all-gather, then reduce with mica::maximum's rules: NaN propagates).
//
// Checks: as the MPI backend, each collective first all-gathers a 16-word header (operation,
// dtype, shape) over a second communicator on a stream of its own (so it never waits for the
// data's stream), and a rank with another shape, dtype or operation throws on every rank;
// send/recv send the header ahead of the data. MICA_DIST_CHECK=0 skips them. Every transfer
// records an event; a watchdog thread aborts the process (after printing the operation and
// rank) when one has not completed within MICA_DIST_TIMEOUT seconds (default 600, 0: never) or
// NCCL reports an asynchronous error (a dead peer).
#include <arpa/inet.h>
#include <cuda_runtime.h>
#include <nccl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mica/backend/gpu_info.h"
#include "mica/distributed/backend.h"
#include "mica/distributed/header.h"

namespace mica::distributed::detail::nccl {

namespace {

[[noreturn]] void throw_nccl_error(const char* call, ncclResult_t rc, ncclComm_t comm) {
  std::string msg = std::string("[distributed] ") + call + " failed: " + ncclGetErrorString(rc);
  const char* last = comm ? ncclGetLastError(comm) : ncclGetLastError(nullptr);
  if (last && *last) msg += std::string(" (") + last + ")";
  throw std::runtime_error(msg + ".");
}
#define MICA_NCCL_CHECK(call, comm)                                \
  do {                                                             \
    ncclResult_t mica_nccl_rc = (call);                            \
    if (mica_nccl_rc != ncclSuccess) throw_nccl_error(#call, mica_nccl_rc, comm); \
  } while (0)

void cuda_check(cudaError_t err, const char* call) {
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string("[distributed] ") + call + " failed: " + cudaGetErrorName(err) + " (" +
                             cudaGetErrorString(err) + ").");
  }
}
#define MICA_NCCL_CUDA(call) cuda_check((call), #call)

double timeout_seconds() {
  const char* env = std::getenv("MICA_DIST_TIMEOUT");
  return env ? std::atof(env) : 600.0;
}
bool checks_on() {
  const char* env = std::getenv("MICA_DIST_CHECK");
  return !(env && std::string(env) == "0");
}

// ---- environment ----
const char* first_env(std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (const char* v = std::getenv(n); v && *v) return v;
  }
  return nullptr;
}
int env_int(std::initializer_list<const char*> names, int fallback) {
  const char* v = first_env(names);
  if (!v) return fallback;
  char* end = nullptr;
  long i = std::strtol(v, &end, 10);
  if (end == v || *end != '\0' || i < 0 || i > (1 << 24)) {
    throw std::invalid_argument(std::string("[distributed::init] expected a non-negative integer in the launcher's "
                                            "environment, got \"") + v + "\".");
  }
  return static_cast<int>(i);
}
int env_size() { return env_int({"MICA_WORLD_SIZE", "MLX_WORLD_SIZE", "WORLD_SIZE"}, 1); }
int env_rank() { return env_int({"MICA_RANK", "MLX_RANK", "RANK"}, 0); }

// ---- watchdog ----
// Every transfer records an event; the thread polls the oldest ones (and NCCL's asynchronous
// errors) a few times per timeout, recycles the events that completed, and ends the process
// when one is older than the timeout.
class Watchdog {
 public:
  explicit Watchdog(int device) : device_(device), timeout_(timeout_seconds()) {
    if (timeout_ > 0) thread_ = std::thread([this] { run(); });
  }
  bool on() const { return timeout_ > 0; }
  void add_comm(ncclComm_t c) {
    std::lock_guard<std::mutex> lk(mu_);
    comms_.push_back(c);
  }
  void remove_comm(ncclComm_t c) {
    std::lock_guard<std::mutex> lk(mu_);
    comms_.erase(std::remove(comms_.begin(), comms_.end(), c), comms_.end());
  }
  /** Records the end of a transfer on `stream`. */
  void watch(const char* op, int rank, int size, cudaStream_t stream) {
    if (!on()) return;
    std::lock_guard<std::mutex> lk(mu_);
    cudaEvent_t e;
    if (free_.empty()) {
      MICA_NCCL_CUDA(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    } else {
      e = free_.back();
      free_.pop_back();
    }
    MICA_NCCL_CUDA(cudaEventRecord(e, stream));
    pending_.push_back({e, op, rank, size, std::chrono::steady_clock::now()});
  }
  /** Waits for an event with the same limit (the header exchange, host copies). */
  void wait(cudaEvent_t e, const char* op, int rank, int size) {
    auto start = std::chrono::steady_clock::now();
    while (true) {
      cudaError_t err = cudaEventQuery(e);
      if (err == cudaSuccess) return;
      if (err != cudaErrorNotReady) MICA_NCCL_CUDA(err);
      if (on() && std::chrono::steady_clock::now() - start > std::chrono::duration<double>(timeout_)) {
        fail(op, rank, size, "did not complete");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }

 private:
  struct Pending {
    cudaEvent_t event;
    const char* op;
    int rank, size;
    std::chrono::steady_clock::time_point start;
  };
  [[noreturn]] void fail(const char* op, int rank, int size, const char* what) {
    std::fprintf(stderr,
                 "[distributed] rank %d: %s over an NCCL group of %d processes %s within %g s (MICA_DIST_TIMEOUT): a "
                 "rank of the group is dead, stuck, or evaluating different collectives. Aborting the process.\n",
                 rank, op, size, what, timeout_);
    std::fflush(stderr);
    std::_Exit(3);
  }
  void run() {
    cudaSetDevice(device_);
    const auto poll = std::chrono::duration<double>(std::min(timeout_ / 4, 0.25));
    while (true) {
      std::this_thread::sleep_for(poll);
      std::lock_guard<std::mutex> lk(mu_);
      while (!pending_.empty()) {
        Pending& p = pending_.front();
        cudaError_t err = cudaEventQuery(p.event);
        if (err == cudaSuccess) {
          free_.push_back(p.event);
          pending_.pop_front();
          continue;
        }
        cudaGetLastError();
        if (std::chrono::steady_clock::now() - p.start > std::chrono::duration<double>(timeout_)) {
          for (ncclComm_t c : comms_) ncclCommAbort(c);
          fail(p.op, p.rank, p.size, "did not complete");
        }
        for (ncclComm_t c : comms_) {
          ncclResult_t async = ncclSuccess;
          if (ncclCommGetAsyncError(c, &async) == ncclSuccess && async != ncclSuccess && async != ncclInProgress) {
            std::fprintf(stderr, "[distributed] rank %d: NCCL reported %s during %s.\n", p.rank,
                         ncclGetErrorString(async), p.op);
            for (ncclComm_t d : comms_) ncclCommAbort(d);
            fail(p.op, p.rank, p.size, "failed");
          }
        }
        break;
      }
    }
  }
  int device_;
  double timeout_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<ncclComm_t> comms_;
  std::deque<Pending> pending_;
  std::vector<cudaEvent_t> free_;
};

Watchdog& watchdog() {
  // Leaked on purpose: it must outlive static destructors (its thread is never joined).
  static Watchdog* w = new Watchdog(gpu::device_index());
  return *w;
}

// Selects the process's GPU in the calling thread (the current device is per host thread).
void ensure_device() {
  thread_local bool selected = false;
  if (!selected) {
    MICA_NCCL_CUDA(cudaSetDevice(gpu::device_index()));
    selected = true;
  }
}

// ---- types ----
ncclDataType_t nccl_type(Dtype d) {
  switch (d.val) {
    case Dtype::Val::bool_:
    case Dtype::Val::uint8: return ncclUint8;
    case Dtype::Val::int8: return ncclInt8;
    case Dtype::Val::int32: return ncclInt32;
    case Dtype::Val::uint32: return ncclUint32;
    case Dtype::Val::int64: return ncclInt64;
    case Dtype::Val::uint64: return ncclUint64;
    case Dtype::Val::float16: return ncclFloat16;
    case Dtype::Val::bfloat16: return ncclBfloat16;
    case Dtype::Val::float32:
    case Dtype::Val::complex64: return ncclFloat32;
    case Dtype::Val::float64: return ncclFloat64;
    default: break;
  }
  throw std::logic_error("[distributed] NCCL has no type for " + dtype_to_string(d) + ".");
}
// Elements NCCL counts for n of dtype d (complex64: two floats each).
size_t nccl_count(Dtype d, size_t n) { return d == complex64 ? 2 * n : n; }

bool nccl_reduces(Dtype d, ReduceOp op) {
  if (d == int16 || d == uint16) return false;
  if (op == ReduceOp::sum) return true;
  return !is_inexact(d);  // NCCL's floating max/min do not propagate NaN as mica::maximum does
}
ncclRedOp_t nccl_op(ReduceOp op, Dtype d) {
  if (d == bool_) return op == ReduceOp::min ? ncclMin : ncclMax;  // or / and over 0 and 1
  switch (op) {
    case ReduceOp::sum: return ncclSum;
    case ReduceOp::max: return ncclMax;
    case ReduceOp::min: return ncclMin;
  }
  return ncclSum;
}

// ---- meeting over TCP ----
// Rank 0 listens; each other rank connects, says (magic, world size, rank) and reads a status
// byte and the id. A rank announcing another world size gets status 1 and every rank throws.
constexpr uint32_t kMagic = 0x6d6e6331;  // "mnc1"

void set_timeouts(int fd, double seconds) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(seconds);
  tv.tv_usec = static_cast<suseconds_t>((seconds - tv.tv_sec) * 1e6);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}
bool io_all(int fd, void* buf, size_t n, bool write) {
  char* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t k = write ? ::send(fd, p, n, MSG_NOSIGNAL) : ::recv(fd, p, n, 0);
    if (k <= 0) {
      if (k < 0 && errno == EINTR) continue;
      return false;
    }
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

ncclUniqueId meet_tcp(int rank, int size, const std::string& host, int port, double timeout) {
  const std::string where = host + ":" + std::to_string(port);
  const double limit = timeout > 0 ? timeout : 600.0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(limit);
  ncclUniqueId id{};
  if (rank == 0) {
    MICA_NCCL_CHECK(ncclGetUniqueId(&id), nullptr);
    int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
    bool v6 = fd >= 0;
    if (!v6) fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error("[distributed::init] socket() failed: " + std::string(std::strerror(errno)));
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    int rc;
    if (v6) {
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_addr = in6addr_any;
      a.sin6_port = htons(static_cast<uint16_t>(port));
      rc = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    } else {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_ANY);
      a.sin_port = htons(static_cast<uint16_t>(port));
      rc = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    }
    if (rc != 0 || ::listen(fd, size) != 0) {
      std::string err = std::strerror(errno);
      ::close(fd);
      throw std::runtime_error("[distributed::init] expected rank 0 to listen on port " + std::to_string(port) +
                               " for the NCCL id, got: " + err + " (set MICA_NCCL_PORT to a free port).");
    }
    std::string bad;
    for (int served = 1; served < size;) {
      auto left = std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count();
      pollfd p{fd, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(std::min(left, 1.0) * 1000) + 1) < 0) {
        if (left > 0 && errno == EINTR) continue;
        ::close(fd);
        throw std::runtime_error("[distributed::init] expected " + std::to_string(size - 1) +
                                 " ranks to connect to rank 0 within " + std::to_string(static_cast<int>(limit)) +
                                 " s, got " + std::to_string(served - 1) + " (MICA_DIST_TIMEOUT).");
      }
      if (!(p.revents & POLLIN)) continue;
      int c = ::accept(fd, nullptr, nullptr);
      if (c < 0) continue;
      set_timeouts(c, 10);
      uint32_t hello[3];
      if (io_all(c, hello, sizeof(hello), false) && hello[0] == kMagic) {
        uint8_t status = hello[1] == static_cast<uint32_t>(size) ? 0 : 1;
        if (status) {
          bad = "world size " + std::to_string(hello[1]) + " from rank " + std::to_string(hello[2]);
        }
        io_all(c, &status, 1, true);
        io_all(c, &id, sizeof(id), true);
        ++served;
      }
      ::close(c);
    }
    ::close(fd);
    if (!bad.empty()) {
      throw std::runtime_error("[distributed::init] expected world size " + std::to_string(size) +
                               " on every rank, got " + bad + ".");
    }
    return id;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res); rc != 0) {
    throw std::runtime_error("[distributed::init] expected a reachable host for rank 0, got \"" + host +
                             "\": " + gai_strerror(rc) + ".");
  }
  while (true) {
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
      int fd = ::socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
      if (fd < 0) continue;
      if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        set_timeouts(fd, std::max(1.0, std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count()));
        uint32_t hello[3] = {kMagic, static_cast<uint32_t>(size), static_cast<uint32_t>(rank)};
        uint8_t status = 1;
        bool ok = io_all(fd, hello, sizeof(hello), true) && io_all(fd, &status, 1, false) &&
                  io_all(fd, &id, sizeof(id), false);
        ::close(fd);
        if (ok) {
          ::freeaddrinfo(res);
          if (status != 0) {
            throw std::runtime_error("[distributed::init] expected the world size of rank 0, got " +
                                     std::to_string(size) + " on rank " + std::to_string(rank) + ".");
          }
          return id;
        }
      } else {
        ::close(fd);
      }
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::freeaddrinfo(res);
      throw std::runtime_error("[distributed::init] expected rank 0 to accept a connection at " + where + " within " +
                               std::to_string(static_cast<int>(limit)) + " s, got none (MICA_DIST_TIMEOUT).");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// ---- the group ----
class NcclGroup : public GroupImpl {
 public:
  NcclGroup(ncclComm_t comm, ncclComm_t check_comm) : comm_(comm), check_comm_(check_comm) {
    ensure_device();
    MICA_NCCL_CHECK(ncclCommUserRank(comm_, &rank_), comm_);
    MICA_NCCL_CHECK(ncclCommCount(comm_, &size_), comm_);
    MICA_NCCL_CUDA(cudaStreamCreateWithFlags(&side_, cudaStreamNonBlocking));
    MICA_NCCL_CUDA(cudaEventCreateWithFlags(&last_, cudaEventDisableTiming));
    MICA_NCCL_CUDA(cudaEventCreateWithFlags(&header_done_, cudaEventDisableTiming));
    MICA_NCCL_CUDA(cudaMalloc(&header_dev_, sizeof(Header) * (size_ + 1)));
    MICA_NCCL_CUDA(cudaMallocHost(&header_host_, sizeof(Header) * (size_ + 1)));
    watchdog().add_comm(comm_);
    watchdog().add_comm(check_comm_);
  }
  ~NcclGroup() override {
    // A split group's communicators go with it (the world's group is never destroyed).
    watchdog().remove_comm(comm_);
    watchdog().remove_comm(check_comm_);
    ncclCommDestroy(check_comm_);
    ncclCommDestroy(comm_);
  }
  std::string backend() const override { return "nccl"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  std::shared_ptr<GroupImpl> split(int color, int key) override {
    ensure_device();
    std::lock_guard<std::mutex> lk(mu_);
    ncclComm_t sub = nullptr, sub_check = nullptr;
    MICA_NCCL_CHECK(ncclCommSplit(comm_, color, key < 0 ? rank_ : key, &sub, nullptr), comm_);
    MICA_NCCL_CHECK(ncclCommSplit(check_comm_, color, key < 0 ? rank_ : key, &sub_check, nullptr), check_comm_);
    return std::make_shared<NcclGroup>(sub, sub_check);
  }

  bool gpu() const override { return true; }
  bool reduces(Dtype dtype, ReduceOp op) const override { return nccl_reduces(dtype, op); }

  // ---- GPU transfers ----
  void all_reduce_gpu(const void* in, void* out, const Shape& shape, Dtype dtype, ReduceOp op, void* stream) override {
    std::lock_guard<std::mutex> lk(mu_);
    const char* name = all_reduce_name(op);
    check_same(op_code(op), name, shape, dtype);
    auto s = order(stream);
    size_t n = nccl_count(dtype, elements(shape));
    MICA_NCCL_CHECK(ncclAllReduce(in, out, n, nccl_type(dtype), nccl_op(op, dtype), comm_, s), comm_);
    done(name, s);
  }
  void all_gather_gpu(const void* in, void* out, const Shape& shape, Dtype dtype, void* stream) override {
    std::lock_guard<std::mutex> lk(mu_);
    check_same(kAllGather, "all_gather", shape, dtype);
    auto s = order(stream);
    MICA_NCCL_CHECK(ncclAllGather(in, out, elements(shape) * dtype.size, ncclUint8, comm_, s), comm_);
    done("all_gather", s);
  }
  void reduce_scatter_gpu(const void* in, void* out, const Shape& shape, Dtype dtype, ReduceOp op,
                          void* stream) override {
    std::lock_guard<std::mutex> lk(mu_);
    check_same(kSumScatter, "sum_scatter", shape, dtype);
    auto s = order(stream);
    size_t n = nccl_count(dtype, elements(shape) / size_);
    MICA_NCCL_CHECK(ncclReduceScatter(in, out, n, nccl_type(dtype), nccl_op(op, dtype), comm_, s), comm_);
    done("sum_scatter", s);
  }
  void send_gpu(const void* in, const Shape& shape, Dtype dtype, int dst, void* stream) override {
    std::lock_guard<std::mutex> lk(mu_);
    if (checks_on()) {
      // The header goes first on the side communicator; the receiver compares it before taking data.
      Header h = make_header(kSend, shape, dtype);
      std::memcpy(header_host_, h.data(), sizeof(Header));
      MICA_NCCL_CUDA(cudaMemcpyAsync(header_dev_, header_host_, sizeof(Header), cudaMemcpyHostToDevice, side_));
      MICA_NCCL_CHECK(ncclSend(header_dev_, sizeof(Header), ncclUint8, dst, check_comm_, side_), check_comm_);
      MICA_NCCL_CUDA(cudaEventRecord(header_done_, side_));
      watchdog().wait(header_done_, "send", rank_, size_);
    }
    auto s = order(stream);
    MICA_NCCL_CHECK(ncclSend(in, elements(shape) * dtype.size, ncclUint8, dst, comm_, s), comm_);
    done("send", s);
  }
  void recv_gpu(void* out, const Shape& shape, Dtype dtype, int src, void* stream) override {
    std::lock_guard<std::mutex> lk(mu_);
    auto s = order(stream);
    if (checks_on()) {
      MICA_NCCL_CHECK(ncclRecv(header_dev_, sizeof(Header), ncclUint8, src, check_comm_, side_), check_comm_);
      MICA_NCCL_CUDA(cudaMemcpyAsync(header_host_, header_dev_, sizeof(Header), cudaMemcpyDeviceToHost, side_));
      MICA_NCCL_CUDA(cudaEventRecord(header_done_, side_));
      watchdog().wait(header_done_, "recv", rank_, size_);
      Header h, want = make_header(kSend, shape, dtype);
      std::memcpy(h.data(), header_host_, sizeof(Header));
      if (h != want) {
        // Take the sender's data anyway (its send would never complete), then report.
        const size_t bytes = header_bytes(h);
        void* scratch = nullptr;
        MICA_NCCL_CUDA(cudaMallocAsync(&scratch, std::max<size_t>(bytes, 1), s));
        MICA_NCCL_CHECK(ncclRecv(scratch, bytes, ncclUint8, src, comm_, s), comm_);
        MICA_NCCL_CUDA(cudaFreeAsync(scratch, s));
        done("recv", s);
        throw std::runtime_error("[recv] expected " + describe(want, false) + " from rank " + std::to_string(src) +
                                 ", got " + describe(h, false) + " (the sender sent another shape or dtype).");
      }
    }
    MICA_NCCL_CHECK(ncclRecv(out, elements(shape) * dtype.size, ncclUint8, src, comm_, s), comm_);
    done("recv", s);
  }

  // ---- CPU arrays: through a GPU copy on the side stream ----
  void all_reduce(const array& in, array& out, ReduceOp op) override {
    if (!nccl_reduces(in.dtype(), op)) {
      throw std::invalid_argument(std::string("[") + all_reduce_name(op) + "] expected a GPU array for " +
                                  dtype_to_string(in.dtype()) + " over an NCCL group, got a CPU array.");
    }
    through_gpu(in, out, [&](const void* i, void* o) {
      all_reduce_gpu(i, o, in.shape(), in.dtype(), op, side_);
    });
  }
  void all_gather(const array& in, array& out) override {
    through_gpu(in, out, [&](const void* i, void* o) { all_gather_gpu(i, o, in.shape(), in.dtype(), side_); });
  }
  void reduce_scatter(const array& in, array& out, ReduceOp op) override {
    if (!nccl_reduces(in.dtype(), op)) {
      throw std::invalid_argument("[sum_scatter] expected a GPU array for " + dtype_to_string(in.dtype()) +
                                  " over an NCCL group, got a CPU array.");
    }
    through_gpu(in, out, [&](const void* i, void* o) {
      reduce_scatter_gpu(i, o, in.shape(), in.dtype(), op, side_);
    });
  }
  void send(const array& in, int dst) override {
    array none({0}, in.dtype(), nullptr, {});
    through_gpu(in, none, [&](const void* i, void*) { send_gpu(i, in.shape(), in.dtype(), dst, side_); });
  }
  void recv(array& out, int src) override {
    array none({0}, out.dtype(), nullptr, {});
    through_gpu(none, out, [&](const void*, void* o) { recv_gpu(o, out.shape(), out.dtype(), src, side_); });
  }

 private:
  static size_t elements(const Shape& shape) {
    size_t n = 1;
    for (int d : shape) n *= static_cast<size_t>(d);
    return n;
  }

  // NCCL needs the transfers of one communicator to run in the order they were enqueued on every
  // rank: a transfer on another stream than the last one waits for it.
  cudaStream_t order(void* stream) {
    auto s = static_cast<cudaStream_t>(stream);
    if (last_stream_ && last_stream_ != s) MICA_NCCL_CUDA(cudaStreamWaitEvent(s, last_, 0));
    return s;
  }
  void done(const char* op, cudaStream_t s) {
    MICA_NCCL_CUDA(cudaEventRecord(last_, s));
    last_stream_ = s;
    watchdog().watch(op, rank_, size_, s);
  }

  // Every rank learns every rank's header (over the side communicator, so the data's stream is
  // not waited for); any difference throws on all of them alike.
  void check_same(int64_t code, const char* name, const Shape& shape, Dtype dtype) {
    if (!checks_on() || size_ == 1) return;
    Header mine = make_header(code, shape, dtype);
    std::memcpy(header_host_, mine.data(), sizeof(Header));
    auto* dev = static_cast<char*>(header_dev_);
    MICA_NCCL_CUDA(cudaMemcpyAsync(dev, header_host_, sizeof(Header), cudaMemcpyHostToDevice, side_));
    MICA_NCCL_CHECK(ncclAllGather(dev, dev + sizeof(Header), sizeof(Header), ncclUint8, check_comm_, side_),
                    check_comm_);
    MICA_NCCL_CUDA(cudaMemcpyAsync(header_host_ + kHeaderWords, dev + sizeof(Header), sizeof(Header) * size_,
                                   cudaMemcpyDeviceToHost, side_));
    MICA_NCCL_CUDA(cudaEventRecord(header_done_, side_));
    watchdog().wait(header_done_, name, rank_, size_);
    std::vector<Header> all(static_cast<size_t>(size_));
    std::memcpy(all.data(), header_host_ + kHeaderWords, sizeof(Header) * size_);
    if (std::string msg = mismatch(name, all); !msg.empty()) throw std::runtime_error(msg);
  }

  // Runs f(device in, device out) on the side stream with GPU copies of a CPU array's data.
  template <typename F>
  void through_gpu(const array& in, array& out, F f) {
    ensure_device();
    void *din = nullptr, *dout = nullptr;
    MICA_NCCL_CUDA(cudaMallocAsync(&din, std::max<size_t>(in.nbytes(), 1), side_));
    MICA_NCCL_CUDA(cudaMallocAsync(&dout, std::max<size_t>(out.nbytes(), 1), side_));
    struct Free {
      void *a, *b;
      cudaStream_t s;
      ~Free() {
        cudaFreeAsync(a, s);
        cudaFreeAsync(b, s);
      }
    } release{din, dout, side_};
    if (in.nbytes()) {
      MICA_NCCL_CUDA(cudaMemcpyAsync(din, in.data<void>(), in.nbytes(), cudaMemcpyHostToDevice, side_));
    }
    f(din, dout);
    if (out.nbytes()) {
      MICA_NCCL_CUDA(cudaMemcpyAsync(out.data<void>(), dout, out.nbytes(), cudaMemcpyDeviceToHost, side_));
    }
    cudaEvent_t e;
    MICA_NCCL_CUDA(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    MICA_NCCL_CUDA(cudaEventRecord(e, side_));
    watchdog().wait(e, "a transfer of CPU data", rank_, size_);
    cudaEventDestroy(e);
  }

  std::mutex mu_;
  ncclComm_t comm_, check_comm_;
  int rank_ = 0, size_ = 1;
  cudaStream_t side_ = nullptr;
  cudaStream_t last_stream_ = nullptr;
  cudaEvent_t last_ = nullptr, header_done_ = nullptr;
  void* header_dev_ = nullptr;
  int64_t* header_host_ = nullptr;  // this rank's header, then every rank's
};

}  // namespace

bool is_available() { return gpu::device_count() > 0; }

bool launched() { return env_size() > 1; }

std::shared_ptr<GroupImpl> world() {
  static std::once_flag once;
  // Never destroyed: at exit the CUDA runtime may be gone before a static destructor would run.
  static auto& group = *new std::shared_ptr<GroupImpl>();
  std::call_once(once, [] {
    if (!is_available()) {
      throw std::runtime_error("[distributed::init] expected a GPU for the NCCL backend, got none.");
    }
    ensure_device();
    int rank = 0, size = 1;
    ncclUniqueId id{};
    if (mpi::launched() && mpi::is_available()) {
      // The MPI world's ranks; rank 0's id goes to the others as one all_gather of its bytes
      // (MPI's own group carries it, so both backends number the ranks alike).
      auto w = mpi::world();
      rank = w->rank();
      size = w->size();
      if (rank == 0) MICA_NCCL_CHECK(ncclGetUniqueId(&id), nullptr);
      array mine({static_cast<int>(sizeof(id))}, uint8, nullptr, {});
      mine.set_data(allocator::malloc(sizeof(id)));
      std::memcpy(mine.data<void>(), &id, sizeof(id));
      array all({static_cast<int>(sizeof(id)) * size}, uint8, nullptr, {});
      all.set_data(allocator::malloc(sizeof(id) * size));
      w->all_gather(mine, all);
      std::memcpy(&id, all.data<void>(), sizeof(id));
    } else if (launched()) {
      size = env_size();
      rank = env_rank();
      if (rank >= size) {
        throw std::invalid_argument("[distributed::init] expected a rank in [0, " + std::to_string(size) +
                                    ") from the launcher's environment, got " + std::to_string(rank) + ".");
      }
      const char* host = first_env({"MICA_NCCL_HOST", "NCCL_HOST_IP", "MASTER_ADDR"});
      int port = env_int({"MICA_NCCL_PORT", "NCCL_PORT"}, -1);
      if (port < 0) {
        int master = env_int({"MASTER_PORT"}, -1);
        if (master >= 0) port = master + 1;  // MASTER_PORT itself may be the launcher's own store
      }
      if (!host || port <= 0 || port > 65535) {
        throw std::invalid_argument(
            "[distributed::init] expected rank 0's address in the environment (MICA_NCCL_HOST and MICA_NCCL_PORT, or "
            "MASTER_ADDR and MASTER_PORT) for an NCCL world of " + std::to_string(size) + " processes, got " +
            (host ? "no port" : "no host") + ".");
      }
      id = meet_tcp(rank, size, host, port, timeout_seconds());
    } else {
      MICA_NCCL_CHECK(ncclGetUniqueId(&id), nullptr);
    }
    ncclComm_t comm = nullptr, check = nullptr;
    MICA_NCCL_CHECK(ncclCommInitRank(&comm, size, id, rank), nullptr);
    MICA_NCCL_CHECK(ncclCommSplit(comm, 0, rank, &check, nullptr), comm);
    group = std::make_shared<NcclGroup>(comm, check);
  });
  if (!group) throw std::runtime_error("[distributed::init] NCCL failed to initialize earlier in this process.");
  return group;
}

}  // namespace mica::distributed::detail::nccl
