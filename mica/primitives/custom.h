// Primitives made by the transforms themselves: user-defined rules (custom_function,
// custom_vjp, checkpoint) and ordering dependencies (depends); and a user's own GPU kernels
// (fast::cuda_kernel, fast::precompiled_cuda_kernel).
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "mica/custom_kernel.h"
#include "mica/primitives/primitive.h"
#include "mica/transforms.h"

namespace mica {

/** Outputs of a user function with user rules. Inputs: the function's outputs (already
 * computed, under stop_gradient) followed by its arguments; outputs share the former's buffers. */
class CustomTransforms : public Primitive {
 public:
  CustomTransforms(Stream s, int num_outputs, ArraysFn fun, std::optional<CustomVJPFn> vjp_fn,
                   std::optional<CustomJVPFn> jvp_fn, std::optional<CustomVmapFn> vmap_fn)
      : Primitive(s), num_outputs_(num_outputs), fun_(std::move(fun)), vjp_fn_(std::move(vjp_fn)),
        jvp_fn_(std::move(jvp_fn)), vmap_fn_(std::move(vmap_fn)) {}
  MICA_DEFINE_PRIMITIVE_MEMBERS(CustomTransforms)
  MICA_DEFINE_GRADS

 private:
  int num_outputs_;
  ArraysFn fun_;
  std::optional<CustomVJPFn> vjp_fn_;
  std::optional<CustomJVPFn> jvp_fn_;
  std::optional<CustomVmapFn> vmap_fn_;
};

/** The first `inputs.size() - num_deps` inputs, passed through once the last `num_deps`
 * (the dependencies) are computed. */
class Depends : public Primitive {
 public:
  Depends(Stream s, int num_deps) : Primitive(s), num_deps_(num_deps) {}
  MICA_DEFINE_PRIMITIVE_MEMBERS(Depends) MICA_DEFINE_SAVE
  MICA_DEFINE_GRADS

 private:
  int num_deps_;
};

/** A user's CUDA kernel: launched on the node's GPU stream with, in order, each input's data
 * pointer (followed by its shape, strides and number of dimensions where `shape_args` asks:
 * bit 0, 1, 2), each output's data pointer, then the scalars; `grid` in threads. The kernel is
 * compiled from `source` by NVRTC, or loaded from `image` (PTX or a cubin). No derivative rules:
 * users give one through custom_vjp. */
class CustomKernel : public Primitive {
 public:
  /** The most dimensions whose shape and strides a generated kernel receives. */
  static constexpr int kMaxDims = 10;
  struct Spec {
    std::string op;      // "cuda_kernel" or "precompiled_cuda_kernel", for messages
    std::string name;    // the user's kernel name
    std::string source;  // CUDA C++ (empty for a precompiled kernel)
    std::string image;   // PTX or cubin (empty for a compiled one)
    std::string entry;   // the kernel's symbol in the module
    std::array<int, 3> grid{1, 1, 1}, block{1, 1, 1};
    int shared_memory = 0;
    std::optional<float> init_value;
    bool ensure_row_contiguous = true;
    std::vector<uint8_t> shape_args;  // per input
    std::vector<fast::ScalarArg> scalars;
  };
  CustomKernel(Stream s, Spec spec) : Primitive(s), spec_(std::move(spec)) {}
  MICA_DEFINE_PRIMITIVE_MEMBERS(CustomKernel) MICA_DEFINE_SAVE
  bool is_equivalent(const Primitive& o) const override {
    auto* k = dynamic_cast<const CustomKernel*>(&o);
    const auto& a = spec_;
    return k && a.op == k->spec_.op && a.name == k->spec_.name && a.source == k->spec_.source &&
           a.image == k->spec_.image && a.entry == k->spec_.entry && a.grid == k->spec_.grid &&
           a.block == k->spec_.block && a.shared_memory == k->spec_.shared_memory &&
           a.init_value == k->spec_.init_value && a.ensure_row_contiguous == k->spec_.ensure_row_contiguous &&
           a.shape_args == k->spec_.shape_args && a.scalars == k->spec_.scalars;
  }
  void print(std::ostream& os) override { os << "CustomKernel(" << spec_.name << ")"; }
  const Spec& spec() const { return spec_; }

 private:
  Spec spec_;
};

}  // namespace mica
