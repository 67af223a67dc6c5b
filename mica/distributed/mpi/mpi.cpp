// The Open MPI backend (built when CMake finds MPI; no_mpi/mpi.cpp otherwise). mica works on its
// own duplicate of MPI_COMM_WORLD (its traffic never meets the program's own MPI messages), with
// errors returned rather than fatal so they become exceptions.
//
// Types: every dtype maps to an MPI type; float16 and bfloat16 get 2-byte types of their own so
// that the user-defined reductions (sum/max/min computed in float) know which one they hold.
// Floating max/min are user-defined too, so NaN propagates and complex values compare as
// mica::maximum does; bool sums are logical or.
//
// Checks: before moving data each collective all-gathers a 16-word header (operation, dtype,
// shape), so a rank with another shape, dtype or operation throws on every rank instead of
// corrupting memory or hanging; send/recv send the header ahead of the data. MICA_DIST_CHECK=0
// skips it. A watchdog thread aborts the job (MPI_Abort, after printing the operation and rank)
// when a transfer does not finish within MICA_DIST_TIMEOUT seconds: a dead or diverging rank.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <climits>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mica/backend/cpu/binary.h"
#include "mica/distributed/backend.h"
#include "mica/distributed/header.h"
#include "mica/ops/utils.h"

namespace mica::distributed::detail::mpi {

namespace {

#define MICA_MPI_CHECK(call)                                                                                     \
  do {                                                                                                           \
    int mica_mpi_rc = (call);                                                                                    \
    if (mica_mpi_rc != MPI_SUCCESS) throw_mpi_error(#call, mica_mpi_rc, __FILE__, __LINE__);                    \
  } while (0)

[[noreturn]] void throw_mpi_error(const char* call, int rc, const char* file, int line) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw std::runtime_error(std::string("[distributed] ") + call + " failed: " + std::string(msg, len) + " (" + file +
                           ":" + std::to_string(line) + ")");
}

// ---- watchdog ----
// One transfer at a time is in flight (the scheduler runs one kernel at a time). Starting and
// ending one only stores atomics (no lock, no wake-up: a collective of a few microseconds must
// not pay for a context switch); the thread polls a few times per timeout and aborts the job when
// the same transfer is still running after the timeout.
class Watchdog {
 public:
  Watchdog() {
    const char* env = std::getenv("MICA_DIST_TIMEOUT");
    timeout_ = env ? std::atof(env) : 600.0;
    if (timeout_ > 0) thread_ = std::thread([this] { run(); });
  }
  void begin(const char* op, int size) {
    if (timeout_ <= 0) return;
    op_.store(op, std::memory_order_relaxed);
    size_.store(size, std::memory_order_relaxed);
    start_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
    serial_.fetch_add(1, std::memory_order_release);  // odd while a transfer runs
  }
  void end() {
    if (timeout_ <= 0) return;
    serial_.fetch_add(1, std::memory_order_release);
  }
  void stop() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    using clock = std::chrono::steady_clock;
    const auto limit = std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(timeout_));
    const auto poll = std::min<clock::duration>(limit / 4, std::chrono::seconds(1));
    uint64_t seen = 0;  // the running transfer's serial when first seen
    std::unique_lock<std::mutex> lk(mu_);
    while (!cv_.wait_for(lk, poll, [&] { return stop_; })) {
      uint64_t serial = serial_.load(std::memory_order_acquire);
      if (serial % 2 == 0) continue;  // nothing in flight
      if (serial != seen) {
        seen = serial;
        continue;
      }
      clock::time_point start{clock::duration(start_.load(std::memory_order_relaxed))};
      if (clock::now() - start < limit) continue;
      std::fprintf(stderr,
                   "[distributed] rank %d: %s over a group of %d processes did not complete within %g s "
                   "(MICA_DIST_TIMEOUT): a rank of the group is dead, stuck, or evaluating different collectives. "
                   "Aborting the job.\n",
                   world_rank(), op_.load(), size_.load(), timeout_);
      std::fflush(stderr);
      MPI_Abort(MPI_COMM_WORLD, 3);
    }
  }
  static int world_rank() {
    int r = -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
  }
  double timeout_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::atomic<const char*> op_{""};
  std::atomic<int> size_{0};
  std::atomic<int64_t> start_{0};
  std::atomic<uint64_t> serial_{0};
};

