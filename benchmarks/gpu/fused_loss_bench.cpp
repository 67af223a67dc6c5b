// GPU benchmark of the fused cross-entropy: loss and gradient of the logits over a GPT-2
// vocabulary, (8192, 50304), as one training step computes them (mean over the rows).
#include "benchmarks/gpu/bench.h"

namespace mx = mica;
using mica_bench::median_seconds;
using mica_bench::report;

MICA_GPU_BENCH(fused_loss) {
  const int rows = 8192, v = 50304;
  auto t = mx::astype(mx::floor(mx::multiply(mx::random::uniform({rows}), mx::array(float(v)))), mx::int32);
  for (mx::Dtype dt : {mx::float32, mx::bfloat16}) {
    std::string sfx = dt == mx::float32 ? "_f32" : "_bf16";
    auto x = mx::astype(mx::random::normal({rows, v}), dt);
    mx::eval(x, t);
    const double bytes = double(rows) * v * dt.size;
    auto loss = [&](const mx::array& a) {
      return mx::nn::losses::cross_entropy(a, t, {.reduction = mx::nn::losses::Reduction::mean});
    };
    report("cross_entropy_fwd" + sfx, median_seconds([&] { return loss(x); }), bytes);
    auto vg = mx::value_and_grad(std::function<mx::array(const mx::array&)>(loss));
    // Forward + backward: the logits read twice and their gradient written once.
    report("cross_entropy_fwd_bwd" + sfx, median_seconds([&] { return vg(x).second; }), 3 * bytes);
  }
}
