// GPU-vs-CPU conformance of the attention family (backend/cuda/cudnn/attention.cpp, cuDNN's
// fused attention): fast::scaled_dot_product_attention in bfloat16 and float16 on the GPU against
// the CPU kernel in float32 on the same (rounded) inputs, forward and gradients of q, k and v:
// plain, causal (square and lower-right aligned), grouped-query heads, additive masks, q/k/v as
// strided views of (B, L, N, D) projections, head sizes 64 and 128: the fused node must run on the
// GPU (no CPU fall-back). Bool masks (a fully masked row included), float32 and sinks take the
// composition, checked too.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "gpu/gpu_checks.h"
#include "mica/backend/gpu_info.h"
#include "mica/primitives/primitive.h"

namespace mica::test {
namespace {

const Device kCpu(Device::cpu);
const Device kGpu(Device::gpu);

struct Case {
  std::string name;
  int B, nq, nkv, lq, lkv, d, dv;
  std::string mode;        // "", "causal" or "array"
  std::string mask_kind;   // "bool", "bool-empty-row" or "additive" with mode "array"
  bool strided = false;    // q, k, v as transposed views of (B, L, N, D)
};

array make_qkv(int B, int n, int l, int d, Dtype dt, bool strided, uint32_t seed) {
  if (!strided) return astype(random_input({B, n, l, d}, float32, -1, 1, seed), dt, kCpu);
  return transpose(astype(random_input({B, l, n, d}, float32, -1, 1, seed), dt, kCpu), {0, 2, 1, 3}, kCpu);
}

std::optional<array> make_mask(const Case& c) {
  if (c.mode != "array") return std::nullopt;
  if (c.mask_kind == "additive") return random_input({1, c.nq, c.lq, c.lkv}, float32, -3, 0, 77);
  array m = greater(random_input({c.B, 1, c.lq, c.lkv}, float32, 0, 1, 78), array(0.3f), kCpu);
  if (c.mask_kind == "bool-empty-row") {
    // Row 0 of every head sees nothing: the result averages all values, as MLX's.
    array row = concatenate({zeros({c.B, 1, 1, c.lkv}, bool_), ones({c.B, 1, c.lq - 1, c.lkv}, bool_)}, 2, kCpu);
    m = logical_and(m, row, kCpu);
  }
  eval(m);
  return m;
}

double tol(Dtype dt) { return dt == bfloat16 ? 3e-2 : 6e-3; }

void check_case(const Case& c, Dtype dt) {
  SCOPED_TRACE(c.name + " " + dtype_to_string(dt));
  array q = make_qkv(c.B, c.nq, c.lq, c.d, dt, c.strided, 1);
  array k = make_qkv(c.B, c.nkv, c.lkv, c.d, dt, c.strided, 2);
  array v = make_qkv(c.B, c.nkv, c.lkv, c.dv, dt, c.strided, 3);
  array cot = astype(random_input({c.B, c.nq, c.lq, c.dv}, float32, -1, 1, 4), dt, kCpu);
  eval({q, k, v, cot});
  std::optional<array> mask = make_mask(c);
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.d));
  std::string node;  // the primitive that made the GPU output (read before eval detaches it)
  auto run = [&](const std::vector<array>& in, Dtype as, Device dev) {
    auto f = [&](const std::vector<array>& x) {
      std::optional<array> m = mask;
      if (m && m->dtype() != bool_) m = astype(*m, as, dev);
      return std::vector<array>{fast::scaled_dot_product_attention(x[0], x[1], x[2], scale, c.mode, m, std::nullopt,
                                                                   dev)};
    };
    std::vector<array> prim;
    for (const auto& a : in) prim.push_back(astype(a, as, dev));
    auto [outs, grads] = vjp(f, prim, {astype(cot, as, dev)});
    if (dev == kGpu) node = outs[0].has_primitive() ? outs[0].primitive().name() : "(none)";
    std::vector<array> r{outs[0]};
    r.insert(r.end(), grads.begin(), grads.end());
    eval(r);
    return r;
  };
  const size_t fallbacks = gpu::cpu_fallback_count();
  auto g = run({q, k, v}, dt, kGpu);
  EXPECT_EQ(gpu::cpu_fallback_count(), fallbacks) << "the fused attention ran on the CPU";
  // Bool masks take the composition (see ops/attention.cpp); everything else is cuDNN's.
  const bool fused = c.mask_kind.rfind("bool", 0) != 0;
  EXPECT_EQ(node == "ScaledDotProductAttention", fused) << "node " << node;
  const char* what[] = {"out", "dq", "dk", "dv"};
  // Reproducible: cuDNN's backward runs its deterministic engine (no atomic dQ).
  auto g2 = run({q, k, v}, dt, kGpu);
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(array_equal(g[i], g2[i], false, kCpu).item<bool>()) << what[i] << " differs between two GPU runs";
  }
  auto r = run({q, k, v}, float32, kCpu);
  for (int i = 0; i < 4; ++i) {
    EXPECT_TRUE(same_values(astype(g[i], float32, kCpu), r[i], tol(dt), tol(dt))) << what[i];
  }
}

