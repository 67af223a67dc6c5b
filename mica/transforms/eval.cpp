// The scheduler: walks the graph without recursion, runs each primitive on its stream's
// device, and detaches evaluated nodes so their inputs are freed as the graph runs.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <optional>
#include <thread>

#include "mica/primitives/primitive.h"
#include "mica/transforms.h"

namespace mica {

namespace {
std::mutex& eval_mutex() {
  static std::mutex m;
  return m;
}

std::atomic<bool> g_record{false};
std::set<std::string>& recorded() {
  static std::set<std::string> s;
  return s;
}

void eval_impl(std::vector<array>& outputs) {
  std::lock_guard<std::mutex> lk(eval_mutex());
  static uint64_t epoch = 0;
  ++epoch;
  // Post-order DFS with an explicit stack: a chain of a million nodes must not overflow.
  std::vector<array> tape;
  std::vector<std::pair<array, size_t>> stack;
  for (auto& o : outputs) {
    if (o.is_available() || o.mark() == epoch) continue;
    o.mark() = epoch;
    stack.emplace_back(o, 0);
    while (!stack.empty()) {
      auto& top = stack.back();
      if (top.second < top.first.inputs().size()) {
        array in = top.first.inputs()[top.second++];
        if (!in.is_available() && in.mark() != epoch) {
          in.mark() = epoch;
          stack.emplace_back(std::move(in), 0);
        }
      } else {
        tape.push_back(std::move(top.first));
        stack.pop_back();
      }
    }
  }
  bool record = g_record.load(std::memory_order_relaxed);
  std::vector<array> outs;
  for (auto& slot : tape) {
    // Moving out of the tape keeps reference counts exact, so buffers can be donated.
    array a = std::move(slot);
    if (a.is_available()) continue;
    if (!a.has_primitive()) {
      throw std::invalid_argument(
          "[eval] expected an array with data or an operation, got a placeholder traced by vmap "
          "(a vmapped function cannot evaluate its inputs).");
    }
    auto& p = a.primitive();
    if (record) recorded().insert(p.name());
    if (a.siblings().empty()) outs.push_back(a);
    else outs = a.outputs();
    if (p.device() == Device::cpu) p.eval_cpu(a.inputs(), outs);
    else p.eval_gpu(a.inputs(), outs);
    for (auto& o : outs) o.set_status(array::available);
    outs.clear();  // holding outputs here would block donating them to their consumers
    if (!a.is_tracer()) a.detach();
  }
}

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
}  // namespace

void eval(std::vector<array> outputs) {
  async_queue().wait_all();
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

void synchronize() { async_queue().wait_all(); }
void synchronize(Stream) { async_queue().wait_all(); }

namespace detail {
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
