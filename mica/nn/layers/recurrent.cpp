// Recurrent layers: the input projection of all steps is one matmul; the loop over the
// sequence then adds the hidden projection step by step.
#include "mica/nn/layers/recurrent.h"

#include <cmath>
#include <stdexcept>
#include <vector>

#include "mica/nn/activations.h"
#include "mica/ops.h"
#include "mica/random.h"

namespace mica::nn {

namespace {

std::string py_bool(bool b) { return b ? "True" : "False"; }

void check_sizes(const char* op, int input_size, int hidden_size) {
  if (input_size < 1 || hidden_size < 1) {
    throw std::invalid_argument(std::string("[") + op + "] expected positive input_size and hidden_size, got " +
                                std::to_string(input_size) + " and " + std::to_string(hidden_size) + ".");
  }
}

array init_uniform(int hidden_size, Shape shape) {
  double scale = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  return random::uniform(-scale, scale, shape);
}

// x must be (N, L, D) or (L, D) with D the input size of the weight (rows: gates, cols: D).
void check_input(const char* op, const array& x, const array& wx) {
  if (x.ndim() != 2 && x.ndim() != 3) {
    throw std::invalid_argument(std::string("[") + op + "] expected an input of shape (N, L, D) or (L, D), got " +
                                mica::detail::shape_str(x.shape()) + ".");
  }
  if (wx.ndim() == 2 && x.shape(-1) != wx.shape(1)) {
    throw std::invalid_argument(std::string("[") + op + "] expected inputs with " + std::to_string(wx.shape(1)) +
                                " features, got " + mica::detail::shape_str(x.shape()) + ".");
  }
}

// A state (hidden or cell) must broadcast to the batch shape of x followed by H.
void check_state(const char* op, const char* what, const array& state, const array& x, int hidden_size) {
  Shape want(x.shape().begin(), x.shape().end() - 2);
  want.push_back(hidden_size);
  bool ok = state.ndim() >= 1 && state.ndim() <= want.size();
  for (size_t i = 0; ok && i < state.ndim(); ++i) {
    int s = state.shape()[state.ndim() - 1 - i];
    int w = want[want.size() - 1 - i];
    ok = s == w || (s == 1 && i > 0);
  }
  if (!ok) {
    throw std::invalid_argument(std::string("[") + op + "] expected a " + what + " state of shape " +
                                mica::detail::shape_str(want) + ", got " + mica::detail::shape_str(state.shape()) +
                                ".");
  }
}

// Step t of a projected sequence (..., L, F): (..., F).
array step_of(const array& x, int t) {
  Shape b(x.ndim(), 0), e = x.shape();
  b[x.ndim() - 2] = t;
  e[x.ndim() - 2] = t + 1;
  return squeeze(slice(x, b, e), static_cast<int>(x.ndim()) - 2);
}

// Features [lo, hi) of the last axis.
array features(const array& x, int lo, int hi) {
  Shape b(x.ndim(), 0), e = x.shape();
  b.back() = lo;
  e.back() = hi;
  return slice(x, b, e);
}

// x W^T (+ bias) over the last axis of x.
array project(const array& x, const array& w, const std::optional<array>& bias) {
  if (bias) return addmm(*bias, x, transpose(w));
  return matmul(x, transpose(w));
}

// Stacks the per-step states along the sequence axis; an empty sequence gives (..., 0, H).
array stack_steps(const std::vector<array>& steps, const array& projected, int hidden_size) {
  if (steps.empty()) {
    Shape s = projected.shape();
    s.back() = hidden_size;
    return zeros(s, projected.dtype());
  }
  return stack(steps, -2);
}

}  // namespace

// -- RNN --------------------------------------------------------------------------------------

RNN::RNN(int input_size, int hidden_size, const RNNOptions& options)
    : hidden_size_(hidden_size),
      nonlinearity_(options.nonlinearity ? options.nonlinearity : std::function<array(const array&)>(nn::tanh)),
      custom_nonlinearity_(static_cast<bool>(options.nonlinearity)) {
  check_sizes("RNN", input_size, hidden_size);
  Wxh = init_uniform(hidden_size, {hidden_size, input_size});
  Whh = init_uniform(hidden_size, {hidden_size, hidden_size});
  if (options.bias) bias = init_uniform(hidden_size, {hidden_size});
}

std::string RNN::extra_repr() const {
  array w = Wxh.get();
  return "input_dims=" + std::to_string(w.ndim() == 2 ? w.shape(1) : 0) +
         ", hidden_size=" + std::to_string(hidden_size_) +
         ", nonlinearity=" + (custom_nonlinearity_ ? "<function>" : "tanh") + ", bias=" + py_bool(bool(bias));
}

array RNN::operator()(const array& x, const std::optional<array>& hidden) {
  array wxh = Wxh.get();
  array whh = Whh.get();
  check_input("RNN", x, wxh);
  if (hidden) check_state("RNN", "hidden", *hidden, x, hidden_size_);
  array proj = project(x, wxh, bias.maybe());
  array whh_t = transpose(whh);
  std::optional<array> h = hidden;
  std::vector<array> steps;
  int length = x.shape(-2);
  for (int t = 0; t < length; ++t) {
    array pre = h ? addmm(step_of(proj, t), *h, whh_t) : step_of(proj, t);
    h = nonlinearity_(pre);
    steps.push_back(*h);
  }
  return stack_steps(steps, proj, hidden_size_);
}

// -- GRU --------------------------------------------------------------------------------------

GRU::GRU(int input_size, int hidden_size, bool with_bias) : hidden_size_(hidden_size) {
  check_sizes("GRU", input_size, hidden_size);
  Wx = init_uniform(hidden_size, {3 * hidden_size, input_size});
  Wh = init_uniform(hidden_size, {3 * hidden_size, hidden_size});
  if (with_bias) {
    b = init_uniform(hidden_size, {3 * hidden_size});
    bhn = init_uniform(hidden_size, {hidden_size});
  }
}

std::string GRU::extra_repr() const {
  array w = Wx.get();
  return "input_dims=" + std::to_string(w.ndim() == 2 ? w.shape(1) : 0) +
         ", hidden_size=" + std::to_string(hidden_size_) + ", bias=" + py_bool(bool(b));
}

array GRU::operator()(const array& x, const std::optional<array>& hidden) {
  array wx = Wx.get();
  array wh_t = transpose(Wh.get());
  const std::optional<array> bias_hn = bhn.maybe();
  check_input("GRU", x, wx);
  if (hidden) check_state("GRU", "hidden", *hidden, x, hidden_size_);
  const int hs = hidden_size_;
  array proj = project(x, wx, b.maybe());  // (..., L, 3H): r, z, n
  array proj_rz = features(proj, 0, 2 * hs);
  array proj_n = features(proj, 2 * hs, 3 * hs);
  std::optional<array> h = hidden;
  std::vector<array> steps;
  int length = x.shape(-2);
  array one(1.0, proj.dtype());
  for (int t = 0; t < length; ++t) {
    array rz = step_of(proj_rz, t);
    array n = step_of(proj_n, t);
    std::optional<array> h_n;  // the hidden projection of the n gate (+ bhn)
    if (h) {
      array hp = matmul(*h, wh_t);
      rz = add(rz, features(hp, 0, 2 * hs));
      h_n = features(hp, 2 * hs, 3 * hs);
      if (bias_hn) h_n = add(*h_n, *bias_hn);
    }
    rz = mica::sigmoid(rz);
    array r = features(rz, 0, hs);
    array z = features(rz, hs, 2 * hs);
    if (h_n) {
      n = add(n, multiply(r, *h_n));
    } else if (bias_hn) {
      n = add(n, multiply(r, *bias_hn));
    }
    n = mica::tanh(n);
    array next = multiply(subtract(one, z), n);
    if (h) next = add(next, multiply(z, *h));
    h = next;
    steps.push_back(next);
  }
  return stack_steps(steps, proj, hs);
}

// -- LSTM -------------------------------------------------------------------------------------

LSTM::LSTM(int input_size, int hidden_size, bool with_bias) : hidden_size_(hidden_size) {
  check_sizes("LSTM", input_size, hidden_size);
  Wx = init_uniform(hidden_size, {4 * hidden_size, input_size});
  Wh = init_uniform(hidden_size, {4 * hidden_size, hidden_size});
  if (with_bias) bias = init_uniform(hidden_size, {4 * hidden_size});
}

std::string LSTM::extra_repr() const {
  array w = Wx.get();
  return "input_dims=" + std::to_string(w.ndim() == 2 ? w.shape(1) : 0) +
         ", hidden_size=" + std::to_string(hidden_size_) + ", bias=" + py_bool(bool(bias));
}

std::pair<array, array> LSTM::operator()(const array& x, const std::optional<array>& hidden,
                                         const std::optional<array>& cell) {
  array wx = Wx.get();
  array wh_t = transpose(Wh.get());
  check_input("LSTM", x, wx);
  if (hidden) check_state("LSTM", "hidden", *hidden, x, hidden_size_);
  if (cell) check_state("LSTM", "cell", *cell, x, hidden_size_);
  const int hs = hidden_size_;
  array proj = project(x, wx, bias.maybe());  // (..., L, 4H): i, f, g, o
  std::optional<array> h = hidden;
  std::optional<array> c = cell;
  std::vector<array> hs_steps, cs_steps;
  int length = x.shape(-2);
  for (int t = 0; t < length; ++t) {
    array ifgo = step_of(proj, t);
    if (h) ifgo = addmm(ifgo, *h, wh_t);
    array i = mica::sigmoid(features(ifgo, 0, hs));
    array f = mica::sigmoid(features(ifgo, hs, 2 * hs));
    array g = mica::tanh(features(ifgo, 2 * hs, 3 * hs));
    array o = mica::sigmoid(features(ifgo, 3 * hs, 4 * hs));
    c = c ? add(multiply(f, *c), multiply(i, g)) : multiply(i, g);
    h = multiply(o, mica::tanh(*c));
    hs_steps.push_back(*h);
    cs_steps.push_back(*c);
  }
  return {stack_steps(hs_steps, proj, hs), stack_steps(cs_steps, proj, hs)};
}

}  // namespace mica::nn
