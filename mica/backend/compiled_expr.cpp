// Expressions of elementwise steps for compile's code generators (see compiled_expr.h). The CPU
// forms follow backend/cpu/unary.cpp and binary.cpp (float32 exp, tanh and sigmoid through the
// SIMD approximations of backend/cpu/simd/math.h); the GPU forms follow backend/cuda/unary.cu and
// binary.cu (CUDA's math functions, computing halves in float).
#include "mica/backend/compiled_expr.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "mica/primitives/binary.h"
#include "mica/primitives/reduce.h"
#include "mica/primitives/unary.h"

namespace mica::codegen {

std::string cache_dir(const std::string& sub) {
  namespace fs = std::filesystem;
  if (const char* d = std::getenv("MICA_CACHE_DIR"); d && *d) return (fs::path(d) / sub).string();
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d) return (fs::path(d) / "mica" / sub).string();
  if (const char* d = std::getenv("HOME"); d && *d) return (fs::path(d) / ".cache" / "mica" / sub).string();
  return (fs::temp_directory_path() / ("mica-" + sub)).string();
}

const char* ctype(Dtype d, Target t) {
  switch (d.val) {
    case Dtype::Val::float32: return "float";
    case Dtype::Val::float64: return "double";
    case Dtype::Val::float16: return t == Target::gpu ? "unsigned short" : nullptr;
    case Dtype::Val::bfloat16: return t == Target::gpu ? "unsigned short" : nullptr;
    case Dtype::Val::int8: return "int8_t";
    case Dtype::Val::int16: return "int16_t";
    case Dtype::Val::int32: return "int32_t";
    case Dtype::Val::int64: return "int64_t";
    case Dtype::Val::uint8: return "uint8_t";
    case Dtype::Val::uint16: return "uint16_t";
    case Dtype::Val::uint32: return "uint32_t";
    case Dtype::Val::uint64: return "uint64_t";
    case Dtype::Val::bool_: return "bool";
    default: return nullptr;
  }
}

const char* compute_type(Dtype d, Target t) {
  if (t == Target::gpu && (d == float16 || d == bfloat16)) return "float";
  return ctype(d, t);
}

