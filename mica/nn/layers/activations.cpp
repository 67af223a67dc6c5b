// Activation modules: the out-of-line parts (GELU's choice of approximation, PReLU's weight).
#include "mica/nn/layers/activations.h"

#include <stdexcept>

#include "mica/ops.h"

namespace mica::nn {

GELU::GELU(const std::string& approx) : approx_(approx) {
  if (approx != "none" && approx != "precise" && approx != "tanh" && approx != "fast") {
    throw std::invalid_argument("[GELU] expected approx to be one of 'none', 'precise', 'tanh', 'fast', got '" +
                                approx + "'.");
  }
}

array GELU::operator()(const array& x) {
  if (approx_ == "none") return nn::gelu(x);
  if (approx_ == "fast") return nn::gelu_fast_approx(x);
  return nn::gelu_approx(x);  // "precise" and its PyTorch alias "tanh"
}

PReLU::PReLU(const PReLUOptions& options) {
  if (options.num_parameters < 1) {
    throw std::invalid_argument("[PReLU] expected num_parameters >= 1, got " + std::to_string(options.num_parameters) +
                                ".");
  }
  weight = full({options.num_parameters}, options.init);
}

array PReLU::operator()(const array& x) { return nn::prelu(x, weight.get()); }

}  // namespace mica::nn
