// ShardedOptimizer: ZeRO-1 over mica::distributed (see sharded.h). The parameters of one dtype
// form a bucket: one flat vector in tree order, padded to N * shard elements, of which rank r owns
// [r * shard, (r + 1) * shard). The inner optimizer sees one "parameter" per bucket, this rank's
// slice, so its state per bucket is shard elements per entry instead of the bucket's total.
#include "mica/optim/sharded.h"

#include <algorithm>
#include <climits>
#include <map>
#include <stdexcept>

#include "mica/ops.h"
#include "mica/ops/utils.h"

namespace mica::optim {

namespace {
[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument("[ShardedOptimizer] " + msg); }
}  // namespace

ShardedOptimizer::ShardedOptimizer(std::shared_ptr<Optimizer> inner, ShardedOptimizerOptions options)
    : Optimizer(0.0f),
      inner_(std::move(inner)),
      group_(options.group ? *options.group : distributed::init()),
      max_grad_norm_(options.max_grad_norm) {
  if (!inner_) fail("expected an optimizer to wrap, got none");
  Optimizer* o = inner_.get();
  if (dynamic_cast<Adafactor*>(o) || dynamic_cast<Muon*>(o) || dynamic_cast<MultiOptimizer*>(o) ||
      dynamic_cast<ShardedOptimizer*>(o))
    fail("expected an element-wise optimizer (SGD, RMSprop, Adagrad, AdaDelta, Adam, AdamW, Adamax, Lion), got one "
         "whose update depends on the parameters' shapes or structure");
  if (!(max_grad_norm_ >= 0)) fail("expected max_grad_norm >= 0, got " + std::to_string(max_grad_norm_));
  sync();
}

std::vector<ShardedOptimizer::Bucket> ShardedOptimizer::layout_of(const Tree& tree) const {
  const int64_t n = group_.size();
  std::vector<Bucket> buckets;
  for (auto& [path, a] : tree_flatten_arrays(tree)) {
    if (!is_inexact(a.dtype())) fail("expected floating-point parameters, got " + dtype_to_string(a.dtype()) + " at '" + path + "'");
    auto it = std::find_if(buckets.begin(), buckets.end(), [&](const Bucket& b) { return b.dtype == a.dtype(); });
    if (it == buckets.end()) {
      buckets.push_back(Bucket{a.dtype(), dtype_to_string(a.dtype()), {}});
      it = buckets.end() - 1;
    }
    const int64_t size = static_cast<int64_t>(a.size());
    it->slots.push_back(Slot{path, a.shape(), it->total, size});
    it->total += size;
  }
  for (auto& b : buckets) {
    b.shard = std::max<int64_t>((b.total + n - 1) / n, 1);
    b.padded = b.shard * n;
    if (b.padded > INT32_MAX)
      fail("expected at most " + std::to_string(INT32_MAX) + " " + b.key + " parameters, got " + std::to_string(b.total));
  }
  return buckets;
}

void ShardedOptimizer::set_layout(const Tree& tree) {
  std::vector<Bucket> fresh = layout_of(tree);
  if (!layout_) {
    layout_ = std::move(fresh);
    return;
  }
  auto describe = [](const std::vector<Bucket>& l) {
    size_t arrays = 0;
    int64_t elements = 0;
    for (auto& b : l) arrays += b.slots.size(), elements += b.total;
    return std::to_string(arrays) + " arrays of " + std::to_string(elements) + " elements";
  };
  bool same = fresh.size() == layout_->size();
  for (size_t i = 0; same && i < fresh.size(); ++i) {
    const Bucket &a = fresh[i], &b = (*layout_)[i];
    same = a.dtype == b.dtype && a.slots.size() == b.slots.size();
    for (size_t j = 0; same && j < a.slots.size(); ++j)
      same = a.slots[j].path == b.slots[j].path && a.slots[j].shape == b.slots[j].shape;
  }
  if (!same)
    fail("expected the parameters it was initialized with (" + describe(*layout_) + "), got " + describe(fresh) +
         "; use a new optimizer for other parameters");
}

array ShardedOptimizer::shard_of(const Bucket& b, const std::vector<array>& leaves) const {
  const int64_t lo = b.shard * group_.rank(), hi = lo + b.shard;
  const Dtype dt = leaves.empty() ? b.dtype : leaves.front().dtype();
  std::vector<array> pieces;
  for (size_t i = 0; i < b.slots.size(); ++i) {
    const Slot& s = b.slots[i];
    const int64_t from = std::max(lo, s.offset), to = std::min(hi, s.offset + s.size);
    if (from >= to) continue;
    array a = flatten(leaves[i]);
    if (from == s.offset && to == s.offset + s.size) pieces.push_back(a);
    else pieces.push_back(slice(a, {static_cast<int32_t>(from - s.offset)}, {static_cast<int32_t>(to - s.offset)}));
  }
  if (hi > b.total) pieces.push_back(zeros({static_cast<int32_t>(hi - std::max(lo, b.total))}, dt));
  return pieces.size() == 1 ? pieces.front() : concatenate(std::move(pieces), 0);
}

void ShardedOptimizer::load_pending() {
  if (!pending_ || !layout_) return;
  std::map<std::string, array> by_path;
  for (auto& [path, a] : tree_flatten_arrays(*pending_)) by_path.emplace(path, a);
  std::map<std::string, bool> used;
  Tree::Dict shard;
  for (const Bucket& b : *layout_) {
    // The entries of the first parameter name the bucket's state (m and v for Adam).
    std::vector<std::string> names;
    const std::string first = b.slots.front().path + ".";
    for (auto& [path, a] : by_path)
      if (path.rfind(first, 0) == 0) names.push_back(path.substr(first.size()));
    if (names.empty()) continue;  // no state for these parameters yet: init fills it
    Tree::Dict entry;
    for (const std::string& name : names) {
      std::vector<array> leaves;
      for (const Slot& s : b.slots) {
        const std::string key = s.path + "." + name;
        auto it = by_path.find(key);
        if (it == by_path.end()) fail("expected the state entry '" + key + "', got none");
        if (it->second.shape() != s.shape)
          fail("expected the state entry '" + key + "' of shape " + mica::detail::shape_str(s.shape) + " (its parameter's), got " +
               mica::detail::shape_str(it->second.shape()));
        used[key] = true;
        leaves.push_back(it->second);
      }
      entry.insert_or_assign(name, shard_of(b, leaves));
    }
    shard.insert_or_assign(b.key, Tree(std::move(entry)));
  }
  for (auto& [path, a] : by_path) {
    if (used.contains(path)) continue;
    if (path.find('.') != std::string::npos) fail("expected state entries of the parameters, got '" + path + "'");
    shard.insert_or_assign(path, a);  // step and the hyper-parameters
  }
  inner_->set_state(Tree(std::move(shard)));
  pending_.reset();
  sync();
}

void ShardedOptimizer::init(const Tree& params) {
  set_layout(params);
  load_pending();
  std::map<std::string, array> by_path;
  for (auto& [path, a] : tree_flatten_arrays(params)) by_path.emplace(path, a);
  Tree::Dict shards;
  for (const Bucket& b : *layout_) {
    std::vector<array> leaves;
    for (const Slot& s : b.slots) leaves.push_back(by_path.at(s.path));
    shards.insert_or_assign(b.key, shard_of(b, leaves));
  }
  inner_->init(Tree(std::move(shards)));
  initialized_ = true;
  sync();
}

Tree ShardedOptimizer::apply_gradients(const Tree& grads, const Tree& params) {
  set_layout(grads);
  load_pending();
  const int n = group_.size();
  std::vector<std::pair<std::string, array>> g_flat = tree_flatten_arrays(grads);
  std::map<std::string, array> p_by_path;
  for (auto& [path, a] : tree_flatten_arrays(params)) p_by_path.emplace(path, a);
  std::map<std::string, size_t> leaf_of;
  for (size_t i = 0; i < g_flat.size(); ++i) leaf_of.emplace(g_flat[i].first, i);

  Tree::Dict g_shards, p_shards;
  for (const Bucket& b : *layout_) {
    std::vector<array> g_pieces, p_leaves;
    for (const Slot& s : b.slots) {
      auto it = p_by_path.find(s.path);
      if (it == p_by_path.end()) fail("expected a parameter at '" + s.path + "' (it has a gradient), got none");
      if (it->second.shape() != s.shape || it->second.dtype() != b.dtype)
        fail("expected the parameter '" + s.path + "' to be " + mica::detail::shape_str(s.shape) + " " + b.key + " as its gradient, got " +
             mica::detail::shape_str(it->second.shape()) + " " + dtype_to_string(it->second.dtype()));
      g_pieces.push_back(flatten(g_flat[leaf_of.at(s.path)].second));
      p_leaves.push_back(it->second);
    }
    if (b.padded > b.total) g_pieces.push_back(zeros({static_cast<int32_t>(b.padded - b.total)}, b.dtype));
    array g = g_pieces.size() == 1 ? g_pieces.front() : concatenate(std::move(g_pieces), 0);
    if (n > 1) g = divide(distributed::sum_scatter(g, group_), array(n, b.dtype));
    g_shards.insert_or_assign(b.key, g);
    p_shards.insert_or_assign(b.key, shard_of(b, p_leaves));
  }
  if (max_grad_norm_ > 0 && !g_shards.empty()) {
    // clip_grad_norm over the whole (averaged) gradient: the squared norms of the shards summed
    // over the ranks (padding adds zeros).
    array total = array(0.0f);
    for (auto& [key, g] : g_shards) total = add(total, sum(square(astype(g.as_array(), float32))));
    if (n > 1) total = distributed::all_sum(total, group_);
    array scale = minimum(divide(array(max_grad_norm_), add(sqrt(total), array(1e-6f))), array(1.0f));
    for (auto& [key, g] : g_shards) g = multiply(g.as_array(), astype(scale, g.as_array().dtype()));
  }
  Tree updated = inner_->apply_gradients(Tree(std::move(g_shards)), Tree(std::move(p_shards)));
  initialized_ = true;
  sync();

  std::vector<std::optional<array>> out(g_flat.size());
  for (const Bucket& b : *layout_) {
    array whole = updated.at(b.key).as_array();
    if (n > 1) whole = distributed::all_gather(whole, group_);
    Shape offsets;
    for (size_t j = 1; j < b.slots.size(); ++j) offsets.push_back(static_cast<int32_t>(b.slots[j].offset));
    if (b.padded > b.total) offsets.push_back(static_cast<int32_t>(b.total));
    std::vector<array> parts = offsets.empty() ? std::vector<array>{whole} : split(whole, offsets, 0);
    for (size_t j = 0; j < b.slots.size(); ++j)
      out[leaf_of.at(b.slots[j].path)] = reshape(parts[j], b.slots[j].shape);
  }
  size_t k = 0;
  return tree_map([&](const Tree&) -> Tree { return *out[k++]; }, grads);
}

void ShardedOptimizer::set_state(Tree state) {
  inner_->set_state(std::move(state));
  pending_.reset();
  initialized_ = false;
  sync();
}

array ShardedOptimizer::learning_rate() const { return inner_->learning_rate(); }

void ShardedOptimizer::set_learning_rate(float lr) {
  inner_->set_learning_rate(lr);
  sync();
}

Tree ShardedOptimizer::gather_state() const {
  if (pending_) return *pending_;  // loaded but not yet sliced: already whole
  const Tree& s = inner_->state();
  std::vector<std::pair<std::string, array>> out;
  std::map<std::string, const Bucket*> buckets;
  if (layout_)
    for (const Bucket& b : *layout_) buckets.emplace(b.key, &b);
  for (auto& [key, v] : s.as_dict()) {
    auto it = buckets.find(key);
    if (it == buckets.end()) {
      if (v.is_array()) out.emplace_back(key, v.as_array());
      continue;
    }
    const Bucket& b = *it->second;
    for (auto& [name, a] : v.as_dict()) {
      array whole = group_.size() > 1 ? distributed::all_gather(a.as_array(), group_) : a.as_array();
      for (const Slot& slot : b.slots)
        out.emplace_back(slot.path + "." + name,
                         reshape(slice(whole, {static_cast<int32_t>(slot.offset)},
                                       {static_cast<int32_t>(slot.offset + slot.size)}),
                                 slot.shape));
    }
  }
  return tree_unflatten(out);
}

void ShardedOptimizer::scatter_state(Tree state) {
  if (!state.is_dict() || !state.contains("step"))
    fail("expected a state dict holding 'step', got " + state.kind_name());
  pending_ = std::move(state);
  load_pending();
}

int64_t ShardedOptimizer::state_elements() const {
  if (!layout_) return 0;
  int64_t n = 0;
  for (const Bucket& b : *layout_) {
    if (!inner_->state().contains(b.key)) continue;
    for (auto& [name, a] : inner_->state().at(b.key).as_dict())
      if (a.is_array()) n += static_cast<int64_t>(a.as_array().size());
  }
  return n;
}

}  // namespace mica::optim
