// CPU kernels of compile's fused node (primitives/compiled.h), in two forms:
// - generated: C++ source for the whole chain (one loop over the output, every step's value in
//   a register), compiled at run time by the system compiler (backend/cpu/jit.cpp) and cached
//   on disk. Used when every step and dtype has an expression below and the inputs' layouts fit
//   (row-major or broadcast over trailing blocks of at least kMinCols elements).
// - the block interpreter otherwise: the output (shape S, row-major) is cut into blocks of about
//   kBlock elements; for each block, every step runs its own CPU kernel on views of the inputs
//   restricted to the block, so intermediates live in cache and only the inputs and outputs
//   cross memory. Small outputs run the steps on whole arrays (one block).
// Rows or blocks run in parallel; the kernels inside them run inline.
#include <atomic>
#include <cmath>
#include <mutex>
#include <optional>
#include <sstream>
#include <unordered_map>

#include "mica/backend/compiled_expr.h"
#include "mica/backend/cpu/binary.h"
#include "mica/backend/cpu/copy.h"
#include "mica/backend/cpu/jit.h"
#include "mica/backend/cpu/parallel.h"
#include "mica/backend/views.h"
#include "mica/ops/utils.h"
#include "mica/primitives/binary.h"
#include "mica/primitives/compiled.h"
#include "mica/primitives/reduce.h"
#include "mica/primitives/unary.h"