std::optional<std::string> expression(const Primitive& p, const std::vector<std::string>& a,
                                      const std::vector<Dtype>& in, Dtype out, Target target) {
  const bool gpu = target == Target::gpu;
  const bool f = out == float32 || out == float64 || (gpu && (out == float16 || out == bfloat16));
  const bool single = f && out != float64;  // computed in float
  if (!compute_type(out, target)) return std::nullopt;
  // The GPU generator handles floating values only (its integer kernels wrap modulo 2^bits).
  if (gpu && !f && out != bool_) return std::nullopt;
  const std::string T = compute_type(out, target);
  const auto& t = typeid(p);
  const bool sgn = f || out == int8 || out == int16 || out == int32 || out == int64;
  auto arith = [&](const char* op) -> std::optional<std::string> {
    if (out == bool_) return std::nullopt;
    return "static_cast<" + T + ">(" + a[0] + " " + op + " " + a[1] + ")";
  };
  // A math function: CPU std::NAME (float32 exp/tanh through the SIMD forms), GPU NAMEf / NAME.
  auto math = [&](const std::string& name) -> std::string {
    if (gpu) return (single ? name + "f" : name) + "(" + a[0] + ")";
    return "std::" + name + "(" + a[0] + ")";
  };
  auto fn = [&](const std::string& name) -> std::optional<std::string> {
    if (!f) return std::nullopt;
    return math(name);
  };
  if (t == typeid(Add)) return arith("+");
  if (t == typeid(Subtract)) return arith("-");
  if (t == typeid(Multiply)) return arith("*");
  if (t == typeid(Divide)) return f ? arith("/") : std::nullopt;
  if (t == typeid(Maximum) || t == typeid(Minimum)) {
    const bool mx = t == typeid(Maximum);
    std::string pick = mx ? "(" + a[0] + " < " + a[1] + " ? " + a[1] + " : " + a[0] + ")"
                          : "(" + a[1] + " < " + a[0] + " ? " + a[1] + " : " + a[0] + ")";
    if (!f) return out == bool_ ? std::nullopt : std::optional(pick);
    return "((" + a[0] + " != " + a[0] + " || " + a[1] + " != " + a[1] + ") ? static_cast<" + T + ">(NAN) : " + pick + ")";
  }
  if (t == typeid(Power)) {
    if (!f) return std::nullopt;
    return gpu ? (single ? "powf(" : "pow(") + a[0] + ", " + a[1] + ")" : "std::pow(" + a[0] + ", " + a[1] + ")";
  }
  if (t == typeid(Equal)) {
    if (static_cast<const Equal&>(p).equal_nan() &&
        (in[0] == float32 || in[0] == float64 || in[0] == float16 || in[0] == bfloat16))
      return "(" + a[0] + " == " + a[1] + " || (" + a[0] + " != " + a[0] + " && " + a[1] + " != " + a[1] + "))";
    return "(" + a[0] + " == " + a[1] + ")";
  }
  if (t == typeid(NotEqual)) return "(" + a[0] + " != " + a[1] + ")";
  if (t == typeid(Greater)) return "(" + a[1] + " < " + a[0] + ")";
  if (t == typeid(GreaterEqual)) return "(" + a[0] + " >= " + a[1] + ")";
  if (t == typeid(Less)) return "(" + a[0] + " < " + a[1] + ")";
  if (t == typeid(LessEqual)) return "(" + a[0] + " <= " + a[1] + ")";
  if (t == typeid(LogicalAnd)) return "(" + a[0] + " != 0 && " + a[1] + " != 0)";
  if (t == typeid(LogicalOr)) return "(" + a[0] + " != 0 || " + a[1] + " != 0)";
  if (t == typeid(LogicalNot)) return "!(" + a[0] + " != 0)";
  if (t == typeid(Select)) return "(" + a[0] + " ? " + a[1] + " : " + a[2] + ")";
  if (t == typeid(Negative)) return sgn ? std::optional("static_cast<" + T + ">(-" + a[0] + ")") : std::nullopt;
  if (t == typeid(Abs)) return sgn ? std::optional("(" + a[0] + " < 0 ? static_cast<" + T + ">(-" + a[0] + ") : " + a[0] + ")") : std::nullopt;
  if (t == typeid(Square)) return out == bool_ ? std::nullopt : std::optional("static_cast<" + T + ">(" + a[0] + " * " + a[0] + ")");
  if (t == typeid(StopGradient)) return a[0];
  if (t == typeid(Sqrt)) {
    if (!f) return std::nullopt;
    return static_cast<const Sqrt&>(p).recip() ? "(" + T + "(1) / " + math("sqrt") + ")" : math("sqrt");
  }
  if (t == typeid(Exp)) return !gpu && out == float32 ? "exp_f32(" + a[0] + ")" : fn("exp");
  if (t == typeid(Tanh)) return !gpu && out == float32 ? "tanh_f32(" + a[0] + ")" : fn("tanh");
  if (t == typeid(Sigmoid)) {
    if (!f) return std::nullopt;
    if (!gpu && out == float32) return "sigmoid_f32(" + a[0] + ")";
    const std::string e = gpu ? (single ? "expf(-" : "exp(-") + a[0] + ")" : "std::exp(-" + a[0] + ")";
    return "(" + T + "(1) / (" + T + "(1) + " + e + "))";
  }
  if (t == typeid(Log)) {
    auto b = static_cast<const Log&>(p).base();
    return fn(b == Log::e ? "log" : b == Log::two ? "log2" : "log10");
  }
  if (t == typeid(Log1p)) return fn("log1p");
  if (t == typeid(Expm1)) return fn("expm1");
  if (t == typeid(Sin)) return fn("sin");
  if (t == typeid(Cos)) return fn("cos");
  if (t == typeid(Erf)) return fn("erf");
  if (t == typeid(Floor)) return fn("floor");
  if (t == typeid(Ceil)) return fn("ceil");
  if (t == typeid(AsType)) {
    // Only the casts that are plain conversions (cast_to defines the others: types/cast.h).
    if (!f || !ctype(in[0], target)) return std::nullopt;
    return "static_cast<" + T + ">(" + a[0] + ")";
  }
  return std::nullopt;
}

}  // namespace mica::codegen

