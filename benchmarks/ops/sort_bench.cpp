// Times sort and argsort on the CPU: one row of 2^22 float32 and int32, and 4096 rows of 1024
// float32 (the last axis). benchmarks/compare/cpu_vs_numpy.py times np.sort / np.argsort on the
// same cases in the same run and prints the ratios.
// Usage: sort_bench [reps]
#include <cstdio>
#include <cstdlib>

#include "bench.h"
#include "mica/mica.h"

namespace mx = mica;

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 5;
  mx::random::seed(0);
  mx::array long_f = mx::random::uniform({1 << 22});
  mx::array long_i = mx::random::randint(0, 1 << 30, {1 << 22});
  mx::array rows = mx::random::uniform({4096, 1024});
  mx::eval({long_f, long_i, rows});
  struct Case {
    const char* key;
    mx::array (*fn)(const mx::array&);
    const mx::array* x;
  };
  const Case cases[] = {
      {"sort_f32_2^22", [](const mx::array& a) { return mx::sort(a); }, &long_f},
      {"argsort_f32_2^22", [](const mx::array& a) { return mx::argsort(a); }, &long_f},
      {"sort_i32_2^22", [](const mx::array& a) { return mx::sort(a); }, &long_i},
      {"sort_rows_4096x1024", [](const mx::array& a) { return mx::sort(a, -1); }, &rows},
      {"argsort_rows_4096x1024", [](const mx::array& a) { return mx::argsort(a, -1); }, &rows},
  };
  for (const Case& c : cases) {
    double t = best_time(reps, [&] { mx::eval(c.fn(*c.x)); });
    report(c.key, t);
    std::printf("%-24s %8.2f ms\n", c.key, t * 1e3);
  }
  return 0;
}
