#include "mica/backend/cpu/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace mica::cpu {

namespace {
thread_local bool t_in_parallel = false;
constexpr int kSpin = 2048;  // pause instructions: ~10-100 us depending on the CPU
inline void pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

class Pool {
 public:
  explicit Pool(int n) : n_(n) {
    for (int i = 1; i < n_; ++i) std::thread([this, i] { worker(i); }).detach();
  }
  int size() const { return n_; }

  void run(int chunks, const std::function<void(int)>& task) {
    std::lock_guard<std::mutex> one_at_a_time(run_mu_);
    {
      std::lock_guard<std::mutex> lk(mu_);
      task_ = &task;
      chunks_ = chunks;
      next_.store(1);
      remaining_.store(chunks - 1);
      error_ = nullptr;
      ++generation_;
    }
    cv_.notify_all();
    t_in_parallel = true;
    run_chunk(0);
    drain();
    t_in_parallel = false;
    // The workers usually finish within microseconds of the caller: spin briefly before sleeping.
    for (int i = 0; i < kSpin && remaining_.load(std::memory_order_acquire) != 0; ++i) pause();
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [&] { return remaining_.load() == 0; });
    task_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void run_chunk(int c) {
    try {
      (*task_.load())(c);
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu_);
      if (!error_) error_ = std::current_exception();
    }
  }
  // Takes chunks until none are left; the caller and the workers share them.
  void drain() {
    for (;;) {
      int c = next_.fetch_add(1);
      if (c >= chunks_) return;
      run_chunk(c);
      if (remaining_.fetch_sub(1) == 1) {
        std::lock_guard<std::mutex> lk(mu_);
        done_cv_.notify_all();
      }
    }
  }
  void worker(int) {
    t_in_parallel = true;
    uint64_t seen = 0;
    for (;;) {
      // Kernels come in quick succession during an eval: spin a little before sleeping,
      // which saves the futex wake-up and wait of most calls.
      for (int i = 0; i < kSpin && generation_.load(std::memory_order_acquire) == seen; ++i) pause();
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return generation_.load() != seen; });
        seen = generation_.load();
      }
      drain();
    }
  }

  int n_;
  std::mutex run_mu_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::atomic<const std::function<void(int)>*> task_{nullptr};
  std::atomic<int> chunks_{0};
  std::atomic<int> next_{0};
  std::atomic<int> remaining_{0};
  std::atomic<uint64_t> generation_{0};
  std::exception_ptr error_;
};

int detect_threads() {
  if (const char* env = std::getenv("MICA_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

Pool& pool() {
  static Pool* p = new Pool(detect_threads());  // workers outlive static destruction
  return *p;
}
}  // namespace

int num_threads() { return pool().size(); }

bool in_parallel() { return t_in_parallel; }

void parallel_for_pool(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  int64_t chunks = std::min<int64_t>(num_threads(), n / grain);
  if (chunks <= 1 || t_in_parallel) {
    fn(0, n);
    return;
  }
  int64_t per = (n + chunks - 1) / chunks;
  pool().run(static_cast<int>(chunks), [&](int c) {
    int64_t b = c * per, e = std::min(n, b + per);
    if (b < e) fn(b, e);
  });
}

}  // namespace mica::cpu
