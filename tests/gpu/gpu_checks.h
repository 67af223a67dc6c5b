// GPU-vs-CPU conformance checks: the same op on the same inputs on a gpu stream and on the
// cpu, compared element by element (exactly for integers and bool, to a dtype tolerance for
// floating types). Inputs are made on the CPU; views of them (transposed, broadcast, sliced)
// reach the GPU kernels as strided inputs. Test binaries under tests/gpu exit with ctest's skip
// code when no GPU is present (tests/main.cpp).
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "mica/mica.h"
#include "reference/reference.h"

namespace mica::test {

inline bool has_gpu() { return is_available(Device::gpu); }

// Skips the test when no GPU is present.
#define MICA_REQUIRE_GPU() \
  if (!::mica::test::has_gpu()) GTEST_SKIP() << "no GPU on this machine"

/** An op under test: builds its output from inputs on the given stream or device. */
using GpuOp = std::function<array(const std::vector<array>&, StreamOrDevice)>;

/** Exact for integer and bool outputs, else `rtol`/`atol` scaled for half types. */
inline testing::AssertionResult same_values(array gpu_out, array cpu_out, double rtol, double atol) {
  if (gpu_out.shape() != cpu_out.shape()) {
    return testing::AssertionFailure() << "shape differs: gpu " << gpu_out.shape().size() << "-d vs cpu";
  }
  if (gpu_out.dtype() != cpu_out.dtype()) {
    return testing::AssertionFailure() << "dtype differs: gpu " << gpu_out.dtype() << " vs cpu " << cpu_out.dtype();
  }
  Dtype d = cpu_out.dtype();
  if (!is_inexact(d)) { rtol = 0; atol = 0; }
  if (d == float16 || d == bfloat16) { rtol = std::max(rtol, d == bfloat16 ? 1e-2 : 2e-3); atol = std::max(atol, rtol); }
  auto r = all_close(to_vector(gpu_out), to_vector(cpu_out), rtol, atol);
  if (!r) return r;
  if (d == complex64) return all_close(to_vector_imag(gpu_out), to_vector_imag(cpu_out), rtol, atol);
  return r;
}

/** Runs `op` on the GPU and on the CPU over the same inputs and compares the outputs. */
inline testing::AssertionResult gpu_matches_cpu(const GpuOp& op, const std::vector<array>& inputs, double rtol = 1e-5,
                                               double atol = 1e-6) {
  array cpu_out = op(inputs, Device(Device::cpu));
  eval(cpu_out);
  array gpu_out = op(inputs, Device(Device::gpu));
  eval(gpu_out);
  return same_values(gpu_out, cpu_out, rtol, atol);
}

inline bool is_unsigned(Dtype d) { return d == uint8 || d == uint16 || d == uint32 || d == uint64; }

/** Random values in [lo, hi] made on the CPU and evaluated (lo raised to 0 for unsigned dtypes);
 * complex64 gets random real and imaginary parts. */
inline array random_input(const Shape& shape, Dtype d, double lo = -2, double hi = 2, uint32_t seed = 1) {
  Device cpu(Device::cpu);
  if (is_unsigned(d)) lo = std::max(lo, 0.0);
  array a = random_array(shape, d == complex64 ? float32 : d, lo, hi, seed);
  if (d == complex64) {
    array im = random_array(shape, float32, lo, hi, seed + 7919);
    a = add(astype(a, complex64, cpu), multiply(astype(im, complex64, cpu), array(complex64_t(0.0f, 1.0f)), cpu), cpu);
  }
  eval(a);
  return a;
}

/** The layouts a kernel must handle, each made from random_input on the CPU: row-major,
 * transposed, broadcast from a row, sliced with a step, empty, and contiguous but one element in
 * (misaligned for 16-byte vectors). */
inline std::vector<std::pair<std::string, array>> layouts(Dtype dtype, int rows, int cols, double lo = -2, double hi = 2,
                                                          uint32_t seed = 1) {
  Device cpu(Device::cpu);
  std::vector<std::pair<std::string, array>> v;
  v.emplace_back("row-major", random_input({rows, cols}, dtype, lo, hi, seed));
  v.emplace_back("transposed", transpose(random_input({cols, rows}, dtype, lo, hi, seed + 1), cpu));
  v.emplace_back("broadcast", broadcast_to(random_input({1, cols}, dtype, lo, hi, seed + 2), {rows, cols}, cpu));
  v.emplace_back("sliced", slice(random_input({rows * 2, cols + 3}, dtype, lo, hi, seed + 3), {0, 1}, {rows * 2, cols + 1},
                                 {2, 1}, cpu));
  v.emplace_back("empty", random_input({0, cols}, dtype, lo, hi, seed + 4));
  array flat = random_input({rows * cols + 1}, dtype, lo, hi, seed + 5);
  v.emplace_back("offset", reshape(slice(flat, {1}, {rows * cols + 1}, cpu), {rows, cols}, cpu));
  for (auto& [name, a] : v) eval(a);
  return v;
}

}  // namespace mica::test
