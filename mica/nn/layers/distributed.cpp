// The tensor-parallel linear layers and shard_linear / shard_inplace. Layers read their
// parameters from the state on every call (update() and value_and_grad() are honoured); the group
// is a member, not a parameter.
#include "mica/nn/layers/distributed.h"

#include <cmath>
#include <stdexcept>

#include "mica/nn/distributed.h"
#include "mica/ops.h"
#include "mica/ops/utils.h"
#include "mica/random.h"

namespace mica::nn {

namespace {
distributed::Group group_or_world(const std::optional<distributed::Group>& g) { return g ? *g : distributed::init(); }

std::string dims_repr(int in, int out, bool bias) {
  return "input_dims=" + std::to_string(in) + ", output_dims=" + std::to_string(out) +
         ", bias=" + (bias ? "True" : "False");
}

// This rank's shard of w along `axis`: w is cut into segments, each segment into `size` equal
// blocks, and the rank's block of every segment is kept, in order.
array shard_array(const array& w, int axis, const Segments& segments, const distributed::Group& group,
                  const std::string& path) {
  int ax = mica::detail::normalize_axis(axis, static_cast<int>(w.ndim()), "shard_inplace");
  std::vector<array> parts = std::holds_alternative<int>(segments)
                                 ? split(w, std::get<int>(segments), ax)
                                 : split(w, Shape(std::get<std::vector<int>>(segments).begin(),
                                                  std::get<std::vector<int>>(segments).end()),
                                         ax);
  const int n = group.size(), r = group.rank();
  std::vector<array> mine;
  for (const array& p : parts) {
    if (p.shape(ax) % n != 0) {
      throw std::invalid_argument("[shard_inplace] expected the segments of \"" + path + "\" along axis " +
                                  std::to_string(ax) + " to be divisible by the group size " + std::to_string(n) +
                                  ", got a segment of " + std::to_string(p.shape(ax)) + " in shape " +
                                  mica::detail::shape_str(w.shape()) + ".");
    }
    mine.push_back(split(p, n, ax)[r]);
  }
  return contiguous(mine.size() == 1 ? mine[0] : concatenate(std::move(mine), ax));
}

Tree shard_tree(const Tree& params, const ShardingFn& rule, const distributed::Group& group) {
  return tree_map_with_path(
      [&](const std::string& path, const Tree& leaf, const std::vector<Tree>&) -> Tree {
        if (!leaf.is_array()) return leaf;
        auto s = rule(path, leaf.as_array());
        if (!s) return leaf;
        return shard_array(leaf.as_array(), s->first, s->second, group, path);
      },
      params);
}

ShardingFn all_to_sharded(const Segments& segments) {
  return [segments](const std::string&, const array& w) -> std::optional<std::pair<int, Segments>> {
    return std::make_pair(std::max(static_cast<int>(w.ndim()) - 2, 0), segments);
  };
}

ShardingFn sharded_to_all(const Segments& segments) {
  return [segments](const std::string& path, const array&) -> std::optional<std::pair<int, Segments>> {
    bool bias = path.size() >= 4 && path.compare(path.size() - 4, 4, "bias") == 0;
    if (bias) return std::nullopt;
    return std::make_pair(-1, segments);
  };
}

ShardingFn named_rule(const std::string& sharding, const Segments& segments, const char* op) {
  if (sharding == "all-to-sharded") return all_to_sharded(segments);
  if (sharding == "sharded-to-all") return sharded_to_all(segments);
  throw std::invalid_argument(std::string("[") + op + "] expected sharding \"all-to-sharded\" or \"sharded-to-all\", got \"" +
                              sharding + "\".");
}

// (output_dims, input_dims) of a Linear-like module's 2-d weight.
std::pair<int, int> linear_dims(const Module& linear, const char* op) {
  if (!linear.contains("weight") || !linear["weight"].is_array() || linear.param("weight").ndim() != 2) {
    throw std::invalid_argument(std::string("[") + op + "] expected a Linear layer with a 2-d weight, got " +
                                linear.name() + ".");
  }
  array w = linear.param("weight");
  return {w.shape(0), w.shape(1)};
}

void check_divisible(const char* layer, const char* what, int dims, int n) {
  if (dims < 0 || dims % n != 0) {
    throw std::invalid_argument(std::string("[") + layer + "] expected " + what + " divisible by the group size " +
                                std::to_string(n) + ", got " + std::to_string(dims) + ".");
  }
}
}  // namespace

// ---- AllToShardedLinear ----
AllToShardedLinear::AllToShardedLinear(int input_dims, int output_dims, const ShardedLinearOptions& options)
    : group_(group_or_world(options.group)) {
  int n = group_.size();
  check_divisible("AllToShardedLinear", "output_dims", output_dims, n);
  if (input_dims < 0) {
    throw std::invalid_argument("[AllToShardedLinear] expected non-negative input_dims, got " + std::to_string(input_dims) + ".");
  }
  double scale = std::sqrt(1.0 / input_dims);
  weight = random::uniform(-scale, scale, {output_dims / n, input_dims});
  if (options.bias) bias = random::uniform(-scale, scale, {output_dims / n});
}

std::shared_ptr<AllToShardedLinear> AllToShardedLinear::from_linear(const Module& linear, const ShardOptions& options) {
  auto [out, in] = linear_dims(linear, "AllToShardedLinear::from_linear");
  distributed::Group g = group_or_world(options.group);
  auto layer = std::make_shared<AllToShardedLinear>(in, out, ShardedLinearOptions{linear.contains("bias"), g});
  layer->update(shard_tree(linear.parameters(), all_to_sharded(options.segments), g));
  return layer;
}

std::string AllToShardedLinear::extra_repr() const {
  array w = weight.get();
  return dims_repr(w.shape(1), w.shape(0) * group_.size(), bool(bias));
}

array AllToShardedLinear::operator()(const array& x_in) {
  // The input is replicated: its gradient is the sum of every rank's.
  array x = sum_gradients(group_)(x_in);
  array w = weight.get();
  if (bool(bias)) return addmm(bias.get(), x, transpose(w));
  return matmul(x, transpose(w));
}

// ---- ShardedToAllLinear ----
ShardedToAllLinear::ShardedToAllLinear(int input_dims, int output_dims, const ShardedLinearOptions& options)
    : group_(group_or_world(options.group)) {
  int n = group_.size();
  check_divisible("ShardedToAllLinear", "input_dims", input_dims, n);
  if (output_dims < 0) {
    throw std::invalid_argument("[ShardedToAllLinear] expected non-negative output_dims, got " + std::to_string(output_dims) + ".");
  }
  double scale = std::sqrt(1.0 / input_dims);
  weight = random::uniform(-scale, scale, {output_dims, input_dims / n});
  if (options.bias) bias = random::uniform(-scale, scale, {output_dims});
}

std::shared_ptr<ShardedToAllLinear> ShardedToAllLinear::from_linear(const Module& linear, const ShardOptions& options) {
  auto [out, in] = linear_dims(linear, "ShardedToAllLinear::from_linear");
  distributed::Group g = group_or_world(options.group);
  auto layer = std::make_shared<ShardedToAllLinear>(in, out, ShardedLinearOptions{linear.contains("bias"), g});
  layer->update(shard_tree(linear.parameters(), sharded_to_all(options.segments), g));
  return layer;
}

std::string ShardedToAllLinear::extra_repr() const {
  array w = weight.get();
  return dims_repr(w.shape(1) * group_.size(), w.shape(0), bool(bias));
}

array ShardedToAllLinear::operator()(const array& x) {
  array y = distributed::all_sum(matmul(x, transpose(weight.get())), group_);
  if (bool(bias)) return add(y, bias.get());
  return y;
}

// ---- helpers ----
std::shared_ptr<Module> shard_linear(const Module& module, const std::string& sharding, const ShardOptions& options) {
  if (sharding == "all-to-sharded") return AllToShardedLinear::from_linear(module, options);
  if (sharding == "sharded-to-all") return ShardedToAllLinear::from_linear(module, options);
  throw std::invalid_argument("[shard_linear] expected sharding \"all-to-sharded\" or \"sharded-to-all\", got \"" +
                              sharding + "\".");
}

void shard_inplace(Module& module, const std::string& sharding, const ShardOptions& options) {
  shard_inplace(module, named_rule(sharding, options.segments, "shard_inplace"), options);
}

void shard_inplace(Module& module, const ShardingFn& sharding, const ShardOptions& options) {
  module.update(shard_tree(module.parameters(), sharding, group_or_world(options.group)));
}

}  // namespace mica::nn
