// Times mica's reductions on float32 beside a hand-written two-thread sum (the memory-bandwidth
// peer) and prints GB/s and ratios. NumPy's times for the same shapes come from
// benchmarks/compare/cpu_vs_numpy.py. Usage: reduce_bench [reps]
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "mica/mica.h"
#include "bench.h"

namespace mx = mica;

namespace {
// The peer: two threads, each summing half with 32 independent accumulators. The second
// thread is started once and woken per call, as a pool would, so thread start-up is not timed.
class PeerSum {
 public:
  PeerSum() : worker_([this] { loop(); }) {}
  ~PeerSum() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
      ++gen_;
    }
    cv_.notify_all();
    worker_.join();
  }
  float operator()(const float* x, size_t n) {
    x_ = x;
    n_ = n;
    {
      std::lock_guard<std::mutex> lk(mu_);
      done_ = false;
      ++gen_;
    }
    cv_.notify_all();
    part_[0] = half(0);
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [&] { return done_; });
    return part_[0] + part_[1];
  }

 private:
  float half(int t) const {
    size_t b = n_ / 2 * t, e = t == 0 ? n_ / 2 : n_;
    float acc[32] = {};
    size_t i = b;
    for (; i + 32 <= e; i += 32) {
      for (int k = 0; k < 32; ++k) acc[k] += x_[i + k];
    }
    for (; i < e; ++i) acc[0] += x_[i];
    float s = 0;
    for (float a : acc) s += a;
    return s;
  }
  void loop() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return gen_ != seen; });
        seen = gen_;
        if (stop_) return;
      }
      part_[1] = half(1);
      {
        std::lock_guard<std::mutex> lk(mu_);
        done_ = true;
      }
      done_cv_.notify_all();
    }
  }
  const float* x_ = nullptr;
  size_t n_ = 0;
  float part_[2] = {0, 0};
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  uint64_t gen_ = 0;
  bool stop_ = false, done_ = false;
  std::thread worker_;
};

mx::array random_input(mx::Shape shape) {
  size_t n = 1;
  for (auto d : shape) n *= d;
  std::vector<float> v(n);
  uint32_t s = 12345;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>(s >> 8) / static_cast<float>(1 << 24) * 4.0f - 2.0f;
  }
  return mx::array(v.begin(), shape, mx::float32);
}
}  // namespace

int main(int argc, char** argv) {
  int reps = argc > 1 ? std::atoi(argv[1]) : 10;
  std::printf("mica reduce benchmarks (float32, %d threads, best of %d)\n", static_cast<int>(std::thread::hardware_concurrency()), reps);

  // sum over 2^24 elements vs the two-thread loop.
  const size_t n = size_t(1) << 24;
  mx::array v = random_input({static_cast<int>(n)});
  v.eval();
  const float* vp = v.data<float>();
  volatile float sink = 0;
  PeerSum peer_sum;
  // Interleaved, so both see the same machine load.
  double t_peer = 1e30, t_sum = 1e30;
  for (int i = 0; i < 3 * reps; ++i) {
    t_peer = std::min(t_peer, best_time(0, [&] { sink = peer_sum(vp, n); }));
    t_sum = std::min(t_sum, best_time(0, [&] { mx::array r = mx::sum(v); r.eval(); }));
  }
  double gb = n * 4.0 / 1e9;
  std::printf("%-28s %9.3f ms  %6.1f GB/s\n", "peer two-thread sum 2^24", t_peer * 1e3, gb / t_peer);
  std::printf("%-28s %9.3f ms  %6.1f GB/s  ratio to peer bandwidth %.2f\n", "mica sum 2^24", t_sum * 1e3, gb / t_sum,
              t_peer / t_sum);
  report("sum_2^24", t_sum);
  report("peer_loop_sum_2^24", t_peer);

  // Row reductions over 4096 x 4096.
  mx::array x = random_input({4096, 4096});
  mx::array w = random_input({4096}), b = random_input({4096});
  mx::eval({x, w, b});
  double gx = 4096.0 * 4096.0 * 4.0 / 1e9;
  struct Row {
    const char* key;
    const char* name;
    std::function<mx::array()> op;
    double bytes;  // read + written
  };
  std::vector<Row> rows = {
      {"softmax", "softmax(4096x4096, -1)", [&] { return mx::softmax(x, -1); }, 2 * gx},
      {"layer_norm", "layer_norm(4096x4096)", [&] { return mx::fast::layer_norm(x, w, b, 1e-5f); }, 2 * gx},
      {"rms_norm", "rms_norm(4096x4096)", [&] { return mx::fast::rms_norm(x, w, 1e-5f); }, 2 * gx},
      {"var_last", "var(4096x4096, -1)", [&] { return mx::var(x, -1); }, gx},
      {"mean_last", "mean(4096x4096, -1)", [&] { return mx::mean(x, -1); }, gx},
      {"sum_first", "sum(4096x4096, 0)", [&] { return mx::sum(x, 0); }, gx},
      {"logsumexp", "logsumexp(4096x4096, -1)", [&] { return mx::logsumexp(x, -1); }, gx},
      {"max_last", "max(4096x4096, -1)", [&] { return mx::max(x, -1); }, gx},
  };
  for (auto& r : rows) {
    double t = best_time(reps, [&] { mx::array y = r.op(); y.eval(); });
    std::printf("%-28s %9.3f ms  %6.1f GB/s  (%.2f of peer bandwidth)\n", r.name, t * 1e3, r.bytes / t,
                (r.bytes / t) / (gb / t_peer));
    report(r.key, t);
  }
  return 0;
}
