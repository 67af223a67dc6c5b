// MLX-style program: the metadata of views (strides, data_size, flags) as MLX reports it. The
// expected values were printed by the same calls compiled against MLX 0.32's own C++ library
// (libmlx from the mlx wheel) on x86-64: broadcasts (contiguous, data_size the distinct
// elements), outputs of unary ops and copy() keeping a contiguous input's layout, zeros / ones /
// full written out, binary ops' outputs (a contiguous operand's layout kept when the other is
// one value, a layout both operands share), empty arrays (strides are products with zeros;
// transposes and as_strided keep theirs). Known difference, left out here: a unary op of an
// empty transposed array (MLX keeps the input's strides; mica gives the row-major ones of every
// empty kernel output).
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
  // Broadcasts: contiguous (the non-broadcast dims are dense), data_size the distinct elements.
  mx::array v = mx::arange(3.0f);
  is("broadcast scalar", mx::broadcast_to(mx::array(1.0f), {2, 3}), {0, 0}, 1, true, false, false);
  is("broadcast row", mx::broadcast_to(v, {2, 3}), {0, 1}, 3, true, false, false);
  is("broadcast column", mx::broadcast_to(mx::reshape(v, {3, 1}), {3, 4}), {1, 0}, 3, true, false, false);
  is("broadcast middle", mx::broadcast_to(mx::reshape(m, {2, 1, 3}), {2, 4, 3}), {3, 0, 1}, 6, true, false, false);
  is("broadcast of a transpose", mx::broadcast_to(mx::transpose(m), {2, 3, 2}), {0, 1, 3}, 6, true, false, false);
  is("broadcast of a column slice", mx::broadcast_to(mx::slice(m, {0, 1}, {2, 3}), {4, 2, 2}), {0, 3, 1}, 5, false,
     false, false);
  is("transpose of a broadcast", mx::transpose(mx::broadcast_to(v, {2, 3})), {1, 0}, 3, true, false, false);
  is("slice of a broadcast", mx::slice(mx::broadcast_to(v, {4, 3}), {1, 1}, {3, 3}), {0, 1}, 2, true, false, false);
  is("expand_dims of a broadcast", mx::expand_dims(mx::broadcast_to(v, {2, 3}), 1), {0, 1, 1}, 3, true, false, false);
  is("reshape of a broadcast", mx::reshape(mx::broadcast_to(v, {2, 2, 3}), {4, 3}), {0, 1}, 3, true, false, false);
  is("reshape of a broadcast, copied", mx::reshape(mx::broadcast_to(v, {2, 3}), {6}), {1}, 6, true, true, true);
  // Elementwise kernels keep a contiguous input's layout; copy() shares the buffer.
  is("exp of a broadcast", mx::exp(mx::broadcast_to(v, {2, 3})), {0, 1}, 3, true, false, false);
  is("exp of a broadcast scalar", mx::exp(mx::broadcast_to(mx::array(2.0f), {2, 3})), {0, 0}, 1, true, false, false);
  is("astype of a broadcast", mx::astype(mx::broadcast_to(v, {2, 3}), mx::int32), {0, 1}, 3, true, false, false);
  is("astype of a transpose", mx::astype(mx::transpose(m), mx::int32), {1, 3}, 6, true, false, true);
  is("negative of a transpose", mx::negative(mx::transpose(m)), {1, 3}, 6, true, false, true);
  is("copy of a broadcast", mx::copy(mx::broadcast_to(v, {2, 3})), {0, 1}, 3, true, false, false);
  is("copy of a transpose", mx::copy(mx::transpose(m)), {1, 3}, 6, true, false, true);
  is("copy of a column slice", mx::copy(mx::slice(m, {0, 1}, {2, 3})), {3, 1}, 5, false, false, false);
  is("contiguous of a broadcast", mx::contiguous(mx::broadcast_to(v, {2, 3})), {3, 1}, 6, true, true, false);
  // Binary ops: the output keeps a contiguous operand's layout when the other is one value, and a
  // layout both share when both are row- or both column-contiguous; otherwise it is row-major.
  mx::array t = mx::transpose(m);
  is("add of two broadcasts", mx::add(mx::broadcast_to(v, {2, 3}), mx::broadcast_to(v, {2, 3})), {3, 1}, 6, true,
     true, false);
  is("transpose + scalar", mx::add(t, mx::array(1.0f)), {1, 3}, 6, true, false, true);
  is("scalar * transpose", mx::multiply(mx::array(2.0f), t), {1, 3}, 6, true, false, true);
  is("transpose + transpose", mx::add(t, mx::transpose(mx::reshape(mx::arange(6.0f), {2, 3}))), {1, 3}, 6, true, false,
     true);
  is("greater of a transpose", mx::greater(t, mx::array(2.0f)), {1, 3}, 6, true, false, true);
  is("broadcast row + scalar", mx::add(mx::broadcast_to(v, {2, 3}), mx::array(1.0f)), {0, 1}, 3, true, false, false);
  is("broadcast scalar + scalar", mx::add(mx::broadcast_to(mx::array(1.0f), {2, 3}), mx::array(2.0f)), {0, 0}, 1, true,
     false, false);
  is("transpose + row-major", mx::add(t, mx::reshape(mx::arange(6.0f), {3, 2})), {2, 1}, 6, true, true, false);
  is("3-d transpose + scalar", mx::add(mx::transpose(x, {0, 2, 1}), mx::array(1.0f)), {12, 1, 4}, 24, true, false,
     false);
  is("row + column", mx::add(mx::reshape(v, {1, 3}), mx::reshape(mx::arange(2.0f), {2, 1})), {3, 1}, 6, true, true,
     false);
  // Creation writes every element; the diagonal is a row-major copy.
  is("zeros", mx::zeros({2, 3}), {3, 1}, 6, true, true, false);
  is("full", mx::full({2, 3}, 2.0f), {3, 1}, 6, true, true, false);
  is("ones of bool", mx::ones({2, 2}, mx::bool_), {2, 1}, 4, true, true, false);
  is("zeros_like", mx::zeros_like(m), {3, 1}, 6, true, true, false);
  is("diagonal", mx::diagonal(mx::reshape(mx::arange(9.0f), {3, 3})), {1}, 3, true, true, true);
  mx::array z = mx::zeros({4, 5});
  mx::eval(z);
  float* zp = z.data<float>();
  for (int i = 0; i < 20; ++i) zp[i] = static_cast<float>(i);  // a program may fill zeros' memory
  expect(mx::sum(z).item<float>() == 190.0f, "zeros: every element has its own memory");
  // Empty arrays: strides are products with zeros.
  mx::array e = mx::reshape(mx::arange(0.0f), {3, 0, 2});
  is("empty", e, {0, 2, 1}, 0, true, true, true);
  is("empty zeros", mx::zeros({2, 0, 3}), {0, 3, 1}, 0, true, true, true);
  is("empty transpose", mx::transpose(e), {1, 2, 0}, 0, true, false, true);
  is("empty expand_dims", mx::expand_dims(e, 0), {1, 0, 2, 1}, 0, true, true, true);
  is("empty slice", mx::slice(x, {0, 1, 0}, {2, 1, 4}), {0, 4, 1}, 0, true, true, true);
  is("empty concatenate", mx::concatenate({e, e}, 1), {0, 2, 1}, 0, true, true, true);
  is("empty sum", mx::sum(e, 2), {0, 1}, 0, true, true, true);
  is("empty as_strided", mx::as_strided(m, {0, 3}, {5, 7}, 0), {5, 7}, 0, true, false, false);
  is("empty broadcast", mx::broadcast_to(mx::reshape(mx::arange(0.0f), {1, 0}), {3, 0}), {0, 1}, 0, true, true, true);
  return check::finish("views");
}
