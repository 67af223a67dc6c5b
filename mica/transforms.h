// Evaluation entry points (eval, async_eval) and the function transforms: vjp, jvp, grad,
// value_and_grad, vmap, custom_function/custom_vjp and checkpoint. Each transform traces the
// function once and applies the rules every primitive defines (primitives/<family>.cpp).
#pragma once
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "mica/array.h"

namespace mica {

/** Evaluates the arrays and everything they depend on; returns when their data is ready. */
void eval(std::vector<array> outputs);
/** Schedules evaluation and returns at once; eval/item/synchronize wait for it. */
void async_eval(std::vector<array> outputs);

namespace detail {
inline void append_arrays(std::vector<array>& all, const array& a) { all.push_back(a); }
inline void append_arrays(std::vector<array>& all, const std::vector<array>& v) {
  all.insert(all.end(), v.begin(), v.end());
}
template <typename T>
concept ArrayOrVector = std::is_same_v<std::decay_t<T>, array> || std::is_same_v<std::decay_t<T>, std::vector<array>>;
}  // namespace detail

/** Evaluates any number of arrays (or vectors of arrays). */
template <detail::ArrayOrVector... Arrays>
  requires(sizeof...(Arrays) >= 1)
void eval(Arrays&&... outputs) {
  std::vector<array> all;
  (detail::append_arrays(all, outputs), ...);
  eval(std::move(all));
}

using ArrayFn = std::function<array(const array&)>;
using ArraysFn = std::function<std::vector<array>(const std::vector<array>&)>;

/** Outputs of `fun` at `primals` and the vector-Jacobian products with `cotangents` (one per
 * output, same shapes): the cotangents of every primal. */
std::pair<std::vector<array>, std::vector<array>> vjp(const ArraysFn& fun, const std::vector<array>& primals,
                                                      const std::vector<array>& cotangents);
/** vjp of a function of one array. */
std::pair<array, array> vjp(const ArrayFn& fun, const array& primal, const array& cotangent);

/** Outputs of `fun` at `primals` and the Jacobian-vector products with `tangents` (one per
 * primal, same shapes): the tangents of every output. */
std::pair<std::vector<array>, std::vector<array>> jvp(const ArraysFn& fun, const std::vector<array>& primals,
                                                      const std::vector<array>& tangents);
/** jvp of a function of one array. */
std::pair<array, array> jvp(const ArrayFn& fun, const array& primal, const array& tangent);

/** Returns (outputs, gradients of outputs[0] w.r.t. the arguments in argnums). */
using ValueAndGradFn = std::function<std::pair<std::vector<array>, std::vector<array>>(const std::vector<array>&)>;
/** Returns (value, gradients w.r.t. the arguments in argnums). */
using SimpleValueAndGradFn = std::function<std::pair<array, std::vector<array>>(const std::vector<array>&)>;

/** Value and gradient of a function whose first output is a scalar loss; later outputs are
 * auxiliary values returned beside it and not differentiated. */
ValueAndGradFn value_and_grad(const ArraysFn& fun, const std::vector<int>& argnums);
/** Same, differentiating argument `argnum`. */
ValueAndGradFn value_and_grad(const ArraysFn& fun, int argnum = 0);
/** Value and gradient of a scalar function of several arrays. */
SimpleValueAndGradFn value_and_grad(const std::function<array(const std::vector<array>&)>& fun,
                                    const std::vector<int>& argnums);
/** Value and gradient of a scalar function of one array. */
std::function<std::pair<array, array>(const array&)> value_and_grad(const ArrayFn& fun);

/** Gradients of a scalar function w.r.t. the arguments in argnums. */
std::function<std::vector<array>(const std::vector<array>&)> grad(
    const std::function<array(const std::vector<array>&)>& fun, const std::vector<int>& argnums);
/** Gradient w.r.t. argument `argnum`, returned as a one-element vector. */
std::function<std::vector<array>(const std::vector<array>&)> grad(
    const std::function<array(const std::vector<array>&)>& fun, int argnum = 0);
/** Gradient of a scalar function of one array. */
ArrayFn grad(const ArrayFn& fun);

/** Vectorizes `fun` over axis in_axes[i] of input i (-1: the input is not mapped; empty: all
 * inputs mapped on axis 0); output j carries the mapped axis at out_axes[j] (empty: 0). */
ArraysFn vmap(const ArraysFn& fun, const std::vector<int>& in_axes = {}, const std::vector<int>& out_axes = {});
/** vmap of a function of one array. */
ArrayFn vmap(const ArrayFn& fun, int in_axis = 0, int out_axis = 0);
/** vmap of a function of two arrays. */
std::function<array(const array&, const array&)> vmap(const std::function<array(const array&, const array&)>& fun,
                                                      int in_axis_a = 0, int in_axis_b = 0);

/** A user vjp: (primals, cotangents of the outputs, outputs) -> cotangents of the primals. */
using CustomVJPFn = std::function<std::vector<array>(const std::vector<array>& primals,
                                                     const std::vector<array>& cotangents,
                                                     const std::vector<array>& outputs)>;
/** A user jvp: (primals, tangents of the primals in argnums, argnums) -> tangents of the outputs. */
using CustomJVPFn = std::function<std::vector<array>(const std::vector<array>& primals,
                                                     const std::vector<array>& tangents,
                                                     const std::vector<int>& argnums)>;
/** A user vmap: (inputs, their batch axes) -> (outputs, their batch axes). */
using CustomVmapFn = std::function<std::pair<std::vector<array>, std::vector<int>>(
    const std::vector<array>& inputs, const std::vector<int>& axes)>;

/** `fun` with some of its transform rules replaced; the others are derived from `fun`. */
ArraysFn custom_function(const ArraysFn& fun, std::optional<CustomVJPFn> fun_vjp = std::nullopt,
                         std::optional<CustomJVPFn> fun_jvp = std::nullopt,
                         std::optional<CustomVmapFn> fun_vmap = std::nullopt);
/** `fun` whose vjp is `fun_vjp`. */
ArraysFn custom_vjp(const ArraysFn& fun, const CustomVJPFn& fun_vjp);
/** `fun` that keeps no intermediate values for its backward pass: the vjp recomputes them. */
ArraysFn checkpoint(const ArraysFn& fun);

/** Outputs equal to `inputs` that are computed only after `dependencies`. */
std::vector<array> depends(const std::vector<array>& inputs, const std::vector<array>& dependencies);

namespace detail {
/** While on, eval records the name of every primitive it runs (for the coverage test). */
void set_record_primitives(bool on);
std::set<std::string> recorded_primitives();
bool recording_primitives();
/** Adds a name (a primitive, or "vjp:Name" for a transform rule) to the record. */
void record_name(const std::string& name);
}  // namespace detail

}  // namespace mica
