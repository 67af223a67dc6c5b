// The GPU device: availability, streams and cross-stream order, data moving between host and
// GPU on demand, the memory API and out-of-memory errors, and the movement, creation, random
// and custom families against the CPU; part-2 primitives fall back to the CPU and count it.
#include <gtest/gtest.h>

#include "gpu/gpu_checks.h"
#include "mica/backend/gpu_info.h"

namespace mica::test {
namespace {

const Device kGpu(Device::gpu);
const Device kCpu(Device::cpu);

TEST(GpuDevice, AvailableAndStreams) {
  MICA_REQUIRE_GPU();
  EXPECT_GE(device_count(Device::gpu), 1);
  Stream s1 = default_stream(kGpu);
  Stream s2 = new_stream(kGpu);
  EXPECT_NE(s1.index, s2.index);
  EXPECT_EQ(s2.device, kGpu);
  // Work on s2 reads what s1 wrote (an event orders them), then s1 reads s2's result.
  array a = arange(0.0, 1e6, 1.0, float32, s1);
  array b = multiply(a, array(2.0f), s2);
  array c = add(b, a, s1);
  eval(c);
  synchronize(s2);
  synchronize();
  auto v = to_vector(c);
  ASSERT_EQ(v.size(), 1000000u);
  for (size_t i = 0; i < v.size(); i += 9973) EXPECT_EQ(v[i], 3.0 * i);
}

TEST(GpuDevice, AsyncEval) {
  MICA_REQUIRE_GPU();
  array a = arange(0.0, 4096.0, 1.0, float32, kGpu);
  array b = exp(multiply(a, array(1e-3f), kGpu), kGpu);
  async_eval({b});
  EXPECT_NEAR(to_vector(b)[4095], std::exp(4.095), 1e-4);
}

TEST(GpuDevice, DataMovesOnDemand) {
  MICA_REQUIRE_GPU();
  // Host data read by a GPU kernel, the GPU result read on the host, then by a CPU op.
  array x = random_array({64, 33}, float32);
  array y = add(x, x, kGpu);
  eval(y);
  ASSERT_TRUE(y.data_record()->where & ArrayData::kGpu);
  EXPECT_FALSE(y.data_record()->where & ArrayData::kHost);  // nothing pulled it to the host yet
  array z = multiply(y, array(0.5f), kCpu);
  EXPECT_TRUE(all_close(to_vector(z), to_vector(x), 0, 0));
  EXPECT_TRUE(y.data_record()->where & ArrayData::kHost);
}

TEST(GpuDevice, MemoryApi) {
  MICA_REQUIRE_GPU();
  synchronize();
  size_t before = get_active_memory(kGpu);
  {
    array big = contiguous(zeros({64 << 20}, float32, kGpu), false, kGpu);  // 256 MiB
    eval(big);
    EXPECT_GE(get_active_memory(kGpu), before + (256u << 20));
    EXPECT_GE(get_peak_memory(kGpu), before + (256u << 20));
  }
  synchronize();
  EXPECT_LE(get_active_memory(kGpu), before);
  EXPECT_GE(get_cache_memory(kGpu), 0u);
  clear_cache(kGpu);
  reset_peak_memory(kGpu);
  EXPECT_EQ(get_peak_memory(kGpu), get_active_memory(kGpu));
}

TEST(GpuDevice, OutOfMemoryThrowsAndRecovers) {
  MICA_REQUIRE_GPU();
  size_t old = set_memory_limit(64u << 20, kGpu);
  try {
    array big = contiguous(zeros({128 << 20}, float32, kGpu), false, kGpu);
    EXPECT_THROW(eval(big), std::runtime_error);
  } catch (...) {
    set_memory_limit(old, kGpu);
    throw;
  }
  set_memory_limit(old, kGpu);
  // Larger than any GPU: the pool refuses, the message names the request, the program goes on.
  try {
    array huge = contiguous(zeros({1 << 30, 1 << 10}, uint8, kGpu), false, kGpu);  // 1 TiB
    eval(huge);
    ADD_FAILURE() << "expected an out-of-memory error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("[gpu malloc]"), std::string::npos) << e.what();
  }
  array ok = add(arange(0.0, 10.0, 1.0, float32, kGpu), array(1.0f), kGpu);
  EXPECT_EQ(to_vector(ok)[9], 10.0);
}

TEST(GpuDevice, ArangeAndRandomMatchCpu) {
  MICA_REQUIRE_GPU();
  for (Dtype d : {float32, float64, int32, int64, uint8, float16, bfloat16}) {
    EXPECT_TRUE(gpu_matches_cpu([&](auto&, StreamOrDevice s) { return arange(-3.0, 50.0, 0.5, d, s); }, {}))
        << dtype_to_string(d);
  }
  array key = random::key(42);
  for (auto shape : {Shape{1001}, Shape{7, 3}, Shape{}}) {
    EXPECT_TRUE(gpu_matches_cpu([&](auto& in, StreamOrDevice s) { return random::normal(shape, float32, std::nullopt, std::nullopt, in[0], s); },
                                {key}, 0, 0));
    for (int w : {1, 2, 4}) {
      EXPECT_TRUE(gpu_matches_cpu([&](auto& in, StreamOrDevice s) { return random::bits(shape, w, in[0], s); }, {key}, 0, 0));
    }
  }
}

TEST(GpuDevice, MovementMatchesCpu) {
  MICA_REQUIRE_GPU();
  for (Dtype d : {float32, int8, int64, bfloat16, complex64, bool_}) {
    for (auto& [name, x] : layouts(d, 6, 10)) {
      SCOPED_TRACE(dtype_to_string(d) + " " + name);
      int r = x.shape(0), c = x.shape(1);
      EXPECT_TRUE(gpu_matches_cpu([&](auto& in, StreamOrDevice s) { return reshape(in[0], {c, r}, s); }, {x}));
      EXPECT_TRUE(gpu_matches_cpu([&](auto& in, StreamOrDevice s) { return contiguous(transpose(in[0], s), false, s); }, {x}));
      EXPECT_TRUE(gpu_matches_cpu([&](auto& in, StreamOrDevice s) { return copy(in[0], s); }, {x}));
      EXPECT_TRUE(gpu_matches_cpu(
          [&](auto& in, StreamOrDevice s) { return squeeze(expand_dims(in[0], {0, 2}, s), {0}, s); }, {x}));
      if (r == 0) continue;
      EXPECT_TRUE(gpu_matches_cpu(
          [&](auto& in, StreamOrDevice s) { return slice(in[0], {0, 1}, {r, c}, {2, 3}, s); }, {x}));
      EXPECT_TRUE(gpu_matches_cpu([&](auto& in, StreamOrDevice s) { return concatenate({in[0], in[0]}, 1, s); }, {x}));
      EXPECT_TRUE(gpu_matches_cpu([&](auto& in, StreamOrDevice s) { return concatenate({in[0], in[0]}, 0, s); }, {x}));
      EXPECT_TRUE(gpu_matches_cpu(
          [&](auto& in, StreamOrDevice s) {
            return slice_update(in[0], slice(in[0], {0, 0}, {2, 3}, s), {1, 2}, {3, 5}, s);
          },
          {x}));
      array start = array({1, 2}, int32);
      EXPECT_TRUE(gpu_matches_cpu([&](auto& in, StreamOrDevice s) { return slice(in[0], in[1], {0, 1}, {2, 4}, s); },
                                  {x, start}));
      for (auto mode : {"constant", "edge", "reflect", "symmetric"}) {
        EXPECT_TRUE(gpu_matches_cpu(
            [&](auto& in, StreamOrDevice s) {
              return pad(in[0], {{1, 2}, {2, 1}}, zeros({}, in[0].dtype(), kCpu), mode, s);
            },
            {x}))
            << mode;
      }
      EXPECT_TRUE(gpu_matches_cpu([&](auto& in, StreamOrDevice s) { return as_strided(in[0], {3, 2}, {1, 2}, 1, s); }, {x}));
      if (d != bool_ && d != int8) {
        EXPECT_TRUE(gpu_matches_cpu([&](auto& in, StreamOrDevice s) { return view(in[0], uint8, s); }, {x}));
      }
    }
  }
}

// Broadcasts count as contiguous (as MLX reports them): elementwise kernels keep their layout
// (data_size distinct elements), and kernels that write in place never take such a buffer.
TEST(GpuDevice, BroadcastLayoutsThroughKernels) {
  MICA_REQUIRE_GPU();
  array v = random_array({1, 7}, float32);
  array full = random_array({5, 7}, float32, -1, 1, 3);
  auto bc = [](const array& a, StreamOrDevice s) { return broadcast_to(a, {5, 7}, s); };
  EXPECT_TRUE(gpu_matches_cpu([&](auto& in, StreamOrDevice s) { return exp(bc(in[0], s), s); }, {v}));
  EXPECT_TRUE(gpu_matches_cpu([&](auto& in, StreamOrDevice s) { return astype(bc(in[0], s), bfloat16, s); }, {v}));
  EXPECT_TRUE(gpu_matches_cpu(
      [&](auto& in, StreamOrDevice s) { return multiply(exp(bc(in[0], s), s), array(2.0f), s); }, {v}));
  EXPECT_TRUE(gpu_matches_cpu([&](auto& in, StreamOrDevice s) { return add(exp(bc(in[0], s), s), in[1], s); },
                              {v, full}));
  EXPECT_TRUE(gpu_matches_cpu(
      [&](auto& in, StreamOrDevice s) {
        return slice_update(exp(bc(in[0], s), s), slice(in[1], {0, 0}, {2, 3}, s), {1, 2}, {3, 5}, s);
      },
      {v, full}));
  set_default_device(kGpu);
  array e = exp(broadcast_to(v, {5, 7}));
  eval(e);
  set_default_device(kCpu);
  EXPECT_EQ(e.data_size(), 7u);
  EXPECT_TRUE(e.flags().contiguous && !e.flags().row_contiguous);
  array z = zeros({5, 7}, float32, kGpu);
  eval(z);
  EXPECT_EQ(z.data_size(), 35u);
  EXPECT_TRUE(z.flags().row_contiguous);
}

TEST(GpuDevice, DynamicSliceUpdateAndCustomNodes) {
  MICA_REQUIRE_GPU();
  array x = random_array({6, 9}, float32);
  array upd = random_array({2, 3}, float32, -1, 1, 7);
  array start = array({-1, 4}, int32);
  EXPECT_TRUE(gpu_matches_cpu(
      [&](auto& in, StreamOrDevice s) { return slice_update(in[0], in[1], in[2], {0, 1}, s); }, {x, upd, start}));
  // checkpoint (CustomTransforms) and depends (Depends) evaluated on the GPU stream.
  set_default_device(kGpu);
  auto f = checkpoint([](const std::vector<array>& v) { return std::vector<array>{exp(multiply(v[0], v[0]))}; });
  auto [outs, grads] = vjp(f, {x}, {ones_like(x)});
  auto d = depends({outs[0]}, {grads[0]});
  set_default_device(kCpu);
  auto want = to_vector(multiply(multiply(exp(square(x)), x), array(2.0f)));
  EXPECT_TRUE(all_close(to_vector(grads[0]), want, 1e-5, 1e-5));
  EXPECT_TRUE(all_close(to_vector(d[0]), to_vector(exp(square(x))), 1e-6, 1e-6));
}

TEST(GpuDevice, CastsBetweenAllDtypes) {
  MICA_REQUIRE_GPU();
  for (Dtype from : all_dtypes) {
    for (Dtype to : all_dtypes) {
      for (auto& [name, x] : layouts(from, 5, 9, 0, 100)) {
        EXPECT_TRUE(gpu_matches_cpu([&](auto& in, StreamOrDevice s) { return astype(in[0], to, s); }, {x}))
            << dtype_to_string(from) << " -> " << dtype_to_string(to) << " " << name;
      }
    }
  }
}

// Every primitive has a GPU kernel now (registry column K): no reasons to fall back, and a
// convolution (cuDNN) runs without a CPU fall-back. float64 convolutions run on the CPU where
// cuDNN has no double engine: either way the answer matches and feeds a GPU kernel again.
TEST(GpuDevice, NoPrimitiveFallsBackToCpu) {
  MICA_REQUIRE_GPU();
  EXPECT_TRUE(gpu::cpu_fallback_reason("Convolution").empty());
  EXPECT_TRUE(gpu::cpu_fallback_reason("ScaledDotProductAttention").empty());
  EXPECT_TRUE(gpu::cpu_fallback_reason("Add").empty());
  size_t before = gpu::cpu_fallback_count();
  array x = random_array({2, 12, 3}, float32);
  array w = random_array({4, 3, 3}, float32);
  auto conv = [](auto& in, StreamOrDevice s) { return conv1d(in[0], in[1], 1, 1, 1, 1, s); };
  EXPECT_TRUE(gpu_matches_cpu(conv, {x, w}, 1e-5, 1e-5));
  EXPECT_EQ(gpu::cpu_fallback_count(), before);
  array x64 = astype(x, float64), w64 = astype(w, float64);
  array c = exp(conv1d(x64, w64, 1, 1, 1, 1, kGpu), kGpu);
  EXPECT_TRUE(all_close(to_vector(c), to_vector(exp(conv1d(x64, w64, 1, 1, 1, 1, kCpu), kCpu)), 1e-12, 1e-12));
}

TEST(GpuDevice, MoreThan2To31Elements) {
  MICA_REQUIRE_GPU();
  // (2, 2^30 + 8) uint8: flat indices beyond int32 in the contiguous and strided kernels.
  const int half = (1 << 30) + 8;
  array a = contiguous(full({2, half}, array(3, uint8), kGpu), false, kGpu);
  array b = add(a, a, kGpu);
  array t = contiguous(transpose(b, kGpu), false, kGpu);  // strided read of 2^31 + 16 elements
  array tail = slice(t, {half - 4, 0}, {half, 2}, kCpu);
  auto v = to_vector(tail);
  ASSERT_EQ(v.size(), 8u);
  for (double x : v) EXPECT_EQ(x, 6.0);
  EXPECT_EQ(to_vector(slice(b, {1, half - 3}, {2, half}, kCpu)), std::vector<double>(3, 6.0));
}

TEST(GpuDevice, BadInputIsAnError) {
  MICA_REQUIRE_GPU();
  EXPECT_THROW(add(zeros({2, 3}, kGpu), zeros({4}, kGpu), kGpu), std::invalid_argument);
  EXPECT_THROW(to_stream(Stream(0, Device(Device::gpu, 7))), std::invalid_argument);
}

}  // namespace
}  // namespace mica::test
