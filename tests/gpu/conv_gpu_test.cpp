// GPU-vs-CPU conformance of the convolution family (backend/cuda/cudnn/conv.cpp through cuDNN,
// backend/cuda/conv.cu for input dilation and crops): conv1d/2d/3d with strides, padding,
// dilation and groups, conv_general with asymmetric and negative padding, input dilation and
// flip, transposed convolutions, and the gradients of x and w (whose nodes are convolutions with
// input dilation and flipped kernels), in float32, float16, bfloat16 and float64, on strided
// inputs too. No case may fall back to the CPU except float64 where cuDNN has no engine.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gpu/gpu_checks.h"
#include "mica/backend/gpu_info.h"

namespace mica::test {
namespace {

const Device kCpu(Device::cpu);
const Device kGpu(Device::gpu);

using ConvFn = std::function<array(const array&, const array&, StreamOrDevice)>;

double tol(Dtype d) { return d == float64 ? 1e-10 : d == float32 ? 2e-4 : d == float16 ? 5e-3 : 3e-2; }

// The convolution and its vjp on the GPU (in dtype d) against the CPU in float32/float64 on the
// same rounded inputs.
void check(const std::string& name, const ConvFn& f, const Shape& xs, const Shape& ws, Dtype d,
           bool transposed_x = false) {
  SCOPED_TRACE(name + " " + dtype_to_string(d));
  array x = astype(random_input(xs, float32, -1, 1, 11), d, kCpu);
  if (transposed_x) x = swapaxes(astype(random_input(xs, float32, -1, 1, 11), d, kCpu), 1, 2, kCpu);
  array w = astype(random_input(ws, float32, -1, 1, 12), d, kCpu);
  eval({x, w});
  const Dtype ref = d == float64 ? float64 : float32;
  auto run = [&](Dtype as, Device dev) {
    auto fn = [&](const std::vector<array>& in) { return std::vector<array>{f(in[0], in[1], dev)}; };
    std::vector<array> prim{astype(x, as, dev), astype(w, as, dev)};
    array y = fn(prim)[0];
    array cot = astype(random_input(y.shape(), float32, -1, 1, 13), as, dev);
    auto [outs, grads] = vjp(fn, prim, {cot});
    std::vector<array> r{outs[0], grads[0], grads[1]};
    eval(r);
    return r;
  };
  const size_t before = gpu::cpu_fallback_count();
  auto g = run(d, kGpu);
  if (d != float64) EXPECT_EQ(gpu::cpu_fallback_count(), before) << "a convolution ran on the CPU";
  auto c = run(ref, kCpu);
  const char* what[] = {"y", "dx", "dw"};
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(same_values(astype(g[i], ref, kCpu), c[i], tol(d), tol(d))) << what[i];
  }
}

const std::vector<Dtype> kDtypes{float32, float16, bfloat16, float64};

TEST(GpuConv, Conv1d) {
  MICA_REQUIRE_GPU();
  for (Dtype d : kDtypes) {
    check("plain", [](auto& x, auto& w, auto s) { return conv1d(x, w, 1, 0, 1, 1, s); }, {2, 33, 8}, {16, 3, 8}, d);
    check("stride 2 pad 1", [](auto& x, auto& w, auto s) { return conv1d(x, w, 2, 1, 1, 1, s); }, {2, 33, 8},
          {16, 5, 8}, d);
    check("dilation 2 groups 4", [](auto& x, auto& w, auto s) { return conv1d(x, w, 1, 2, 2, 4, s); }, {3, 20, 16},
          {8, 3, 4}, d);
  }
}

TEST(GpuConv, Conv2d) {
  MICA_REQUIRE_GPU();
  for (Dtype d : kDtypes) {
    check("3x3 pad 1", [](auto& x, auto& w, auto s) { return conv2d(x, w, {1, 1}, {1, 1}, {1, 1}, 1, s); },
          {2, 14, 14, 16}, {32, 3, 3, 16}, d);
    check("stride 2", [](auto& x, auto& w, auto s) { return conv2d(x, w, {2, 2}, {1, 0}, {1, 1}, 1, s); },
          {2, 15, 13, 8}, {16, 3, 3, 8}, d);
    check("depthwise", [](auto& x, auto& w, auto s) { return conv2d(x, w, {1, 1}, {1, 1}, {1, 1}, 16, s); },
          {2, 9, 9, 16}, {16, 3, 3, 1}, d);
    check("dilated groups 2", [](auto& x, auto& w, auto s) { return conv2d(x, w, {1, 2}, {2, 2}, {2, 1}, 2, s); },
          {1, 12, 11, 8}, {8, 3, 3, 4}, d);
    check("strided input", [](auto& x, auto& w, auto s) { return conv2d(x, w, {1, 1}, {1, 1}, {1, 1}, 1, s); },
          {2, 10, 10, 8}, {8, 3, 3, 8}, d, true);
  }
}

TEST(GpuConv, Conv3d) {
  MICA_REQUIRE_GPU();
  for (Dtype d : {float32, bfloat16}) {
    check("3x3x3", [](auto& x, auto& w, auto s) { return conv3d(x, w, {1, 2, 1}, {1, 1, 0}, {1, 1, 1}, 1, s); },
          {2, 6, 7, 8, 8}, {8, 3, 3, 3, 8}, d);
  }
}

TEST(GpuConv, GeneralAndTransposed) {
  MICA_REQUIRE_GPU();
  for (Dtype d : {float32, bfloat16, float64}) {
    check("asymmetric and negative padding, input dilation, flip",
          [](auto& x, auto& w, auto s) {
            return conv_general(x, w, {1, 2}, {2, -1}, {0, 1}, {1, 1}, {2, 3}, 1, true, s);
          },
          {2, 9, 10, 8}, {8, 3, 2, 8}, d);
    check("conv_transpose2d stride 2",
          [](auto& x, auto& w, auto s) { return conv_transpose2d(x, w, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 1, s); },
          {2, 7, 7, 16}, {8, 3, 3, 16}, d);
    check("conv_transpose1d groups 2",
          [](auto& x, auto& w, auto s) { return conv_transpose1d(x, w, 3, 0, 1, 0, 2, s); }, {2, 11, 8}, {6, 4, 4},
          d);
  }
}

}  // namespace
}  // namespace mica::test
