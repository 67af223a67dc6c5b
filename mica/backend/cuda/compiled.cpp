// GPU side of compile's fused node (primitives/compiled.h; CPU twin backend/cpu/compiled.cpp).
// A chain of elementwise steps over float32/float16/bfloat16/float64 values becomes one CUDA
// kernel: source generated from the steps' expressions (backend/compiled_expr.cpp, CUDA's math
// functions, halves computed in float and rounded after every step as the unfused kernels
// round their outputs), compiled with NVRTC for the device's architecture (no FMA contraction,
// IEEE division, as nvcc builds the unfused kernels), cached in memory and as a cubin on disk,
// and launched on the node's stream. Each input is read whole (row-major, the output's shape),
// as one value, or as a row repeated along the leading axes; any other layout, dtype or step
// runs the steps one by one with their own GPU kernels. A node with sums over its trailing axes
// (a layer norm's mean and variance, say) becomes a row kernel: one block per row, the sums as
// block sums, phases as the CPU's generated kernel (row_kernel_source); inputs may then also be
// one value per row. MICA_GPU_FUSION=0 leaves GPU chains unfused.
#include <cuda.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <sstream>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>

#include "mica/backend/compiled_expr.h"
#include "mica/backend/cuda/jit.h"
#include "mica/backend/cuda/utils.h"
#include "mica/ops/utils.h"
#include "mica/primitives/compiled.h"
#include "mica/primitives/reduce.h"

