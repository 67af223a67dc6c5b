// MLX-style program: arrays built every way MLX's C++ API builds them, their dtypes, shapes and
// values; iteration over the first axis; external memory wrapped without a copy.
#include <cstdlib>
#include <cstring>
#include <vector>

#include "check.h"
#include "mlx/array.h"
#include "mlx/mlx.h"

namespace mx = mlx::core;
using check::expect;
using check::values;

int main() {
  // Lists: ints give int32, floats float32, bools bool, doubles float32 (as MLX).
  mx::array a({1, 2, 3});
  expect(a.dtype() == mx::int32 && values(a, {1, 2, 3}, {3}), "array({1, 2, 3})");
  mx::array b({1.0f, 2.0f}, {2});
  expect(b.dtype() == mx::float32 && values(b, {1, 2}, {2}), "array({1.0f, 2.0f}, {2})");
  mx::array c({true, false});
  expect(c.dtype() == mx::bool_ && values(c, {1, 0}, {2}), "array({true, false})");
  mx::array d({1.5, 2.5});
  expect(d.dtype() == mx::float32 && values(d, {1.5, 2.5}, {2}), "array({1.5, 2.5})");
  mx::array e({1, 2, 3, 4, 5, 6}, {2, 3});
  expect(e.dtype() == mx::int32 && values(e, {1, 2, 3, 4, 5, 6}, {2, 3}), "array(list, shape)");
  mx::array f({1, 2}, mx::float16);
  expect(f.dtype() == mx::float16 && values(f, {1, 2}, {2}), "array({1, 2}, float16)");
  mx::array g(2.5f);
  expect(g.ndim() == 0 && g.item<float>() == 2.5f, "array(2.5f)");
  mx::array h(7);
  expect(h.dtype() == mx::int32 && h.item<int>() == 7, "array(7)");
  // Nested lists.
  mx::array m({{1.0f, 2.0f}, {3.0f, 4.0f}, {5.0f, 6.0f}});
  expect(values(m, {1, 2, 3, 4, 5, 6}, {3, 2}), "nested lists 2-d");
  mx::array t({{{1, 2}}, {{3, 4}}});
  expect(t.dtype() == mx::int32 && values(t, {1, 2, 3, 4}, {2, 1, 2}), "nested lists 3-d");
  bool threw = false;
  try {
    mx::array bad({{1, 2}, {3}});
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  expect(threw, "ragged nested lists throw");
  // Iterator pairs: a double range gives float32; std::vector<bool> iterators work.
  std::vector<double> dv{0.5, 1.5, 2.5, 3.5};
  mx::array i1(dv.begin(), {2, 2});
  expect(i1.dtype() == mx::float32 && values(i1, {0.5, 1.5, 2.5, 3.5}, {2, 2}), "array(double iterator)");
  std::vector<bool> bv{true, false, true};
  mx::array i2(bv.begin(), {3});
  expect(i2.dtype() == mx::bool_ && values(i2, {1, 0, 1}, {3}), "array(vector<bool> iterator)");
  std::vector<int> iv{4, 5, 6};
  mx::array i3(iv.data(), {3}, mx::float32);
  expect(i3.dtype() == mx::float32 && values(i3, {4, 5, 6}, {3}), "array(int*, shape, float32)");
  // External memory, no copy: the deleter runs when the last array lets go.
  static int deleted = 0;
  float* buf = static_cast<float*>(std::malloc(4 * sizeof(float)));
  for (int k = 0; k < 4; ++k) buf[k] = float(k) * 10;
  {
    mx::array w(buf, {2, 2}, mx::float32, [](void* p) {
      ++deleted;
      std::free(p);
    });
    w.eval();
    expect(w.data<float>() == buf, "external memory is not copied");
    expect(values(w + 1.0f, {1, 11, 21, 31}, {2, 2}), "computing on external memory");
    auto shared = w.data_shared_ptr();
    expect(shared != nullptr && shared.use_count() >= 2, "data_shared_ptr");
  }
  expect(deleted == 1, "the deleter ran once");
  // Iteration over the first axis.
  mx::array r = mx::reshape(mx::arange(6), {3, 2});
  int rows = 0;
  double total = 0;
  for (auto row : r) {
    expect(row.shape() == mx::Shape{2}, "rows of a (3, 2) array are (2,)");
    total += mx::sum(row).item<int>();
    ++rows;
  }
  expect(rows == 3 && total == 15, "for (auto row : array)");
  threw = false;
  try {
    mx::array s(1.0f);
    for (auto x : s) (void)x;
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  expect(threw, "iterating a 0-d array throws");
  // Metadata.
  expect(e.size() == 6 && e.ndim() == 2 && e.itemsize() == 4 && e.nbytes() == 24 && e.shape(-1) == 3, "metadata");
  return check::finish("construction");
}