const std::vector<Case> kCases{
    {"plain", 2, 4, 4, 64, 64, 64, 64, "", ""},
    {"causal", 2, 4, 4, 128, 128, 64, 64, "causal", ""},
    {"causal lower-right", 1, 2, 2, 32, 96, 64, 64, "causal", ""},
    {"grouped-query", 2, 8, 2, 64, 80, 64, 64, "causal", ""},
    {"head dim 128", 1, 4, 4, 100, 100, 128, 128, "", ""},
    {"bool mask", 2, 4, 4, 48, 64, 64, 64, "array", "bool"},
    {"bool mask, empty row", 1, 2, 2, 16, 32, 64, 64, "array", "bool-empty-row"},
    {"additive mask", 2, 4, 4, 48, 64, 64, 64, "array", "additive"},
    {"strided (B, L, N, D) views", 2, 4, 4, 64, 64, 64, 64, "causal", "", true},
    {"long causal", 4, 8, 8, 512, 512, 64, 64, "causal", ""},
};

TEST(GpuAttention, MatchesCpuBf16) {
  MICA_REQUIRE_GPU();
  for (const auto& c : kCases) check_case(c, bfloat16);
}

TEST(GpuAttention, MatchesCpuF16) {
  MICA_REQUIRE_GPU();
  for (const auto& c : kCases) check_case(c, float16);
}

// float32 and sinks are not cuDNN's: the composition runs on the GPU and matches the CPU.
TEST(GpuAttention, CompositionCases) {
  MICA_REQUIRE_GPU();
  array q = random_input({1, 2, 16, 32}, float32, -1, 1, 1);
  array k = random_input({1, 2, 24, 32}, float32, -1, 1, 2);
  array v = random_input({1, 2, 24, 32}, float32, -1, 1, 3);
  array sinks = random_input({2}, float32, -1, 1, 4);
  for (bool with_sinks : {false, true}) {
    auto op = [&](const std::vector<array>& in, StreamOrDevice s) {
      std::optional<array> sk = with_sinks ? std::optional<array>(in[3]) : std::nullopt;
      return fast::scaled_dot_product_attention(in[0], in[1], in[2], 0.3f, "causal", std::nullopt, sk, s);
    };
    EXPECT_TRUE(gpu_matches_cpu(op, {q, k, v, sinks}, 1e-4, 1e-5)) << "sinks " << with_sinks;
    if (with_sinks) {
      auto op16 = [&](const std::vector<array>& in, StreamOrDevice s) {
        return fast::scaled_dot_product_attention(astype(in[0], bfloat16, s), astype(in[1], bfloat16, s),
                                                  astype(in[2], bfloat16, s), 0.3f, "", std::nullopt,
                                                  astype(in[3], bfloat16, s), s);
      };
      EXPECT_TRUE(gpu_matches_cpu(op16, {q, k, v, sinks}, 2e-2, 2e-2));
    }
  }
}

TEST(GpuAttention, BadInput) {
  MICA_REQUIRE_GPU();
  array q = zeros({1, 2, 8, 64}, bfloat16), k = zeros({1, 3, 8, 64}, bfloat16);
  EXPECT_THROW(fast::scaled_dot_product_attention(q, k, k, 1.0f, "", std::nullopt, std::nullopt, kGpu),
               std::invalid_argument);
}

}  // namespace
}  // namespace mica::test
