// Times fast::scaled_dot_product_attention beside the composition softmax(q k^T * scale + mask) v
// (what nn::MultiHeadAttention computed before), float32, forward and forward + backward, with
// no mask and causal, and reports each one's peak memory (the composition holds (L, L) scores
// per head). Usage: attention_bench [reps] [B H L D]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "bench.h"
#include "inputs.h"
#include "mica/mica.h"

namespace mx = mica;

namespace {

mx::array composed(const mx::array& q, const mx::array& k, const mx::array& v, float scale, bool causal) {
  mx::array s = mx::matmul(q * scale, mx::swapaxes(k, -1, -2));
  if (causal) {
    const int L = q.shape(2);
    mx::array idx = mx::arange(L);
    mx::array keep = mx::greater_equal(mx::expand_dims(idx, 1), mx::expand_dims(idx, 0));
    s = mx::where(keep, s, mx::array(mx::finfo(mx::float32).min, mx::float32));
  }
  return mx::matmul(mx::softmax(s, -1, true), v);
}

// Best time and the peak memory above what the inputs hold.
struct Measure {
  double seconds;
  double peak_mib;
};
Measure measure(int reps, const std::function<std::vector<mx::array>()>& fn) {
  const size_t base = mx::get_active_memory();
  mx::reset_peak_memory();
  mx::eval(fn());
  const double peak = (mx::get_peak_memory() - base) / 1048576.0;
  double t = best_time(reps, [&] { mx::eval(fn()); });
  return {t, peak};
}
}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 5;
  const int B = argc > 5 ? std::atoi(argv[2]) : 1, H = argc > 5 ? std::atoi(argv[3]) : 12;
  const int L = argc > 5 ? std::atoi(argv[4]) : 1024, D = argc > 5 ? std::atoi(argv[5]) : 64;
  mx::array q = random_input({B, H, L, D}, 1), k = random_input({B, H, L, D}, 2), v = random_input({B, H, L, D}, 3);
  mx::array w = random_input({B, H, L, D}, 4);
  mx::eval({q, k, v, w});
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  std::printf("attention B=%d H=%d L=%d D=%d float32, best of %d (the composition: matmul, softmax, matmul)\n", B, H,
              L, D, reps);
  for (bool causal : {false, true}) {
    for (bool backward : {false, true}) {
      auto run = [&](bool fused) {
        auto f = [&, fused](const std::vector<mx::array>& x) {
          return fused ? mx::fast::scaled_dot_product_attention(x[0], x[1], x[2], scale, causal ? "causal" : "")
                       : composed(x[0], x[1], x[2], scale, causal);
        };
        if (!backward) return std::vector<mx::array>{f({q, k, v})};
        auto g = mx::grad([&](const std::vector<mx::array>& x) { return mx::sum(f(x) * w); }, {0, 1, 2});
        return g({q, k, v});
      };
      // Interleaved so both see the same machine load.
      Measure mf{1e30, 0}, mc{1e30, 0};
      for (int round = 0; round < 2; ++round) {
        Measure c = measure(reps, [&] { return run(false); });
        Measure f = measure(reps, [&] { return run(true); });
        if (c.seconds < mc.seconds) mc = c;
        if (f.seconds < mf.seconds) mf = f;
      }
      // The fused op's work: 2 GEMMs of 2 L^2 D flops forward, 5 more backward (S recomputed, dP,
      // dV, dK, dQ; the composition keeps P and does 4); causal halves it.
      const double flop = (backward ? 7.0 : 2.0) * 2.0 * B * H * double(L) * L * D * (causal ? 0.5 : 1.0);
      const std::string name = std::string(causal ? "causal " : "") + (backward ? "fwd+bwd" : "forward");
      std::printf("%-16s fused %8.2f ms %6.1f GFLOP/s peak %7.1f MiB | composed %8.2f ms peak %7.1f MiB | speedup %.2fx\n",
                  name.c_str(), mf.seconds * 1e3, flop / mf.seconds / 1e9, mf.peak_mib, mc.seconds * 1e3, mc.peak_mib,
                  mc.seconds / mf.seconds);
      const std::string key = std::string("attention_") + (causal ? "causal_" : "") + (backward ? "fwd_bwd" : "fwd");
      report((key + "_fused").c_str(), mf.seconds);
      report((key + "_composed").c_str(), mc.seconds);
    }
  }
  return 0;
}
