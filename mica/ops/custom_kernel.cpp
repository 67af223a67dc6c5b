// fast::cuda_kernel and fast::precompiled_cuda_kernel (mica/custom_kernel.h): checks at the call,
// the generated kernel's source, and the CustomKernel node (kernels in backend/cuda/custom.cu).
#include "mica/custom_kernel.h"

#include <cctype>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>

#include "mica/ops/utils.h"
#include "mica/primitives/custom.h"

namespace mica::fast {

namespace {
constexpr int kMaxDims = CustomKernel::kMaxDims;

bool identifier(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

// The CUDA type of a dtype's elements in generated code.
std::string cuda_type(Dtype d) {
  switch (d.val) {
    case Dtype::Val::bool_: return "bool";
    case Dtype::Val::uint8: return "uint8_t";
    case Dtype::Val::uint16: return "uint16_t";
    case Dtype::Val::uint32: return "uint32_t";
    case Dtype::Val::uint64: return "uint64_t";
    case Dtype::Val::int8: return "int8_t";
    case Dtype::Val::int16: return "int16_t";
    case Dtype::Val::int32: return "int32_t";
    case Dtype::Val::int64: return "int64_t";
    case Dtype::Val::float16: return "__half";
    case Dtype::Val::bfloat16: return "__nv_bfloat16";
    case Dtype::Val::float32: return "float";
    case Dtype::Val::float64: return "double";
    case Dtype::Val::complex64: return "cuFloatComplex";
  }
  return "float";
}

// The symbol of kernel `name`: its letters, digits and underscores.
std::string entry_of(const std::string& name) {
  std::string e = "mica_custom_";
  for (char c : name) e += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return e;
}

// Which of an input's shape (1), strides (2) and ndim (4) the source mentions.
uint8_t shape_args_of(const std::string& source, const std::string& input) {
  uint8_t bits = 0;
  if (source.find(input + "_shape") != std::string::npos) bits |= 1;
  if (source.find(input + "_strides") != std::string::npos) bits |= 2;
  if (source.find(input + "_ndim") != std::string::npos) bits |= 4;
  return bits;
}

std::array<int, 3> dims3(const char* op, const char* what, std::tuple<int, int, int> t) {
  std::array<int, 3> d{std::get<0>(t), std::get<1>(t), std::get<2>(t)};
  for (int v : d) {
    if (v <= 0) {
      mica::detail::fail(op, std::string("expected a positive ") + what + " in each dimension, got (" +
                                 std::to_string(d[0]) + ", " + std::to_string(d[1]) + ", " + std::to_string(d[2]) +
                                 ").");
    }
  }
  return d;
}

// The checks both kernels share; returns the stream.
Stream check_call(const char* op, const std::vector<Shape>& output_shapes, const std::vector<Dtype>& output_dtypes,
                  size_t num_output_names, CustomKernel::Spec& spec, std::tuple<int, int, int> grid,
                  std::tuple<int, int, int> block, int shared_memory, StreamOrDevice s) {
  const Stream st = to_stream(s);
  if (st.device.type != Device::gpu) {
    mica::detail::fail(op, "expected a GPU stream (a CUDA kernel runs on the GPU), got the CPU.");
  }
  if (output_shapes.size() != output_dtypes.size() || output_shapes.size() != num_output_names ||
      output_shapes.empty()) {
    mica::detail::fail(op, "expected one shape and one dtype per output (" + std::to_string(num_output_names) +
                               "), got " + std::to_string(output_shapes.size()) + " shapes and " +
                               std::to_string(output_dtypes.size()) + " dtypes.");
  }
  for (const auto& sh : output_shapes)
    for (int d : sh)
      if (d < 0)
        mica::detail::fail(op, "expected non-negative output sizes, got shape " + mica::detail::shape_str(sh) + ".");
  spec.grid = dims3(op, "grid", grid);
  spec.block = dims3(op, "threadgroup", block);
  if (int64_t(spec.block[0]) * spec.block[1] * spec.block[2] > 1024) {
    mica::detail::fail(op, "expected at most 1024 threads per block, got " +
                               std::to_string(int64_t(spec.block[0]) * spec.block[1] * spec.block[2]) + ".");
  }
  if (shared_memory < 0)
    mica::detail::fail(op, "expected non-negative shared memory, got " + std::to_string(shared_memory) + ".");
  spec.shared_memory = shared_memory;
  return st;
}

std::vector<array> make_node(const Stream& st, CustomKernel::Spec spec, const std::vector<array>& inputs,
                             const std::vector<Shape>& output_shapes, const std::vector<Dtype>& output_dtypes) {
  return array::make_arrays(output_shapes, output_dtypes, std::make_shared<CustomKernel>(st, std::move(spec)), inputs);
}
}  // namespace

namespace detail {
std::string custom_kernel_source(const std::string& name, const std::vector<std::string>& input_names,
                                 const std::vector<std::string>& output_names, const std::string& source,
                                 const std::string& header, const std::vector<Dtype>& input_dtypes,
                                 const std::vector<Dtype>& output_dtypes,
                                 const std::vector<std::pair<std::string, TemplateArg>>& template_args) {
  std::ostringstream src;
  src << "#include <cooperative_groups.h>\n#include <cuda_fp16.h>\n#include <cuda_bf16.h>\n#include <cuComplex.h>\n"
      << "typedef signed char int8_t; typedef short int16_t; typedef int int32_t; typedef long long int64_t;\n"
      << "typedef unsigned char uint8_t; typedef unsigned short uint16_t; typedef unsigned int uint32_t;\n"
      << "typedef unsigned long long uint64_t;\n"
      << "#define inf __int_as_float(0x7f800000)\n"
      << "struct mica_shape { int32_t v[" << kMaxDims
      << "]; __device__ int32_t operator[](int i) const { return v[i]; } };\n"
      << "struct mica_strides { int64_t v[" << kMaxDims
      << "]; __device__ int64_t operator[](int i) const { return v[i]; } };\n"
      << header << "\n"
      << "extern \"C\" __global__ void " << entry_of(name) << "(";
  bool first = true;
  auto param = [&](const std::string& p) {
    src << (first ? "" : ",\n    ") << p;
    first = false;
  };
  for (size_t i = 0; i < input_names.size(); ++i) {
    const std::string& n = input_names[i];
    param("const " + cuda_type(input_dtypes[i]) + "* __restrict__ " + n);
    const uint8_t bits = shape_args_of(source, n);
    if (bits & 1) param("const mica_shape " + n + "_shape");
    if (bits & 2) param("const mica_strides " + n + "_strides");
    if (bits & 4) param("const int " + n + "_ndim");
  }
  for (size_t i = 0; i < output_names.size(); ++i)
    param(cuda_type(output_dtypes[i]) + "* __restrict__ " + output_names[i]);
  src << ") {\n";
  for (const auto& [tn, tv] : template_args) {
    if (auto* d = std::get_if<Dtype>(&tv))
      src << "  using " << tn << " = " << cuda_type(*d) << ";\n";
    else if (auto* b = std::get_if<bool>(&tv))
      src << "  constexpr bool " << tn << " = " << (*b ? "true" : "false") << ";\n";
    else
      src << "  constexpr int " << tn << " = " << std::get<int>(tv) << ";\n";
  }
  src << source << "\n}\n";
  return src.str();
}
}  // namespace detail

CustomKernelFunction cuda_kernel(const std::string& name, const std::vector<std::string>& input_names,
                                 const std::vector<std::string>& output_names, const std::string& source,
                                 const std::string& header, bool ensure_row_contiguous, int shared_memory) {
  const char* op = "cuda_kernel";
  if (output_names.empty()) mica::detail::fail(op, "expected at least one output name, got none.");
  std::set<std::string> seen;
  for (const auto* names : {&input_names, &output_names}) {
    for (const auto& n : *names) {
      if (!identifier(n))
        mica::detail::fail(op, "expected input and output names that are C++ identifiers, got '" + n + "'.");
      if (!seen.insert(n).second)
        mica::detail::fail(op, "expected distinct input and output names, got '" + n + "' twice.");
    }
  }
  if (shared_memory < 0)
    mica::detail::fail(op, "expected non-negative shared memory, got " + std::to_string(shared_memory) + ".");
  return [=](const std::vector<array>& inputs, const std::vector<Shape>& output_shapes,
             const std::vector<Dtype>& output_dtypes, std::tuple<int, int, int> grid, std::tuple<int, int, int> block,
             std::vector<std::pair<std::string, TemplateArg>> template_args, std::optional<float> init_value,
             bool verbose, StreamOrDevice s) {
    if (inputs.size() != input_names.size()) {
      mica::detail::fail(op, "expected " + std::to_string(input_names.size()) + " inputs (one per input name), got " +
                                 std::to_string(inputs.size()) + ".");
    }
    std::set<std::string> targs;
    for (const auto& [tn, tv] : template_args) {
      if (!identifier(tn) || seen.count(tn) || !targs.insert(tn).second) {
        mica::detail::fail(op, "expected template argument names that are distinct C++ identifiers, got '" + tn + "'.");
      }
    }
    CustomKernel::Spec spec;
    spec.op = op;
    spec.name = name;
    const Stream st =
        check_call(op, output_shapes, output_dtypes, output_names.size(), spec, grid, block, shared_memory, s);
    std::vector<Dtype> in_dtypes;
    for (size_t i = 0; i < inputs.size(); ++i) {
      spec.shape_args.push_back(shape_args_of(source, input_names[i]));
      if (inputs[i].ndim() > kMaxDims && spec.shape_args.back() != 0) {
        mica::detail::fail(op, "expected inputs of at most " + std::to_string(kMaxDims) +
                                   " dimensions where the kernel reads their shape, got " +
                                   std::to_string(inputs[i].ndim()) + ".");
      }
      in_dtypes.push_back(inputs[i].dtype());
    }
    spec.source = detail::custom_kernel_source(name, input_names, output_names, source, header, in_dtypes,
                                               output_dtypes, template_args);
    if (verbose) std::cout << "Generated source code for `" << name << "`:\n```\n" << spec.source << "```\n";
    spec.entry = entry_of(name);
    spec.init_value = init_value;
    spec.ensure_row_contiguous = ensure_row_contiguous;
    return make_node(st, std::move(spec), inputs, output_shapes, output_dtypes);
  };
}

std::vector<array> precompiled_cuda_kernel(const std::string& name, const std::string& compiled_source,
                                           const std::vector<array>& inputs, const std::vector<Shape>& output_shapes,
                                           const std::vector<Dtype>& output_dtypes,
                                           const std::vector<ScalarArg>& scalars, std::tuple<int, int, int> grid,
                                           std::tuple<int, int, int> threadgroup, int shared_memory,
                                           std::optional<float> init_value, bool ensure_row_contiguous,
                                           StreamOrDevice s) {
  const char* op = "precompiled_cuda_kernel";
  if (name.empty()) mica::detail::fail(op, "expected the kernel's name, got an empty string.");
  if (compiled_source.empty()) mica::detail::fail(op, "expected PTX or a cubin, got an empty string.");
  CustomKernel::Spec spec;
  spec.op = op;
  spec.name = name;
  const Stream st =
      check_call(op, output_shapes, output_dtypes, output_shapes.size(), spec, grid, threadgroup, shared_memory, s);
  spec.image = compiled_source;
  spec.entry = name;
  spec.init_value = init_value;
  spec.ensure_row_contiguous = ensure_row_contiguous;
  spec.shape_args.assign(inputs.size(), 0);
  spec.scalars = scalars;
  return make_node(st, std::move(spec), inputs, output_shapes, output_dtypes);
}

CustomKernelFunction metal_kernel(const std::string& name, const std::vector<std::string>&,
                                  const std::vector<std::string>&, const std::string&, const std::string&, bool, bool,
                                  const CompileOptions&) {
  return [name](const std::vector<array>&, const std::vector<Shape>&, const std::vector<Dtype>&,
                std::tuple<int, int, int>, std::tuple<int, int, int>, std::vector<std::pair<std::string, TemplateArg>>,
                std::optional<float>, bool, StreamOrDevice) -> std::vector<array> {
    throw std::runtime_error("[metal_kernel] expected a Metal back-end for kernel '" + name +
                             "', got none (mica runs CUDA kernels: fast::cuda_kernel).");
  };
}

}  // namespace mica::fast
