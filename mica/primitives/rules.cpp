#include "mica/primitives/rules.h"

#include <algorithm>

#include "mica/ops.h"

namespace mica::detail {

array unbroadcast(const array& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  int lead = g.ndim() - static_cast<int>(shape.size());
  std::vector<int> axes;
  for (int i = 0; i < g.ndim(); ++i) {
    if (i < lead || (shape[i - lead] == 1 && g.shape(i) != 1)) axes.push_back(i);
  }
  array r = axes.empty() ? g : sum(g, axes, /*keepdims=*/true);
  return reshape(r, shape);
}

array batch_to_front(const array& x, int ax) { return ax <= 0 ? x : moveaxis(x, ax, 0); }

std::vector<array> align_batched(const std::vector<array>& inputs, const std::vector<int>& axes) {
  int rank = 0;
  for (size_t i = 0; i < inputs.size(); ++i) rank = std::max(rank, static_cast<int>(inputs[i].ndim()) - (axes[i] >= 0 ? 1 : 0));
  std::vector<array> out;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (axes[i] < 0) {
      out.push_back(inputs[i]);
      continue;
    }
    array x = batch_to_front(inputs[i], axes[i]);
    int missing = rank - (static_cast<int>(x.ndim()) - 1);
    if (missing > 0) {
      std::vector<int> new_axes(missing);
      for (int k = 0; k < missing; ++k) new_axes[k] = 1 + k;
      x = expand_dims(x, new_axes);
    }
    out.push_back(std::move(x));
  }
  return out;
}

}  // namespace mica::detail