// ---- global state ----
struct State {
  bool owns_mpi = false;  // mica called MPI_Init_thread, so it finalizes
  MPI_Datatype f16 = MPI_DATATYPE_NULL, bf16 = MPI_DATATYPE_NULL;
  MPI_Op op_sum = MPI_OP_NULL, op_max = MPI_OP_NULL, op_min = MPI_OP_NULL;
  Watchdog* watchdog = nullptr;  // leaked on purpose: it must outlive static destructors
  bool check = true;
};
State& state() {
  static State s;
  return s;
}

struct WatchScope {
  WatchScope(const char* op, int size) { state().watchdog->begin(op, size); }
  ~WatchScope() { state().watchdog->end(); }
};

// ---- user-defined reductions: the element rules of maximum / minimum (backend/cpu/binary.h) ----

// inout[i] = f(in[i], inout[i]) over halves stored as H, computed in float.
template <typename H, typename F>
void half_loop(void* in, void* inout, int n, F f) {
  const H* a = static_cast<const H*>(in);
  H* b = static_cast<H*>(inout);
  for (int i = 0; i < n; ++i) b[i] = H(f(static_cast<float>(a[i]), static_cast<float>(b[i])));
}
template <typename T, typename F>
void loop(void* in, void* inout, int n, F f) {
  const T* a = static_cast<const T*>(in);
  T* b = static_cast<T*>(inout);
  for (int i = 0; i < n; ++i) b[i] = f(a[i], b[i]);
}

void user_sum(void* in, void* inout, int* len, MPI_Datatype* dt) {
  auto add = [](float a, float b) { return a + b; };
  if (*dt == state().f16) half_loop<float16_t>(in, inout, *len, add);
  else if (*dt == state().bf16) half_loop<bfloat16_t>(in, inout, *len, add);
}
// inout = f(in, inout) for the dtypes MPI's own MAX / MIN do not cover.
template <typename F>
void user_extreme(void* in, void* inout, int* len, MPI_Datatype* dt, F f) {
  if (*dt == state().f16) half_loop<float16_t>(in, inout, *len, f);
  else if (*dt == state().bf16) half_loop<bfloat16_t>(in, inout, *len, f);
  else if (*dt == MPI_FLOAT) loop<float>(in, inout, *len, f);
  else if (*dt == MPI_DOUBLE) loop<double>(in, inout, *len, f);
  else if (*dt == MPI_C_FLOAT_COMPLEX) loop<complex64_t>(in, inout, *len, f);
}
void user_max(void* in, void* inout, int* len, MPI_Datatype* dt) { user_extreme(in, inout, len, dt, cpu::MaxFn{}); }
void user_min(void* in, void* inout, int* len, MPI_Datatype* dt) { user_extreme(in, inout, len, dt, cpu::MinFn{}); }

MPI_Datatype mpi_type(Dtype d) {
  switch (d.val) {
    case Dtype::Val::bool_: return MPI_C_BOOL;
    case Dtype::Val::uint8: return MPI_UINT8_T;
    case Dtype::Val::uint16: return MPI_UINT16_T;
    case Dtype::Val::uint32: return MPI_UINT32_T;
    case Dtype::Val::uint64: return MPI_UINT64_T;
    case Dtype::Val::int8: return MPI_INT8_T;
    case Dtype::Val::int16: return MPI_INT16_T;
    case Dtype::Val::int32: return MPI_INT32_T;
    case Dtype::Val::int64: return MPI_INT64_T;
    case Dtype::Val::float16: return state().f16;
    case Dtype::Val::bfloat16: return state().bf16;
    case Dtype::Val::float32: return MPI_FLOAT;
    case Dtype::Val::float64: return MPI_DOUBLE;
    case Dtype::Val::complex64: return MPI_C_FLOAT_COMPLEX;
  }
  throw std::invalid_argument("[distributed] unknown dtype.");
}

