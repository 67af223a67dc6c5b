// Convolution layers: validate the configuration once, read weight and bias from the state on
// every call and hand them to the conv ops of mica/ops/conv.h.
#include "mica/nn/layers/convolution.h"

#include <cmath>
#include <stdexcept>

#include "mica/ops.h"
#include "mica/random.h"

namespace mica::nn {

namespace {

[[noreturn]] void fail(const char* layer, const std::string& msg) {
  throw std::invalid_argument(std::string("[") + layer + "] " + msg);
}

void check_channels(const char* layer, int in_channels, int out_channels, int groups) {
  if (in_channels <= 0 || out_channels <= 0) {
    fail(layer, "expected positive in_channels and out_channels, got " + std::to_string(in_channels) + " and " +
                    std::to_string(out_channels) + ".");
  }
  if (groups <= 0) fail(layer, "expected a positive number of groups, got " + std::to_string(groups) + ".");
  if (in_channels % groups != 0 || out_channels % groups != 0) {
    fail(layer, "expected in_channels and out_channels divisible by groups, got " + std::to_string(in_channels) +
                    ", " + std::to_string(out_channels) + " and groups=" + std::to_string(groups) + ".");
  }
}

// Every entry at least `min`.
void check_min(const char* layer, const char* arg, const std::vector<int>& v, int min) {
  for (int x : v) {
    if (x < min) {
      fail(layer, std::string("expected ") + arg + (min == 0 ? " to be non-negative" : " to be positive") + ", got " +
                      detail::py_tuple(v) + ".");
    }
  }
}

// The common checks of the N-D layers; returns the expanded kernel size.
std::vector<int> check_kernel(const char* layer, const IntOrTuple& kernel_size, int n) {
  auto k = kernel_size.expand(n, layer, "kernel_size");
  check_min(layer, "kernel_size", k, 1);
  return k;
}

array init_weight(int out_channels, const std::vector<int>& kernel, int in_per_group) {
  double fan_in = in_per_group;
  Shape shape{out_channels};
  for (int k : kernel) {
    fan_in *= k;
    shape.push_back(k);
  }
  shape.push_back(in_per_group);
  double scale = std::sqrt(1.0 / fan_in);
  return random::uniform(-scale, scale, shape);
}

// x must be (N, *spatial, C) with `spatial` dims and C = weight.shape[-1] * groups.
void check_input(const char* layer, const array& x, const array& w, int spatial, int groups) {
  int want_c = w.ndim() > 0 ? w.shape(-1) * groups : -1;
  if (static_cast<int>(x.ndim()) != spatial + 2 || x.shape(-1) != want_c) {
    static const char* layouts[] = {"", "(N, L, ", "(N, H, W, ", "(N, D, H, W, "};
    fail(layer, std::string("expected an input of shape ") + layouts[spatial] + std::to_string(want_c) + "), got " +
                    mica::detail::shape_str(x.shape()) + ".");
  }
}

std::pair<int, int> p2(const std::vector<int>& v) { return {v[0], v[1]}; }
std::tuple<int, int, int> p3(const std::vector<int>& v) { return {v[0], v[1], v[2]}; }

// "kernel_size=(a, b)" from dims 1..n of the weight.
std::string kernel_repr(const array& w, int n) {
  std::vector<int> k;
  for (int i = 1; i <= n && i < static_cast<int>(w.ndim()); ++i) k.push_back(w.shape(i));
  return detail::py_tuple(k);
}

void add_bias(const Param& bias, array& y) {
  if (bias) y = add(y, bias.get());
}

// Dim i of the weight (negative counts from the end) times `mul`, or "?" if the weight has
// been replaced by one of another rank.
std::string wdim(const array& w, int i, int mul = 1) {
  int nd = static_cast<int>(w.ndim());
  if (i < 0) i += nd;
  if (i < 0 || i >= nd) return "?";
  return std::to_string(w.shape(i) * mul);
}

}  // namespace

// -- Conv1d -----------------------------------------------------------------------------------

Conv1d::Conv1d(int in_channels, int out_channels, int kernel_size, const Conv1dOptions& o)
    : stride_(o.stride), padding_(o.padding), dilation_(o.dilation), groups_(o.groups) {
  check_channels("Conv1d", in_channels, out_channels, o.groups);
  check_min("Conv1d", "kernel_size", {kernel_size}, 1);
  check_min("Conv1d", "stride", {o.stride}, 1);
  check_min("Conv1d", "padding", {o.padding}, 0);
  check_min("Conv1d", "dilation", {o.dilation}, 1);
  weight = init_weight(out_channels, {kernel_size}, in_channels / o.groups);
  if (o.bias) bias = zeros({out_channels});
}

std::string Conv1d::extra_repr() const {
  array w = weight.get();
  return wdim(w, -1, groups_) + ", " + wdim(w, 0) +
         ", kernel_size=" + wdim(w, 1) + ", stride=" + std::to_string(stride_) +
         ", padding=" + std::to_string(padding_) + ", dilation=" + std::to_string(dilation_) +
         ", groups=" + std::to_string(groups_) + ", bias=" + detail::py_bool(bool(bias));
}

array Conv1d::operator()(const array& x) {
  array w = weight.get();
  check_input("Conv1d", x, w, 1, groups_);
  array y = conv1d(x, w, stride_, padding_, dilation_, groups_);
  add_bias(bias, y);
  return y;
}

// -- Conv2d -----------------------------------------------------------------------------------

Conv2d::Conv2d(int in_channels, int out_channels, const IntOrTuple& kernel_size, const Conv2dOptions& o)
    : dilation_arg_(o.dilation), groups_(o.groups) {
  check_channels("Conv2d", in_channels, out_channels, o.groups);
  auto k = check_kernel("Conv2d", kernel_size, 2);
  stride_ = o.stride.expand(2, "Conv2d", "stride");
  padding_ = o.padding.expand(2, "Conv2d", "padding");
  dilation_ = o.dilation.expand(2, "Conv2d", "dilation");
  check_min("Conv2d", "stride", stride_, 1);
  check_min("Conv2d", "padding", padding_, 0);
  check_min("Conv2d", "dilation", dilation_, 1);
  weight = init_weight(out_channels, k, in_channels / o.groups);
  if (o.bias) bias = zeros({out_channels});
}

std::string Conv2d::extra_repr() const {
  array w = weight.get();
  return wdim(w, -1, groups_) + ", " + wdim(w, 0) +
         ", kernel_size=" + kernel_repr(w, 2) + ", stride=" + detail::py_tuple(stride_) +
         ", padding=" + detail::py_tuple(padding_) + ", dilation=" + dilation_arg_.repr() +
         ", groups=" + std::to_string(groups_) + ", bias=" + detail::py_bool(bool(bias));
}

array Conv2d::operator()(const array& x) {
  array w = weight.get();
  check_input("Conv2d", x, w, 2, groups_);
  array y = conv2d(x, w, p2(stride_), p2(padding_), p2(dilation_), groups_);
  add_bias(bias, y);
  return y;
}

// -- Conv3d -----------------------------------------------------------------------------------

Conv3d::Conv3d(int in_channels, int out_channels, const IntOrTuple& kernel_size, const Conv3dOptions& o)
    : dilation_arg_(o.dilation) {
  check_channels("Conv3d", in_channels, out_channels, 1);
  auto k = check_kernel("Conv3d", kernel_size, 3);
  stride_ = o.stride.expand(3, "Conv3d", "stride");
  padding_ = o.padding.expand(3, "Conv3d", "padding");
  dilation_ = o.dilation.expand(3, "Conv3d", "dilation");
  check_min("Conv3d", "stride", stride_, 1);
  check_min("Conv3d", "padding", padding_, 0);
  check_min("Conv3d", "dilation", dilation_, 1);
  weight = init_weight(out_channels, k, in_channels);
  if (o.bias) bias = zeros({out_channels});
}

std::string Conv3d::extra_repr() const {
  array w = weight.get();
  return wdim(w, -1) + ", " + wdim(w, 0) + ", kernel_size=" + kernel_repr(w, 3) +
         ", stride=" + detail::py_tuple(stride_) + ", padding=" + detail::py_tuple(padding_) +
         ", dilation=" + dilation_arg_.repr() + ", bias=" + detail::py_bool(bool(bias));
}

array Conv3d::operator()(const array& x) {
  array w = weight.get();
  check_input("Conv3d", x, w, 3, 1);
  array y = conv3d(x, w, p3(stride_), p3(padding_), p3(dilation_));
  add_bias(bias, y);
  return y;
}

// -- ConvTranspose1d --------------------------------------------------------------------------

ConvTranspose1d::ConvTranspose1d(int in_channels, int out_channels, int kernel_size, const ConvTranspose1dOptions& o)
    : stride_(o.stride), padding_(o.padding), dilation_(o.dilation), output_padding_(o.output_padding) {
  check_channels("ConvTranspose1d", in_channels, out_channels, 1);
  check_min("ConvTranspose1d", "kernel_size", {kernel_size}, 1);
  check_min("ConvTranspose1d", "stride", {o.stride}, 1);
  check_min("ConvTranspose1d", "padding", {o.padding}, 0);
  check_min("ConvTranspose1d", "dilation", {o.dilation}, 1);
  check_min("ConvTranspose1d", "output_padding", {o.output_padding}, 0);
  weight = init_weight(out_channels, {kernel_size}, in_channels);
  if (o.bias) bias = zeros({out_channels});
}

std::string ConvTranspose1d::extra_repr() const {
  array w = weight.get();
  return wdim(w, -1) + ", " + wdim(w, 0) +
         ", kernel_size=" + wdim(w, 1) + ", stride=" + std::to_string(stride_) +
         ", padding=" + std::to_string(padding_) + ", dilation=" + std::to_string(dilation_) +
         ", output_padding=" + std::to_string(output_padding_) + ", bias=" + detail::py_bool(bool(bias));
}

array ConvTranspose1d::operator()(const array& x) {
  array w = weight.get();
  check_input("ConvTranspose1d", x, w, 1, 1);
  array y = conv_transpose1d(x, w, stride_, padding_, dilation_, output_padding_);
  add_bias(bias, y);
  return y;
}

// -- ConvTranspose2d / 3d ---------------------------------------------------------------------

namespace {
// The shared constructor work of the N-D transposed layers.
void init_transpose(Param& weight, Param& bias, const char* layer, int n, int in_channels, int out_channels,
                    const IntOrTuple& kernel_size, const ConvTransposeOptions& o, std::vector<int>& stride,
                    std::vector<int>& padding, std::vector<int>& dilation, std::vector<int>& output_padding) {
  check_channels(layer, in_channels, out_channels, 1);
  auto k = check_kernel(layer, kernel_size, n);
  stride = o.stride.expand(n, layer, "stride");
  padding = o.padding.expand(n, layer, "padding");
  dilation = o.dilation.expand(n, layer, "dilation");
  output_padding = o.output_padding.expand(n, layer, "output_padding");
  check_min(layer, "stride", stride, 1);
  check_min(layer, "padding", padding, 0);
  check_min(layer, "dilation", dilation, 1);
  check_min(layer, "output_padding", output_padding, 0);
  weight = init_weight(out_channels, k, in_channels);
  if (o.bias) bias = zeros({out_channels});
}

std::string transpose_repr(const Param& weight, const Param& bias, int n, const std::vector<int>& stride, const std::vector<int>& padding,
                           const IntOrTuple& dilation, const std::vector<int>& output_padding) {
  array w = weight;
  return wdim(w, -1) + ", " + wdim(w, 0) + ", kernel_size=" + kernel_repr(w, n) +
         ", stride=" + detail::py_tuple(stride) + ", padding=" + detail::py_tuple(padding) +
         ", dilation=" + dilation.repr() + ", output_padding=" + detail::py_tuple(output_padding) +
         ", bias=" + detail::py_bool(bool(bias));
}
}  // namespace

ConvTranspose2d::ConvTranspose2d(int in_channels, int out_channels, const IntOrTuple& kernel_size,
                                 const ConvTransposeOptions& o)
    : dilation_arg_(o.dilation) {
  init_transpose(weight, bias, "ConvTranspose2d", 2, in_channels, out_channels, kernel_size, o, stride_, padding_, dilation_,
                 output_padding_);
}

std::string ConvTranspose2d::extra_repr() const {
  return transpose_repr(weight, bias, 2, stride_, padding_, dilation_arg_, output_padding_);
}

array ConvTranspose2d::operator()(const array& x) {
  array w = weight.get();
  check_input("ConvTranspose2d", x, w, 2, 1);
  array y = conv_transpose2d(x, w, p2(stride_), p2(padding_), p2(dilation_), p2(output_padding_));
  add_bias(bias, y);
  return y;
}

ConvTranspose3d::ConvTranspose3d(int in_channels, int out_channels, const IntOrTuple& kernel_size,
                                 const ConvTransposeOptions& o)
    : dilation_arg_(o.dilation) {
  init_transpose(weight, bias, "ConvTranspose3d", 3, in_channels, out_channels, kernel_size, o, stride_, padding_, dilation_,
                 output_padding_);
}

std::string ConvTranspose3d::extra_repr() const {
  return transpose_repr(weight, bias, 3, stride_, padding_, dilation_arg_, output_padding_);
}

array ConvTranspose3d::operator()(const array& x) {
  array w = weight.get();
  check_input("ConvTranspose3d", x, w, 3, 1);
  array y = conv_transpose3d(x, w, p3(stride_), p3(padding_), p3(dilation_), p3(output_padding_));
  add_bias(bias, y);
  return y;
}

}  // namespace mica::nn
