// Data-parallel helpers of mlx.nn.utils: average_gradients, and sum_gradients (identity forward,
// all_sum backward) used by the tensor-parallel layers.
#pragma once
#include <cstddef>
#include <functional>
#include <optional>

#include "mica/distributed/distributed.h"
#include "mica/tree.h"

namespace mica::nn {

/** Options of average_gradients (MLX's keyword arguments). */
struct AverageGradientsOptions {
  std::optional<distributed::Group> group = std::nullopt;  // the global group when unset
  /** Bytes per message: arrays are packed (flattened and concatenated) in order until a pack
   *  reaches this size; 0 or less sends every array alone. */
  int64_t all_reduce_size = 32 * 1024 * 1024;
  /** Communicate in this dtype (e.g. bfloat16), casting back after; the arrays' own when unset. */
  std::optional<Dtype> communication_type = std::nullopt;
  /** Where the all_sum nodes run; the default stream when unset. */
  StreamOrDevice communication_stream = {};
};

/** The mean of `gradients` (a tree of arrays) over the processes of the group: packs small
 *  arrays of one dtype into few messages, all_sums them, divides by the group size and returns
 *  a tree of the same structure. The identity on a size-1 group. */
Tree average_gradients(const Tree& gradients, const AverageGradientsOptions& options = {});
/** average_gradients over `group`. */
Tree average_gradients(const Tree& gradients, const distributed::Group& group, AverageGradientsOptions options = {});

/** A function that returns its input and whose vjp all_sums the cotangent over `group` (the
 *  identity for a size-1 group): the gradient of an input replicated on every rank. */
std::function<array(const array&)> sum_gradients(const distributed::Group& group);

}  // namespace mica::nn
