// nn::value_and_grad and nn::checkpoint: transforms of a function that runs a module, with
// respect to the module's trainable parameters (spec/module.md §12).
//
// Each call reads model.trainable_parameters() afresh, writes tracer copies of them into the
// model (model.update), runs fn, and afterwards puts the original arrays back wherever the
// model still holds a tracer (also when fn throws). The update inside the differentiated
// function is what makes the loss depend on the tracers; it must never be skipped (V4).
#pragma once
#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

#include "mica/array.h"
#include "mica/nn/module.h"
#include "mica/tree.h"

namespace mica::nn {

namespace detail {
/** Runs fn under the transform: (its outputs, gradient of outputs[0] w.r.t. the trainable
 *  parameters, in trainable_parameters()' structure). */
std::pair<std::vector<array>, Tree> value_and_grad_impl(Module& model, const std::function<std::vector<array>()>& fn);
/** Runs fn(inputs) with the model's trainable parameters as extra inputs of a core checkpoint. */
std::vector<array> checkpoint_impl(Module& model, const std::function<std::vector<array>(const std::vector<array>&)>& fn,
                                   const std::vector<array>& inputs);
}  // namespace detail

/** A function returning (value, gradients) of fn(args...) w.r.t. model's trainable parameters.
 *  fn returns an array (a scalar loss) or a std::vector<array> (loss first, then auxiliary
 *  outputs, returned unchanged); the result returns std::pair<array, Tree> or
 *  std::pair<std::vector<array>, Tree>. It must not outlive `model`. */
template <class F>
auto value_and_grad(Module& model, F fn) {
  return [&model, fn = std::move(fn)](auto&&... args) {
    using R = std::decay_t<decltype(fn(args...))>;
    if constexpr (std::is_same_v<R, std::vector<array>>) {
      return detail::value_and_grad_impl(model, [&]() { return fn(args...); });
    } else {
      static_assert(std::is_convertible_v<R, array>, "nn::value_and_grad: fn must return an array or a std::vector<array>");
      auto [outs, grads] = detail::value_and_grad_impl(model, [&]() { return std::vector<array>{array(fn(args...))}; });
      return std::make_pair(std::move(outs[0]), std::move(grads));
    }
  };
}

/** fn(inputs) (running `model`) as a checkpoint: its activations are recomputed in the
 *  backward pass instead of being kept; gradients reach the model's trainable parameters. */
std::function<std::vector<array>(const std::vector<array>&)> checkpoint(
    Module& model, std::function<std::vector<array>(const std::vector<array>&)> fn);
/** The module's own call, model(x), as a checkpoint. */
std::function<array(const array&)> checkpoint(Module& model);

}  // namespace mica::nn
