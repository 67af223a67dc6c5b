// GPU-vs-CPU conformance of the fft family (backend/cuda/fft.cu, cuFFT): complex, real-to-complex
// and complex-to-real transforms over the last axis, a middle axis (one batched plan per outer
// block), the first axis and several axes; lengths 1, 2, prime (7, 97, 4099), powers of two and
// mixed (1000); padded and truncated lengths; strided and float32 inputs (converted on the GPU);
// irfft ignoring the imaginary parts of the first and Nyquist bins as the CPU does; gradients; and
// no fallback to the CPU.
#include <gtest/gtest.h>

#include "gpu/gpu_checks.h"
#include "mica/backend/gpu_info.h"
#include "mica/fft.h"

namespace mica::test {
namespace {

using fft::FFTNorm;
const Device kCpu(Device::cpu);

// FFT sums of n inputs in [-2, 2]: float32 rounding grows with the length.
constexpr double kRtol = 1e-4, kAtol = 2e-3;

TEST(FftGpu, ComplexTransforms) {
  MICA_REQUIRE_GPU();
  size_t fallbacks = gpu::cpu_fallback_count();
  for (int n : {1, 2, 7, 16, 97, 1000, 4099}) {
    array x = random_input({3, n}, complex64, -2, 2, n);
    EXPECT_TRUE(gpu_matches_cpu([](auto& in, StreamOrDevice s) { return fft::fft(in[0], -1, FFTNorm::Backward, s); }, {x},
                                kRtol, kAtol)) << n;
    EXPECT_TRUE(gpu_matches_cpu([](auto& in, StreamOrDevice s) { return fft::ifft(in[0], -1, FFTNorm::Ortho, s); }, {x},
                                kRtol, kAtol)) << n;
  }
  array x3 = random_input({4, 6, 10}, complex64, -2, 2, 3);
  for (int axis : {0, 1, 2}) {
    EXPECT_TRUE(gpu_matches_cpu([axis](auto& in, StreamOrDevice s) { return fft::fft(in[0], axis, FFTNorm::Backward, s); },
                                {x3}, kRtol, kAtol)) << axis;
  }
  EXPECT_TRUE(gpu_matches_cpu([](auto& in, StreamOrDevice s) { return fft::fftn(in[0], FFTNorm::Backward, s); }, {x3}, kRtol,
                              kAtol));
  EXPECT_TRUE(gpu_matches_cpu(
      [](auto& in, StreamOrDevice s) { return fft::ifft2(in[0], {0, 2}, FFTNorm::Forward, s); }, {x3}, kRtol, kAtol));
  // Padded and truncated lengths, a transposed input and a float32 input.
  EXPECT_TRUE(gpu_matches_cpu([](auto& in, StreamOrDevice s) { return fft::fft(in[0], 13, 1, FFTNorm::Backward, s); }, {x3},
                              kRtol, kAtol));
  EXPECT_TRUE(gpu_matches_cpu([](auto& in, StreamOrDevice s) { return fft::fft(in[0], 4, 2, FFTNorm::Backward, s); }, {x3},
                              kRtol, kAtol));
  array t = transpose(random_input({10, 6}, complex64, -2, 2, 5), kCpu);
  EXPECT_TRUE(gpu_matches_cpu([](auto& in, StreamOrDevice s) { return fft::fft(in[0], -1, FFTNorm::Backward, s); }, {t},
                              kRtol, kAtol));
  array r = random_input({5, 12}, float32, -2, 2, 6);
  EXPECT_TRUE(gpu_matches_cpu([](auto& in, StreamOrDevice s) { return fft::fft2(in[0], {-2, -1}, FFTNorm::Backward, s); },
                              {r}, kRtol, kAtol));
  EXPECT_EQ(gpu::cpu_fallback_count(), fallbacks);
}

TEST(FftGpu, RealTransforms) {
  MICA_REQUIRE_GPU();
  size_t fallbacks = gpu::cpu_fallback_count();
  for (int n : {1, 2, 7, 16, 97, 1000, 4099}) {
    array x = random_input({3, n}, float32, -2, 2, n);
    EXPECT_TRUE(gpu_matches_cpu([](auto& in, StreamOrDevice s) { return fft::rfft(in[0], -1, FFTNorm::Backward, s); }, {x},
                                kRtol, kAtol)) << n;
    // irfft of arbitrary bins (the imaginary parts of bin 0 and bin n / 2 are ignored).
    array bins = random_input({3, n / 2 + 1}, complex64, -2, 2, n + 1);
    EXPECT_TRUE(gpu_matches_cpu([n](auto& in, StreamOrDevice s) { return fft::irfft(in[0], n, -1, FFTNorm::Backward, s); },
                                {bins}, kRtol, kAtol)) << n;
  }
  array x3 = random_input({4, 6, 10}, float32, -2, 2, 9);
  for (int axis : {0, 1, 2}) {
    EXPECT_TRUE(gpu_matches_cpu([axis](auto& in, StreamOrDevice s) { return fft::rfft(in[0], axis, FFTNorm::Ortho, s); },
                                {x3}, kRtol, kAtol)) << axis;
  }
  EXPECT_TRUE(gpu_matches_cpu([](auto& in, StreamOrDevice s) { return fft::rfftn(in[0], FFTNorm::Backward, s); }, {x3},
                              kRtol, kAtol));
  EXPECT_TRUE(gpu_matches_cpu([](auto& in, StreamOrDevice s) { return fft::rfft2(in[0], {0, 1}, FFTNorm::Backward, s); },
                              {x3}, kRtol, kAtol));
  array spec = random_input({4, 6, 6}, complex64, -2, 2, 10);
  EXPECT_TRUE(gpu_matches_cpu([](auto& in, StreamOrDevice s) { return fft::irfftn(in[0], FFTNorm::Backward, s); }, {spec},
                              kRtol, kAtol));
  EXPECT_TRUE(gpu_matches_cpu(
      [](auto& in, StreamOrDevice s) { return fft::irfft2(in[0], Shape{6, 9}, {0, 2}, FFTNorm::Backward, s); }, {spec},
      kRtol, kAtol));
  // A round trip gives the input back.
  Device gpu(Device::gpu);
  array back = fft::irfft(fft::rfft(x3, -1, FFTNorm::Backward, gpu), 10, -1, FFTNorm::Backward, gpu);
  EXPECT_TRUE(same_values(back, x3, 1e-5, 1e-5));
  EXPECT_EQ(gpu::cpu_fallback_count(), fallbacks);
}

TEST(FftGpu, Gradients) {
  MICA_REQUIRE_GPU();
  array x = random_input({4, 8}, float32, -1, 1, 11);
  auto loss = [](Device d) {
    return [d](const array& a) {
      array f = fft::rfft(a, -1, FFTNorm::Backward, d);
      return sum(abs(f, d), false, d);
    };
  };
  EXPECT_TRUE(same_values(grad(loss(Device(Device::gpu)))(x), grad(loss(kCpu))(x), 1e-4, 1e-4));
}

}  // namespace
}  // namespace mica::test
