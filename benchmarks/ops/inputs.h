// Shared by the C++ benchmarks: reproducible inputs without mica's random ops (so the inputs
// cost nothing to make and are the same in every run).
#pragma once
#include <cstdint>
#include <vector>

#include "mica/mica.h"

/** float32 values uniform in [-1, 1) from a linear congruential sequence started at `seed`. */
inline mica::array random_input(const mica::Shape& shape, uint32_t seed) {
  size_t n = 1;
  for (auto d : shape) n *= d;
  std::vector<float> v(n);
  for (auto& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<float>(seed >> 8) / static_cast<float>(1 << 24) * 2.0f - 1.0f;
  }
  return mica::array(v.begin(), shape, mica::float32);
}
