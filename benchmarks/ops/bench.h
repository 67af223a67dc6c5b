// Shared by the C++ benchmarks: timing, and one machine-readable line per case, read by
// benchmarks/compare/cpu_vs_numpy.py, which times NumPy on the same cases in the same run and
// prints the ratios.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdio>

/** Best wall time of fn over reps runs, in seconds (a warm-up run first; reps 0: one run, no
 * warm-up). */
template <typename F>
double best_time(int reps, F&& fn) {
  if (reps > 0) fn();
  double best = 1e30;
  for (int i = 0; i < std::max(reps, 1); ++i) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

/** Prints "RESULT key seconds". */
inline void report(const char* key, double seconds) { std::printf("RESULT %s %.9g\n", key, seconds); }
