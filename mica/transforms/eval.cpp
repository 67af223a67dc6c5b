// The scheduler: walks the graph without recursion, runs each primitive on its stream's
// device, and detaches evaluated nodes so their inputs are freed as the graph runs.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <deque>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <optional>
#include <thread>

#include "mica/backend/gpu_graph.h"
#include "mica/backend/gpu_info.h"
#include "mica/primitives/distributed.h"
#include "mica/primitives/primitive.h"
#include "mica/transforms.h"

namespace mica {

namespace {
std::mutex& eval_mutex() {
  static std::mutex m;
  return m;
}

// Set on the thread holding a detail::EvalLock: its evals run under that lock.
thread_local bool t_holds_lock = false;

std::atomic<bool> g_record{false};
std::set<std::string>& recorded() {
  static std::set<std::string> s;
  return s;
}

// MICA_PROFILE=1 in the environment: time spent in each primitive's kernels, printed to stderr
// at exit (the scheduler runs one kernel at a time, so the times add up to the eval time).
// MICA_PROFILE=shapes splits each primitive by its input shapes (a '*' marks a strided input).
struct Profile {
  struct Entry {
    double seconds = 0;
    long calls = 0;
  };
  bool on = std::getenv("MICA_PROFILE") != nullptr;
  bool shapes = on && std::string(std::getenv("MICA_PROFILE")) == "shapes";
  std::map<std::string, Entry> entries;
  ~Profile() {
    if (!on || entries.empty()) return;
    std::vector<std::pair<std::string, Entry>> v(entries.begin(), entries.end());
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
    double total = 0;
    for (auto& e : v) total += e.second.seconds;
    std::fprintf(stderr, "mica profile: %.3f s in kernels\n%-40s %10s %8s %7s\n", total, "primitive", "seconds", "calls",
                 "share");
    for (auto& [name, e] : v)
      std::fprintf(stderr, "%-40s %10.4f %8ld %6.1f%%\n", name.c_str(), e.seconds, e.calls, 100 * e.seconds / total);
  }
};
Profile& profile() {
  static Profile p;
  return p;
}

// Marks this thread as running a GPU kernel (donation and copies follow the GPU's side).
struct GpuKernelScope {
  GpuKernelScope() { detail::g_running_gpu_kernel = true; }
  ~GpuKernelScope() { detail::g_running_gpu_kernel = false; }
};

void eval_impl(std::vector<array>& outputs) {
  std::unique_lock<std::mutex> lk(eval_mutex(), std::defer_lock);
  if (!t_holds_lock) lk.lock();
  static uint64_t epoch = 0;
  ++epoch;
  // Post-order DFS with an explicit stack: a chain of a million nodes must not overflow.
  std::vector<array> tape;
  std::vector<std::pair<array, size_t>> stack;
  // A node enters the tape once, through whichever output is reached first: its other outputs
  // are marked with it (each would walk the same input list again).
  auto mark = [](const array& a) {
    a.mark() = epoch;
    if (a.has_siblings()) {
      for (const auto& s : a.outputs()) s.mark() = epoch;
    }
  };
  for (auto& o : outputs) {
    if (o.is_available() || o.mark() == epoch) continue;
    mark(o);
    stack.emplace_back(o, 0);
    while (!stack.empty()) {
      auto& top = stack.back();
      if (top.second < top.first.inputs().size()) {
        array in = top.first.inputs()[top.second++];
        if (!in.is_available() && in.mark() != epoch) {
          mark(in);
          stack.emplace_back(std::move(in), 0);
        }
      } else {
        tape.push_back(std::move(top.first));
        stack.pop_back();
      }
    }
  }
  bool record = g_record.load(std::memory_order_relaxed);
  Profile& prof = profile();
  std::vector<int> gpu_streams;  // eval returns once the GPU work it queued has finished
  std::vector<array> outs;
  for (auto& slot : tape) {
    // Moving out of the tape keeps reference counts exact, so buffers can be donated.
    array a = std::move(slot);
    if (a.is_available()) continue;
    if (!a.has_primitive()) {
      throw std::invalid_argument(
          "[eval] expected an array with data or an operation, got a placeholder traced by vmap or "
          "compile (a vmapped or compiled function cannot read its inputs' values).");
    }
    auto& p = a.primitive();
    if (record) recorded().insert(p.name());
    if (!a.has_siblings()) outs.push_back(a);
    else outs = a.outputs();
    // The outputs of a node share one input list, so an input nothing else holds could be donated
    // to an output; a multi-output kernel may read an input again after writing an output
    // (DivMod), so its inputs are held here unless the primitive lets its outputs take them
    // (AdamStep: p', m', v' over p, m, v in place) and no transform traces through the node
    // (it keeps the node, inputs included, after the kernel).
    std::vector<array> held;
    if (outs.size() > 1 && (!p.outputs_may_take_inputs() || a.is_tracer())) held = a.inputs();
    // Empty outputs need no kernel: some would still walk every row of a shape like
    // (2^30, 0). Collectives run anyway (every rank must take part in the exchange), and views
    // (no kernel; their strides are what MLX reports).
    const bool empty = std::all_of(outs.begin(), outs.end(), [](const array& o) { return o.size() == 0; }) &&
                       !dynamic_cast<const DistPrimitive*>(&p) && !p.is_view();
    const auto t0 = prof.on ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    if (empty) {
      for (auto& o : outs) o.set_data(allocator::malloc(0));
    } else if (p.device() == Device::cpu) {
      p.eval_cpu(a.inputs(), outs);
    } else {
      GpuKernelScope scope;
      p.eval_gpu(a.inputs(), outs);
      // Time the kernels, not their launch (nothing runs while a CUDA graph is captured).
      if (prof.on && !gpu::capturing()) gpu::synchronize(p.stream().index);
      if (record) recorded().insert(std::string("gpu:") + p.name());
      if (std::find(gpu_streams.begin(), gpu_streams.end(), p.stream().index) == gpu_streams.end()) {
        gpu_streams.push_back(p.stream().index);
      }
    }
    if (prof.on) {
      std::string key = p.name();
      if (prof.shapes) {
        for (const auto& in : a.inputs()) {
          key += " (";
          for (size_t d = 0; d < in.ndim(); ++d) {
            if (d) key += ",";
            key += std::to_string(in.shape(d));
          }
          key += in.flags().row_contiguous ? ")" : ")*";
        }
      }
      auto& e = prof.entries[key];
      e.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      ++e.calls;
    }
    for (auto& o : outs) o.set_status(array::available);
    outs.clear();  // holding outputs here would block donating them to their consumers
    held.clear();
    if (!a.is_tracer()) a.detach();
  }
  // Under a CUDA graph capture nothing has run yet: nothing to wait for.
  if (!gpu::capturing()) {
    for (int s : gpu_streams) gpu::synchronize(s);
  }
}

void async_queue_drain();

// async_eval runs graphs on one worker thread, in order; eval waits for earlier work first.
struct AsyncQueue {
  std::mutex mu;
  std::condition_variable cv;
  // Each task remembers whether it was submitted while tracing (tracer graphs must be kept).
  std::deque<std::pair<std::vector<array>, bool>> tasks;
  uint64_t submitted = 0;
  uint64_t completed = 0;
  std::exception_ptr error;
  bool started = false;

