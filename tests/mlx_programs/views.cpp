// MLX-style program: the metadata of views (strides, data_size, flags) as MLX reports it. The
// expected values were printed by the same calls compiled against MLX 0.32's own C++ library
// (libmlx from the mlx wheel) on x86-64. Known differences, left out here: broadcasts (MLX calls
// them contiguous, data_size elements reused through zero strides; mica's `contiguous` means
// no zero strides, which its kernels rely on), empty arrays' strides (MLX row-major, mica zeros), diagonal (MLX copies; mica returns a strided view), and zeros / ones /
// full (MLX writes every element; mica keeps a broadcast view of one value: see the pitfalls
// guide, "Reading an array's memory directly").
#include <string>
#include <vector>

#include "check.h"
#include "mlx/mlx.h"

namespace mx = mlx::core;
using check::expect;

namespace {
void is(const char* name, const mx::array& view, const std::vector<int64_t>& strides, size_t data_size, bool contiguous,
        bool row, bool col) {
  mx::array a = view;
  mx::eval(a);
  std::vector<int64_t> got(a.strides().begin(), a.strides().end());
  expect(got == strides, std::string(name) + ": strides");
  expect(a.data_size() == data_size, std::string(name) + ": data_size " + std::to_string(a.data_size()));
  expect(a.flags().contiguous == contiguous && a.flags().row_contiguous == row && a.flags().col_contiguous == col,
         std::string(name) + ": flags");
}
}  // namespace

int main() {
  mx::set_default_device(mx::Device::cpu);
  mx::array x = mx::reshape(mx::arange(24.0f), {2, 3, 4});
  mx::array m = mx::reshape(mx::arange(6.0f), {2, 3});
  is("base", x, {12, 4, 1}, 24, true, true, false);
  is("transpose", mx::transpose(x), {1, 4, 12}, 24, true, false, true);
  is("transpose (0, 2, 1)", mx::transpose(x, {0, 2, 1}), {12, 1, 4}, 24, true, false, false);
  is("slice of rows", mx::slice(x, {0, 1, 0}, {2, 3, 4}), {12, 4, 1}, 20, false, false, false);
  is("slice of the first axis", mx::slice(x, {1, 0, 0}, {2, 3, 4}), {12, 4, 1}, 12, true, true, false);
  is("slice of columns", mx::slice(x, {0, 0, 1}, {2, 3, 3}), {12, 4, 1}, 22, false, false, false);
  is("strided slice", mx::slice(x, {0, 0, 0}, {2, 3, 4}, {1, 1, 2}), {12, 4, 2}, 23, false, false, false);
  is("squeeze", mx::squeeze(mx::reshape(x, {2, 1, 12})), {12, 1}, 24, true, true, false);
  is("reshape of a transpose", mx::reshape(mx::transpose(x), {24}), {1}, 24, true, true, true);
  is("2-d transpose", mx::transpose(m), {1, 3}, 6, true, false, true);
  is("1-d", mx::arange(5.0f), {1}, 5, true, true, true);
  is("scalar", mx::array(3.0f), {}, 1, true, true, true);
  is("one row", mx::slice(m, {1, 0}, {2, 3}), {3, 1}, 3, true, true, true);
  is("one column", mx::slice(m, {0, 1}, {2, 2}), {3, 1}, 4, false, false, false);
  is("size-1 axes", mx::reshape(mx::arange(3.0f), {1, 3, 1}), {3, 1, 1}, 3, true, true, true);
  is("transpose with size-1 axes", mx::transpose(mx::reshape(mx::arange(3.0f), {1, 3, 1})), {1, 1, 3}, 3, true, true,
     true);
  is("expand_dims in front", mx::expand_dims(m, 0), {1, 3, 1}, 6, true, true, false);
  is("expand_dims inside", mx::expand_dims(m, 1), {3, 1, 1}, 6, true, true, false);
  is("expand_dims of a transpose", mx::expand_dims(mx::transpose(m), {0, 2}), {1, 1, 1, 3}, 6, true, false, true);
  is("as_strided overlap", mx::as_strided(mx::arange(10.0f), {3, 3}, {1, 1}, 0), {1, 1}, 5, false, false, false);
  is("real of complex", mx::real(mx::astype(mx::arange(4.0f), mx::complex64)), {1}, 4, true, true, true);
  return check::finish("views");
}
