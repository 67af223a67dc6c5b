// fast::cuda_kernel and fast::precompiled_cuda_kernel on the GPU: MLX's exp example against exp,
// template arguments, a strided input read through its shape and strides, several outputs with an
// init value and atomics, dynamic shared memory, inside compile, under grad through custom_vjp,
// and a PTX kernel run by precompiled_cuda_kernel with scalars.
#include <gtest/gtest.h>

#include <string>

#include "gpu/gpu_checks.h"

namespace mica::test {
namespace {

const Device kGpu(Device::gpu), kCpu(Device::cpu);

const char* kExpSource = R"(
  auto elem = cooperative_groups::this_grid().thread_rank();
  if (elem < inp_shape[0] * inp_shape[1]) out[elem] = T(exp(float(inp[elem])));
)";

array run_exp(const array& a) {
  static auto kernel = fast::cuda_kernel("myexp", {"inp"}, {"out"}, kExpSource);
  return kernel({a}, {a.shape()}, {a.dtype()}, {static_cast<int>(a.size()), 1, 1}, {256, 1, 1}, {{"T", a.dtype()}},
                std::nullopt, false, kGpu)[0];
}

TEST(CustomKernelGpu, MlxExpExample) {
  MICA_REQUIRE_GPU();
  for (Dtype d : {float32, float16, bfloat16}) {
    array a = random_input({16, 37}, d, -2, 2, 1);
    EXPECT_TRUE(same_values(run_exp(a), exp(a, kCpu), 1e-6, 1e-6)) << dtype_to_string(d);
  }
  // A transposed input is made row-major first (ensure_row_contiguous).
  array t = transpose(random_input({37, 16}, float32, -2, 2, 2), {1, 0}, kCpu);
  EXPECT_TRUE(same_values(run_exp(t), exp(t, kCpu), 1e-6, 1e-6));
}

// Without ensure_row_contiguous a kernel walks its input through the strides it is given.
TEST(CustomKernelGpu, StridesAndTemplates) {
  MICA_REQUIRE_GPU();
  auto k = fast::cuda_kernel("scaled_copy", {"x"}, {"y"}, R"(
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int rows = x_shape[0], cols = x_shape[1];
    if (i >= rows * cols) return;
    int r = i / cols, c = i % cols;
    y[i] = Scale * x[r * x_strides[0] + c * x_strides[1]] + (Negate ? -1 : 1) * x_ndim;
  )",
                             "", /*ensure_row_contiguous=*/false);
  array x = transpose(random_input({5, 7}, float32, -2, 2, 3), {1, 0}, kCpu);  // (7, 5), strides (1, 7)
  array y = k({x}, {{7, 5}}, {float32}, {35, 1, 1}, {32, 1, 1}, {{"Scale", 3}, {"Negate", true}}, std::nullopt, false,
              kGpu)[0];
  EXPECT_TRUE(same_values(y, subtract(multiply(x, array(3.0f), kCpu), array(2.0f), kCpu), 1e-6, 1e-6));
}

// Two outputs, filled with the init value first; atomics add into one of them; a block's sum in
// dynamic shared memory.
TEST(CustomKernelGpu, InitValueAtomicsAndSharedMemory) {
  MICA_REQUIRE_GPU();
  auto k = fast::cuda_kernel("block_sums", {"x"}, {"total", "per_block"}, R"(
    extern __shared__ float part[];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    float v = i < n ? x[i] : 0.0f;
    part[threadIdx.x] = v;
    __syncthreads();
    if (threadIdx.x == 0) {
      float s = 0;
      for (int j = 0; j < blockDim.x; ++j) s += part[j];
      per_block[blockIdx.x] += s;
      atomicAdd(total, s);
    }
  )",
                             "", true, /*shared_memory=*/128 * 4);
  const int n = 1000;
  array x = random_input({n}, float32, 0, 1, 4);
  auto outs = k({x}, {{1}, {8}}, {float32, float32}, {1024, 1, 1}, {128, 1, 1}, {{"n", n}}, 10.0f, false, kGpu);
  EXPECT_NEAR(outs[0].item<float>(), 10.0f + sum(x, kCpu).item<float>(), 1e-2);
  array blocks = reshape(pad(x, {0}, {0}, {24}, array(0.0f), "constant", kCpu), {8, 128}, kCpu);
  EXPECT_TRUE(same_values(outs[1], add(sum(blocks, 1, false, kCpu), array(10.0f), kCpu), 1e-5, 1e-4));
}

// Inside compile (the node is traced and replayed) and under grad with the user's vjp.
TEST(CustomKernelGpu, CompileAndCustomVjp) {
  MICA_REQUIRE_GPU();
  auto f = [](const std::vector<array>& in) { return std::vector<array>{add(run_exp(in[0]), array(1.0f), kGpu)}; };
  auto cf = compile(f);
  array a = random_input({4, 64}, float32, -1, 1, 5);
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(same_values(cf({a})[0], add(exp(a, kCpu), array(1.0f), kCpu), 1e-6, 1e-6));
  auto my_exp =
      custom_vjp([](const std::vector<array>& in) { return std::vector<array>{run_exp(in[0])}; },
                 [](const std::vector<array>&, const std::vector<array>& cot, const std::vector<array>& outs) {
                   return std::vector<array>{multiply(cot[0], outs[0], kGpu)};
                 });
  auto g = grad([&](const array& x) { return sum(my_exp({x})[0], false, kGpu); })(a);
  EXPECT_TRUE(same_values(g, exp(a, kCpu), 1e-6, 1e-6));
}

// A kernel compiled to PTX beforehand, with its scalars after the pointers.
TEST(CustomKernelGpu, PrecompiledPtx) {
  MICA_REQUIRE_GPU();
  const std::string src = R"(
extern "C" __global__ void axpb(const float* x, float* y, int n, float a, bool negate) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = (negate ? -1.0f : 1.0f) * (a * x[i] + 1.0f);
}
)";
  std::string log;
  const std::string ptx = fast::detail::custom_kernel_ptx(src, "compute_90", &log);
  ASSERT_FALSE(ptx.empty()) << log;
  array x = random_input({300}, float32, -2, 2, 6);
  auto y = fast::precompiled_cuda_kernel("axpb", ptx, {x}, {{300}}, {float32}, {300, 2.5f, true}, {300, 1, 1},
                                         {128, 1, 1}, 0, std::nullopt, false, kGpu)[0];
  EXPECT_TRUE(same_values(y, negative(add(multiply(x, array(2.5f), kCpu), array(1.0f), kCpu), kCpu), 1e-6, 1e-6));
  // A missing kernel name fails when the node runs, with the driver's reason.
  auto bad = fast::precompiled_cuda_kernel("nope", ptx, {x}, {{300}}, {float32}, {}, {300, 1, 1}, {128, 1, 1}, 0,
                                           std::nullopt, false, kGpu)[0];
  EXPECT_THROW(eval(bad), std::runtime_error);
}

}  // namespace
}  // namespace mica::test
