// Tensor-parallel linear layers and the sharding helpers of mlx.nn.layers.distributed.
// A pair splits a block over the ranks of a group with one collective: AllToShardedLinear keeps
// this rank's slice of the output features (its input is the full, replicated activation; its
// backward all_sums the input's gradient), ShardedToAllLinear takes this rank's slice of the
// input features and all_sums the partial products, so every rank ends with the same result.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "mica/distributed/distributed.h"
#include "mica/nn/member.h"

namespace mica::nn {

/** Options of the sharded layers' constructors (MLX's bias and group). */
struct ShardedLinearOptions {
  bool bias = true;
  std::optional<distributed::Group> group = std::nullopt;  // the global group when unset
};

/** How a weight is cut before sharding: a number of equal segments, or the split indices along
 *  the axis. Each segment is sharded on its own (e.g. 3 for a fused QKV matrix), so every rank
 *  keeps its slice of each. */
using Segments = std::variant<int, std::vector<int>>;

/** Options of shard_linear, shard_inplace and from_linear (MLX's segments and group). */
struct ShardOptions {
  Segments segments = 1;
  std::optional<distributed::Group> group = std::nullopt;  // the global group when unset
};

/** Each rank applies its slice of the output features: weight (output_dims / size, input_dims),
 *  bias (output_dims / size); the output is sharded along its last axis. */
class AllToShardedLinear : public Module {
 public:
  /** output_dims must be divisible by the group size. */
  AllToShardedLinear(int input_dims, int output_dims, const ShardedLinearOptions& options = {});
  /** This rank's shard of a Linear layer (weight (output_dims, input_dims), optional bias). */
  static std::shared_ptr<AllToShardedLinear> from_linear(const Module& linear, const ShardOptions& options = {});
  /** "AllToShardedLinear". */
  std::string name() const override { return "AllToShardedLinear"; }
  /** `input_dims=<in>, output_dims=<out>, bias=<True|False>` with the unsharded output_dims. */
  std::string extra_repr() const override;
  /** x: (..., input_dims) -> (..., output_dims / size). */
  array operator()(const array& x) override;
  /** The group the layer is sharded over. */
  const distributed::Group& group() const { return group_; }

  Param weight{this, "weight"};
  Param bias{this, "bias"};

 private:
  distributed::Group group_;
};

/** Each rank applies its slice of the input features and the results are summed over the group:
 *  weight (output_dims, input_dims / size), bias (output_dims), added after the sum. */
class ShardedToAllLinear : public Module {
 public:
  /** input_dims must be divisible by the group size. */
  ShardedToAllLinear(int input_dims, int output_dims, const ShardedLinearOptions& options = {});
  /** This rank's shard of a Linear layer. */
  static std::shared_ptr<ShardedToAllLinear> from_linear(const Module& linear, const ShardOptions& options = {});
  /** "ShardedToAllLinear". */
  std::string name() const override { return "ShardedToAllLinear"; }
  /** `input_dims=<in>, output_dims=<out>, bias=<True|False>` with the unsharded input_dims. */
  std::string extra_repr() const override;
  /** x: (..., input_dims / size) -> (..., output_dims), the same on every rank. */
  array operator()(const array& x) override;
  /** The group the layer is sharded over. */
  const distributed::Group& group() const { return group_; }

  Param weight{this, "weight"};
  Param bias{this, "bias"};

 private:
  distributed::Group group_;
};

/** A sharding rule: given a parameter's dotted path and value, the axis to shard along and the
 *  segments, or nullopt to leave the parameter whole. */
using ShardingFn = std::function<std::optional<std::pair<int, Segments>>(const std::string& path, const array& weight)>;

/** A new sharded layer made from a Linear: sharding "all-to-sharded" or "sharded-to-all"; the
 *  original layer is unchanged. */
std::shared_ptr<Module> shard_linear(const Module& module, const std::string& sharding, const ShardOptions& options = {});

/** Replaces the module's parameters by this rank's shards ("all-to-sharded": weights along axis
 *  ndim - 2 and biases along 0; "sharded-to-all": weights along the last axis, biases whole).
 *  The module's forward must do the communication itself. */
void shard_inplace(Module& module, const std::string& sharding, const ShardOptions& options = {});
/** shard_inplace with a custom rule (options.segments is not used: the rule returns them). */
void shard_inplace(Module& module, const ShardingFn& sharding, const ShardOptions& options = {});

}  // namespace mica::nn
