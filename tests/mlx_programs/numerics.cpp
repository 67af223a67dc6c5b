// MLX-style program: fft, dtypes and their promotion, shape utilities and the memory API,
// through mlx/fft.h, mlx/dtype.h, mlx/utils.h, mlx/memory.h and mlx/allocator.h (values from
// MLX 0.32 where MLX computes them).
#include <complex>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "check.h"
#include "mlx/allocator.h"
#include "mlx/dtype.h"
#include "mlx/fft.h"
#include "mlx/memory.h"
#include "mlx/mlx.h"
#include "mlx/utils.h"

namespace mx = mlx::core;
using check::expect;
using check::values;

int main() {
  // fft of [1, 2, 0, -1] is [2, 1-3i, 0, 1+3i]; rfft keeps the first three bins.
  mx::array x({1.0f, 2.0f, 0.0f, -1.0f});
  mx::array f = mx::fft::fft(x);
  expect(f.dtype() == mx::complex64 && values(mx::real(f), {2, 1, 0, 1}, {4}) &&
             values(mx::imag(f), {0, -3, 0, 3}, {4}),
         "fft::fft");
  mx::array r = mx::fft::rfft(x);
  expect(values(mx::real(r), {2, 1, 0}, {3}) && values(mx::imag(r), {0, -3, 0}, {3}), "fft::rfft");
  expect(values(mx::fft::irfft(r, 4, -1), {1, 2, 0, -1}, {4}), "fft::irfft round trip");
  expect(values(mx::fft::fftfreq(4, 0.5), {0, 0.5, -1, -0.5}, {4}), "fft::fftfreq");
  expect(values(mx::fft::fftshift(mx::arange(5)), {3, 4, 0, 1, 2}, {5}), "fft::fftshift");
  // dtypes: categories and promotion as MLX's.
  expect(mx::issubdtype(mx::float16, mx::floating) && !mx::issubdtype(mx::int32, mx::floating), "issubdtype");
  expect(mx::promote_types(mx::int8, mx::uint8) == mx::int16, "promote_types(int8, uint8)");
  expect(mx::promote_types(mx::bfloat16, mx::float16) == mx::float32, "promote_types(bfloat16, float16)");
  expect(mx::result_type({mx::array(1), mx::array(2.0f)}) == mx::float32, "result_type");
  expect(mx::broadcast_shapes({2, 1}, {1, 3}) == mx::Shape({2, 3}), "broadcast_shapes");
  expect(mx::float32.size == 4 && mx::size_of(mx::bfloat16) == 2, "dtype sizes");
  // Memory: live arrays count as active memory; the peak resets.
  mx::reset_peak_memory();
  const size_t before = mx::get_active_memory();
  {
    mx::array big = mx::arange(0.0, double(1 << 20), 1.0, mx::float32);  // 4 MiB (ones() would be a broadcast)
    mx::eval(big);
    expect(mx::get_active_memory() >= before + (4u << 20), "active memory grows with a live array");
  }
  expect(mx::get_peak_memory() >= before + (4u << 20), "peak memory");
  mx::clear_cache();
  expect(mx::get_cache_memory() == 0, "clear_cache empties the cache");
  // MLX 0.32's quantization calls as an MLX program writes them: group size and bits left to the
  // mode, nvfp4's global scale, fp8 conversions and qqmm (values from MLX 0.32).
  mx::array w = mx::reshape(mx::astype(mx::arange(32), mx::float32), {2, 16});
  auto wq = mx::quantize(w, std::nullopt, std::nullopt, "nvfp4", mx::max(mx::abs(w)));
  mx::array wd = mx::dequantize(wq[0], wq[1], std::nullopt, std::nullopt, std::nullopt, "nvfp4", mx::max(mx::abs(w)));
  expect(wd.dtype() == mx::float32 && mx::allclose(wd, w, 0, 5.01).item<bool>(), "quantize/dequantize nvfp4 global scale");
  expect(values(mx::to_fp8(mx::array({1.0f, -2.5f, 500.0f})), {56, 194, 126}, {3}), "to_fp8");
  expect(values(mx::from_fp8(mx::array({56, 194}, mx::uint8), mx::float32), {1, -2.5}, {2}), "from_fp8");
  mx::array y = mx::qqmm(mx::ones({1, 16}), wq[0], wq[1]);
  expect(y.shape() == mx::Shape({1, 2}) && y.dtype() == mx::float32, "qqmm");
  // Device, stream and memory queries of MLX 0.32.
  const auto& info = mx::device_info(mx::Device::cpu);
  expect(info.count("device_name") && info.count("architecture") &&
             !std::get<std::string>(info.at("architecture")).empty(),
         "device_info");
  expect(mx::peek_default_stream(mx::Device::cpu).has_value(), "peek_default_stream");
  expect(mx::normalize_axis_index(-1, 3) == 2, "normalize_axis_index");
  bool threw = false;
  try {
    mx::normalize_axis_index(3, 3, "[op]");
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  expect(threw, "normalize_axis_index out of range");
  expect(mx::set_wired_limit(1 << 20) == 0 && mx::set_wired_limit(0) == (1 << 20), "set_wired_limit");
  mx::array buf = mx::astype(mx::arange(256), mx::float32);
  mx::array view = mx::slice(buf, {0}, {128});
  mx::eval({buf, view});
  expect(mx::get_array_buffer_size({buf, view}) == 1024, "get_array_buffer_size");
  return check::finish("numerics");
}
