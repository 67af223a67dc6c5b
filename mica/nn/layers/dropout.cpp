// Dropout layers: a Bernoulli keep-mask (of the input's shape, or with the spatial axes set to
// 1 for the channel variants) times x, scaled by 1 / (1 - p).
#include "mica/nn/layers/dropout.h"

#include <stdexcept>

#include "mica/nn/layers/layer_args.h"
#include "mica/ops.h"
#include "mica/random.h"

namespace mica::nn {

namespace {

double keep_probability(double p, const char* layer) {
  if (!(p >= 0.0 && p < 1.0)) {
    throw std::invalid_argument(std::string("[") + layer + "] expected a dropout probability in [0, 1), got " +
                                detail::py_float(p) + ".");
  }
  return 1.0 - p;
}

// mask_shape: x's shape with the `spatial` axes before the last set to 1.
array drop(const array& x, double p_1, int spatial) {
  Shape mask_shape = x.shape();
  for (int i = 0; i < spatial; ++i) mask_shape[mask_shape.size() - 2 - i] = 1;
  array mask = random::bernoulli(static_cast<float>(p_1), mask_shape);
  return multiply(mask, x) * (1.0 / p_1);
}

void check_ndim(const array& x, int lo, const char* layer) {
  int nd = static_cast<int>(x.ndim());
  if (nd != lo && nd != lo + 1) {
    throw std::invalid_argument(std::string("[") + layer + "] expected an input with " + std::to_string(lo) + " or " +
                                std::to_string(lo + 1) + " dimensions, got " + std::to_string(nd) + ".");
  }
}

}  // namespace

Dropout::Dropout(double p) : p_1_(keep_probability(p, "Dropout")) {}

std::string Dropout::extra_repr() const { return "p=" + detail::py_float(1.0 - p_1_); }

array Dropout::operator()(const array& x) {
  if (p_1_ == 1.0 || !training()) return x;
  return drop(x, p_1_, 0);
}

Dropout2d::Dropout2d(double p) : p_1_(keep_probability(p, "Dropout2d")) {}

std::string Dropout2d::extra_repr() const { return "p=" + detail::py_float(1.0 - p_1_); }

array Dropout2d::operator()(const array& x) {
  check_ndim(x, 3, "Dropout2d");
  if (p_1_ == 1.0 || !training()) return x;
  return drop(x, p_1_, 2);
}

Dropout3d::Dropout3d(double p) : p_1_(keep_probability(p, "Dropout3d")) {}

std::string Dropout3d::extra_repr() const { return "p=" + detail::py_float(1.0 - p_1_); }

array Dropout3d::operator()(const array& x) {
  check_ndim(x, 4, "Dropout3d");
  if (p_1_ == 1.0 || !training()) return x;
  return drop(x, p_1_, 3);
}

}  // namespace mica::nn
