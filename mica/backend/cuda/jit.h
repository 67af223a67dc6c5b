// Run-time compiled CUDA kernels (internal): NVRTC builds a source for the current GPU's
// architecture, the cubin is cached in memory and on disk (keyed by the source, the options, the
// architecture and NVRTC's version), and the driver API loads it. The driver's functions come
// through cudart at run time (no link to libcuda: a machine without a GPU driver still loads
// mica). Used by compile's fused kernels (compiled.cpp) and fast::cuda_kernel (custom.cu).
#pragma once
#include <cuda.h>

#include <string>
#include <vector>

namespace mica::cu::jit {

/** The driver API's module and launch functions, and the address lookup graph.cpp's errors use
 *  (null where the driver lacks them). */
struct Driver {
  CUresult (*module_load_data)(CUmodule*, const void*) = nullptr;
  CUresult (*module_get_function)(CUfunction*, CUmodule, const char*) = nullptr;
  CUresult (*launch_kernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream,
                            void**, void**) = nullptr;
  CUresult (*func_set_attribute)(CUfunction, CUfunction_attribute, int) = nullptr;
  CUresult (*mem_get_address_range)(CUdeviceptr*, size_t*, CUdeviceptr) = nullptr;
};
const Driver& driver();

/** The current device's architecture, e.g. "sm_90". */
std::string arch();

/** The cubin of `source` compiled for `arch` (sm_XY) with these NVRTC options, or with `ptx` its
 *  PTX for a virtual `arch` (compute_XY); empty with *error set to NVRTC's log. */
std::string compile(const std::string& source, const std::string& arch, const std::vector<std::string>& options,
                    std::string* error, bool ptx = false);

/** Function `entry` of `source` compiled for this GPU (built once per process and cached on
 *  disk), or null with *error set. */
CUfunction load(const std::string& source, const std::string& entry, const std::vector<std::string>& options,
                std::string* error);

/** Function `entry` of a module image (PTX text or a cubin), or null with *error set. */
CUfunction load_image(const std::string& image, const std::string& entry, std::string* error);

}  // namespace mica::cu::jit