  void submit(std::vector<array> t, bool tracing) {
    std::unique_lock<std::mutex> lk(mu);
    if (!started) {
      started = true;
      std::thread([this] { run(); }).detach();
      // At exit, let the worker finish what it was given before static objects it may still
      // touch (releasing a finished graph's arrays) are destroyed.
      std::atexit([] { async_queue_drain(); });
    }
    tasks.emplace_back(std::move(t), tracing);
    ++submitted;
    cv.notify_all();
  }
  void run() {
    for (;;) {
      std::vector<array> t;
      bool tracing = false;
      {
        std::unique_lock<std::mutex> lk(mu);
        cv.wait(lk, [&] { return !tasks.empty(); });
        t = std::move(tasks.front().first);
        tracing = tasks.front().second;
        tasks.pop_front();
      }
      try {
        std::optional<detail::TracingScope> scope;
        if (tracing) scope.emplace();
        eval_impl(t);
      } catch (...) {
        std::lock_guard<std::mutex> lk(mu);
        if (!error) error = std::current_exception();
      }
      t.clear();
      std::lock_guard<std::mutex> lk(mu);
      ++completed;
      cv.notify_all();
    }
  }
  // Waits until every submitted task has run, at most `limit` (a task blocked for good, say on a
  // dead peer's message, must not hang the exit); errors stay for the next wait_all.
  void drain(std::chrono::seconds limit) {
    std::unique_lock<std::mutex> lk(mu);
    cv.wait_for(lk, limit, [&] { return completed >= submitted; });
  }
  void wait_all() {
    std::unique_lock<std::mutex> lk(mu);
    if (submitted == completed && !error) return;
    uint64_t ticket = submitted;
    cv.wait(lk, [&] { return completed >= ticket; });
    if (error) {
      auto e = error;
      error = nullptr;
      std::rethrow_exception(e);
    }
  }
};
AsyncQueue& async_queue() {
  static AsyncQueue* q = new AsyncQueue();  // the worker outlives static destruction
  return *q;
}
void async_queue_drain() { async_queue().drain(std::chrono::seconds(10)); }
}  // namespace

void eval(std::vector<array> outputs) {
  if (!t_holds_lock) async_queue().wait_all();  // the holder waited when it took the lock
  eval_impl(outputs);
}

void async_eval(std::vector<array> outputs) {
  bool pending = false;
  for (auto& o : outputs) {
    if (!o.is_available()) {
      pending = true;
      o.set_status(array::scheduled);
    }
  }
  if (pending) async_queue().submit(std::move(outputs), detail::in_tracing());
}

void synchronize() {
  async_queue().wait_all();
  gpu::synchronize();
}
void synchronize(Stream s) {
  async_queue().wait_all();
  if (s.device == Device::gpu) gpu::synchronize(s.index);
}

namespace detail {
EvalLock::EvalLock() {
  async_queue().wait_all();
  eval_mutex().lock();
  t_holds_lock = true;
}
EvalLock::~EvalLock() {
  t_holds_lock = false;
  eval_mutex().unlock();
}

void set_record_primitives(bool on) { g_record = on; }
bool recording_primitives() { return g_record.load(std::memory_order_relaxed); }
void record_name(const std::string& name) {
  std::lock_guard<std::mutex> lk(eval_mutex());
  recorded().insert(name);
}
std::set<std::string> recorded_primitives() {
  std::lock_guard<std::mutex> lk(eval_mutex());
  return recorded();
}
}  // namespace detail

}  // namespace mica
