// compile: traces a function of arrays once per input signature, simplifies its graph, fuses
// chains of elementwise ops into one node, caches the result and replays it on later calls.
// State the function reads or writes besides its arguments (a model's arrays, an optimizer's
// state) is captured by reference, as MLX's `inputs=`/`outputs=`, so a whole training step
// compiles. Random ops without an explicit key draw their keys from the global sequence on
// every call, as many and in the same order as the function would: fresh numbers each call,
// the uncompiled function's numbers for the same seed. MICA_COMPILE_DEBUG=1 prints each traced
// graph before and after fusion to stderr.
#pragma once
#include <concepts>
#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "mica/array.h"
#include "mica/transforms.h"
#include "mica/tree.h"

namespace mica {

/** How much compile does (MLX's modes): `disabled` calls the function as it is; `no_simplify`
 * traces and replays without simplifying or fusing; `no_fuse` simplifies without fusing. */
enum class CompileMode { disabled, no_simplify, no_fuse, enabled };

/** State that a compiled function reads (CompileOptions inputs) or writes (its outputs) besides
 * its arguments: `get` returns the arrays it holds now, `set` puts new ones in. Built from an
 * nn::Module (every array of its state: parameters, frozen and `_` entries) or an
 * optim::Optimizer (its state tree) by passing the object itself. */
struct CompileState {
  std::function<Tree()> get;
  std::function<void(const Tree&)> set;
  /** Optional: what else the trace depends on (a module's training flags and which of its
   * arrays are trainable); a change retraces. */
  std::function<std::string()> signature = {};

  CompileState(std::function<Tree()> get_fn, std::function<void(const Tree&)> set_fn)
      : get(std::move(get_fn)), set(std::move(set_fn)) {}
  /** Any object with the customization points compile_state_get(obj) and
   * compile_state_set(obj, tree) found by argument-dependent lookup (nn::Module and
   * optim::Optimizer define them). The object must outlive the compiled function. */
  template <class T>
    requires requires(T& obj, const Tree& t) {
      { compile_state_get(obj) } -> std::convertible_to<Tree>;
      compile_state_set(obj, t);
    }
  CompileState(T& obj)  // NOLINT(google-explicit-constructor): `{.inputs = {model, opt}}` reads best
      : get([&obj] { return Tree(compile_state_get(obj)); }), set([&obj](const Tree& t) { compile_state_set(obj, t); }) {
    if constexpr (requires { { compile_state_signature(obj) } -> std::convertible_to<std::string>; }) {
      signature = [&obj] { return std::string(compile_state_signature(obj)); };
    }
  }
};

/** MLX's math modes of its Metal kernels (fast::metal_kernel's CompileOptions::math_mode). */
enum class MathMode { Safe = 0, Relaxed = 1, Fast = 2 };

/** Options of compile. */
struct CompileOptions {
  /** Trace once for every shape of the inputs: only their number of dimensions and dtypes
   * retrace. Every op of the function must be able to infer its output shape (elementwise ops,
   * reductions, matmul, the fused norms); others throw when the function is compiled. */
  bool shapeless = false;
  /** State read by the function (captured before each call). */
  std::vector<CompileState> inputs = {};
  /** State written by the function (stored after each call). */
  std::vector<CompileState> outputs = {};
  /** Taken for MLX programs, which pass it to fast::metal_kernel (mica has no Metal back-end);
   *  compile's own kernels always keep IEEE results. */
  MathMode math_mode = MathMode::Safe;
};

/** `fun` compiled: the first call with a given signature (input shapes and dtypes, the default
 * device, the captured state's structure) traces it; later calls replay the traced graph. Arrays
 * the function reads without taking them as arguments or captured state are constants of the
 * trace: their values at trace time are kept. */
ArraysFn compile(ArraysFn fun, bool shapeless = false);
/** compile with captured state (see CompileOptions). */
ArraysFn compile(ArraysFn fun, CompileOptions options);
/** compile of a plain function: every compile of the same function shares one cache. */
ArraysFn compile(std::vector<array> (*fun)(const std::vector<array>&), bool shapeless = false);
/** compile of a lambda without captures: as a plain function (MLX's overload). */
template <typename F, typename = std::enable_if_t<std::is_convertible_v<F, decltype(+std::declval<F>())>>>
ArraysFn compile(F&& f, bool shapeless = false) {
  return compile(+f, shapeless);
}

/** Turns compile off everywhere: compiled functions call their function directly. The
 * environment variable MICA_DISABLE_COMPILE (or MLX_DISABLE_COMPILE) does the same at start. */
void disable_compile();
/** Turns compile back on (also over the environment variable). */
void enable_compile();
/** Sets the mode of every compiled function's next trace (see CompileMode). */
void set_compile_mode(CompileMode mode);
/** The current mode. */
CompileMode compile_mode();

namespace detail {
/** Counters of every compiled function in this process (tests read them). */
struct CompileStats {
  uint64_t traces = 0;    // calls that traced the function
  uint64_t replays = 0;   // calls answered from the cache
  uint64_t fused = 0;     // fused nodes built by traces
  uint64_t last_nodes = 0;  // nodes of the last traced graph, after simplification and fusion
};
CompileStats compile_stats();
/** True while this thread traces a function for shapeless compile: ops whose values depend on
 *  their inputs' shapes (mean's divisor) then build number_of_elements nodes, not constants. */
bool in_shapeless_trace();
/** Marks this thread as tracing a function for compile or export (shapeless when `on`) for the
 *  scope's lifetime. */
class ShapelessTraceScope {
 public:
  explicit ShapelessTraceScope(bool on);
  ~ShapelessTraceScope();
  ShapelessTraceScope(const ShapelessTraceScope&) = delete;
  ShapelessTraceScope& operator=(const ShapelessTraceScope&) = delete;

 private:
  bool on_;
};
/** Forgets every cached trace (also of the shared caches of plain functions). */
void compile_clear_cache();
/** Whether elementwise chains on GPU streams are fused too (NVRTC kernels; on unless
 *  MICA_GPU_FUSION=0). */
void set_gpu_fusion(bool on);
/** Fused nodes run by generated CPU kernels so far (the rest ran through the interpreter). */
int64_t compiled_cpu_generated_runs();
/** Launches of generated GPU kernels so far (0 without the CUDA backend). */
int64_t compiled_gpu_generated_launches();
}  // namespace detail

}  // namespace mica