namespace mica::codegen {

std::optional<RowPlan> row_plan(const std::vector<Compiled::Step>& steps, const std::vector<Dtype>& in_dtypes,
                                const std::vector<char>& full_inputs, Target t,
                                std::string (*wrap)(Dtype, const std::string&)) {
  const int ni = static_cast<int>(in_dtypes.size());
  const int nv = ni + static_cast<int>(steps.size());
  RowPlan p;
  p.num_inputs = ni;
  p.dt = in_dtypes;
  p.full.assign(nv, 0);
  p.sum.assign(nv, 0);
  p.level.assign(nv, 0);
  p.sum_arg.assign(nv, -1);
  p.expr.assign(nv, "");
  for (int i = 0; i < ni; ++i) {
    if (!ctype(in_dtypes[i], t)) return std::nullopt;
    p.full[i] = full_inputs[i];
  }
  for (size_t si = 0; si < steps.size(); ++si) {
    const auto& st = steps[si];
    const int v = ni + static_cast<int>(si);
    if (!ctype(st.dtype, t)) return std::nullopt;
    p.dt.push_back(st.dtype);
    for (int a : st.args) p.level[v] = std::max(p.level[v], p.level[a]);
    if (dynamic_cast<const Reduce*>(st.prim.get())) {
      p.sum[v] = 1;
      p.sum_arg[v] = st.args[0];
      p.level[v] += 1;
      continue;
    }
    std::vector<std::string> args;
    std::vector<Dtype> arg_dt;
    for (int a : st.args) {
      args.push_back(value_name(a));
      arg_dt.push_back(p.dt[a]);
      p.full[v] |= p.full[a];
    }
    auto e = expression(*st.prim, args, arg_dt, st.dtype, t);
    if (!e) return std::nullopt;
    p.expr[v] = wrap ? wrap(st.dtype, *e) : *e;
  }
  p.top = *std::max_element(p.level.begin(), p.level.end());
  return p;
}

std::string value_name(int v) {
  std::string n = "v";
  return n += std::to_string(v);
}

std::vector<int> RowPlan::per_row_at(int l) const {
  std::vector<int> out;
  for (int v = num_inputs; v < static_cast<int>(full.size()); ++v) {
    if (!full[v] && !sum[v] && level[v] == l) out.push_back(v);
  }
  return out;
}

std::vector<int> RowPlan::sums_after(int l) const {
  std::vector<int> out;
  for (int v = num_inputs; v < static_cast<int>(full.size()); ++v) {
    if (sum[v] && level[v] == l + 1) out.push_back(v);
  }
  return out;
}

std::vector<int> row_values_needed(const std::vector<Compiled::Step>& steps, const RowPlan& plan,
                                   const std::vector<int>& targets) {
  const int nv = static_cast<int>(plan.full.size());
  const int ni = nv - static_cast<int>(steps.size());
  std::vector<char> need(nv, 0);
  std::vector<int> work(targets.begin(), targets.end());
  while (!work.empty()) {
    int v = work.back();
    work.pop_back();
    if (!plan.full[v] || need[v] || plan.sum[v]) continue;
    need[v] = 1;
    if (v >= ni) work.insert(work.end(), steps[v - ni].args.begin(), steps[v - ni].args.end());
  }
  std::vector<int> out;
  for (int v = 0; v < nv; ++v) {
    if (need[v]) out.push_back(v);
  }
  return out;
}

}  // namespace mica::codegen
