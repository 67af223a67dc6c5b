// The code of docs/guides/getting_started.md: every region between `// [snippet: name]` and
// `// [end]` appears verbatim in the guide, and main() checks what each one computes.
#include <cmath>
#include <iostream>
#include <vector>

#include "guide_check.h"

// [snippet: include]
#include "mica/mica.h"

namespace mx = mica;
// [end]

namespace {

void first_arrays() {
  // [snippet: first-arrays]
  mx::array a({1.0f, 2.0f, 3.0f, 4.0f}, {2, 2});  // four values laid out as a 2x2 matrix
  mx::array b = mx::ones({2, 2});                 // float32 unless you ask for another dtype
  mx::array c = a + 2 * b;                        // every op returns a new array
  std::cout << c << "\n";                         // array([[3, 4], [5, 6]], dtype=float32)
  float total = mx::sum(c).item<float>();         // 18
  // [end]
  GUIDE_CHECK(c.shape() == (mx::Shape{2, 2}), "c is 2x2");
  GUIDE_CHECK(c.dtype() == mx::float32, "c is float32");
  GUIDE_CHECK(total == 18.0f, "the elements of c add up to 18");
}

void shapes_and_dtypes() {
  // [snippet: shapes-and-dtypes]
  mx::array m = mx::reshape(mx::arange(6), {2, 3});  // int32: 0 1 2 / 3 4 5
  int rows = m.shape(0);                             // 2
  int cols = m.shape(-1);                            // 3
  std::size_t count = m.size();                      // 6
  mx::array halves = mx::astype(m, mx::float16);     // an explicit conversion
  mx::array t = mx::transpose(m);                    // 3x2, a view of the same buffer
  // [end]
  GUIDE_CHECK(m.dtype() == mx::int32, "arange of ints is int32");
  GUIDE_CHECK(rows == 2 && cols == 3 && count == 6, "m is 2x3");
  GUIDE_CHECK(halves.dtype() == mx::float16, "astype converts");
  GUIDE_CHECK(t.shape() == (mx::Shape{3, 2}), "transpose swaps the axes");
  GUIDE_CHECK(mx::take(mx::flatten(t), 1).item<int>() == 3, "t[0][1] is m[1][0]");
}

void laziness() {
  // [snippet: lazy]
  mx::array x = mx::arange(6.0);        // 0, 1, ..., 5 as float32
  mx::array y = mx::exp(x) * 0.5f;      // recorded in a graph, not computed
  bool before = y.is_available();       // false: nothing has run yet
  mx::eval(y);                          // runs the graph behind y
  bool after = y.is_available();        // true: y now holds its data
  // [end]
  GUIDE_CHECK(!before, "y is lazy until evaluated");
  GUIDE_CHECK(after, "eval computes y");
  GUIDE_CHECK(std::fabs(mx::take(y, 2).item<float>() - 0.5f * std::exp(2.0f)) < 1e-5f, "y[2] = exp(2)/2");

  // [snippet: implicit-eval]
  mx::array mean = mx::mean(y);
  mx::array peak = mx::max(y);
  mx::eval(mean, peak);                 // one pass computes both
  float m = mean.item<float>();         // item() evaluates if needed, then reads the scalar
  const float* data = y.data<float>();  // data<T>() reads an evaluated array's buffer
  std::vector<float> values(data, data + y.size());
  // [end]
  GUIDE_CHECK(peak.item<float>() == values.back(), "the peak is the last element");
  GUIDE_CHECK(std::fabs(m - mx::sum(y).item<float>() / 6.0f) < 1e-5f, "the mean is the sum over six");

  // [snippet: async-eval]
  mx::array big = mx::matmul(mx::ones({64, 64}), mx::ones({64, 64}));
  mx::async_eval({big});                   // schedules the work and returns at once
  // ... prepare the next batch here ...
  float corner = mx::take(big, 0).item<float>();  // waits for the result: 64
  // [end]
  GUIDE_CHECK(corner == 64.0f, "a row of 64 ones times a column of 64 ones");
}

void from_vector() {
  // [snippet: from-vector]
  std::vector<float> host = {0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f};
  mx::array v(host.begin(), {2, 3});               // copies the six values
  mx::array doubled = v * 2.0f;
  mx::eval(doubled);
  std::vector<float> back(doubled.data<float>(), doubled.data<float>() + doubled.size());
  // [end]
  GUIDE_CHECK(back.size() == 6 && back[0] == 1.0f && back[5] == 11.0f, "doubled round-trips to a vector");
}

void devices() {
  // [snippet: devices]
  bool has_gpu = mx::is_available(mx::Device::gpu);  // false in a CPU-only build
  mx::set_default_device(mx::Device::cpu);           // ops without a device argument run here
  mx::array a = mx::random::normal({8, 8});
  mx::array b = mx::matmul(a, a, mx::Device::cpu);   // or name the device for one op
  mx::Stream side = mx::new_stream(mx::Device::cpu); // a second queue of work on the CPU
  mx::array c = mx::exp(b, side);                    // runs on that stream
  mx::eval(c);
  mx::synchronize();                                 // waits for every stream
  // [end]
  (void)has_gpu;
  GUIDE_CHECK(mx::default_device() == mx::Device(mx::Device::cpu), "the default device is the CPU");
  GUIDE_CHECK(side != mx::default_stream(mx::Device::cpu), "new_stream makes a different stream");
  GUIDE_CHECK(mx::all(mx::isfinite(b)).item<bool>(), "the product is finite");
}

void random_numbers() {
  // [snippet: random]
  mx::random::seed(42);                                    // the global key, for quick work
  mx::array noise = mx::random::uniform({3});
  mx::array key = mx::random::key(7);                      // an explicit key: same numbers every run
  mx::array w1 = mx::random::normal({2, 2}, mx::float32, 0.0f, 1.0f, key);
  mx::array w2 = mx::random::normal({2, 2}, mx::float32, 0.0f, 1.0f, key);
  auto [k1, k2] = mx::random::split(key);                  // fresh keys for independent draws
  mx::array w3 = mx::random::normal({2, 2}, mx::float32, 0.0f, 1.0f, k1);
  // [end]
  (void)k2;
  GUIDE_CHECK(mx::all((noise >= 0.0f) && (noise < 1.0f)).item<bool>(), "uniform draws lie in [0, 1)");
  GUIDE_CHECK(mx::array_equal(w1, w2).item<bool>(), "the same key gives the same numbers");
  GUIDE_CHECK(!mx::array_equal(w1, w3).item<bool>(), "a split key gives other numbers");
}

void first_gradient() {
  // [snippet: first-grad]
  auto f = [](const mx::array& x) { return mx::sum(x * x); };  // f(x) = sum of squares
  auto df = mx::grad(f);                                        // a function computing 2x
  mx::array g = df(mx::array({1.0f, -2.0f, 3.0f}));             // [2, -4, 6]
  // [end]
  GUIDE_CHECK(mx::array_equal(g, mx::array({2.0f, -4.0f, 6.0f})).item<bool>(), "the gradient of x^2 is 2x");
}

}  // namespace

int main() {
  mx::set_default_device(mx::Device::cpu);  // the guides run on machines without a GPU
  guide::run("first-arrays", first_arrays);
  guide::run("shapes-and-dtypes", shapes_and_dtypes);
  guide::run("lazy", laziness);
  guide::run("from-vector", from_vector);
  guide::run("devices", devices);
  guide::run("random", random_numbers);
  guide::run("first-grad", first_gradient);
  return guide::finish("getting_started");
}
