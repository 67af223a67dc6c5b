// Semantics of the random family: RandomBits' transform rules, equivalence and printing.
#include "mica/primitives/random.h"

#include "mica/ops/creation.h"
#include "mica/ops/movement.h"
#include "mica/ops/utils.h"

namespace mica {

// The bits are integers, so they carry no gradient: zero cotangents for the keys and a zero
// tangent for the bits. (MLX raises "not implemented" here; zeros are mica's rule for every
// integer output and let a function that draws from a traced key still be differentiated.)
std::vector<array> RandomBits::vjp(const std::vector<array>& primals, const std::vector<array>&,
                                   const std::vector<int>& argnums, const std::vector<array>&) {
  std::vector<array> r;
  for (size_t k = 0; k < argnums.size(); ++k) r.push_back(detail::zeros_like_view(primals[argnums[k]]));
  return r;
}

std::vector<array> RandomBits::jvp(const std::vector<array>& primals, const std::vector<array>&,
                                   const std::vector<int>&) {
  const array& keys = primals[0];
  Shape out_shape(keys.shape().begin(), keys.shape().end() - 1);
  out_shape.insert(out_shape.end(), shape_.begin(), shape_.end());
  return {detail::zeros_view(out_shape, width_ == 1 ? uint8 : width_ == 2 ? uint16 : uint32)};
}

std::pair<std::vector<array>, std::vector<int>> RandomBits::vmap(const std::vector<array>& inputs,
                                                                 const std::vector<int>& axes) {
  const array& keys = inputs[0];
  int ax = axes.empty() ? -1 : axes[0];
  Dtype dt = width_ == 1 ? uint8 : width_ == 2 ? uint16 : uint32;
  auto node = [&](const array& k) {
    Shape out_shape(k.shape().begin(), k.shape().end() - 1);
    out_shape.insert(out_shape.end(), shape_.begin(), shape_.end());
    return array(out_shape, dt, std::make_shared<RandomBits>(stream(), shape_, width_), {k});
  };
  // Unbatched key: every batch member draws the same bits. Batched: the batch axis (any
  // position) moves to the front, leaving the key pairs on the last axis.
  if (ax < 0) return {{node(keys)}, {-1}};
  return {{node(ax == 0 ? keys : moveaxis(keys, ax, 0, stream()))}, {0}};
}

bool RandomBits::is_equivalent(const Primitive& other) const {
  auto* p = dynamic_cast<const RandomBits*>(&other);
  return p && p->shape_ == shape_ && p->width_ == width_;
}

void RandomBits::print(std::ostream& os) {
  os << "RandomBits(shape=" << detail::shape_str(shape_) << ", width=" << width_ << ")";
}

}  // namespace mica
