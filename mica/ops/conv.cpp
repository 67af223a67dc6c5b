#include "mica/ops/conv.h"

#include <climits>
#include <string>

#include "mica/autocast.h"
#include "mica/ops/unary.h"
#include "mica/ops/utils.h"
#include "mica/primitives/conv.h"

namespace mica {

namespace {
using detail::fail;
using detail::shape_str;

std::string list_str(const std::vector<int>& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + ")";
}

// A parameter list with one value per spatial dim: empty -> fill, one value -> repeated.
std::vector<int> per_dim(const char* op, const char* what, std::vector<int> v, int dims, int fill, int min_value) {
  if (v.empty()) v.assign(dims, fill);
  else if (v.size() == 1) v.assign(dims, v[0]);
  if (static_cast<int>(v.size()) != dims) {
    fail(op, std::string("expected ") + what + " with 1 or " + std::to_string(dims) + " values for a " +
                 std::to_string(dims) + "-D convolution, got " + list_str(v) + ".");
  }
  for (int x : v) {
    if (x < min_value) {
      fail(op, std::string("expected ") + what + " of at least " + std::to_string(min_value) + ", got " +
                   list_str(v) + ".");
    }
  }
  return v;
}

// Validates and builds a Convolution node; `op` names the public op in error messages.
array conv_impl(const char* op, array input, array weight, std::vector<int> stride, std::vector<int> padding_lo,
                std::vector<int> padding_hi, std::vector<int> kernel_dilation, std::vector<int> input_dilation,
                int groups, bool flip, StreamOrDevice s, int expect_dims = 0) {
  int nd = static_cast<int>(input.ndim());
  if (nd < 3 || nd > 5 || (expect_dims && nd != expect_dims + 2)) {
    std::string want = expect_dims ? std::to_string(expect_dims + 2) + "-D" : "3-D to 5-D";
    fail(op, "expected a " + want + " input (N, *spatial, C_in), got shape " + shape_str(input.shape()) + ".");
  }
  int dims = nd - 2;
  if (static_cast<int>(weight.ndim()) != nd) {
    fail(op, "expected a " + std::to_string(nd) + "-D weight (C_out, *kernel, C_in / groups) for input of shape " +
                 shape_str(input.shape()) + ", got weight of shape " + shape_str(weight.shape()) + ".");
  }
  Dtype t = detail::autocast_product_type(promote_types(input.dtype(), weight.dtype()));
  if (!is_floating(input.dtype()) || !is_floating(weight.dtype())) {
    fail(op, "expected floating point input and weight, got " + dtype_to_string(input.dtype()) + " and " +
                 dtype_to_string(weight.dtype()) + ".");
  }
  if (groups < 1) fail(op, "expected groups >= 1, got " + std::to_string(groups) + ".");
  int c_in = input.shape(-1), c_out = weight.shape(0);
  if (c_in % groups != 0) {
    fail(op, "expected input channels divisible by groups, got " + std::to_string(c_in) + " channels and " +
                 std::to_string(groups) + " groups.");
  }
  if (c_out % groups != 0) {
    fail(op, "expected output channels divisible by groups, got " + std::to_string(c_out) + " channels and " +
                 std::to_string(groups) + " groups.");
  }
  if (weight.shape(-1) * groups != c_in) {
    fail(op, "expected weight channels (last dim) of C_in / groups = " + std::to_string(c_in / groups) +
                 ", got input of shape " + shape_str(input.shape()) + " and weight of shape " +
                 shape_str(weight.shape()) + ".");
  }
  stride = per_dim(op, "strides", std::move(stride), dims, 1, 1);
  padding_lo = per_dim(op, "low padding", std::move(padding_lo), dims, 0, INT_MIN);
  if (padding_hi.empty()) padding_hi = padding_lo;
  padding_hi = per_dim(op, "high padding", std::move(padding_hi), dims, 0, INT_MIN);
  kernel_dilation = per_dim(op, "kernel dilation", std::move(kernel_dilation), dims, 1, 1);
  input_dilation = per_dim(op, "input dilation", std::move(input_dilation), dims, 1, 1);
  Shape out_shape{input.shape(0)};
  for (int d = 0; d < dims; ++d) {
    int64_t in = input.shape(d + 1), k = weight.shape(d + 1);
    if (k < 1) fail(op, "expected a non-empty kernel, got weight of shape " + shape_str(weight.shape()) + ".");
    int64_t in_dil = in == 0 ? 0 : (in - 1) * input_dilation[d] + 1;
    int64_t padded = in_dil + padding_lo[d] + padding_hi[d];
    int64_t k_dil = (k - 1) * kernel_dilation[d] + 1;
    if (padded < k_dil) {
      fail(op, "expected the dilated, padded input to be at least as large as the dilated kernel, got input of "
               "shape " + shape_str(input.shape()) + ", weight of shape " + shape_str(weight.shape()) +
                   ", padding " + list_str(padding_lo) + " / " + list_str(padding_hi) + " at spatial dim " +
                   std::to_string(d) + ".");
    }
    out_shape.push_back(detail::checked_dim((padded - k_dil) / stride[d] + 1, op));
  }
  out_shape.push_back(c_out);
  if (input.dtype() != t) input = astype(input, t, s);
  if (weight.dtype() != t) weight = astype(weight, t, s);
  return array(out_shape, t,
               std::make_shared<Convolution>(to_stream(s), std::move(stride), std::move(padding_lo),
                                             std::move(padding_hi), std::move(kernel_dilation),
                                             std::move(input_dilation), groups, flip),
               {input, weight});
}

// A transposed convolution as a convolution of the stride-dilated input with the flipped kernel.
array conv_transpose_impl(const char* op, const array& input, const array& weight, std::vector<int> stride,
                          std::vector<int> padding, std::vector<int> dilation, std::vector<int> output_padding,
                          int groups, StreamOrDevice s) {
  int dims = static_cast<int>(stride.size());
  if (static_cast<int>(input.ndim()) != dims + 2) {
    fail(op, "expected a " + std::to_string(dims + 2) + "-D input (N, *spatial, C_in), got shape " +
                 shape_str(input.shape()) + ".");
  }
  if (static_cast<int>(weight.ndim()) != dims + 2) {
    fail(op, "expected a " + std::to_string(dims + 2) + "-D weight (C_out, *kernel, C_in / groups), got shape " +
                 shape_str(weight.shape()) + ".");
  }
  per_dim(op, "strides", stride, dims, 1, 1);
  per_dim(op, "kernel dilation", dilation, dims, 1, 1);
  per_dim(op, "output padding", output_padding, dims, 0, 0);
  std::vector<int> lo(dims), hi(dims);
  for (int d = 0; d < dims; ++d) {
    // The implied padding of the equivalent convolution must itself be a 32-bit value.
    int64_t k_dil = int64_t(weight.shape(d + 1) - 1) * dilation[d] + 1;
    lo[d] = detail::checked_dim(k_dil - 1 - padding[d], op);
    hi[d] = detail::checked_dim(k_dil - 1 - padding[d] + output_padding[d], op);
  }
  return conv_impl(op, input, weight, std::vector<int>(dims, 1), lo, hi, dilation, stride, groups, true, s);
}
}  // namespace

array conv1d(const array& input, const array& weight, int stride, int padding, int dilation, int groups,
             StreamOrDevice s) {
  return conv_impl("conv1d", input, weight, {stride}, {padding}, {padding}, {dilation}, {1}, groups, false, s, 1);
}

array conv2d(const array& input, const array& weight, const std::pair<int, int>& stride,
             const std::pair<int, int>& padding, const std::pair<int, int>& dilation, int groups, StreamOrDevice s) {
  return conv_impl("conv2d", input, weight, {stride.first, stride.second}, {padding.first, padding.second},
                   {padding.first, padding.second}, {dilation.first, dilation.second}, {1}, groups, false, s, 2);
}

array conv3d(const array& input, const array& weight, const std::tuple<int, int, int>& stride,
             const std::tuple<int, int, int>& padding, const std::tuple<int, int, int>& dilation, int groups,
             StreamOrDevice s) {
  auto [s0, s1, s2] = stride;
  auto [p0, p1, p2] = padding;
  auto [d0, d1, d2] = dilation;
  return conv_impl("conv3d", input, weight, {s0, s1, s2}, {p0, p1, p2}, {p0, p1, p2}, {d0, d1, d2}, {1}, groups,
                   false, s, 3);
}

array conv_general(array input, array weight, std::vector<int> stride, std::vector<int> padding_lo,
                   std::vector<int> padding_hi, std::vector<int> kernel_dilation, std::vector<int> input_dilation,
                   int groups, bool flip, StreamOrDevice s) {
  return conv_impl("conv_general", std::move(input), std::move(weight), std::move(stride), std::move(padding_lo),
                   std::move(padding_hi), std::move(kernel_dilation), std::move(input_dilation), groups, flip, s);
}

array conv_general(const array& input, const array& weight, std::vector<int> stride, std::vector<int> padding,
                   std::vector<int> kernel_dilation, std::vector<int> input_dilation, int groups, bool flip,
                   StreamOrDevice s) {
  return conv_impl("conv_general", input, weight, std::move(stride), padding, padding, std::move(kernel_dilation),
                   std::move(input_dilation), groups, flip, s);
}

array conv_transpose1d(const array& input, const array& weight, int stride, int padding, int dilation,
                       int output_padding, int groups, StreamOrDevice s) {
  return conv_transpose_impl("conv_transpose1d", input, weight, {stride}, {padding}, {dilation}, {output_padding},
                             groups, s);
}

array conv_transpose2d(const array& input, const array& weight, const std::pair<int, int>& stride,
                       const std::pair<int, int>& padding, const std::pair<int, int>& dilation,
                       const std::pair<int, int>& output_padding, int groups, StreamOrDevice s) {
  return conv_transpose_impl("conv_transpose2d", input, weight, {stride.first, stride.second},
                             {padding.first, padding.second}, {dilation.first, dilation.second},
                             {output_padding.first, output_padding.second}, groups, s);
}

array conv_transpose3d(const array& input, const array& weight, const std::tuple<int, int, int>& stride,
                       const std::tuple<int, int, int>& padding, const std::tuple<int, int, int>& dilation,
                       const std::tuple<int, int, int>& output_padding, int groups, StreamOrDevice s) {
  auto [s0, s1, s2] = stride;
  auto [p0, p1, p2] = padding;
  auto [d0, d1, d2] = dilation;
  auto [o0, o1, o2] = output_padding;
  return conv_transpose_impl("conv_transpose3d", input, weight, {s0, s1, s2}, {p0, p1, p2}, {d0, d1, d2},
                             {o0, o1, o2}, groups, s);
}

}  // namespace mica