namespace mica {

namespace {
using codegen::compute_type;
using codegen::ctype;
using codegen::Target;

std::atomic<int64_t> g_generated_launches{0};

// How a generated kernel reads input k at flat output index i.
enum Access : char { kWhole = 'w', kOne = 'o', kRowRepeat = 'r' };

// NVRTC's options for fused kernels: no FMA contraction, IEEE division and square root, as nvcc
// builds the unfused kernels.
const std::vector<std::string>& fused_options() {
  static const std::vector<std::string> o{"--fmad=false", "--prec-div=true", "--prec-sqrt=true"};
  return o;
}

// The kernel `mica_fused` of `source`, or null when NVRTC or the driver refuses it (reported once
// per source).
CUfunction load(const std::string& source) {
  std::string error;
  CUfunction fn = cu::jit::load(source, "mica_fused", fused_options(), &error);
  if (!fn) {
    static std::mutex mu;
    static std::unordered_set<std::string> reported;
    std::lock_guard<std::mutex> lk(mu);
    if (reported.insert(source).second) {
      std::fprintf(stderr, "mica: a fused GPU kernel could not be built (%s); its steps run one by one\n",
                   error.substr(0, 400).c_str());
    }
  }
  return fn;
}

// What every generated kernel starts with: fixed-width types, half conversions, and the block
// sum of the row kernels (warp shuffles, then the warps' partials added in warp order by every
// thread: the same order on every run).
const char* preamble() {
  return "#define NAN __int_as_float(0x7fffffff)\n"
         "typedef signed char int8_t; typedef short int16_t; typedef int int32_t; typedef long long int64_t;\n"
         "typedef unsigned char uint8_t; typedef unsigned short uint16_t; typedef unsigned int uint32_t;\n"
         "typedef unsigned long long uint64_t;\n"
         "__device__ __forceinline__ float mica_h2f(unsigned short h) { float f; asm(\"cvt.f32.f16 %0, %1;\" : \"=f\"(f) : \"h\"(h)); return f; }\n"
         "__device__ __forceinline__ unsigned short mica_f2h(float f) { unsigned short h; asm(\"cvt.rn.f16.f32 %0, %1;\" : \"=h\"(h) : \"f\"(f)); return h; }\n"
         "__device__ __forceinline__ float mica_b2f(unsigned short b) { return __uint_as_float(((unsigned int)b) << 16); }\n"
         "__device__ __forceinline__ unsigned short mica_f2b(float f) { unsigned short b; asm(\"cvt.rn.bf16.f32 %0, %1;\" : \"=h\"(b) : \"f\"(f)); return b; }\n"
         "template <typename T> __device__ T mica_block_sum(T v, double* shared) {\n"
         "  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);\n"
         "  __syncthreads();\n"
         "  if ((threadIdx.x & 31) == 0) shared[threadIdx.x >> 5] = (double)v;\n"
         "  __syncthreads();\n"
         "  T t = 0;\n"
         "  for (int w = 0; w < (int)(blockDim.x >> 5); ++w) t += (T)shared[w];\n"
         "  return t;\n"
         "}\n";
}

// Loads and stores of a dtype in generated code: halves travel as their 16 bits and compute in
// float, rounded after every step as the unfused kernels round their outputs.
std::string load_expr(Dtype d, const std::string& x) {
  if (d == float16) return "mica_h2f(" + x + ")";
  if (d == bfloat16) return "mica_b2f(" + x + ")";
  return x;
}
std::string round_expr(Dtype d, const std::string& x) {
  if (d == float16) return "mica_h2f(mica_f2h(" + x + "))";
  if (d == bfloat16) return "mica_b2f(mica_f2b(" + x + "))";
  return x;
}
std::string store_expr(Dtype d, const std::string& x) {
  if (d == float16) return "mica_f2h(" + x + ")";
  if (d == bfloat16) return "mica_f2b(" + x + ")";
  return x;
}

// How a row kernel reads input k: a whole row ([row * cols + j]), the same row for every row
// ([j]), one value ([0]) or one value per row ([row]).
enum RowAccess : char { kRowWhole = 'W', kRowSame = 'S', kRowOne = 'O', kRowValue = 'V' };

// Source of the row kernel of a node with sums over its trailing axes (summed_axes() of them,
// `cols` elements per row): one block per row (rows strided over the grid), in phases as the
// CPU's generated kernel: the threads add their columns of every sum whose argument is ready,
// a block sum makes each total known to all threads, the per-row values that need it follow,
// then the next phase; values that vary along the row are recomputed in every phase that needs
// them (the row's inputs come from L1/L2 after the first). The output is one value per row or a
// whole row.
std::optional<std::string> row_kernel_source(const Compiled& c, const std::vector<Dtype>& in_dtypes,
                                             const std::string& access, bool out_per_row) {
  const auto& steps = c.steps();
  const int ni = static_cast<int>(in_dtypes.size());
  std::vector<char> full_inputs(ni);
  for (int i = 0; i < ni; ++i) full_inputs[i] = access[i] == kRowWhole || access[i] == kRowSame;
  auto plan = codegen::row_plan(steps, in_dtypes, full_inputs, Target::gpu, round_expr);
  if (!plan) return std::nullopt;
  const auto& dt = plan->dt;
  const auto& full = plan->full;
  const auto& expr = plan->expr;
  for (int l = 0; l < plan->top; ++l) {
    for (int v : plan->sums_after(l)) {
      if (dt[v] != float32 && dt[v] != float64) return std::nullopt;  // block sums in float or double
    }
  }
  auto name = codegen::value_name;
  const int out_v = c.output_values()[0];
  if (out_per_row && full[out_v]) return std::nullopt;
  // The values that vary along the row which `targets` need, in step order, as loop statements.
  auto column_body = [&](const std::vector<int>& targets) {
    std::ostringstream b;
    for (int v : codegen::row_values_needed(steps, *plan, targets)) {
      std::string value;
      if (v < ni) {
        std::string at = "in" + std::to_string(v);
        at += access[v] == kRowWhole ? "[row * cols + j]" : "[j]";
        value = load_expr(dt[v], at);
      } else {
        value = expr[v];
      }
      b << "      const " << compute_type(dt[v], Target::gpu) << " " << name(v) << " = " << value << ";\n";
    }
    return b.str();
  };
  std::ostringstream params, src;
  for (int i = 0; i < ni; ++i) params << ", const " << ctype(dt[i], Target::gpu) << "* __restrict__ in" << i;
  src << preamble() << "extern \"C\" __global__ void mica_fused(long long rows, long long cols" << params.str() << ", "
      << ctype(dt[out_v], Target::gpu) << "* __restrict__ out) {\n"
      << "  __shared__ double shared[32];\n"
      << "  for (long long row = blockIdx.x; row < rows; row += gridDim.x) {\n";
  for (int i = 0; i < ni; ++i) {
    if (full[i]) continue;
    std::string at = "in" + std::to_string(i);
    at += access[i] == kRowValue ? "[row]" : "[0]";
    src << "    const " << compute_type(dt[i], Target::gpu) << " " << name(i) << " = " << load_expr(dt[i], at) << ";\n";
  }
  for (int l = 0; l <= plan->top; ++l) {
    for (int v : plan->per_row_at(l)) {
      src << "    const " << compute_type(dt[v], Target::gpu) << " " << name(v) << " = " << expr[v] << ";\n";
    }
    const std::vector<int> sums = plan->sums_after(l);
    if (sums.empty()) continue;
    std::vector<int> args;
    for (int v : sums) args.push_back(plan->sum_arg[v]);
    for (int v : sums) src << "    " << ctype(dt[v], Target::gpu) << " " << name(v) << " = 0;\n";
    src << "    for (long long j = threadIdx.x; j < cols; j += blockDim.x) {\n" << column_body(args);
    for (size_t k = 0; k < sums.size(); ++k) src << "      " << name(sums[k]) << " += " << name(args[k]) << ";\n";
    src << "    }\n";
    for (int v : sums) src << "    " << name(v) << " = mica_block_sum(" << name(v) << ", shared);\n";
  }
  if (out_per_row) {
    src << "    if (threadIdx.x == 0) out[row] = " << store_expr(dt[out_v], name(out_v)) << ";\n";
  } else {
    src << "    for (long long j = threadIdx.x; j < cols; j += blockDim.x) {\n" << column_body({out_v})
        << "      out[row * cols + j] = " << store_expr(dt[out_v], name(out_v)) << ";\n    }\n";
  }
  src << "    __syncthreads();\n  }\n}\n";
  return src.str();
}

// Source of the elementwise kernel (no sums) for these input dtypes and accesses, or nothing
// when a step has no expression.
std::optional<std::string> kernel_source(const Compiled& c, const std::vector<Dtype>& in_dtypes,
                                         const std::string& access) {
  if (c.has_sums()) return std::nullopt;
  const auto& steps = c.steps();
  const int ni = static_cast<int>(in_dtypes.size());
  std::vector<Dtype> dt = in_dtypes;
  std::ostringstream body, params;
  auto name = codegen::value_name;
  for (int i = 0; i < ni; ++i) {
    if (!ctype(dt[i], Target::gpu)) return std::nullopt;
    params << ", const " << ctype(dt[i], Target::gpu) << "* __restrict__ in" << i;
    const std::string at = access[i] == kWhole ? "[i]" : access[i] == kOne ? "[0]" : "[i % cols]";
    body << "    const " << compute_type(dt[i], Target::gpu) << " " << name(i) << " = " << load_expr(dt[i], "in" + std::to_string(i) + at)
         << ";\n";
  }
  for (size_t si = 0; si < steps.size(); ++si) {
    const auto& st = steps[si];
    const int v = ni + static_cast<int>(si);
    if (!ctype(st.dtype, Target::gpu)) return std::nullopt;
    std::vector<std::string> args;
    std::vector<Dtype> arg_dt;
    for (int a : st.args) {
      args.push_back(name(a));
      arg_dt.push_back(dt[a]);
    }
    auto e = codegen::expression(*st.prim, args, arg_dt, st.dtype, Target::gpu);
    if (!e) return std::nullopt;
    body << "    const " << compute_type(st.dtype, Target::gpu) << " " << name(v) << " = " << round_expr(st.dtype, *e) << ";\n";
    dt.push_back(st.dtype);
  }
  const int out_v = c.output_values()[0];
  const Dtype od = dt[out_v];
  const std::string store = store_expr(od, name(out_v));
  std::ostringstream src;
  src << preamble()
      << "extern \"C\" __global__ void mica_fused(long long n, long long cols" << params.str() << ", "
      << ctype(od, Target::gpu) << "* __restrict__ out) {\n"
      << "  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {\n"
      << body.str() << "    out[i] = " << store << ";\n  }\n}\n";
  return src.str();
}

void launch(void* fn, unsigned grid, const std::vector<array>& inputs, array& out, long long a, long long b,
            const Stream& s) {
  std::vector<const void*> ptrs;
  for (const auto& in : inputs) ptrs.push_back(cu::ptr<const void>(in));
  void* out_ptr = cu::ptr<void>(out);
  std::vector<void*> args{&a, &b};
  for (auto& p : ptrs) args.push_back(&p);
  args.push_back(&out_ptr);
  if (cu::jit::driver().launch_kernel(static_cast<CUfunction>(fn), grid, 1, 1, 256, 1, 1, 0,
                             reinterpret_cast<CUstream>(cu::stream(s)), args.data(), nullptr) != CUDA_SUCCESS) {
    throw std::runtime_error("[Compiled] the fused kernel's launch failed");
  }
  ++g_generated_launches;
}

// What a generated kernel for these inputs needs: its cache key, its source, and the two sizes
// it takes (row kernels: rows and columns; elementwise: elements and columns). Nothing when the
// inputs' layouts do not fit (the node then runs its steps).
struct Plan {
  bool rows = false;
  std::string key;
  std::function<std::optional<std::string>()> source;
  int64_t a = 0, b = 0;
};

std::optional<Plan> plan(const Compiled& c, const std::vector<array>& inputs, const array& out) {
  std::vector<Dtype> dts;
  for (const auto& in : inputs) dts.push_back(in.dtype());
  std::string access;
  Plan p;
  if (c.has_sums()) {
    // Row kernel: the elementwise steps' shape is the inputs' broadcast; its trailing
    // summed_axes() axes are the row.
    std::vector<Shape> in_shapes;
    for (const auto& in : inputs) in_shapes.push_back(in.shape());
    const Shape shape = broadcast_shapes(in_shapes);
    const int nd = static_cast<int>(shape.size()), reduced = c.summed_axes();
    if (reduced > nd) return std::nullopt;
    int64_t rows = 1, cols = 1;
    for (int d = 0; d < nd; ++d) (d < nd - reduced ? rows : cols) *= shape[d];
    Shape row_shape = shape;
    for (int d = nd - reduced; d < nd; ++d) row_shape[d] = 1;
    if (rows == 0 || cols == 0) return std::nullopt;
    const Shape row_tail(shape.end() - reduced, shape.end());
    for (const auto& in : inputs) {
      if (in.data_size() == 1) access += kRowOne;
      else if (in.shape() == shape && in.flags().row_contiguous) access += kRowWhole;
      else if (in.flags().row_contiguous && static_cast<int64_t>(in.size()) == cols &&
               in.ndim() >= static_cast<size_t>(reduced) && Shape(in.shape().end() - reduced, in.shape().end()) == row_tail)
        access += kRowSame;
      else if (in.flags().row_contiguous && in.shape() == row_shape) access += kRowValue;
      else return std::nullopt;
    }
    const int64_t on = static_cast<int64_t>(out.size());
    const bool out_per_row = on == rows && on != rows * cols;
    if (!out_per_row && on != rows * cols) return std::nullopt;
    p.rows = true;
    p.key = "gpu-rows:" + access + (out_per_row ? "R" : "C");
    p.source = [&c, dts, access, out_per_row] { return row_kernel_source(c, dts, access, out_per_row); };
    p.a = rows;
    p.b = cols;
  } else {
    const Shape& shape = out.shape();
    const int64_t n = static_cast<int64_t>(out.size());
    const int64_t cols = shape.empty() ? 1 : shape.back();
    if (n == 0 || cols == 0) return std::nullopt;
    for (const auto& in : inputs) {
      if (in.data_size() == 1) access += kOne;
      else if (in.shape() == shape && in.flags().row_contiguous) access += kWhole;
      else if (in.flags().row_contiguous && in.size() == static_cast<size_t>(cols) && in.shape().back() == cols) access += kRowRepeat;
      else return std::nullopt;
    }
    p.key = "gpu:" + access;
    p.source = [&c, dts, access] { return kernel_source(c, dts, access); };
    p.a = n;
    p.b = cols;
  }
  for (auto d : dts) p.key += dtype_to_string(d);
  return p;
}

// Runs the generated kernel when the inputs' layouts fit; false leaves the node to the steps.
bool run_generated(const Compiled& c, const std::vector<array>& inputs, array& out, const Stream& s) {
  auto p = plan(c, inputs, out);
  if (!p) return false;
  void* fn = c.generated(p->key, p->source, [](const std::string& src) { return reinterpret_cast<void*>(load(src)); });
  if (!fn) return false;
  cu::alloc_output(out, s);
  // Row kernels: a block per row, at most 64 per multiprocessor at a time (rows strided over
  // them); elementwise: 256-element blocks, at most 32 per multiprocessor (a grid-stride loop).
  const int64_t blocks = p->rows ? p->a : (p->a + 255) / 256;
  const unsigned grid = static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(blocks, (p->rows ? 64 : 32) * cu::sm_count())));
  launch(fn, grid, inputs, out, p->a, p->b, s);
  return true;
}
}  // namespace

