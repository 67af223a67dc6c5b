// Transform rules of the collectives, as MLX defines their gradients. Each rank differentiates
// its own copy of the program, so a rule's collectives run on every rank in the same order.
// A collective whose output is the same on every rank (all_sum, all_max, all_min, all_gather)
// is treated as feeding one replicated loss: its cotangent is that loss's, the same on every
// rank, and is not summed again (MLX's AllReduce vjp returns the cotangent; summing would count
// the loss once per rank). That is what makes ShardedToAllLinear (all_sum forward, identity
// backward) and sum_gradients (identity forward, all_sum backward) give the unsharded gradients.
// - all_sum: vjp the cotangent itself, jvp all_sum of the tangent.
// - all_max / all_min: the cotangent goes to the ranks holding the extreme, shared evenly by
//   ties across ranks (as the max reduction's ties); the jvp is the average of their tangents.
// - all_gather: the vjp is this rank's block of the cotangent, the jvp all_gather of the tangent.
// - sum_scatter: the vjp is all_gather of the cotangent, the jvp sum_scatter of the tangent.
// - send and recv move data between ranks: no derivative and no batching rule (MLX has none).
// vmap keeps the batch axis out of axis 0 for the ops that work along axis 0.
#include "mica/primitives/distributed.h"

#include "mica/ops.h"

namespace mica {

namespace dist = mica::distributed;
using dist::detail::ReduceOp;

MICA_NO_RULE(Send, vjp, "send moves data to another rank; MLX defines no derivative for it")
MICA_NO_RULE(Send, jvp, "send moves data to another rank; MLX defines no derivative for it")
MICA_NO_RULE(Send, vmap, "the receiving rank fixes the shape it receives; MLX has no batching rule")
MICA_NO_RULE(Recv, vjp, "recv has no inputs to differentiate")
MICA_NO_RULE(Recv, jvp, "recv has no inputs to differentiate")
MICA_NO_RULE(Recv, vmap, "recv has no inputs to batch")

namespace {
array reduce_with(ReduceOp op, const array& x, const dist::Group& g, Stream s) {
  switch (op) {
    case ReduceOp::sum: return dist::all_sum(x, g, s);
    case ReduceOp::max: return dist::all_max(x, g, s);
    case ReduceOp::min: return dist::all_min(x, g, s);
  }
  return x;
}

bool has_gradient(Dtype d) { return is_inexact(d); }
}  // namespace

// ---- AllReduce ----
std::vector<array> AllReduce::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                  const std::vector<int>&, const std::vector<array>& outputs) {
  const array& x = primals[0];
  const array& c = cotangents[0];
  if (!has_gradient(x.dtype())) return {detail::zeros_like_view(x)};
  if (type_ == ReduceOp::sum) return {c};
  array mask = astype(equal(x, outputs[0]), c.dtype());
  array count = dist::all_sum(mask, group_, stream());
  return {multiply(mask, divide(c, count))};
}

std::vector<array> AllReduce::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                  const std::vector<int>&) {
  const array& x = primals[0];
  const array& t = tangents[0];
  if (!has_gradient(x.dtype())) return {detail::zeros_like_view(x)};
  if (type_ == ReduceOp::sum) return {dist::all_sum(t, group_, stream())};
  array out = reduce_with(type_, x, group_, stream());
  array mask = astype(equal(x, out), t.dtype());
  return {divide(dist::all_sum(multiply(t, mask), group_, stream()), dist::all_sum(mask, group_, stream()))};
}

std::pair<std::vector<array>, std::vector<int>> AllReduce::vmap(const std::vector<array>& inputs,
                                                                const std::vector<int>& axes) {
  return {{reduce_with(type_, inputs[0], group_, stream())}, {axes[0]}};
}

bool AllReduce::is_equivalent(const Primitive& o) const {
  auto* p = dynamic_cast<const AllReduce*>(&o);
  return p && p->type_ == type_ && p->group_.raw_group() == group_.raw_group();
}

void AllReduce::print(std::ostream& os) { os << "AllReduce(" << dist::detail::all_reduce_name(type_) << ")"; }

// ---- AllGather ----
std::vector<array> AllGather::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                  const std::vector<int>&, const std::vector<array>&) {
  const array& x = primals[0];
  const array& c = cotangents[0];
  int r = group_.rank();
  int n = x.ndim() == 0 ? 1 : x.shape(0);
  Shape start(c.ndim(), 0), stop = c.shape();
  start[0] = r * n;
  stop[0] = (r + 1) * n;
  return {reshape(slice(c, start, stop, stream()), x.shape(), stream())};
}

std::vector<array> AllGather::jvp(const std::vector<array>&, const std::vector<array>& tangents,
                                  const std::vector<int>&) {
  return {dist::all_gather(tangents[0], group_, stream())};
}

std::pair<std::vector<array>, std::vector<int>> AllGather::vmap(const std::vector<array>& inputs,
                                                                const std::vector<int>& axes) {
  array x = inputs[0];
  int b = axes[0];
  if (x.ndim() == 1) {
    // Per-sample scalars: gathering the batch vector gives (size * B), i.e. (size, B).
    array g = dist::all_gather(x, group_, stream());
    return {{reshape(g, {group_.size(), x.shape(0)}, stream())}, {1}};
  }
  // The batch axis goes to 1 so that axis 0 is the per-sample gather axis.
  return {{dist::all_gather(moveaxis(x, b, 1, stream()), group_, stream())}, {1}};
}

bool AllGather::is_equivalent(const Primitive& o) const {
  auto* p = dynamic_cast<const AllGather*>(&o);
  return p && p->group_.raw_group() == group_.raw_group();
}

// ---- ReduceScatter ----
std::vector<array> ReduceScatter::vjp(const std::vector<array>&, const std::vector<array>& cotangents,
                                      const std::vector<int>&, const std::vector<array>&) {
  return {dist::all_gather(cotangents[0], group_, stream())};
}

std::vector<array> ReduceScatter::jvp(const std::vector<array>&, const std::vector<array>& tangents,
                                      const std::vector<int>&) {
  return {dist::sum_scatter(tangents[0], group_, stream())};
}

std::pair<std::vector<array>, std::vector<int>> ReduceScatter::vmap(const std::vector<array>& inputs,
                                                                    const std::vector<int>& axes) {
  return {{dist::sum_scatter(moveaxis(inputs[0], axes[0], 1, stream()), group_, stream())}, {1}};
}

bool ReduceScatter::is_equivalent(const Primitive& o) const {
  auto* p = dynamic_cast<const ReduceScatter*>(&o);
  return p && p->group_.raw_group() == group_.raw_group();
}

// ---- Send / Recv ----
void Send::print(std::ostream& os) { os << "Send(dst=" << dst_ << ")"; }
void Recv::print(std::ostream& os) { os << "Recv(src=" << src_ << ")"; }

}  // namespace mica
