// Rules of the custom family: CustomTransforms calls the user's rules or derives them from the
// user's function; Depends passes values (and their gradients) through; a CustomKernel has none.
#include "mica/primitives/custom.h"

#include "mica/ops.h"

namespace mica {

MICA_NO_RULE(CustomKernel, vjp, "a user's CUDA kernel has no derivative of its own (as in MLX); wrap it in custom_vjp")
MICA_NO_RULE(CustomKernel, jvp, "a user's CUDA kernel has no derivative of its own (as in MLX); wrap it in custom_function")
MICA_NO_RULE(CustomKernel, vmap, "a user's kernel indexes its inputs itself: no batching rule can rewrite it (as in MLX)")

std::vector<array> CustomTransforms::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                         const std::vector<int>& argnums, const std::vector<array>& outputs) {
  std::vector<array> args(primals.begin() + num_outputs_, primals.end());
  std::vector<array> grads;
  if (vjp_fn_) {
    grads = (*vjp_fn_)(args, cotangents, outputs);
    if (grads.size() != args.size()) {
      throw std::invalid_argument("[custom_vjp] expected the vjp function to return " + std::to_string(args.size()) +
                                  " cotangents (one per argument), got " + std::to_string(grads.size()) + ".");
    }
  } else {
    grads = mica::vjp(fun_, args, cotangents).second;
  }
  std::vector<array> result;
  for (int a : argnums) {
    // The function's own outputs enter under stop_gradient: nothing flows back to them.
    if (a < num_outputs_) {
      result.push_back(detail::zeros_like_view(primals[a]));
      continue;
    }
    array g = grads[a - num_outputs_];
    if (g.shape() != primals[a].shape()) {
      throw std::invalid_argument("[custom_vjp] expected a cotangent of shape " +
                                  detail::shape_str(primals[a].shape()) + " for argument " +
                                  std::to_string(a - num_outputs_) + ", got " + detail::shape_str(g.shape()) + ".");
    }
    result.push_back(std::move(g));
  }
  return result;
}

std::vector<array> CustomTransforms::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                         const std::vector<int>& argnums) {
  std::vector<array> args(primals.begin() + num_outputs_, primals.end());
  std::vector<array> ts;
  std::vector<int> nums;
  for (size_t k = 0; k < argnums.size(); ++k) {
    if (argnums[k] < num_outputs_) continue;
    nums.push_back(argnums[k] - num_outputs_);
    ts.push_back(tangents[k]);
  }
  if (jvp_fn_) return (*jvp_fn_)(args, ts, nums);
  std::vector<array> full;
  for (auto& a : args) full.push_back(detail::zeros_like_view(a));
  for (size_t k = 0; k < nums.size(); ++k) full[nums[k]] = ts[k];
  return mica::jvp(fun_, args, full).second;
}

std::pair<std::vector<array>, std::vector<int>> CustomTransforms::vmap(const std::vector<array>& inputs,
                                                                       const std::vector<int>& axes) {
  std::vector<array> args(inputs.begin() + num_outputs_, inputs.end());
  std::vector<int> arg_axes(axes.begin() + num_outputs_, axes.end());
  if (vmap_fn_) return (*vmap_fn_)(args, arg_axes);
  // Without a user rule, vectorize the function itself (outputs batched on axis 0).
  bool any = false;
  for (int a : arg_axes) any |= a >= 0;
  if (!any) return {fun_(args), std::vector<int>(num_outputs_, -1)};
  return {mica::vmap(fun_, arg_axes)(args), std::vector<int>(num_outputs_, 0)};
}

std::vector<array> Depends::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                const std::vector<int>& argnums, const std::vector<array>&) {
  int n = static_cast<int>(primals.size()) - num_deps_;
  std::vector<array> result;
  for (int a : argnums) result.push_back(a < n ? cotangents[a] : detail::zeros_like_view(primals[a]));
  return result;
}

std::vector<array> Depends::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                const std::vector<int>& argnums) {
  int n = static_cast<int>(primals.size()) - num_deps_;
  std::vector<array> result;
  for (int i = 0; i < n; ++i) result.push_back(detail::zeros_like_view(primals[i]));
  for (size_t k = 0; k < argnums.size(); ++k) {
    if (argnums[k] < n) result[argnums[k]] = tangents[k];
  }
  return result;
}

std::pair<std::vector<array>, std::vector<int>> Depends::vmap(const std::vector<array>& inputs,
                                                              const std::vector<int>& axes) {
  size_t n = inputs.size() - num_deps_;
  std::vector<array> ins(inputs.begin(), inputs.begin() + n);
  std::vector<array> deps(inputs.begin() + n, inputs.end());
  return {depends(ins, deps), std::vector<int>(axes.begin(), axes.begin() + n)};
}

}  // namespace mica
