// Embedding, as MLX's mlx.nn.Embedding.
#pragma once
#include <string>

#include "mica/nn/member.h"

namespace mica::nn {

/** A lookup table of num_embeddings vectors of size dims: weight (num_embeddings, dims),
 *  initialized N(0, 1/sqrt(dims)) (standard deviation) as MLX. */
class Embedding : public Module {
 public:
  /** A table of num_embeddings rows of dims features. */
  Embedding(int num_embeddings, int dims);
  /** "Embedding". */
  std::string name() const override { return "Embedding"; }
  /** `<num_embeddings>, <dims>`, from the current weight. */
  std::string extra_repr() const override;
  /** Integer indices x (any shape) -> weight rows: shape x.shape + (dims,). */
  array operator()(const array& x) override;
  /** x @ weight^T: (..., dims) -> (..., num_embeddings), for tied input/output embeddings. */
  array as_linear(const array& x) const;

  Param weight{this, "weight"};  // (num_embeddings, dims)
};

}  // namespace mica::nn
