// The fused cross-entropy on the GPU against the CPU: CrossEntropy (loss per row) and
// CrossEntropyVjp (the gradient of the logits) in every floating dtype, rows from 1 class to a
// GPT-2 vocabulary, label smoothing, targets of several integer dtypes (negative and out of
// range included), strided logits.
#include <gtest/gtest.h>

#include "gpu/gpu_checks.h"
#include "mica/backend/gpu_info.h"
#include "mica/mica.h"

namespace mica::test {
namespace {

Device kCpu(Device::cpu), kGpu(Device::gpu);

double tol(Dtype d) { return d == float64 ? 1e-10 : d == float32 ? 2e-5 : 2e-2; }

// Random class indices in [lo, hi) of dtype d, shape `rows`.
array targets(const Shape& rows, int64_t lo, int64_t hi, Dtype d, uint32_t seed) {
  array u = random_input(rows, float32, 0, 1, seed);
  array t = floor(add(multiply(u, array(static_cast<float>(hi - lo)), kCpu), array(static_cast<float>(lo)), kCpu), kCpu);
  t = astype(t, d, kCpu);
  eval(t);
  return t;
}

// Loss and gradient (of sum(loss * w), w a ramp) of fast::cross_entropy on one device.
std::vector<array> loss_and_grad(const array& x, const array& t, float s, Device dev) {
  int64_t n = static_cast<int64_t>(t.size());
  array w = reshape(arange(0.0, static_cast<double>(n), float32, kCpu), t.shape(), kCpu);
  auto f = [&](const array& a) {
    return sum(multiply(astype(fast::cross_entropy(a, t, s, dev), float32, dev), w, dev), false, dev);
  };
  auto [v, g] = value_and_grad(std::function<array(const array&)>(f))(x);
  array loss = fast::cross_entropy(x, t, s, dev);
  std::vector<array> out{loss, g, v};
  eval(out);
  return out;
}

void expect_same(const array& x, const array& t, float s, const std::string& what) {
  auto g = loss_and_grad(x, t, s, kGpu);
  auto c = loss_and_grad(x, t, s, kCpu);
  const double r = tol(x.dtype());
  EXPECT_TRUE(same_values(g[0], c[0], r, r)) << what << " loss";
  EXPECT_TRUE(same_values(g[1], c[1], r, r)) << what << " grad";
}

TEST(FusedLossGpu, EveryDtypeAndLength) {
  MICA_REQUIRE_GPU();
  for (Dtype d : {float32, bfloat16, float16, float64}) {
    for (int64_t v : {1, 7, 64, 1000, 4099, 50304}) {
      const int rows = v > 4096 ? 16 : 37;
      array x = random_input({rows, static_cast<int>(v)}, d, -4, 4, 3);
      array t = targets({rows}, 0, v, int32, 5);
      for (float s : {0.0f, 0.1f}) {
        expect_same(x, t, s, dtype_to_string(d) + " V=" + std::to_string(v) + " s=" + std::to_string(s));
      }
    }
  }
}

TEST(FusedLossGpu, TargetsAndLayouts) {
  MICA_REQUIRE_GPU();
  array x = random_input({2, 5, 33}, float32, -3, 3, 11);
  for (Dtype td : {int8, uint8, int16, int64, uint32}) {
    const bool neg = td == int8 || td == int16 || td == int64;
    expect_same(x, targets({2, 5}, neg ? -40 : 0, 40, td, 13), 0.0f, "targets " + dtype_to_string(td));
  }
  // Transposed logits (the class axis strided) and a broadcast row.
  array xt = transpose(random_input({33, 6}, float32, -3, 3, 17), kCpu);
  expect_same(xt, targets({6}, 0, 33, int32, 19), 0.2f, "transposed");
  array xb = broadcast_to(random_input({1, 33}, bfloat16, -3, 3, 23), {6, 33}, kCpu);
  expect_same(xb, targets({6}, 0, 33, int32, 29), 0.0f, "broadcast");
  // No rows.
  expect_same(random_input({0, 33}, float32), targets({0}, 0, 33, int32, 31), 0.0f, "empty");
}

// Makes `d` the default device for a scope (nn::losses takes no device argument).
struct OnDevice {
  Device prev;
  explicit OnDevice(Device d) : prev(default_device()) { set_default_device(d); }
  ~OnDevice() { set_default_device(prev); }
};

TEST(FusedLossGpu, ThroughTheLossAndOnTheGpu) {
  MICA_REQUIRE_GPU();
  array x = random_input({4, 8, 512}, bfloat16, -2, 2, 37);
  array t = targets({4, 8}, 0, 512, int32, 41);
  std::function<array(const array&)> loss = [&](const array& a) {
    return nn::losses::cross_entropy(a, t, {.reduction = nn::losses::Reduction::mean});
  };
  auto run = [&](Device dev) {
    OnDevice on(dev);
    auto [v, g] = value_and_grad(loss)(x);
    eval(v, g);
    return std::make_pair(v, g);
  };
  size_t before = gpu::cpu_fallback_count();
  auto [vg, gg] = run(kGpu);
  EXPECT_EQ(gpu::cpu_fallback_count(), before);
  auto [vc, gc] = run(kCpu);
  EXPECT_TRUE(same_values(vg, vc, 2e-2, 2e-2));
  EXPECT_TRUE(same_values(gg, gc, 2e-2, 2e-2));
}

}  // namespace
}  // namespace mica::test
