// GPU side of compile's fused node (primitives/compiled.h; CPU twin backend/cpu/compiled.cpp).
// A chain of elementwise steps over float32/float16/bfloat16/float64 values becomes one CUDA
// kernel: source generated from the steps' expressions (backend/compiled_expr.cpp, CUDA's math
// functions, halves computed in float and rounded after every step as the unfused kernels
// round their outputs), compiled with NVRTC for the device's architecture (no FMA contraction,
// IEEE division, as nvcc builds the unfused kernels), cached in memory and as a cubin on disk,
// and launched on the node's stream. Each input is read whole (row-major, the output's shape),
// as one value, or as a row repeated along the leading axes; any other layout, dtype or step
// runs the steps one by one with their own GPU kernels. MICA_GPU_FUSION=0 leaves GPU chains
// unfused.
#include <cuda.h>
#include <nvrtc.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <type_traits>
#include <unordered_map>

#include "mica/backend/compiled_expr.h"
#include "mica/backend/cuda/utils.h"
#include "mica/ops/utils.h"
#include "mica/primitives/compiled.h"

namespace mica {

namespace {
namespace fs = std::filesystem;
using codegen::compute_type;
using codegen::ctype;
using codegen::Target;

std::atomic<int64_t> g_generated_launches{0};

// The driver API's module and launch functions, found through cudart (no link to libcuda: a
// machine without a GPU driver must still load mica).
struct Driver {
  CUresult (*module_load_data)(CUmodule*, const void*) = nullptr;
  CUresult (*module_get_function)(CUfunction*, CUmodule, const char*) = nullptr;
  CUresult (*launch_kernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream,
                            void**, void**) = nullptr;
};
const Driver& driver() {
  static const Driver d = [] {
    Driver r;
    auto get = [](const char* name, auto& fn) {
      void* p = nullptr;
      cudaDriverEntryPointQueryResult q;
      if (cudaGetDriverEntryPointByVersion(name, &p, 12000, cudaEnableDefault, &q) == cudaSuccess &&
          q == cudaDriverEntryPointSuccess) {
        fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(p);
      }
    };
    get("cuModuleLoadData", r.module_load_data);
    get("cuModuleGetFunction", r.module_get_function);
    get("cuLaunchKernel", r.launch_kernel);
    return r;
  }();
  return d;
}

// How a generated kernel reads input k at flat output index i.
enum Access : char { kWhole = 'w', kOne = 'o', kRowRepeat = 'r' };

std::string arch() {
  static const std::string a = [] {
    int dev = 0, major = 0, minor = 0;
    MICA_CUDA_CHECK(cudaGetDevice(&dev));
    MICA_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    MICA_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
    return "sm_" + std::to_string(major) + std::to_string(minor);
  }();
  return a;
}


// The kernel `mica_fused` of `source`, or null when NVRTC or the driver refuses it (reported once).
CUfunction load(const std::string& source) {
  static std::mutex mu;
  static std::unordered_map<std::string, CUfunction> loaded;
  std::lock_guard<std::mutex> lk(mu);
  if (auto it = loaded.find(source); it != loaded.end()) return it->second;
  int nvrtc_major = 0, nvrtc_minor = 0;
  nvrtcVersion(&nvrtc_major, &nvrtc_minor);
  char name[32];
  std::snprintf(name, sizeof name, "%016zx",
                std::hash<std::string>{}(arch() + std::to_string(nvrtc_major * 100 + nvrtc_minor) + source));
  std::error_code ec;
  const fs::path dir = codegen::cache_dir("gpu-kernels");
  fs::create_directories(dir, ec);
  const fs::path file = dir / (std::string(name) + ".cubin");
  std::string cubin;
  if (std::ifstream in(file, std::ios::binary); in) {
    std::ostringstream ss;
    ss << in.rdbuf();
    cubin = ss.str();
  }
  auto fail = [&](const std::string& why) -> CUfunction {
    std::fprintf(stderr, "mica: a fused GPU kernel could not be built (%s); its steps run one by one\n", why.c_str());
    loaded.emplace(source, nullptr);
    return nullptr;
  };
  if (cubin.empty()) {
    nvrtcProgram prog;
    if (nvrtcCreateProgram(&prog, source.c_str(), "mica_fused.cu", 0, nullptr, nullptr) != NVRTC_SUCCESS)
      return fail("nvrtcCreateProgram");
    const std::string gpu = "--gpu-architecture=" + arch();
    const char* opts[] = {gpu.c_str(), "--std=c++17", "--fmad=false", "--prec-div=true", "--prec-sqrt=true"};
    nvrtcResult rc = nvrtcCompileProgram(prog, 5, opts);
    if (rc != NVRTC_SUCCESS) {
      size_t n = 0;
      nvrtcGetProgramLogSize(prog, &n);
      std::string log(n, '\0');
      nvrtcGetProgramLog(prog, log.data());
      nvrtcDestroyProgram(&prog);
      return fail(std::string(nvrtcGetErrorString(rc)) + ": " + log.substr(0, 400));
    }
    size_t n = 0;
    nvrtcGetCUBINSize(prog, &n);
    cubin.resize(n);
    nvrtcGetCUBIN(prog, cubin.data());
    nvrtcDestroyProgram(&prog);
    const fs::path tmp = dir / (std::string(name) + "." + std::to_string(::getpid()) + ".tmp");
    {
      std::ofstream out(tmp, std::ios::binary);
      out.write(cubin.data(), static_cast<std::streamsize>(cubin.size()));
    }
    fs::rename(tmp, file, ec);  // atomic: concurrent processes never read half a cubin
  }
  const Driver& drv = driver();
  if (!drv.module_load_data || !drv.module_get_function || !drv.launch_kernel) return fail("no driver entry points");
  CUmodule mod;
  CUfunction fn;
  if (drv.module_load_data(&mod, cubin.data()) != CUDA_SUCCESS) return fail("cuModuleLoadData");
  if (drv.module_get_function(&fn, mod, "mica_fused") != CUDA_SUCCESS) return fail("cuModuleGetFunction");
  loaded.emplace(source, fn);
  return fn;
}

// Source of the kernel for these input dtypes and accesses, or nothing when a step has no
// expression (or the node sums: the per-step path runs those).
std::optional<std::string> kernel_source(const Compiled& c, const std::vector<Dtype>& in_dtypes,
                                         const std::string& access) {
  if (c.has_sums()) return std::nullopt;
  const auto& steps = c.steps();
  const int ni = static_cast<int>(in_dtypes.size());
  std::vector<Dtype> dt = in_dtypes;
  std::ostringstream body, params;
  auto name = [](int v) { return "v" + std::to_string(v); };
  // Loads and stores of a dtype: halves travel as their 16 bits and compute in float.
  auto load = [&](Dtype d, const std::string& x) {
    if (d == float16) return "mica_h2f(" + x + ")";
    if (d == bfloat16) return "mica_b2f(" + x + ")";
    return x;
  };
  auto round = [&](Dtype d, const std::string& x) {
    if (d == float16) return "mica_h2f(mica_f2h(" + x + "))";
    if (d == bfloat16) return "mica_b2f(mica_f2b(" + x + "))";
    return x;
  };
  for (int i = 0; i < ni; ++i) {
    if (!ctype(dt[i], Target::gpu)) return std::nullopt;
    params << ", const " << ctype(dt[i], Target::gpu) << "* __restrict__ in" << i;
    const std::string at = access[i] == kWhole ? "[i]" : access[i] == kOne ? "[0]" : "[i % cols]";
    body << "    const " << compute_type(dt[i], Target::gpu) << " " << name(i) << " = " << load(dt[i], "in" + std::to_string(i) + at)
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
    body << "    const " << compute_type(st.dtype, Target::gpu) << " " << name(v) << " = " << round(st.dtype, *e) << ";\n";
    dt.push_back(st.dtype);
  }
  const int out_v = c.output_values()[0];
  const Dtype od = dt[out_v];
  std::string store = name(out_v);
  if (od == float16) store = "mica_f2h(" + store + ")";
  if (od == bfloat16) store = "mica_f2b(" + store + ")";
  std::ostringstream src;
  src << "#define NAN __int_as_float(0x7fffffff)\n"
         "typedef signed char int8_t; typedef short int16_t; typedef int int32_t; typedef long long int64_t;\n"
         "typedef unsigned char uint8_t; typedef unsigned short uint16_t; typedef unsigned int uint32_t;\n"
         "typedef unsigned long long uint64_t;\n"
         "__device__ __forceinline__ float mica_h2f(unsigned short h) { float f; asm(\"cvt.f32.f16 %0, %1;\" : \"=f\"(f) : \"h\"(h)); return f; }\n"
         "__device__ __forceinline__ unsigned short mica_f2h(float f) { unsigned short h; asm(\"cvt.rn.f16.f32 %0, %1;\" : \"=h\"(h) : \"f\"(f)); return h; }\n"
         "__device__ __forceinline__ float mica_b2f(unsigned short b) { return __uint_as_float(((unsigned int)b) << 16); }\n"
         "__device__ __forceinline__ unsigned short mica_f2b(float f) { unsigned short b; asm(\"cvt.rn.bf16.f32 %0, %1;\" : \"=h\"(b) : \"f\"(f)); return b; }\n"
      << "extern \"C\" __global__ void mica_fused(long long n, long long cols" << params.str() << ", "
      << ctype(od, Target::gpu) << "* __restrict__ out) {\n"
      << "  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {\n"
      << body.str() << "    out[i] = " << store << ";\n  }\n}\n";
  return src.str();
}

// Runs the generated kernel when the inputs' layouts fit; false leaves the node to the steps.
bool run_generated(const Compiled& c, const std::vector<array>& inputs, array& out, const Stream& s) {
  const Shape& shape = out.shape();
  const int64_t n = static_cast<int64_t>(out.size());
  const int64_t cols = shape.empty() ? 1 : shape.back();
  if (n == 0 || cols == 0) return false;
  std::string access;
  for (const auto& in : inputs) {
    if (in.data_size() == 1) access += kOne;
    else if (in.shape() == shape && in.flags().row_contiguous) access += kWhole;
    else if (in.flags().row_contiguous && in.size() == static_cast<size_t>(cols) && in.shape().back() == cols) access += kRowRepeat;
    else return false;
  }
  std::vector<Dtype> dts;
  for (const auto& in : inputs) dts.push_back(in.dtype());
  std::string key = access;
  for (auto d : dts) key += dtype_to_string(d);
  void* fn = c.generated("gpu:" + key, [&] { return kernel_source(c, dts, access); }, [](const std::string& src) {
    return reinterpret_cast<void*>(load(src));
  });
  if (!fn) return false;
  cu::alloc_output(out, s);
  std::vector<const void*> ptrs;
  for (const auto& in : inputs) ptrs.push_back(cu::ptr<const void>(in));
  void* out_ptr = cu::ptr<void>(out);
  long long nn = n, cc = cols;
  std::vector<void*> args{&nn, &cc};
  for (auto& p : ptrs) args.push_back(&p);
  args.push_back(&out_ptr);
  const unsigned grid = std::max(1u, std::min<unsigned>(static_cast<unsigned>((n + 255) / 256), 32u * cu::sm_count()));
  if (driver().launch_kernel(static_cast<CUfunction>(fn), grid, 1, 1, 256, 1, 1, 0, reinterpret_cast<CUstream>(cu::stream(s)),
                     args.data(), nullptr) != CUDA_SUCCESS) {
    throw std::runtime_error("[Compiled] the fused kernel's launch failed");
  }
  ++g_generated_launches;
  return true;
}
}  // namespace

namespace detail {
int64_t compiled_gpu_generated_launches() { return g_generated_launches.load(); }
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
