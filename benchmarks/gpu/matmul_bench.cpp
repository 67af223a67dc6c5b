// GPU benchmarks of the matmul family (cuBLASLt): square products in bfloat16 and float32 (full
// float32 and TF32), and the GPT-2 124M shapes of a training step (batch 8 x 1024 tokens).
#include "benchmarks/gpu/bench.h"

namespace mx = mica;
using mica_bench::median_seconds;
using mica_bench::report;

namespace {
void product(const std::string& name, int m, int k, int n, mx::Dtype dt, bool trans_b = false) {
  auto a = mx::astype(mx::random::uniform({m, k}, mx::float32), dt);
  auto b = mx::astype(mx::random::uniform(trans_b ? mx::Shape{n, k} : mx::Shape{k, n}, mx::float32), dt);
  mx::eval(a, b);
  auto bb = trans_b ? mx::transpose(b) : b;
  report(name, median_seconds([&] { return mx::matmul(a, bb); }), 0, 2.0 * m * n * k);
}
}  // namespace

MICA_GPU_BENCH(matmul) {
  for (int s : {4096, 8192}) product("matmul_bf16_" + std::to_string(s), s, s, s, mx::bfloat16);
  for (int s : {4096, 8192}) product("matmul_f32_" + std::to_string(s), s, s, s, mx::float32);
  mx::gpu::set_allow_tf32(true);
  product("matmul_tf32_8192", 8192, 8192, 8192, mx::float32);
  mx::gpu::set_allow_tf32(false);
  // GPT-2 124M, 8192 tokens: qkv projection, MLP up (weights transposed as nn::Linear keeps them),
  // the LM head, and its weight gradient (x^T @ dy).
  product("gpt2_qkv_bf16", 8192, 768, 2304, mx::bfloat16, true);
  product("gpt2_mlp_up_bf16", 8192, 768, 3072, mx::bfloat16, true);
  product("gpt2_lm_head_bf16", 8192, 768, 50304, mx::bfloat16, true);
  product("gpt2_lm_head_dw_bf16", 50304, 8192, 768, mx::bfloat16);
  // nn::Linear with a bias over (8, 1024, 768) tokens: addmm with a bias row (the epilogue).
  auto x = mx::astype(mx::random::uniform({8, 1024, 768}), mx::bfloat16);
  auto w = mx::astype(mx::random::uniform({2304, 768}), mx::bfloat16);
  auto bias = mx::astype(mx::random::uniform({2304}), mx::bfloat16);
  mx::eval(x, w, bias);
  report("gpt2_qkv_linear_bias_bf16", median_seconds([&] { return mx::addmm(bias, x, mx::transpose(w)); }), 0,
         2.0 * 8192 * 768 * 2304);
}
