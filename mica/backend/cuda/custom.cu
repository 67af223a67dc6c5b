// GPU side of the custom family: outputs alias inputs computed elsewhere, wherever their data
// lives; and a user's CUDA kernel (fast::cuda_kernel, fast::precompiled_cuda_kernel): compiled by
// NVRTC (jit.h, the disk cache compile's kernels use) or loaded from PTX/cubin, outputs filled
// with the init value when one is given, then launched with the grid in whole blocks.
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "mica/backend/cuda/copy.h"
#include "mica/backend/cuda/device/elementwise.cuh"
#include "mica/backend/cuda/jit.h"
#include "mica/backend/cuda/utils.h"
#include "mica/primitives/custom.h"

namespace mica {

void CustomTransforms::eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  eval_cpu(inputs, outputs);
}

void Depends::eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) { eval_cpu(inputs, outputs); }

namespace {
constexpr int kMaxDims = CustomKernel::kMaxDims;
struct alignas(4) ShapeArg {
  int32_t v[kMaxDims];
};
struct alignas(8) StridesArg {
  int64_t v[kMaxDims];
};

// NVRTC's options for a user's kernel: CUDA's headers (cooperative_groups, the half types, and
// the C++ library they use) from the toolkit mica was built with, or CUDA_HOME's.
const std::vector<std::string>& user_options() {
  static const std::vector<std::string> options = [] {
    std::vector<std::string> o;
    for (std::string dir :
         {std::string(MICA_CUDA_INCLUDE_DIR), std::string(std::getenv("CUDA_HOME") ? std::getenv("CUDA_HOME") : "")}) {
      if (dir.empty()) continue;
      if (dir.size() < 8 || dir.compare(dir.size() - 8, 8, "/include") != 0) dir += "/include";
      o.push_back("--include-path=" + dir);
      o.push_back("--include-path=" + dir + "/cccl");
    }
    return o;
  }();
  return options;
}
}  // namespace

namespace fast::detail {
std::string custom_kernel_ptx(const std::string& source, const std::string& arch, std::string* log) {
  return cu::jit::compile(source, arch, user_options(), log, /*ptx=*/true);
}
}  // namespace fast::detail

// inputs: any layout (made row-major when the spec asks); outputs: row-major.
void CustomKernel::eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  const Stream& s = stream();
  const Spec& sp = spec_;
  if (sp.shape_args.size() != inputs.size()) {  // a node read from a file that does not fit
    throw std::invalid_argument("[" + sp.op + "] expected " + std::to_string(sp.shape_args.size()) +
                                " inputs for kernel " + sp.name + ", got " + std::to_string(inputs.size()) + ".");
  }
  cu::prepare(inputs, s);
  std::string error;
  CUfunction fn = sp.image.empty() ? cu::jit::load(sp.source, sp.entry, user_options(), &error)
                                   : cu::jit::load_image(sp.image, sp.entry, &error);
  if (!fn) throw std::runtime_error("[" + sp.op + "] kernel " + sp.name + " could not be built: " + error);
  std::vector<array> ins;
  for (const auto& in : inputs) ins.push_back(sp.ensure_row_contiguous ? cu::ensure_row_contiguous(in, s) : in);
  for (auto& o : outputs) {
    cu::alloc_output(o, s);
    if (sp.init_value) cu::fill(o, *sp.init_value, s);
  }
  // The arguments, in the generated signature's order (or the precompiled kernel's convention).
  std::vector<const void*> in_ptrs;
  std::vector<ShapeArg> shapes;
  std::vector<StridesArg> strides;
  std::vector<int> ndims;
  in_ptrs.reserve(ins.size());
  shapes.reserve(ins.size());
  strides.reserve(ins.size());
  ndims.reserve(ins.size());
  std::vector<void*> args;
  for (size_t i = 0; i < ins.size(); ++i) {
    in_ptrs.push_back(cu::ptr<const void>(ins[i]));
    args.push_back(&in_ptrs.back());
    const uint8_t bits = sp.shape_args[i];
    ShapeArg sh{};
    StridesArg st{};
    for (size_t d = 0; d < ins[i].ndim() && d < size_t(kMaxDims); ++d) {
      sh.v[d] = ins[i].shape(static_cast<int>(d));
      st.v[d] = ins[i].strides()[d];
    }
    shapes.push_back(sh);
    strides.push_back(st);
    ndims.push_back(static_cast<int>(ins[i].ndim()));
    if (bits & 1) args.push_back(&shapes.back());
    if (bits & 2) args.push_back(&strides.back());
    if (bits & 4) args.push_back(&ndims.back());
  }
  std::vector<void*> out_ptrs;
  out_ptrs.reserve(outputs.size());
  for (auto& o : outputs) {
    out_ptrs.push_back(cu::ptr<void>(o));
    args.push_back(&out_ptrs.back());
  }
  // Scalars as the kernel's bool, int and float parameters.
  std::vector<int64_t> storage(sp.scalars.size());
  for (size_t k = 0; k < sp.scalars.size(); ++k) {
    const auto& v = sp.scalars[k];
    if (auto* b = std::get_if<bool>(&v))
      std::memcpy(&storage[k], b, sizeof(bool));
    else if (auto* i = std::get_if<int>(&v))
      std::memcpy(&storage[k], i, sizeof(int));
    else
      std::memcpy(&storage[k], &std::get<float>(v), sizeof(float));
    args.push_back(&storage[k]);
  }
  const cu::jit::Driver& drv = cu::jit::driver();
  if (sp.shared_memory > 48 * 1024 && drv.func_set_attribute) {
    drv.func_set_attribute(fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, sp.shared_memory);
  }
  unsigned blocks[3];
  for (int d = 0; d < 3; ++d) blocks[d] = static_cast<unsigned>((int64_t(sp.grid[d]) + sp.block[d] - 1) / sp.block[d]);
  const CUresult rc = drv.launch_kernel(fn, blocks[0], blocks[1], blocks[2], sp.block[0], sp.block[1], sp.block[2],
                                        static_cast<unsigned>(sp.shared_memory),
                                        reinterpret_cast<CUstream>(cu::stream(s)), args.data(), nullptr);
  if (rc != CUDA_SUCCESS) {
    throw std::runtime_error("[" + sp.op + "] kernel " + sp.name + " could not be launched (CUDA driver error " +
                             std::to_string(static_cast<int>(rc)) +
                             "): check its grid, threadgroup and shared memory.");
  }
}

}  // namespace mica
