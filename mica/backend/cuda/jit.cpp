// Run-time compiled CUDA kernels (jit.h).
#include "mica/backend/cuda/jit.h"

#include <cuda_runtime.h>
#include <nvrtc.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>
#include <type_traits>

#include "mica/backend/compiled_expr.h"
#include "mica/backend/cuda/utils.h"

namespace mica::cu::jit {

namespace fs = std::filesystem;

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
    get("cuFuncSetAttribute", r.func_set_attribute);
    get("cuMemGetAddressRange", r.mem_get_address_range);
    return r;
  }();
  return d;
}

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

std::string compile(const std::string& source, const std::string& arch, const std::vector<std::string>& options,
                    std::string* error, bool ptx) {
  nvrtcProgram prog;
  if (nvrtcCreateProgram(&prog, source.c_str(), "mica_kernel.cu", 0, nullptr, nullptr) != NVRTC_SUCCESS) {
    *error = "nvrtcCreateProgram failed";
    return "";
  }
  std::vector<std::string> all{"--gpu-architecture=" + arch, "--std=c++17"};
  all.insert(all.end(), options.begin(), options.end());
  std::vector<const char*> opts;
  for (const auto& o : all) opts.push_back(o.c_str());
  const nvrtcResult rc = nvrtcCompileProgram(prog, static_cast<int>(opts.size()), opts.data());
  std::string cubin;
  if (rc != NVRTC_SUCCESS) {
    size_t n = 0;
    nvrtcGetProgramLogSize(prog, &n);
    std::string log(n, '\0');
    nvrtcGetProgramLog(prog, log.data());
    *error = std::string(nvrtcGetErrorString(rc)) + ": " + log;
  } else if (ptx) {
    size_t n = 0;
    nvrtcGetPTXSize(prog, &n);
    cubin.resize(n);
    nvrtcGetPTX(prog, cubin.data());
    if (!cubin.empty() && cubin.back() == '\0') cubin.pop_back();  // the string's own NUL ends it
  } else {
    size_t n = 0;
    nvrtcGetCUBINSize(prog, &n);
    cubin.resize(n);
    nvrtcGetCUBIN(prog, cubin.data());
  }
  nvrtcDestroyProgram(&prog);
  return cubin;
}

namespace {
CUfunction function_of(const std::string& image, const std::string& entry, std::string* error) {
  const Driver& drv = driver();
  if (!drv.module_load_data || !drv.module_get_function || !drv.launch_kernel) {
    *error = "the GPU driver has no module entry points";
    return nullptr;
  }
  CUmodule mod;
  CUfunction fn;
  if (drv.module_load_data(&mod, image.c_str()) != CUDA_SUCCESS) {
    *error = "cuModuleLoadData refused the module";
    return nullptr;
  }
  if (drv.module_get_function(&fn, mod, entry.c_str()) != CUDA_SUCCESS) {
    *error = "the module has no kernel named " + entry;
    return nullptr;
  }
  return fn;
}
}  // namespace

CUfunction load(const std::string& source, const std::string& entry, const std::vector<std::string>& options,
                std::string* error) {
  static std::mutex mu;
  static std::map<std::tuple<std::string, std::string, std::vector<std::string>>, std::pair<CUfunction, std::string>>
      loaded;
  std::lock_guard<std::mutex> lk(mu);
  const auto key = std::make_tuple(source, entry, options);
  if (auto it = loaded.find(key); it != loaded.end()) {
    *error = it->second.second;
    return it->second.first;
  }
  int nvrtc_major = 0, nvrtc_minor = 0;
  nvrtcVersion(&nvrtc_major, &nvrtc_minor);
  std::string id = arch() + std::to_string(nvrtc_major * 100 + nvrtc_minor) + source;
  for (const auto& o : options) id += "\n" + o;
  char name[32];
  std::snprintf(name, sizeof name, "%016zx", std::hash<std::string>{}(id));
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
  CUfunction fn = nullptr;
  std::string why;
  if (cubin.empty()) {
    cubin = compile(source, arch(), options, &why);
    if (!cubin.empty()) {
      const fs::path tmp = dir / (std::string(name) + "." + std::to_string(::getpid()) + ".tmp");
      {
        std::ofstream out(tmp, std::ios::binary);
        out.write(cubin.data(), static_cast<std::streamsize>(cubin.size()));
      }
      fs::rename(tmp, file, ec);  // atomic: concurrent processes never read half a cubin
    }
  }
  if (!cubin.empty()) fn = function_of(cubin, entry, &why);
  loaded.emplace(key, std::make_pair(fn, why));
  *error = why;
  return fn;
}

CUfunction load_image(const std::string& image, const std::string& entry, std::string* error) {
  static std::mutex mu;
  static std::map<std::pair<std::string, std::string>, CUfunction> loaded;
  std::lock_guard<std::mutex> lk(mu);
  if (auto it = loaded.find({image, entry}); it != loaded.end()) return it->second;
  CUfunction fn = function_of(image, entry, error);  // PTX text ends in the string's NUL
  if (fn) loaded.emplace(std::make_pair(image, entry), fn);
  return fn;
}

}  // namespace mica::cu::jit
