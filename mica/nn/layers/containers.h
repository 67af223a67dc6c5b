// Containers of layers, as MLX's mlx.nn.Sequential.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "mica/nn/module.h"

namespace mica::nn {

/** Calls its layers in order; the state holds them as the list `layers` (MLX's layout). */
class Sequential : public Module {
 public:
  /** A Sequential over the given layers (none of them may be null). */
  explicit Sequential(std::vector<std::shared_ptr<Module>> layers);
  /** Sequential(make_shared<Linear>(4, 8), make_shared<ReLU>(), ...). */
  template <class... Ms>
  explicit Sequential(std::shared_ptr<Ms>... layers)
      : Sequential(std::vector<std::shared_ptr<Module>>{std::shared_ptr<Module>(std::move(layers))...}) {}
  /** "Sequential". */
  std::string name() const override { return "Sequential"; }
  /** Applies each layer of `layers` in turn. */
  array operator()(const array& x) override;
};

}  // namespace mica::nn
