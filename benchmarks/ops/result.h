// One machine-readable line per case, read by benchmarks/compare/cpu_vs_numpy.py, which
// times NumPy on the same cases in the same run and prints the ratios.
#pragma once
#include <cstdio>

inline void report(const char* key, double seconds) { std::printf("RESULT %s %.9g\n", key, seconds); }
