// GPU benchmarks of part 1 of the CUDA backend: elementwise, reductions and row kernels over
// 2^28 elements, host <-> GPU copies, and the per-op overhead of small graphs.
#include <memory>

#include "benchmarks/gpu/bench.h"
#include "mica/primitives/unary.h"

namespace mx = mica;
using mica_bench::median_seconds;
using mica_bench::median_seconds_n;
using mica_bench::report;

MICA_GPU_BENCH(core) {
  const int n = 1 << 28;
  const int reps = 10;
  for (mx::Dtype dt : {mx::float32, mx::bfloat16}) {
    std::string sfx = dt == mx::float32 ? "_f32" : "_bf16";
    double es = dt.size;
    auto a = mx::astype(mx::random::uniform({n}, mx::float32), dt);
    auto b = mx::astype(mx::random::uniform({n}, mx::float32), dt);
    mx::eval(a, b);
    // The copy floor every "of copy" column divides by: a same-dtype AsType node runs the GPU
    // copy kernel (mx::copy shares the buffer, as MLX's does; astype of the same dtype is a).
    auto device_copy = [&] {
      return mx::array(a.shape(), dt, std::make_shared<mx::AsType>(mx::default_stream(mx::Device::gpu), dt), {a});
    };
    report("copy" + sfx, median_seconds(device_copy, reps), 2.0 * n * es);
    report("add" + sfx, median_seconds([&] { return mx::add(a, b); }, reps), 3.0 * n * es);
    report("multiply" + sfx, median_seconds([&] { return mx::multiply(a, b); }, reps), 3.0 * n * es);
    report("exp" + sfx, median_seconds([&] { return mx::exp(a); }, reps), 2.0 * n * es);
    if (dt == mx::float32) {
      report("sum_all" + sfx, median_seconds([&] { return mx::sum(a); }, reps), 1.0 * n * es);
    }
    auto m = mx::reshape(a, {8192, n / 8192});
    m = mx::slice(m, {0, 0}, {8192, 8192});
    m = mx::contiguous(m);
    mx::eval(m);
    double mb = 8192.0 * 8192.0 * es;
    // ~0.1 ms kernels: 10 back to back per eval (see median_seconds_n).
    if (dt == mx::float32) report("sum_rows" + sfx, median_seconds_n([&] { return mx::sum(m, -1); }, 10), mb);
    report("softmax" + sfx, median_seconds_n([&] { return mx::softmax(m, -1); }, 10), 2 * mb);
    report("logsumexp" + sfx, median_seconds_n([&] { return mx::logsumexp(m, -1); }, 10), mb);
  }
  // Host <-> GPU: 1 GiB of float32 from pageable host memory to the GPU and back.
  {
    const int m = 1 << 28;
    std::vector<float> host(m, 1.5f);
    std::vector<double> up, down;
    for (int r = 0; r < 5; ++r) {
      mx::array h(mica::allocator::Buffer{host.data(), host.size() * 4}, {m}, mx::float32, [](mica::allocator::Buffer) {});
      auto t0 = std::chrono::steady_clock::now();
      mx::array g = mx::copy(h, mx::Device::gpu);
      mx::eval(g);
      up.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      mx::array g2 = mx::multiply(g, mx::array(2.0f));
      mx::eval(g2);
      t0 = std::chrono::steady_clock::now();
      volatile float first = g2.data<float>()[0];
      (void)first;
      down.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(up.begin(), up.end());
    std::sort(down.begin(), down.end());
    report("host_to_gpu_f32", up[2], 4.0 * m);
    report("gpu_to_host_f32", down[2], 4.0 * m);
  }
  // Overhead: 10,000 scalar adds built and evaluated; a chain of 100 small elementwise ops.
  {
    mx::array x = mx::zeros({}, mx::float32);
    mx::eval(x);
    double s = median_seconds(
        [&] {
          mx::array y = x;
          for (int i = 0; i < 10000; ++i) y = mx::add(y, mx::array(1.0f));
          return y;
        },
        5);
    report("scalar_adds_10000", s, 0);
    mx::array y = mx::random::uniform({32, 256}, mx::float32);
    mx::eval(y);
    double c = median_seconds(
        [&] {
          mx::array z = y;
          for (int i = 0; i < 25; ++i) {
            z = mx::multiply(z, mx::array(0.5f));
            z = mx::add(z, y);
            z = mx::tanh(z);
            z = mx::subtract(z, mx::array(0.25f));
          }
          return z;
        },
        20);
    report("chain_100_small", c, 0);
  }
}
