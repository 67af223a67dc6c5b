// Sequential: the layers are read from the state on every call, so update_modules() can swap
// one (say a Linear for a LoRA layer) and the next call uses it.
#include "mica/nn/layers/containers.h"

namespace mica::nn {

Sequential::Sequential(std::vector<std::shared_ptr<Module>> layers) {
  Tree::List list;
  list.reserve(layers.size());
  for (std::size_t i = 0; i < layers.size(); ++i) {
    if (!layers[i]) {
      throw std::invalid_argument("[Sequential] expected modules, got a null pointer at position " + std::to_string(i) +
                                  ".");
    }
    list.emplace_back(std::move(layers[i]));
  }
  set("layers", Tree(std::move(list)));
}

array Sequential::operator()(const array& x) {
  array y = x;
  for (auto& layer : (*this)["layers"].as_list()) y = layer.as_module()(y);
  return y;
}

}  // namespace mica::nn
