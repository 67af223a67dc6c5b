// CPU kernel of compile's fused node (primitives/compiled.h): a block interpreter. The output
// (shape S, row-major) is cut into blocks of about kBlock elements; for each block, every step
// runs its own CPU kernel on views of the inputs restricted to the block, so intermediates live
// in cache and only the inputs and outputs cross memory. Small outputs run the steps on whole
// arrays (one block). Blocks run in parallel; the kernels inside them run inline.
#include <optional>

#include "mica/backend/cpu/binary.h"
#include "mica/backend/cpu/copy.h"
#include "mica/backend/cpu/parallel.h"
#include "mica/backend/views.h"
#include "mica/primitives/compiled.h"

namespace mica {

namespace {
// Elements per block: a step's two operands and its result (float32) fit a core's L2.
constexpr int64_t kBlock = 1 << 14;

// Runs the steps on values[0, num_inputs) (arrays of shape `shape` or broadcastable to it) and
// returns the outputs' values. A value that no later step reads is dropped before its last
// reader runs, so that reader may write into its buffer.
std::vector<array> run_steps(const Compiled& c, std::vector<std::optional<array>> values, const Shape& shape,
                             const std::vector<int>& last_use, const std::vector<char>& keep) {
  const auto& steps = c.steps();
  for (size_t i = 0; i < steps.size(); ++i) {
    std::vector<array> args;
    args.reserve(steps[i].args.size());
    for (int v : steps[i].args) args.push_back(*values[v]);
    for (int v : steps[i].args) {
      if (last_use[v] == static_cast<int>(i) && !keep[v]) values[v].reset();
    }
    std::vector<array> outs{array(shape, steps[i].dtype, nullptr, {})};
    steps[i].prim->eval_cpu(args, outs);
    args.clear();
    values[c.num_inputs() + i] = std::move(outs[0]);
  }
  std::vector<array> result;
  for (int v : c.output_values()) result.push_back(*values[v]);
  return result;
}
}  // namespace

// inputs: any layout, each broadcastable to outputs[0].shape(); outputs: row-major (or the
// layout of the last step's result when the whole output is one block).
void Compiled::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  const Shape& shape = outputs[0].shape();
  const int nv = num_inputs_ + static_cast<int>(steps_.size());
  std::vector<int> last_use(nv, -1);
  for (size_t i = 0; i < steps_.size(); ++i)
    for (int v : steps_[i].args) last_use[v] = static_cast<int>(i);
  std::vector<char> keep(nv, 0);
  for (int v = 0; v < num_inputs_; ++v) keep[v] = 1;  // the node's inputs are not ours to donate
  for (int v : outputs_) keep[v] = 1;

  const int64_t n = static_cast<int64_t>(outputs[0].size());
  if (n < 2 * kBlock) {
    std::vector<std::optional<array>> values(nv);
    for (int v = 0; v < num_inputs_; ++v) values[v] = inputs[v];
    auto res = run_steps(*this, std::move(values), shape, last_use, keep);
    for (size_t k = 0; k < outputs.size(); ++k) outputs[k].copy_shared_buffer(res[k]);
    return;
  }
  // Blocks: axis d is the first whose trailing extent fits a block; a block is a run of `b`
  // indices along d (all of the trailing axes) at one index of the axes before d.
  const int nd = static_cast<int>(shape.size());
  int d = nd - 1;
  int64_t inner = 1;
  while (d > 0 && inner * shape[d] <= kBlock) inner *= shape[d--];
  if (inner * shape[d] <= kBlock) {  // everything from d on fits: d is the outermost axis
    // (only reachable when d == 0)
  }
  const int64_t b = std::max<int64_t>(1, std::min<int64_t>(shape[d], kBlock / inner));
  const int64_t per_row = (shape[d] + b - 1) / b;
  int64_t rows = 1;
  for (int i = 0; i < d; ++i) rows *= shape[i];
  std::vector<Strides> in_strides;
  for (const auto& in : inputs) in_strides.push_back(cpu::broadcast_strides(in, shape));
  const Strides out_strides = row_strides(shape);
  for (auto& o : outputs) o.set_data(allocator::malloc(o.nbytes()));

  cpu::parallel_for(rows * per_row, 1, [&](int64_t first, int64_t last) {
    for (int64_t blk = first; blk < last; ++blk) {
      int64_t row = blk / per_row, start = (blk % per_row) * b, len = std::min(b, shape[d] - start);
      Shape bs(nd, 1);
      bs[d] = static_cast<int32_t>(len);
      for (int i = d + 1; i < nd; ++i) bs[i] = shape[i];
      // Element offsets of the block's first element: in each input and in the outputs.
      std::vector<int64_t> offs(inputs.size(), 0);
      int64_t out_off = 0, r = row;
      for (int i = d - 1; i >= 0; --i) {
        int64_t idx = r % shape[i];
        r /= shape[i];
        for (size_t k = 0; k < inputs.size(); ++k) offs[k] += idx * in_strides[k][i];
        out_off += idx * out_strides[i];
      }
      for (size_t k = 0; k < inputs.size(); ++k) offs[k] += start * in_strides[k][d];
      out_off += start * out_strides[d];
      std::vector<std::optional<array>> values(nv);
      for (int v = 0; v < num_inputs_; ++v) {
        array view(bs, inputs[v].dtype(), nullptr, {});
        views::make_view(inputs[v], view, in_strides[v], offs[v]);
        values[v] = std::move(view);
      }
      auto res = run_steps(*this, std::move(values), bs, last_use, keep);
      for (size_t k = 0; k < outputs.size(); ++k) {
        array dst(bs, outputs[k].dtype(), nullptr, {});
        views::make_view(outputs[k], dst, out_strides, out_off);
        cpu::copy_into(res[k], dst);
      }
    }
  });
}

}  // namespace mica