MPI_Op mpi_op(ReduceOp op, Dtype d) {
  if (d == bool_) return op == ReduceOp::min ? MPI_LAND : MPI_LOR;
  bool half = d == float16 || d == bfloat16;
  switch (op) {
    case ReduceOp::sum: return half ? state().op_sum : MPI_SUM;
    case ReduceOp::max: return is_inexact(d) ? state().op_max : MPI_MAX;
    case ReduceOp::min: return is_inexact(d) ? state().op_min : MPI_MIN;
  }
  return MPI_SUM;
}

void finalize() {
  State& s = state();
  if (s.watchdog) s.watchdog->stop();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized || !s.owns_mpi) return;
  for (MPI_Op* op : {&s.op_sum, &s.op_max, &s.op_min}) {
    if (*op != MPI_OP_NULL) MPI_Op_free(op);
  }
  for (MPI_Datatype* t : {&s.f16, &s.bf16}) {
    if (*t != MPI_DATATYPE_NULL) MPI_Type_free(t);
  }
  MPI_Finalize();
}

// ---- headers (distributed/header.h) ----
constexpr int kTagHeader = 7001, kTagData = 7002;

// ---- the group ----
class MpiGroup : public GroupImpl {
 public:
  MpiGroup(MPI_Comm comm) : comm_(comm) {
    MICA_MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
    MICA_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
    MICA_MPI_CHECK(MPI_Comm_size(comm_, &size_));
  }
  ~MpiGroup() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }
  std::string backend() const override { return "mpi"; }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  std::shared_ptr<GroupImpl> split(int color, int key) override {
    MPI_Comm sub;
    WatchScope w("Group::split", size_);
    MICA_MPI_CHECK(MPI_Comm_split(comm_, color, key < 0 ? rank_ : key, &sub));
    return std::make_shared<MpiGroup>(sub);
  }

  void all_reduce(const array& in, array& out, ReduceOp op) override {
    const char* name = all_reduce_name(op);
    WatchScope w(name, size_);
    check_same(op_code(op), name, in);
    MPI_Datatype t = mpi_type(in.dtype());
    MPI_Op mop = mpi_op(op, in.dtype());
    const char* src = in.data<char>();
    char* dst = out.data<char>();
    bool in_place = src == dst;
    // MPI counts are int: large arrays go in chunks.
    constexpr int64_t kChunk = int64_t{1} << 30;
    int64_t n = static_cast<int64_t>(in.size());
    for (int64_t i = 0; i < n; i += kChunk) {
      int count = static_cast<int>(std::min(kChunk, n - i));
      size_t off = static_cast<size_t>(i) * in.itemsize();
      MICA_MPI_CHECK(MPI_Allreduce(in_place ? MPI_IN_PLACE : src + off, dst + off, count, t, mop, comm_));
    }
  }

  void all_gather(const array& in, array& out) override {
    WatchScope w("all_gather", size_);
    check_same(kAllGather, "all_gather", in);
    int count = checked_count("all_gather", in.size());
    MPI_Datatype t = mpi_type(in.dtype());
    MICA_MPI_CHECK(MPI_Allgather(in.data<void>(), count, t, out.data<void>(), count, t, comm_));
  }

  void reduce_scatter(const array& in, array& out, ReduceOp op) override {
    WatchScope w("sum_scatter", size_);
    check_same(kSumScatter, "sum_scatter", in);
    int count = checked_count("sum_scatter", out.size());
    MICA_MPI_CHECK(MPI_Reduce_scatter_block(in.data<void>(), out.data<void>(), count, mpi_type(in.dtype()),
                                            mpi_op(op, in.dtype()), comm_));
  }

  void send(const array& in, int dst) override {
    WatchScope w("send", size_);
    if (state().check) {
      Header h = make_header(kSend, in.shape(), in.dtype());
      MICA_MPI_CHECK(MPI_Send(h.data(), kHeaderWords, MPI_INT64_T, dst, kTagHeader, comm_));
    }
    transfer_chunks(in.nbytes(), [&](size_t off, int count) {
      MICA_MPI_CHECK(MPI_Send(in.data<char>() + off, count, MPI_BYTE, dst, kTagData, comm_));
    });
  }

  void recv(array& out, int src) override {
    WatchScope w("recv", size_);
    if (state().check) {
      Header h{};
      MICA_MPI_CHECK(MPI_Recv(h.data(), kHeaderWords, MPI_INT64_T, src, kTagHeader, comm_, MPI_STATUS_IGNORE));
      Header want = make_header(kSend, out.shape(), out.dtype());
      if (h != want) {
        // Take the sender's data anyway (it may block until received), then report.
        std::vector<char> scratch(header_bytes(h));
        transfer_chunks(scratch.size(), [&](size_t off, int count) {
          MICA_MPI_CHECK(MPI_Recv(scratch.data() + off, count, MPI_BYTE, src, kTagData, comm_, MPI_STATUS_IGNORE));
        });
        throw std::runtime_error("[recv] expected " + describe(want, false) + " from rank " + std::to_string(src) +
                                 ", got " + describe(h, false) + " (the sender sent another shape or dtype).");
      }
    }
    transfer_chunks(out.nbytes(), [&](size_t off, int count) {
      MICA_MPI_CHECK(MPI_Recv(out.data<char>() + off, count, MPI_BYTE, src, kTagData, comm_, MPI_STATUS_IGNORE));
    });
  }

 private:
  // Every rank learns every rank's header; any difference throws on all of them alike.
  void check_same(int64_t code, const char* name, const array& a) {
    if (!state().check) return;
    Header mine = make_header(code, a.shape(), a.dtype());
    std::vector<Header> all(static_cast<size_t>(size_));
    MICA_MPI_CHECK(MPI_Allgather(mine.data(), kHeaderWords, MPI_INT64_T, all.data(), kHeaderWords, MPI_INT64_T, comm_));
    if (std::string msg = mismatch(name, all); !msg.empty()) throw std::runtime_error(msg);
  }

  static int checked_count(const char* name, size_t n) {
    if (n > static_cast<size_t>(INT_MAX)) {
      throw std::runtime_error(std::string("[") + name + "] expected at most 2^31 - 1 elements per rank, got " +
                               std::to_string(n) + ".");
    }
    return static_cast<int>(n);
  }

  template <typename F>
  static void transfer_chunks(size_t bytes, F f) {
    constexpr size_t kChunk = size_t{1} << 30;
    for (size_t off = 0; off < bytes; off += kChunk) f(off, static_cast<int>(std::min(kChunk, bytes - off)));
  }

  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
};

}  // namespace

