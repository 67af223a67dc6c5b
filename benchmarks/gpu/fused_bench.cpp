// GPU benchmarks of the fused family on 8192 x 8192: layer_norm and rms_norm forward (with a
// weight, layer norm with a bias too) and backward (the fused LayerNormVjp / RMSNormVjp nodes:
// dx, dweight and dbias from x, the weight and the output's cotangent), gelu, its derivative
// alone (the order-1 Gelu node) and its backward pass as vjp builds it (derivative times the
// cotangent), and one fused Adam step of a 2^26-element float32 parameter. bytes: what each case
// must move at least (its floor over copy bandwidth).
#include <memory>

#include "benchmarks/gpu/bench.h"
#include "mica/primitives/fused.h"

namespace mx = mica;
using mica_bench::median_seconds;
using mica_bench::median_seconds_n;
using mica_bench::report;

MICA_GPU_BENCH(fused) {
  const int n = 8192;
  const double elems = double(n) * n;
  const int reps = 10;
  // The ~0.1 ms kernels run 8 copies back to back per eval, so one eval's host work and final
  // wait (~10-20 us) is spread over 8 (PyTorch's side times each call with CUDA events, which
  // leave them out; see median_seconds_n).
  const int kBackToBack = 8;
  for (mx::Dtype dt : {mx::float32, mx::bfloat16}) {
    const std::string sfx = dt == mx::float32 ? "_f32" : "_bf16";
    const double es = dt.size;
    auto x = mx::astype(mx::random::normal({n, n}), dt);
    auto g = mx::astype(mx::random::normal({n, n}), dt);
    auto w = mx::astype(mx::random::uniform({n}), dt);
    auto b = mx::astype(mx::random::uniform({n}), dt);
    mx::eval({x, g, w, b});
    report("layer_norm" + sfx, median_seconds_n([&] { return mx::fast::layer_norm(x, w, b, 1e-5f); }, kBackToBack),
           2 * elems * es);
    report("rms_norm" + sfx, median_seconds_n([&] { return mx::fast::rms_norm(x, w, 1e-5f); }, kBackToBack), 2 * elems * es);
    // Evaluating one output of the backward node computes all of them.
    auto ln = [&](const std::vector<mx::array>& a) {
      return std::vector<mx::array>{mx::fast::layer_norm(a[0], a[1], a[2], 1e-5f)};
    };
    auto rn = [&](const std::vector<mx::array>& a) { return std::vector<mx::array>{mx::fast::rms_norm(a[0], a[1], 1e-5f)}; };
    report("layer_norm_bwd" + sfx, median_seconds_n([&] { return mx::vjp(ln, {x, w, b}, {g}).second[0]; }, kBackToBack),
           3 * elems * es);
    report("rms_norm_bwd" + sfx, median_seconds_n([&] { return mx::vjp(rn, {x, w}, {g}).second[0]; }, kBackToBack),
           3 * elems * es);
    report("gelu" + sfx, median_seconds_n([&] { return mx::fast::gelu(x); }, kBackToBack), 2 * elems * es);
    report("gelu_deriv" + sfx,
           median_seconds_n(
               [&] {
                 auto s = mx::to_stream(mx::StreamOrDevice{});
                 return mx::array(x.shape(), x.dtype(), std::make_shared<mx::Gelu>(s, 1), {x});
               },
               kBackToBack),
           2 * elems * es);
    // As PyTorch's gelu_backward: reads x and the cotangent, writes dx.
    report("gelu_bwd" + sfx,
           median_seconds_n([&] { return mx::vjp([](const mx::array& a) { return mx::fast::gelu(a); }, x, g).second; },
                            kBackToBack),
           3 * elems * es);
  }
  {
    // Rotary embedding of (batch 8, 32 heads, 2048 positions, head dim 128) bfloat16 queries, the
    // angles computed in the kernel (no tables): reads x, writes the result.
    auto q = mx::astype(mx::random::normal({8, 32, 2048, 128}), mx::bfloat16);
    mx::eval(q);
    report("rope_bf16", median_seconds_n([&] { return mx::fast::rope(q, 128, false, 10000.0f, 1.0f, 0); }, kBackToBack),
           2.0 * double(q.size()) * 2);
  }
  {
    auto p = mx::random::normal({n * n}), gr = mx::random::normal({n * n});
    auto m = mx::random::normal({n * n}), v = mx::abs(mx::random::normal({n * n}));
    auto coef = mx::array({1e-3f, 1.1f, 0.9999f});
    mx::eval({p, gr, m, v, coef});
    // Reads p, g, m, v; writes p', m', v'.
    report("adam_step_f32",
           median_seconds([&] { return mx::fast::adam_step(p, gr, m, v, coef, 0.9, 0.999, 1e-8)[0]; }, reps),
           7 * elems * 4);
  }
}
