// Optimizer-state sharding (ZeRO stage 1), beyond MLX: a data-parallel optimizer whose state is
// split over the ranks of a group, so each rank keeps and updates 1/N of it.
//
// Each step, per dtype: the gradients are flattened and concatenated in tree order, zero-padded
// to a multiple of N and sum_scattered (then divided by N: the mean over the ranks, as
// nn::average_gradients), the inner optimizer updates this rank's slice of the equally flattened
// parameters, and all_gather puts the updated slices back together into every parameter. Every
// rank ends the step with the same weights (each element was computed by exactly one rank), equal
// to what the inner optimizer gives on averaged gradients up to the order of the sums.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mica/distributed/distributed.h"
#include "mica/optim/optimizer.h"

namespace mica::optim {

/** Options of ShardedOptimizer. */
struct ShardedOptimizerOptions {
  /** The data-parallel group; the global one (distributed::init()) when unset. */
  std::optional<distributed::Group> group = std::nullopt;
  /** Clips the averaged gradients' global norm to this value (clip_grad_norm's formula, the norm
   *  summed over the shards with one scalar all_sum); 0 turns it off. */
  float max_grad_norm = 0.0f;
};

/** Wraps an element-wise optimizer (SGD, RMSprop, Adagrad, AdaDelta, Adam, AdamW, Adamax, Lion)
 *  so that each rank of the group keeps and updates 1/N of its state. apply_gradients takes
 *  this rank's (not yet averaged) gradients; every rank must call it with the same structure,
 *  shapes and dtypes, as for any collective. state() is this rank's shard: the inner optimizer's
 *  state, with step and the hyper-parameters as usual and, per dtype, one flat array per state
 *  entry (Adam's m and v) under the dtype's name ("float32"). gather_state and scatter_state
 *  convert to and from the unsharded layout of the inner optimizer (state per parameter path),
 *  so checkpoints do not depend on the number of ranks. Adafactor and Muon (whose updates depend
 *  on a parameter's shape) and MultiOptimizer are refused. */
class ShardedOptimizer : public Optimizer {
 public:
  explicit ShardedOptimizer(std::shared_ptr<Optimizer> inner, ShardedOptimizerOptions options = {});

  /** Records the parameters' layout and initializes this rank's shard of the state. */
  void init(const Tree& params) override;
  /** The updated parameters (the structure of grads), the same on every rank. */
  Tree apply_gradients(const Tree& grads, const Tree& params) override;
  /** Replaces this rank's shard (a tree as state() returns). */
  void set_state(Tree state) override;
  array learning_rate() const override;
  void set_learning_rate(float lr) override;

  /** The whole state in the inner optimizer's own layout ({step, learning_rate, ...,
   *  PATH: {m, v} per parameter}), all_gathered from the shards: a collective, every rank must
   *  call it. Before the first init it is the state without per-parameter entries. */
  Tree gather_state() const;
  /** Loads a whole state in that layout (gather_state's, or a plain optimizer's): this rank keeps
   *  its slice. Applied at once when the layout is known, else at the next init or apply;
   *  throws std::invalid_argument when an entry's shape does not match its parameter. */
  void scatter_state(Tree state);

  /** Elements of per-parameter state this rank holds (e.g. 2 * ceil(P / N) for AdamW over P
   *  parameters of one dtype; 0 before init). */
  int64_t state_elements() const;
  const distributed::Group& group() const { return group_; }
  const std::shared_ptr<Optimizer>& inner() const { return inner_; }

 protected:
  void init_single(const array&, Tree::Dict&) override {}
  array apply_single(const array&, const array& p, Tree::Dict&) override { return p; }

 private:
  // One parameter's place in its dtype's flat vector.
  struct Slot {
    std::string path;
    Shape shape;
    int64_t offset, size;
  };
  // The parameters of one dtype, concatenated in tree order and padded to a multiple of N.
  struct Bucket {
    Dtype dtype;
    std::string key;  // the dtype's name: the bucket's entry in the inner optimizer's state
    std::vector<Slot> slots;
    int64_t total = 0;   // elements of the parameters
    int64_t shard = 0;   // elements per rank: ceil(total / N), at least 1
    int64_t padded = 0;  // shard * N
  };
  std::vector<Bucket> layout_of(const Tree& tree) const;
  void set_layout(const Tree& tree);
  // This rank's slice [lo, lo + shard) of the bucket's concatenation of `leaves` (arrays of the
  // slots' shapes in slot order), zero-padded past the end.
  array shard_of(const Bucket& b, const std::vector<array>& leaves) const;
  void load_pending();
  void sync() { state_ = inner_->state(); }

  std::shared_ptr<Optimizer> inner_;
  distributed::Group group_;
  float max_grad_norm_;
  std::optional<std::vector<Bucket>> layout_;
  std::optional<Tree> pending_;  // a whole state waiting for the layout (scatter_state)
};

}  // namespace mica::optim