namespace mica {

namespace {
std::atomic<int64_t> g_generated_runs{0};
using codegen::ctype;
using codegen::expression;
using codegen::Target;

// The generated kernel's innermost loop runs over at least this many elements.
constexpr int64_t kMinCols = 16;

// A long single-row sum is split into parts of this many elements.
constexpr int64_t kSumPart = 1 << 15;

// True when the node's output is its only sum and nothing in the sum's argument is a sum.
bool single_sum(const Compiled& c) {
  const auto& steps = c.steps();
  int sums = 0;
  for (const auto& st : steps) sums += dynamic_cast<const Reduce*>(st.prim.get()) != nullptr;
  const int out = c.output_values()[0] - c.num_inputs();
  return sums == 1 && out >= 0 && dynamic_cast<const Reduce*>(steps[out].prim.get()) != nullptr;
}

// How an input is read in the generated inner loop: one element per column, or one per row.
enum InnerKind : char { kCols = 'c', kRow = 'r' };

// The generated kernel's source for these inputs, or nothing when some step has no expression.
// Each row (the outer index) runs in phases: a loop over the row's columns computes the sums
// whose arguments are ready, then the per-row values that need those sums, then the next loop;
// a last loop writes a full-shape output. Full-shape values are recomputed in every loop that
// needs them (they never go to memory); the row's inputs are read from cache after the first.
// No software prefetch of the next row: measured on layer norm of x + r (4096 x 4096 float32),
// the hardware prefetcher alone ran at 1.02-1.07 of copy bandwidth, with the next row's inputs
// prefetched at 0.80-0.99.
std::optional<std::string> kernel_source(const Compiled& c, const std::vector<Dtype>& in_dtypes,
                                         const std::string& kinds, bool out_per_row) {
  const auto& steps = c.steps();
  const int ni = static_cast<int>(in_dtypes.size());
  std::vector<char> full_inputs(ni);
  for (int i = 0; i < ni; ++i) full_inputs[i] = kinds[i] == kCols;
  auto plan = codegen::row_plan(steps, in_dtypes, full_inputs, Target::cpu, nullptr);
  if (!plan) return std::nullopt;
  const auto& dt = plan->dt;
  const auto& full = plan->full;
  const auto& sum = plan->sum;
  const auto& expr = plan->expr;
  const int top = plan->top;
  auto name = codegen::value_name;
  const int out_v = c.output_values()[0];
  std::ostringstream src;
  const int slots = std::max(ni, 1);
  src << "#include <cmath>\n#include <cstdint>\n" << cpu::jit::simd_math_source() << "\n"
      << "using namespace mica::cpu::simd;\n"
      << "// Element offsets of row `row`'s first element in each input.\n"
      << "static inline void mica_offsets(int64_t row, int num_outer, const int64_t* outer_shape,\n"
      << "                                const int64_t* strides, int64_t* off) {\n"
      << "  for (int k = 0; k < " << ni << "; ++k) off[k] = 0;\n"
      << "  for (int64_t d = num_outer - 1, rem = row; d >= 0; --d) {\n"
      << "    const int64_t idx = rem % outer_shape[d];\n    rem /= outer_shape[d];\n"
      << "    for (int k = 0; k < " << ni << "; ++k) off[k] += idx * strides[k * num_outer + d];\n  }\n}\n"
      << "extern \"C\" void mica_fused(int64_t row_begin, int64_t row_end, int64_t col_begin, int64_t col_end,\n"
      << "    int64_t cols, int num_outer, const int64_t* outer_shape, const void* const* in,\n"
      << "    const int64_t* in_outer_strides, void* const* out) {\n"
      << "  for (int64_t row = row_begin; row < row_end; ++row) {\n"
      << "    int64_t o[" << slots << "];\n    mica_offsets(row, num_outer, outer_shape, in_outer_strides, o);\n";
  for (int i = 0; i < ni; ++i) {
    src << "    const " << ctype(dt[i]) << "* __restrict r" << i << " = static_cast<const " << ctype(dt[i]) << "*>(in["
        << i << "]) + o[" << i << "];\n";
    if (!full[i]) src << "    const " << ctype(dt[i]) << " " << name(i) << " = r" << i << "[0];\n";
  }
  // The full-shape values `targets` need, in step order, as statements of a column loop.
  auto column_body = [&](const std::vector<int>& targets) {
    std::ostringstream b;
    for (int v : codegen::row_values_needed(steps, *plan, targets)) {
      b << "      const " << ctype(dt[v]) << " " << name(v) << " = ";
      if (v < ni) b << "r" << v << "[j]";
      else b << expr[v];
      b << ";\n";
    }
    return b.str();
  };
  const bool has_sums = std::find(sum.begin(), sum.end(), 1) != sum.end();
  // A single sum that is the output (one level): its loop may run over part of the row (the
  // caller adds the parts), so a long row spreads over the cores.
  const bool partial = top == 1 && sum[out_v];
  for (int l = 0; l <= top; ++l) {
    // Per-row values ready at this level, then the sums whose arguments are.
    for (int v : plan->per_row_at(l)) src << "    const " << ctype(dt[v]) << " " << name(v) << " = " << expr[v] << ";\n";
    const std::vector<int> sums = plan->sums_after(l);
    if (sums.empty()) continue;
    std::vector<int> args;
    for (int v : sums) args.push_back(plan->sum_arg[v]);
    std::string list;
    for (int v : sums) {
      src << "    " << ctype(dt[v]) << " " << name(v) << " = 0;\n";
      list += (list.empty() ? "" : ", ") + name(v);
    }
    // The vector lanes add in their own order, as the library's row sums do.
    src << "#pragma omp simd reduction(+ : " << list << ")\n    for (int64_t j = "
        << (partial ? "col_begin; j < col_end" : "0; j < cols") << "; ++j) {\n"
        << column_body(args);
    for (size_t k = 0; k < sums.size(); ++k) src << "      " << name(sums[k]) << " += " << name(args[k]) << ";\n";
    src << "    }\n";
  }
  const char* ot = ctype(dt[out_v]);
  if (out_per_row) {
    src << "    static_cast<" << ot << "*>(out[0])[row] = " << name(out_v) << ";\n  }\n}\n";
  } else {
    // With sums the row is the whole inner block; without, the caller may split the columns.
    src << "    " << ot << "* __restrict w0 = static_cast<" << ot << "*>(out[0]) + row * cols;\n"
        << "    for (int64_t j = " << (has_sums ? "0" : "col_begin") << "; j < " << (has_sums ? "cols" : "col_end")
        << "; ++j) {\n" << column_body({out_v}) << "      w0[j] = " << name(out_v) << ";\n    }\n  }\n}\n";
  }
  return src.str();
}

// Runs the generated kernel when it applies; false leaves the node to the interpreter.
bool run_generated(const Compiled& c, const std::vector<array>& inputs, std::vector<array>& outputs) {
  if (!cpu::jit::enabled()) return false;
  // The elementwise steps' shape: the inputs' broadcast (the output's, unless the node sums).
  std::vector<Shape> in_shapes;
  for (const auto& in : inputs) in_shapes.push_back(in.shape());
  const bool reduce = c.has_sums();
  const Shape shape = reduce ? broadcast_shapes(in_shapes) : outputs[0].shape();
  const int nd = static_cast<int>(shape.size());
  // A sum's reduced axes (trailing) must be exactly the inner block.
  const int reduced = reduce ? c.summed_axes() : 0;
  std::vector<Strides> st;
  for (const auto& in : inputs) st.push_back(cpu::broadcast_strides(in, shape));
  // The inner block: the trailing axes over which every input is row-major (kCols: one element
  // per column) or constant (kRow: one element per row). Size-1 axes fit either.
  std::string kinds(inputs.size(), '?');
  int first = nd;  // first axis of the inner block
  int64_t cols = 1;
  for (int d = nd - 1; d >= 0 && (!reduce || d >= nd - reduced); --d) {
    if (shape[d] == 1) {
      first = d;
      continue;
    }
    std::string next = kinds;
    bool fits = true;
    for (size_t i = 0; i < inputs.size() && fits; ++i) {
      const int64_t s = st[i][d];
      if (next[i] == '?') next[i] = s == 0 ? char(kRow) : s == cols ? char(kCols) : 'x';
      fits = next[i] == kCols ? s == cols : next[i] == kRow && s == 0;
    }
    if (!fits) break;
    kinds = next;
    cols *= shape[d];
    first = d;
  }
  for (auto& k : kinds) k = k == '?' ? char(kRow) : k;
  int64_t n = 1;
  for (auto e : shape) n *= e;
  if (n == 0 || (reduce && first != nd - reduced) || (!reduce && cols < kMinCols && cols != n)) return false;
  std::vector<Dtype> dts;
  for (const auto& in : inputs) dts.push_back(in.dtype());
  // The output holds one value per row (a sum or what follows it), or a row of columns.
  const bool out_per_row = cols > 1 && static_cast<int64_t>(outputs[0].size()) * cols == n;
  std::string key = kinds + (out_per_row ? "R" : "C");
  for (auto d : dts) key += dtype_to_string(d);
  void* fn = c.generated(key, [&] { return kernel_source(c, dts, kinds, out_per_row); },
                         [](const std::string& src) { return cpu::jit::load(src, "mica_fused"); });
  if (!fn) return false;
  const int num_outer = first;
  std::vector<int64_t> outer_shape(shape.begin(), shape.begin() + num_outer), outer_strides;
  for (size_t i = 0; i < inputs.size(); ++i)
    for (int d = 0; d < num_outer; ++d) outer_strides.push_back(st[i][d]);
  int64_t rows = 1;
  for (int d = 0; d < num_outer; ++d) rows *= shape[d];
  std::vector<const void*> in_ptrs;
  for (const auto& in : inputs) in_ptrs.push_back(in.data<void>());
  std::vector<void*> out_ptrs;
  for (auto& o : outputs) {
    o.set_data(allocator::malloc(o.nbytes()));
    out_ptrs.push_back(o.data<void>());
  }
  ++g_generated_runs;
  auto kernel = reinterpret_cast<cpu::jit::ElementwiseFn>(fn);
  const int64_t* os = outer_shape.data();
  const int64_t* ost = outer_strides.data();
  const int64_t parts = (cols + kSumPart - 1) / kSumPart;
  if (reduce && rows == 1 && parts > 1 && single_sum(c)) {
    // One long row: fixed-size parts (the same sum on any number of cores), added in order.
    std::vector<double> part(parts);
    const bool f64 = outputs[0].dtype() == float64;
    cpu::parallel_for(parts, 1, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        float pf = 0;
        double pd = 0;
        void* slot[1] = {f64 ? static_cast<void*>(&pd) : static_cast<void*>(&pf)};
        kernel(0, 1, k * kSumPart, std::min(cols, (k + 1) * kSumPart), cols, num_outer, os, in_ptrs.data(), ost, slot);
        part[k] = f64 ? pd : pf;
      }
    });
    if (f64) {
      double acc = 0;
      for (double p : part) acc += p;
      outputs[0].data<double>()[0] = acc;
    } else {
      float acc = 0;
      for (double p : part) acc += static_cast<float>(p);
      outputs[0].data<float>()[0] = acc;
    }
    return true;
  }
  if (reduce || rows >= 2 * cpu::num_threads() || cols < cpu::kElementwiseGrain) {
    cpu::parallel_for(rows, std::max<int64_t>(1, cpu::kElementwiseGrain / cols), [&](int64_t b, int64_t e) {
      kernel(b, e, 0, cols, cols, num_outer, os, in_ptrs.data(), ost, out_ptrs.data());
    });
  } else {
    for (int64_t r = 0; r < rows; ++r) {
      cpu::parallel_for(cols, cpu::kElementwiseGrain, [&](int64_t b, int64_t e) {
        kernel(r, r + 1, b, e, cols, num_outer, os, in_ptrs.data(), ost, out_ptrs.data());
      });
    }
  }
  return true;
}

