// fast::cuda_kernel and fast::precompiled_cuda_kernel without a GPU: the generated source (its
// signature, shapes and strides where the body asks, template arguments), NVRTC compiling it
// (CUDA's headers found, errors reported with NVRTC's log), and the checks at the call. The
// kernels run in tests/gpu/custom_kernel_gpu_test.cpp.
#include <gtest/gtest.h>

#include <string>

#include "mica/mica.h"
#include "mica/primitives/custom.h"
#include "reference/reference.h"

namespace mica {
namespace {
using test::throws_op;

const char* kExp = R"(
  auto elem = cooperative_groups::this_grid().thread_rank();
  if (elem < n) out[elem] = T(exp(float(inp[elem])));
)";

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(CustomKernel, GeneratedSource) {
  const std::string src = fast::detail::custom_kernel_source(
      "my exp", {"inp", "n_in"}, {"out"}, std::string(kExp) + "  int n = inp_shape[0] * inp_strides[0] + inp_ndim;\n",
      "__device__ float twice(float x) { return 2 * x; }", {float16, int32}, {float16},
      {{"T", float16}, {"N", 4}, {"B", true}});
  EXPECT_TRUE(has(src, "extern \"C\" __global__ void mica_custom_my_exp(")) << src;
  EXPECT_TRUE(has(src, "const __half* __restrict__ inp,")) << src;
  EXPECT_TRUE(has(src, "const mica_shape inp_shape")) << src;
  EXPECT_TRUE(has(src, "const mica_strides inp_strides")) << src;
  EXPECT_TRUE(has(src, "const int inp_ndim")) << src;
  EXPECT_TRUE(has(src, "const int32_t* __restrict__ n_in,")) << src;
  EXPECT_FALSE(has(src, "n_in_shape")) << src;  // only what the body mentions
  EXPECT_TRUE(has(src, "__half* __restrict__ out)")) << src;
  EXPECT_TRUE(has(src, "using T = __half;")) << src;
  EXPECT_TRUE(has(src, "constexpr int N = 4;")) << src;
  EXPECT_TRUE(has(src, "constexpr bool B = true;")) << src;
  EXPECT_TRUE(has(src, "__device__ float twice")) << src;
}

// NVRTC compiles generated kernels (every dtype's CUDA type, cooperative groups, the half types,
// a header) to PTX here, without a GPU; a broken body gives NVRTC's message.
TEST(CustomKernel, NvrtcCompilesTheSource) {
  std::string log;
  if (fast::detail::custom_kernel_ptx("extern \"C\" __global__ void k() {}", "compute_90", &log).empty() &&
      log == "no CUDA") {
    GTEST_SKIP() << "a build without CUDA";
  }
  // One kernel copying an input of every dtype to an output of the same dtype.
  std::vector<std::string> ins, outs;
  std::vector<Dtype> dts{bool_,  int8,   int16,   int32,    int64,   uint8,   uint16,
                         uint32, uint64, float16, bfloat16, float32, float64, complex64};
  std::string body = "  size_t i = cooperative_groups::this_grid().thread_rank();\n";
  for (size_t k = 0; k < dts.size(); ++k) {
    ins.push_back("in" + std::to_string(k));
    outs.push_back("out" + std::to_string(k));
    body += "  " + outs.back() + "[i] = " + ins.back() + "[i];\n";
  }
  const std::string all = fast::detail::custom_kernel_source("copy", ins, outs, body, "", dts, dts, {});
  const std::string ptx = fast::detail::custom_kernel_ptx(all, "compute_90", &log);
  EXPECT_FALSE(ptx.empty()) << log << "\n" << all;
  EXPECT_TRUE(has(ptx, ".entry mica_custom_copy"));
  const std::string src = fast::detail::custom_kernel_source(
      "myexp", {"inp"}, {"out"}, std::string(kExp) + "  (void)twice(1.0f); int n = inp_shape[0];\n",
      "__device__ float twice(float x) { return 2 * x; }", {bfloat16}, {bfloat16}, {{"T", bfloat16}});
  // `n` is declared after its use above: NVRTC's message comes back.
  EXPECT_TRUE(fast::detail::custom_kernel_ptx(src, "compute_90", &log).empty());
  EXPECT_TRUE(has(log, "identifier \"n\" is undefined")) << log;
  const std::string fixed =
      fast::detail::custom_kernel_source("myexp", {"inp"}, {"out"}, std::string("  int n = inp_shape[0];\n") + kExp, "",
                                         {bfloat16}, {bfloat16}, {{"T", bfloat16}});
  EXPECT_FALSE(fast::detail::custom_kernel_ptx(fixed, "compute_90", &log).empty()) << log;
}

TEST(CustomKernel, ChecksAtTheCall) {
  const char* op = "cuda_kernel";
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, [] { fast::cuda_kernel("k", {"a b"}, {"out"}, ""); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, [] { fast::cuda_kernel("k", {"x"}, {"x"}, ""); }));
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, [] { fast::cuda_kernel("k", {"x"}, {}, ""); }));
  auto k = fast::cuda_kernel("k", {"inp"}, {"out"}, kExp);
  array x = ones({8});
  // A CPU stream (or the CPU as the default device) is refused at the call.
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] {
    k({x}, {{8}}, {float32}, {8, 1, 1}, {8, 1, 1}, {{"T", float32}}, std::nullopt, false, Device::cpu);
  }));
  // A node made by hand on a CPU stream refuses to run there.
  CustomKernel::Spec spec;
  spec.op = "cuda_kernel";
  spec.name = "k";
  spec.shape_args = {0};
  array by_hand =
      array::make_arrays({{8}}, {float32}, std::make_shared<CustomKernel>(default_stream(Device::cpu), spec), {x})[0];
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] { eval(by_hand); }));
  if (!is_available(Device::gpu)) return;
  const Device g = Device::gpu;
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] {
    k({x, x}, {{8}}, {float32}, {8, 1, 1}, {8, 1, 1}, {}, std::nullopt, false, g);
  }));
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] {
    k({x}, {{8}, {8}}, {float32}, {8, 1, 1}, {8, 1, 1}, {}, std::nullopt, false, g);
  }));
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] {
    k({x}, {{8}}, {float32}, {0, 1, 1}, {8, 1, 1}, {}, std::nullopt, false, g);
  }));
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] {
    k({x}, {{8}}, {float32}, {8, 1, 1}, {64, 32, 1}, {}, std::nullopt, false, g);
  }));
  EXPECT_TRUE(throws_op<std::invalid_argument>(op, [&] {
    k({x}, {{8}}, {float32}, {8, 1, 1}, {8, 1, 1}, {{"inp", 1}}, std::nullopt, false, g);
  }));
  EXPECT_TRUE(throws_op<std::invalid_argument>("precompiled_cuda_kernel", [&] {
    fast::precompiled_cuda_kernel("k", "", {x}, {{8}}, {float32}, {}, {8, 1, 1}, {8, 1, 1});
  }));
}

}  // namespace
}  // namespace mica