bool is_available() { return true; }

bool launched() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"}) {
    if (std::getenv(v)) return true;
  }
  return false;
}

std::shared_ptr<GroupImpl> world() {
  static std::once_flag once;
  static std::shared_ptr<GroupImpl> group;
  std::call_once(once, [] {
    State& s = state();
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) {
        throw std::runtime_error("[distributed::init] MPI_Init_thread failed.");
      }
      s.owns_mpi = true;
    }
    const char* check = std::getenv("MICA_DIST_CHECK");
    s.check = !(check && std::string(check) == "0");
    MICA_MPI_CHECK(MPI_Type_contiguous(2, MPI_BYTE, &s.f16));
    MICA_MPI_CHECK(MPI_Type_commit(&s.f16));
    MICA_MPI_CHECK(MPI_Type_contiguous(2, MPI_BYTE, &s.bf16));
    MICA_MPI_CHECK(MPI_Type_commit(&s.bf16));
    MICA_MPI_CHECK(MPI_Op_create(user_sum, 1, &s.op_sum));
    MICA_MPI_CHECK(MPI_Op_create(user_max, 1, &s.op_max));
    MICA_MPI_CHECK(MPI_Op_create(user_min, 1, &s.op_min));
    s.watchdog = new Watchdog();
    std::atexit(finalize);
    MPI_Comm comm;
    MICA_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &comm));
    group = std::make_shared<MpiGroup>(comm);
  });
  if (!group) throw std::runtime_error("[distributed::init] MPI failed to initialize earlier in this process.");
  return group;
}

}  // namespace mica::distributed::detail::mpi
