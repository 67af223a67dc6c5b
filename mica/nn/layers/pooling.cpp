// Pooling: pad, view the input as sliding windows (a reshape + transpose when the windows tile
// the input exactly, as_strided otherwise), then max or mean over the window axes.
#include "mica/nn/layers/pooling.h"

#include <limits>
#include <stdexcept>

#include "mica/ops.h"

namespace mica::nn {

namespace {
[[noreturn]] void fail(const char* layer, const std::string& msg) {
  throw std::invalid_argument(std::string("[") + layer + "] " + msg);
}

void check_positive(const char* layer, const char* arg, const std::vector<int>& v, int min) {
  for (int x : v) {
    if (x < min) {
      fail(layer, std::string("expected ") + arg + (min == 0 ? " to be non-negative" : " to be positive") + ", got " +
                      detail::py_tuple(v) + ".");
    }
  }
}
// The padding of max pooling: a value no element can lose to (-inf, or the integer minimum).
array lowest(Dtype d) {
  if (d == bool_) return array(false);
  if (is_inexact(d)) return array(-std::numeric_limits<double>::infinity(), d);
  return astype(array(iinfo(d).min), d);
}
}  // namespace

Pool::Pool(const char* layer, int dims, bool is_max, const IntOrTuple& kernel_size, const PoolOptions& options)
    : layer_(layer), is_max_(is_max) {
  if (kernel_size.is_none()) fail(layer, "expected kernel_size to be an integer or a tuple, got None.");
  kernel_ = kernel_size.expand(dims, layer, "kernel_size");
  stride_ = options.stride.is_none() ? kernel_ : options.stride.expand(dims, layer, "stride");
  if (options.padding.is_none()) fail(layer, "expected padding to be an integer or a tuple, got None.");
  padding_ = options.padding.expand(dims, layer, "padding");
  check_positive(layer, "kernel_size", kernel_, 1);
  check_positive(layer, "stride", stride_, 1);
  check_positive(layer, "padding", padding_, 0);
}

std::string Pool::extra_repr() const {
  return "kernel_size=" + detail::py_tuple(kernel_) + ", stride=" + detail::py_tuple(stride_) +
         ", padding=" + detail::py_tuple(padding_);
}

array Pool::operator()(const array& x) {
  const int dims = static_cast<int>(kernel_.size());
  if (static_cast<int>(x.ndim()) != dims + 2) {
    static const char* layouts[] = {"", "(N, L, C)", "(N, H, W, C)", "(N, D, H, W, C)"};
    fail(layer_, "expected a " + std::to_string(dims + 2) + "-D input " + layouts[dims] + ", got shape " +
                     mica::detail::shape_str(x.shape()) + ".");
  }
  array y = x;
  bool padded = false;
  for (int p : padding_) padded = padded || p > 0;
  if (padded) {
    std::vector<std::pair<int, int>> widths{{0, 0}};
    for (int p : padding_) widths.emplace_back(p, p);
    widths.emplace_back(0, 0);
    y = pad(y, widths, is_max_ ? lowest(x.dtype()) : array(0.0, x.dtype()));
  }
  const Shape& shape = y.shape();
  bool tiles = true;
  for (int d = 0; d < dims; ++d) {
    int size = shape[1 + d];
    if (size < kernel_[d]) {
      fail(layer_, "expected each padded spatial size to be at least the kernel size " + detail::py_tuple(kernel_) +
                       ", got input of shape " + mica::detail::shape_str(x.shape()) + ".");
    }
    tiles = tiles && kernel_[d] == stride_[d] && size % kernel_[d] == 0;
  }
  // Window axes go right before the channel axis: (N, *out, *kernel, C).
  std::vector<int> axes;
  for (int d = 0; d < dims; ++d) axes.push_back(1 + dims + d);
  if (tiles) {
    // (N, o1, k1, o2, k2, ..., C) -> (N, o1, o2, ..., k1, k2, ..., C).
    Shape split{shape[0]};
    for (int d = 0; d < dims; ++d) {
      split.push_back(shape[1 + d] / kernel_[d]);
      split.push_back(kernel_[d]);
    }
    split.push_back(shape.back());
    std::vector<int> order{0};
    for (int d = 0; d < dims; ++d) order.push_back(1 + 2 * d);
    for (int d = 0; d < dims; ++d) order.push_back(2 + 2 * d);
    order.push_back(2 * dims + 1);
    y = transpose(reshape(y, split), order);
  } else {
    Strides row(shape.size());
    int64_t acc = 1;
    for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
      row[i] = acc;
      acc *= shape[i];
    }
    Shape wshape{shape[0]};
    Strides wstrides{row[0]};
    for (int d = 0; d < dims; ++d) {
      wshape.push_back((shape[1 + d] - kernel_[d]) / stride_[d] + 1);
      wstrides.push_back(row[1 + d] * stride_[d]);
    }
    for (int d = 0; d < dims; ++d) {
      wshape.push_back(kernel_[d]);
      wstrides.push_back(row[1 + d]);
    }
    wshape.push_back(shape.back());
    wstrides.push_back(1);
    y = as_strided(y, wshape, wstrides, 0);
  }
  return is_max_ ? max(y, axes) : mean(y, axes);
}

}  // namespace mica::nn
