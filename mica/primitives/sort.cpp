// Transform rules of the sort family. Sort and Partition permute their input along the axis:
// the permutation comes from argsort, so the jvp gathers the tangent with it and the vjp
// scatters the cotangent back (ties follow the stable argsort, as MLX). ArgSort and ArgPartition
// give integers: no gradient. vmap shifts the axis past the batch axis.
#include "mica/primitives/sort.h"

#include "mica/ops.h"

namespace mica {

namespace {
int past_batch(int axis, int bax) { return axis >= bax ? axis + 1 : axis; }
}  // namespace

std::vector<array> Sort::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                             const std::vector<int>&, const std::vector<array>&) {
  const array& x = primals[0];
  return {put_along_axis(detail::zeros_like_view(x), argsort(x, axis_), cotangents[0], axis_)};
}
std::vector<array> Sort::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                             const std::vector<int>&) {
  return {take_along_axis(tangents[0], argsort(primals[0], axis_), axis_)};
}
std::pair<std::vector<array>, std::vector<int>> Sort::vmap(const std::vector<array>& inputs,
                                                           const std::vector<int>& axes) {
  return {{sort(inputs[0], past_batch(axis_, axes[0]))}, {axes[0]}};
}

// Partition's arrangement of the non-kth elements is the kernel's choice and need not match
// ArgPartition's when values tie (the CPU kernels differ there). So the rules pair input and
// output positions through their stable sorts: out[so[k]] came from x[sx[k]].
std::vector<array> Partition::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                  const std::vector<int>&, const std::vector<array>& outputs) {
  const array& x = primals[0];
  array c_sorted = take_along_axis(cotangents[0], argsort(outputs[0], axis_), axis_);
  return {put_along_axis(detail::zeros_like_view(x), argsort(x, axis_), c_sorted, axis_)};
}
std::vector<array> Partition::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                  const std::vector<int>&) {
  const array& x = primals[0];
  array out(x.shape(), x.dtype(), std::make_shared<Partition>(stream(), axis_, kth_), {x});
  array t_sorted = take_along_axis(tangents[0], argsort(x, axis_), axis_);
  return {put_along_axis(detail::zeros_like_view(t_sorted), argsort(out, axis_), t_sorted, axis_)};
}
std::pair<std::vector<array>, std::vector<int>> Partition::vmap(const std::vector<array>& inputs,
                                                                const std::vector<int>& axes) {
  return {{partition(inputs[0], kth_, past_batch(axis_, axes[0]))}, {axes[0]}};
}

std::vector<array> ArgSort::vjp(const std::vector<array>& primals, const std::vector<array>&,
                                const std::vector<int>&, const std::vector<array>&) {
  return {detail::zeros_like_view(primals[0])};
}
std::vector<array> ArgSort::jvp(const std::vector<array>& primals, const std::vector<array>&,
                                const std::vector<int>&) {
  return {detail::zeros_view(primals[0].shape(), uint32)};
}
std::pair<std::vector<array>, std::vector<int>> ArgSort::vmap(const std::vector<array>& inputs,
                                                              const std::vector<int>& axes) {
  return {{argsort(inputs[0], past_batch(axis_, axes[0]))}, {axes[0]}};
}

std::vector<array> ArgPartition::vjp(const std::vector<array>& primals, const std::vector<array>&,
                                     const std::vector<int>&, const std::vector<array>&) {
  return {detail::zeros_like_view(primals[0])};
}
std::vector<array> ArgPartition::jvp(const std::vector<array>& primals, const std::vector<array>&,
                                     const std::vector<int>&) {
  return {detail::zeros_view(primals[0].shape(), uint32)};
}
std::pair<std::vector<array>, std::vector<int>> ArgPartition::vmap(const std::vector<array>& inputs,
                                                                   const std::vector<int>& axes) {
  return {{argpartition(inputs[0], kth_, past_batch(axis_, axes[0]))}, {axes[0]}};
}

}  // namespace mica