namespace detail {
int64_t compiled_gpu_generated_launches() { return g_generated_launches.load(); }

std::string compiled_gpu_source_check(const Compiled& c, const std::vector<array>& inputs, const array& out,
                                      const std::string& arch) {
  auto p = plan(c, inputs, out);
  if (!p) return "no kernel for these layouts";
  auto src = p->source();
  if (!src) return "no source (a step without an expression)";
  std::string error;
  if (cu::jit::compile(*src, arch, fused_options(), &error).empty()) return error + "\n" + *src;
  return "";
}
}  // namespace detail

// inputs: any layout, broadcastable to outputs[0]; output: row-major.
void Compiled::eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  const Stream& s = stream();
  cu::prepare(inputs, s);
  if (outputs.size() == 1 && run_generated(*this, inputs, outputs[0], s)) return;
  // The steps one by one, each with its own GPU kernel, on whole arrays.
  std::vector<array> values(inputs.begin(), inputs.end());
  for (const auto& st : steps_) {
    std::vector<array> args;
    std::vector<Shape> shapes;
    for (int v : st.args) {
      args.push_back(values[v]);
      shapes.push_back(values[v].shape());
    }
    std::vector<array> outs{array(step_shape(st, shapes), st.dtype, nullptr, {})};
    st.prim->eval_gpu(args, outs);
    values.push_back(std::move(outs[0]));
  }
  for (size_t k = 0; k < outputs.size(); ++k) outputs[k].copy_shared_buffer(values[outputs_[k]]);
}

}  // namespace mica
