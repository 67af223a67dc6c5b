// A user's own CUDA kernels on mica's arrays (MLX's fast::cuda_kernel and
// fast::precompiled_cuda_kernel): CUDA source compiled at run time by NVRTC through the same disk
// cache as compile's generated kernels, or a given PTX/cubin, launched on a GPU stream as a node
// of the graph (lazy, inside compile; under grad through custom_vjp, since a kernel has no
// derivative of its own).
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "mica/array.h"
#include "mica/compile.h"
#include "mica/stream.h"

namespace mica::fast {

/** A template argument of a custom kernel: an int, a bool or a dtype (a type name). */
using TemplateArg = std::variant<int, bool, Dtype>;
/** A scalar argument of a precompiled kernel. */
using ScalarArg = std::variant<bool, int, float>;

/** Runs a custom kernel: (inputs, output shapes, output dtypes, grid in threads (x, y, z),
 *  threads per block (x, y, z), template arguments, init value of the outputs (uninitialized
 *  without one), verbose (prints the generated source), stream) -> the outputs. */
using CustomKernelFunction = std::function<std::vector<array>(
    const std::vector<array>&, const std::vector<Shape>&, const std::vector<Dtype>&, std::tuple<int, int, int>,
    std::tuple<int, int, int>, std::vector<std::pair<std::string, TemplateArg>>, std::optional<float>, bool,
    StreamOrDevice)>;

/** A kernel whose body is `source`. The signature is generated: each input `name` is a
 *  `const T* name` of its dtype's CUDA type (bool, int8_t ... uint64_t, __half, __nv_bfloat16,
 *  float, double, cuFloatComplex), each output a `T* name`; a body that mentions `name_shape`,
 *  `name_strides` or `name_ndim` gets the input's shape (int32), strides (int64, in elements) and
 *  number of dimensions (at most 10). Template arguments become constants of the body
 *  (`using T = float;`, `constexpr int N = 4;`). `header` goes before the kernel (helpers,
 *  includes); cooperative_groups, cuda_fp16 and cuda_bf16 are included. With
 *  `ensure_row_contiguous` the inputs are made row-major first. `shared_memory` bytes of dynamic
 *  shared memory. The grid is in threads (rounded up to whole blocks), as MLX's. */
CustomKernelFunction cuda_kernel(const std::string& name, const std::vector<std::string>& input_names,
                                 const std::vector<std::string>& output_names, const std::string& source,
                                 const std::string& header = "", bool ensure_row_contiguous = true,
                                 int shared_memory = 0);

/** Launches kernel `name` of `compiled_source` (PTX text or a cubin) with the arguments
 *  (inputs' data pointers..., outputs' data pointers..., scalars...) in that order. */
std::vector<array> precompiled_cuda_kernel(const std::string& name, const std::string& compiled_source,
                                           const std::vector<array>& inputs, const std::vector<Shape>& output_shapes,
                                           const std::vector<Dtype>& output_dtypes,
                                           const std::vector<ScalarArg>& scalars, std::tuple<int, int, int> grid,
                                           std::tuple<int, int, int> threadgroup, int shared_memory = 0,
                                           std::optional<float> init_value = std::nullopt,
                                           bool ensure_row_contiguous = false, StreamOrDevice s = {});

/** MLX's metal_kernel. mica has no Metal back-end: as MLX built without one, the function is
 * made and every call throws std::runtime_error (fast::cuda_kernel takes CUDA kernels). */
CustomKernelFunction metal_kernel(const std::string& name, const std::vector<std::string>& input_names,
                                  const std::vector<std::string>& output_names, const std::string& source,
                                  const std::string& header = "", bool ensure_row_contiguous = true,
                                  bool atomic_outputs = false, const CompileOptions& compile_options = {});

namespace detail {
/** The CUDA source cuda_kernel generates for these inputs (for tests and `verbose`). */
std::string custom_kernel_source(const std::string& name, const std::vector<std::string>& input_names,
                                 const std::vector<std::string>& output_names, const std::string& source,
                                 const std::string& header, const std::vector<Dtype>& input_dtypes,
                                 const std::vector<Dtype>& output_dtypes,
                                 const std::vector<std::pair<std::string, TemplateArg>>& template_args);
/** `source` compiled by NVRTC, as cuda_kernel compiles it, to PTX for the virtual architecture
 *  `arch` (e.g. "compute_90"); needs no GPU. Empty with *log set to NVRTC's log when it does not
 *  compile ("no CUDA" in builds without it). */
std::string custom_kernel_ptx(const std::string& source, const std::string& arch, std::string* log);
}  // namespace detail

}  // namespace mica::fast
