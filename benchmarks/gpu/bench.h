// Shared pieces of the GPU op benchmarks (benchmarks/gpu/*_bench.cpp, one file per family).
// Every case prints one line, "name seconds bytes flops", for benchmarks/compare/gpu_vs_torch.py,
// which times PyTorch on the same cases (benchmarks/compare/gpu_torch/<family>.py) in the same
// run and prints the ratios. A case builds its graph, then times eval() (which waits for the
// GPU); the median of several runs counts.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "mica/mica.h"

namespace mica_bench {

inline double median_seconds(const std::function<mica::array()>& build, int reps = 10) {
  std::vector<double> t;
  for (int r = 0; r < reps + 2; ++r) {
    mica::array out = build();
    auto t0 = std::chrono::steady_clock::now();
    mica::eval(out);
    mica::synchronize();  // a compiled call replayed as a CUDA graph returns once it is queued
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r >= 2) t.push_back(s);  // two warm-up runs: pool growth, module load, plan caches
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

/** Seconds per op for short kernels: `n` independent copies of the op are built and evaluated
 * together, so the GPU runs them back to back and one eval()'s host overhead (graph walk,
 * launch latency, the final wait: ~10 us) is spread over n (PyTorch's side is timed with CUDA
 * events, which leave it out too). */
inline double median_seconds_n(const std::function<mica::array()>& build, int n, int reps = 10) {
  std::vector<double> t;
  for (int r = 0; r < reps + 2; ++r) {
    std::vector<mica::array> outs;
    for (int i = 0; i < n; ++i) outs.push_back(build());
    auto t0 = std::chrono::steady_clock::now();
    mica::eval(outs);
    mica::synchronize();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r >= 2) t.push_back(s / n);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

/** bytes: the bytes a case must move (0: not a bandwidth case); flops: its arithmetic (0: none). */
inline void report(const std::string& name, double s, double bytes, double flops = 0) {
  std::printf("%s %.9f %.0f %.0f\n", name.c_str(), s, bytes, flops);
  std::fflush(stdout);
}

using Family = void (*)();
/** Registers a family's cases; gpu_bench runs every family, or those named on its command line. */
int add_family(const char* name, Family f);

}  // namespace mica_bench

#define MICA_GPU_BENCH(family)                                                   \
  static void bench_##family();                                                  \
  [[maybe_unused]] static const int bench_reg_##family =                         \
      ::mica_bench::add_family(#family, &bench_##family);                        \
  static void bench_##family()
