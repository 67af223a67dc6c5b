// Transform rules of the movement family. Most are linear maps, so jvp applies the same map to
// the tangent and vjp its adjoint to the cotangent; vmap moves the batch axis to the front and
// applies the map to the remaining axes.
#include "mica/primitives/movement.h"

#include "mica/ops.h"
#include "mica/primitives/rules.h"

namespace mica {

std::vector<array> Reshape::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                const std::vector<int>&, const std::vector<array>&) {
  return {reshape(cotangents[0], primals[0].shape())};
}
std::vector<array> Reshape::jvp(const std::vector<array>&, const std::vector<array>& tangents,
                                const std::vector<int>&) {
  return {reshape(tangents[0], shape_)};
}
std::pair<std::vector<array>, std::vector<int>> Reshape::vmap(const std::vector<array>& inputs,
                                                              const std::vector<int>& axes) {
  array x = detail::batch_to_front(inputs[0], axes[0]);
  Shape s = shape_;
  s.insert(s.begin(), x.shape(0));
  return {{reshape(x, s)}, {0}};
}

std::vector<array> Transpose::vjp(const std::vector<array>&, const std::vector<array>& cotangents,
                                  const std::vector<int>&, const std::vector<array>&) {
  std::vector<int> inverse(axes_.size());
  for (size_t i = 0; i < axes_.size(); ++i) inverse[axes_[i]] = static_cast<int>(i);
  return {transpose(cotangents[0], inverse)};
}
std::vector<array> Transpose::jvp(const std::vector<array>&, const std::vector<array>& tangents,
                                  const std::vector<int>&) {
  return {transpose(tangents[0], axes_)};
}
std::pair<std::vector<array>, std::vector<int>> Transpose::vmap(const std::vector<array>& inputs,
                                                                const std::vector<int>& axes) {
  array x = detail::batch_to_front(inputs[0], axes[0]);
  std::vector<int> perm = {0};
  for (int a : axes_) perm.push_back(a + 1);
  return {{transpose(x, perm)}, {0}};
}

std::vector<array> Broadcast::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                  const std::vector<int>&, const std::vector<array>&) {
  return {detail::unbroadcast(cotangents[0], primals[0].shape())};
}
std::vector<array> Broadcast::jvp(const std::vector<array>&, const std::vector<array>& tangents,
                                  const std::vector<int>&) {
  return {broadcast_to(tangents[0], shape_)};
}
std::pair<std::vector<array>, std::vector<int>> Broadcast::vmap(const std::vector<array>& inputs,
                                                                const std::vector<int>& axes) {
  // The input may have fewer axes than the target: pad with ones after the batch axis.
  array x = detail::align_batched({inputs[0], zeros(shape_, inputs[0].dtype())}, {axes[0], -1})[0];
  Shape s = shape_;
  s.insert(s.begin(), x.shape(0));
  return {{broadcast_to(x, s)}, {0}};
}

std::vector<array> Copy::vjp(const std::vector<array>&, const std::vector<array>& cotangents,
                             const std::vector<int>&, const std::vector<array>&) {
  return {cotangents[0]};
}
std::vector<array> Copy::jvp(const std::vector<array>&, const std::vector<array>& tangents,
                             const std::vector<int>&) {
  return {tangents[0]};
}
std::pair<std::vector<array>, std::vector<int>> Copy::vmap(const std::vector<array>& inputs,
                                                           const std::vector<int>& axes) {
  const array& x = inputs[0];
  return {{array(x.shape(), x.dtype(), std::make_shared<Copy>(stream(), mode_, col_ok_), {x})}, {axes[0]}};
}

}  // namespace mica