// Elements per block: a step's two operands and its result (float32) fit a core's L2.
constexpr int64_t kBlock = 1 << 14;

// Runs the steps on values[0, num_inputs) (each step on its arguments' broadcast shape) and
// returns the outputs' values. A value that no later step reads is dropped before its last
// reader runs, so that reader may write into its buffer.
std::vector<array> run_steps(const Compiled& c, std::vector<std::optional<array>> values,
                             const std::vector<int>& last_use, const std::vector<char>& keep) {
  const auto& steps = c.steps();
  for (size_t i = 0; i < steps.size(); ++i) {
    std::vector<array> args;
    std::vector<Shape> shapes;
    args.reserve(steps[i].args.size());
    for (int v : steps[i].args) {
      args.push_back(*values[v]);
      shapes.push_back(args.back().shape());
    }
    for (int v : steps[i].args) {
      if (last_use[v] == static_cast<int>(i) && !keep[v]) values[v].reset();
    }
    std::vector<array> outs{array(Compiled::step_shape(steps[i], shapes), steps[i].dtype, nullptr, {})};
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
namespace detail {
int64_t compiled_cpu_generated_runs() { return g_generated_runs.load(); }
}  // namespace detail

void Compiled::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  if (run_generated(*this, inputs, outputs)) return;
  const Shape& shape = outputs[0].shape();
  const int nv = num_inputs_ + static_cast<int>(steps_.size());
  std::vector<int> last_use(nv, -1);
  for (size_t i = 0; i < steps_.size(); ++i)
    for (int v : steps_[i].args) last_use[v] = static_cast<int>(i);
  std::vector<char> keep(nv, 0);
  for (int v = 0; v < num_inputs_; ++v) keep[v] = 1;  // the node's inputs are not ours to donate
  for (int v : outputs_) keep[v] = 1;

  const int64_t n = static_cast<int64_t>(outputs[0].size());
  if (n < 2 * kBlock || has_sums()) {  // a sum runs its own kernel over the whole input
    std::vector<std::optional<array>> values(nv);
    for (int v = 0; v < num_inputs_; ++v) values[v] = inputs[v];
    auto res = run_steps(*this, std::move(values), last_use, keep);
    for (size_t k = 0; k < outputs.size(); ++k) outputs[k].copy_shared_buffer(res[k]);
    return;
  }
  // Blocks: axis d is the first whose trailing extent fits a block; a block is a run of `b`
  // indices along d (all of the trailing axes) at one index of the axes before d.
  const int nd = static_cast<int>(shape.size());
  int d = nd - 1;
  int64_t inner = 1;
  while (d > 0 && inner * shape[d] <= kBlock) inner *= shape[d--];
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
      auto res = run_steps(*this, std::move(values), last_use, keep);
      for (size_t k = 0; k < outputs.size(); ++k) {
        array dst(bs, outputs[k].dtype(), nullptr, {});
        views::make_view(outputs[k], dst, out_strides, out_off);
        cpu::copy_into(res[k], dst);
      }
    }
  });
}

}  // namespace mica
