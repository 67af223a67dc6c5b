// custom_function, custom_vjp, checkpoint and depends: functions wrapped in a CustomTransforms
// or Depends node so the transforms use the rules given here.
#include <stdexcept>

#include "mica/autocast.h"
#include "mica/ops.h"
#include "mica/primitives/custom.h"
#include "mica/transforms.h"

namespace mica {

namespace {
std::pair<std::vector<Shape>, std::vector<Dtype>> shapes_and_dtypes(const std::vector<array>& v) {
  std::vector<Shape> shapes;
  std::vector<Dtype> dtypes;
  for (auto& a : v) {
    shapes.push_back(a.shape());
    dtypes.push_back(a.dtype());
  }
  return {std::move(shapes), std::move(dtypes)};
}
}  // namespace

ArraysFn custom_function(const ArraysFn& fun, std::optional<CustomVJPFn> fun_vjp, std::optional<CustomJVPFn> fun_jvp,
                         std::optional<CustomVmapFn> fun_vmap) {
  return [=](const std::vector<array>& args) {
    std::vector<array> outs = fun(args);
    if (outs.empty()) throw std::invalid_argument("[custom_function] expected the function to return arrays, got none.");
    std::vector<array> inputs;
    for (auto& o : outs) inputs.push_back(stop_gradient(o));
    inputs.insert(inputs.end(), args.begin(), args.end());
    auto [shapes, dtypes] = shapes_and_dtypes(outs);
    auto prim = std::make_shared<CustomTransforms>(to_stream({}), static_cast<int>(outs.size()), fun, fun_vjp,
                                                   fun_jvp, fun_vmap);
    return array::make_arrays(std::move(shapes), dtypes, std::move(prim), std::move(inputs));
  };
}

ArraysFn custom_vjp(const ArraysFn& fun, const CustomVJPFn& fun_vjp) { return custom_function(fun, fun_vjp); }

ArraysFn checkpoint(const ArraysFn& fun) {
  // The backward pass recomputes the forward from the primals, and only once the cotangents
  // exist (depends), so no activation of `fun` is kept between the passes. The recomputation runs
  // in the forward call's mixed precision (its Autocast scope has ended by the backward pass):
  // otherwise it would compute other values, in float32 and without the fused bfloat16 kernels.
  return [fun](const std::vector<array>& args) {
    const std::optional<Dtype> cast = autocast_dtype();
    CustomVJPFn recompute = [fun, cast](const std::vector<array>& primals, const std::vector<array>& cotangents,
                                        const std::vector<array>&) {
      Autocast scope(cast);
      return vjp(fun, depends(primals, cotangents), cotangents).second;
    };
    return custom_vjp(fun, recompute)(args);
  };
}

std::vector<array> depends(const std::vector<array>& inputs, const std::vector<array>& dependencies) {
  if (inputs.empty()) return {};
  std::vector<array> all = inputs;
  all.insert(all.end(), dependencies.begin(), dependencies.end());
  auto [shapes, dtypes] = shapes_and_dtypes(inputs);
  auto prim = std::make_shared<Depends>(to_stream({}), static_cast<int>(dependencies.size()));
  return array::make_arrays(std::move(shapes), dtypes, std::move(prim), std::move(all));
}

}  // namespace mica
