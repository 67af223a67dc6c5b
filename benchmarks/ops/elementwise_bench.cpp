// Elementwise throughput and graph overhead, beside peers measured in the same run:
// a plain two-thread C++ loop over the same arrays (the bandwidth the machine gives), and
// NumPy (benchmarks/compare/cpu_vs_numpy.py, run by benchmarks/run_cpu.sh).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>
#include <vector>

#include "mica/mica.h"
#include "bench.h"

using namespace mica;
using clk = std::chrono::steady_clock;

// The peer: c = op(a, b) on two threads with plain loops.
template <typename F>
double two_thread_loop(size_t n, F&& body) {
  return best_time(10, [&] {
    std::thread t([&] { body(0, n / 2); });
    body(n / 2, n);
    t.join();
  });
}

int main() {
  const size_t n = 1 << 24;
  auto a = random::uniform({static_cast<int>(n)}, float32) ;
  auto b = random::uniform({static_cast<int>(n)}, float32);
  eval(a, b);
  std::vector<float> pa(a.data<float>(), a.data<float>() + n), pb(b.data<float>(), b.data<float>() + n), pc(n);

  double t_loop_add = two_thread_loop(n, [&](size_t s, size_t e) {
    for (size_t i = s; i < e; ++i) pc[i] = pa[i] + pb[i];
  });
  double t_add = best_time(10, [&] { eval(add(a, b)); });
  double bytes3 = 3.0 * 4 * n, bytes2 = 2.0 * 4 * n;
  report("add_2^24", t_add);
  report("peer_loop_add_2^24", t_loop_add);
  printf("add   2^24 f32: mica %6.2f GB/s   two-thread loop %6.2f GB/s   ratio %.2f\n", bytes3 / t_add / 1e9,
         bytes3 / t_loop_add / 1e9, t_loop_add / t_add);

  double t_loop_copy = two_thread_loop(n, [&](size_t s, size_t e) {
    for (size_t i = s; i < e; ++i) pc[i] = pa[i] * 1.0001f;
  });
  double t_exp = best_time(10, [&] { eval(exp(a)); });
  report("exp_2^24", t_exp);
  printf("exp   2^24 f32: mica %6.2f GB/s   two-thread loop (c = a * k) %6.2f GB/s   ratio %.2f\n",
         bytes2 / t_exp / 1e9, bytes2 / t_loop_copy / 1e9, t_loop_copy / t_exp);

  // Graph overhead: build and evaluate 10,000 scalar adds.
  double t_over = best_time(20, [&] {
    auto x = array(0.0f);
    for (int i = 0; i < 10000; ++i) x = x + 1.0f;
    eval(x);
  });
  report("scalar_adds_10000", t_over);
  printf("overhead: 10,000 scalar adds built and evaluated in %.2f ms (target < 5 ms)\n", t_over * 1e3);
  return 0;
}
