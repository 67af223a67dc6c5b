// Times quantized_matmul (the fused CPU kernel) against the float32 matmul of the same shape in
// one run: x (B, 4096) @ W.T with W 4096 x 4096, B = 1 and 32, at 4 bits (issue 16's target:
// >= 3x float32 at B = 1, not slower at B = 32), 8 and 2 bits, and W not transposed; the
// dequantize + matmul composition (what quantized_matmul was before) for reference.
// Usage: quantized_bench [reps]
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench.h"
#include "mica/backend/cpu/parallel.h"
#include "mica/mica.h"

namespace mx = mica;

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 20;
  const int D = 4096;
  std::printf("quantized_bench: best of %d runs, %d pool threads, W %d x %d\n", reps, mx::cpu::num_threads(), D, D);
  mx::random::seed(0);
  mx::array w = mx::random::normal({D, D}) * 0.02f;
  mx::eval(w);
  for (bool transpose : {true, false}) {
    for (int bits : {4, 8, 2}) {
      if (!transpose && bits != 4) continue;
      const int gs = 64;
      auto q = mx::quantize(w, gs, bits);
      mx::eval(q);
      for (int B : {1, 32}) {
        mx::array x = mx::random::normal({B, D});
        mx::eval(x);
        mx::array wt = transpose ? mx::transpose(w) : w;
        const double t_f32 = best_time(reps, [&] { mx::matmul(x, wt).eval(); });
        const double t_q = best_time(reps, [&] { mx::quantized_matmul(x, q[0], q[1], q[2], transpose, gs, bits).eval(); });
        const double t_comp = best_time(std::max(1, reps / 4), [&] {
          mx::array wd = mx::dequantize(q[0], q[1], q[2], gs, bits);
          mx::matmul(x, transpose ? mx::transpose(wd) : wd).eval();
        });
        char name[96];
        std::snprintf(name, sizeof name, "qmm_%dbit_b%d%s", bits, B, transpose ? "" : "_notrans");
        std::printf("%-24s fused %8.3f ms   float32 matmul %8.3f ms   ratio %5.2fx   (dequantize+matmul %8.3f ms)\n",
                    name, t_q * 1e3, t_f32 * 1e3, t_f32 / t_q, t_comp * 1e3);
        report(name, t_q);
        if (bits == 4 && transpose) report(("matmul_f32_b" + std::to_string(B) + "_4096").c_str(), t_f32);
      }
    }
  }
  return 0;
}
