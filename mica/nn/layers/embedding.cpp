// Embedding: its weight member reads the state on every use.
#include "mica/nn/layers/embedding.h"

#include <cmath>
#include <stdexcept>

#include "mica/ops.h"
#include "mica/random.h"

namespace mica::nn {

Embedding::Embedding(int num_embeddings, int dims) {
  if (num_embeddings <= 0 || dims <= 0) {
    throw std::invalid_argument("[Embedding] expected positive num_embeddings and dims, got " +
                                std::to_string(num_embeddings) + " and " + std::to_string(dims) + ".");
  }
  float scale = static_cast<float>(std::sqrt(1.0 / dims));
  weight = random::normal({num_embeddings, dims}, 0.0f, scale);
}

std::string Embedding::extra_repr() const {
  const array w = weight;
  if (w.ndim() != 2) return "?";
  return std::to_string(w.shape(0)) + ", " + std::to_string(w.shape(1));
}

array Embedding::operator()(const array& x) {
  if (!is_integral(x.dtype()) || x.dtype() == bool_) {
    throw std::invalid_argument("[Embedding] expected integer indices, got dtype " + dtype_to_string(x.dtype()) +
                                ".");
  }
  return take(weight, x, 0);
}

array Embedding::as_linear(const array& x) const {
  array w = weight;
  if (x.ndim() == 0 || w.ndim() != 2 || x.shape(-1) != w.shape(1)) {
    throw std::invalid_argument("[Embedding] expected as_linear input of shape (..., " +
                                (w.ndim() == 2 ? std::to_string(w.shape(1)) : std::string("?")) + "), got " +
                                mica::detail::shape_str(x.shape()) + ".");
  }
  return matmul(x, transpose(w));
}

}  // namespace mica::nn
