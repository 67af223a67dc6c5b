// Branch-free float32 math that the compiler vectorizes in plain loops (no libm calls).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace mica::cpu::simd {

/** exp(x) to ~2 ulp; NaN propagates, under/overflow go to 0/inf. */
inline float exp_f32(float x) {
  // The first comparison is false for NaN, which so becomes the lower bound: floor() below never
  // converts NaN to int (UB); the NaN itself is returned at the end.
  float xc = x > -104.0f ? x : -104.0f;
  xc = xc < 89.0f ? xc : 89.0f;
  float fx = std::floor(xc * 1.44269504088896341f + 0.5f);
  float r = xc - fx * 0.693359375f;
  r = r + fx * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * r * r + r + 1.0f;
  // Scale by 2^n in two halves so neither factor leaves the normal range.
  int32_t n = static_cast<int32_t>(fx);
  int32_t n1 = n >> 1;
  int32_t n2 = n - n1;
  uint32_t b1 = static_cast<uint32_t>(n1 + 127) << 23;
  uint32_t b2 = static_cast<uint32_t>(n2 + 127) << 23;
  float s1, s2;
  std::memcpy(&s1, &b1, 4);
  std::memcpy(&s2, &b2, 4);
  float out = y * s1 * s2;
  return x != x ? x : out;
}

/** 1 / (1 + exp(-x)). */
inline float sigmoid_f32(float x) { return 1.0f / (1.0f + exp_f32(-x)); }

/** tanh(x) = 1 - 2 / (exp(2x) + 1), with a series near 0 for accuracy. */
inline float tanh_f32(float x) {
  float e = exp_f32(2.0f * x);
  float big = 1.0f - 2.0f / (e + 1.0f);
  float x2 = x * x;
  float small = x * (1.0f + x2 * (-0.333333333f + x2 * (0.133333333f + x2 * (-0.0539682540f))));
  return std::fabs(x) < 0.0625f ? small : big;
}

}  // namespace mica::cpu::simd
