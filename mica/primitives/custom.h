// Primitives made by the transforms themselves: user-defined rules (custom_function,
// custom_vjp, checkpoint) and ordering dependencies (depends).
#pragma once
#include <optional>

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

}  // namespace mica
