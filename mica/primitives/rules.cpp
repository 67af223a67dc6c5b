#include "mica/primitives/rules.h"

#include <algorithm>
#include <stdexcept>

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

int batch_size(const std::vector<array>& inputs, const std::vector<int>& axes) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (axes[i] >= 0) return inputs[i].shape(axes[i]);
  }
  throw std::logic_error("[vmap] a rule was called without a batched input.");
}

array batched_front(const array& x, int ax, int b) {
  if (ax >= 0) return batch_to_front(x, ax);
  Shape s = x.shape();
  s.insert(s.begin(), b);
  return broadcast_to(expand_dims(x, 0), s);
}

const array* tangent_of(const std::vector<array>& tangents, const std::vector<int>& argnums, int i) {
  for (size_t k = 0; k < argnums.size(); ++k) {
    if (argnums[k] == i) return &tangents[k];
  }
  return nullptr;
}

array tangent_or_zeros(const std::vector<array>& primals, const std::vector<array>& tangents,
                       const std::vector<int>& argnums, int i, Dtype d) {
  const array* t = tangent_of(tangents, argnums, i);
  if (!t) return detail::zeros_view(primals[i].shape(), d);
  return t->dtype() == d ? *t : astype(*t, d);
}

std::vector<int> shifted(const std::vector<int>& axes, int by) {
  std::vector<int> r;
  for (int a : axes) r.push_back(a + by);
  return r;
}

}  // namespace mica::detail
