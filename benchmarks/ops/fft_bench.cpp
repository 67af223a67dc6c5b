// Times mica's FFTs (complex64 and real float32 inputs) and prints one RESULT line per case;
// benchmarks/compare/cpu_vs_numpy.py times NumPy's pocketfft on the same cases in the same run
// and prints the ratios. Usage: fft_bench [reps]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "bench.h"
#include "inputs.h"
#include "mica/mica.h"

namespace mx = mica;

namespace {
mx::array complex_input(const mx::Shape& shape, uint32_t seed) {
  mx::array z = mx::astype(random_input(shape, seed), mx::complex64) +
                mx::astype(random_input(shape, seed + 1), mx::complex64) * mx::array(mx::complex64_t(0.0f, 1.0f));
  z.eval();
  return z;
}
}  // namespace

int main(int argc, char** argv) {
  int reps = argc > 1 ? std::atoi(argv[1]) : 10;
  int threads = static_cast<int>(std::thread::hardware_concurrency());
  std::printf("mica fft benchmarks (%d threads, best of %d)\n", threads, reps);
  mx::array c20 = complex_input({1 << 20}, 1);
  mx::array r20 = random_input({1 << 20}, 3);
  mx::array cprime = complex_input({1048573}, 5);  // prime: Bluestein's algorithm
  mx::array c1k = complex_input({1024, 1024}, 7);
  mx::array r1k = random_input({1024, 1024}, 9);
  mx::array c1000 = complex_input({4096, 1000}, 11);
  mx::array bins = complex_input({1 << 19 | 1}, 13);  // 2^19 + 1 bins -> 2^20 values
  mx::eval({r20, r1k, bins});
  struct Case {
    const char* key;
    std::function<mx::array()> op;
    double n;  // points per transform, for the 5 n log2 n flop count
    double count;
  };
  std::vector<Case> cases = {
      {"fft_2^20", [&] { return mx::fft::fft(c20); }, 1 << 20, 1},
      {"ifft_2^20", [&] { return mx::fft::ifft(c20); }, 1 << 20, 1},
      {"rfft_2^20", [&] { return mx::fft::rfft(r20); }, 1 << 20, 0.5},
      {"irfft_2^20", [&] { return mx::fft::irfft(bins); }, 1 << 20, 0.5},
      {"fft_prime_1048573", [&] { return mx::fft::fft(cprime); }, 1048573, 1},
      {"fft_rows_1024x1024", [&] { return mx::fft::fft(c1k); }, 1024, 1024},
      {"fft_cols_1024x1024", [&] { return mx::fft::fft(c1k, 0); }, 1024, 1024},
      {"fft2_1024x1024", [&] { return mx::fft::fft2(c1k); }, 1024, 2048},
      {"rfft2_1024x1024", [&] { return mx::fft::rfft2(r1k); }, 1024, 1024},
      {"fft_rows_4096x1000", [&] { return mx::fft::fft(c1000); }, 1000, 4096},
  };
  for (auto& c : cases) {
    double t = best_time(reps, [&] { c.op().eval(); });
    double gflops = 5 * c.n * std::log2(c.n) * c.count / t / 1e9;
    std::printf("%-24s %9.3f ms  %6.2f GFLOP/s (5 n log2 n)\n", c.key, t * 1e3, gflops);
    report(c.key, t);
  }
  return 0;
}
