// GPU benchmark of fused causal attention in bfloat16 (cuDNN's flash attention through
// fast::scaled_dot_product_attention): GPT-2's shape (batch 8, 12 heads, 1024 tokens, head 64)
// and a long one (batch 4, 16 heads, 4096 tokens, head 128), forward and forward + backward.
#include "benchmarks/gpu/bench.h"

namespace mx = mica;
using mica_bench::median_seconds;
using mica_bench::median_seconds_n;
using mica_bench::report;

MICA_GPU_BENCH(attention) {
  struct Shape {
    const char* name;
    int b, h, l, d;
  };
  for (Shape sh : {Shape{"attn_causal_b8_h12_l1024_d64", 8, 12, 1024, 64},
                   Shape{"attn_causal_b4_h16_l4096_d128", 4, 16, 4096, 128}}) {
    auto make = [&] { return mx::astype(mx::random::normal({sh.b, sh.h, sh.l, sh.d}), mx::bfloat16); };
    auto q = make(), k = make(), v = make(), cot = make();
    mx::eval({q, k, v, cot});
    const float scale = 1.0f / std::sqrt(float(sh.d));
    // Causal: half of the 2 L^2 D multiply-adds of each of QK^T and PV.
    const double fwd_flops = 2.0 * sh.b * sh.h * double(sh.l) * sh.l * sh.d;
    const double bytes = 4.0 * sh.b * sh.h * double(sh.l) * sh.d * 2;
    std::string n = sh.name;
    // The forward of the short shape takes tens of microseconds: timed over 10 calls per eval.
    report(n + "_fwd_bf16",
           median_seconds_n([&] { return mx::fast::scaled_dot_product_attention(q, k, v, scale, "causal"); }, 10),
           bytes, fwd_flops);
    auto f = [&](const std::vector<mx::array>& x) {
      return std::vector<mx::array>{mx::fast::scaled_dot_product_attention(x[0], x[1], x[2], scale, "causal")};
    };
    // Forward + backward: the backward's five products are 2.5 forwards.
    report(n + "_fwd_bwd_bf16", median_seconds([&] { return mx::vjp(f, {q, k, v}, {cot}).second[0]; }), 3 * bytes,
           3.5 * fwd_flops);
  }
}
